/*
 * rules.list, rules.get, rules.toggle, rules.set_priority, rules.reload,
 * objects.list, objects.get, objects.set: the rule system over the control
 * protocol. Reads use the running policy on the loop thread; changes are
 * written to the rule files and loaded on the "rules" pool, then the new
 * policy is swapped in on the loop thread (messages in flight keep theirs).
 */
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "ctl.h"
#include "log.h"
#include "policy.h"
#include "pool.h"
#include "xmalloc.h"

#define CTL_RULES_SHOW_MAX	64	/* client text in messages */
#define CTL_OBJECTS_JSON_MAX	(60 * 1024)

static const struct proto_arg rules_none_args[] = {
	{ .key = NULL },
};

static const struct proto_arg rules_get_args[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static const struct proto_arg rules_toggle_args[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true },
	{ .key = "active", .type = PROTO_T_BOOLEAN },
	{ .key = NULL },
};

static const struct proto_arg rules_set_priority_args[] = {
	{ .key = "name", .type = PROTO_T_STRING, .required = true },
	{ .key = "priority", .type = PROTO_T_INTEGER, .required = true },
	{ .key = NULL },
};

static const struct proto_arg objects_list_args[] = {
	{ .key = "category", .type = PROTO_T_STRING },
	{ .key = NULL },
};

static const struct proto_arg objects_get_args[] = {
	{ .key = "category", .type = PROTO_T_STRING, .required = true },
	{ .key = "name", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static const struct proto_arg objects_set_args[] = {
	{ .key = "category", .type = PROTO_T_STRING, .required = true },
	{ .key = "name", .type = PROTO_T_STRING, .required = true },
	{ .key = "objects", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static json_t *
no_policy(struct ctl_req *req)
{
	return ctl_error(req, PROTO_E_UNAVAILABLE, "no policy is loaded");
}

static json_t *
rules_list_exec(struct ctl_req *req)
{
	const struct policy	*p = policy_current();
	json_t			*rules, *files;
	size_t			 i;

	if (p == NULL)
		return no_policy(req);
	rules = json_array();
	for (i = 0; i < p->nrules; i++)
		json_array_append_new(rules,
		    policy_rule_to_json(p->rules[i], false));
	files = json_array();
	for (i = 0; i < p->nfiles; i++)
		json_array_append_new(files, json_string(p->files[i].name));
	return ctl_ok(req, json_pack("{s:o, s:o, s:s}", "rules", rules,
	    "files", files, "dir", p->dir));
}

static json_t *
rules_get_exec(struct ctl_req *req)
{
	const struct policy		*p = policy_current();
	const struct policy_rule	*r;
	const char			*name = ctl_arg_str(req->args, "name");

	if (p == NULL)
		return no_policy(req);
	if ((r = policy_rule_find(p, name)) == NULL)
		return ctl_error(req, PROTO_E_NOT_FOUND, "no rule %.*s",
		    CTL_RULES_SHOW_MAX, name);
	return ctl_ok(req, policy_rule_to_json(r, true));
}

/* --- changes on the rules pool ------------------------------------------- */

struct edit {
	struct ctl_later	*later;
	struct cfg		*cfg;
	struct policy_edit	 ed;
	char			*name;
	json_t			*objects;
	bool			 reload;	/* rules.reload */
	struct policy		*result;
	const char		*code;
	char			*cause;
};

static void
edit_work(void *arg)
{
	struct edit	*e = arg;

	if (e->reload) {
		if ((e->result = policy_load(e->cfg, &e->cause)) == NULL)
			e->code = PROTO_E_CONFIG;
		return;
	}
	e->result = policy_edit(e->cfg, &e->ed, &e->code, &e->cause);
}

static void
edit_done(void *arg)
{
	struct edit			*e = arg;
	const struct policy_rule	*r;
	const struct policy_objgroup	*g;
	json_t				*res;

	if (e->result == NULL) {
		log_warnx("policy: change refused: %s", e->cause);
		ctl_later_answer(e->later, NULL, e->code != NULL ? e->code :
		    PROTO_E_INTERNAL, e->cause);
		goto out;
	}
	if (e->reload)
		res = json_pack("{s:i, s:i, s:i}", "rules",
		    (int)e->result->nrules, "groups", (int)e->result->ngroups,
		    "files", (int)e->result->nfiles);
	else if (e->ed.op == POLICY_EDIT_OBJECTS) {
		g = policy_group_find(e->result, e->ed.cat, e->name);
		res = g != NULL ? policy_group_to_json(g) : json_object();
	} else {
		r = policy_rule_find(e->result, e->name);
		res = r != NULL ? policy_rule_to_json(r, false) : json_object();
	}
	log_info("policy: %s; %zu rules active now", e->reload ? "reloaded" :
	    "changed", e->result->nrules);
	policy_set_current(e->result);
	ctl_later_answer(e->later, res, NULL, NULL);
out:
	free(e->cause);
	free(e->name);
	json_decref(e->objects);
	cfg_unref(e->cfg);
	free(e);
}

static json_t *
edit_start(struct ctl_req *req, struct edit *e)
{
	if (policy_pool() == NULL) {
		free(e->name);
		json_decref(e->objects);
		free(e);
		return ctl_error(req, PROTO_E_UNAVAILABLE, "rule changes are "
		    "not possible now");
	}
	e->cfg = cfg_ref(cfg_current());
	e->ed.name = e->name;
	e->ed.objects = e->objects;
	e->later = ctl_later(req);
	pool_submit(policy_pool(), edit_work, edit_done, e);
	return NULL;
}

static json_t *
rules_toggle_exec(struct ctl_req *req)
{
	const struct policy		*p = policy_current();
	const struct policy_rule	*r;
	const char			*name = ctl_arg_str(req->args, "name");
	json_t				*v;
	struct edit			*e;

	if (p == NULL)
		return no_policy(req);
	if ((r = policy_rule_find(p, name)) == NULL)
		return ctl_error(req, PROTO_E_NOT_FOUND, "no rule %.*s",
		    CTL_RULES_SHOW_MAX, name);
	e = xcalloc(1, sizeof *e);
	e->name = xstrdup(name);
	e->ed.op = POLICY_EDIT_ACTIVE;
	v = json_object_get(req->args, "active");
	/* Without "active" the rule flips. */
	e->ed.active = v != NULL && !json_is_null(v) ? json_is_true(v) :
	    !r->active;
	return edit_start(req, e);
}

static json_t *
rules_set_priority_exec(struct ctl_req *req)
{
	const char	*name = ctl_arg_str(req->args, "name");
	int64_t		 prio = ctl_arg_int(req->args, "priority", -1);
	struct edit	*e;

	if (prio < 0 || prio > 100)
		return ctl_bad_arg(req, "priority", "priority must be 0 to "
		    "100");
	if (policy_current() == NULL)
		return no_policy(req);
	if (policy_rule_find(policy_current(), name) == NULL)
		return ctl_error(req, PROTO_E_NOT_FOUND, "no rule %.*s",
		    CTL_RULES_SHOW_MAX, name);
	e = xcalloc(1, sizeof *e);
	e->name = xstrdup(name);
	e->ed.op = POLICY_EDIT_PRIORITY;
	e->ed.priority = (int)prio;
	return edit_start(req, e);
}

static json_t *
rules_reload_exec(struct ctl_req *req)
{
	struct edit	*e;

	e = xcalloc(1, sizeof *e);
	e->reload = true;
	return edit_start(req, e);
}

/* --- objects ------------------------------------------------------------ */

/* "action" names the action objects beside the three group categories. */
static json_t *
parse_cat(struct ctl_req *req, const char *s, int *cat)
{
	enum policy_cat	c;

	if (strcmp(s, "action") == 0 || strcmp(s, "actions") == 0) {
		*cat = -1;
		return NULL;
	}
	if (policy_cat_parse(s, &c) == -1)
		return ctl_bad_arg(req, "category", "category must be who, "
		    "what, when or action");
	*cat = (int)c;
	return NULL;
}

static json_t *
objects_list_exec(struct ctl_req *req)
{
	const struct policy	*p = policy_current();
	const char		*s = ctl_arg_str(req->args, "category");
	json_t			*err, *groups, *actions;
	size_t			 i;
	int			 cat = -2;	/* -2: everything */

	if (p == NULL)
		return no_policy(req);
	if (s != NULL && (err = parse_cat(req, s, &cat)) != NULL)
		return err;
	groups = json_array();
	for (i = 0; i < p->ngroups; i++)
		if (cat == -2 || (int)p->groups[i]->cat == cat)
			json_array_append_new(groups,
			    policy_group_to_json(p->groups[i]));
	actions = json_array();
	for (i = 0; i < p->nactions && (cat == -2 || cat == -1); i++)
		json_array_append_new(actions,
		    policy_action_to_json(p->actions[i]));
	return ctl_ok(req, json_pack("{s:o, s:o}", "groups", groups,
	    "actions", actions));
}

static json_t *
objects_get_exec(struct ctl_req *req)
{
	const struct policy		*p = policy_current();
	const struct policy_objgroup	*g;
	const char			*name = ctl_arg_str(req->args, "name");
	json_t				*err;
	size_t				 i;
	int				 cat;

	if (p == NULL)
		return no_policy(req);
	if ((err = parse_cat(req, ctl_arg_str(req->args, "category"),
	    &cat)) != NULL)
		return err;
	if (cat == -1) {
		for (i = 0; i < p->nactions; i++)
			if (strcmp(p->actions[i]->name, name) == 0)
				return ctl_ok(req,
				    policy_action_to_json(p->actions[i]));
		return ctl_error(req, PROTO_E_NOT_FOUND, "no action %.*s",
		    CTL_RULES_SHOW_MAX, name);
	}
	if ((g = policy_group_find(p, (enum policy_cat)cat, name)) == NULL)
		return ctl_error(req, PROTO_E_NOT_FOUND, "no %s group %.*s",
		    policy_cat_name((enum policy_cat)cat), CTL_RULES_SHOW_MAX,
		    name);
	return ctl_ok(req, policy_group_to_json(g));
}

static json_t *
objects_set_exec(struct ctl_req *req)
{
	const char	*name = ctl_arg_str(req->args, "name");
	const char	*text = ctl_arg_str(req->args, "objects");
	json_error_t	 jerr;
	json_t		*err, *objs;
	struct edit	*e;
	int		 cat;

	if ((err = parse_cat(req, ctl_arg_str(req->args, "category"),
	    &cat)) != NULL)
		return err;
	if (cat == -1)
		return ctl_bad_arg(req, "category", "actions are edited in "
		    "their rule file");
	if (strlen(text) > CTL_OBJECTS_JSON_MAX)
		return ctl_bad_arg(req, "objects", "objects is too long");
	if ((objs = json_loads(text, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_array(objs)) {
		json_decref(objs);
		return ctl_bad_arg(req, "objects", "objects must be a JSON "
		    "array like [{\"email\":\"a@example.com\"}]");
	}
	e = xcalloc(1, sizeof *e);
	e->name = xstrdup(name);
	e->objects = objs;
	e->ed.op = POLICY_EDIT_OBJECTS;
	e->ed.cat = (enum policy_cat)cat;
	return edit_start(req, e);
}

const struct ctl_cmd ctl_cmd_objects_get = {
	.name = PROTO_CMD_OBJECTS_GET,
	.role = PROTO_ROLE_AUDITOR,
	.args = objects_get_args,
	.exec = objects_get_exec,
};

const struct ctl_cmd ctl_cmd_objects_list = {
	.name = PROTO_CMD_OBJECTS_LIST,
	.role = PROTO_ROLE_AUDITOR,
	.args = objects_list_args,
	.exec = objects_list_exec,
};

const struct ctl_cmd ctl_cmd_objects_set = {
	.name = PROTO_CMD_OBJECTS_SET,
	.role = PROTO_ROLE_ADMIN,
	.args = objects_set_args,
	.exec = objects_set_exec,
};

const struct ctl_cmd ctl_cmd_rules_get = {
	.name = PROTO_CMD_RULES_GET,
	.role = PROTO_ROLE_AUDITOR,
	.args = rules_get_args,
	.exec = rules_get_exec,
};

const struct ctl_cmd ctl_cmd_rules_list = {
	.name = PROTO_CMD_RULES_LIST,
	.role = PROTO_ROLE_AUDITOR,
	.args = rules_none_args,
	.exec = rules_list_exec,
};

const struct ctl_cmd ctl_cmd_rules_reload = {
	.name = PROTO_CMD_RULES_RELOAD,
	.role = PROTO_ROLE_ADMIN,
	.args = rules_none_args,
	.exec = rules_reload_exec,
};

const struct ctl_cmd ctl_cmd_rules_set_priority = {
	.name = PROTO_CMD_RULES_SET_PRIORITY,
	.role = PROTO_ROLE_ADMIN,
	.args = rules_set_priority_args,
	.exec = rules_set_priority_exec,
};

const struct ctl_cmd ctl_cmd_rules_toggle = {
	.name = PROTO_CMD_RULES_TOGGLE,
	.role = PROTO_ROLE_ADMIN,
	.args = rules_toggle_args,
	.exec = rules_toggle_exec,
};
