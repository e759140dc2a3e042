/*
 * Unit tests for the console's models (console/model.c), its text helpers
 * (console/ui_text.c: cleaning, display width with wide and combining
 * characters, fitting, formats, sparklines, typed times), the
 * non-blocking client (shared/aclient.c) and the connection object
 * (console/conn.c) over socketpairs. No terminal is involved.
 */
#include <sys/socket.h>

#include <locale.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "aclient.h"
#include "conn.h"
#include "model.h"
#include "ui_text.h"
#include "xmalloc.h"

static int
setup_utf8(void **state)
{
	(void)state;
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		return -1;
	setenv("TZ", "UTC", 1);
	tzset();
	ui_text_set_utf8(true);
	return 0;
}

/* --- cleaning ------------------------------------------------------------ */

static void
check_clean(const char *in, const char *want)
{
	char	*out = ui_text_clean(in);

	assert_string_equal(out, want);
	free(out);
}

static void
test_clean(void **state)
{
	(void)state;
	check_clean(NULL, "");
	check_clean("plain text", "plain text");
	/* CSI: colours, clear screen, cursor moves. */
	check_clean("\x1b[31mred\x1b[0m", "red");
	check_clean("a\x1b[2Jb\x1b[1;1Hc", "abc");
	check_clean("x\x1b[?1049hy", "xy");
	/* OSC (window title, hyperlinks) ended by BEL or ST. */
	check_clean("\x1b]0;PWNED\x07title", "title");
	check_clean("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link");
	/* Unterminated OSC swallows the rest, like a terminal would. */
	check_clean("ok\x1b]0;never ends", "ok");
	/* DCS, APC, single-character escapes, charset selection. */
	check_clean("a\x1bPq#0;2;0;0;0\x1b\\b", "ab");
	check_clean("a\x1b_apc\x07" "b", "ab");
	check_clean("a\x1b" "cb\x1b(Bc", "abc");
	/* 8-bit CSI and OSC as UTF-8 code points. */
	check_clean("a\xc2\x9b" "31mb", "ab");
	check_clean("a\xc2\x9d" "0;t\x07" "b", "ab");
	check_clean("a\xc2\x85" "b", "ab");		/* NEL, a C1 control */
	/* Other controls are dropped; tabs and line ends become a space. */
	check_clean("a\x07\x08\x7f" "b", "ab");
	check_clean("one\r\n\ttwo", "one two");
	/* Bidirectional overrides (Trojan Source) are dropped. */
	check_clean("abc\xe2\x80\xae" "def\xe2\x81\xa6", "abcdef");
	/* Invalid UTF-8 is replaced, never passed on. */
	check_clean("a\xff" "b", "a\xef\xbf\xbd" "b");
	check_clean("\xc3", "\xef\xbf\xbd");
	/* Wide and combining characters stay. */
	check_clean("中文 e\xcc\x81", "中文 e\xcc\x81");
}

/* --- width and fitting --------------------------------------------------- */

static void
test_width(void **state)
{
	(void)state;
	assert_int_equal(ui_text_width(""), 0);
	assert_int_equal(ui_text_width("abc"), 3);
	assert_int_equal(ui_text_width("中文"), 4);
	assert_int_equal(ui_text_width("e\xcc\x81"), 1);	/* é decomposed */
	assert_int_equal(ui_text_width("\xf0\x9f\x98\x80"), 2);	/* emoji */
	assert_int_equal(ui_text_prefix("abcdef", 4), 4);
	assert_int_equal(ui_text_prefix("中文字", 5), 6);	/* 2 chars */
	assert_int_equal(ui_text_prefix("中", 1), 3);	/* at least one */
}

static void
check_fit(const char *in, int w, int flags, const char *want, int cols)
{
	char	out[UI_FIT_SIZE(64)];

	assert_int_equal(ui_text_fit(in, w, flags, out, sizeof out), cols);
	assert_string_equal(out, want);
	assert_int_equal(ui_text_width(out), cols);
}

static void
test_fit(void **state)
{
	char	small[4];

	(void)state;
	check_fit("hello", 10, 0, "hello", 5);
	check_fit("hello", 10, UI_FIT_PAD, "hello     ", 10);
	check_fit("hello", 8, UI_FIT_RIGHT, "   hello", 8);
	check_fit("hello world", 8, 0, "hello w…", 8);
	check_fit("hello world", 8, UI_FIT_PAD, "hello w…", 8);
	check_fit("hello world", 8, UI_FIT_RIGHT, "hello w…", 8);
	/* Wide characters: a cut never splits one; the gap is padded. */
	check_fit("中文字幕", 8, 0, "中文字幕", 8);
	check_fit("中文字幕", 7, 0, "中文字…", 7);
	check_fit("中文字幕", 6, 0, "中文 …", 6);
	check_fit("中文字幕x", 6, UI_FIT_PAD, "中文 …", 6);
	check_fit("a中", 2, 0, "a…", 2);
	check_fit("中", 1, 0, "…", 1);
	/* Combining marks stay with their letter. */
	check_fit("e\xcc\x81" "e\xcc\x81" "e\xcc\x81", 2, 0, "e\xcc\x81…", 2);
	/* Escape sequences never reach the output, even when cut. */
	check_fit("\x1b[31mred\x1b[0m alert", 6, 0, "red a…", 6);
	check_fit("", 3, UI_FIT_PAD, "   ", 3);
	check_fit("x", 0, 0, "", 0);
	/* Our own text is not cleaned again with UI_FIT_RAW. */
	check_fit("a b", 5, UI_FIT_RAW | UI_FIT_PAD, "a b  ", 5);
	/* A short buffer is cut, never overrun. */
	ui_text_fit("abcdefgh", 8, 0, small, sizeof small);
	assert_true(strlen(small) < sizeof small);
}

static void
test_fit_ascii(void **state)
{
	(void)state;
	ui_text_set_utf8(false);
	check_fit("caf\xc3\xa9 ok", 10, 0, "caf? ok", 7);
	check_fit("中文字幕", 3, 0, "??~", 3);
	check_fit("hello world", 6, 0, "hello~", 6);
	check_fit("e\xcc\x81x", 4, 0, "ex", 2);
	check_fit("node \xc2\xb7 gw1", 12, 0, "node - gw1", 10);

	ui_text_set_utf8(true);
}

/* --- formats ------------------------------------------------------------- */

static void
test_formats(void **state)
{
	char	b[64];

	(void)state;
	ui_text_count(999, b, sizeof b);
	assert_string_equal(b, "999");
	ui_text_count(1234, b, sizeof b);
	assert_string_equal(b, "1.2k");
	ui_text_count(56789, b, sizeof b);
	assert_string_equal(b, "56k");
	ui_text_count(3400000, b, sizeof b);
	assert_string_equal(b, "3.4M");
	ui_text_grouped(0, b, sizeof b);
	assert_string_equal(b, "0");
	ui_text_grouped(1234567, b, sizeof b);
	assert_string_equal(b, "1,234,567");
	ui_text_grouped(-1000, b, sizeof b);
	assert_string_equal(b, "-1,000");
	ui_text_size(512, b, sizeof b);
	assert_string_equal(b, "512");
	ui_text_size(1536, b, sizeof b);
	assert_string_equal(b, "1.5K");
	ui_text_size(3 * 1024 * 1024, b, sizeof b);
	assert_string_equal(b, "3.0M");
	ui_text_duration(45, b, sizeof b);
	assert_string_equal(b, "45s");
	ui_text_duration(723, b, sizeof b);
	assert_string_equal(b, "12m 03s");
	ui_text_duration(3 * 3600 + 4 * 60, b, sizeof b);
	assert_string_equal(b, "3h 04m");
	ui_text_duration(5 * 86400 + 3 * 3600, b, sizeof b);
	assert_string_equal(b, "5d 03h");
	/* 2025-01-02 03:04:05 UTC */
	ui_text_time(1735787045000LL, 1735787045000LL + 3600000, b, sizeof b);
	assert_string_equal(b, "03:04:05");
	ui_text_time(1735787045000LL, 1735787045000LL + 86400000, b, sizeof b);
	assert_string_equal(b, "01-02 03:04");
	ui_text_time(0, 1, b, sizeof b);
	assert_string_equal(b, "-");
	ui_text_datetime(1735787045000LL, b, sizeof b);
	assert_string_equal(b, "2025-01-02 03:04:05");
}

static void
test_sparkline(void **state)
{
	const int64_t	v[] = { 0, 1, 2, 4, 8 }, zero[] = { 0, 0, 0 };
	const int64_t	big[] = { 1, 1000 };
	char		out[64];

	(void)state;
	assert_int_equal(ui_text_sparkline(v, 5, out, sizeof out), 5);
	assert_string_equal(out, "▁▂▃▅█");
	ui_text_sparkline(zero, 3, out, sizeof out);
	assert_string_equal(out, "▁▁▁");
	/* Any non-zero value is visible above the floor. */
	ui_text_sparkline(big, 2, out, sizeof out);
	assert_string_equal(out, "▂█");
	/* Short output: whole cells only. */
	assert_int_equal(ui_text_sparkline(v, 5, out, 8), 2);
	assert_string_equal(out, "▁▂");
	ui_text_set_utf8(false);
	ui_text_sparkline(v, 5, out, sizeof out);
	assert_string_equal(out, "_.:=#");
	ui_text_set_utf8(true);
}

static void
test_parse_time(void **state)
{
	const int64_t	now = 1735787045000LL;	/* 2025-01-02 03:04:05 UTC */
	int64_t		ms, from, to;
	char		*cause = NULL;

	(void)state;
	assert_int_equal(ui_text_parse_time("now", now, &ms, &cause), 0);
	assert_true(ms == now);
	assert_int_equal(ui_text_parse_time("-15m", now, &ms, &cause), 0);
	assert_true(ms == now - 15 * 60000);
	assert_int_equal(ui_text_parse_time(" -2h ", now, &ms, &cause), 0);
	assert_true(ms == now - 2 * 3600000);
	assert_int_equal(ui_text_parse_time("-1d", now, &ms, &cause), 0);
	assert_true(ms == now - 86400000);
	assert_int_equal(ui_text_parse_time("2025-01-01", now, &ms, &cause), 0);
	assert_true(ms == 1735689600000LL);
	assert_int_equal(ui_text_parse_time("2025-01-01 10:30", now, &ms,
	    &cause), 0);
	assert_true(ms == 1735689600000LL + 10 * 3600000 + 30 * 60000);
	assert_int_equal(ui_text_parse_time("01:00", now, &ms, &cause), 0);
	assert_true(ms == 1735779600000LL);
	assert_int_equal(ui_text_parse_time("yesterday", now, &ms, &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	assert_int_equal(ui_text_parse_time("-5x", now, &ms, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(ui_text_parse_range("", now, &from, &to, &cause), 0);
	assert_true(from == now - 3600000 && to == now);
	assert_int_equal(ui_text_parse_range("-2d..-1d", now, &from, &to,
	    &cause), 0);
	assert_true(from == now - 2 * 86400000LL && to == now - 86400000);
	assert_int_equal(ui_text_parse_range("-30m", now, &from, &to, &cause),
	    0);
	assert_true(from == now - 30 * 60000 && to == now);
	assert_int_equal(ui_text_parse_range("-1h..-2h", now, &from, &to,
	    &cause), -1);
	free(cause);
}

/* --- paged lists --------------------------------------------------------- */

/* A page of n items with ids "p<page>-<i>". */
static json_t *
make_page(size_t page, size_t n)
{
	json_t	*a = json_array();
	char	 id[32];
	size_t	 i;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof id, "p%zu-%zu", page, i);
		json_array_append_new(a, json_pack("{s:s}", "id", id));
	}
	return a;
}

/* Answer the page the list wants; cursors are "c<page>". */
static bool
serve(struct model_list *l, size_t last_page, size_t *asked)
{
	const char	*cursor;
	char		 next[32];
	size_t		 page;
	json_t		*items;

	if (!model_list_want(l, &page, &cursor))
		return false;
	if (page == 0)
		assert_null(cursor);
	else {
		snprintf(next, sizeof next, "c%zu", page);
		assert_string_equal(cursor, next);
	}
	*asked = page;
	snprintf(next, sizeof next, "c%zu", page + 1);
	items = make_page(page, MODEL_LIST_PAGE);
	model_list_page(l, page, items, page < last_page ? next : NULL,
	    (int64_t)((last_page + 1) * MODEL_LIST_PAGE));
	json_decref(items);
	return true;
}

static const char *
sel_id(const struct model_list *l)
{
	return model_str(model_list_selected(l), "id");
}

static void
test_list_paging(void **state)
{
	struct model_list	l;
	size_t			asked = 0, i, page;
	const char		*cursor;

	(void)state;
	model_list_init(&l, "id");
	/* Page 0 first, then nothing until the selection nears the end. */
	assert_true(serve(&l, 50, &asked));
	assert_int_equal(asked, 0);
	assert_int_equal(model_list_known(&l), MODEL_LIST_PAGE);
	assert_false(serve(&l, 50, &asked));
	assert_string_equal(sel_id(&l), "p0-0");
	model_list_move(&l, 60);
	assert_true(serve(&l, 50, &asked));
	assert_int_equal(asked, 1);
	assert_string_equal(sel_id(&l), "p0-60");
	/* One request at a time. */
	model_list_move(&l, 100);
	assert_true(model_list_want(&l, &page, &cursor));
	assert_false(model_list_want(&l, &page, &cursor));
	/* A stale answer (another page) is ignored. */
	{
		json_t	*items = make_page(7, 3);

		model_list_page(&l, 7, items, "c8", -1);
		json_decref(items);
		assert_true(l.loading);
	}
	model_list_fail(&l, "gone");
	assert_string_equal(l.error, "gone");
	/* Walk far down: the window stays bounded. */
	for (i = 0; i < 30; i++) {
		model_list_move(&l, MODEL_LIST_PAGE);
		while (serve(&l, 50, &asked))
			;
		assert_true(json_array_size(l.items) <=
		    MODEL_LIST_PAGES * MODEL_LIST_PAGE);
	}
	assert_true(l.first_page > 0);
	assert_true(l.sel >= l.base);
	assert_string_equal(model_str(model_list_get(&l, l.sel), "id"),
	    sel_id(&l));
	/* Back up past the window: earlier pages come back by cursor. */
	page = l.first_page;
	model_list_move(&l, -(long)(l.sel - l.base));
	assert_true(serve(&l, 50, &asked));
	assert_int_equal(asked, page - 1);
	assert_int_equal(l.first_page, page - 1);
	/* Home returns to page 0 (cursor NULL). */
	model_list_home(&l);
	assert_int_equal(l.sel, 0);
	assert_true(serve(&l, 50, &asked));
	assert_int_equal(asked, 0);
	assert_string_equal(sel_id(&l), "p0-0");
	model_list_free(&l);
}

static void
test_list_end(void **state)
{
	struct model_list	l;
	size_t			asked, n = 0;

	(void)state;
	model_list_init(&l, "id");
	serve(&l, 20, &asked);
	/* End seeks page after page to the last one, memory bounded. */
	model_list_end(&l);
	assert_true(l.seeking);
	while (serve(&l, 20, &asked))
		n++;
	assert_int_equal(asked, 20);
	assert_false(l.seeking);
	assert_true(l.end);
	assert_string_equal(sel_id(&l), "p20-99");
	assert_int_equal(l.sel, 21 * MODEL_LIST_PAGE - 1);
	assert_true(json_array_size(l.items) <=
	    MODEL_LIST_PAGES * MODEL_LIST_PAGE);
	/* Moving past the end stays on the last item. */
	model_list_move(&l, 5);
	assert_string_equal(sel_id(&l), "p20-99");
	/* Scrolling keeps the selection on screen and the screen full. */
	model_list_scroll(&l, 10);
	assert_int_equal(l.top, l.sel - 9);
	/* A key stops a seek. */
	model_list_home(&l);
	serve(&l, 20, &asked);
	model_list_end(&l);
	serve(&l, 20, &asked);
	model_list_seek_cancel(&l);
	assert_false(l.seeking);
	assert_true(n >= 20);	/* every page, one request each */
	model_list_free(&l);
}

static void
test_list_refresh_remove(void **state)
{
	struct model_list	 l;
	size_t			 page;
	const char		*cursor;
	json_t			*items;

	(void)state;
	model_list_init(&l, "id");
	items = make_page(0, 5);
	assert_true(model_list_want(&l, &page, &cursor));
	model_list_page(&l, 0, items, NULL, 5);
	json_decref(items);
	assert_true(l.end);
	model_list_move(&l, 3);
	assert_string_equal(sel_id(&l), "p0-3");
	/* Someone released p0-1: the refreshed page keeps p0-3 selected. */
	model_list_refresh(&l);
	assert_true(model_list_want(&l, &page, &cursor));
	assert_int_equal(page, 0);
	items = make_page(0, 5);
	json_array_remove(items, 1);
	model_list_page(&l, 0, items, NULL, 4);
	json_decref(items);
	assert_int_equal(model_list_known(&l), 4);
	assert_string_equal(sel_id(&l), "p0-3");
	assert_int_equal(l.sel, 2);
	/* Removing an item above the selection keeps the same selected. */
	model_list_home(&l);
	model_list_move(&l, 2);
	assert_string_equal(sel_id(&l), "p0-3");
	model_list_remove(&l, "p0-0");
	assert_string_equal(sel_id(&l), "p0-3");
	assert_int_equal(l.sel, 1);
	model_list_reset(&l);
	items = make_page(0, 5);
	assert_true(model_list_want(&l, &page, &cursor));
	model_list_page(&l, 0, items, NULL, 5);
	json_decref(items);
	json_array_remove(l.items, 1);
	l.page_len[0]--;
	l.total = 4;
	/* Removing the selected item keeps a valid selection. */

	model_list_move(&l, 10);
	model_list_remove(&l, "p0-4");
	assert_int_equal(model_list_known(&l), 3);
	assert_string_equal(sel_id(&l), "p0-3");
	assert_int_equal(l.total, 3);
	/* Empty answers. */
	model_list_reset(&l);
	items = json_array();
	assert_true(model_list_want(&l, &page, &cursor));
	model_list_page(&l, 0, items, NULL, 0);
	json_decref(items);
	assert_true(l.loaded && l.end);
	assert_null(model_list_selected(&l));
	model_list_move(&l, 1);
	model_list_move(&l, -1);
	assert_null(model_list_selected(&l));
	model_list_free(&l);
}

/* --- the tail ------------------------------------------------------------ */

static json_t *
rec(const char *qid, const char *sender, const char *outcome)
{
	return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}], s:s}", "queue_id",
	    qid, "sender", sender, "outcome", outcome, "rcpts", "address",
	    "bob@example.com", "outcome", outcome, "subject", "hello");
}

static void
add(struct model_tail *t, const char *qid, const char *sender,
    const char *outcome)
{
	json_t	*r = rec(qid, sender, outcome);

	model_tail_add(t, r);
	json_decref(r);
}

static void
test_tail(void **state)
{
	struct model_tail	 t;
	json_t			*old;
	size_t			 i, idx;
	char			 q[32];

	(void)state;
	model_tail_init(&t);
	model_tail_view(&t, 5);
	assert_null(model_tail_selected(&t, NULL));
	add(&t, "Q1", "alice@a.test", "relayed");
	add(&t, "Q2", "bob@b.test", "tempfailed");
	add(&t, "Q3", "carol@a.test", "relayed");
	model_tail_view(&t, 5);
	assert_int_equal(t.nvis, 3);
	/* Following: the newest is selected. */
	assert_string_equal(model_str(model_tail_selected(&t, &idx),
	    "queue_id"), "Q3");
	assert_int_equal(idx, 2);
	/* Moving up stops following; new mail does not move it. */
	model_tail_move(&t, -1);
	add(&t, "Q4", "dave@b.test", "relayed");
	model_tail_view(&t, 5);
	assert_string_equal(model_str(model_tail_selected(&t, NULL),
	    "queue_id"), "Q2");
	/* Down onto the newest follows again. */
	model_tail_move(&t, 5);
	add(&t, "Q5", "erin@a.test", "rejected");
	model_tail_view(&t, 5);
	assert_string_equal(model_str(model_tail_selected(&t, NULL),
	    "queue_id"), "Q5");
	/* Filter as you type: every word must match some field. */
	model_tail_set_filter(&t, "a.test");
	model_tail_view(&t, 5);
	assert_int_equal(t.nvis, 3);
	model_tail_set_filter(&t, "A.TEST relayed");
	model_tail_view(&t, 5);
	assert_int_equal(t.nvis, 2);
	model_tail_set_filter(&t, "bob@example");	/* a recipient */
	model_tail_view(&t, 5);
	assert_int_equal(t.nvis, 5);
	model_tail_set_filter(&t, "nobody");
	model_tail_view(&t, 5);
	assert_int_equal(t.nvis, 0);
	model_tail_set_filter(&t, "");
	/* Pause: arrivals are counted, not shown. */
	model_tail_pause(&t, true);
	add(&t, "Q6", "f@c.test", "relayed");
	add(&t, "Q7", "g@c.test", "relayed");
	model_tail_view(&t, 5);
	assert_int_equal(t.nvis, 5);
	assert_int_equal(model_tail_hidden(&t), 2);
	model_tail_pause(&t, false);
	model_tail_view(&t, 5);
	assert_int_equal(t.nvis, 7);
	assert_int_equal(t.received, 7);
	/* Older records from a search go first, without duplicates. */
	old = json_array();
	json_array_append_new(old, rec("Q1", "alice@a.test", "relayed"));
	json_array_append_new(old, rec("Q0", "zed@z.test", "relayed"));
	json_array_append_new(old, rec("Qm1", "yan@z.test", "relayed"));
	model_tail_prepend(&t, old);
	json_decref(old);
	model_tail_view(&t, 5);
	assert_int_equal(t.nvis, 9);
	assert_string_equal(model_str(model_tail_rec(&t, t.vis[0]),
	    "queue_id"), "Qm1");
	assert_string_equal(model_str(model_tail_rec(&t, t.vis[1]),
	    "queue_id"), "Q0");
	assert_int_equal(t.top, 4);	/* the newest rows are on screen */
	model_tail_home(&t);
	assert_string_equal(model_str(model_tail_selected(&t, NULL),
	    "queue_id"), "Qm1");
	model_tail_end(&t);
	assert_string_equal(model_str(model_tail_selected(&t, NULL),
	    "queue_id"), "Q7");
	/* The ring keeps MODEL_TAIL_MAX records. */
	for (i = 0; i < MODEL_TAIL_MAX + 10; i++) {
		snprintf(q, sizeof q, "R%zu", i);
		add(&t, q, "x@y.test", "relayed");
	}
	model_tail_view(&t, 5);
	assert_int_equal(t.nvis, MODEL_TAIL_MAX);
	assert_string_equal(model_str(model_tail_rec(&t, t.vis[0]),
	    "queue_id"), "R10");
	model_tail_free(&t);
}

/* --- pager, marks, rate, counts, line editor, columns ------------------- */

static void
test_pager(void **state)
{
	struct model_pager	p;

	(void)state;
	model_pager_init(&p);
	model_pager_add(&p, 0, "one\ntwo\x1b[31m red");
	model_pager_add(&p, 0, "中文中文中文");		/* 12 columns */
	model_pager_add(&p, 0, "");
	assert_int_equal(p.n, 4);
	assert_string_equal(p.lines[1], "two red");
	assert_int_equal(model_pager_rows(&p, 80), 4);
	/* At 5 columns: 2 wide characters a row, a gap at the end. */
	assert_int_equal(model_pager_rows(&p, 5), 1 + 2 + 3 + 1);
	model_pager_scroll(&p, 100, 3, 5);
	assert_int_equal(p.top, 4);
	model_pager_scroll(&p, -100, 3, 5);
	assert_int_equal(p.top, 0);
	model_pager_kv(&p, 0, 6, "Key", "va\x07lue");
	assert_string_equal(p.lines[4], "Key     value");
	/* A long value wraps under itself, not under the key. */
	model_pager_kv(&p, 0, 6, "Reply", "250 2.0.0 Ok: queued as 123");
	assert_int_equal(model_pager_row_width(&p, 5, 0, 20), 20);
	assert_int_equal(model_pager_row_width(&p, 5, 1, 20), 12);
	assert_int_equal(model_pager_rows(&p, 80), 6);
	/* "Reply   250 2.0.0 ", "Ok: queued ", "as 123": whole words */
	assert_int_equal(model_pager_rows(&p, 20), 1 + 1 + 1 + 1 + 1 + 3);
	assert_int_equal(model_pager_break("Reply   250 2.0.0 Ok: queued", 20),
	    18);
	assert_int_equal(model_pager_break("abcdefghijklmnopqrstuvwxyz", 10),
	    10);
	assert_int_equal(model_pager_break("short", 10), 5);


	model_pager_clear(&p);
	assert_int_equal(p.n, 0);
}

static void
test_marks(void **state)
{
	struct model_marks	 m;
	json_t			*ids;

	(void)state;
	model_marks_init(&m);
	assert_true(model_marks_toggle(&m, "b"));
	assert_true(model_marks_toggle(&m, "a"));
	assert_false(model_marks_toggle(&m, ""));
	assert_true(model_marks_has(&m, "a"));
	assert_int_equal(model_marks_count(&m), 2);
	ids = model_marks_ids(&m);
	assert_string_equal(json_string_value(json_array_get(ids, 0)), "a");
	assert_string_equal(json_string_value(json_array_get(ids, 1)), "b");
	json_decref(ids);
	model_marks_toggle(&m, "a");
	assert_false(model_marks_has(&m, "a"));
	model_marks_clear(&m);
	assert_int_equal(model_marks_count(&m), 0);
	model_marks_free(&m);
}

static void
test_rate(void **state)
{
	struct model_rate	r;
	uint32_t		in, out;

	(void)state;
	model_rate_init(&r);
	model_rate_add(&r, 1000, false);
	model_rate_add(&r, 1000, false);
	model_rate_add(&r, 1030, true);
	model_rate_sum(&r, 1030, &in, &out);
	assert_int_equal(in, 2);
	assert_int_equal(out, 1);
	model_rate_sum(&r, 1060, &in, &out);	/* second 1000 is out */
	assert_int_equal(in, 0);
	assert_int_equal(out, 1);
	model_rate_add(&r, 1060, false);	/* reuses 1000's bucket */
	model_rate_sum(&r, 1060, &in, &out);
	assert_int_equal(in, 1);
}

static void
test_agg(void **state)
{
	struct model_agg	  a;
	struct model_agg_row	**rows;
	char			  key[32];
	size_t			  n, i;

	(void)state;
	model_agg_init(&a);
	model_agg_add(&a, "b.test", "relayed", 100, false);
	model_agg_add(&a, "a.test", "quarantined", 10, true);
	model_agg_add(&a, "a.test", "rejected", 10, false);
	model_agg_add(&a, "a.test", "tempfailed", 10, false);
	model_agg_add(&a, "", "relayed", 1, false);
	n = model_agg_sort(&a, &rows);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0]->key, "a.test");
	assert_int_equal(rows[0]->n[MODEL_AGG_TOTAL], 3);
	assert_int_equal(rows[0]->n[MODEL_AGG_QUARANTINED], 1);
	assert_int_equal(rows[0]->n[MODEL_AGG_BLOCKED], 1);
	assert_int_equal(rows[0]->n[MODEL_AGG_TEMPFAILED], 1);
	assert_int_equal(rows[0]->n[MODEL_AGG_SPAM], 1);
	assert_int_equal(rows[0]->bytes, 30);
	assert_string_equal(rows[1]->key, "(none)");	/* ties by name */
	assert_string_equal(rows[2]->key, "b.test");
	/* Many keys: the table grows. */
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof key, "k%zu", i);
		model_agg_add(&a, key, "relayed", 1, false);
	}
	assert_int_equal(model_agg_sort(&a, &rows), 5003);
	model_agg_free(&a);
}

static void
test_line(void **state)
{
	struct model_line	l;
	char			out[64];

	(void)state;
	model_line_set(&l, "héllo");
	assert_int_equal(l.len, 5);
	assert_int_equal(l.cur, 5);
	assert_true(model_line_insert(&l, L'中'));
	model_line_utf8(&l, out, sizeof out);
	assert_string_equal(out, "héllo中");
	assert_int_equal(model_line_cursor_col(&l), 7);
	assert_false(model_line_insert(&l, 0x1b));	/* no controls */
	assert_false(model_line_insert(&l, 0x9b));
	model_line_edit(&l, MODEL_LINE_HOME);
	model_line_edit(&l, MODEL_LINE_RIGHT);
	assert_true(model_line_edit(&l, MODEL_LINE_DELETE));
	model_line_utf8(&l, out, sizeof out);
	assert_string_equal(out, "hllo中");
	assert_true(model_line_edit(&l, MODEL_LINE_BACKSPACE));
	assert_false(model_line_edit(&l, MODEL_LINE_BACKSPACE));
	model_line_set(&l, "one two  three");
	assert_true(model_line_edit(&l, MODEL_LINE_WORD));
	model_line_utf8(&l, out, sizeof out);
	assert_string_equal(out, "one two  ");
	assert_true(model_line_edit(&l, MODEL_LINE_WORD));
	model_line_utf8(&l, out, sizeof out);
	assert_string_equal(out, "one ");
	assert_true(model_line_edit(&l, MODEL_LINE_KILL));
	assert_int_equal(l.len, 0);
	/* Full: inserts stop at the limit. */
	while (model_line_insert(&l, L'x'))
		;
	assert_int_equal(l.len, MODEL_LINE_MAX);
	model_line_utf8(&l, out, sizeof out);	/* cut, terminated */
	assert_int_equal(strlen(out), sizeof out - 1);
}

static void
test_cols(void **state)
{
	struct model_col	c[] = {
		{ "TIME", 8, 11, 0, 0, false, 0 },
		{ "CLIENT", 9, 22, 1, 3, false, 0 },
		{ "FROM", 10, 0, 3, 0, false, 0 },
		{ "TO", 10, 0, 3, 0, false, 0 },
		{ "SUBJECT", 10, 0, 4, 1, false, 0 },
		{ "OUTCOME", 11, 11, 0, 0, false, 0 },
		{ "SCORE", 5, 6, 0, 2, true, 0 },
		{ "SIZE", 5, 6, 0, 0, true, 0 },
	};
	size_t	n = sizeof c / sizeof c[0], i;
	int	sum;

	(void)state;
	/* 80 columns: everything, exactly filled. */
	assert_int_equal(model_cols_layout(c, n, 80), 80);
	for (i = 0; i < n; i++)
		assert_true(c[i].width >= c[i].min);
	assert_int_equal(c[0].width, 8);
	assert_int_equal(c[5].width, 11);
	/* 200 columns: spare goes by weight, none to weight 0. */
	assert_int_equal(model_cols_layout(c, n, 200), 200);
	assert_int_equal(c[6].width, 5);
	assert_true(c[4].width > c[2].width);
	assert_true(c[2].width > c[1].width);
	/* 400: max widths hold. */
	assert_int_equal(model_cols_layout(c, n, 400), 400);
	assert_int_equal(c[1].width, 22);
	/* 60: the optional columns go, highest drop number first. */
	sum = model_cols_layout(c, n, 60);
	assert_true(sum <= 60);
	assert_int_equal(c[1].width, 0);	/* client */
	assert_int_equal(c[6].width, 0);	/* score */
	assert_true(c[4].width > 0);		/* subject stayed */
	/* 30: required columns shrink, never below 1. */
	sum = model_cols_layout(c, n, 30);
	assert_true(sum <= 30);
	for (i = 0; i < n; i++)
		assert_true(c[i].width == 0 || c[i].width >= 1);
}

static void
test_records(void **state)
{
	json_t	*r, *stats;
	char	 out[128];
	int64_t	 v[3];
	double	 d;

	(void)state;
	r = json_pack("{s:s, s:[{s:s}, s], s:f, s:I}", "sender",
	    "Alice@Example.COM", "rcpts", "address", "b@x.test", "c@y.test",
	    "score", 7.5, "time_ms", (json_int_t)5);
	model_rcpts(r, out, sizeof out);
	assert_string_equal(out, "b@x.test, c@y.test");
	model_rcpts(r, out, 12);
	assert_string_equal(out, "b@x.test, c");
	model_domain(model_str(r, "sender"), out, sizeof out);
	assert_string_equal(out, "example.com");
	model_domain("<user@host.test>", out, sizeof out);
	assert_string_equal(out, "host.test");
	model_domain("nodomain", out, sizeof out);
	assert_string_equal(out, "");
	assert_true(model_num(r, "score", &d) && d == 7.5);
	assert_false(model_num(r, "sender", &d));
	assert_int_equal(model_int(r, "time_ms", -1), 5);
	assert_int_equal(model_int(r, "nope", -1), -1);
	assert_string_equal(model_str(r, "nope"), "");
	assert_true(model_rec_matches(r, "alice y.test"));
	assert_false(model_rec_matches(r, "alice z.test"));
	assert_false(model_rec_matches(NULL, ""));
	json_decref(r);
	r = json_pack("{s:s}", "to", "solo@x.test");
	model_rcpts(r, out, sizeof out);
	assert_string_equal(out, "solo@x.test");
	json_decref(r);

	assert_true(model_hour_floor(7200000 + 59) == 7200000);
	stats = json_pack("{s:[{s:I,s:s,s:s,s:I}, {s:I,s:s,s:s,s:I},"
	    "{s:I,s:s,s:s,s:I}, {s:I,s:s,s:s,s:I}]}", "hours",
	    "hour", (json_int_t)3600000, "direction", "inbound", "outcome",
	    "relayed", "messages", (json_int_t)4,
	    "hour", (json_int_t)3600000, "direction", "outbound", "outcome",
	    "quarantined", "messages", (json_int_t)2,
	    "hour", (json_int_t)10800000, "direction", "inbound", "outcome",
	    "relayed", "messages", (json_int_t)7,
	    "hour", (json_int_t)999 * 3600000, "direction", "inbound",
	    "outcome", "relayed", "messages", (json_int_t)100);
	model_hours_series(stats, 3600000, 3, NULL, NULL, v);
	assert_true(v[0] == 6 && v[1] == 0 && v[2] == 7);
	model_hours_series(stats, 3600000, 3, "outcome", "quarantined", v);
	assert_true(v[0] == 2 && v[1] == 0 && v[2] == 0);
	model_hours_series(stats, 3600000, 3, "direction", "inbound", v);
	assert_true(v[0] == 4 && v[2] == 7);
	json_decref(stats);
}

/* --- the non-blocking client and the connection -------------------------- */

struct answer {
	int	 calls;
	json_t	*result;
	char	 code[64];
	char	 message[128];
};

static void
answer_cb(void *arg, json_t *result, const char *code, const char *msg)
{
	struct answer	*a = arg;

	a->calls++;
	json_decref(a->result);
	a->result = result != NULL ? json_incref(result) : NULL;
	snprintf(a->code, sizeof a->code, "%s", code != NULL ? code : "");
	snprintf(a->message, sizeof a->message, "%s", msg != NULL ? msg : "");
}

static int	events;
static char	event_name[64];

static void
event_cb(void *arg, const char *name, json_t *data)
{
	(void)arg;
	(void)data;
	events++;
	snprintf(event_name, sizeof event_name, "%s", name);
}

/* The server side reads one request line. */
static json_t *
server_read(int fd)
{
	char	buf[4096];
	ssize_t	n;
	size_t	len = 0;

	while (len < sizeof buf - 1) {
		n = read(fd, buf + len, 1);
		assert_true(n == 1);
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = '\0';
	return json_loads(buf, 0, NULL);
}

static void
server_write(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void
pump(struct aclient *c, short ev)
{
	char	*cause = NULL;

	assert_int_equal(aclient_io(c, ev, &cause), 0);
}

static void
test_aclient(void **state)
{
	struct aclient	*c;
	struct answer	 a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	json_t		*req, *args;
	char		*cause = NULL, line[128];
	int		 sv[2];
	int64_t		 id1, id2, id3;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = aclient_new(sv[0], event_cb, NULL);
	assert_int_equal(aclient_poll_events(c), POLLIN);
	args = json_pack("{s:i}", "limit", 5);
	id1 = aclient_call(c, "tracking.search", args, answer_cb, &a1, &cause);
	json_decref(args);
	id2 = aclient_call(c, "status", NULL, answer_cb, &a2, &cause);
	id3 = aclient_call(c, "quarantine.list", NULL, answer_cb, &a3, &cause);
	assert_true(id1 > 0 && id2 > id1 && id3 > id2);
	assert_int_equal(aclient_npending(c), 3);
	assert_true(aclient_oldest_ms(c) > 0);
	/* Nothing is written before poll says so. */
	assert_true(aclient_poll_events(c) & POLLOUT);
	pump(c, POLLOUT);
	assert_int_equal(aclient_poll_events(c), POLLIN);
	req = server_read(sv[1]);
	assert_string_equal(json_string_value(json_object_get(req, "cmd")),
	    "tracking.search");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    req, "args"), "limit")), 5);
	json_decref(req);
	json_decref(server_read(sv[1]));
	json_decref(server_read(sv[1]));
	/* Answers out of order, an event between, an unknown id. */
	snprintf(line, sizeof line, "{\"id\":%lld,\"ok\":true,\"result\":"
	    "{\"role\":\"admin\"}}\n", (long long)id2);
	server_write(sv[1], line);
	server_write(sv[1], "{\"event\":\"tracking\",\"data\":{\"queue_id\":"
	    "\"Q\"}}\n{\"id\":999,\"ok\":true}\n");
	snprintf(line, sizeof line, "{\"id\":%lld,\"ok\":false,\"error\":{"
	    "\"code\":\"unknown_command\",\"message\":\"no such\"}}\n",
	    (long long)id3);
	server_write(sv[1], line);
	pump(c, POLLIN);
	assert_int_equal(a2.calls, 1);
	assert_string_equal(model_str(a2.result, "role"), "admin");
	assert_string_equal(a2.code, "");
	assert_int_equal(events, 1);
	assert_string_equal(event_name, "tracking");
	assert_int_equal(a3.calls, 1);
	assert_string_equal(a3.code, "unknown_command");
	assert_string_equal(a3.message, "no such");
	assert_null(a3.result);
	assert_int_equal(aclient_npending(c), 1);
	/* A cancelled request's answer is dropped. */
	aclient_cancel(c, id1);
	assert_false(aclient_is_pending(c, id1));
	snprintf(line, sizeof line, "{\"id\":%lld,\"ok\":true,\"result\":{}}"
	    "\n", (long long)id1);
	server_write(sv[1], line);
	pump(c, POLLIN);
	assert_int_equal(a1.calls, 0);
	/* A line split across reads. */
	id2 = aclient_call(c, "status", NULL, answer_cb, &a2, &cause);
	pump(c, POLLOUT);
	json_decref(server_read(sv[1]));
	snprintf(line, sizeof line, "{\"id\":%lld,\"ok\":true,\"result\":"
	    "{\"n\":2}}\n", (long long)id2);
	assert_int_equal(write(sv[1], line, 10), 10);
	pump(c, POLLIN);
	assert_int_equal(a2.calls, 1);
	server_write(sv[1], line + 10);
	pump(c, POLLIN);
	assert_int_equal(a2.calls, 2);
	assert_int_equal(model_int(a2.result, "n", 0), 2);
	/* The server goes away: pending requests fail as disconnected. */
	aclient_call(c, "status", NULL, answer_cb, &a2, &cause);
	close(sv[1]);
	assert_int_equal(aclient_io(c, POLLIN | POLLHUP, &cause), -1);
	assert_non_null(cause);
	free(cause);
	aclient_fail(c, "gone");
	assert_int_equal(a2.calls, 3);
	assert_string_equal(a2.code, ACLIENT_E_CLOSED);
	assert_string_equal(a2.message, "gone");
	aclient_free(c);
	json_decref(a1.result);
	json_decref(a2.result);
	json_decref(a3.result);
}

static void
test_aclient_garbage(void **state)
{
	struct aclient	*c;
	char		*cause = NULL;
	int		 sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = aclient_new(sv[0], NULL, NULL);
	server_write(sv[1], "not json\n");
	assert_int_equal(aclient_io(c, POLLIN, &cause), -1);
	assert_non_null(strstr(cause, "bad line"));
	free(cause);
	aclient_fail(c, "x");
	aclient_free(c);
	close(sv[1]);
	/* Nobody listens there. */
	cause = NULL;
	assert_int_equal(aclient_connect_unix("/nonexistent/moat.sock", &sv[0],
	    &cause), -1);
	assert_non_null(cause);
	free(cause);
}

static int	ups, downs;

static void
hook_up(void *arg)
{
	(void)arg;
	ups++;
}

static void
hook_down(void *arg, const char *cause)
{
	(void)arg;
	(void)cause;
	downs++;
}

static void
test_conn(void **state)
{
	struct conn_hooks	 h = { hook_up, hook_down, event_cb, NULL };
	struct conn		*c;
	struct pollfd		 pfd;
	struct answer		 a = { 0 };
	char			*cause = NULL;
	int			 sv[2];

	(void)state;
	/* A descriptor handed over: up at once; never reconnected. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = conn_new_fd(sv[0], &h, &cause);
	assert_non_null(c);
	assert_true(conn_is_handed(c));
	conn_start(c);
	assert_int_equal(ups, 1);
	assert_int_equal(conn_state(c), CONN_UP);
	assert_true(conn_call(c, "status", NULL, answer_cb, &a, NULL) > 0);
	assert_true(conn_pollfd(c, &pfd));
	assert_true(pfd.events & POLLOUT);
	close(sv[1]);
	conn_io(c, POLLOUT | POLLIN | POLLHUP);
	assert_int_equal(conn_state(c), CONN_GONE);
	assert_int_equal(downs, 1);
	assert_int_equal(a.calls, 1);
	assert_string_equal(a.code, ACLIENT_E_CLOSED);
	assert_int_equal(conn_timeout(c, 0), -1);
	assert_int_equal(conn_call(c, "status", NULL, answer_cb, &a, &cause),
	    -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	conn_free(c);
	/* Not a socket. */
	assert_null(conn_new_fd(STDIN_FILENO == 0 ? 9999 : 0, &h, &cause));
	free(cause);
	/* A path nobody listens on: down, retrying with backoff. */
	c = conn_new_path("/nonexistent/moat.sock", &h);
	conn_start(c);
	assert_int_equal(conn_state(c), CONN_DOWN);
	assert_false(conn_pollfd(c, &pfd));
	assert_true(conn_timeout(c, 0) > 0);
	assert_non_null(strstr(conn_cause(c), "/nonexistent/moat.sock"));
	assert_int_equal(ups, 1);
	conn_free(c);
	json_decref(a.result);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_width),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_fit_ascii),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_sparkline),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_list_paging),
		cmocka_unit_test(test_list_end),
		cmocka_unit_test(test_list_refresh_remove),
		cmocka_unit_test(test_tail),
		cmocka_unit_test(test_pager),
		cmocka_unit_test(test_marks),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_agg),
		cmocka_unit_test(test_line),
		cmocka_unit_test(test_cols),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_aclient),
		cmocka_unit_test(test_aclient_garbage),
		cmocka_unit_test(test_conn),
	};

	return cmocka_run_group_tests(tests, setup_utf8, NULL);
}
