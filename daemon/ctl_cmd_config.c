/*
 * config.get and config.reload.
 * Loop thread: the reload reads the file here, as SIGHUP does.
 */
#include <stdlib.h>

#include "cfg.h"
#include "ctl.h"
#include "log.h"

static const struct proto_arg config_args[] = {
	{ .key = NULL },
};

static json_t *
config_get_exec(struct ctl_req *req)
{
	struct cfg	*cfg = cfg_current();
	json_t		*o;

	if (cfg == NULL)
		return ctl_error(req, PROTO_E_UNAVAILABLE,
		    "no configuration loaded");
	if ((o = cfg_to_json(cfg)) == NULL)
		return ctl_error(req, PROTO_E_INTERNAL,
		    "configuration cannot be shown as JSON");
	return ctl_ok(req, o);
}

static json_t *
config_reload_exec(struct ctl_req *req)
{
	struct cfg	*cfg;
	char		*cause = NULL;
	json_t		*answer, *file;

	log_info("ctl: connection %llu: config.reload",
	    (unsigned long long)req->conn);
	if (ctl_reload(&cause) == -1) {
		log_warnx("ctl: config.reload: %s",
		    cause != NULL ? cause : "failed");
		answer = ctl_error(req, PROTO_E_CONFIG, "%s",
		    cause != NULL ? cause : "reload failed");
		free(cause);
		return answer;
	}
	cfg = cfg_current();
	if (cfg == NULL || cfg->path == NULL ||
	    (file = json_string(cfg->path)) == NULL)
		file = json_null();
	return ctl_ok(req, json_pack("{s:b, s:o}", "reloaded", 1,
	    "file", file));
}

const struct ctl_cmd ctl_cmd_config_get = {
	.name = PROTO_CMD_CONFIG_GET,
	.role = PROTO_ROLE_ADMIN,
	.args = config_args,
	.exec = config_get_exec,
};

const struct ctl_cmd ctl_cmd_config_reload = {
	.name = PROTO_CMD_CONFIG_RELOAD,
	.role = PROTO_ROLE_ADMIN,
	.args = config_args,
	.exec = config_reload_exec,
};
