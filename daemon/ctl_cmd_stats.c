/*
 * stats.get: hourly counters from the store.
 * Handler on the loop thread, the read on a "ctl" pool thread.
 */
#include <stdlib.h>

#include "ctl.h"
#include "db.h"
#include "util.h"

#define CTL_STATS_SPAN_DEFAULT_MS	(24LL * 3600 * 1000)
#define CTL_STATS_SPAN_MAX_MS		(366LL * 24 * 3600 * 1000)

static const struct proto_arg stats_get_args[] = {
	{ .key = "from_ms", .type = PROTO_T_INTEGER },
	{ .key = "to_ms", .type = PROTO_T_INTEGER },
	{ .key = NULL },
};

/* Pool thread. */
static json_t *
stats_get_db(struct db *db, const json_t *args, const char **code,
    char **cause)
{
	int64_t	 from = ctl_arg_int(args, "from_ms", 0);
	int64_t	 to = ctl_arg_int(args, "to_ms", 0);
	json_t	*r;

	if ((r = db_stats_get(db, from, to, cause)) == NULL) {
		*code = PROTO_E_INTERNAL;
		return NULL;
	}
	if (json_is_object(r)) {	/* say which span this is */
		json_object_set_new(r, "from_ms", json_integer(from));
		json_object_set_new(r, "to_ms", json_integer(to));
	}
	return r;
}

static json_t *
stats_get_exec(struct ctl_req *req)
{
	int64_t	now = util_wall_ms(), from, to;

	to = ctl_arg_int(req->args, "to_ms", now);
	from = ctl_arg_int(req->args, "from_ms", to - CTL_STATS_SPAN_DEFAULT_MS);
	if (from < 0)
		return ctl_bad_arg(req, "from_ms", "from_ms must not be "
		    "negative");
	if (to <= from)
		return ctl_bad_arg(req, "to_ms", "to_ms must be after from_ms");
	if (to - from > CTL_STATS_SPAN_MAX_MS)
		return ctl_bad_arg(req, "from_ms", "at most 366 days at once");
	/* The job reads the bounds from args: fill in the defaults. */
	json_object_set_new(req->args, "from_ms", json_integer(from));
	json_object_set_new(req->args, "to_ms", json_integer(to));
	return ctl_defer_db(req, stats_get_db);
}

const struct ctl_cmd ctl_cmd_stats_get = {
	.name = PROTO_CMD_STATS_GET,
	.role = PROTO_ROLE_AUDITOR,
	.args = stats_get_args,
	.exec = stats_get_exec,
};
