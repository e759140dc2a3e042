/*
 * Statistics: per hour (stats.get, with a sparkline) and per domain, user
 * and sender. The per-key tables are counted here from tracking.search
 * pages streamed through the span (each page counted, then dropped; at
 * most ST_SCAN_MAX records) until moatd offers them itself.
 * Console thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"
#include "ui_text.h"
#include "util.h"
#include "xmalloc.h"

#define ST_SCAN_PAGE	1000	/* records per tracking.search page */
#define ST_SCAN_MAX	200000	/* records counted per span at most */
#define ST_SPAM_SCORE	5.0	/* spam when no verdict says otherwise */
#define ST_REFRESH_MS	30000

static const struct ui_keyhelp st_keys[] = {
	{ "Left/Right", "table", NULL, true },
	{ "[ ]", "span", NULL, true },
	{ "H d D u s", "hours, rcpt domains, sender domains, users, senders",
	  NULL, false },
	{ "r", "recount", NULL, true },
	{ NULL, NULL, NULL, false },
};

enum st_tab {
	ST_HOURS = 0,
	ST_RCPT_DOM,
	ST_SENDER_DOM,
	ST_USERS,
	ST_SENDERS,
	ST_NTABS
};

static const char *const st_tab_names[ST_NTABS] = {
	"per hour", "recipient domains", "sender domains", "users",
	"senders",
};

static const struct {
	const char	*name;
	int64_t		 ms;
} st_spans[] = {
	{ "1 hour", 3600000LL },
	{ "6 hours", 6 * 3600000LL },
	{ "24 hours", 24 * 3600000LL },
	{ "7 days", 7 * 24 * 3600000LL },
	{ "30 days", 30 * 24 * 3600000LL },
};
#define ST_NSPANS	(sizeof st_spans / sizeof st_spans[0])

static struct {
	enum st_tab		 tab;
	size_t			 span;
	int64_t			 from_ms;
	int64_t			 to_ms;
	uint64_t		 next_refresh;
	/* per hour */
	json_t			*hours;
	int64_t			 hours_req;
	char			*hours_err;
	/* per key, counted from tracking */
	struct model_agg	 agg[ST_NTABS];
	int64_t			 scan_req;
	char			*cursor;
	size_t			 scanned;
	bool			 scanning;
	bool			 scan_done;
	bool			 capped;
	char			*scan_err;
	/* rows */
	size_t			 sel[ST_NTABS];
	size_t			 top[ST_NTABS];
	int			 rows;
} st;

static void
st_init(void)
{
	size_t	i;

	for (i = 0; i < ST_NTABS; i++)
		model_agg_init(&st.agg[i]);
	st.span = 2;
	st.rows = 10;
}

static void
st_free(void)
{
	size_t	i;

	for (i = 0; i < ST_NTABS; i++)
		model_agg_free(&st.agg[i]);
	json_decref(st.hours);
	free(st.cursor);
	free(st.hours_err);
	free(st.scan_err);
}

/* --- per hour ------------------------------------------------------------ */

static void
hours_done(void *arg, json_t *result, const char *code, const char *msg)
{
	(void)arg;
	st.hours_req = 0;
	ui_answered(PROTO_CMD_STATS_GET, code);
	ui_dirty();
	free(st.hours_err);
	st.hours_err = NULL;
	if (code != NULL) {
		st.hours_err = xstrdup(msg);
		return;
	}
	json_decref(st.hours);
	st.hours = json_incref(result);
}

/* --- per key --------------------------------------------------------- */

static void	scan_next(void);

static void
count_rec(json_t *rec)
{
	const char	*sender = model_str(rec, "sender"), *o, *a;
	const char	*outcome = model_str(rec, "outcome");
	char		 dom[256];
	json_t		*rcpts = json_object_get(rec, "rcpts"), *r;
	int64_t		 size = model_int(rec, "size", 0);
	double		 score;
	bool		 spam;
	size_t		 i;

	if (*model_str(rec, "verdict") != '\0')
		spam = strcmp(model_str(rec, "verdict"), "spam") == 0;
	else
		spam = model_num(rec, "score", &score) &&
		    score >= ST_SPAM_SCORE;
	model_domain(sender, dom, sizeof dom);
	model_agg_add(&st.agg[ST_SENDER_DOM], *dom != '\0' ? dom : "<>",
	    outcome, size, spam);
	model_agg_add(&st.agg[ST_SENDERS], *sender != '\0' ? sender : "<>",
	    outcome, size, spam);
	json_array_foreach(rcpts, i, r) {
		a = json_is_string(r) ? json_string_value(r) :
		    model_str(r, "address");
		o = json_is_object(r) && *model_str(r, "outcome") != '\0' ?
		    model_str(r, "outcome") : outcome;
		model_domain(a, dom, sizeof dom);
		model_agg_add(&st.agg[ST_RCPT_DOM], dom, o, size, spam);
		model_agg_add(&st.agg[ST_USERS], a, o, size, spam);
	}
}

static void
scan_done(void *arg, json_t *result, const char *code, const char *msg)
{
	json_t		*items, *rec;
	const char	*next;
	size_t		 i;

	(void)arg;
	st.scan_req = 0;
	ui_answered(PROTO_CMD_TRACKING_SEARCH, code);
	ui_dirty();
	if (code != NULL) {
		st.scanning = false;
		free(st.scan_err);
		st.scan_err = xstrdup(msg);
		return;
	}
	items = json_object_get(result, "items");
	json_array_foreach(items, i, rec)
		count_rec(rec);
	st.scanned += json_array_size(items);
	next = json_string_value(json_object_get(result, "next"));
	free(st.cursor);
	st.cursor = next != NULL ? xstrdup(next) : NULL;
	if (next == NULL || json_array_size(items) == 0) {
		st.scanning = false;
		st.scan_done = true;
	} else if (st.scanned >= ST_SCAN_MAX) {
		st.scanning = false;
		st.scan_done = st.capped = true;
	}
}

static void
scan_next(void)
{
	json_t	*args;

	if (!st.scanning || st.scan_req != 0 || !ui_connected())
		return;
	args = json_pack("{s:I, s:I, s:i}", "from_ms", (json_int_t)st.from_ms,
	    "to_ms", (json_int_t)st.to_ms, "limit", ST_SCAN_PAGE);
	if (st.cursor != NULL)
		json_object_set_new(args, "cursor", json_string(st.cursor));
	st.scan_req = ui_call(PROTO_CMD_TRACKING_SEARCH, args, scan_done,
	    NULL);
	json_decref(args);
	if (st.scan_req < 0) {
		st.scan_req = 0;
		st.scanning = false;
	}
}

/* Count everything again for the span ending now. */
static void
st_recount(void)
{
	size_t	i;
	json_t	*args;

	ui_cancel(st.scan_req);
	ui_cancel(st.hours_req);
	st.scan_req = st.hours_req = 0;
	st.to_ms = ui_now_ms() + 1;
	st.from_ms = st.to_ms - st_spans[st.span].ms;
	for (i = 0; i < ST_NTABS; i++) {
		model_agg_clear(&st.agg[i]);
		st.sel[i] = st.top[i] = 0;
	}
	free(st.cursor);
	st.cursor = NULL;
	free(st.scan_err);
	st.scan_err = NULL;
	st.scanned = 0;
	st.scan_done = st.capped = false;
	st.scanning = true;
	st.next_refresh = util_mono_ms() + ST_REFRESH_MS;
	if (!ui_connected())
		return;
	args = json_pack("{s:I, s:I}", "from_ms", (json_int_t)
	    model_hour_floor(st.from_ms), "to_ms", (json_int_t)st.to_ms);
	st.hours_req = ui_call(PROTO_CMD_STATS_GET, args, hours_done, NULL);
	json_decref(args);
	if (st.hours_req < 0)
		st.hours_req = 0;
	scan_next();
}

static void
st_enter(void)
{
	if (st.to_ms == 0 || util_mono_ms() >= st.next_refresh)
		st_recount();
}

static void
st_connected(void)
{
	st.scan_req = st.hours_req = 0;
	if (ui_current() == &ui_view_stats)
		st_recount();
	else
		st.to_ms = 0;	/* recount when shown */
}

static void
st_disconnected(void)
{
	st.scan_req = st.hours_req = 0;
}

static void
st_tick(uint64_t now)
{
	if (now >= st.next_refresh && !st.scanning)
		st_recount();
	scan_next();
}

static size_t
tab_rows(enum st_tab t)
{
	struct model_agg_row	**rows;

	if (t == ST_HOURS)
		return (size_t)(st_spans[st.span].ms / 3600000LL);
	return model_agg_sort(&st.agg[t], &rows);
}

static bool
st_key(int k)
{
	long	delta;
	bool	home, end;
	size_t	n;
	long	s;

	switch (k) {
	case UI_FN(KEY_RIGHT):
	case 'l':
		st.tab = (st.tab + 1) % ST_NTABS;
		return true;
	case UI_FN(KEY_LEFT):
	case 'h':
		st.tab = (st.tab + ST_NTABS - 1) % ST_NTABS;
		return true;
	case 'H':
		st.tab = ST_HOURS;
		return true;
	case 'd':
		st.tab = ST_RCPT_DOM;
		return true;
	case 'D':
		st.tab = ST_SENDER_DOM;
		return true;
	case 'u':
		st.tab = ST_USERS;
		return true;
	case 's':
		st.tab = ST_SENDERS;
		return true;
	case '[':
		if (st.span > 0) {
			st.span--;
			st_recount();
		}
		return true;
	case ']':
		if (st.span + 1 < ST_NSPANS) {
			st.span++;
			st_recount();
		}
		return true;
	case 'r':
	case UI_FN(KEY_F(5)):
		st_recount();
		return true;
	}
	if (!ui_move_key(k, st.rows, &delta, &home, &end))
		return false;
	n = tab_rows(st.tab);
	s = (long)st.sel[st.tab] + delta;
	if (home)
		s = 0;
	if (end || s >= (long)n)
		s = (long)n - 1;
	if (s < 0)
		s = 0;
	st.sel[st.tab] = (size_t)s;
	return true;
}

/* --- drawing ------------------------------------------------------------ */

static void
scroll_to(enum st_tab t, size_t n)
{
	if (n == 0) {
		st.sel[t] = st.top[t] = 0;
		return;
	}
	if (st.sel[t] >= n)
		st.sel[t] = n - 1;
	if (st.sel[t] < st.top[t])
		st.top[t] = st.sel[t];
	if (st.sel[t] >= st.top[t] + (size_t)st.rows)
		st.top[t] = st.sel[t] - (size_t)st.rows + 1;
}

enum { H_HOUR, H_TOTAL, H_IN, H_OUT, H_RELAYED, H_QUAR, H_BLOCKED, H_TEMPF,
    H_BAR, H_N };

static void
draw_hours(WINDOW *w, int y, int x, int h, int width)
{
	static const struct model_col cols[H_N] = {
		[H_HOUR] = { "HOUR", 11, 11, 0, 0, false, 0 },
		[H_TOTAL] = { "TOTAL", 6, 8, 0, 0, true, 0 },
		[H_IN] = { "IN", 6, 8, 0, 2, true, 0 },
		[H_OUT] = { "OUT", 6, 8, 0, 2, true, 0 },
		[H_RELAYED] = { "RELAYED", 7, 8, 0, 0, true, 0 },
		[H_QUAR] = { "QUAR", 6, 8, 0, 0, true, 0 },
		[H_BLOCKED] = { "BLOCKED", 7, 8, 0, 1, true, 0 },
		[H_TEMPF] = { "TEMPF", 6, 8, 0, 0, true, 0 },
		[H_BAR] = { "", 4, 0, 1, 3, false, 0 },
	};
	static const char *const fields[H_N][3] = {
		[H_TOTAL] = { NULL, NULL, NULL },
		[H_IN] = { "direction", "inbound", NULL },
		[H_OUT] = { "direction", "outbound", NULL },
		[H_RELAYED] = { "outcome", "relayed", NULL },
		[H_QUAR] = { "outcome", "quarantined", NULL },
		[H_BLOCKED] = { "outcome", "blocked", "rejected" },
		[H_TEMPF] = { "outcome", "tempfailed", NULL },
	};
	struct model_col	 c[H_N];
	size_t			 n = tab_rows(ST_HOURS), i, j, hi;
	int64_t			*v[H_N], *tmp, from, max = 0;
	char			 cell[H_N][32], spark[4096], note[256];
	const char		*t[H_N];
	enum ui_style		 sty[H_N];
	int			 row, bw;

	if (st.hours == NULL) {
		snprintf(note, sizeof note, "%s", st.hours_err != NULL ?
		    st.hours_err : "loading...");
		ui_draw_note(w, y, x, h, width, st.hours_err != NULL ?
		    UI_S_ERROR : UI_S_DIM, note);
		return;
	}
	from = model_hour_floor(st.to_ms - 1) - (int64_t)(n - 1) * 3600000LL;
	tmp = xreallocarray(NULL, n, sizeof *tmp);
	for (j = 1; j < H_BAR; j++) {
		v[j] = xreallocarray(NULL, n, sizeof *v[j]);
		model_hours_series(st.hours, from, n, fields[j][0],
		    fields[j][1], v[j]);
		if (fields[j][2] != NULL) {
			model_hours_series(st.hours, from, n, fields[j][0],
			    fields[j][2], tmp);
			for (i = 0; i < n; i++)
				v[j][i] += tmp[i];
		}
	}
	for (i = 0; i < n; i++)
		max = v[H_TOTAL][i] > max ? v[H_TOTAL][i] : max;
	/* The span as one sparkline, oldest to newest. */
	ui_put(w, y, x, 10, UI_S_BOLD, UI_FIT_RAW, "messages");
	if (n <= (size_t)(width - 12)) {
		ui_text_sparkline(v[H_TOTAL], n, spark, sizeof spark);
		ui_put(w, y, x + 10, width - 10, UI_S_SPARK, UI_FIT_RAW, spark);
	} else {
		/* More hours than columns: the newest that fit. */
		size_t	fit = (size_t)(width - 12);

		ui_text_sparkline(v[H_TOTAL] + (n - fit), fit, spark,
		    sizeof spark);
		ui_put(w, y, x + 10, width - 10, UI_S_SPARK, UI_FIT_RAW, spark);
	}
	memcpy(c, cols, sizeof cols);
	model_cols_layout(c, H_N, width);
	ui_table_head(w, y + 1, x, width, c, H_N);
	st.rows = h - 2 > 1 ? h - 2 : 1;
	scroll_to(ST_HOURS, n);
	for (row = 0, i = st.top[ST_HOURS]; i < n && row < st.rows; i++,
	    row++) {
		hi = n - 1 - i;		/* newest first */
		ui_text_time(from + (int64_t)hi * 3600000LL, ui_now_ms(),
		    cell[H_HOUR], sizeof cell[H_HOUR]);
		t[H_HOUR] = cell[H_HOUR];
		for (j = 1; j < H_BAR; j++) {
			ui_text_grouped(v[j][hi], cell[j], sizeof cell[j]);
			t[j] = cell[j];
			sty[j] = v[j][hi] > 0 && j >= H_QUAR ?
			    (j == H_QUAR ? UI_S_QUAR : j == H_BLOCKED ?
			    UI_S_BAD : UI_S_WARN) : UI_S_NORMAL;
		}
		sty[H_HOUR] = UI_S_NORMAL;
		bw = max > 0 ? (int)(v[H_TOTAL][hi] * c[H_BAR].width / max) : 0;
		memset(cell[H_BAR], '#', (size_t)(bw < 31 ? bw : 31));
		cell[H_BAR][bw < 31 ? bw : 31] = '\0';
		t[H_BAR] = cell[H_BAR];
		sty[H_BAR] = UI_S_SPARK;
		ui_table_row(w, y + 2 + row, x, width, i == st.sel[ST_HOURS] ?
		    UI_S_SEL : UI_S_NORMAL, c, H_N, t, sty);
	}
	for (j = 1; j < H_BAR; j++)
		free(v[j]);
	free(tmp);
}

enum { K_KEY, K_TOTAL, K_RELAYED, K_QUAR, K_BLOCKED, K_TEMPF, K_SPAM,
    K_BYTES, K_N };

static void
draw_keys_table(WINDOW *w, int y, int x, int h, int width)
{
	static const struct model_col cols[K_N] = {
		[K_KEY] = { "", 16, 0, 1, 0, false, 0 },
		[K_TOTAL] = { "MSGS", 6, 8, 0, 0, true, 0 },
		[K_RELAYED] = { "RELAYED", 7, 8, 0, 0, true, 0 },
		[K_QUAR] = { "QUAR", 6, 8, 0, 0, true, 0 },
		[K_BLOCKED] = { "BLOCKED", 7, 8, 0, 1, true, 0 },
		[K_TEMPF] = { "TEMPF", 6, 8, 0, 0, true, 0 },
		[K_SPAM] = { "SPAM", 6, 8, 0, 2, true, 0 },
		[K_BYTES] = { "BYTES", 6, 8, 0, 3, true, 0 },
	};
	static const enum model_agg_col map[K_N] = {
		[K_TOTAL] = MODEL_AGG_TOTAL, [K_RELAYED] = MODEL_AGG_RELAYED,
		[K_QUAR] = MODEL_AGG_QUARANTINED,
		[K_BLOCKED] = MODEL_AGG_BLOCKED,
		[K_TEMPF] = MODEL_AGG_TEMPFAILED, [K_SPAM] = MODEL_AGG_SPAM,
	};
	struct model_col	  c[K_N];
	struct model_agg_row	**rows, *r;
	char			  cell[K_N][32];
	const char		 *t[K_N];
	enum ui_style		  sty[K_N];
	size_t			  n, i, j;
	int			  row;

	n = model_agg_sort(&st.agg[st.tab], &rows);
	memcpy(c, cols, sizeof cols);
	c[K_KEY].title = st.tab == ST_USERS ? "RECIPIENT" : st.tab ==
	    ST_SENDERS ? "SENDER" : "DOMAIN";
	model_cols_layout(c, K_N, width);
	ui_table_head(w, y, x, width, c, K_N);
	if (n == 0) {
		ui_draw_note(w, y + 1, x, h - 1, width, st.scan_err != NULL ?
		    UI_S_ERROR : UI_S_DIM, st.scan_err != NULL ? st.scan_err :
		    st.scanning ? "counting..." : "no messages in this span");
		return;
	}
	st.rows = h - 1 > 1 ? h - 1 : 1;
	scroll_to(st.tab, n);
	for (row = 0, i = st.top[st.tab]; i < n && row < st.rows; i++, row++) {
		r = rows[i];
		t[K_KEY] = r->key;
		sty[K_KEY] = UI_S_NORMAL;
		for (j = 1; j < K_N; j++) {
			if (j == K_BYTES)
				ui_text_size(r->bytes, cell[j], sizeof cell[j]);
			else
				ui_text_grouped(r->n[map[j]], cell[j],
				    sizeof cell[j]);
			t[j] = cell[j];
			sty[j] = UI_S_NORMAL;
		}
		if (r->n[MODEL_AGG_QUARANTINED] > 0)
			sty[K_QUAR] = UI_S_QUAR;
		if (r->n[MODEL_AGG_BLOCKED] > 0)
			sty[K_BLOCKED] = UI_S_BAD;
		if (r->n[MODEL_AGG_TEMPFAILED] > 0)
			sty[K_TEMPF] = UI_S_WARN;
		ui_table_row(w, y + 1 + row, x, width, i == st.sel[st.tab] ?
		    UI_S_SEL : UI_S_NORMAL, c, K_N, t, sty);
	}
}

static void
st_draw(WINDOW *w, int y, int x, int h, int width)
{
	char	title[512], n[32];
	size_t	i;
	int	tx;

	if (h < 4)
		return;
	ui_text_grouped((int64_t)st.scanned, n, sizeof n);
	snprintf(title, sizeof title, "Statistics \xc2\xb7 last %s \xc2\xb7 %s",
	    st_spans[st.span].name, st.tab == ST_HOURS ? "hourly counters" :
	    "");
	if (st.tab != ST_HOURS)
		snprintf(title + strlen(title), sizeof title - strlen(title),
		    "%s %s tracking records%s %s", st.scanning ? "counting" :
		    "from", n, st.capped ? " (the newest; more exist)" : "",
		    st.scanning ? ui_spinner() : "");
	ui_put(w, y, x, width, UI_S_TITLE, 0, title);
	tx = x;
	for (i = 0; i < ST_NTABS && tx < x + width; i++) {
		snprintf(title, sizeof title, " %s ", st_tab_names[i]);
		tx += ui_put(w, y + 1, tx, x + width - tx, i == st.tab ?
		    UI_S_TAB : UI_S_NORMAL, UI_FIT_RAW, title);
	}
	if (st.tab == ST_HOURS)
		draw_hours(w, y + 2, x, h - 2, width);
	else
		draw_keys_table(w, y + 2, x, h - 2, width);
}

const struct ui_view ui_view_stats = {
	.name = "Statistics",
	.short_name = "Stats",
	.keys = st_keys,
	.init = st_init,
	.free = st_free,
	.enter = st_enter,
	.connected = st_connected,
	.disconnected = st_disconnected,
	.draw = st_draw,
	.key = st_key,
	.tick = st_tick,
};
