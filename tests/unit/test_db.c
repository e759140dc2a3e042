/*
 * Unit tests for the store (daemon/db.c): migrations, the writer thread,
 * search with paging, statistics and purge, on a real sqlite file in a
 * temporary folder. Each test opens and closes its own database.
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "track.h"
#include "xmalloc.h"

struct fix {
	char	dir[PATH_MAX];
	char	path[PATH_MAX + 16];
};

#define HOUR	INT64_C(3600000)

/* --- helpers ------------------------------------------------------------ */

static struct track_rec *
mkrec(const char *qid, int64_t t, const char *dir, const char *sender,
    const char *subject, enum track_outcome o, const char *rcpts)
{
	struct track_rec	*r;
	char			*list, *p, *addr;

	r = track_rec_new();
	assert_true(strlen(qid) < sizeof r->queue_id);
	(void)snprintf(r->queue_id, sizeof r->queue_id, "%s", qid);
	r->node = xstrdup("gw1");
	r->time_ms = t;
	r->direction = dir;
	r->sender = sender != NULL ? xstrdup(sender) : NULL;
	r->subject = subject != NULL ? xstrdup(subject) : NULL;
	r->outcome = o;
	r->size = 1000;
	r->reply = xstrdup("250 2.0.0 Ok");
	list = xstrdup(rcpts != NULL ? rcpts : "");
	for (p = list; (addr = strsep(&p, ",")) != NULL;) {
		if (*addr == '\0')
			continue;
		r->rcpts = xreallocarray(r->rcpts, r->nrcpts + 1,
		    sizeof *r->rcpts);
		r->rcpts[r->nrcpts].addr = xstrdup(addr);
		r->rcpts[r->nrcpts].outcome = o;
		r->rcpts[r->nrcpts].reply = NULL;
		r->nrcpts++;
	}
	free(list);
	return r;
}

static struct db *
reader(void)
{
	struct db	*db;
	char		*cause = NULL;

	db = db_reader(&cause);
	if (db == NULL)
		fail_msg("db_reader: %s", cause);
	return db;
}

/* The queue ids of a search, comma separated; "ERR" on error. */
static char *
search_ids(const struct track_query *q, char **next)
{
	json_t		*res, *it;
	struct buf	 b;
	char		*cause = NULL;
	size_t		 i;

	res = db_track_search(reader(), q, &cause);
	if (res == NULL) {
		free(cause);
		return xstrdup("ERR");
	}
	buf_init(&b, 1 << 20);
	json_array_foreach(json_object_get(res, "items"), i, it) {
		if (i > 0)
			assert_int_equal(buf_append(&b, ",", 1), 0);
		assert_int_equal(buf_appendf(&b, "%s", json_string_value(
		    json_object_get(it, "queue_id"))), 0);
	}
	if (next != NULL) {
		it = json_object_get(res, "next");
		*next = json_is_string(it) ?
		    xstrdup(json_string_value(it)) : NULL;
	}
	json_decref(res);
	if (b.data == NULL)
		return xstrdup("");
	return buf_steal(&b);
}

static void
check_search(const struct track_query *q, const char *want)
{
	char	*got;

	got = search_ids(q, NULL);
	assert_string_equal(got, want);
	free(got);
}

static int64_t
raw_int(const char *path, const char *sql)
{
	sqlite3		*conn;
	sqlite3_stmt	*s;
	int64_t		 v;

	assert_int_equal(sqlite3_open_v2(path, &conn, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(conn, sql, -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(conn);
	return v;
}

static void
raw_exec(const char *path, const char *sql)
{
	sqlite3	*conn;

	assert_int_equal(sqlite3_open(path, &conn), SQLITE_OK);
	assert_int_equal(sqlite3_exec(conn, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(conn);
}

static void
open_db(struct fix *f)
{
	char	*cause = NULL;

	if (db_open(f->path, &cause) == -1)
		fail_msg("db_open: %s", cause);
}

static int
setup(void **state)
{
	struct fix	*f;
	const char	*tmp;

	f = xcalloc(1, sizeof *f);
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	(void)snprintf(f->dir, sizeof f->dir, "%s/moat-test-db-XXXXXX", tmp);
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->path, sizeof f->path, "%s/moat.db", f->dir);
	open_db(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*f = *state;
	char		 p[PATH_MAX + 32];
	const char	*const sfx[] = { "", "-wal", "-shm", "-journal" };
	size_t		 i;

	db_close();
	for (i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		(void)snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
		(void)unlink(p);
	}
	(void)snprintf(p, sizeof p, "%s/junk", f->dir);
	(void)unlink(p);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* --- schema ------------------------------------------------------------- */

static void
test_migrate_empty(void **state)
{
	struct fix	*f = *state;

	assert_int_equal(raw_int(f->path,
	    "SELECT max(version) FROM schema_version"), DB_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->path,
	    "SELECT count(*) FROM schema_version"), DB_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'table' AND name IN ('tracking', 'tracking_rcpt',"
	    " 'stats_hourly')"), 3);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'index' AND name LIKE 'tracking%'"), 5);
	assert_int_equal(raw_int(f->path, "SELECT journal_mode = 'wal'"
	    " FROM pragma_journal_mode"), 1);
}

static void
test_reopen(void **state)
{
	struct fix	*f = *state;
	json_t		*j;
	char		*cause = NULL;

	db_track_submit(mkrec("R1", 1000, "inbound", "a@b.test", "kept",
	    TRACK_RELAYED, "c@d.test"));
	db_flush();
	db_close();
	open_db(f);
	j = db_track_get(reader(), "R1", &cause);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "subject")),
	    "kept");
	json_decref(j);
	/* No migration ran twice. */
	assert_int_equal(raw_int(f->path,
	    "SELECT count(*) FROM schema_version"), DB_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tracking"), 1);
}

static void
test_future_version(void **state)
{
	struct fix	*f = *state;
	char		*cause = NULL;

	db_close();
	raw_exec(f->path, "INSERT INTO schema_version (version, applied_ms)"
	    " VALUES (999, 0)");
	assert_int_equal(db_open(f->path, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "newer"));
	assert_non_null(strstr(cause, "999"));
	free(cause);
	/* Nothing was started: the store stays closed. */
	cause = NULL;
	assert_null(db_reader(&cause));
	free(cause);
}

static void
test_open_errors(void **state)
{
	struct fix	*f = *state;
	char		*cause = NULL, p[PATH_MAX + 16];
	FILE		*fp;

	assert_int_equal(db_open(f->path, &cause), -1);
	assert_non_null(strstr(cause, "already open"));
	free(cause);
	db_close();

	(void)snprintf(p, sizeof p, "%s/no/such/dir.db", f->dir);
	cause = NULL;
	assert_int_equal(db_open(p, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, p));
	free(cause);

	(void)snprintf(p, sizeof p, "%s/junk", f->dir);
	assert_non_null(fp = fopen(p, "w"));
	fputs("this is not an sqlite database, not at all, no.\n", fp);
	fclose(fp);
	cause = NULL;
	assert_int_equal(db_open(p, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "not a database"));
	free(cause);
}

/* --- writer and get ---------------------------------------------------- */

static void
test_submit_get(void **state)
{
	struct track_rec	*r;
	json_t			*want, *want2, *got;
	char			*cause = NULL;

	(void)state;
	r = mkrec("G1", 1700000000123, "outbound", "Alice <a>@x.test",
	    "Héllo wörld", TRACK_REJECTED, "b@y.test,c@z.test");
	r->client_addr = xstrdup("192.0.2.7");
	r->client_name = xstrdup("mx.x.test");
	r->helo = xstrdup("helo.x.test");
	r->size = 123456;
	r->message_id = xstrdup("<id@x.test>");
	r->relay_reply = xstrdup("550 5.1.1 no");
	r->duration_ms = 42;
	r->relay_ms = 7;
	r->rcpts[1].outcome = TRACK_TEMPFAILED;
	r->rcpts[1].reply = xstrdup("451 4.3.0 later");
	want = track_rec_to_json(r);
	assert_non_null(want);
	db_track_submit(r);

	/* A record with every optional field empty round-trips as nulls. */
	r = mkrec("G2", 5, "inbound", NULL, NULL, TRACK_RELAYED, NULL);
	free(r->node);
	r->node = NULL;
	free(r->reply);
	r->reply = NULL;
	want2 = track_rec_to_json(r);
	db_track_submit(r);
	db_flush();

	got = db_track_get(reader(), "G1", &cause);
	assert_non_null(got);
	assert_true(json_equal(got, want));
	json_decref(got);
	got = db_track_get(reader(), "G2", &cause);
	assert_non_null(got);
	assert_true(json_equal(got, want2));
	json_decref(got);
	got = db_track_get(reader(), "nope", &cause);
	assert_non_null(got);
	assert_true(json_is_null(got));
	json_decref(got);
	json_decref(want);
	json_decref(want2);
}

static void
test_duplicate_queue_id(void **state)
{
	struct fix	*f = *state;
	json_t		*j;
	char		*cause = NULL;

	db_track_submit(mkrec("D1", 10, "inbound", "a@x", "first",
	    TRACK_RELAYED, "r@x"));
	db_track_submit(mkrec("D1", 20, "inbound", "a@x", "second",
	    TRACK_RELAYED, "r@x,s@x"));
	db_track_submit(mkrec("D2", 30, "inbound", "a@x", "other",
	    TRACK_RELAYED, "r@x"));
	db_flush();
	j = db_track_get(reader(), "D1", &cause);
	assert_string_equal(json_string_value(json_object_get(j, "subject")),
	    "first");
	json_decref(j);
	/* The rest of the batch is kept, the counters count it once. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tracking"), 2);
	assert_int_equal(raw_int(f->path,
	    "SELECT count(*) FROM tracking_rcpt"), 2);
	assert_int_equal(raw_int(f->path,
	    "SELECT sum(messages) FROM stats_hourly"), 2);
}

static void
test_failed_batch(void **state)
{
	struct fix	*f = *state;
	json_t		*j;
	char		*cause = NULL;

	db_track_submit(mkrec("F1", 10, "inbound", "a@x", "s", TRACK_RELAYED,
	    "r@x"));
	db_flush();
	/* The recipients' table vanishes: the next batch cannot commit. */
	raw_exec(f->path, "ALTER TABLE tracking_rcpt RENAME TO gone");
	db_track_submit(mkrec("F2", 20, "inbound", "a@x", "s", TRACK_RELAYED,
	    "r@x"));
	db_track_submit(mkrec("F3", 30, "inbound", "a@x", "s", TRACK_RELAYED,
	    "r@x"));
	db_flush();
	raw_exec(f->path, "ALTER TABLE gone RENAME TO tracking_rcpt");
	/* The writer goes on with the next batch. */
	db_track_submit(mkrec("F4", 40, "inbound", "a@x", "s", TRACK_RELAYED,
	    "r@x"));
	db_flush();

	j = db_track_get(reader(), "F2", &cause);
	assert_true(json_is_null(j));
	json_decref(j);
	j = db_track_get(reader(), "F4", &cause);
	assert_true(json_is_object(j));
	json_decref(j);
	/* Rolled back whole: no record, recipient or counter of F2, F3. */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tracking"), 2);
	assert_int_equal(raw_int(f->path,
	    "SELECT count(*) FROM tracking_rcpt"), 2);
	assert_int_equal(raw_int(f->path,
	    "SELECT sum(messages) FROM stats_hourly"), 2);
}

static void
test_closed_store(void **state)
{
	char	*cause = NULL;

	(void)state;
	db_close();
	db_close();
	/* Dropped and freed (ASan reports a leak otherwise). */
	db_track_submit(mkrec("C1", 1, "inbound", "a@x", "s", TRACK_RELAYED,
	    "r@x"));
	db_track_purge_submit(5);
	db_flush();
	assert_null(db_reader(&cause));
	assert_non_null(cause);
	free(cause);
}

/* --- search ------------------------------------------------------------- */

static void
add_search_fixture(void)
{
	struct track_rec	*r;

	r = mkrec("Q1", 1000, "inbound", "alice@example.com", "Hello World",
	    TRACK_RELAYED, "bob@example.org");
	r->client_addr = xstrdup("192.0.2.1");
	r->client_name = xstrdup("mail.one.test");
	r->message_id = xstrdup("<m1@one.test>");
	db_track_submit(r);
	r = mkrec("Q2", 2000, "outbound", "Carol@Corp.test", "Invoice",
	    TRACK_REJECTED, "dave@example.com,erin@other.test");
	r->client_addr = xstrdup("198.51.100.7");
	r->client_name = xstrdup("relay.corp.test");
	r->message_id = xstrdup("<inv@corp.test>");
	db_track_submit(r);
	r = mkrec("Q3", 3000, "inbound", "mallory@evil.test", "WIN money",
	    TRACK_TEMPFAILED, "bob@example.org");
	r->client_addr = xstrdup("203.0.113.9");
	db_track_submit(r);
	db_flush();
}

static void
test_search_filters(void **state)
{
	struct track_query	 q;
	char			*cause = NULL;

	(void)state;
	add_search_fixture();

	memset(&q, 0, sizeof q);
	check_search(&q, "Q3,Q2,Q1");

	q.sender = "ALICE";
	check_search(&q, "Q1");
	q.sender = "corp.TEST";
	check_search(&q, "Q2");
	q.sender = "";				/* empty: any */
	check_search(&q, "Q3,Q2,Q1");
	q.sender = NULL;

	q.rcpt = "bob@";
	check_search(&q, "Q3,Q1");
	q.rcpt = "ERIN";
	check_search(&q, "Q2");
	q.rcpt = "nobody";
	check_search(&q, "");
	q.rcpt = NULL;

	q.text = "invoice";			/* subject */
	check_search(&q, "Q2");
	q.text = "m1@one";			/* message-id */
	check_search(&q, "Q1");
	q.text = "q3";				/* queue id */
	check_search(&q, "Q3");
	q.text = "203.0.113";			/* client address */
	check_search(&q, "Q3");
	q.text = "RELAY.corp";			/* client name */
	check_search(&q, "Q2");
	q.text = "other.test";			/* a recipient */
	check_search(&q, "Q2");
	q.text = "mallory";			/* sender */
	check_search(&q, "Q3");
	q.text = "example";
	check_search(&q, "Q3,Q2,Q1");
	q.text = NULL;

	q.outcome = "rejected";
	check_search(&q, "Q2");
	q.outcome = "quarantined";
	check_search(&q, "");
	q.outcome = "bogus";
	assert_null(db_track_search(reader(), &q, &cause));
	assert_non_null(strstr(cause, "outcome"));
	free(cause);
	q.outcome = NULL;

	q.direction = "outbound";
	check_search(&q, "Q2");
	q.direction = "inbound";
	check_search(&q, "Q3,Q1");
	q.direction = NULL;

	q.from_ms = 2000;
	check_search(&q, "Q3,Q2");
	q.from_ms = 0;
	q.to_ms = 2000;
	check_search(&q, "Q1");
	q.from_ms = 1500;
	q.to_ms = 2500;
	check_search(&q, "Q2");
	q.from_ms = q.to_ms = 0;

	q.rcpt = "bob";
	q.direction = "inbound";
	q.outcome = "relayed";
	check_search(&q, "Q1");
}

/* Pages through everything with a cursor; returns the ids joined. */
static char *
page_all(int limit, int *pages, void (*between)(void))
{
	struct track_query	 q;
	struct buf		 all;
	char			*ids, *next = NULL, *cur = NULL;

	buf_init(&all, 1 << 20);
	memset(&q, 0, sizeof q);
	q.limit = limit;
	*pages = 0;
	do {
		q.cursor = cur;
		ids = search_ids(&q, &next);
		assert_string_not_equal(ids, "ERR");
		if (*ids != '\0')
			assert_int_equal(buf_appendf(&all, "%s%s",
			    all.len > 0 ? "," : "", ids), 0);
		free(ids);
		free(cur);
		cur = next;
		(*pages)++;
		if (between != NULL && *pages == 1)
			between();
	} while (cur != NULL);
	return all.data != NULL ? buf_steal(&all) : xstrdup("");
}

static void
add_newer(void)
{
	int	i;
	char	qid[16];

	/* Newer than everything: keyset paging must not show them. */
	for (i = 0; i < 5; i++) {
		(void)snprintf(qid, sizeof qid, "N%d", i);
		db_track_submit(mkrec(qid, 1000000, "inbound", "n@x", "new",
		    TRACK_RELAYED, "r@x"));
	}
	db_flush();
}

static void
test_paging(void **state)
{
	struct buf	 want;
	char		 qid[16], *got;
	int		 i, pages;

	(void)state;
	/* Three records per millisecond: ties are broken by id. */
	for (i = 0; i < 250; i++) {
		(void)snprintf(qid, sizeof qid, "P%03d", i);
		db_track_submit(mkrec(qid, 5000 + i / 3, "inbound", "p@x",
		    "page", TRACK_RELAYED, "r@x"));
	}
	db_flush();
	buf_init(&want, 1 << 20);
	for (i = 249; i >= 0; i--)
		assert_int_equal(buf_appendf(&want, "%sP%03d",
		    i < 249 ? "," : "", i), 0);

	got = page_all(7, &pages, NULL);
	assert_string_equal(got, want.data);
	assert_int_equal(pages, (250 + 6) / 7);
	free(got);

	/* An exact multiple of the page: the last full page says no next. */
	got = page_all(10, &pages, NULL);
	assert_string_equal(got, want.data);
	assert_int_equal(pages, 25);
	free(got);

	got = page_all(100, &pages, add_newer);
	assert_string_equal(got, want.data);
	assert_int_equal(pages, 3);
	free(got);
	buf_free(&want);
}

static void
test_limit(void **state)
{
	struct track_query	 q;
	json_t			*res;
	char			 qid[16], *cause = NULL;
	int			 i;

	(void)state;
	for (i = 0; i < DB_PAGE_MAX + 5; i++) {
		(void)snprintf(qid, sizeof qid, "L%d", i);
		db_track_submit(mkrec(qid, i, "inbound", "l@x", "limit",
		    TRACK_RELAYED, NULL));
	}
	db_flush();
	memset(&q, 0, sizeof q);
	q.limit = 100000;
	res = db_track_search(reader(), &q, &cause);
	assert_non_null(res);
	assert_int_equal(json_array_size(json_object_get(res, "items")),
	    DB_PAGE_MAX);
	assert_true(json_is_string(json_object_get(res, "next")));
	json_decref(res);
	q.limit = 0;
	res = db_track_search(reader(), &q, &cause);
	assert_int_equal(json_array_size(json_object_get(res, "items")),
	    DB_PAGE_DEFAULT);
	json_decref(res);
	q.limit = 1;
	res = db_track_search(reader(), &q, &cause);
	assert_int_equal(json_array_size(json_object_get(res, "items")), 1);
	json_decref(res);
}

static void
test_bad_cursor(void **state)
{
	static const char *const bad[] = {
		"abc", "12", "12:", ":5", "12:x", "12:3:4", "12:0", "12:-1",
		" 12:3", "12: 3", "+12:3", "12:+3", "99999999999999999999:1",
		"1:99999999999999999999", "0x10:1", "1:2 ", "1:2\n",
	};
	struct track_query	 q;
	char			*cause, lng[DB_CURSOR_MAX + 8];
	size_t			 i;

	(void)state;
	add_search_fixture();
	memset(&q, 0, sizeof q);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		q.cursor = bad[i];
		cause = NULL;
		if (db_track_search(reader(), &q, &cause) != NULL)
			fail_msg("cursor \"%s\" accepted", bad[i]);
		assert_non_null(cause);
		assert_non_null(strstr(cause, "cursor"));
		free(cause);
	}
	/* Over DB_CURSOR_MAX, even when the numbers would parse. */
	memset(lng, '0', sizeof lng);
	lng[0] = '1';
	lng[1] = ':';
	lng[sizeof lng - 2] = '1';
	lng[sizeof lng - 1] = '\0';
	q.cursor = lng;
	cause = NULL;
	assert_null(db_track_search(reader(), &q, &cause));
	assert_non_null(strstr(cause, "cursor"));
	free(cause);

	/* A well-formed cursor that matches nothing is just an empty page. */
	q.cursor = "-5:1";
	check_search(&q, "");
	q.cursor = "2000:999999";
	check_search(&q, "Q2,Q1");
}

static void
test_like_escaping(void **state)
{
	struct track_query	q;

	(void)state;
	db_track_submit(mkrec("E1", 1, "inbound", "a%b@x.test", "s",
	    TRACK_RELAYED, "r%1@x"));
	db_track_submit(mkrec("E2", 2, "inbound", "a_b@x.test", "s",
	    TRACK_RELAYED, "r_1@x"));
	db_track_submit(mkrec("E3", 3, "inbound", "axb@x.test", "s",
	    TRACK_RELAYED, "rx1@x"));
	db_track_submit(mkrec("E4", 4, "inbound", "a\\b@x.test", "s",
	    TRACK_RELAYED, "r\\1@x"));
	db_track_submit(mkrec("E5", 5, "inbound", "aXXb@x.test", "s",
	    TRACK_RELAYED, "rXX1@x"));
	db_flush();

	memset(&q, 0, sizeof q);
	q.sender = "a%b";
	check_search(&q, "E1");
	q.sender = "a_b";
	check_search(&q, "E2");
	q.sender = "%";
	check_search(&q, "E1");
	q.sender = "_";
	check_search(&q, "E2");
	q.sender = "\\";
	check_search(&q, "E4");
	q.sender = "a\\b";
	check_search(&q, "E4");
	q.sender = "AXB";
	check_search(&q, "E3");
	q.sender = NULL;
	q.rcpt = "r_1";
	check_search(&q, "E2");
	q.rcpt = NULL;
	q.text = "r%1";
	check_search(&q, "E1");
	q.text = "'; DROP TABLE tracking; --";
	check_search(&q, "");
}

/* --- statistics and purge ------------------------------------------------ */

/* Verdicts per hour: messages carry theirs, greylisting counts alone. */
static void
test_verdicts(void **state)
{
	int64_t			 h = 1700000000000 / HOUR * HOUR;
	json_t			*got, *v;
	char			*cause = NULL;
	struct track_rec	*r;

	(void)state;
	r = mkrec("V1", h + 5, "inbound", "a@x", "s", TRACK_QUARANTINED,
	    "r@x");
	r->scanned = true;
	r->verdict = "spam";
	db_track_submit(r);
	r = mkrec("V2", h + 6, "inbound", "a@x", "s", TRACK_RELAYED, "r@x");
	r->scanned = true;
	r->verdict = "clean";
	db_track_submit(r);
	db_verdict_count("greylisted", h + 7);
	db_verdict_count("greylisted", h + HOUR + 7);
	db_flush();
	got = db_stats_get(reader(), h, h + HOUR, &cause);
	assert_non_null(got);
	v = json_object_get(got, "verdicts");
	assert_int_equal(json_integer_value(json_object_get(v, "spam")), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "clean")), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "virus")), 0);
	assert_int_equal(json_integer_value(json_object_get(v,
	    "greylisted")), 1);
	assert_int_equal(json_array_size(json_object_get(got,
	    "verdict_hours")), 3);
	json_decref(got);
}

static void
test_stats(void **state)
{
	int64_t		 h = 1700000000000 / HOUR * HOUR;
	json_t		*got, *want;
	char		*cause = NULL, *s;
	struct track_rec *r;

	(void)state;
	r = mkrec("S1", h + 1, "inbound", "a@x", "s", TRACK_RELAYED, "r@x");
	r->size = 100;
	db_track_submit(r);
	r = mkrec("S2", h + 2, "inbound", "a@x", "s", TRACK_RELAYED, "r@x");
	r->size = 200;
	db_track_submit(r);
	r = mkrec("S3", h + HOUR - 1, "inbound", "a@x", "s", TRACK_REJECTED,
	    "r@x");
	r->size = 50;
	db_track_submit(r);
	db_flush();		/* the next hour lands in another batch */
	r = mkrec("S4", h + HOUR, "outbound", "a@x", "s", TRACK_RELAYED,
	    "r@x");
	r->size = 1000;
	db_track_submit(r);
	r = mkrec("S5", h + HOUR + 6, "inbound", "a@x", "s",
	    TRACK_TEMPFAILED, "r@x");
	r->size = 10;
	db_track_submit(r);
	db_flush();

	got = db_stats_get(reader(), 0, 0, &cause);
	assert_non_null(got);
	(void)xasprintf(&s, "{\"hours\":["
	    "{\"hour\":%" PRId64 ",\"direction\":\"inbound\","
	    "\"outcome\":\"rejected\",\"messages\":1,\"bytes\":50},"
	    "{\"hour\":%" PRId64 ",\"direction\":\"inbound\","
	    "\"outcome\":\"relayed\",\"messages\":2,\"bytes\":300},"
	    "{\"hour\":%" PRId64 ",\"direction\":\"inbound\","
	    "\"outcome\":\"tempfailed\",\"messages\":1,\"bytes\":10},"
	    "{\"hour\":%" PRId64 ",\"direction\":\"outbound\","
	    "\"outcome\":\"relayed\",\"messages\":1,\"bytes\":1000}],"
	    "\"totals\":{\"relayed\":3,\"tempfailed\":1,\"rejected\":1,"
	    "\"quarantined\":0,\"blocked\":0,\"released\":0,\"deleted\":0},"
	    "\"verdicts\":{\"clean\":0,\"spam\":0,\"virus\":0,"
	    "\"greylisted\":0},\"verdict_hours\":[]}",
	    h, h, h + HOUR, h + HOUR);
	want = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(want);
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);

	/* [h, h + 1h): the first hour only. */
	got = db_stats_get(reader(), h, h + HOUR, &cause);
	assert_int_equal(json_array_size(json_object_get(got, "hours")), 2);
	want = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "relayed", 2,
	    "tempfailed", 0, "rejected", 1, "quarantined", 0, "blocked", 0,
	    "released", 0, "deleted", 0);
	assert_true(json_equal(json_object_get(got, "totals"), want));
	json_decref(got);
	json_decref(want);

	got = db_stats_get(reader(), h + HOUR, 0, &cause);
	assert_int_equal(json_array_size(json_object_get(got, "hours")), 2);
	assert_int_equal(json_integer_value(json_object_get(
	    json_object_get(got, "totals"), "relayed")), 1);
	json_decref(got);

	got = db_stats_get(reader(), h + 2 * HOUR, h + 3 * HOUR, &cause);
	assert_int_equal(json_array_size(json_object_get(got, "hours")), 0);
	json_decref(got);
}

static void
test_purge(void **state)
{
	struct fix		*f = *state;
	struct track_query	 q;

	memset(&q, 0, sizeof q);
	db_track_submit(mkrec("U1", 1000, "inbound", "a@x", "s",
	    TRACK_RELAYED, "r1@x,r2@x"));
	db_track_submit(mkrec("U2", 2000, "inbound", "a@x", "s",
	    TRACK_RELAYED, "r1@x"));
	db_track_submit(mkrec("U3", 3000, "inbound", "a@x", "s",
	    TRACK_RELAYED, "r1@x,r2@x,r3@x"));
	/* In the same batch: jobs run in submission order. */
	db_track_purge_submit(2500);
	db_track_submit(mkrec("U4", 500, "inbound", "a@x", "s",
	    TRACK_RELAYED, "r1@x"));
	db_flush();
	check_search(&q, "U3,U4");
	assert_int_equal(raw_int(f->path,
	    "SELECT count(*) FROM tracking_rcpt"), 4);

	db_track_purge_submit(1000);
	db_flush();
	check_search(&q, "U3");
	assert_int_equal(raw_int(f->path,
	    "SELECT count(*) FROM tracking_rcpt"), 3);
	/* The hourly counters outlive tracking. */
	assert_int_equal(raw_int(f->path,
	    "SELECT sum(messages) FROM stats_hourly"), 4);
}

/* --- threads ------------------------------------------------------------- */

#define NTHREADS	4
#define PER_THREAD	2500

struct submitter {
	int	n;
	int	errors;	/* searches that failed */
};

static volatile int	 submitters_done;

static void *
submit_main(void *arg)
{
	struct submitter	*s = arg;
	char			 qid[24];
	int			 i;

	for (i = 0; i < PER_THREAD; i++) {
		(void)snprintf(qid, sizeof qid, "T%d-%d", s->n, i);
		db_track_submit(mkrec(qid, 100000 + i, "inbound", "t@x",
		    "thread", TRACK_RELAYED, "r1@x,r2@x"));
	}
	return NULL;
}

/* Reads while the writer writes: WAL keeps both going. */
static void *
search_main(void *arg)
{
	struct submitter	*s = arg;
	struct track_query	 q;
	struct db		*db;
	json_t			*res;
	char			*cause = NULL;

	if ((db = db_reader(&cause)) == NULL) {
		free(cause);
		s->errors++;
		return NULL;
	}
	memset(&q, 0, sizeof q);
	q.rcpt = "r2";
	q.limit = 20;
	while (!__atomic_load_n(&submitters_done, __ATOMIC_ACQUIRE)) {
		if ((res = db_track_search(db, &q, &cause)) == NULL) {
			free(cause);
			cause = NULL;
			s->errors++;
			continue;
		}
		json_decref(res);
	}
	return NULL;
}

static void
test_concurrent_submit(void **state)
{
	struct fix		*f = *state;
	pthread_t		 t[NTHREADS], rt;
	struct submitter	 s[NTHREADS], rs = { -1, 0 };
	json_t			*st;
	char			*cause = NULL;
	int			 i;

	__atomic_store_n(&submitters_done, 0, __ATOMIC_RELEASE);
	assert_int_equal(pthread_create(&rt, NULL, search_main, &rs), 0);
	for (i = 0; i < NTHREADS; i++) {
		s[i].n = i;
		s[i].errors = 0;
		assert_int_equal(pthread_create(&t[i], NULL, submit_main,
		    &s[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	db_flush();
	__atomic_store_n(&submitters_done, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(rt, NULL), 0);
	assert_int_equal(rs.errors, 0);

	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tracking"),
	    NTHREADS * PER_THREAD);
	assert_int_equal(raw_int(f->path,
	    "SELECT count(*) FROM tracking_rcpt"), 2 * NTHREADS * PER_THREAD);
	st = db_stats_get(reader(), 0, 0, &cause);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st,
	    "totals"), "relayed")), NTHREADS * PER_THREAD);
	json_decref(st);
}

static void *
reader_main(void *arg)
{
	struct db	**out = arg;
	json_t		 *j;
	char		 *cause = NULL;

	out[0] = db_reader(&cause);
	out[1] = db_reader(&cause);
	if (out[0] != NULL) {
		j = db_track_get(out[0], "Q1", &cause);
		if (!json_is_object(j))
			out[1] = NULL;
		json_decref(j);
	}
	free(cause);
	return NULL;	/* the key's destructor closes the reader */
}

static void
test_reader_per_thread(void **state)
{
	struct db	*mine, *theirs[2] = { NULL, NULL };
	pthread_t	 t;

	(void)state;
	add_search_fixture();
	mine = reader();
	assert_ptr_equal(reader(), mine);
	assert_int_equal(pthread_create(&t, NULL, reader_main, theirs), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_non_null(theirs[0]);
	assert_ptr_equal(theirs[0], theirs[1]);
	assert_ptr_not_equal(theirs[0], mine);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_migrate_empty),
		T(test_reopen),
		T(test_future_version),
		T(test_open_errors),
		T(test_submit_get),
		T(test_duplicate_queue_id),
		T(test_failed_batch),
		T(test_closed_store),
		T(test_search_filters),
		T(test_paging),
		T(test_limit),
		T(test_bad_cursor),
		T(test_like_escaping),
		T(test_stats),
		T(test_verdicts),
		T(test_purge),
		T(test_concurrent_submit),
		T(test_reader_per_thread),
	};

	log_init("test_db", true, false);
	log_set_level(LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
