/*
 * The console's screen and loop: poll over the terminal and the control
 * connection, keys to the prompt, the overlay or the current view, one
 * redraw per loop turn; the session (status, role, which command groups
 * this moatd has) and the live tracking subscription every view shares.
 * Console thread.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <panel.h>

#include "ui.h"
#include "ui_text.h"
#include "util.h"
#include "xmalloc.h"

#define UI_HISTORY_MAX	16
#define UI_HAVE_MAX	64
#define UI_NAME_MAX	48

static const struct ui_view *const views[] = {
	&ui_view_dashboard,
	&ui_view_quarantine,
	&ui_view_tracking,
	&ui_view_rules,
	&ui_view_stats,
	&ui_view_cluster,
};
#define NVIEWS	(sizeof views / sizeof views[0])

struct ui_have_entry {
	char		name[UI_NAME_MAX];	/* "quarantine" or a command */
	enum ui_have	have;
};

static struct {
	struct conn		*conn;
	bool			 colour;
	size_t			 cur;
	size_t			 hist[UI_HISTORY_MAX];
	size_t			 nhist;
	bool			 dirty;
	bool			 quit;
	/* session */
	json_t			*status;
	uint64_t		 status_mono;
	uint64_t		 status_next;
	int64_t			 status_req;
	enum proto_role		 role;
	bool			 role_known;
	char			*refused;	/* status forbidden: why */
	struct ui_have_entry	 have[UI_HAVE_MAX];
	size_t			 nhave;
	int64_t			 sub_req;
	/* message line */
	char			 msg[512];
	enum ui_style		 msg_style;
	uint64_t		 msg_until;
	/* prompt */
	bool			 prompting;
	char			 plabel[128];
	struct model_line	 line;
	ui_prompt_fn		 pchanged;
	ui_prompt_fn		 pdone;
	void			*parg;
	/* confirmation */
	bool			 confirming;
	char			 question[256];
	ui_confirm_fn		 cyes;
	void			*carg;
	/* overlay */
	struct model_pager	*ov;
	bool			(*ov_key)(int);
	const struct ui_keyhelp	*ov_hints;
	WINDOW			*ov_win;
	PANEL			*ov_panel;
	int			 ov_h;
	int			 ov_w;
	int			 ov_rows;	/* its text rows, last drawn */
	int			 ov_cols;
	/* drawing */
	attr_t			 attrs[UI_S_COUNT];
	uint64_t		 last_second;
} ui;

static volatile sig_atomic_t	ui_signalled;

/* --- session ------------------------------------------------------------ */

static struct ui_have_entry *
have_find(const char *name, bool add)
{
	size_t	i;

	for (i = 0; i < ui.nhave; i++) {
		if (strcmp(ui.have[i].name, name) == 0)
			return &ui.have[i];
	}
	if (!add || ui.nhave == UI_HAVE_MAX || strlen(name) >= UI_NAME_MAX)
		return NULL;
	snprintf(ui.have[ui.nhave].name, UI_NAME_MAX, "%s", name);
	ui.have[ui.nhave].have = UI_HAVE_UNKNOWN;
	return &ui.have[ui.nhave++];
}

enum ui_have
ui_have(const char *name)
{
	struct ui_have_entry	*e = have_find(name, false);

	return e != NULL ? e->have : UI_HAVE_UNKNOWN;
}

bool
ui_answered(const char *cmd, const char *code)
{
	struct ui_have_entry	*c, *n;
	char			 noun[UI_NAME_MAX];
	const char		*dot = strchr(cmd, '.');
	bool			 missing;

	missing = code != NULL && strcmp(code, PROTO_E_UNKNOWN_COMMAND) == 0;
	if (code != NULL && strcmp(code, ACLIENT_E_CLOSED) == 0)
		return false;	/* says nothing about the daemon */
	snprintf(noun, sizeof noun, "%.*s", dot != NULL ? (int)(dot - cmd) :
	    (int)strlen(cmd), cmd);
	if ((c = have_find(cmd, true)) != NULL)
		c->have = missing ? UI_HAVE_NO : UI_HAVE_YES;
	if ((n = have_find(noun, true)) != NULL) {
		if (!missing)
			n->have = UI_HAVE_YES;
		else if (n->have != UI_HAVE_YES)
			n->have = UI_HAVE_NO;
	}
	if (missing)
		ui_dirty();
	return missing;
}

void
ui_unavailable_text(const char *name, char *out, size_t len)
{
	const char	*dot = strchr(name, '.');

	if (dot != NULL)
		snprintf(out, len, "not available on this moatd (needs %s)",
		    name);
	else
		snprintf(out, len, "not available on this moatd (needs %s.*)",
		    name);
}

enum proto_role
ui_role(void)
{
	return ui.role;
}

bool
ui_may(const char *cmd, char *why, size_t len)
{
	const struct proto_cmd	*pc;
	char			 noun[UI_NAME_MAX];
	const char		*dot;

	if (why != NULL && len > 0)
		why[0] = '\0';
	if (ui_have(cmd) == UI_HAVE_NO) {
		if (why != NULL)
			ui_unavailable_text(cmd, why, len);
		return false;
	}
	dot = strchr(cmd, '.');
	snprintf(noun, sizeof noun, "%.*s", dot != NULL ? (int)(dot - cmd) :
	    (int)strlen(cmd), cmd);
	if (ui_have(noun) == UI_HAVE_NO) {
		if (why != NULL)
			ui_unavailable_text(noun, why, len);
		return false;
	}
	/* A command this console does not know: the daemon decides. */
	if ((pc = proto_cmd_find(cmd)) == NULL || !ui.role_known)
		return true;
	if (proto_role_allows(ui.role, pc->role))
		return true;
	if (why != NULL)
		snprintf(why, len, "%s needs role %s (this connection is %s)",
		    cmd, proto_role_name(pc->role), proto_role_name(ui.role));
	return false;
}

json_t *
ui_status(void)
{
	return ui.status;
}

uint64_t
ui_status_mono(void)
{
	return ui.status_mono;
}

bool
ui_connected(void)
{
	return conn_state(ui.conn) == CONN_UP;
}

unsigned
ui_generation(void)
{
	return conn_generation(ui.conn);
}

int64_t
ui_call(const char *cmd, json_t *args, aclient_answer_cb cb, void *arg)
{
	char	*cause = NULL;
	int64_t	 id;

	if ((id = conn_call(ui.conn, cmd, args, cb, arg, &cause)) == -1) {
		ui_message(UI_S_ERROR, "%s: %s", cmd, cause != NULL ? cause :
		    "failed");
		free(cause);
	}
	ui_dirty();
	return id;
}

void
ui_cancel(int64_t id)
{
	conn_cancel(ui.conn, id);
}

static void
status_done(void *arg, json_t *result, const char *code, const char *msg)
{
	const char	*r;
	enum proto_role	 role;

	(void)arg;
	ui.status_req = 0;
	ui.status_next = util_mono_ms() + UI_STATUS_EVERY_MS;
	ui_dirty();
	if (code != NULL) {
		if (strcmp(code, ACLIENT_E_CLOSED) == 0)
			return;
		if (strcmp(code, PROTO_E_FORBIDDEN) == 0) {
			free(ui.refused);
			ui.refused = xstrdup(msg);
			ui.role = PROTO_ROLE_NONE;
			ui.role_known = true;
		}
		return;
	}
	free(ui.refused);
	ui.refused = NULL;
	json_decref(ui.status);
	ui.status = json_incref(result);
	ui.status_mono = util_mono_ms();
	r = model_str(result, "role");
	if (proto_role_parse(r, &role) == 0) {
		ui.role = role;
		ui.role_known = true;
	}
}

static void
status_ask(void)
{
	if (ui.status_req > 0 || !ui_connected())
		return;
	ui.status_req = conn_call(ui.conn, PROTO_CMD_STATUS, NULL,
	    status_done, NULL, NULL);
	if (ui.status_req == -1)
		ui.status_req = 0;
}

static void
subscribe_done(void *arg, json_t *result, const char *code, const char *msg)
{
	(void)arg;
	(void)result;
	ui.sub_req = 0;
	if (code != NULL && strcmp(code, ACLIENT_E_CLOSED) != 0)
		ui_message(UI_S_ERROR, "live tracking: %s", msg);
}

static void
hook_up(void *arg)
{
	size_t	i;

	(void)arg;
	ui.nhave = 0;
	ui.role_known = false;
	ui.status_req = 0;
	status_ask();
	ui.sub_req = conn_call(ui.conn, PROTO_CMD_TRACKING_SUBSCRIBE, NULL,
	    subscribe_done, NULL, NULL);
	for (i = 0; i < NVIEWS; i++) {
		if (views[i]->connected != NULL)
			views[i]->connected();
	}
	if (views[ui.cur]->enter != NULL)
		views[ui.cur]->enter();
	if (conn_generation(ui.conn) > 1)
		ui_message(UI_S_GOOD, "connected to moatd again");
	ui_dirty();
}

static void
hook_down(void *arg, const char *cause)
{
	size_t	i;

	(void)arg;
	(void)cause;
	ui.status_req = 0;
	ui.sub_req = 0;
	for (i = 0; i < NVIEWS; i++) {
		if (views[i]->disconnected != NULL)
			views[i]->disconnected();
	}
	ui_dirty();
}

static void
hook_event(void *arg, const char *name, json_t *data)
{
	size_t	i;

	(void)arg;
	for (i = 0; i < NVIEWS; i++) {
		if (views[i]->event != NULL)
			views[i]->event(name, data);
	}
	ui_dirty();
}

/* --- messages, prompts, confirmations ----------------------------------- */

void
ui_dirty(void)
{
	ui.dirty = true;
}

void
ui_message(enum ui_style st, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(ui.msg, sizeof ui.msg, fmt, ap);
	va_end(ap);
	ui.msg_style = st;
	ui.msg_until = util_mono_ms() + UI_MESSAGE_MS;
	ui_dirty();
}

void
ui_error(const char *cmd, const char *code, const char *msg)
{
	char	text[256];

	if (code != NULL && strcmp(code, PROTO_E_UNKNOWN_COMMAND) == 0) {
		ui_unavailable_text(cmd, text, sizeof text);
		ui_message(UI_S_WARN, "%s", text);
		return;
	}
	ui_message(UI_S_ERROR, "%s: %s", cmd, msg != NULL ? msg : code);
}

void
ui_prompt(const char *label, const char *initial, ui_prompt_fn changed,
    ui_prompt_fn done, void *arg)
{
	snprintf(ui.plabel, sizeof ui.plabel, "%s", label);
	model_line_set(&ui.line, initial);
	ui.pchanged = changed;
	ui.pdone = done;
	ui.parg = arg;
	ui.prompting = true;
	ui_dirty();
}

void
ui_confirm(const char *question, ui_confirm_fn yes, void *arg)
{
	snprintf(ui.question, sizeof ui.question, "%s", question);
	ui.cyes = yes;
	ui.carg = arg;
	ui.confirming = true;
	ui_dirty();
}

static void
prompt_key(int k)
{
	char		text[MODEL_LINE_MAX * 4 + 1];
	bool		changed = false;
	ui_prompt_fn	done = ui.pdone;

	switch (k) {
	case '\n':
	case '\r':
	case UI_FN(KEY_ENTER):
		ui.prompting = false;
		model_line_utf8(&ui.line, text, sizeof text);
		if (done != NULL)
			done(ui.parg, text);
		return;
	case UI_ESC:
	case UI_CTRL('g'):
	case UI_CTRL('c'):
		ui.prompting = false;
		if (done != NULL)
			done(ui.parg, NULL);
		return;
	case UI_FN(KEY_LEFT):
	case UI_CTRL('b'):
		model_line_edit(&ui.line, MODEL_LINE_LEFT);
		return;
	case UI_FN(KEY_RIGHT):
	case UI_CTRL('f'):
		model_line_edit(&ui.line, MODEL_LINE_RIGHT);
		return;
	case UI_FN(KEY_HOME):
	case UI_CTRL('a'):
		model_line_edit(&ui.line, MODEL_LINE_HOME);
		return;
	case UI_FN(KEY_END):
	case UI_CTRL('e'):
		model_line_edit(&ui.line, MODEL_LINE_END);
		return;
	case UI_FN(KEY_BACKSPACE):
	case 127:
	case UI_CTRL('h'):
		changed = model_line_edit(&ui.line, MODEL_LINE_BACKSPACE);
		break;
	case UI_FN(KEY_DC):
	case UI_CTRL('d'):
		changed = model_line_edit(&ui.line, MODEL_LINE_DELETE);
		break;
	case UI_CTRL('u'):
		changed = model_line_edit(&ui.line, MODEL_LINE_KILL);
		break;
	case UI_CTRL('w'):
		changed = model_line_edit(&ui.line, MODEL_LINE_WORD);
		break;
	default:
		if (!(k & UI_KEY_FN))
			changed = model_line_insert(&ui.line, (wchar_t)k);
		break;
	}
	if (changed && ui.pchanged != NULL) {
		model_line_utf8(&ui.line, text, sizeof text);
		ui.pchanged(ui.parg, text);
	}
}

/* --- overlay ------------------------------------------------------------ */

static void
overlay_destroy_window(void)
{
	if (ui.ov_panel != NULL)
		del_panel(ui.ov_panel);
	if (ui.ov_win != NULL)
		delwin(ui.ov_win);
	ui.ov_panel = NULL;
	ui.ov_win = NULL;
}

void
ui_overlay(struct model_pager *p, bool (*key)(int),
    const struct ui_keyhelp *hints)
{
	ui.ov = p;
	ui.ov_key = key;
	ui.ov_hints = hints;
	p->top = 0;
	overlay_destroy_window();
	ui_dirty();
}

void
ui_overlay_close(void)
{
	ui.ov = NULL;
	ui.ov_key = NULL;
	ui.ov_hints = NULL;
	overlay_destroy_window();
	ui_dirty();
}

bool
ui_overlay_is(const struct model_pager *p)
{
	return ui.ov != NULL && ui.ov == p;
}

static bool
overlay_key(int k)
{
	long	delta = 0;
	bool	home = false, end = false;
	int	page = ui.ov_rows > 1 ? ui.ov_rows - 1 : 1;

	if (ui.ov_key != NULL && ui.ov_key(k))
		return true;
	if (k == 'q' || k == UI_ESC || k == UI_FN(KEY_LEFT) || k == 'h') {
		ui_overlay_close();
		return true;
	}
	if (k == ' ')
		delta = page;
	else if (k == 'b')
		delta = -page;
	else if (!ui_move_key(k, page, &delta, &home, &end))
		return false;
	if (home)
		delta = -(long)model_pager_rows(ui.ov, ui.ov_cols);
	if (end)
		delta = (long)model_pager_rows(ui.ov, ui.ov_cols);
	model_pager_scroll(ui.ov, delta, (size_t)ui.ov_rows, ui.ov_cols);
	return true;
}

/* --- drawing helpers ---------------------------------------------------- */

attr_t
ui_attr(enum ui_style s)
{
	return (unsigned)s < UI_S_COUNT ? ui.attrs[s] : A_NORMAL;
}

int
ui_put(WINDOW *w, int y, int x, int width, enum ui_style st, int flags,
    const char *s)
{
	char	buf[UI_FIT_SIZE(512)];
	int	used;

	if (width <= 0)
		return 0;
	if (width > 512)
		width = 512;
	used = ui_text_fit(s, width, flags, buf, sizeof buf);
	wattrset(w, ui_attr(st));
	mvwaddstr(w, y, x, buf);
	wattrset(w, A_NORMAL);
	return used;
}

int
ui_putf(WINDOW *w, int y, int x, int width, enum ui_style st,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return ui_put(w, y, x, width, st, 0, buf);
}

void
ui_fill(WINDOW *w, int y, int x, int width, enum ui_style st)
{
	int	i;

	wattrset(w, ui_attr(st));
	wmove(w, y, x);
	for (i = 0; i < width; i++)
		waddch(w, ' ');
	wattrset(w, A_NORMAL);
}

void
ui_table_head(WINDOW *w, int y, int x, int width,
    const struct model_col *c, size_t n)
{
	size_t	i;
	int	cx = x;

	ui_fill(w, y, x, width, UI_S_HEAD);
	for (i = 0; i < n; i++) {
		if (c[i].width == 0)
			continue;
		ui_put(w, y, cx, c[i].width, UI_S_HEAD, UI_FIT_RAW |
		    (c[i].right ? UI_FIT_RIGHT : UI_FIT_PAD), c[i].title);
		cx += c[i].width + 1;
	}
}

void
ui_table_row(WINDOW *w, int y, int x, int width, enum ui_style row,
    const struct model_col *c, size_t n, const char *const *texts,
    const enum ui_style *styles)
{
	enum ui_style	st;
	size_t		i;
	int		cx = x;

	ui_fill(w, y, x, width, row);
	for (i = 0; i < n; i++) {
		if (c[i].width == 0)
			continue;
		st = row;
		if (row == UI_S_NORMAL && styles != NULL)
			st = styles[i];
		ui_put(w, y, cx, c[i].width, st,
		    c[i].right ? UI_FIT_RIGHT : UI_FIT_PAD,
		    texts[i] != NULL ? texts[i] : "");
		cx += c[i].width + 1;
	}
}

void
ui_draw_pager(WINDOW *w, struct model_pager *p, int y, int x, int h,
    int width)
{
	size_t		 i, row = 0, n, r;
	const char	*s;
	char		*piece;
	int		 drawn = 0, rw;


	if (width <= 0 || h <= 0)
		return;
	model_pager_scroll(p, 0, (size_t)h, width);
	for (i = 0; i < p->n && drawn < h; i++) {
		s = p->lines[i];
		r = 0;
		do {
			rw = (int)model_pager_row_width(p, i, r, width);
			n = *s != '\0' ? model_pager_break(s, rw) : 0;
			if (row >= p->top && drawn < h) {
				piece = xstrndup(s, n);
				ui_put(w, y + drawn, x + width - rw, rw,
				    (enum ui_style)p->attrs[i],
				    UI_FIT_RAW | UI_FIT_PAD, piece);
				free(piece);
				drawn++;
			}
			row++;
			r++;
			s += n;
		} while (*s != '\0' && n > 0);
	}
}

void
ui_draw_note(WINDOW *w, int y, int x, int h, int width, enum ui_style st,
    const char *s)
{
	char	buf[UI_FIT_SIZE(512)];
	int	used;

	if (h <= 0 || width <= 0)
		return;
	used = ui_text_fit(s, width > 512 ? 512 : width, 0, buf, sizeof buf);
	wattrset(w, ui_attr(st));
	mvwaddstr(w, y + h / 3, x + (width - used) / 2, buf);
	wattrset(w, A_NORMAL);
}

const char *
ui_spinner(void)
{
	static const char *const frames[] = {
		"\xe2\xa0\x8b", "\xe2\xa0\x99", "\xe2\xa0\xb9", "\xe2\xa0\xb8",
		"\xe2\xa0\xbc", "\xe2\xa0\xb4", "\xe2\xa0\xa6", "\xe2\xa0\xa7",
		"\xe2\xa0\x87", "\xe2\xa0\x8f",
	};
	static const char *const ascii[] = { "|", "/", "-", "\\" };
	uint64_t	now = util_mono_ms(), busy = conn_busy_since(ui.conn);
	uint64_t	f = now / UI_FRAME_MS;

	if (busy == 0 || now - busy < UI_SPINNER_AFTER_MS)
		return " ";
	if (ui_text_utf8())
		return frames[f % 10];
	return ascii[f % 4];
}

bool
ui_slow(int64_t id)
{
	uint64_t	busy = conn_busy_since(ui.conn);

	return conn_is_pending(ui.conn, id) && busy != 0 &&
	    util_mono_ms() - busy >= UI_SPINNER_AFTER_MS;
}

bool
ui_move_key(int k, int page, long *delta, bool *home, bool *end)
{
	*delta = 0;
	*home = *end = false;
	if (page < 1)
		page = 1;
	switch (k) {
	case UI_FN(KEY_UP):
	case 'k':
	case UI_CTRL('p'):
		*delta = -1;
		return true;
	case UI_FN(KEY_DOWN):
	case 'j':
	case UI_CTRL('n'):
		*delta = 1;
		return true;
	case UI_FN(KEY_PPAGE):
	case UI_CTRL('b'):
		*delta = -page;
		return true;
	case UI_FN(KEY_NPAGE):
	case UI_CTRL('f'):
		*delta = page;
		return true;
	case UI_CTRL('u'):
		*delta = -(page / 2 > 0 ? page / 2 : 1);
		return true;
	case UI_CTRL('d'):
		*delta = page / 2 > 0 ? page / 2 : 1;
		return true;
	case UI_FN(KEY_HOME):
	case 'g':
		*home = true;
		return true;
	case UI_FN(KEY_END):
	case 'G':
		*end = true;
		return true;
	}
	return false;
}

enum ui_style
ui_outcome_style(const char *o)
{
	if (strcmp(o, "relayed") == 0 || strcmp(o, "clean") == 0 ||
	    strcmp(o, "released") == 0)
		return UI_S_GOOD;
	if (strcmp(o, "tempfailed") == 0 || strcmp(o, "greylisted") == 0)
		return UI_S_WARN;
	if (strcmp(o, "rejected") == 0 || strcmp(o, "blocked") == 0 ||
	    strcmp(o, "virus") == 0 || strcmp(o, "deleted") == 0)
		return UI_S_BAD;
	if (strcmp(o, "quarantined") == 0 || strcmp(o, "spam") == 0)
		return UI_S_QUAR;
	return UI_S_NORMAL;
}

int64_t
ui_now_ms(void)
{
	return util_wall_ms();
}

/* --- lists paged through the protocol ----------------------------------- */

void
ui_list_init(struct ui_list *l, const char *cmd, const char *idkey,
    int limit)
{
	memset(l, 0, sizeof *l);
	model_list_init(&l->list, idkey);
	l->cmd = cmd;
	l->limit = limit > 0 ? limit : MODEL_LIST_PAGE;
}

void
ui_list_free(struct ui_list *l)
{
	conn_cancel(ui.conn, l->list.req);
	model_list_free(&l->list);
	json_decref(l->args);
	l->args = NULL;
}

void
ui_list_query(struct ui_list *l, json_t *args)
{
	if (l->list.loading)
		conn_cancel(ui.conn, l->list.req);
	json_decref(l->args);
	l->args = args;
	l->unknown = false;
	model_list_reset(&l->list);
	ui_list_tick(l);
	ui_dirty();
}

void
ui_list_refresh(struct ui_list *l)
{
	if (l->list.loading)
		return;
	free(l->list.error);
	l->list.error = NULL;
	l->unknown = false;	/* moatd may have been upgraded */
	if (l->list.npages > 0)
		model_list_refresh(&l->list);
	ui_list_tick(l);
}

/* Does cmd take key? A command this console does not know: say yes and
 * let moatd decide. */
static bool
cmd_takes(const char *cmd, const char *key)
{
	const struct proto_cmd	*pc = proto_cmd_find(cmd);

	return pc == NULL || proto_arg_find(pc->args, key) != NULL;
}

static void
list_done(void *arg, json_t *result, const char *code, const char *msg)

{
	struct ui_list	*l = arg;
	json_t		*items;
	const char	*next;

	l->unknown = ui_answered(l->cmd, code);
	ui_dirty();
	if (code != NULL) {
		model_list_fail(&l->list, msg);
		return;
	}
	items = json_is_array(result) ? result : json_object_get(result,
	    l->items_key != NULL ? l->items_key : "items");

	next = json_string_value(json_object_get(result, "next"));
	model_list_page(&l->list, l->list.loading_page, items, next,
	    model_int(result, "total", -1));
	if (l->loaded != NULL)
		l->loaded(l);
}

void
ui_list_tick(struct ui_list *l)
{
	const char	*cursor;
	size_t		 page;
	json_t		*args;

	if (!ui_connected() || l->unknown)
		return;
	if (!model_list_want(&l->list, &page, &cursor))
		return;
	args = l->args != NULL ? json_deep_copy(l->args) : json_object();
	if (cmd_takes(l->cmd, "limit"))
		json_object_set_new(args, "limit", json_integer(l->limit));
	if (cursor != NULL && cmd_takes(l->cmd, "cursor"))
		json_object_set_new(args, "cursor", json_string(cursor));
	l->list.req = conn_call(ui.conn, l->cmd, args, list_done, l, NULL);
	json_decref(args);
	if (l->list.req == -1)
		model_list_fail(&l->list, "not connected to moatd");
	ui_dirty();
}

bool
ui_list_key(struct ui_list *l, int k, int rows)
{
	long	delta;
	bool	home, end;

	if (!ui_move_key(k, rows, &delta, &home, &end))
		return false;
	if (home)
		model_list_home(&l->list);
	else if (end)
		model_list_end(&l->list);
	else
		model_list_move(&l->list, delta);
	ui_list_tick(l);
	return true;
}

void
ui_list_position(const struct ui_list *l, char *out, size_t len)
{
	char	a[32], b[32];
	size_t	known = model_list_known(&l->list);

	if (!l->list.loaded) {
		snprintf(out, len, "%s", l->list.error != NULL ? "" :
		    "loading...");
		return;
	}
	if (known == 0) {
		snprintf(out, len, "none");
		return;
	}
	ui_text_grouped((int64_t)l->list.sel + 1, a, sizeof a);
	if (l->list.total >= 0)
		ui_text_grouped(l->list.total, b, sizeof b);
	else
		ui_text_grouped((int64_t)known, b, sizeof b);
	snprintf(out, len, "%s of %s%s%s", a, b, l->list.total < 0 &&
	    !l->list.end ? "+" : "", l->list.seeking ? " (seeking the end, "
	    "any key stops)" : "");
}

/* --- views -------------------------------------------------------------- */

const struct ui_view *
ui_current(void)
{
	return views[ui.cur];
}

static void
view_enter(size_t i)
{
	ui.cur = i;
	if (ui.ov != NULL)
		ui_overlay_close();
	if (views[i]->enter != NULL)
		views[i]->enter();
	ui_dirty();
}

void
ui_switch(size_t i)
{
	if (i >= NVIEWS || i == ui.cur)
		return;
	if (ui.nhist == UI_HISTORY_MAX) {
		memmove(ui.hist, ui.hist + 1, (UI_HISTORY_MAX - 1) *
		    sizeof ui.hist[0]);
		ui.nhist--;
	}
	ui.hist[ui.nhist++] = ui.cur;
	view_enter(i);
}

static void
go_back(int k)
{
	if (views[ui.cur]->back != NULL && views[ui.cur]->back())
		return;
	if (ui.nhist > 0) {
		view_enter(ui.hist[--ui.nhist]);
		return;
	}
	if (k == 'q')
		ui.quit = true;
	else
		ui_message(UI_S_NORMAL, "q quits, Tab or 1-%zu switch views",
		    NVIEWS);
}

static void
handle_key(int k)
{
	ui_dirty();
	if (k == UI_FN(KEY_RESIZE)) {
		overlay_destroy_window();
		return;
	}
	if (ui.confirming) {
		ui.confirming = false;
		if (k == 'y' || k == 'Y') {
			ui.msg[0] = '\0';
			ui.cyes(ui.carg);
		} else
			ui_message(UI_S_NORMAL, "cancelled");
		return;
	}
	if (ui.prompting) {
		prompt_key(k);
		return;
	}
	if (k == 'Q') {
		ui.quit = true;
		return;
	}
	if (k == UI_CTRL('l')) {
		clearok(curscr, TRUE);
		return;
	}
	if (k == UI_CTRL('r')) {
		conn_retry_now(ui.conn);
		return;
	}
	if (ui.ov != NULL && overlay_key(k))
		return;
	if (k == '?' || k == UI_FN(KEY_F(1))) {
		ui_help_open(views[ui.cur]);
		return;
	}
	if (ui.ov == NULL && views[ui.cur]->key != NULL && views[ui.cur]->key(k))
		return;
	if (k == '\t') {
		ui_switch((ui.cur + 1) % NVIEWS);
		return;
	}
	if (k == UI_FN(KEY_BTAB)) {
		ui_switch((ui.cur + NVIEWS - 1) % NVIEWS);
		return;
	}
	if (k >= '1' && k < '1' + (int)NVIEWS) {
		ui_switch((size_t)(k - '1'));
		return;
	}
	if (k == 'q' || k == UI_ESC) {
		go_back(k);
		return;
	}
}

/* --- the screen --------------------------------------------------------- */

static void
draw_tabs(int width)
{
	static const struct {
		int	names;		/* 0 long, 1 short, 2 numbers */
		bool	node;
	} passes[] = { { 0, true }, { 0, false }, { 1, true }, { 1, false },
	    { 2, false } };
	const char	*dot = ui_text_utf8() ? " \xc2\xb7 " : " - ";
	const char	*node, *role, *name;
	char		 right[160], tab[64];
	size_t		 i, p;
	int		 x, need, rw = 0;
	json_t		*st = ui.status;

	ui_fill(stdscr, 0, 0, width, UI_S_BAR);
	node = st != NULL ? model_str(st, "node") : "";
	role = ui.role_known ? proto_role_name(ui.role) : "";
	for (p = 0; p < sizeof passes / sizeof passes[0]; p++) {
		snprintf(right, sizeof right, "%s%s%s %s ", passes[p].node ?
		    node : "", passes[p].node && *node != '\0' &&
		    *role != '\0' ? dot : "", role, ui_spinner());
		rw = ui_text_width(right);
		need = 6;
		for (i = 0; i < NVIEWS; i++) {
			name = passes[p].names == 0 ? views[i]->name :
			    passes[p].names == 1 ? views[i]->short_name : "";
			need += 3 + (int)strlen(name) + (*name != '\0');
		}
		if (need + rw <= width)
			break;
	}
	if (p == sizeof passes / sizeof passes[0])
		p--;
	x = ui_put(stdscr, 0, 0, width, UI_S_BAR, UI_FIT_RAW, " Moat ");
	for (i = 0; i < NVIEWS && x < width; i++) {
		name = passes[p].names == 0 ? views[i]->name :
		    passes[p].names == 1 ? views[i]->short_name : "";
		snprintf(tab, sizeof tab, " %zu%s%s ", i + 1, *name != '\0' ?
		    " " : "", name);
		x += ui_put(stdscr, 0, x, width - x, i == ui.cur ? UI_S_TAB :
		    UI_S_BAR, UI_FIT_RAW, tab);
	}
	if (x + rw < width)
		ui_put(stdscr, 0, width - rw, rw, UI_S_BAR, 0, right);
}

/* The connection banner; returns the rows it took. */
static int
draw_banner(int y, int width)
{
	char		 text[512], secs[32];
	uint64_t	 now = util_mono_ms(), at;

	if (conn_state(ui.conn) == CONN_UP) {
		if (ui.refused == NULL)
			return 0;
		snprintf(text, sizeof text, " moatd refuses this user: %s",
		    ui.refused);
	} else if (conn_state(ui.conn) == CONN_GONE) {
		snprintf(text, sizeof text, " connection ended, cannot "
		    "reconnect (it was handed over): Q quits \xc2\xb7 %s",
		    conn_cause(ui.conn));

	} else {
		at = conn_retry_at(ui.conn);
		ui_text_duration(at > now ? (int64_t)((at - now + 999) /
		    1000) : 0, secs, sizeof secs);
		snprintf(text, sizeof text, " %s moatd at %s: %s; retrying in "
		    "%s (^R now)%s", conn_generation(ui.conn) > 0 ?
		    "lost the connection to" : "cannot reach",
		    conn_where(ui.conn), conn_cause(ui.conn), secs,
		    conn_generation(ui.conn) > 0 ? "; showing what was "
		    "last seen" : "");
	}
	ui_fill(stdscr, y, 0, width, UI_S_BANNER);
	ui_put(stdscr, y, 0, width, UI_S_BANNER, 0, text);
	return 1;
}

static void
draw_message(int y, int width, int *cx)
{
	char	lbuf[MODEL_LINE_MAX * 4 + 1];
	int	lw, tw, col;

	*cx = -1;
	ui_fill(stdscr, y, 0, width, UI_S_NORMAL);
	if (ui.prompting) {
		lw = ui_put(stdscr, y, 0, width, UI_S_BOLD, 0, ui.plabel);
		model_line_utf8(&ui.line, lbuf, sizeof lbuf);
		tw = width - lw - 1;
		col = model_line_cursor_col(&ui.line);
		if (tw > 0) {
			/* Keep the cursor in sight: show the end if long. */
			const char	*s = lbuf;

			while (col >= tw && *s != '\0') {
				size_t	 n = ui_text_prefix(s, 1);
				char	*one = xstrndup(s, n);

				col -= ui_text_width(one);
				free(one);
				s += n;
			}
			ui_put(stdscr, y, lw, tw, UI_S_NORMAL, 0, s);
			*cx = lw + (col < tw ? col : tw);
		}
		return;
	}
	if (ui.confirming) {
		ui_put(stdscr, y, 0, width, UI_S_WARN, 0, ui.question);
		return;
	}
	if (ui.msg[0] != '\0')
		ui_put(stdscr, y, 0, width, ui.msg_style, 0, ui.msg);
}

static void
draw_keys(int y, int width)
{
	const struct ui_keyhelp	*k;
	const struct ui_view	*v = views[ui.cur];
	static const struct ui_keyhelp global[] = {
		{ "?", "help", NULL, true },
		{ "Tab", "views", NULL, true },
		{ "q", "back", NULL, true },
		{ NULL, NULL, NULL, false },
	};
	static const struct ui_keyhelp overlay[] = {
		{ "q", "close", NULL, true },
		{ "jk", "scroll", NULL, true },
		{ "Space/b", "page", NULL, true },
		{ NULL, NULL, NULL, false },
	};
	const struct ui_keyhelp	*tables[2] = { global, v->keys };
	size_t			 t;
	int			 x = 0, need;
	bool			 ok;

	ui_fill(stdscr, y, 0, width, UI_S_BAR);
	x = ui_put(stdscr, y, 0, width, UI_S_BAR, UI_FIT_RAW, " ");
	if (ui.ov != NULL) {
		tables[0] = overlay;
		tables[1] = ui.ov_hints;
	}

	for (t = 0; t < 2; t++) {
		for (k = tables[t]; k != NULL && k->key != NULL; k++) {
			if (!k->bar)
				continue;
			ok = k->cmd == NULL || ui_may(k->cmd, NULL, 0);
			need = (int)strlen(k->key) + ui_text_width(k->what) + 3;
			if (x + need > width)
				return;
			x += ui_put(stdscr, y, x, width - x, ok ? UI_S_KEY :
			    UI_S_KEYOFF, UI_FIT_RAW, k->key);
			x += ui_put(stdscr, y, x, width - x, ok ? UI_S_BAR :
			    UI_S_KEYOFF, UI_FIT_RAW, " ");
			x += ui_put(stdscr, y, x, width - x, ok ? UI_S_BAR :
			    UI_S_KEYOFF, UI_FIT_RAW, k->what);
			x += ui_put(stdscr, y, x, width - x, UI_S_BAR,
			    UI_FIT_RAW, "  ");
		}
	}
}

static void
draw_overlay(int y, int h, int width)
{
	int	ow = width, oh = h;
	char	title[256];

	if (oh < 3 || ow < 10)
		return;
	if (ui.ov_win == NULL || ui.ov_h != oh || ui.ov_w != ow) {
		overlay_destroy_window();
		if ((ui.ov_win = newwin(oh, ow, y, 0)) == NULL)
			return;
		ui.ov_panel = new_panel(ui.ov_win);
		ui.ov_h = oh;
		ui.ov_w = ow;
	}
	werase(ui.ov_win);
	wattrset(ui.ov_win, ui_attr(UI_S_NORMAL));
	box(ui.ov_win, 0, 0);
	snprintf(title, sizeof title, " %s ", ui.ov->title != NULL ?
	    ui.ov->title : "");
	ui_put(ui.ov_win, 0, 2, ow - 4, UI_S_TITLE, 0, title);
	ui.ov_rows = oh - 2;
	ui.ov_cols = ow - 4;
	ui_draw_pager(ui.ov_win, ui.ov, 1, 2, ui.ov_rows, ui.ov_cols);
	if (model_pager_rows(ui.ov, ui.ov_cols) > (size_t)ui.ov_rows) {
		char	pos[32];

		snprintf(pos, sizeof pos, " %zu/%zu ", ui.ov->top + 1,
		    model_pager_rows(ui.ov, ui.ov_cols));
		ui_put(ui.ov_win, oh - 1, ow - 2 - (int)strlen(pos),
		    (int)strlen(pos), UI_S_DIM, UI_FIT_RAW, pos);
	}
}

static void
draw(void)
{
	int	H, W, y0, h, cx;

	getmaxyx(stdscr, H, W);
	werase(stdscr);
	if (W < UI_MIN_COLS || H < UI_MIN_LINES) {
		ui_putf(stdscr, 0, 0, W, UI_S_BOLD, "terminal too small: "
		    "%dx%d, moat needs %dx%d", W, H, UI_MIN_COLS, UI_MIN_LINES);
		overlay_destroy_window();
		curs_set(0);
		wnoutrefresh(stdscr);
		doupdate();
		return;
	}
	draw_tabs(W);
	y0 = 1 + draw_banner(1, W);
	h = H - 2 - y0;
	views[ui.cur]->draw(stdscr, y0, 0, h, W);
	draw_message(H - 2, W, &cx);
	draw_keys(H - 1, W);
	wnoutrefresh(stdscr);
	if (ui.ov != NULL) {
		draw_overlay(y0, h, W);
		update_panels();
	}
	if (cx >= 0) {
		curs_set(1);
		wmove(stdscr, H - 2, cx);
		wnoutrefresh(stdscr);	/* nothing touched: only the cursor */
	} else
		curs_set(0);
	doupdate();
}

static void
colours_init(bool colour)
{
	size_t	i;

	for (i = 0; i < UI_S_COUNT; i++)
		ui.attrs[i] = A_NORMAL;
	ui.attrs[UI_S_BAR] = A_REVERSE;
	ui.attrs[UI_S_TAB] = A_BOLD;
	ui.attrs[UI_S_TITLE] = A_BOLD;
	ui.attrs[UI_S_HEAD] = A_BOLD | A_UNDERLINE;
	ui.attrs[UI_S_SEL] = A_REVERSE;
	ui.attrs[UI_S_MARK] = A_BOLD;
	ui.attrs[UI_S_DIM] = A_DIM;
	ui.attrs[UI_S_KEYOFF] = A_DIM | A_REVERSE;
	ui.attrs[UI_S_WARN] = A_BOLD;
	ui.attrs[UI_S_BAD] = A_BOLD;
	ui.attrs[UI_S_BANNER] = A_REVERSE | A_BOLD;
	ui.attrs[UI_S_KEY] = A_BOLD;
	ui.attrs[UI_S_ERROR] = A_BOLD;
	ui.attrs[UI_S_BOLD] = A_BOLD;
	if (!colour || !has_colors() || start_color() == ERR)
		return;
	use_default_colors();
	init_pair(1, COLOR_BLACK, COLOR_CYAN);	/* bars */
	init_pair(2, COLOR_WHITE, COLOR_BLUE);	/* current tab */
	init_pair(3, COLOR_GREEN, -1);
	init_pair(4, COLOR_YELLOW, -1);
	init_pair(5, COLOR_RED, -1);
	init_pair(6, COLOR_MAGENTA, -1);
	init_pair(7, COLOR_WHITE, COLOR_RED);	/* banner */
	init_pair(8, COLOR_CYAN, -1);		/* titles, sparklines */
	init_pair(9, COLOR_BLACK, COLOR_YELLOW); /* selection */
	init_pair(10, COLOR_BLUE, COLOR_CYAN);	/* greyed keys */
	init_pair(11, COLOR_WHITE, COLOR_BLACK); /* key names */
	ui.attrs[UI_S_BAR] = COLOR_PAIR(1);
	ui.attrs[UI_S_TAB] = COLOR_PAIR(2) | A_BOLD;
	ui.attrs[UI_S_TITLE] = COLOR_PAIR(8) | A_BOLD;
	ui.attrs[UI_S_HEAD] = COLOR_PAIR(1);
	ui.attrs[UI_S_SEL] = A_REVERSE;
	ui.attrs[UI_S_MARK] = COLOR_PAIR(4) | A_BOLD;
	ui.attrs[UI_S_KEYOFF] = COLOR_PAIR(10);
	ui.attrs[UI_S_GOOD] = COLOR_PAIR(3);
	ui.attrs[UI_S_WARN] = COLOR_PAIR(4) | A_BOLD;
	ui.attrs[UI_S_BAD] = COLOR_PAIR(5) | A_BOLD;
	ui.attrs[UI_S_QUAR] = COLOR_PAIR(6);
	ui.attrs[UI_S_BANNER] = COLOR_PAIR(7) | A_BOLD;
	ui.attrs[UI_S_KEY] = COLOR_PAIR(11) | A_BOLD;
	ui.attrs[UI_S_ERROR] = COLOR_PAIR(5) | A_BOLD;
	ui.attrs[UI_S_SPARK] = COLOR_PAIR(8);
}

static void
on_signal(int sig)
{
	ui_signalled = sig;
}

/* Milliseconds the loop may sleep. */
static int
loop_timeout(uint64_t now)
{
	uint64_t	wake = now + 1000 - now % 1000;	/* the clock */
	int		t;

	if ((t = conn_timeout(ui.conn, now)) >= 0 && now + (uint64_t)t < wake)
		wake = now + (uint64_t)t;
	if (ui_connected() && ui.status_req == 0 && ui.status_next < wake)
		wake = ui.status_next > now ? ui.status_next : now;
	if (ui.msg[0] != '\0' && ui.msg_until < wake)
		wake = ui.msg_until > now ? ui.msg_until : now;
	if (conn_busy_since(ui.conn) != 0 && now + UI_FRAME_MS < wake)
		wake = now + UI_FRAME_MS;
	if (ui.quit)
		return 0;
	return (int)(wake - now);
}

static void
read_keys(void)
{
	wint_t	wch;
	int	rv, n = 0;

	/* Bounded, so a flood of input cannot starve the connection. */
	while (n++ < 256 && (rv = wget_wch(stdscr, &wch)) != ERR) {
		if (rv == KEY_CODE_YES)
			handle_key(UI_FN((int)wch));
		else
			handle_key((int)wch);
		if (ui.quit)
			return;
	}
}

int
ui_run(struct conn *c, bool colour)
{
	struct sigaction	 sa;
	struct pollfd		 pfd[2];
	uint64_t		 now;
	size_t			 i;
	int			 n, nfds;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ui.conn = c;
	ui.colour = colour;
	if (initscr() == NULL)
		return 2;
	cbreak();
	noecho();
	nonl();
	intrflush(stdscr, FALSE);
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	colours_init(colour);
	for (i = 0; i < NVIEWS; i++) {
		if (views[i]->init != NULL)
			views[i]->init();
	}
	ui.dirty = true;
	conn_start(c);
	if (views[ui.cur]->enter != NULL && !ui_connected())
		views[ui.cur]->enter();

	while (!ui.quit && ui_signalled == 0) {
		now = util_mono_ms();
		conn_tick(c, now);
		if (ui_connected() && ui.status_req == 0 &&
		    now >= ui.status_next)
			status_ask();
		if (views[ui.cur]->tick != NULL)
			views[ui.cur]->tick(now);
		if (ui.msg[0] != '\0' && now >= ui.msg_until) {
			ui.msg[0] = '\0';
			ui.dirty = true;
		}
		if (now / 1000 != ui.last_second ||
		    conn_busy_since(c) != 0) {
			ui.last_second = now / 1000;
			ui.dirty = true;	/* clocks, spinner */
		}
		if (ui.dirty) {
			ui.dirty = false;
			draw();
		}
		pfd[0].fd = STDIN_FILENO;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		nfds = conn_pollfd(c, &pfd[1]) ? 2 : 1;
		n = poll(pfd, (nfds_t)nfds, loop_timeout(util_mono_ms()));
		if (n == -1 && errno != EINTR)
			break;
		if (n > 0 && nfds == 2 && pfd[1].revents != 0)
			conn_io(c, pfd[1].revents);
		if (n > 0 && (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
			break;	/* the terminal went away */
		read_keys();	/* also KEY_RESIZE after SIGWINCH's EINTR */
	}
	overlay_destroy_window();
	endwin();
	for (i = 0; i < NVIEWS; i++) {
		if (views[i]->free != NULL)
			views[i]->free();
	}
	ui_help_free();
	json_decref(ui.status);
	free(ui.refused);
	return conn_state(c) == CONN_GONE ? 1 : 0;
}

const struct conn_hooks *
ui_conn_hooks(void)
{
	static const struct conn_hooks hooks = {
		hook_up, hook_down, hook_event, NULL
	};

	return &hooks;
}
