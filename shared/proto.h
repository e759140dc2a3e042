/*
 * The control protocol both sides speak: version, JSON-lines framing and its
 * limits, roles, error codes, command names and their argument schemas, and
 * the shape of requests, answers and events.
 * Any thread; the tables are constant.
 */
#ifndef MOAT_PROTO_H
#define MOAT_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* Bumped on any change of a request, answer or event shape. */
#define PROTO_VERSION		1

#define CTL_SOCKET_DEFAULT	"/run/moat/control.sock"
#define CTL_SOCKET_ENV		"MOAT_SOCKET"

/* Longest request line (without its newline) the daemon reads. Admin
 * connections may send whole messages (bayes.learn), JSON-escaped. */
#define CTL_REQ_MAX		(64 * 1024)
#define CTL_REQ_ADMIN_MAX	(32 * 1024 * 1024)
/* Longest answer or event line a client reads. */
#define CTL_ANSWER_MAX		(16 * 1024 * 1024)

/*
 * Roles, ordered: a command's least role admits every higher one. A peer
 * that matches no configured group gets PROTO_ROLE_NONE and may run nothing.
 */
enum proto_role {
	PROTO_ROLE_NONE = 0,
	PROTO_ROLE_USER,
	PROTO_ROLE_AUDITOR,
	PROTO_ROLE_QMANAGER,
	PROTO_ROLE_ADMIN,
};

const char	*proto_role_name(enum proto_role);
int		 proto_role_parse(const char *, enum proto_role *);
bool		 proto_role_allows(enum proto_role have, enum proto_role need);

/* Error codes of {"ok":false,"error":{"code":...}}. */
#define PROTO_E_BAD_REQUEST	"bad_request"	/* not JSON, no cmd, ... */
#define PROTO_E_TOO_LARGE	"too_large"	/* line over CTL_REQ_MAX */
#define PROTO_E_UNKNOWN_COMMAND	"unknown_command"
#define PROTO_E_BAD_ARGS	"bad_args"	/* error carries "key" */
#define PROTO_E_FORBIDDEN	"forbidden"
#define PROTO_E_NOT_FOUND	"not_found"
#define PROTO_E_CONFIG		"config_error"	/* reload refused */
#define PROTO_E_UNAVAILABLE	"unavailable"	/* not now (shutting down) */
#define PROTO_E_INTERNAL	"internal"

/* Event names of {"event":...,"data":...}. */
#define PROTO_EV_TRACKING	"tracking"

/* Command names. */
#define PROTO_CMD_BAYES_FORGET		"bayes.forget"
#define PROTO_CMD_BAYES_LEARN		"bayes.learn"
#define PROTO_CMD_BAYES_STATS		"bayes.stats"
#define PROTO_CMD_CONFIG_GET		"config.get"
#define PROTO_CMD_CONFIG_RELOAD		"config.reload"
#define PROTO_CMD_LISTS_ADD		"lists.add"
#define PROTO_CMD_LISTS_DEL		"lists.del"
#define PROTO_CMD_LISTS_LIST		"lists.list"
#define PROTO_CMD_OBJECTS_GET		"objects.get"
#define PROTO_CMD_OBJECTS_LIST		"objects.list"
#define PROTO_CMD_OBJECTS_SET		"objects.set"
#define PROTO_CMD_QUARANTINE_BLOCKLIST	"quarantine.blocklist"
#define PROTO_CMD_QUARANTINE_DELETE	"quarantine.delete"
#define PROTO_CMD_QUARANTINE_GET	"quarantine.get"
#define PROTO_CMD_QUARANTINE_LIST	"quarantine.list"
#define PROTO_CMD_QUARANTINE_PURGE	"quarantine.purge"
#define PROTO_CMD_QUARANTINE_RELEASE	"quarantine.release"
#define PROTO_CMD_QUARANTINE_REPORT	"quarantine.report"
#define PROTO_CMD_QUARANTINE_WELCOMELIST	"quarantine.welcomelist"
#define PROTO_CMD_RULES_GET		"rules.get"
#define PROTO_CMD_RULES_LIST		"rules.list"
#define PROTO_CMD_RULES_RELOAD		"rules.reload"
#define PROTO_CMD_RULES_SET_PRIORITY	"rules.set_priority"
#define PROTO_CMD_RULES_TOGGLE		"rules.toggle"
#define PROTO_CMD_STATS_GET		"stats.get"
#define PROTO_CMD_STATUS		"status"
#define PROTO_CMD_SCAN			"scan"
#define PROTO_CMD_TRACKING_GET		"tracking.get"
#define PROTO_CMD_TRACKING_SEARCH	"tracking.search"
#define PROTO_CMD_TRACKING_SUBSCRIBE	"tracking.subscribe"
#define PROTO_CMD_TRACKING_UNSUBSCRIBE	"tracking.unsubscribe"
#define PROTO_CMD_USER_ADD		"user.add"
#define PROTO_CMD_USER_DEL		"user.del"
#define PROTO_CMD_USER_LIST		"user.list"
#define PROTO_CMD_USER_PASSWD		"user.passwd"

/*
 * Argument schemas. "args" is an object; a key not in the schema, a value
 * of the wrong type or a missing required key is PROTO_E_BAD_ARGS. A JSON
 * null counts as absent.
 */
enum proto_type {
	PROTO_T_STRING = 0,
	PROTO_T_INTEGER,
	PROTO_T_BOOLEAN,
};

struct proto_arg {
	const char	*key;		/* NULL ends a schema */
	enum proto_type	 type;
	bool		 required;
	const char	*help;
};

/* What a client knows about a command: for help and for typing key=value.
 * The daemon's table (daemon/ctl_cmd_*.c) must agree; a unit test checks. */
struct proto_cmd {
	const char		*name;
	enum proto_role		 role;		/* least role */
	const struct proto_arg	*args;
	const char		*help;
};

extern const struct proto_cmd	proto_cmds[];	/* sorted by name */
extern const size_t		proto_ncmds;

const char	*proto_type_name(enum proto_type);
const struct proto_cmd *proto_cmd_find(const char *name);
const struct proto_arg *proto_arg_find(const struct proto_arg *,
		    const char *key);
/* Check args (an object) against a schema. On error returns -1 and sets
 * *key to the offending key (borrowed from schema or args) and *cause. */
int		 proto_args_check(const struct proto_arg *, const json_t *args,
		    const char **key, char **cause);

/*
 * Framing: a line splitter with a length limit. proto_frame_push consumes
 * bytes up to and including one newline and says what happened:
 *   PROTO_FRAME_MORE       everything was consumed, no line is complete;
 *   PROTO_FRAME_LINE       f->line holds a line (no "\n", a trailing "\r"
 *                          removed), valid until the next push;
 *   PROTO_FRAME_TOO_LARGE  the line passed the limit: it is dropped, and
 *                          bytes up to the next newline will be discarded.
 * *used says how many bytes were consumed; call again with the rest.
 */
enum proto_frame_rv {
	PROTO_FRAME_MORE = 0,
	PROTO_FRAME_LINE,
	PROTO_FRAME_TOO_LARGE,
};

struct proto_frame {
	struct buf	 line;
	bool		 discarding;	/* inside an oversize line */
	bool		 ready;		/* line was returned: reset first */
};

void		 proto_frame_init(struct proto_frame *, size_t max);
void		 proto_frame_free(struct proto_frame *);
/* Change the limit (a connection whose role allows longer requests). */
void		 proto_frame_set_max(struct proto_frame *, size_t max);
enum proto_frame_rv proto_frame_push(struct proto_frame *, const char *,
		    size_t len, size_t *used);
/* Bytes of an incomplete line held (0 when between lines). */
size_t		 proto_frame_pending(const struct proto_frame *);

/*
 * A parsed request. On error proto_request_parse returns -1 with *code
 * (static) and *cause (caller frees); req->id is then the request's id when
 * it could be read, else NULL (answered as null).
 */
struct proto_request {
	json_t		*id;	/* owned: integer or string, NULL if none */
	char		*cmd;	/* owned */
	json_t		*args;	/* owned: always an object after success */
};

int		 proto_request_parse(const char *line, size_t len,
		    struct proto_request *, const char **code, char **cause);
void		 proto_request_clear(struct proto_request *);
/* A request line for a client; args borrowed (NULL: none). New ref. */
json_t		*proto_request_new(json_int_t id, const char *cmd,
		    json_t *args);

/* Answers and events; id is borrowed (NULL answers null), result and data
 * are stolen. All return new references. */
json_t		*proto_answer_ok(json_t *id, json_t *result);
json_t		*proto_answer_error(json_t *id, const char *code,
		    const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
json_t		*proto_answer_error_key(json_t *id, const char *code,
		    const char *key, const char *message);
json_t		*proto_event(const char *name, json_t *data);

/* Encode as one compact line ending in "\n". NULL if json cannot be
 * encoded. Caller frees. */
char		*proto_encode(const json_t *, size_t *len);

#endif
