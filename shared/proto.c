/*
 * The control protocol: roles, the command list, argument checks, framing,
 * and the JSON shapes of requests, answers and events.
 * Any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "xmalloc.h"

static const char *const role_names[] = {
	[PROTO_ROLE_NONE] = "none",
	[PROTO_ROLE_USER] = "user",
	[PROTO_ROLE_AUDITOR] = "auditor",
	[PROTO_ROLE_QMANAGER] = "qmanager",
	[PROTO_ROLE_ADMIN] = "admin",
};
#define NROLES	(sizeof role_names / sizeof role_names[0])

const char *
proto_role_name(enum proto_role r)
{
	if ((unsigned)r >= NROLES)
		return "unknown";
	return role_names[r];
}

int
proto_role_parse(const char *s, enum proto_role *out)
{
	size_t	i;

	for (i = 0; i < NROLES; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum proto_role)i;
			return 0;
		}
	}
	return -1;
}

bool
proto_role_allows(enum proto_role have, enum proto_role need)
{
	return have != PROTO_ROLE_NONE && have >= need;
}

/* --- commands as clients see them ------------------------------------- */

static const struct proto_arg args_none[] = {
	{ .key = NULL },
};

static const struct proto_arg args_user_add[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true,
	  .help = "login name ([a-z_][a-z0-9_.-]*)" },
	{ .key = "role", .type = PROTO_T_STRING, .required = true,
	  .help = "admin, qmanager, auditor or user" },
	{ .key = "password", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static const struct proto_arg args_user_passwd[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true },
	{ .key = "password", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static const struct proto_arg args_user_name[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static const struct proto_arg args_tracking_search[] = {
	{ .key = "sender", .type = PROTO_T_STRING,
	  .help = "substring of the envelope sender" },
	{ .key = "rcpt", .type = PROTO_T_STRING,
	  .help = "substring of a recipient" },
	{ .key = "text", .type = PROTO_T_STRING,
	  .help = "substring of subject, addresses, ids or client" },
	{ .key = "outcome", .type = PROTO_T_STRING,
	  .help = "relayed, tempfailed, rejected, quarantined, blocked, "
	  "released, deleted" },
	{ .key = "direction", .type = PROTO_T_STRING,
	  .help = "inbound or outbound" },
	{ .key = "from_ms", .type = PROTO_T_INTEGER,
	  .help = "not before (ms since the epoch)" },
	{ .key = "to_ms", .type = PROTO_T_INTEGER,
	  .help = "before (ms since the epoch)" },
	{ .key = "cursor", .type = PROTO_T_STRING,
	  .help = "\"next\" of the previous page" },
	{ .key = "limit", .type = PROTO_T_INTEGER,
	  .help = "records per page (default 50)" },
	{ .key = NULL },
};

static const struct proto_arg args_tracking_get[] = {
	{ .key = "queue_id", .type = PROTO_T_STRING, .required = true,
	  .help = "the message's queue id" },
	{ .key = NULL },
};

static const struct proto_arg args_tracking_subscribe[] = {
	{ .key = "outcome", .type = PROTO_T_STRING,
	  .help = "only messages with this outcome" },
	{ .key = "direction", .type = PROTO_T_STRING,
	  .help = "only inbound or outbound messages" },
	{ .key = NULL },
};

static const struct proto_arg args_stats_get[] = {
	{ .key = "from_ms", .type = PROTO_T_INTEGER,
	  .help = "start (default: 24 hours ago)" },
	{ .key = "to_ms", .type = PROTO_T_INTEGER,
	  .help = "end (default: now)" },
	{ .key = NULL },
};

static const struct proto_arg args_scan[] = {
	{ .key = "message", .type = PROTO_T_STRING, .required = true,
	  .help = "the raw message (RFC 5322 text)" },
	{ .key = NULL },
};

static const struct proto_arg args_quarantine_list[] = {
	{ .key = "type", .type = PROTO_T_STRING,
	  .help = "spam, virus or attachment" },
	{ .key = "rcpt", .type = PROTO_T_STRING,
	  .help = "substring of a held recipient" },
	{ .key = "sender", .type = PROTO_T_STRING,
	  .help = "substring of the envelope sender" },
	{ .key = "text", .type = PROTO_T_STRING,
	  .help = "substring of subject, addresses, id or virus" },
	{ .key = "from_ms", .type = PROTO_T_INTEGER,
	  .help = "not before (ms since the epoch)" },
	{ .key = "to_ms", .type = PROTO_T_INTEGER,
	  .help = "before (ms since the epoch)" },
	{ .key = "cursor", .type = PROTO_T_STRING,
	  .help = "\"next\" of the previous page" },
	{ .key = "limit", .type = PROTO_T_INTEGER,
	  .help = "entries per page (default 50)" },
	{ .key = NULL },
};

static const struct proto_arg args_quarantine_get[] = {
	{ .key = "id", .type = PROTO_T_STRING, .required = true,
	  .help = "the quarantine id" },
	{ .key = NULL },
};

static const struct proto_arg args_quarantine_op[] = {
	{ .key = "id", .type = PROTO_T_STRING, .help = "a quarantine id" },
	{ .key = "ids", .type = PROTO_T_STRING,
	  .help = "several ids, separated by commas" },
	{ .key = "rcpt", .type = PROTO_T_STRING,
	  .help = "only this recipient (default: all held)" },
	{ .key = NULL },
};

static const struct proto_arg args_quarantine_list_op[] = {
	{ .key = "id", .type = PROTO_T_STRING, .help = "a quarantine id" },
	{ .key = "ids", .type = PROTO_T_STRING,
	  .help = "several ids, separated by commas" },
	{ .key = "scope", .type = PROTO_T_STRING,
	  .help = "user (each recipient's list, default) or global" },
	{ .key = NULL },
};

static const struct proto_arg args_quarantine_report[] = {
	{ .key = "rcpt", .type = PROTO_T_STRING,
	  .help = "only this recipient's digest (default: everyone's)" },
	{ .key = NULL },
};

static const struct proto_arg args_lists_list[] = {
	{ .key = "owner", .type = PROTO_T_STRING,
	  .help = "a recipient, or * for the global lists" },
	{ .key = "list", .type = PROTO_T_STRING, .help = "welcome or block" },
	{ .key = "text", .type = PROTO_T_STRING,
	  .help = "substring of pattern or owner" },
	{ .key = "limit", .type = PROTO_T_INTEGER,
	  .help = "entries (default 1000)" },
	{ .key = NULL },
};

static const struct proto_arg args_lists_add[] = {
	{ .key = "list", .type = PROTO_T_STRING, .required = true,
	  .help = "welcome or block" },
	{ .key = "pattern", .type = PROTO_T_STRING, .required = true,
	  .help = "address, glob like *@example.com, or domain" },
	{ .key = "owner", .type = PROTO_T_STRING,
	  .help = "the recipient whose list it is (default: global)" },
	{ .key = "comment", .type = PROTO_T_STRING, .help = "a note" },
	{ .key = NULL },
};

static const struct proto_arg args_lists_del[] = {
	{ .key = "list", .type = PROTO_T_STRING, .required = true,
	  .help = "welcome or block" },
	{ .key = "pattern", .type = PROTO_T_STRING, .required = true,
	  .help = "the entry's pattern" },
	{ .key = "owner", .type = PROTO_T_STRING,
	  .help = "the recipient whose list it is (default: global)" },
	{ .key = NULL },
};

static const struct proto_arg args_rules_name[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true,
	  .help = "the rule's name" },
	{ .key = NULL },
};

static const struct proto_arg args_rules_toggle[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true,
	  .help = "the rule's name" },
	{ .key = "active", .type = PROTO_T_BOOLEAN,
	  .help = "true or false (default: flip)" },
	{ .key = NULL },
};

static const struct proto_arg args_rules_set_priority[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true,
	  .help = "the rule's name" },
	{ .key = "priority", .type = PROTO_T_INTEGER, .required = true,
	  .help = "0 to 100, higher first" },
	{ .key = NULL },
};

static const struct proto_arg args_objects_list[] = {
	{ .key = "category", .type = PROTO_T_STRING,
	  .help = "who, what, when or action (default: all)" },
	{ .key = NULL },
};

static const struct proto_arg args_objects_get[] = {
	{ .key = "category", .type = PROTO_T_STRING, .required = true,
	  .help = "who, what, when or action" },
	{ .key = "name", .type = PROTO_T_STRING, .required = true,
	  .help = "the group's or action's name" },
	{ .key = NULL },
};

static const struct proto_arg args_objects_set[] = {
	{ .key = "category", .type = PROTO_T_STRING, .required = true,
	  .help = "who, what or when" },
	{ .key = "name", .type = PROTO_T_STRING, .required = true,
	  .help = "the group's name" },
	{ .key = "objects", .type = PROTO_T_STRING, .required = true,
	  .help = "JSON array, e.g. [{\"email\":\"*@example.com\"}]" },
	{ .key = NULL },
};

static const struct proto_arg args_bayes_learn[] = {
	{ .key = "class", .type = PROTO_T_STRING, .required = true,
	  .help = "spam or ham" },
	{ .key = "message", .type = PROTO_T_STRING,
	  .help = "the raw message (UTF-8 text)" },
	{ .key = "message_base64", .type = PROTO_T_STRING,
	  .help = "or the raw message in base64 (any bytes)" },
	{ .key = NULL },
};

static const struct proto_arg args_bayes_forget[] = {
	{ .key = "message", .type = PROTO_T_STRING,
	  .help = "the raw message (UTF-8 text)" },
	{ .key = "message_base64", .type = PROTO_T_STRING,
	  .help = "or the raw message in base64 (any bytes)" },
	{ .key = NULL },
};

const struct proto_cmd proto_cmds[] = {
	{ .name = PROTO_CMD_BAYES_FORGET, .role = PROTO_ROLE_ADMIN,
	  .args = args_bayes_forget,
	  .help = "undo what learning a message taught the Bayes filter" },
	{ .name = PROTO_CMD_BAYES_LEARN, .role = PROTO_ROLE_ADMIN,
	  .args = args_bayes_learn,
	  .help = "train the Bayes filter with a message (moatctl learn)" },
	{ .name = PROTO_CMD_BAYES_STATS, .role = PROTO_ROLE_AUDITOR,
	  .args = args_none, .help = "the Bayes token store" },
	{ .name = PROTO_CMD_CONFIG_GET, .role = PROTO_ROLE_ADMIN,
	  .args = args_none, .help = "show the running configuration" },
	{ .name = PROTO_CMD_CONFIG_RELOAD, .role = PROTO_ROLE_ADMIN,
	  .args = args_none, .help = "reload the configuration file" },
	{ .name = PROTO_CMD_LISTS_ADD, .role = PROTO_ROLE_QMANAGER,
	  .args = args_lists_add, .help = "add a sender list entry" },
	{ .name = PROTO_CMD_LISTS_DEL, .role = PROTO_ROLE_QMANAGER,
	  .args = args_lists_del, .help = "delete a sender list entry" },
	{ .name = PROTO_CMD_LISTS_LIST, .role = PROTO_ROLE_AUDITOR,
	  .args = args_lists_list,
	  .help = "sender welcomelist and blocklist entries" },
	{ .name = PROTO_CMD_OBJECTS_GET, .role = PROTO_ROLE_AUDITOR,
	  .args = args_objects_get, .help = "one object group or action" },
	{ .name = PROTO_CMD_OBJECTS_LIST, .role = PROTO_ROLE_AUDITOR,
	  .args = args_objects_list, .help = "object groups and actions" },
	{ .name = PROTO_CMD_OBJECTS_SET, .role = PROTO_ROLE_ADMIN,
	  .args = args_objects_set,
	  .help = "replace a group's objects (written to its rule file)" },
	{ .name = PROTO_CMD_QUARANTINE_BLOCKLIST, .role = PROTO_ROLE_QMANAGER,
	  .args = args_quarantine_list_op,
	  .help = "blocklist the sender and delete the message" },
	{ .name = PROTO_CMD_QUARANTINE_DELETE, .role = PROTO_ROLE_QMANAGER,
	  .args = args_quarantine_op, .help = "delete quarantined messages" },
	{ .name = PROTO_CMD_QUARANTINE_GET, .role = PROTO_ROLE_AUDITOR,
	  .args = args_quarantine_get,
	  .help = "a quarantined message: headers, preview, findings" },
	{ .name = PROTO_CMD_QUARANTINE_LIST, .role = PROTO_ROLE_AUDITOR,
	  .args = args_quarantine_list,
	  .help = "search the quarantine, newest first" },
	{ .name = PROTO_CMD_QUARANTINE_PURGE, .role = PROTO_ROLE_ADMIN,
	  .args = args_none, .help = "remove entries past their retention" },
	{ .name = PROTO_CMD_QUARANTINE_RELEASE, .role = PROTO_ROLE_QMANAGER,
	  .args = args_quarantine_op,
	  .help = "deliver quarantined messages (once)" },
	{ .name = PROTO_CMD_QUARANTINE_REPORT, .role = PROTO_ROLE_ADMIN,
	  .args = args_quarantine_report, .help = "send spam digests now" },
	{ .name = PROTO_CMD_QUARANTINE_WELCOMELIST, .role = PROTO_ROLE_QMANAGER,
	  .args = args_quarantine_list_op,
	  .help = "welcomelist the sender and release the message" },
	{ .name = PROTO_CMD_RULES_GET, .role = PROTO_ROLE_AUDITOR,
	  .args = args_rules_name, .help = "one rule with its objects" },
	{ .name = PROTO_CMD_RULES_LIST, .role = PROTO_ROLE_AUDITOR,
	  .args = args_none, .help = "the rules, in priority order" },
	{ .name = PROTO_CMD_RULES_RELOAD, .role = PROTO_ROLE_ADMIN,
	  .args = args_none, .help = "reload the rule files" },
	{ .name = PROTO_CMD_RULES_SET_PRIORITY, .role = PROTO_ROLE_ADMIN,
	  .args = args_rules_set_priority,
	  .help = "change a rule's priority (written to its file)" },
	{ .name = PROTO_CMD_RULES_TOGGLE, .role = PROTO_ROLE_ADMIN,
	  .args = args_rules_toggle,
	  .help = "turn a rule on or off (written to its file)" },
	{ .name = PROTO_CMD_SCAN, .role = PROTO_ROLE_AUDITOR,
	  .args = args_scan,
	  .help = "verdict, score and findings of a message (not delivered)" },
	{ .name = PROTO_CMD_STATS_GET, .role = PROTO_ROLE_AUDITOR,
	  .args = args_stats_get, .help = "hourly message counters" },
	{ .name = PROTO_CMD_STATUS, .role = PROTO_ROLE_AUDITOR,
	  .args = args_none, .help = "version, uptime, counters, sessions" },
	{ .name = PROTO_CMD_TRACKING_GET, .role = PROTO_ROLE_AUDITOR,
	  .args = args_tracking_get, .help = "one message's tracking record" },
	{ .name = PROTO_CMD_TRACKING_SEARCH, .role = PROTO_ROLE_AUDITOR,
	  .args = args_tracking_search, .help = "search tracking, newest first" },
	{ .name = PROTO_CMD_TRACKING_SUBSCRIBE, .role = PROTO_ROLE_AUDITOR,
	  .args = args_tracking_subscribe,
	  .help = "follow messages as they finish" },
	{ .name = PROTO_CMD_TRACKING_UNSUBSCRIBE, .role = PROTO_ROLE_AUDITOR,
	  .args = args_none, .help = "stop following messages" },
	{ .name = PROTO_CMD_USER_ADD, .role = PROTO_ROLE_ADMIN,
	  .args = args_user_add, .help = "add a local (SSH console) user" },
	{ .name = PROTO_CMD_USER_DEL, .role = PROTO_ROLE_ADMIN,
	  .args = args_user_name, .help = "delete a local user" },
	{ .name = PROTO_CMD_USER_LIST, .role = PROTO_ROLE_ADMIN,
	  .args = args_none, .help = "the local users (never their hashes)" },
	{ .name = PROTO_CMD_USER_PASSWD, .role = PROTO_ROLE_ADMIN,
	  .args = args_user_passwd, .help = "set a local user's password" },
};
const size_t proto_ncmds = sizeof proto_cmds / sizeof proto_cmds[0];

static int
proto_cmd_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct proto_cmd *)elem)->name);
}

const struct proto_cmd *
proto_cmd_find(const char *name)
{
	return bsearch(name, proto_cmds, proto_ncmds, sizeof proto_cmds[0],
	    proto_cmd_cmp);
}

const char *
proto_type_name(enum proto_type t)
{
	switch (t) {
	case PROTO_T_STRING:
		return "string";
	case PROTO_T_INTEGER:
		return "integer";
	case PROTO_T_BOOLEAN:
		return "boolean";
	}
	return "unknown";
}

const struct proto_arg *
proto_arg_find(const struct proto_arg *schema, const char *key)
{
	for (; schema->key != NULL; schema++) {
		if (strcmp(schema->key, key) == 0)
			return schema;
	}
	return NULL;
}

static bool
proto_type_is(enum proto_type t, const json_t *v)
{
	switch (t) {
	case PROTO_T_STRING:
		return json_is_string(v);
	case PROTO_T_INTEGER:
		return json_is_integer(v);
	case PROTO_T_BOOLEAN:
		return json_is_boolean(v);
	}
	return false;
}

int
proto_args_check(const struct proto_arg *schema, const json_t *args,
    const char **key, char **cause)
{
	const struct proto_arg	*a;
	const char		*k;
	json_t			*v;

	json_object_foreach((json_t *)args, k, v) {
		if ((a = proto_arg_find(schema, k)) == NULL) {
			*key = k;
			xasprintf(cause, "unknown argument \"%s\"", k);
			return -1;
		}
		if (!json_is_null(v) && !proto_type_is(a->type, v)) {
			*key = a->key;
			xasprintf(cause, "argument \"%s\" must be %s %s", a->key,
			    a->type == PROTO_T_INTEGER ? "an" : "a",
			    proto_type_name(a->type));
			return -1;
		}
	}
	for (a = schema; a->key != NULL; a++) {
		v = json_object_get(args, a->key);
		if (a->required && (v == NULL || json_is_null(v))) {
			*key = a->key;
			xasprintf(cause, "missing argument \"%s\"", a->key);
			return -1;
		}
	}
	return 0;
}

/* --- framing ---------------------------------------------------------- */

void
proto_frame_init(struct proto_frame *f, size_t max)
{
	buf_init(&f->line, max);
	f->discarding = false;
	f->ready = false;
}

void
proto_frame_free(struct proto_frame *f)
{
	buf_free(&f->line);
}

void
proto_frame_set_max(struct proto_frame *f, size_t max)
{
	f->line.max = max;
}

size_t
proto_frame_pending(const struct proto_frame *f)
{
	return f->ready ? 0 : f->line.len;
}

enum proto_frame_rv
proto_frame_push(struct proto_frame *f, const char *p, size_t len,
    size_t *used)
{
	const char	*nl;
	size_t		 off = 0, n;

	if (f->ready) {
		buf_reset(&f->line);
		f->ready = false;
	}
	for (;;) {
		nl = memchr(p + off, '\n', len - off);
		n = nl != NULL ? (size_t)(nl - (p + off)) : len - off;
		if (f->discarding) {
			off += n;
			if (nl == NULL) {
				*used = off;
				return PROTO_FRAME_MORE;
			}
			off++;
			f->discarding = false;
			continue;
		}
		if (buf_append(&f->line, p + off, n) == -1) {
			/* Over the limit: drop what we hold and the rest. */
			buf_reset(&f->line);
			off += n;
			if (nl != NULL)
				off++;
			else
				f->discarding = true;
			*used = off;
			return PROTO_FRAME_TOO_LARGE;
		}
		off += n;
		*used = off;
		if (nl == NULL)
			return PROTO_FRAME_MORE;
		(*used)++;
		if (f->line.len > 0 && f->line.data[f->line.len - 1] == '\r')
			f->line.data[--f->line.len] = '\0';
		if (f->line.data == NULL && buf_append(&f->line, "", 0) == -1)
			return PROTO_FRAME_TOO_LARGE;	/* max is 0 */
		f->ready = true;
		return PROTO_FRAME_LINE;
	}
}

/* --- requests --------------------------------------------------------- */

void
proto_request_clear(struct proto_request *r)
{
	json_decref(r->id);
	json_decref(r->args);
	free(r->cmd);
	r->id = r->args = NULL;
	r->cmd = NULL;
}

static int
request_fail(struct proto_request *r, const char **code, const char *c,
    char **cause, char *why)
{
	json_decref(r->args);
	free(r->cmd);
	r->args = NULL;
	r->cmd = NULL;
	*code = c;
	*cause = why;
	return -1;
}

int
proto_request_parse(const char *line, size_t len, struct proto_request *r,
    const char **code, char **cause)
{
	json_error_t	 err;
	json_t		*o, *v;
	const char	*k;
	char		*why;

	memset(r, 0, sizeof *r);
	if ((o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL) {
		xasprintf(&why, "bad JSON at column %d: %s", err.column,
		    err.text);
		return request_fail(r, code, PROTO_E_BAD_REQUEST, cause, why);
	}
	if (!json_is_object(o)) {
		json_decref(o);
		return request_fail(r, code, PROTO_E_BAD_REQUEST, cause,
		    xstrdup("request must be a JSON object"));
	}
	v = json_object_get(o, "id");
	if (json_is_integer(v) || json_is_string(v))
		r->id = json_incref(v);
	else if (v != NULL && !json_is_null(v)) {
		json_decref(o);
		return request_fail(r, code, PROTO_E_BAD_REQUEST, cause,
		    xstrdup("id must be an integer or a string"));
	}
	json_object_foreach(o, k, v) {
		if (strcmp(k, "id") != 0 && strcmp(k, "cmd") != 0 &&
		    strcmp(k, "args") != 0) {
			xasprintf(&why, "unknown request member \"%s\"", k);
			json_decref(o);
			return request_fail(r, code, PROTO_E_BAD_REQUEST, cause,
			    why);
		}
	}
	v = json_object_get(o, "cmd");
	if (!json_is_string(v)) {
		json_decref(o);
		return request_fail(r, code, PROTO_E_BAD_REQUEST, cause,
		    xstrdup(v == NULL ? "missing cmd" :
		    "cmd must be a string"));
	}
	r->cmd = xstrdup(json_string_value(v));
	v = json_object_get(o, "args");
	if (v == NULL || json_is_null(v))
		r->args = json_object();
	else if (json_is_object(v))
		r->args = json_incref(v);
	else {
		json_decref(o);
		return request_fail(r, code, PROTO_E_BAD_REQUEST, cause,
		    xstrdup("args must be an object"));
	}
	json_decref(o);
	return 0;
}

json_t *
proto_request_new(json_int_t id, const char *cmd, json_t *args)
{
	json_t	*o;

	o = json_pack("{s:I, s:s}", "id", id, "cmd", cmd);
	if (o != NULL && args != NULL)
		json_object_set(o, "args", args);
	return o;
}

/* --- answers and events ----------------------------------------------- */

static json_t *
id_or_null(json_t *id)
{
	return id != NULL ? json_incref(id) : json_null();
}

json_t *
proto_answer_ok(json_t *id, json_t *result)
{
	json_t	*o;

	o = json_object();
	json_object_set_new(o, "id", id_or_null(id));
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "result",
	    result != NULL ? result : json_object());
	return o;
}

json_t *
proto_answer_error_key(json_t *id, const char *code, const char *key,
    const char *message)
{
	json_t	*o, *e;

	e = json_object();
	json_object_set_new(e, "code", json_string(code));
	/* Messages may quote client bytes: keep them valid UTF-8. */
	if ((o = json_string(message)) == NULL)
		o = json_string("(message not valid UTF-8)");
	json_object_set_new(e, "message", o);
	if (key != NULL && (o = json_string(key)) != NULL)
		json_object_set_new(e, "key", o);
	o = json_object();
	json_object_set_new(o, "id", id_or_null(id));
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "error", e);
	return o;
}

json_t *
proto_answer_error(json_t *id, const char *code, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	json_t	*o;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	o = proto_answer_error_key(id, code, NULL, msg != NULL ? msg : code);
	free(msg);
	return o;
}

json_t *
proto_event(const char *name, json_t *data)
{
	json_t	*o;

	o = json_object();
	json_object_set_new(o, "event", json_string(name));
	json_object_set_new(o, "data", data != NULL ? data : json_null());
	return o;
}

char *
proto_encode(const json_t *o, size_t *len)
{
	char	*s, *line;
	size_t	 n;

	if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
		return NULL;
	n = strlen(s);
	line = xmalloc(n + 2);
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	free(s);
	if (len != NULL)
		*len = n + 1;
	return line;
}
