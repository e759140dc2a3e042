/*
 * Rules: the policy rules by priority (rules.list) with on/off, direction
 * and object groups; Space toggles, +/- and P change the priority, Enter
 * shows a rule with its objects (rules.get), R reloads the rule files
 * (rules.reload). A change shows as pending until moatd answers, and the
 * list then shows what moatd says, never what we hoped.
 * Console thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"
#include "ui_text.h"
#include "util.h"
#include "xmalloc.h"

#define R_CMD_LIST	"rules.list"
#define R_CMD_GET	"rules.get"
#define R_CMD_TOGGLE	"rules.toggle"
#define R_CMD_PRIORITY	"rules.set_priority"
#define R_CMD_RELOAD	"rules.reload"

#define R_PAGE		500
#define R_REFRESH_MS	10000

static const struct ui_keyhelp r_keys[] = {
	{ "Space", "on/off", R_CMD_TOGGLE, true },
	{ "+/-", "priority", R_CMD_PRIORITY, true },
	{ "P", "set priority", R_CMD_PRIORITY, false },
	{ "Enter", "objects", R_CMD_GET, true },
	{ "R", "reload", R_CMD_RELOAD, true },
	{ "r", "refresh", NULL, false },
	{ NULL, NULL, NULL, false },
};

static struct {
	struct ui_list		 list;
	int			 rows;
	uint64_t		 next_refresh;
	/* one change at a time, shown on its row until answered */
	int64_t			 change_req;
	char			 change_name[128];
	char			 change_what[128];
	/* the open rule */
	struct model_pager	 detail;
	int64_t			 detail_req;
	int64_t			 reload_req;
} r;

static void
r_init(void)
{
	ui_list_init(&r.list, R_CMD_LIST, "name", R_PAGE);
	r.list.items_key = "rules";	/* {"rules":[...], "files", "dir"} */
	model_pager_init(&r.detail);
	r.rows = 10;
}

static void
r_free(void)
{
	ui_list_free(&r.list);
	model_pager_clear(&r.detail);
}

/* --- fields ------------------------------------------------------------- */

static const char *
r_name(const json_t *it)
{
	static const char *const k[] = { "name", "id", NULL };

	return model_str_any(it, k);
}

/* On, off, or -1 when the answer does not say. */
static int
r_active(const json_t *it)
{
	json_t	*v = json_object_get(it, "active");

	if (v == NULL)
		v = json_object_get(it, "enabled");
	if (!json_is_boolean(v))
		return -1;
	return json_is_true(v);
}

/* "in", "out", "both" from "direction" (string or array) or "dirs". */
static void
r_direction(const json_t *it, char *out, size_t len)
{
	json_t	*v = json_object_get(it, "direction");
	json_t	*e;
	size_t	 i, o = 0;

	if (v == NULL)
		v = json_object_get(it, "directions");
	if (v == NULL)
		v = json_object_get(it, "dirs");
	out[0] = '\0';
	if (json_is_string(v)) {
		snprintf(out, len, "%s", json_string_value(v));
		return;
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			continue;
		o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s",
		    o > 0 ? "," : "", json_string_value(e));
		if (o >= len)
			break;
	}
}

/* Names of a rule's object groups or actions: strings, or objects with a
 * name (and "invert"). */
static void
r_names(const json_t *it, const char *key, char *out, size_t len)
{
	json_t		*v = json_object_get(it, key), *e;
	const char	*n;
	size_t		 i, o = 0;

	out[0] = '\0';
	if (json_is_string(v)) {
		snprintf(out, len, "%s", json_string_value(v));
		return;
	}
	json_array_foreach(v, i, e) {
		n = json_is_string(e) ? json_string_value(e) : r_name(e);
		if (*n == '\0')
			n = model_str(e, "group");
		o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s%s",
		    o > 0 ? " " : "", json_is_true(json_object_get(e,
		    "invert")) ? "!" : "", n);
		if (o >= len)
			break;
	}
}

/* --- the list ----------------------------------------------------------- */

static void
r_query(void)
{
	/* rules.list takes no arguments: the whole list at once. */
	ui_list_query(&r.list, NULL);

	r.next_refresh = util_mono_ms() + R_REFRESH_MS;
}

static void
r_enter(void)
{
	if (!r.list.list.loaded || r.list.unknown)
		r_query();
	else
		ui_list_refresh(&r.list);
}

static void
r_connected(void)
{
	r.change_req = r.detail_req = r.reload_req = 0;
	if (ui_current() == &ui_view_rules)
		r_query();
	else
		model_list_reset(&r.list.list);
}

static void
r_disconnected(void)
{
	if (r.change_req != 0)
		ui_message(UI_S_ERROR, "connection lost: the change of rule %s "
		    "was not confirmed", r.change_name);
	r.change_req = r.detail_req = r.reload_req = 0;
}

static void
change_done(void *arg, json_t *result, const char *code, const char *msg)
{
	json_t	*st;
	int	 on;

	(void)arg;
	r.change_req = 0;
	ui_answered(r.change_what, code);
	if (code != NULL) {
		if (strcmp(code, ACLIENT_E_CLOSED) != 0)
			ui_error(r.change_what, code, msg);
	} else {
		/* Say what moatd says the rule now is. */
		st = json_is_object(json_object_get(result, "rule")) ?
		    json_object_get(result, "rule") : result;
		on = r_active(st);
		if (on >= 0 && json_object_get(st, "priority") != NULL)
			ui_message(UI_S_GOOD, "rule %s is %s, priority %lld "
			    "(confirmed by moatd)", r.change_name, on ? "on" :
			    "off", (long long)model_int(st, "priority", 0));
		else if (on >= 0)
			ui_message(UI_S_GOOD, "rule %s is %s (confirmed by "
			    "moatd)", r.change_name, on ? "on" : "off");
		else
			ui_message(UI_S_GOOD, "%s %s: done (confirmed by moatd)",
			    r.change_what, r.change_name);
	}
	ui_list_refresh(&r.list);
}

static void
change_send(const char *cmd, json_t *args, const char *name)
{
	char	why[256];

	if (r.change_req != 0) {
		ui_message(UI_S_WARN, "waiting for moatd to confirm the change "
		    "of rule %s", r.change_name);
		json_decref(args);
		return;
	}
	if (!ui_may(cmd, why, sizeof why)) {
		ui_message(UI_S_WARN, "%s", why);
		json_decref(args);
		return;
	}
	snprintf(r.change_name, sizeof r.change_name, "%s", name);
	snprintf(r.change_what, sizeof r.change_what, "%s", cmd);
	r.change_req = ui_call(cmd, args, change_done, NULL);
	json_decref(args);
	if (r.change_req < 0)
		r.change_req = 0;
}

/* Which key a command's schema uses for a value: the first of the
 * candidates it names, else the first. */
static const char *
schema_key(const char *cmd, const char *const *cands)
{
	const struct proto_cmd	*pc = proto_cmd_find(cmd);
	const char *const	*c;

	if (pc != NULL) {
		for (c = cands; *c != NULL; c++) {
			if (proto_arg_find(pc->args, *c) != NULL)
				return *c;
		}
	}
	return cands[0];
}

static void
toggle(json_t *it)
{
	static const char *const name_keys[] = { "name", "rule", "id", NULL };
	static const char *const on_keys[] = { "active", "enabled", "on",
	    NULL };
	const struct proto_cmd	*pc = proto_cmd_find(R_CMD_TOGGLE);
	const char		*onkey = schema_key(R_CMD_TOGGLE, on_keys);
	json_t			*args;
	int			 on = r_active(it);

	args = json_object();
	json_object_set_new(args, schema_key(R_CMD_TOGGLE, name_keys),
	    json_string(r_name(it)));
	/* Say what we want when the schema takes it: a toggle twice in
	 * flight (or after someone else's) must not flip it back. */
	if (on >= 0 && (pc == NULL || proto_arg_find(pc->args, onkey) != NULL))
		json_object_set_new(args, onkey, json_boolean(!on));
	change_send(R_CMD_TOGGLE, args, r_name(it));
}

static void
set_priority(json_t *it, int64_t p)
{
	static const char *const name_keys[] = { "name", "rule", "id", NULL };
	json_t	*args;

	if (p < 0 || p > 100) {
		ui_message(UI_S_WARN, "a priority is 0 to 100");
		return;
	}
	args = json_object();
	json_object_set_new(args, schema_key(R_CMD_PRIORITY, name_keys),
	    json_string(r_name(it)));
	json_object_set_new(args, "priority", json_integer(p));
	change_send(R_CMD_PRIORITY, args, r_name(it));
}

static void
priority_done(void *arg, const char *text)
{
	json_t	*it;
	char	*end;
	long	 p;

	(void)arg;
	if (text == NULL || *text == '\0')
		return;
	p = strtol(text, &end, 10);
	if (*end != '\0') {
		ui_message(UI_S_WARN, "not a number: %s", text);
		return;
	}
	if ((it = model_list_selected(&r.list.list)) != NULL)
		set_priority(it, p);
}

/* --- the open rule ------------------------------------------------------ */

static void
detail_fill(json_t *rule, const char *note)
{
	static const char *const refs[] = { "from", "to", "what", "when",
	    NULL };
	json_t		*v, *g, *o;
	const char	*k;
	char		 buf[1024], title[256];
	size_t		 i, j, n;

	model_pager_clear(&r.detail);
	snprintf(title, sizeof title, "Rule %s", r_name(rule));
	model_pager_set_title(&r.detail, title);
	if (note != NULL)
		model_pager_add(&r.detail, UI_S_DIM, note);
	model_pager_kv(&r.detail, UI_S_NORMAL, 10, "Name", r_name(rule));
	model_pager_kv(&r.detail, r_active(rule) == 1 ? UI_S_GOOD : UI_S_DIM,
	    10, "State", r_active(rule) == 1 ? "on" : r_active(rule) == 0 ?
	    "off" : "-");
	snprintf(buf, sizeof buf, "%lld", (long long)model_int(rule,
	    "priority", 0));
	model_pager_kv(&r.detail, UI_S_NORMAL, 10, "Priority", buf);
	r_direction(rule, buf, sizeof buf);
	model_pager_kv(&r.detail, UI_S_NORMAL, 10, "Direction", buf);
	if (*model_str(rule, "comment") != '\0')
		model_pager_kv(&r.detail, UI_S_NORMAL, 10, "Comment",
		    model_str(rule, "comment"));
	if (*model_str(rule, "file") != '\0') {
		snprintf(buf, sizeof buf, "%s:%lld", model_str(rule, "file"),
		    (long long)model_int(rule, "line", 0));
		model_pager_kv(&r.detail, UI_S_DIM, 10, "File", buf);
	}
	for (i = 0; refs[i] != NULL; i++) {
		v = json_object_get(rule, refs[i]);
		if (json_array_size(v) == 0)
			continue;
		model_pager_add(&r.detail, UI_S_NORMAL, "");
		model_pager_addf(&r.detail, UI_S_TITLE, "%c%s", refs[i][0] -
		    32, refs[i] + 1);
		json_array_foreach(v, j, g) {
			if (json_is_string(g)) {
				model_pager_addf(&r.detail, UI_S_NORMAL, "  %s",
				    json_string_value(g));
				continue;
			}
			model_pager_addf(&r.detail, UI_S_BOLD, "  %s%s",
			    json_is_true(json_object_get(g, "invert")) ?
			    "not " : "", r_name(g));
			/* The group's objects, as moatd describes them. */
			json_array_foreach(json_object_get(g, "objects"), n, o) {
				if (json_is_string(o)) {
					model_pager_addf(&r.detail, UI_S_NORMAL,
					    "    %s", json_string_value(o));
					continue;
				}
				buf[0] = '\0';
				json_object_foreach(o, k, v) {
					size_t	l = strlen(buf);

					if (json_is_string(v))
						snprintf(buf + l, sizeof buf - l,
						    "%s%s=%s", l > 0 ? " " : "",
						    k, json_string_value(v));
					else if (json_is_number(v))
						snprintf(buf + l, sizeof buf - l,
						    "%s%s=%g", l > 0 ? " " : "",
						    k, json_number_value(v));
					else if (json_is_boolean(v))
						snprintf(buf + l, sizeof buf - l,
						    "%s%s%s", l > 0 ? " " : "",
						    json_is_true(v) ? "" : "not ",
						    k);
				}
				model_pager_addf(&r.detail, UI_S_NORMAL,
				    "    %s", buf);
			}
		}
	}
	if ((v = json_object_get(rule, "action")) == NULL)
		v = json_object_get(rule, "actions");
	if (json_array_size(v) > 0) {
		model_pager_add(&r.detail, UI_S_NORMAL, "");
		model_pager_add(&r.detail, UI_S_TITLE, "Actions");
		json_array_foreach(v, j, g) {
			if (json_is_string(g))
				model_pager_addf(&r.detail, UI_S_NORMAL, "  %s",
				    json_string_value(g));
			else
				model_pager_addf(&r.detail, UI_S_NORMAL,
				    "  %s (%s)", r_name(g), model_str(g,
				    "type"));
		}
	}
}

static void
detail_done(void *arg, json_t *result, const char *code, const char *msg)
{
	(void)arg;
	r.detail_req = 0;
	ui_answered(R_CMD_GET, code);
	ui_dirty();
	if (!ui_overlay_is(&r.detail))
		return;
	if (code != NULL) {
		char	text[256];

		if (strcmp(code, PROTO_E_UNKNOWN_COMMAND) == 0)
			ui_unavailable_text(R_CMD_GET, text, sizeof text);
		else
			snprintf(text, sizeof text, "%s: %s", R_CMD_GET, msg);
		model_pager_add(&r.detail, UI_S_ERROR, "");
		model_pager_add(&r.detail, UI_S_ERROR, text);
		return;
	}
	detail_fill(json_is_object(json_object_get(result, "rule")) ?
	    json_object_get(result, "rule") : result, NULL);
}

static void
detail_open(json_t *it)
{
	json_t	*args;

	detail_fill(it, "loading the rule's objects...");
	ui_overlay(&r.detail, NULL, NULL);
	if (!ui_may(R_CMD_GET, NULL, 0))
		return;
	ui_cancel(r.detail_req);
	args = json_pack("{s:s}", "name", r_name(it));
	r.detail_req = ui_call(R_CMD_GET, args, detail_done, NULL);
	json_decref(args);
	if (r.detail_req < 0)
		r.detail_req = 0;
}

static void
reload_done(void *arg, json_t *result, const char *code, const char *msg)
{
	(void)arg;
	r.reload_req = 0;
	ui_answered(R_CMD_RELOAD, code);
	if (code != NULL)
		ui_error(R_CMD_RELOAD, code, msg);
	else if (model_int(result, "rules", -1) >= 0)
		ui_message(UI_S_GOOD, "rules reloaded: %lld rules (confirmed by "
		    "moatd)", (long long)model_int(result, "rules", 0));
	else
		ui_message(UI_S_GOOD, "rules reloaded (confirmed by moatd)");
	ui_list_refresh(&r.list);
}

static void
reload(void *arg)
{
	(void)arg;
	r.reload_req = ui_call(R_CMD_RELOAD, NULL, reload_done, NULL);
	if (r.reload_req < 0)
		r.reload_req = 0;
}

static bool
r_key(int k)
{
	json_t	*it = model_list_selected(&r.list.list);
	char	 why[256], cur[32];

	switch (k) {
	case ' ':
		if (it != NULL)
			toggle(it);
		return true;
	case '+':
	case '=':
		if (it != NULL)
			set_priority(it, model_int(it, "priority", 0) + 1);
		return true;
	case '-':
		if (it != NULL)
			set_priority(it, model_int(it, "priority", 0) - 1);
		return true;
	case 'P':
		if (it == NULL)
			return true;
		if (!ui_may(R_CMD_PRIORITY, why, sizeof why)) {
			ui_message(UI_S_WARN, "%s", why);
			return true;
		}
		snprintf(cur, sizeof cur, "%lld", (long long)model_int(it,
		    "priority", 0));
		ui_prompt("priority (0-100): ", cur, NULL, priority_done, NULL);
		return true;
	case '\n':
	case '\r':
	case UI_FN(KEY_ENTER):
	case UI_FN(KEY_RIGHT):
	case 'l':
		if (it != NULL)
			detail_open(it);
		return true;
	case 'R':
		if (!ui_may(R_CMD_RELOAD, why, sizeof why)) {
			ui_message(UI_S_WARN, "%s", why);
			return true;
		}
		ui_confirm("Reload the rule files now? [y/N] ", reload, NULL);
		return true;
	case 'r':
	case UI_FN(KEY_F(5)):
		if (r.list.unknown || r.list.list.error != NULL)
			r_query();
		else
			ui_list_refresh(&r.list);
		return true;
	}
	return ui_list_key(&r.list, k, r.rows);
}

static void
r_tick(uint64_t now)
{
	ui_list_tick(&r.list);
	if (now >= r.next_refresh) {
		r.next_refresh = now + R_REFRESH_MS;
		if (ui_connected() && r.change_req == 0)
			ui_list_refresh(&r.list);
	}
}

/* --- drawing ------------------------------------------------------------ */

enum { C_ON, C_PRIO, C_NAME, C_DIR, C_FROM, C_TO, C_WHAT, C_WHEN, C_ACTION,
    C_N };

static void
r_draw(WINDOW *w, int y, int x, int h, int width)
{
	static const struct model_col cols[C_N] = {
		[C_ON] = { "ON", 3, 3, 0, 0, false, 0 },
		[C_PRIO] = { "PRIO", 4, 4, 0, 0, true, 0 },
		[C_NAME] = { "NAME", 16, 32, 3, 0, false, 0 },
		[C_DIR] = { "DIR", 6, 8, 0, 3, false, 0 },
		[C_FROM] = { "FROM", 6, 0, 2, 2, false, 0 },
		[C_TO] = { "TO", 6, 0, 2, 2, false, 0 },
		[C_WHAT] = { "WHAT", 8, 0, 2, 0, false, 0 },
		[C_WHEN] = { "WHEN", 6, 0, 1, 1, false, 0 },
		[C_ACTION] = { "ACTION", 10, 0, 2, 0, false, 0 },
	};
	struct model_col	 c[C_N];
	struct model_list	*l = &r.list.list;
	const char		*t[C_N];
	enum ui_style		 st[C_N];
	char			 title[512], pos[96], note[256], prio[16];
	char			 dir[64], from[256], to[256], what[256];
	char			 when[256], act[256];
	json_t			*it;
	size_t			 i, j;
	int			 row, on;
	bool			 pending;

	if (h < 3)
		return;
	ui_list_position(&r.list, pos, sizeof pos);
	snprintf(title, sizeof title, "Rules \xc2\xb7 by priority \xc2\xb7 %s%s%s",
	    pos, r.change_req != 0 ? " \xc2\xb7 waiting for moatd " : "",
	    r.change_req != 0 || ui_slow(l->req) ? ui_spinner() : "");
	ui_put(w, y, x, width, UI_S_TITLE, 0, title);
	if (r.list.unknown || ui_have(R_CMD_LIST) == UI_HAVE_NO) {
		ui_unavailable_text("rules", note, sizeof note);
		ui_draw_note(w, y + 1, x, h - 1, width, UI_S_DIM, note);
		return;
	}
	if (l->error != NULL && model_list_known(l) == 0) {
		snprintf(note, sizeof note, "%s: %s (r retries)", R_CMD_LIST,
		    l->error);
		ui_draw_note(w, y + 1, x, h - 1, width, UI_S_ERROR, note);
		return;
	}
	if (model_list_known(l) == 0) {
		ui_draw_note(w, y + 1, x, h - 1, width, UI_S_DIM, l->loaded ?
		    "no rules: every message is accepted" : ui_connected() ?
		    "loading..." : "not connected");
		return;
	}
	memcpy(c, cols, sizeof cols);
	model_cols_layout(c, C_N, width);
	ui_table_head(w, y + 1, x, width, c, C_N);
	r.rows = h - 2 > 1 ? h - 2 : 1;
	model_list_scroll(l, (size_t)r.rows);
	for (row = 0, i = l->top; row < r.rows; i++, row++) {
		if ((it = model_list_get(l, i)) == NULL)
			break;
		on = r_active(it);
		pending = r.change_req != 0 && strcmp(r_name(it),
		    r.change_name) == 0;
		snprintf(prio, sizeof prio, "%lld", (long long)model_int(it,
		    "priority", 0));
		r_direction(it, dir, sizeof dir);
		r_names(it, "from", from, sizeof from);
		r_names(it, "to", to, sizeof to);
		r_names(it, "what", what, sizeof what);
		r_names(it, "when", when, sizeof when);
		r_names(it, json_object_get(it, "action") != NULL ? "action" :
		    "actions", act, sizeof act);
		t[C_ON] = pending ? ".." : on == 1 ? "on" : on == 0 ? "off" :
		    "?";
		t[C_PRIO] = prio;
		t[C_NAME] = r_name(it);
		t[C_DIR] = dir;
		t[C_FROM] = from;
		t[C_TO] = to;
		t[C_WHAT] = what;
		t[C_WHEN] = when;
		t[C_ACTION] = act;
		for (j = 0; j < C_N; j++)
			st[j] = on == 0 ? UI_S_DIM : UI_S_NORMAL;
		st[C_ON] = pending ? UI_S_WARN : on == 1 ? UI_S_GOOD : UI_S_DIM;
		ui_table_row(w, y + 2 + row, x, width, i == l->sel ? UI_S_SEL :
		    UI_S_NORMAL, c, C_N, t, st);
	}
}

const struct ui_view ui_view_rules = {
	.name = "Rules",
	.short_name = "Rules",
	.keys = r_keys,
	.init = r_init,
	.free = r_free,
	.enter = r_enter,
	.connected = r_connected,
	.disconnected = r_disconnected,
	.draw = r_draw,
	.key = r_key,
	.tick = r_tick,
};
