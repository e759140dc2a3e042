/*
 * lists.list, lists.add, lists.del: the sender welcomelist and blocklist,
 * global (owner "*" or absent) or of one recipient. A user's blocklist
 * raises the spam score of mail to that user, a welcomelist entry skips
 * the spam verdict; the global lists are what "list" Who objects match.
 * Handlers on the loop thread; the store on the ctl and quar pools; the
 * snapshot policy_eval reads is rebuilt after each change.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db_quar.h"
#include "pool.h"
#include "quar.h"
#include "xmalloc.h"

#define CTL_LISTS_LIMIT_DEFAULT	1000

static const struct proto_arg lists_list_args[] = {
	{ .key = "owner", .type = PROTO_T_STRING },
	{ .key = "list", .type = PROTO_T_STRING },
	{ .key = "text", .type = PROTO_T_STRING },
	{ .key = "limit", .type = PROTO_T_INTEGER },
	{ .key = NULL },
};

static const struct proto_arg lists_add_args[] = {
	{ .key = "list", .type = PROTO_T_STRING, .required = true },
	{ .key = "pattern", .type = PROTO_T_STRING, .required = true },
	{ .key = "owner", .type = PROTO_T_STRING },
	{ .key = "comment", .type = PROTO_T_STRING },
	{ .key = NULL },
};

static const struct proto_arg lists_del_args[] = {
	{ .key = "list", .type = PROTO_T_STRING, .required = true },
	{ .key = "pattern", .type = PROTO_T_STRING, .required = true },
	{ .key = "owner", .type = PROTO_T_STRING },
	{ .key = NULL },
};

/* "block"/"blocklist" 1, "welcome"/"welcomelist" 0, else -1. */
static int
list_kind(const char *s)
{
	if (strcmp(s, "block") == 0 || strcmp(s, "blocklist") == 0)
		return 1;
	if (strcmp(s, "welcome") == 0 || strcmp(s, "welcomelist") == 0)
		return 0;
	return -1;
}

/* "" for the global list; NULL when the owner is not an address. */
static const char *
list_owner(const char *s)
{
	if (s == NULL || *s == '\0' || strcmp(s, "*") == 0)
		return "";
	if (strchr(s, '@') == NULL || strlen(s) > POLICY_PATTERN_MAX ||
	    strpbrk(s, " \t\r\n<>") != NULL)
		return NULL;
	return s;
}

/* Pool thread (ctl). */
static json_t *
lists_list_db(struct db *db, const json_t *args, const char **code,
    char **cause)
{
	const char	*owner = ctl_arg_str(args, "owner");
	const char	*list = ctl_arg_str(args, "list");
	json_t		*r;

	(void)db;
	r = db_quar_list_search(owner != NULL ? list_owner(owner) : NULL,
	    list != NULL ? list_kind(list) : -1, ctl_arg_str(args, "text"),
	    (int)ctl_arg_int(args, "limit", CTL_LISTS_LIMIT_DEFAULT), cause);
	if (r == NULL)
		*code = PROTO_E_INTERNAL;
	return r;
}

static json_t *
lists_list_exec(struct ctl_req *req)
{
	const char	*owner = ctl_arg_str(req->args, "owner");
	const char	*list = ctl_arg_str(req->args, "list");
	int64_t		 limit;

	if (owner != NULL && list_owner(owner) == NULL)
		return ctl_bad_arg(req, "owner", "owner must be an address or "
		    "* (global)");
	if (list != NULL && list_kind(list) == -1)
		return ctl_bad_arg(req, "list", "list must be welcome or "
		    "block");
	limit = ctl_arg_int(req->args, "limit", CTL_LISTS_LIMIT_DEFAULT);
	if (limit < 1 || limit > POLICY_LIST_MAX)
		return ctl_bad_arg(req, "limit", "limit must be 1 to %d",
		    POLICY_LIST_MAX);
	return ctl_defer_db(req, lists_list_db);
}

struct change {
	struct ctl_later	*later;
	bool			 add;
	char			*owner;
	bool			 block;
	char			*pattern;
	char			*comment;
	bool			 changed;
	int			 rv;
	char			*cause;
};

static void
change_work(void *arg)
{
	struct change	*c = arg;

	if (c->add)
		c->rv = db_quar_list_add(c->owner, c->block, c->pattern,
		    c->comment, &c->changed, &c->cause);
	else
		c->rv = db_quar_list_del(c->owner, c->block, c->pattern,
		    &c->changed, &c->cause);
	/* Before the answer: the next message sees the change. */
	if (c->rv == 0 && c->changed && quar_lists_load(&c->cause) == -1)
		c->rv = -1;
}

static void
change_done(void *arg)
{
	struct change	*c = arg;

	if (c->rv == -1)
		ctl_later_answer(c->later, NULL, PROTO_E_INTERNAL, c->cause);
	else if (!c->add && !c->changed)
		ctl_later_answer(c->later, NULL, PROTO_E_NOT_FOUND,
		    "no such list entry");
	else {
		ctl_later_answer(c->later, json_pack("{s:s, s:s, s:s, s:b}",
		    "owner", *c->owner != '\0' ? c->owner : "*", "list",
		    c->block ? "block" : "welcome", "pattern", c->pattern,
		    c->add ? "added" : "deleted", c->changed), NULL, NULL);
	}
	free(c->owner);
	free(c->pattern);
	free(c->comment);
	free(c->cause);
	free(c);
}

static json_t *
change_start(struct ctl_req *req, bool add)
{
	const char	*owner, *pattern, *comment;
	struct change	*c;
	char		*why = NULL;
	json_t		*err;
	int		 kind;

	if ((kind = list_kind(ctl_arg_str(req->args, "list"))) == -1)
		return ctl_bad_arg(req, "list", "list must be welcome or "
		    "block");
	if ((owner = list_owner(ctl_arg_str(req->args, "owner"))) == NULL)
		return ctl_bad_arg(req, "owner", "owner must be an address or "
		    "* (global)");
	pattern = ctl_arg_str(req->args, "pattern");
	if (policy_list_pattern_check(pattern, &why) == -1) {
		err = ctl_bad_arg(req, "pattern", "%s", why);
		free(why);
		return err;
	}
	comment = ctl_arg_str(req->args, "comment");
	if (comment != NULL && strlen(comment) > POLICY_PATTERN_MAX)
		return ctl_bad_arg(req, "comment", "comment is too long");
	if (quar_pool() == NULL)
		return ctl_error(req, PROTO_E_UNAVAILABLE, "the lists cannot "
		    "be changed now");
	c = xcalloc(1, sizeof *c);
	c->add = add;
	c->owner = xstrdup(owner);
	c->block = kind == 1;
	c->pattern = xstrdup(pattern);
	c->comment = comment != NULL ? xstrdup(comment) : NULL;
	c->later = ctl_later(req);
	pool_submit(quar_pool(), change_work, change_done, c);
	return NULL;
}

static json_t *
lists_add_exec(struct ctl_req *req)
{
	return change_start(req, true);
}

static json_t *
lists_del_exec(struct ctl_req *req)
{
	return change_start(req, false);
}

const struct ctl_cmd ctl_cmd_lists_add = {
	.name = PROTO_CMD_LISTS_ADD,
	.role = PROTO_ROLE_QMANAGER,
	.args = lists_add_args,
	.exec = lists_add_exec,
};

const struct ctl_cmd ctl_cmd_lists_del = {
	.name = PROTO_CMD_LISTS_DEL,
	.role = PROTO_ROLE_QMANAGER,
	.args = lists_del_args,
	.exec = lists_del_exec,
};

const struct ctl_cmd ctl_cmd_lists_list = {
	.name = PROTO_CMD_LISTS_LIST,
	.role = PROTO_ROLE_AUDITOR,
	.args = lists_list_args,
	.exec = lists_list_exec,
};
