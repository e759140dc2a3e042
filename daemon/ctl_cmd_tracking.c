/*
 * tracking.search, tracking.get, tracking.subscribe, tracking.unsubscribe.
 * Handlers on the loop thread; store reads on a "ctl" pool thread.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "track.h"
#include "xmalloc.h"

#define CTL_TRACKING_LIMIT_DEFAULT	50
#define CTL_QUEUE_ID_MAX		(sizeof(((struct track_rec *)0)->queue_id) - 1)
#define CTL_SHOW_MAX			64	/* client text in messages */

static const struct proto_arg tracking_search_args[] = {
	{ .key = "sender", .type = PROTO_T_STRING },
	{ .key = "rcpt", .type = PROTO_T_STRING },
	{ .key = "text", .type = PROTO_T_STRING },
	{ .key = "outcome", .type = PROTO_T_STRING },
	{ .key = "direction", .type = PROTO_T_STRING },
	{ .key = "from_ms", .type = PROTO_T_INTEGER },
	{ .key = "to_ms", .type = PROTO_T_INTEGER },
	{ .key = "cursor", .type = PROTO_T_STRING },
	{ .key = "limit", .type = PROTO_T_INTEGER },
	{ .key = NULL },
};

static const struct proto_arg tracking_get_args[] = {
	{ .key = "queue_id", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static const struct proto_arg tracking_subscribe_args[] = {
	{ .key = "outcome", .type = PROTO_T_STRING },
	{ .key = "direction", .type = PROTO_T_STRING },
	{ .key = NULL },
};

static const struct proto_arg tracking_unsubscribe_args[] = {
	{ .key = NULL },
};

/* Check the outcome and direction filters both search and subscribe take.
 * Returns an error answer, or NULL when they are fine. */
static json_t *
tracking_check_filters(struct ctl_req *req)
{
	enum track_outcome	 o;
	const char		*s;

	s = ctl_arg_str(req->args, "outcome");
	if (s != NULL && track_outcome_parse(s, &o) == -1)
		return ctl_bad_arg(req, "outcome", "unknown outcome \"%.*s\"",
		    CTL_SHOW_MAX, s);
	s = ctl_arg_str(req->args, "direction");
	if (s != NULL && strcmp(s, "inbound") != 0 &&
	    strcmp(s, "outbound") != 0)
		return ctl_bad_arg(req, "direction",
		    "direction must be inbound or outbound");
	return NULL;
}

/* Pool thread. */
static json_t *
tracking_search_db(struct db *db, const json_t *args, const char **code,
    char **cause)
{
	struct track_query	 q;
	json_t			*r;

	memset(&q, 0, sizeof q);
	q.sender = ctl_arg_str(args, "sender");
	q.rcpt = ctl_arg_str(args, "rcpt");
	q.text = ctl_arg_str(args, "text");
	q.outcome = ctl_arg_str(args, "outcome");
	q.direction = ctl_arg_str(args, "direction");
	q.from_ms = ctl_arg_int(args, "from_ms", 0);
	q.to_ms = ctl_arg_int(args, "to_ms", 0);
	q.cursor = ctl_arg_str(args, "cursor");
	q.limit = (int)ctl_arg_int(args, "limit", CTL_TRACKING_LIMIT_DEFAULT);
	if ((r = db_track_search(db, &q, cause)) == NULL)
		*code = PROTO_E_INTERNAL;
	return r;
}

static json_t *
tracking_search_exec(struct ctl_req *req)
{
	json_t	*err;
	int64_t	 limit, from, to;

	if ((err = tracking_check_filters(req)) != NULL)
		return err;
	limit = ctl_arg_int(req->args, "limit", CTL_TRACKING_LIMIT_DEFAULT);
	if (limit < 1 || limit > DB_PAGE_MAX)
		return ctl_bad_arg(req, "limit", "limit must be 1 to %d",
		    DB_PAGE_MAX);
	from = ctl_arg_int(req->args, "from_ms", 0);
	to = ctl_arg_int(req->args, "to_ms", 0);
	if (from < 0)
		return ctl_bad_arg(req, "from_ms", "from_ms must not be "
		    "negative");
	if (to < 0 || (to != 0 && to <= from))
		return ctl_bad_arg(req, "to_ms", "to_ms must be after from_ms");
	return ctl_defer_db(req, tracking_search_db);
}

/* Pool thread. */
static json_t *
tracking_get_db(struct db *db, const json_t *args, const char **code,
    char **cause)
{
	const char	*qid = ctl_arg_str(args, "queue_id");
	json_t		*r;

	if ((r = db_track_get(db, qid, cause)) == NULL) {
		*code = PROTO_E_INTERNAL;
		return NULL;
	}
	if (json_is_null(r)) {
		json_decref(r);
		*code = PROTO_E_NOT_FOUND;
		xasprintf(cause, "no message with queue id %s", qid);
		return NULL;
	}
	return r;
}

static json_t *
tracking_get_exec(struct ctl_req *req)
{
	const char	*qid = ctl_arg_str(req->args, "queue_id");

	if (*qid == '\0')
		return ctl_bad_arg(req, "queue_id", "queue_id is empty");
	if (strlen(qid) > CTL_QUEUE_ID_MAX)
		return ctl_error(req, PROTO_E_NOT_FOUND,
		    "no message with queue id %.*s", CTL_SHOW_MAX, qid);
	return ctl_defer_db(req, tracking_get_db);
}

static json_t *
tracking_subscribe_exec(struct ctl_req *req)
{
	json_t		*err;
	const char	*outcome, *direction;

	if ((err = tracking_check_filters(req)) != NULL)
		return err;
	outcome = ctl_arg_str(req->args, "outcome");
	direction = ctl_arg_str(req->args, "direction");
	if (ctl_conn_subscribe(req->conn, outcome, direction) == -1)
		return ctl_error(req, PROTO_E_UNAVAILABLE,
		    "no connection to subscribe");
	return ctl_ok(req, json_pack("{s:b, s:o, s:o}", "subscribed", 1,
	    "outcome", outcome != NULL ? json_string(outcome) : json_null(),
	    "direction", direction != NULL ? json_string(direction) :
	    json_null()));
}

static json_t *
tracking_unsubscribe_exec(struct ctl_req *req)
{
	if (ctl_conn_unsubscribe(req->conn) == -1)
		return ctl_error(req, PROTO_E_UNAVAILABLE,
		    "no connection to unsubscribe");
	return ctl_ok(req, json_pack("{s:b}", "subscribed", 0));
}

const struct ctl_cmd ctl_cmd_tracking_get = {
	.name = PROTO_CMD_TRACKING_GET,
	.role = PROTO_ROLE_AUDITOR,
	.args = tracking_get_args,
	.exec = tracking_get_exec,
};

const struct ctl_cmd ctl_cmd_tracking_search = {
	.name = PROTO_CMD_TRACKING_SEARCH,
	.role = PROTO_ROLE_AUDITOR,
	.args = tracking_search_args,
	.exec = tracking_search_exec,
};

const struct ctl_cmd ctl_cmd_tracking_subscribe = {
	.name = PROTO_CMD_TRACKING_SUBSCRIBE,
	.role = PROTO_ROLE_AUDITOR,
	.args = tracking_subscribe_args,
	.exec = tracking_subscribe_exec,
};

const struct ctl_cmd ctl_cmd_tracking_unsubscribe = {
	.name = PROTO_CMD_TRACKING_UNSUBSCRIBE,
	.role = PROTO_ROLE_AUDITOR,
	.args = tracking_unsubscribe_args,
	.exec = tracking_unsubscribe_exec,
};
