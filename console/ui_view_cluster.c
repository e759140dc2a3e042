/*
 * Cluster: every node with its role, state, last contact, configuration
 * revision, version and load (cluster.status). A single node, or a moatd
 * without cluster.*, shows itself from status.
 * Console thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"
#include "ui_text.h"
#include "util.h"
#include "xmalloc.h"

#define CL_CMD_STATUS	"cluster.status"
#define CL_REFRESH_MS	5000

static const struct ui_keyhelp cl_keys[] = {
	{ "r", "refresh", NULL, true },
	{ NULL, NULL, NULL, false },
};

static struct {
	json_t		*nodes;		/* cluster.status items */
	json_t		*answer;	/* the whole answer */
	int64_t		 req;
	char		*err;
	uint64_t	 next;
	size_t		 sel;
	size_t		 top;
	int		 rows;
} cl;

static void
cl_free(void)
{
	json_decref(cl.nodes);
	json_decref(cl.answer);
	free(cl.err);
}

static void
cl_done(void *arg, json_t *result, const char *code, const char *msg)
{
	json_t	*nodes;

	(void)arg;
	cl.req = 0;
	ui_answered(CL_CMD_STATUS, code);
	ui_dirty();
	free(cl.err);
	cl.err = NULL;
	if (code != NULL) {
		if (strcmp(code, PROTO_E_UNKNOWN_COMMAND) != 0 &&
		    strcmp(code, ACLIENT_E_CLOSED) != 0)
			cl.err = xstrdup(msg);
		return;
	}
	nodes = json_is_array(result) ? result : json_object_get(result,
	    "nodes");
	if (nodes == NULL)
		nodes = json_object_get(result, "items");
	json_decref(cl.nodes);
	cl.nodes = json_is_array(nodes) ? json_incref(nodes) : NULL;
	json_decref(cl.answer);
	cl.answer = json_incref(result);
}

static void
cl_refresh(void)
{
	cl.next = util_mono_ms() + CL_REFRESH_MS;
	if (cl.req != 0 || !ui_connected() ||
	    ui_have(CL_CMD_STATUS) == UI_HAVE_NO)
		return;
	cl.req = ui_call(CL_CMD_STATUS, NULL, cl_done, NULL);
	if (cl.req < 0)
		cl.req = 0;
}

static void
cl_connected(void)
{
	cl.req = 0;
	if (ui_current() == &ui_view_cluster)
		cl_refresh();
}

static void
cl_disconnected(void)
{
	cl.req = 0;
}

static void
cl_tick(uint64_t now)
{
	if (now >= cl.next)
		cl_refresh();
}

static bool
cl_key(int k)
{
	long	delta;
	bool	home, end;
	size_t	n = json_array_size(cl.nodes);
	long	s;

	if (k == 'r' || k == UI_FN(KEY_F(5))) {
		cl_refresh();
		return true;
	}
	if (!ui_move_key(k, cl.rows, &delta, &home, &end))
		return false;
	s = home ? 0 : end ? (long)n - 1 : (long)cl.sel + delta;
	if (s >= (long)n)
		s = (long)n - 1;
	cl.sel = s < 0 ? 0 : (size_t)s;
	return true;
}

enum { C_NODE, C_ROLE, C_STATE, C_CONTACT, C_REV, C_VERSION, C_LOAD, C_N };

static void
node_row(WINDOW *w, int y, int x, int width, struct model_col *c,
    json_t *n, bool sel)
{
	static const char *const contact_keys[] = { "last_contact_ms",
	    "heartbeat_ms", "last_seen_ms", NULL };
	const char	*t[C_N];
	enum ui_style	 sty[C_N];
	char		 contact[32], rev[32], load[32];
	const char *const *k;
	int64_t		 ms = 0;
	double		 d;
	size_t		 i;

	for (k = contact_keys; *k != NULL && ms <= 0; k++)
		ms = model_int(n, *k, 0);
	if (ms > 0) {
		int64_t	ago = (ui_now_ms() - ms) / 1000;

		if (ago < 0)
			ago = 0;
		ui_text_duration(ago, contact, sizeof contact);
		snprintf(contact + strlen(contact), sizeof contact -
		    strlen(contact), " ago");
	} else
		snprintf(contact, sizeof contact, "-");
	if (json_is_integer(json_object_get(n, "config_revision")))
		snprintf(rev, sizeof rev, "%lld", (long long)model_int(n,
		    "config_revision", 0));
	else if (json_is_integer(json_object_get(n, "revision")))
		snprintf(rev, sizeof rev, "%lld", (long long)model_int(n,
		    "revision", 0));
	else
		snprintf(rev, sizeof rev, "%s", *model_str(n, "revision") !=
		    '\0' ? model_str(n, "revision") : "-");
	if (model_num(n, "load", &d))
		snprintf(load, sizeof load, "%.2f", d);
	else
		snprintf(load, sizeof load, "%s", *model_str(n, "load") !=
		    '\0' ? model_str(n, "load") : "-");
	t[C_NODE] = *model_str(n, "name") != '\0' ? model_str(n, "name") :
	    model_str(n, "node");
	t[C_ROLE] = model_str(n, "role");
	t[C_STATE] = model_str(n, "state");
	t[C_CONTACT] = contact;
	t[C_REV] = rev;
	t[C_VERSION] = model_str(n, "version");
	t[C_LOAD] = load;
	for (i = 0; i < C_N; i++)
		sty[i] = UI_S_NORMAL;
	sty[C_STATE] = strcmp(t[C_STATE], "up") == 0 || strcmp(t[C_STATE],
	    "ok") == 0 || strcmp(t[C_STATE], "online") == 0 ? UI_S_GOOD :
	    UI_S_BAD;
	ui_table_row(w, y, x, width, sel ? UI_S_SEL : UI_S_NORMAL, c, C_N, t,
	    sty);
}

static void
cl_draw(WINDOW *w, int y, int x, int h, int width)
{
	static const struct model_col cols[C_N] = {
		[C_NODE] = { "NODE", 8, 0, 2, 0, false, 0 },
		[C_ROLE] = { "ROLE", 8, 12, 1, 0, false, 0 },
		[C_STATE] = { "STATE", 7, 12, 0, 0, false, 0 },
		[C_CONTACT] = { "LAST CONTACT", 12, 16, 0, 0, false, 0 },
		[C_REV] = { "CONFIG REV", 10, 12, 0, 2, true, 0 },
		[C_VERSION] = { "VERSION", 8, 12, 0, 1, false, 0 },
		[C_LOAD] = { "LOAD", 15, 24, 1, 0, true, 0 },

	};
	struct model_col	 c[C_N];
	json_t			*st = ui_status(), *self;
	char			 title[512], load[64], note[256];
	size_t			 i, n;
	int			 row;

	if (h < 3)
		return;
	memcpy(c, cols, sizeof cols);
	model_cols_layout(c, C_N, width);
	if (cl.nodes != NULL) {
		n = json_array_size(cl.nodes);
		snprintf(title, sizeof title, "Cluster \xc2\xb7 %zu node%s%s%s",
		    n, n == 1 ? "" : "s", *model_str(cl.answer, "backend") !=
		    '\0' ? " \xc2\xb7 " : "", model_str(cl.answer, "backend"));
		ui_put(w, y, x, width, UI_S_TITLE, 0, title);
		ui_table_head(w, y + 1, x, width, c, C_N);
		cl.rows = h - 2 > 1 ? h - 2 : 1;
		if (cl.sel >= n)
			cl.sel = n > 0 ? n - 1 : 0;
		if (cl.sel < cl.top)
			cl.top = cl.sel;
		if (cl.sel >= cl.top + (size_t)cl.rows)
			cl.top = cl.sel - (size_t)cl.rows + 1;
		for (row = 0, i = cl.top; i < n && row < cl.rows; i++, row++)
			node_row(w, y + 2 + row, x, width, c,
			    json_array_get(cl.nodes, i), i == cl.sel);
		return;
	}
	/* One node: this one, from status. */
	ui_put(w, y, x, width, UI_S_TITLE, UI_FIT_RAW,
	    "Cluster \xc2\xb7 a single node");
	ui_table_head(w, y + 1, x, width, c, C_N);
	if (st == NULL) {
		ui_draw_note(w, y + 2, x, h - 2, width, UI_S_DIM,
		    ui_connected() ? "loading..." : "not connected");
		return;
	}
	snprintf(load, sizeof load, "%lld sess, %lld busy",
	    (long long)model_int(st, "sessions", 0),
	    (long long)model_int(st, "inflight", 0));
	self = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s}",
	    "name", model_str(st, "node"), "role", "standalone",
	    "state", ui_connected() ? "up" : "unknown",
	    "last_contact_ms", (json_int_t)(ui_now_ms() - (int64_t)
	    (util_mono_ms() - ui_status_mono())),
	    "revision", "-", "version", model_str(st, "version"),
	    "load", load);
	node_row(w, y + 2, x, width, c, self, true);
	json_decref(self);
	if (cl.err != NULL)
		snprintf(note, sizeof note, "%s: %s", CL_CMD_STATUS, cl.err);
	else if (ui_have(CL_CMD_STATUS) == UI_HAVE_NO)
		ui_unavailable_text("cluster", note, sizeof note);
	else
		snprintf(note, sizeof note, "%s", "");
	ui_put(w, y + 4, x + 1, width - 2, UI_S_DIM, 0, note);
}

const struct ui_view ui_view_cluster = {
	.name = "Cluster",
	.short_name = "Clus",
	.keys = cl_keys,
	.free = cl_free,
	.enter = cl_refresh,
	.connected = cl_connected,
	.disconnected = cl_disconnected,
	.draw = cl_draw,
	.key = cl_key,
	.tick = cl_tick,
};
