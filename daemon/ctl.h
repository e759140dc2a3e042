/*
 * The control server: a Unix socket speaking JSON lines (shared/proto.h),
 * the command table and its dispatcher, and live tracking events.
 * Loop thread only; store reads run in the "ctl" pool.
 */
#ifndef MOAT_CTL_H
#define MOAT_CTL_H

#include <stdint.h>

#include <jansson.h>

#include "proto.h"

struct event_base;
struct pool;
struct cfg;
struct db;
struct track_rec;

#define CTL_OUTBUF_MAX		(4 * 1024 * 1024) /* unread output per peer */
#define CTL_CONN_MAX		256	/* control connections at once */
#define CTL_PENDING_MAX		8	/* store reads in flight per peer */
#define CTL_POOL_THREADS	2
#define CTL_BACKLOG		16

/* Bind the socket (a stale one is replaced, the parent folder created),
 * set its mode, start listening and the store-read pool. */
int	ctl_start(struct event_base *, const struct cfg *, char **cause);
/* Close the listener and every connection, unlink the socket. */
void	ctl_stop(void);
/* Send {"event":"tracking","data":...} to every subscriber. */
void	ctl_publish_tracking(const struct track_rec *);
/* config.reload calls this; moatd sets it to moatd_reload. */
void	ctl_set_reload(int (*)(char **cause));

/* --- for the command files (ctl_cmd_*.c) -------------------------------- */

struct ctl_req {
	uint64_t		 conn;	/* connection id; 0: none (tests) */
	enum proto_role		 role;
	json_t			*id;	/* owned; NULL answers null */
	json_t			*args;	/* owned; an object, schema checked */
	const struct ctl_cmd	*cmd;
};

/* Return the answer (ctl_ok / ctl_error), or NULL when the command answers
 * later (ctl_defer_db took the request). Never check roles here. */
typedef json_t	*(*ctl_exec_fn)(struct ctl_req *);

struct ctl_cmd {
	const char		*name;
	enum proto_role		 role;	/* least role */
	const struct proto_arg	*args;	/* schema, NULL key ends it */
	ctl_exec_fn		 exec;
};

/* A store read on a pool thread: return the result (new ref), or NULL with
 * *code (static) and *cause (caller frees). args is the request's. */
typedef json_t	*(*ctl_db_fn)(struct db *, const json_t *args,
		    const char **code, char **cause);

json_t	*ctl_ok(struct ctl_req *, json_t *result);	/* result stolen */
json_t	*ctl_error(struct ctl_req *, const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
json_t	*ctl_bad_arg(struct ctl_req *, const char *key, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Run fn on the pool and answer when it is done. Takes req->id and
 * req->args. Returns NULL, or an error answer if there is no pool. */
json_t	*ctl_defer_db(struct ctl_req *, ctl_db_fn fn);
/* An answer that a handler gives later (work on another pool): ctl_later
 * takes req->id; ctl_later_answer (loop thread) sends result (stolen) or
 * the error code and message, and frees the token. The handler returns
 * NULL after ctl_later. */
struct ctl_later;
struct ctl_later *ctl_later(struct ctl_req *);
void	 ctl_later_answer(struct ctl_later *, json_t *result,
	    const char *code, const char *message);
/* Mark or unmark req->conn as a subscriber; filters copied, NULL: any. */
int	 ctl_conn_subscribe(uint64_t conn, const char *outcome,
	    const char *direction);
int	 ctl_conn_unsubscribe(uint64_t conn);
/* Loop thread: serve an already-connected stream socket (an SSH console
 * session's end) with the given role instead of the peer's credentials.
 * Takes fd (closed on failure). 0 or -1. */
int	 ctl_conn_adopt(int fd, enum proto_role, const char *who);
/* Calls the hook ctl_set_reload installed. */
int	 ctl_reload(char **cause);
/* Process start on the monotonic clock (ms), for uptime. */
uint64_t ctl_started_mono(void);

/* Optional argument accessors for handlers and db functions. */
const char *ctl_arg_str(const json_t *args, const char *key);
int64_t	 ctl_arg_int(const json_t *args, const char *key, int64_t dflt);

/* The pool store reads run on, for commands with work of their own that
 * answer with ctl_later (NULL when the server is not running). */
struct pool *ctl_work_pool(void);

/* The command entries, one file per noun. */
extern const struct ctl_cmd	ctl_cmd_bayes_forget;
extern const struct ctl_cmd	ctl_cmd_bayes_learn;
extern const struct ctl_cmd	ctl_cmd_bayes_stats;
extern const struct ctl_cmd	ctl_cmd_config_get;
extern const struct ctl_cmd	ctl_cmd_config_reload;
extern const struct ctl_cmd	ctl_cmd_lists_add;
extern const struct ctl_cmd	ctl_cmd_lists_del;
extern const struct ctl_cmd	ctl_cmd_lists_list;
extern const struct ctl_cmd	ctl_cmd_objects_get;
extern const struct ctl_cmd	ctl_cmd_objects_list;
extern const struct ctl_cmd	ctl_cmd_objects_set;
extern const struct ctl_cmd	ctl_cmd_quarantine_blocklist;
extern const struct ctl_cmd	ctl_cmd_quarantine_delete;
extern const struct ctl_cmd	ctl_cmd_quarantine_get;
extern const struct ctl_cmd	ctl_cmd_quarantine_list;
extern const struct ctl_cmd	ctl_cmd_quarantine_purge;
extern const struct ctl_cmd	ctl_cmd_quarantine_release;
extern const struct ctl_cmd	ctl_cmd_quarantine_report;
extern const struct ctl_cmd	ctl_cmd_quarantine_welcomelist;
extern const struct ctl_cmd	ctl_cmd_rules_get;
extern const struct ctl_cmd	ctl_cmd_rules_list;
extern const struct ctl_cmd	ctl_cmd_rules_reload;
extern const struct ctl_cmd	ctl_cmd_rules_set_priority;
extern const struct ctl_cmd	ctl_cmd_rules_toggle;
extern const struct ctl_cmd	ctl_cmd_scan;
extern const struct ctl_cmd	ctl_cmd_stats_get;
extern const struct ctl_cmd	ctl_cmd_status;
extern const struct ctl_cmd	ctl_cmd_tracking_get;
extern const struct ctl_cmd	ctl_cmd_tracking_search;
extern const struct ctl_cmd	ctl_cmd_tracking_subscribe;
extern const struct ctl_cmd	ctl_cmd_tracking_unsubscribe;
extern const struct ctl_cmd	ctl_cmd_user_add;
extern const struct ctl_cmd	ctl_cmd_user_del;
extern const struct ctl_cmd	ctl_cmd_user_list;
extern const struct ctl_cmd	ctl_cmd_user_passwd;

/* The table, sorted by name (ctl_start checks). */
extern const struct ctl_cmd *const ctl_cmds[];
extern const size_t		 ctl_ncmds;
const struct ctl_cmd *ctl_cmd_find(const char *name);

/* Dispatch one request line for a peer with the given role: parse, find
 * the command, check role and arguments, run it. Returns the answer, or
 * NULL when it comes later. Used by the server and by unit tests. */
json_t	*ctl_dispatch(uint64_t conn, enum proto_role, const char *line,
	    size_t len);

#endif
