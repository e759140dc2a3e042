/*
 * status: version, uptime, node, counters and what is in flight.
 * Loop thread.
 */
#include <unistd.h>

#include "cfg.h"
#include "ctl.h"
#include "smtp.h"
#include "stats.h"
#include "util.h"

static const struct proto_arg status_args[] = {
	{ .key = NULL },
};

/* JSON null for NULL or for a string jansson refuses (not UTF-8). */
static json_t *
str_or_null(const char *s)
{
	json_t	*v;

	if (s == NULL || (v = json_string(s)) == NULL)
		return json_null();
	return v;
}

static json_t *
status_exec(struct ctl_req *req)
{
	struct cfg	*cfg = cfg_current();
	uint64_t	 up_ms = util_mono_ms() - ctl_started_mono();
	int64_t		 started = stats.started_ms;
	json_t		*o;

	if (started == 0)
		started = util_wall_ms() - (int64_t)up_ms;
	o = json_object();
	json_object_set_new(o, "version", json_string(MOAT_VERSION));
	json_object_set_new(o, "protocol", json_integer(PROTO_VERSION));
	json_object_set_new(o, "node",
	    str_or_null(cfg != NULL ? cfg->node_name : NULL));
	json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(o, "started_ms", json_integer(started));
	json_object_set_new(o, "uptime_s", json_integer((json_int_t)
	    (up_ms / 1000)));
	json_object_set_new(o, "sessions",
	    json_integer((json_int_t)smtp_session_count()));
	json_object_set_new(o, "inflight",
	    json_integer((json_int_t)smtp_inflight_count()));
	json_object_set_new(o, "counters", stats_to_json());
	json_object_set_new(o, "role",
	    json_string(proto_role_name(req->role)));
	return ctl_ok(req, o);
}

const struct ctl_cmd ctl_cmd_status = {
	.name = PROTO_CMD_STATUS,
	.role = PROTO_ROLE_AUDITOR,
	.args = status_args,
	.exec = status_exec,
};
