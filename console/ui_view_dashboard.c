/*
 * Dashboard: the node at a glance. Messages per minute from live
 * tracking events, today's counts and 24 hourly sparklines from stats.get,
 * the quarantine size (when this moatd has quarantine.*), next-hop health
 * from what the relay answered lately, uptime, version, node.
 * Console thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ui.h"
#include "ui_text.h"
#include "util.h"
#include "xmalloc.h"

#define DASH_STATS_EVERY_MS	10000
#define DASH_EVENT_DELAY_MS	1000	/* refresh this soon after mail */
#define DASH_HOURS		24
#define DASH_SEED		20	/* records read at connect for health */

static const struct ui_keyhelp dash_keys[] = {
	{ "r", "refresh now", NULL, true },
	{ "3", "live tracking", NULL, true },
	{ "2", "quarantine", NULL, true },
	{ NULL, NULL, NULL, false },
};

static struct {
	json_t			*day;		/* stats.get, last 24 hours */
	json_t			*today;		/* stats.get since midnight */
	int64_t			 day_req;
	int64_t			 today_req;
	char			*stats_err;
	uint64_t		 next_ms;
	struct model_rate	 rate;
	/* next hop, from records seen */
	int64_t			 relay_ok_ms;	/* wall clock */
	int64_t			 relay_ok_took;
	int64_t			 relay_fail_ms;
	char			*relay_fail;	/* its reply */
	unsigned		 fails_in_row;
	bool			 relay_seen;
	/* quarantine size */
	int64_t			 quar_req;
	int64_t			 quar_total;	/* -1 unknown */
	bool			 quar_more;	/* a page was full: "N+" */
	int64_t			 seed_req;
} dash;

static void
dash_init(void)
{
	model_rate_init(&dash.rate);
	dash.quar_total = -1;
}

static void
dash_free(void)
{
	json_decref(dash.day);
	json_decref(dash.today);
	free(dash.stats_err);
	free(dash.relay_fail);
}

/* Midnight of today, local time, in ms. */
static int64_t
local_midnight_ms(int64_t now_ms)
{
	struct tm	tm;
	time_t		t = (time_t)(now_ms / 1000);

	if (localtime_r(&t, &tm) == NULL)
		return now_ms - 86400 * 1000LL;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm) * 1000;
}

static void
day_done(void *arg, json_t *result, const char *code, const char *msg)
{
	(void)arg;
	dash.day_req = 0;
	ui_answered(PROTO_CMD_STATS_GET, code);
	if (code != NULL) {
		free(dash.stats_err);
		dash.stats_err = xstrdup(msg);
		return;
	}
	free(dash.stats_err);
	dash.stats_err = NULL;
	json_decref(dash.day);
	dash.day = json_incref(result);
	ui_dirty();
}

static void
today_done(void *arg, json_t *result, const char *code, const char *msg)
{
	(void)arg;
	(void)msg;
	dash.today_req = 0;
	if (code != NULL)
		return;
	json_decref(dash.today);
	dash.today = json_incref(result);
	ui_dirty();
}

static void
quar_done(void *arg, json_t *result, const char *code, const char *msg)
{
	int64_t	t;

	(void)arg;
	(void)msg;
	dash.quar_req = 0;
	if (ui_answered("quarantine.list", code) || code != NULL)
		return;
	t = model_int(result, "total", -1);
	if (t < 0)
		t = model_int(result, "count", -1);
	dash.quar_more = false;
	if (t < 0) {
		/* No total in the answer: count a page, say "N+" if full. */
		t = (int64_t)json_array_size(json_object_get(result, "items"));
		dash.quar_more = json_is_string(json_object_get(result,
		    "next"));
	}
	dash.quar_total = t;
	ui_dirty();
}

/* A finished message: rate and next-hop health. */
static void
dash_record(json_t *rec, bool live)
{
	const char	*o = model_str(rec, "outcome");
	const char	*rr = model_str(rec, "relay_reply");
	const char	*reply = model_str(rec, "reply");
	int64_t		 t = model_int(rec, "time_ms", 0);

	if (live)
		model_rate_add(&dash.rate, util_wall_ms() / 1000,
		    strcmp(model_str(rec, "direction"), "outbound") == 0);
	if (*rr != '\0' && rr[0] == '2') {
		if (t >= dash.relay_ok_ms) {
			dash.relay_ok_ms = t;
			dash.relay_ok_took = model_int(rec, "relay_ms", -1);
			if (t >= dash.relay_fail_ms)
				dash.fails_in_row = 0;
		}
		dash.relay_seen = true;
	} else if (strcmp(o, "tempfailed") == 0 && (*rr == '\0' ||
	    rr[0] == '4') && t >= dash.relay_fail_ms) {
		/* The next hop refused for now or could not be reached. */
		dash.relay_fail_ms = t;
		free(dash.relay_fail);
		dash.relay_fail = xstrdup(*rr != '\0' ? rr : reply);
		if (t >= dash.relay_ok_ms)
			dash.fails_in_row++;
		dash.relay_seen = true;
	}
}

static void
seed_done(void *arg, json_t *result, const char *code, const char *msg)
{
	json_t	*items, *r;
	size_t	 i;

	(void)arg;
	(void)msg;
	dash.seed_req = 0;
	if (code != NULL)
		return;
	items = json_object_get(result, "items");
	for (i = json_array_size(items); i > 0; i--) {
		r = json_array_get(items, i - 1);
		dash_record(r, false);
	}
	ui_dirty();
}

static void
dash_refresh(void)
{
	int64_t	 now = ui_now_ms();
	int64_t	 from = model_hour_floor(now) - (DASH_HOURS - 1) * 3600000LL;
	json_t	*args;

	dash.next_ms = util_mono_ms() + DASH_STATS_EVERY_MS;
	if (!ui_connected())
		return;
	if (dash.day_req == 0) {
		args = json_pack("{s:I, s:I}", "from_ms", (json_int_t)from,
		    "to_ms", (json_int_t)now + 1);
		dash.day_req = ui_call(PROTO_CMD_STATS_GET, args, day_done,
		    NULL);
		json_decref(args);
		if (dash.day_req < 0)
			dash.day_req = 0;
	}
	if (dash.today_req == 0) {
		args = json_pack("{s:I, s:I}", "from_ms", (json_int_t)
		    model_hour_floor(local_midnight_ms(now)), "to_ms",
		    (json_int_t)now + 1);
		dash.today_req = ui_call(PROTO_CMD_STATS_GET, args, today_done,
		    NULL);
		json_decref(args);
		if (dash.today_req < 0)
			dash.today_req = 0;
	}
	if (dash.quar_req == 0 && ui_have("quarantine") != UI_HAVE_NO) {
		args = json_pack("{s:i}", "limit", 100);
		dash.quar_req = ui_call("quarantine.list", args, quar_done,
		    NULL);
		json_decref(args);
		if (dash.quar_req < 0)
			dash.quar_req = 0;
	}
}

static void
dash_connected(void)
{
	json_t	*args = json_pack("{s:i}", "limit", DASH_SEED);

	dash.day_req = dash.today_req = dash.quar_req = 0;
	dash.seed_req = ui_call(PROTO_CMD_TRACKING_SEARCH, args, seed_done,
	    NULL);
	json_decref(args);
	dash_refresh();
}

static void
dash_disconnected(void)
{
	dash.day_req = dash.today_req = dash.quar_req = dash.seed_req = 0;
}

static void
dash_enter(void)
{
	dash_refresh();
}

static void
dash_tick(uint64_t now)
{
	if (now >= dash.next_ms)
		dash_refresh();
}

static void
dash_event(const char *name, json_t *data)
{
	uint64_t	soon = util_mono_ms() + DASH_EVENT_DELAY_MS;

	if (strcmp(name, PROTO_EV_TRACKING) != 0)
		return;
	dash_record(data, true);
	if (dash.next_ms > soon)
		dash.next_ms = soon;
}

static bool
dash_key(int k)
{
	if (k == 'r' || k == UI_FN(KEY_F(5))) {
		dash_refresh();
		ui_message(UI_S_NORMAL, "refreshing");
		return true;
	}
	return false;
}

/* --- drawing ------------------------------------------------------------ */

#define LABEL_W	15

static void
draw_label(WINDOW *w, int y, int x, const char *label)
{
	ui_put(w, y, x, LABEL_W, UI_S_BOLD, UI_FIT_RAW | UI_FIT_PAD, label);
}

static void
draw_identity(WINDOW *w, int y, int x, int width)
{
	json_t	*st = ui_status();
	char	 up[32], line[512];
	int64_t	 secs;

	if (st == NULL) {
		ui_put(w, y, x, width, UI_S_DIM, UI_FIT_RAW, ui_connected() ?
		    "asking moatd for its status..." : "no status yet");
		return;
	}
	secs = model_int(st, "uptime_s", 0) + (int64_t)((util_mono_ms() -
	    ui_status_mono()) / 1000);
	ui_text_duration(secs, up, sizeof up);
	snprintf(line, sizeof line, "node %s \xc2\xb7 moatd %s \xc2\xb7 up %s "
	    "\xc2\xb7 %lld session%s, %lld in flight \xc2\xb7 role %s",
	    model_str(st, "node"), model_str(st, "version"), up,
	    (long long)model_int(st, "sessions", 0),
	    model_int(st, "sessions", 0) == 1 ? "" : "s",
	    (long long)model_int(st, "inflight", 0), model_str(st, "role"));
	ui_put(w, y, x, width, UI_S_TITLE, 0, line);

}

static void
draw_rate(WINDOW *w, int y, int x, int width)
{
	uint32_t	in, out;
	int64_t		last_hour = 0, hour[1];
	char		line[256];

	model_rate_sum(&dash.rate, util_wall_ms() / 1000, &in, &out);
	draw_label(w, y, x, "Messages/min");
	if (dash.day != NULL) {
		/* The previous full hour from the hourly counters. */
		model_hours_series(dash.day, model_hour_floor(ui_now_ms()) -
		    3600000, 1, NULL, NULL, hour);
		last_hour = hour[0];
	}
	snprintf(line, sizeof line, "in %u  out %u  (last minute, live)   "
	    "previous hour %.1f/min", in, out, (double)last_hour / 60);
	ui_put(w, y, x + LABEL_W, width - LABEL_W, UI_S_NORMAL, 0, line);
}

static void
draw_next_hop(WINDOW *w, int y, int x, int width)
{
	char		line[512], when[32];
	int64_t		now = ui_now_ms();
	enum ui_style	st = UI_S_GOOD;

	draw_label(w, y, x, "Next hop");
	if (!dash.relay_seen) {
		ui_put(w, y, x + LABEL_W, width - LABEL_W, UI_S_DIM, UI_FIT_RAW,
		    "no relay seen yet");
		return;
	}
	if (dash.fails_in_row > 0) {
		ui_text_time(dash.relay_fail_ms, now, when, sizeof when);
		snprintf(line, sizeof line, "FAILING: %u tempfail%s in a row, "
		    "last at %s: %s", dash.fails_in_row, dash.fails_in_row == 1 ?
		    "" : "s", when, dash.relay_fail != NULL ? dash.relay_fail :
		    "");
		st = UI_S_BAD;
	} else {
		ui_text_time(dash.relay_ok_ms, now, when, sizeof when);
		if (dash.relay_ok_took >= 0)
			snprintf(line, sizeof line, "ok: last relayed at %s "
			    "(%lld ms)", when, (long long)dash.relay_ok_took);
		else
			snprintf(line, sizeof line, "ok: last relayed at %s",
			    when);
	}
	ui_put(w, y, x + LABEL_W, width - LABEL_W, st, 0, line);
}

static void
draw_quarantine(WINDOW *w, int y, int x, int width)
{
	char	line[256], n[32];

	draw_label(w, y, x, "Quarantine");
	if (ui_have("quarantine") == UI_HAVE_NO) {
		ui_unavailable_text("quarantine", line, sizeof line);
		ui_put(w, y, x + LABEL_W, width - LABEL_W, UI_S_DIM, UI_FIT_RAW,
		    line);
		return;
	}
	if (dash.quar_total < 0) {
		ui_put(w, y, x + LABEL_W, width - LABEL_W, UI_S_DIM, UI_FIT_RAW,
		    "-");
		return;
	}
	ui_text_grouped(dash.quar_total, n, sizeof n);
	snprintf(line, sizeof line, "%s%s message%s", n, dash.quar_more ? "+" :
	    "", dash.quar_total == 1 && !dash.quar_more ? "" : "s");
	ui_put(w, y, x + LABEL_W, width - LABEL_W, dash.quar_total > 0 ?
	    UI_S_QUAR : UI_S_NORMAL, 0, line);
}

/* Today's counts: the verdicts and outcomes moatd reports, in a stable
 * order. Returns the rows used. */
static int
draw_today(WINDOW *w, int y, int x, int width, int maxrows)
{
	static const char *const order[] = { "clean", "spam", "virus",
	    "blocked", "greylisted", "tempfailed", "relayed", "quarantined",
	    "rejected", "released", "deleted", NULL };
	json_t		*totals, *v, *sets[2];
	const char	*k;
	char		 cell[96], n[32];
	int		 cx, row = 0, cw = 18;
	size_t		 i, s;
	bool		 known;

	draw_label(w, y, x, "Today");
	if (dash.today == NULL) {
		ui_put(w, y, x + LABEL_W, width - LABEL_W, UI_S_DIM, UI_FIT_RAW,
		    dash.stats_err != NULL ? dash.stats_err : "-");
		return 1;
	}
	totals = json_object_get(dash.today, "totals");
	sets[0] = json_object_get(dash.today, "verdicts");
	sets[1] = totals;
	cx = x + LABEL_W;
	/* Known names first, in order, then any others moatd reports. */
	for (s = 0; s < 2; s++) {
		for (i = 0; order[i] != NULL; i++) {
			if ((v = json_object_get(sets[s], order[i])) == NULL ||
			    (s == 1 && json_object_get(sets[0], order[i]) !=
			    NULL))
				continue;
			ui_text_grouped(json_integer_value(v), n, sizeof n);
			snprintf(cell, sizeof cell, "%s %s", order[i], n);
			if (cx + cw > x + width) {
				if (++row >= maxrows)
					return row;
				cx = x + LABEL_W;
			}
			ui_put(w, y + row, cx, cw, json_integer_value(v) > 0 ?
			    ui_outcome_style(order[i]) : UI_S_NORMAL, 0, cell);
			cx += cw;
		}
		json_object_foreach(sets[s], k, v) {
			known = false;
			for (i = 0; order[i] != NULL; i++)
				known = known || strcmp(order[i], k) == 0;
			if (known || !json_is_integer(v))
				continue;
			ui_text_grouped(json_integer_value(v), n, sizeof n);
			snprintf(cell, sizeof cell, "%s %s", k, n);
			if (cx + cw > x + width) {
				if (++row >= maxrows)
					return row;
				cx = x + LABEL_W;
			}
			ui_put(w, y + row, cx, cw, UI_S_NORMAL, 0, cell);
			cx += cw;
		}
	}
	return row + 1;
}

static void
draw_since_start(WINDOW *w, int y, int x, int width)
{
	json_t	*c = json_object_get(ui_status(), "counters");
	char	 line[256], m[32], conns[32], bytes[32];

	draw_label(w, y, x, "Since start");
	if (c == NULL) {
		ui_put(w, y, x + LABEL_W, width - LABEL_W, UI_S_DIM, UI_FIT_RAW,
		    "-");
		return;
	}
	ui_text_grouped(model_int(c, "messages", 0), m, sizeof m);
	ui_text_grouped(model_int(c, "connections", 0), conns, sizeof conns);
	ui_text_size(model_int(c, "bytes", 0), bytes, sizeof bytes);
	snprintf(line, sizeof line, "%s messages, %s connections, %lld "
	    "refused, %s bytes", m, conns, (long long)model_int(c, "refused",
	    0), bytes);
	ui_put(w, y, x + LABEL_W, width - LABEL_W, UI_S_NORMAL, 0, line);
}

/* Does any hourly row carry a verdict? Then spam and virus are real. */
static bool
rows_have(const char *field)
{
	json_t	*row;
	size_t	 i;

	json_array_foreach(json_object_get(dash.day, "hours"), i, row) {
		if (json_object_get(row, field) != NULL)
			return true;
	}
	return false;
}

static void
draw_sparks(WINDOW *w, int y, int x, int width, int rows)
{
	struct series {
		const char	*label;
		const char	*field;
		const char	*value;
		const char	*also;	/* a second value (same field) */
	};
	struct series	 with_verdicts[] = {
		{ "messages", NULL, NULL, NULL },
		{ "spam", "verdict", "spam", NULL },
		{ "virus", "verdict", "virus", NULL },
		{ "tempfailed", "outcome", "tempfailed", NULL },
		{ "quarantined", "outcome", "quarantined", NULL },
	};
	struct series	 by_outcome[] = {
		{ "messages", NULL, NULL, NULL },
		{ "quarantined", "outcome", "quarantined", NULL },
		{ "blocked", "outcome", "blocked", "rejected" },
		{ "tempfailed", "outcome", "tempfailed", NULL },
		{ "relayed", "outcome", "relayed", NULL },
	};
	struct series	*s;
	json_t		*vstats;
	int64_t		 v[DASH_HOURS], v2[DASH_HOURS], wide[DASH_HOURS * 4];
	int64_t		 from, max, total;
	char		 spark[DASH_HOURS * 4 * 3 + 8], line[64], a[16], b[16];
	size_t		 i, j, ns;
	int		 k, sx;

	draw_label(w, y, x, "Last 24 hours");
	if (dash.day == NULL) {
		ui_put(w, y, x + LABEL_W, width - LABEL_W, UI_S_DIM, UI_FIT_RAW,
		    dash.stats_err != NULL ? dash.stats_err : "loading...");
		return;
	}
	/* Columns per hour: 1 at 80 columns, up to 4 on wide terminals. */
	k = (width - LABEL_W - 24) / DASH_HOURS;
	k = k < 1 ? 1 : k > 4 ? 4 : k;
	sx = x + LABEL_W;
	snprintf(line, sizeof line, "-%dh", DASH_HOURS);
	ui_put(w, y, sx, 5, UI_S_DIM, UI_FIT_RAW, line);
	ui_put(w, y, sx + DASH_HOURS * k - 3, 3, UI_S_DIM, UI_FIT_RAW, "now");
	ui_put(w, y, sx + DASH_HOURS * k + 1, 20, UI_S_DIM, UI_FIT_RAW,
	    " max/h  total");
	/* moatd counts verdicts per hour apart ("verdict_hours"): read them
	 * as a stats object of their own so "messages" is not counted twice. */
	vstats = json_pack("{s:O?}", "hours",
	    json_object_get(dash.day, "verdict_hours"));
	s = rows_have("verdict") || json_array_size(json_object_get(dash.day,
	    "verdict_hours")) > 0 ? with_verdicts : by_outcome;
	ns = 5;
	from = model_hour_floor(ui_now_ms()) - (DASH_HOURS - 1) * 3600000LL;
	for (i = 0; i < ns && (int)i + 1 < rows; i++) {
		model_hours_series(s[i].field != NULL &&
		    strcmp(s[i].field, "verdict") == 0 && vstats != NULL ?
		    vstats : dash.day, from, DASH_HOURS, s[i].field,
		    s[i].value, v);
		if (s[i].also != NULL) {
			model_hours_series(dash.day, from, DASH_HOURS,
			    s[i].field, s[i].also, v2);
			for (j = 0; j < DASH_HOURS; j++)
				v[j] += v2[j];
		}
		max = total = 0;
		for (j = 0; j < DASH_HOURS; j++) {
			total += v[j];
			if (v[j] > max)
				max = v[j];
			for (int r = 0; r < k; r++)
				wide[j * (size_t)k + (size_t)r] = v[j];
		}
		ui_text_sparkline(wide, DASH_HOURS * (size_t)k, spark,
		    sizeof spark);
		ui_put(w, y + 1 + (int)i, x + 2, LABEL_W - 2, UI_S_NORMAL,
		    UI_FIT_RAW | UI_FIT_PAD, s[i].label);
		ui_put(w, y + 1 + (int)i, sx, DASH_HOURS * k, total > 0 ?
		    (i == 0 ? UI_S_SPARK : ui_outcome_style(s[i].label)) :
		    UI_S_DIM, UI_FIT_RAW, spark);
		ui_text_count(max, a, sizeof a);
		ui_text_count(total, b, sizeof b);
		snprintf(line, sizeof line, "%6s %6s", a, b);
		ui_put(w, y + 1 + (int)i, sx + DASH_HOURS * k + 1, 14,
		    UI_S_NORMAL, UI_FIT_RAW, line);
	}
	json_decref(vstats);
}

static void
dash_draw(WINDOW *w, int y, int x, int h, int width)
{
	int	row = y, end = y + h;

	if (h <= 0)
		return;
	draw_identity(w, row++, x + 1, width - 2);
	if (row < end)
		row++;
	if (row < end)
		draw_rate(w, row++, x + 1, width - 2);
	if (row < end)
		draw_next_hop(w, row++, x + 1, width - 2);
	if (row < end)
		draw_quarantine(w, row++, x + 1, width - 2);
	if (row < end)
		row++;
	if (row < end)
		row += draw_today(w, row, x + 1, width - 2, end - row);
	if (row < end)
		draw_since_start(w, row++, x + 1, width - 2);
	if (row < end)
		row++;
	if (row < end)
		draw_sparks(w, row, x + 1, width - 2, end - row);
}

const struct ui_view ui_view_dashboard = {
	.name = "Dashboard",
	.short_name = "Dash",
	.keys = dash_keys,
	.init = dash_init,
	.free = dash_free,
	.enter = dash_enter,
	.connected = dash_connected,
	.disconnected = dash_disconnected,
	.draw = dash_draw,
	.key = dash_key,
	.tick = dash_tick,
	.event = dash_event,
};
