/*
 * user.add, user.del, user.list, user.passwd: the local users who may log
 * in to the SSH console (admin only). Hashing and the store run on the
 * ctl pool; no answer ever carries a hash.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "ctl.h"
#include "db_users.h"
#include "log.h"
#include "users.h"
#include "xmalloc.h"

static const struct proto_arg user_add_args[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true },
	{ .key = "role", .type = PROTO_T_STRING, .required = true },
	{ .key = "password", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static const struct proto_arg user_passwd_args[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true },
	{ .key = "password", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static const struct proto_arg user_name_args[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static const struct proto_arg user_none_args[] = {
	{ .key = NULL },
};

/* Pool threads. */
static json_t *
user_add_db(struct db *db, const json_t *args, const char **code,
    char **cause)
{
	const char	*name = ctl_arg_str(args, "name");
	enum proto_role	 role;
	char		*hash;
	bool		 exists;
	int		 rv;

	(void)db;
	if (users_role_parse(ctl_arg_str(args, "role"), &role, cause) == -1) {
		*code = PROTO_E_BAD_ARGS;
		return NULL;
	}
	if ((hash = users_hash(ctl_arg_str(args, "password"), cause)) == NULL) {
		*code = PROTO_E_INTERNAL;
		return NULL;
	}
	rv = db_users_add(name, role, hash, &exists, cause);
	free(hash);
	if (rv == -1) {
		*code = PROTO_E_INTERNAL;
		return NULL;
	}
	if (exists) {
		*code = PROTO_E_BAD_ARGS;
		xasprintf(cause, "user %s exists", name);
		return NULL;
	}
	log_info("user %s added with role %s", name, proto_role_name(role));
	return json_pack("{s:s, s:s, s:b}", "name", name, "role",
	    proto_role_name(role), "added", 1);
}

static json_t *
user_passwd_db(struct db *db, const json_t *args, const char **code,
    char **cause)
{
	const char	*name = ctl_arg_str(args, "name");
	char		*hash;
	bool		 found;
	int		 rv;

	(void)db;
	if ((hash = users_hash(ctl_arg_str(args, "password"), cause)) == NULL) {
		*code = PROTO_E_INTERNAL;
		return NULL;
	}
	rv = db_users_passwd(name, hash, &found, cause);
	free(hash);
	if (rv == -1) {
		*code = PROTO_E_INTERNAL;
		return NULL;
	}
	if (!found) {
		*code = PROTO_E_NOT_FOUND;
		xasprintf(cause, "no such user");
		return NULL;
	}
	log_info("user %s: password changed", name);
	return json_pack("{s:s, s:b}", "name", name, "changed", 1);
}

static json_t *
user_del_db(struct db *db, const json_t *args, const char **code,
    char **cause)
{
	const char	*name = ctl_arg_str(args, "name");
	bool		 found;

	(void)db;
	if (db_users_del(name, &found, cause) == -1) {
		*code = PROTO_E_INTERNAL;
		return NULL;
	}
	if (!found) {
		*code = PROTO_E_NOT_FOUND;
		xasprintf(cause, "no such user");
		return NULL;
	}
	log_info("user %s deleted", name);
	return json_pack("{s:s, s:b}", "name", name, "deleted", 1);
}

static json_t *
user_list_db(struct db *db, const json_t *args, const char **code,
    char **cause)
{
	json_t	*r;

	(void)db;
	(void)args;
	if ((r = db_users_list(cause)) == NULL)
		*code = PROTO_E_INTERNAL;
	return r;
}

/* Loop thread: check what is cheap, then defer. */
static json_t *
user_check(struct ctl_req *req, bool password, bool role)
{
	char		*cause = NULL;
	enum proto_role	 r;
	json_t		*a;

	if (cfg_current() != NULL)
		users_configure(cfg_current());
	if (users_name_check(ctl_arg_str(req->args, "name"), &cause) == -1) {
		a = ctl_bad_arg(req, "name", "%s", cause);
		free(cause);
		return a;
	}
	if (role && users_role_parse(ctl_arg_str(req->args, "role"), &r,
	    &cause) == -1) {
		a = ctl_bad_arg(req, "role", "%s", cause);
		free(cause);
		return a;
	}
	if (password && users_password_check(ctl_arg_str(req->args,
	    "password"), &cause) == -1) {
		a = ctl_bad_arg(req, "password", "%s", cause);
		free(cause);
		return a;
	}
	return NULL;
}

static json_t *
user_add_exec(struct ctl_req *req)
{
	json_t	*a;

	if ((a = user_check(req, true, true)) != NULL)
		return a;
	return ctl_defer_db(req, user_add_db);
}

static json_t *
user_passwd_exec(struct ctl_req *req)
{
	json_t	*a;

	if ((a = user_check(req, true, false)) != NULL)
		return a;
	return ctl_defer_db(req, user_passwd_db);
}

static json_t *
user_del_exec(struct ctl_req *req)
{
	json_t	*a;

	if ((a = user_check(req, false, false)) != NULL)
		return a;
	return ctl_defer_db(req, user_del_db);
}

static json_t *
user_list_exec(struct ctl_req *req)
{
	if (cfg_current() != NULL)
		users_configure(cfg_current());
	return ctl_defer_db(req, user_list_db);
}

const struct ctl_cmd ctl_cmd_user_add = {
	.name = PROTO_CMD_USER_ADD,
	.role = PROTO_ROLE_ADMIN,
	.args = user_add_args,
	.exec = user_add_exec,
};

const struct ctl_cmd ctl_cmd_user_del = {
	.name = PROTO_CMD_USER_DEL,
	.role = PROTO_ROLE_ADMIN,
	.args = user_name_args,
	.exec = user_del_exec,
};

const struct ctl_cmd ctl_cmd_user_list = {
	.name = PROTO_CMD_USER_LIST,
	.role = PROTO_ROLE_ADMIN,
	.args = user_none_args,
	.exec = user_list_exec,
};

const struct ctl_cmd ctl_cmd_user_passwd = {
	.name = PROTO_CMD_USER_PASSWD,
	.role = PROTO_ROLE_ADMIN,
	.args = user_passwd_args,
	.exec = user_passwd_exec,
};
