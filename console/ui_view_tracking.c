/*
 * Tracking: the live tail of messages as they finish (pause, filter as you
 * type), a message's full record (tracking.get), and a search of past
 * records by time range paged through tracking.search.
 * Console thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"
#include "ui_text.h"
#include "util.h"
#include "xmalloc.h"

#define TRK_SEED	100	/* records read at connect to fill the tail */
#define TRK_PAGE	100

static const struct ui_keyhelp trk_keys[] = {
	{ "Enter", "open", NULL, true },
	{ "/", "filter", NULL, true },
	{ "p", "pause", NULL, true },
	{ "s", "search", PROTO_CMD_TRACKING_SEARCH, true },
	{ "L", "live", NULL, true },
	{ "c", "clear filter", NULL, false },
	{ NULL, NULL, NULL, false },
};

enum trk_mode {
	TRK_LIVE = 0,
	TRK_SEARCH,
};

static struct {
	enum trk_mode		 mode;
	struct model_tail	 tail;
	struct ui_list		 search;
	char			 range[128];	/* as typed */
	int64_t			 from_ms;
	int64_t			 to_ms;
	char			 filter_before[MODEL_FILTER_MAX];
	char			 search_text[MODEL_FILTER_MAX];
	int64_t			 seed_req;
	int			 rows;
	/* the open record */
	struct model_pager	 detail;
	char			 detail_qid[64];
	int64_t			 detail_req;
} trk;

static void
trk_init(void)
{
	model_tail_init(&trk.tail);
	ui_list_init(&trk.search, PROTO_CMD_TRACKING_SEARCH, "queue_id",
	    TRK_PAGE);
	model_pager_init(&trk.detail);
	trk.rows = 10;
}

static void
trk_free(void)
{
	model_tail_free(&trk.tail);
	ui_list_free(&trk.search);
	model_pager_clear(&trk.detail);
}

/* --- the record --------------------------------------------------------- */

static void
kv(const char *k, const char *v)
{
	model_pager_kv(&trk.detail, UI_S_NORMAL, 13, k, v);
}

static void
detail_fill(json_t *rec, const char *note)
{
	json_t		*rcpts, *r, *f;
	char		 buf[256], b2[64];
	const char	*s;
	double		 score;
	size_t		 i;

	model_pager_clear(&trk.detail);
	snprintf(buf, sizeof buf, "Message %s", model_str(rec, "queue_id"));
	model_pager_set_title(&trk.detail, buf);
	if (note != NULL)
		model_pager_add(&trk.detail, UI_S_DIM, note);
	kv("Queue id", model_str(rec, "queue_id"));
	ui_text_datetime(model_int(rec, "time_ms", 0), buf, sizeof buf);
	kv("Time", buf);
	kv("Node", model_str(rec, "node"));
	kv("Direction", model_str(rec, "direction"));
	snprintf(buf, sizeof buf, "%s%s%s%s%s", model_str(rec, "client_addr"),
	    *model_str(rec, "client_name") != '\0' ? " (" : "",
	    model_str(rec, "client_name"),
	    *model_str(rec, "client_name") != '\0' ? ")" : "",
	    "");
	kv("Client", buf);
	kv("HELO", model_str(rec, "helo"));
	kv("Sender", *model_str(rec, "sender") != '\0' ?
	    model_str(rec, "sender") : "<>");
	kv("Subject", model_str(rec, "subject"));
	kv("Message-ID", model_str(rec, "message_id"));
	ui_text_size(model_int(rec, "size", -1), b2, sizeof b2);
	snprintf(buf, sizeof buf, "%s bytes", b2);
	kv("Size", buf);
	model_pager_kv(&trk.detail, ui_outcome_style(model_str(rec,
	    "outcome")), 13, "Outcome", model_str(rec, "outcome"));
	if (model_num(rec, "score", &score)) {
		snprintf(buf, sizeof buf, "%.2f", score);
		kv("Score", buf);
	}
	if (*(s = model_str(rec, "verdict")) != '\0')
		kv("Verdict", s);
	kv("Reply", model_str(rec, "reply"));
	kv("Relay reply", model_str(rec, "relay_reply"));
	snprintf(buf, sizeof buf, "%lld ms (relay %lld ms)",
	    (long long)model_int(rec, "duration_ms", 0),
	    (long long)model_int(rec, "relay_ms", 0));
	kv("Took", buf);
	rcpts = json_object_get(rec, "rcpts");
	model_pager_add(&trk.detail, UI_S_NORMAL, "");
	model_pager_addf(&trk.detail, UI_S_TITLE, "Recipients (%zu)",
	    json_array_size(rcpts));
	json_array_foreach(rcpts, i, r) {
		if (json_is_string(r)) {
			model_pager_addf(&trk.detail, UI_S_NORMAL, "  %s",
			    json_string_value(r));
			continue;
		}
		model_pager_addf(&trk.detail, ui_outcome_style(model_str(r,
		    "outcome")), "  %s  %s", model_str(r, "address"),
		    model_str(r, "outcome"));
		if (*model_str(r, "reply") != '\0')
			model_pager_addf(&trk.detail, UI_S_DIM, "      %s",
			    model_str(r, "reply"));
	}
	f = json_object_get(rec, "findings");
	if (json_array_size(f) > 0) {
		model_pager_add(&trk.detail, UI_S_NORMAL, "");
		model_pager_addf(&trk.detail, UI_S_TITLE, "Findings (%zu)",
		    json_array_size(f));
		json_array_foreach(f, i, r) {
			score = 0;
			model_num(r, "score", &score);
			model_pager_addf(&trk.detail, UI_S_NORMAL,
			    "  %-24s %7.2f  %s", model_str(r, "symbol"), score,
			    model_str(r, "detail"));
		}
	}
}

static void
detail_done(void *arg, json_t *result, const char *code, const char *msg)
{
	(void)arg;
	trk.detail_req = 0;
	ui_dirty();
	if (!ui_overlay_is(&trk.detail))
		return;
	if (code != NULL) {
		model_pager_add(&trk.detail, UI_S_ERROR, "");
		model_pager_addf(&trk.detail, UI_S_ERROR, "tracking.get: %s",
		    msg);
		return;
	}
	detail_fill(result, NULL);
}

static void
detail_open(json_t *rec)
{
	const char	*qid = model_str(rec, "queue_id");
	json_t		*args;

	if (*qid == '\0')
		return;
	/* Show what we have at once; the stored record replaces it. */
	detail_fill(rec, "loading the stored record...");
	snprintf(trk.detail_qid, sizeof trk.detail_qid, "%s", qid);
	ui_overlay(&trk.detail, NULL, NULL);
	ui_cancel(trk.detail_req);
	args = json_pack("{s:s}", "queue_id", qid);
	trk.detail_req = ui_call(PROTO_CMD_TRACKING_GET, args, detail_done,
	    NULL);
	json_decref(args);
	if (trk.detail_req < 0)
		trk.detail_req = 0;
}

/* --- the live tail and the search --------------------------------------- */

static void
seed_done(void *arg, json_t *result, const char *code, const char *msg)
{
	(void)arg;
	trk.seed_req = 0;
	ui_answered(PROTO_CMD_TRACKING_SEARCH, code);
	if (code != NULL) {
		if (strcmp(code, ACLIENT_E_CLOSED) != 0)
			ui_error(PROTO_CMD_TRACKING_SEARCH, code, msg);
		return;
	}
	model_tail_prepend(&trk.tail, json_object_get(result, "items"));
	ui_dirty();
}

static void
trk_connected(void)
{
	json_t	*args = json_pack("{s:i}", "limit", TRK_SEED);

	trk.seed_req = ui_call(PROTO_CMD_TRACKING_SEARCH, args, seed_done,
	    NULL);
	json_decref(args);
	if (trk.seed_req < 0)
		trk.seed_req = 0;
	if (trk.mode == TRK_SEARCH)
		ui_list_refresh(&trk.search);
}

static void
trk_disconnected(void)
{
	trk.seed_req = trk.detail_req = 0;
}

static void
trk_event(const char *name, json_t *data)
{
	if (strcmp(name, PROTO_EV_TRACKING) == 0)
		model_tail_add(&trk.tail, data);
}

static void
search_start(void)
{
	json_t	*args;

	args = json_pack("{s:I, s:I}", "from_ms", (json_int_t)trk.from_ms,
	    "to_ms", (json_int_t)trk.to_ms);
	if (trk.search_text[0] != '\0')
		json_object_set_new(args, "text", json_string(
		    trk.search_text));
	trk.mode = TRK_SEARCH;
	ui_list_query(&trk.search, args);
}

static void
range_done(void *arg, const char *text)
{
	char	*cause = NULL;
	int64_t	 from, to;

	(void)arg;
	if (text == NULL)
		return;
	if (ui_text_parse_range(text, ui_now_ms(), &from, &to, &cause) == -1) {
		ui_message(UI_S_ERROR, "%s", cause);
		free(cause);
		return;
	}
	snprintf(trk.range, sizeof trk.range, "%s", *text != '\0' ? text :
	    "-1h");
	trk.from_ms = from;
	trk.to_ms = to;
	snprintf(trk.search_text, sizeof trk.search_text, "%s",
	    trk.tail.filter);
	search_start();
}

static void
filter_changed(void *arg, const char *text)
{
	(void)arg;
	if (trk.mode == TRK_LIVE)
		model_tail_set_filter(&trk.tail, text);
	ui_dirty();
}

static void
filter_done(void *arg, const char *text)
{
	(void)arg;
	if (trk.mode == TRK_SEARCH) {
		if (text == NULL)
			return;
		snprintf(trk.search_text, sizeof trk.search_text, "%s", text);
		search_start();
		return;
	}
	/* Esc puts the filter back as it was. */
	model_tail_set_filter(&trk.tail, text != NULL ? text :
	    trk.filter_before);
}

static bool
trk_key(int k)
{
	json_t	*rec;
	long	 delta;
	bool	 home, end;

	if (trk.mode == TRK_SEARCH && trk.search.list.seeking &&
	    k != UI_FN(KEY_END) && k != 'G') {
		model_list_seek_cancel(&trk.search.list);
		return true;
	}
	switch (k) {
	case '\n':
	case '\r':
	case UI_FN(KEY_ENTER):
	case UI_FN(KEY_RIGHT):
	case 'l':
		rec = trk.mode == TRK_LIVE ? model_tail_selected(&trk.tail,
		    NULL) : model_list_selected(&trk.search.list);
		if (rec != NULL)
			detail_open(rec);
		return true;
	case '/':
		if (trk.mode == TRK_LIVE) {
			snprintf(trk.filter_before, sizeof trk.filter_before,
			    "%s", trk.tail.filter);
			ui_prompt("filter (sender, rcpt, outcome, subject; "
			    "as you type): ", trk.tail.filter, filter_changed,
			    filter_done, NULL);
		} else
			ui_prompt("search text: ", trk.search_text, NULL,
			    filter_done, NULL);
		return true;
	case 'c':
		if (trk.mode == TRK_LIVE)
			model_tail_set_filter(&trk.tail, "");
		else {
			trk.search_text[0] = '\0';
			search_start();
		}
		return true;
	case 'p':
		if (trk.mode == TRK_LIVE) {
			model_tail_pause(&trk.tail, !trk.tail.paused);
			ui_message(UI_S_NORMAL, trk.tail.paused ? "paused: new "
			    "messages are counted, not shown (p resumes)" :
			    "live again");
		}
		return true;
	case 's':
		if (!ui_may(PROTO_CMD_TRACKING_SEARCH, NULL, 0))
			return true;
		ui_prompt("time range (-1h, -2d..-1d, 14:00..15:00, "
		    "2025-01-31): ", trk.range[0] != '\0' ? trk.range : "-1h",
		    NULL, range_done, NULL);
		return true;
	case 'L':
		trk.mode = TRK_LIVE;
		return true;
	case 'r':
		if (trk.mode == TRK_SEARCH)
			ui_list_refresh(&trk.search);
		return true;
	}
	if (trk.mode == TRK_SEARCH)
		return ui_list_key(&trk.search, k, trk.rows);
	if (!ui_move_key(k, trk.rows, &delta, &home, &end))
		return false;
	if (home)
		model_tail_home(&trk.tail);
	else if (end)
		model_tail_end(&trk.tail);
	else
		model_tail_move(&trk.tail, delta);
	return true;
}

static bool
trk_back(void)
{
	if (trk.mode == TRK_SEARCH) {
		trk.mode = TRK_LIVE;
		return true;
	}
	if (trk.tail.filter[0] != '\0') {
		model_tail_set_filter(&trk.tail, "");
		return true;
	}
	return false;
}

static void
trk_tick(uint64_t now)
{
	(void)now;
	if (trk.mode == TRK_SEARCH)
		ui_list_tick(&trk.search);
}

/* --- drawing ------------------------------------------------------------ */

enum { C_TIME, C_CLIENT, C_FROM, C_TO, C_SUBJECT, C_OUTCOME, C_SCORE,
    C_SIZE, C_N };

static void
layout(struct model_col *c, int width, bool dates)
{
	static const struct model_col cols[C_N] = {
		[C_TIME] = { "TIME", 8, 11, 0, 0, false, 0 },
		[C_CLIENT] = { "CLIENT", 9, 22, 1, 3, false, 0 },
		[C_FROM] = { "FROM", 10, 0, 3, 0, false, 0 },
		[C_TO] = { "TO", 10, 0, 3, 0, false, 0 },
		[C_SUBJECT] = { "SUBJECT", 10, 0, 4, 1, false, 0 },
		[C_OUTCOME] = { "OUTCOME", 11, 11, 0, 0, false, 0 },
		[C_SCORE] = { "SCORE", 5, 6, 0, 2, true, 0 },
		[C_SIZE] = { "SIZE", 5, 6, 0, 0, true, 0 },
	};

	memcpy(c, cols, sizeof cols);
	if (dates)
		c[C_TIME].min = 11;
	model_cols_layout(c, C_N, width);
}

static void
draw_rec(WINDOW *w, int y, int x, int width, struct model_col *c,
    json_t *rec, bool sel)
{
	char		 tm[32], rc[1024], score[16], size[16];
	const char	*t[C_N];
	enum ui_style	 st[C_N];
	double		 sc;
	size_t		 i;

	ui_text_time(model_int(rec, "time_ms", 0), ui_now_ms(), tm, sizeof tm);
	model_rcpts(rec, rc, sizeof rc);
	if (model_num(rec, "score", &sc))
		snprintf(score, sizeof score, "%.1f", sc);
	else
		snprintf(score, sizeof score, "-");
	ui_text_size(model_int(rec, "size", -1), size, sizeof size);
	t[C_TIME] = tm;
	t[C_CLIENT] = model_str(rec, "client_addr");
	t[C_FROM] = *model_str(rec, "sender") != '\0' ?
	    model_str(rec, "sender") : "<>";
	t[C_TO] = rc;
	t[C_SUBJECT] = model_str(rec, "subject");
	t[C_OUTCOME] = model_str(rec, "outcome");
	t[C_SCORE] = score;
	t[C_SIZE] = size;
	for (i = 0; i < C_N; i++)
		st[i] = UI_S_NORMAL;
	st[C_OUTCOME] = ui_outcome_style(t[C_OUTCOME]);
	ui_table_row(w, y, x, width, sel ? UI_S_SEL : UI_S_NORMAL, c, C_N, t,
	    st);
}

static void
draw_live(WINDOW *w, int y, int x, int h, int width)
{
	struct model_col	 c[C_N];
	char			 title[512], n[32];
	size_t			 i, idx = 0;
	int			 row;
	json_t			*sel;

	ui_text_grouped((int64_t)trk.tail.received, n, sizeof n);
	snprintf(title, sizeof title, "Live tracking \xc2\xb7 %s received "
	    "since the console started%s%s", n, trk.tail.filter[0] != '\0' ?
	    " \xc2\xb7 filter: " : "", trk.tail.filter);
	ui_put(w, y, x, width, UI_S_TITLE, 0, title);
	if (trk.tail.paused) {
		snprintf(title, sizeof title, " PAUSED +%llu ",
		    (unsigned long long)model_tail_hidden(&trk.tail));
		ui_put(w, y, x + width - (int)strlen(title), (int)strlen(title),
		    UI_S_WARN, UI_FIT_RAW, title);
	}
	trk.rows = h - 2 > 1 ? h - 2 : 1;
	model_tail_view(&trk.tail, (size_t)trk.rows);
	layout(c, width, false);
	ui_table_head(w, y + 1, x, width, c, C_N);
	if (trk.tail.nvis == 0) {
		ui_draw_note(w, y + 2, x, h - 2, width, UI_S_DIM,
		    trk.tail.filter[0] != '\0' ? "nothing matches the filter "
		    "(c clears it)" : ui_connected() ? "waiting for mail..." :
		    "not connected");
		return;
	}
	sel = model_tail_selected(&trk.tail, &idx);
	for (row = 0, i = trk.tail.top; i < trk.tail.nvis && row < trk.rows;
	    i++, row++)
		draw_rec(w, y + 2 + row, x, width, c, model_tail_rec(&trk.tail,
		    trk.tail.vis[i]), sel != NULL && i == idx);
}

static void
draw_search(WINDOW *w, int y, int x, int h, int width)
{
	struct model_col	 c[C_N];
	struct model_list	*l = &trk.search.list;
	char			 title[512], pos[96], a[32], b[32];
	size_t			 i;
	int			 row;
	json_t			*rec;

	ui_list_position(&trk.search, pos, sizeof pos);
	ui_text_datetime(trk.from_ms, a, sizeof a);
	ui_text_datetime(trk.to_ms, b, sizeof b);
	snprintf(title, sizeof title, "Search %s .. %s%s%s \xc2\xb7 %s %s",
	    a, b, trk.search_text[0] != '\0' ? " \xc2\xb7 text: " : "",
	    trk.search_text, pos, ui_slow(l->req) ? ui_spinner() : "");
	ui_put(w, y, x, width, UI_S_TITLE, 0, title);
	trk.rows = h - 2 > 1 ? h - 2 : 1;
	layout(c, width, true);
	ui_table_head(w, y + 1, x, width, c, C_N);
	if (trk.search.unknown) {
		ui_unavailable_text(PROTO_CMD_TRACKING_SEARCH, title,
		    sizeof title);
		ui_draw_note(w, y + 2, x, h - 2, width, UI_S_DIM, title);
		return;
	}
	if (l->error != NULL && model_list_known(l) == 0) {
		snprintf(title, sizeof title, "tracking.search: %s (r retries)",
		    l->error);
		ui_draw_note(w, y + 2, x, h - 2, width, UI_S_ERROR, title);
		return;
	}
	if (model_list_known(l) == 0) {
		ui_draw_note(w, y + 2, x, h - 2, width, UI_S_DIM, l->loaded ?
		    "no messages in this range" : "searching...");
		return;
	}
	model_list_scroll(l, (size_t)trk.rows);
	for (row = 0, i = l->top; row < trk.rows; i++, row++) {
		if ((rec = model_list_get(l, i)) == NULL)
			break;
		draw_rec(w, y + 2 + row, x, width, c, rec, i == l->sel);
	}
}

static void
trk_draw(WINDOW *w, int y, int x, int h, int width)
{
	if (h < 3)
		return;
	if (trk.mode == TRK_LIVE)
		draw_live(w, y, x, h, width);
	else
		draw_search(w, y, x, h, width);
}

const struct ui_view ui_view_tracking = {
	.name = "Tracking",
	.short_name = "Track",
	.keys = trk_keys,
	.init = trk_init,
	.free = trk_free,
	.connected = trk_connected,
	.disconnected = trk_disconnected,
	.draw = trk_draw,
	.key = trk_key,
	.back = trk_back,
	.tick = trk_tick,
	.event = trk_event,
};
