/*
 * The store on sqlite (WAL): versioned schema migrations, the tracking
 * writer thread that commits submitted records in batches, and one read
 * connection per reading thread.
 * db_open/db_close run on the loop thread; the writer thread owns the write
 * connection while it runs; each reading thread owns its struct db. JSON
 * results are new references the caller owns.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include <sqlite3.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define HOUR_MS		INT64_C(3600000)
#define SEARCH_SQL_MAX	4096		/* longest search statement built */
#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Schema migrations: step i moves the schema to version i + 1. Append new
 * steps (quarantine, greylist ...), never edit a released one.
 */
static const char *const migrations[] = {
	/* 1: tracking and hourly statistics. */
	"CREATE TABLE tracking ("
	"  id INTEGER PRIMARY KEY,"
	"  queue_id TEXT NOT NULL UNIQUE,"
	"  node TEXT,"
	"  time_ms INTEGER NOT NULL,"
	"  direction TEXT NOT NULL,"
	"  client_addr TEXT,"
	"  client_name TEXT,"
	"  helo TEXT,"
	"  sender TEXT,"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  message_id TEXT,"
	"  subject TEXT,"
	"  outcome TEXT NOT NULL,"
	"  reply TEXT,"
	"  relay_reply TEXT,"
	"  duration_ms INTEGER NOT NULL DEFAULT 0,"
	"  relay_ms INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX tracking_time ON tracking(time_ms);"
	"CREATE INDEX tracking_sender ON tracking(sender);"
	"CREATE INDEX tracking_outcome ON tracking(outcome, time_ms);"
	"CREATE TABLE tracking_rcpt ("
	"  tracking_id INTEGER NOT NULL"
	"    REFERENCES tracking(id) ON DELETE CASCADE,"
	"  rcpt TEXT NOT NULL,"
	"  outcome TEXT NOT NULL,"
	"  reply TEXT);"
	/* The cascade on purge needs the first one. */
	"CREATE INDEX tracking_rcpt_tracking ON tracking_rcpt(tracking_id);"
	"CREATE INDEX tracking_rcpt_rcpt ON tracking_rcpt(rcpt);"
	"CREATE TABLE stats_hourly ("
	"  hour_ms INTEGER NOT NULL,"
	"  direction TEXT NOT NULL,"
	"  outcome TEXT NOT NULL,"
	"  messages INTEGER NOT NULL DEFAULT 0,"
	"  bytes INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (hour_ms, direction, outcome)) WITHOUT ROWID;",
	/* 2: the filters' verdict. */
	"ALTER TABLE tracking ADD COLUMN score REAL;"
	"ALTER TABLE tracking ADD COLUMN findings TEXT;",
	/* 3: the quarantine index and sender lists (db_quar.c). */
	"CREATE TABLE quarantine ("
	"  id TEXT PRIMARY KEY,"
	"  queue_id TEXT NOT NULL,"
	"  node TEXT,"
	"  type TEXT NOT NULL,"
	"  time_ms INTEGER NOT NULL,"
	"  direction TEXT NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  client_addr TEXT,"
	"  from_hdr TEXT,"
	"  subject TEXT,"
	"  message_id TEXT,"
	"  score REAL,"
	"  virus TEXT,"
	"  rule TEXT,"
	"  findings TEXT,"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  file TEXT NOT NULL,"
	"  smtputf8 INTEGER NOT NULL DEFAULT 0,"
	"  body_type INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX quarantine_time ON quarantine(time_ms, id);"
	"CREATE INDEX quarantine_type ON quarantine(type, time_ms);"
	"CREATE TABLE quarantine_rcpt ("
	"  quar_id TEXT NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,"
	"  rcpt TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'held',"
	"  PRIMARY KEY (quar_id, rcpt)) WITHOUT ROWID;"
	"CREATE INDEX quarantine_rcpt_rcpt ON quarantine_rcpt(rcpt);"
	"CREATE TABLE sender_list ("
	"  owner TEXT NOT NULL,"
	"  block INTEGER NOT NULL,"
	"  pattern TEXT NOT NULL,"
	"  comment TEXT,"
	"  added_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (owner, block, pattern)) WITHOUT ROWID;",
	/* 4: verdicts per hour (clean, spam, virus, greylisted). */
	"CREATE TABLE stats_verdict ("
	"  hour_ms INTEGER NOT NULL,"
	"  verdict TEXT NOT NULL,"
	"  messages INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (hour_ms, verdict)) WITHOUT ROWID;",
};

_Static_assert(NITEMS(migrations) == DB_SCHEMA_VERSION,
    "one migration step per schema version");

/* The writer's statements, prepared once at open. */
enum {
	W_BEGIN,
	W_COMMIT,
	W_ROLLBACK,
	W_TRACK,
	W_RCPT,
	W_STATS,
	W_PURGE,
	W_VERDICT,
	W_MAX
};

static const char *const writer_sql[W_MAX] = {
	[W_BEGIN] = "BEGIN IMMEDIATE",
	[W_COMMIT] = "COMMIT",
	[W_ROLLBACK] = "ROLLBACK",
	/* A repeated queue id keeps the first record, see writer_track. */
	[W_TRACK] = "INSERT INTO tracking (queue_id, node, time_ms, direction,"
	    " client_addr, client_name, helo, sender, size, message_id,"
	    " subject, outcome, reply, relay_reply, duration_ms, relay_ms,"
	    " score, findings)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
	    " ?14, ?15, ?16, ?17, ?18) ON CONFLICT (queue_id) DO NOTHING",
	[W_RCPT] = "INSERT INTO tracking_rcpt (tracking_id, rcpt, outcome,"
	    " reply) VALUES (?1, ?2, ?3, ?4)",
	[W_STATS] = "INSERT INTO stats_hourly (hour_ms, direction, outcome,"
	    " messages, bytes) VALUES (?1, ?2, ?3, 1, ?4)"
	    " ON CONFLICT (hour_ms, direction, outcome) DO UPDATE SET"
	    " messages = messages + 1, bytes = bytes + excluded.bytes",
	[W_PURGE] = "DELETE FROM tracking WHERE time_ms < ?1",
	[W_VERDICT] = "INSERT INTO stats_verdict (hour_ms, verdict, messages)"
	    " VALUES (?1, ?2, 1) ON CONFLICT (hour_ms, verdict) DO UPDATE SET"
	    " messages = messages + 1",
};

/* A reader's fixed statements, prepared on first use. */
enum {
	R_GET,
	R_RCPTS,
	R_STATS,
	R_VERDICTS,
	R_MAX
};

/* Columns every record query selects, in the C_ order below. */
#define TRACK_COLS							\
	"t.id, t.queue_id, t.node, t.time_ms, t.direction,"		\
	" t.client_addr, t.client_name, t.helo, t.sender, t.size,"	\
	" t.message_id, t.subject, t.outcome, t.reply, t.relay_reply,"	\
	" t.duration_ms, t.relay_ms, t.score, t.findings"

enum {
	C_ID,
	C_QUEUE_ID,
	C_NODE,
	C_TIME,
	C_DIRECTION,
	C_CLIENT_ADDR,
	C_CLIENT_NAME,
	C_HELO,
	C_SENDER,
	C_SIZE,
	C_MESSAGE_ID,
	C_SUBJECT,
	C_OUTCOME,
	C_REPLY,
	C_RELAY_REPLY,
	C_DURATION,
	C_RELAY_MS,
	C_SCORE,
	C_FINDINGS
};

static const char *const reader_sql[R_MAX] = {
	[R_GET] = "SELECT " TRACK_COLS " FROM tracking t WHERE t.queue_id = ?1",
	[R_RCPTS] = "SELECT rcpt, outcome, reply FROM tracking_rcpt"
	    " WHERE tracking_id = ?1 ORDER BY rowid",
	[R_STATS] = "SELECT hour_ms, direction, outcome, messages, bytes"
	    " FROM stats_hourly WHERE hour_ms >= ?1 AND hour_ms < ?2"
	    " ORDER BY hour_ms, direction, outcome",
	[R_VERDICTS] = "SELECT hour_ms, verdict, messages FROM stats_verdict"
	    " WHERE hour_ms >= ?1 AND hour_ms < ?2 ORDER BY hour_ms, verdict",
};

/*
 * Search filters: the statement's shape is the set of filters present (a
 * bit each); every value is bound. One cached statement per shape.
 */
enum {
	F_SENDER,
	F_RCPT,
	F_TEXT,
	F_OUTCOME,
	F_DIRECTION,
	F_FROM,
	F_TO,
	F_CURSOR,
	F_MAX
};
#define SEARCH_SHAPES	(1 << F_MAX)

#define LIKE(col, p)	" " col " LIKE " p " ESCAPE '\\'"
#define RCPT_LIKE(p)							\
	" EXISTS (SELECT 1 FROM tracking_rcpt r WHERE"			\
	" r.tracking_id = t.id AND" LIKE("r.rcpt", p) ")"

static const char *const search_clause[F_MAX] = {
	[F_SENDER] = " AND" LIKE("t.sender", ":sender"),
	[F_RCPT] = " AND" RCPT_LIKE(":rcpt"),
	[F_TEXT] = " AND (" LIKE("t.subject", ":text")
	    " OR" LIKE("t.sender", ":text")
	    " OR" LIKE("t.message_id", ":text")
	    " OR" LIKE("t.queue_id", ":text")
	    " OR" LIKE("t.client_addr", ":text")
	    " OR" LIKE("t.client_name", ":text")
	    " OR" RCPT_LIKE(":text") ")",
	[F_OUTCOME] = " AND t.outcome = :outcome",
	[F_DIRECTION] = " AND t.direction = :direction",
	[F_FROM] = " AND t.time_ms >= :from",
	[F_TO] = " AND t.time_ms < :to",
	[F_CURSOR] = " AND (t.time_ms, t.id) < (:ctime, :cid)",
};

struct db {
	sqlite3		*conn;
	sqlite3_stmt	*stmt[R_MAX];
	sqlite3_stmt	*search[SEARCH_SHAPES];
	struct db	*next;		/* under readers_lock */
};

enum job_kind {
	JOB_TRACK,
	JOB_PURGE,
	JOB_VERDICT
};

struct job {
	enum job_kind		 kind;
	struct track_rec	*rec;		/* owned; JOB_TRACK */
	int64_t			 before_ms;	/* JOB_PURGE; JOB_VERDICT: time */
	const char		*verdict;	/* JOB_VERDICT, static */
};

struct jobs {
	struct job	*v;
	size_t		 n;
	size_t		 cap;
};

static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 work;		/* writer waits for jobs or stop */
	pthread_cond_t	 done;		/* flushers wait for completed */
	struct jobs	 queue;		/* under lock */
	uint64_t	 submitted;	/* under lock: jobs ever queued */
	uint64_t	 completed;	/* under lock: jobs done (or dropped) */
	uint64_t	 dropped;	/* under lock: refused, queue full */
	bool		 running;	/* under lock: open, writer started */
	bool		 stopping;	/* under lock */
	unsigned	 flushers;	/* under lock: db_flush callers waiting */
	pthread_t	 thread;
	sqlite3		*wconn;		/* the writer's while it runs */
	sqlite3_stmt	*wstmt[W_MAX];
	char		*path;		/* under lock */
	pthread_key_t	 key;		/* a reader per thread, if running */
} st = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

static pthread_mutex_t	 readers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct db	*readers;	/* under readers_lock: every open one */

static void
set_cause(char **cause, sqlite3 *conn, const char *what)
{
	if (cause == NULL)
		return;
	if (conn != NULL)
		(void)xasprintf(cause, "%s: %s", what, sqlite3_errmsg(conn));
	else
		*cause = xstrdup(what);
}

/* Static SQL only (schema, pragmas): values are never part of it. */
static int
exec_sql(sqlite3 *conn, const char *sql, char **cause)
{
	char	*err = NULL;

	if (sqlite3_exec(conn, sql, NULL, NULL, &err) != SQLITE_OK) {
		(void)xasprintf(cause, "%s",
		    err != NULL ? err : sqlite3_errmsg(conn));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int
prepare(sqlite3 *conn, const char *sql, sqlite3_stmt **out, char **cause)
{
	if (sqlite3_prepare_v3(conn, sql, -1, SQLITE_PREPARE_PERSISTENT, out,
	    NULL) != SQLITE_OK) {
		set_cause(cause, conn, "prepare");
		*out = NULL;
		return -1;
	}
	return 0;
}

static int
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* Bind by name; a name missing from the statement is a bug. */
static int
bind_name_text(sqlite3_stmt *s, const char *name, const char *v)
{
	int	i;

	if ((i = sqlite3_bind_parameter_index(s, name)) == 0)
		return SQLITE_RANGE;
	return sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

static int
bind_name_int64(sqlite3_stmt *s, const char *name, int64_t v)
{
	int	i;

	if ((i = sqlite3_bind_parameter_index(s, name)) == 0)
		return SQLITE_RANGE;
	return sqlite3_bind_int64(s, i, v);
}

static int64_t
hour_floor(int64_t ms)
{
	int64_t	h = ms / HOUR_MS * HOUR_MS;

	if (h > ms)
		h -= HOUR_MS;
	return h;
}

static sqlite3 *
conn_open(const char *path, int flags, char **cause)
{
	sqlite3	*conn = NULL;
	int	 rc;

	rc = sqlite3_open_v2(path, &conn, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		(void)xasprintf(cause, "%s", conn != NULL ?
		    sqlite3_errmsg(conn) : sqlite3_errstr(rc));
		sqlite3_close(conn);
		return NULL;
	}
	if (sqlite3_busy_timeout(conn, DB_BUSY_TIMEOUT_MS) != SQLITE_OK) {
		set_cause(cause, conn, "busy timeout");
		sqlite3_close(conn);
		return NULL;
	}
	return conn;
}

static int
conn_set_wal(sqlite3 *conn, char **cause)
{
	sqlite3_stmt		*s;
	const unsigned char	*mode = NULL;
	int			 rc;

	if (sqlite3_prepare_v2(conn, "PRAGMA journal_mode=WAL", -1, &s,
	    NULL) != SQLITE_OK) {
		set_cause(cause, conn, "journal_mode");
		return -1;
	}
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		mode = sqlite3_column_text(s, 0);
	if (mode == NULL || strcasecmp((const char *)mode, "wal") != 0) {
		if (rc != SQLITE_ROW)
			set_cause(cause, conn, "journal_mode");
		else
			(void)xasprintf(cause, "journal mode is %s, not wal",
			    mode != NULL ? (const char *)mode : "unknown");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

static int
schema_version(sqlite3 *conn, int64_t *version, char **cause)
{
	sqlite3_stmt	*s;
	int		 rc;

	if (sqlite3_prepare_v2(conn, "SELECT coalesce(max(version), 0)"
	    " FROM schema_version", -1, &s, NULL) != SQLITE_OK) {
		set_cause(cause, conn, "schema version");
		return -1;
	}
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		set_cause(cause, conn, "schema version");
		sqlite3_finalize(s);
		return -1;
	}
	*version = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return 0;
}

/* Apply the missing migration steps in one transaction: all or none. */
static int
migrate(sqlite3 *conn, char **cause)
{
	sqlite3_stmt	*s = NULL;
	int64_t		 have;
	size_t		 i;
	char		*err = NULL;

	if (exec_sql(conn, "BEGIN IMMEDIATE", cause) == -1)
		return -1;
	if (exec_sql(conn, "CREATE TABLE IF NOT EXISTS schema_version ("
	    " version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
	    cause) == -1)
		goto fail;
	if (schema_version(conn, &have, cause) == -1)
		goto fail;
	if (have > DB_SCHEMA_VERSION) {
		(void)xasprintf(cause, "database schema version %" PRId64
		    " is newer than this moatd supports (%d)", have,
		    DB_SCHEMA_VERSION);
		goto fail;
	}
	if (have < 0) {
		(void)xasprintf(cause, "bad schema version %" PRId64, have);
		goto fail;
	}
	if (prepare(conn, "INSERT INTO schema_version (version, applied_ms)"
	    " VALUES (?1, ?2)", &s, cause) == -1)
		goto fail;
	for (i = (size_t)have; i < NITEMS(migrations); i++) {
		if (exec_sql(conn, migrations[i], &err) == -1) {
			(void)xasprintf(cause, "migration to schema version "
			    "%zu: %s", i + 1, err);
			free(err);
			goto fail;
		}
		if (sqlite3_bind_int64(s, 1, (int64_t)i + 1) != SQLITE_OK ||
		    sqlite3_bind_int64(s, 2, util_wall_ms()) != SQLITE_OK ||
		    sqlite3_step(s) != SQLITE_DONE) {
			set_cause(cause, conn, "schema version");
			goto fail;
		}
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	s = NULL;
	if (exec_sql(conn, "COMMIT", cause) == -1)
		goto fail;
	if (have < DB_SCHEMA_VERSION)
		log_info("db: schema migrated from version %" PRId64 " to %d",
		    have, DB_SCHEMA_VERSION);
	return 0;

fail:
	sqlite3_finalize(s);
	if (!sqlite3_get_autocommit(conn))
		(void)sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static void
writer_finalize(void)
{
	int	i;

	for (i = 0; i < W_MAX; i++) {
		sqlite3_finalize(st.wstmt[i]);
		st.wstmt[i] = NULL;
	}
}

static int
writer_prepare(sqlite3 *conn, char **cause)
{
	int	i;

	for (i = 0; i < W_MAX; i++) {
		if (prepare(conn, writer_sql[i], &st.wstmt[i], cause) == -1) {
			writer_finalize();
			return -1;
		}
	}
	return 0;
}

/* Step a statement that returns no rows, then reset it for reuse. */
static int
writer_step(int w, char **cause)
{
	sqlite3_stmt	*s = st.wstmt[w];

	if (sqlite3_step(s) != SQLITE_DONE) {
		set_cause(cause, st.wconn, writer_sql[w]);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

static int
writer_rcpts(const struct track_rec *r, int64_t id, char **cause)
{
	sqlite3_stmt	*s = st.wstmt[W_RCPT];
	const char	*addr;
	size_t		 i;

	for (i = 0; i < r->nrcpts; i++) {
		addr = r->rcpts[i].addr != NULL ? r->rcpts[i].addr : "";
		if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK ||
		    bind_text(s, 2, addr) != SQLITE_OK ||
		    bind_text(s, 3, track_outcome_name(r->rcpts[i].outcome)) !=
		    SQLITE_OK ||
		    bind_text(s, 4, r->rcpts[i].reply) != SQLITE_OK) {
			set_cause(cause, st.wconn, "bind recipient");
			return -1;
		}
		if (writer_step(W_RCPT, cause) == -1)
			return -1;
	}
	return 0;
}

/* Inside the batch's transaction: the record, its recipients, counters. */
static int
writer_verdict(int64_t time_ms, const char *verdict, char **cause)
{
	sqlite3_stmt	*s = st.wstmt[W_VERDICT];

	if (sqlite3_bind_int64(s, 1, hour_floor(time_ms)) != SQLITE_OK ||
	    bind_text(s, 2, verdict) != SQLITE_OK) {
		set_cause(cause, st.wconn, "bind verdict");
		return -1;
	}
	return writer_step(W_VERDICT, cause);
}

static int
writer_track(const struct track_rec *r, char **cause)
{
	sqlite3_stmt	*s = st.wstmt[W_TRACK];
	const char	*dir = r->direction != NULL ? r->direction : "inbound";
	const char	*outcome = track_outcome_name(r->outcome);
	int64_t		 size, id;
	char		*findings;
	int		 bad = 0;

	size = r->size > INT64_MAX ? INT64_MAX : (int64_t)r->size;
	bad |= sqlite3_bind_text(s, 1, r->queue_id,
	    (int)strnlen(r->queue_id, sizeof r->queue_id), SQLITE_STATIC);
	bad |= bind_text(s, 2, r->node);
	bad |= sqlite3_bind_int64(s, 3, r->time_ms);
	bad |= bind_text(s, 4, dir);
	bad |= bind_text(s, 5, r->client_addr);
	bad |= bind_text(s, 6, r->client_name);
	bad |= bind_text(s, 7, r->helo);
	bad |= bind_text(s, 8, r->sender);
	bad |= sqlite3_bind_int64(s, 9, size);
	bad |= bind_text(s, 10, r->message_id);
	bad |= bind_text(s, 11, r->subject);
	bad |= bind_text(s, 12, outcome);
	bad |= bind_text(s, 13, r->reply);
	bad |= bind_text(s, 14, r->relay_reply);
	bad |= sqlite3_bind_int64(s, 15, r->duration_ms);
	bad |= sqlite3_bind_int64(s, 16, r->relay_ms);
	if (r->scanned)
		bad |= sqlite3_bind_double(s, 17, r->score);
	else
		bad |= sqlite3_bind_null(s, 17);
	findings = r->findings != NULL ? json_dumps(r->findings,
	    JSON_COMPACT) : NULL;
	bad |= bind_text(s, 18, findings);
	if (bad != SQLITE_OK) {
		free(findings);
		set_cause(cause, st.wconn, "bind tracking");
		return -1;
	}
	bad = writer_step(W_TRACK, cause);
	free(findings);
	if (bad == -1)
		return -1;
	if (sqlite3_changes(st.wconn) == 0) {
		/* Dropping it keeps the rest of the batch and the counters
		 * honest. */
		log_warnx("db: %.*s: queue id already tracked, record dropped",
		    (int)sizeof r->queue_id, r->queue_id);
		return 0;
	}
	id = sqlite3_last_insert_rowid(st.wconn);
	if (writer_rcpts(r, id, cause) == -1)
		return -1;

	s = st.wstmt[W_STATS];
	if (sqlite3_bind_int64(s, 1, hour_floor(r->time_ms)) != SQLITE_OK ||
	    bind_text(s, 2, dir) != SQLITE_OK ||
	    bind_text(s, 3, outcome) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, size) != SQLITE_OK) {
		set_cause(cause, st.wconn, "bind stats");
		return -1;
	}
	if (writer_step(W_STATS, cause) == -1)
		return -1;
	return r->verdict != NULL ? writer_verdict(r->time_ms, r->verdict,
	    cause) : 0;
}

static int
writer_purge(int64_t before_ms, char **cause)
{
	if (sqlite3_bind_int64(st.wstmt[W_PURGE], 1, before_ms) != SQLITE_OK) {
		set_cause(cause, st.wconn, "bind purge");
		return -1;
	}
	if (writer_step(W_PURGE, cause) == -1)
		return -1;
	log_info("db: purged %d tracking records older than %" PRId64,
	    sqlite3_changes(st.wconn), before_ms);
	return 0;
}

/* One transaction for the whole batch; on failure the batch is dropped. */
static void
writer_batch(struct jobs *b)
{
	char	*cause = NULL;
	size_t	 i;
	int	 rv = 0;

	if (writer_step(W_BEGIN, &cause) == -1)
		rv = -1;
	for (i = 0; rv == 0 && i < b->n; i++) {
		if (b->v[i].kind == JOB_TRACK)
			rv = writer_track(b->v[i].rec, &cause);
		else if (b->v[i].kind == JOB_VERDICT)
			rv = writer_verdict(b->v[i].before_ms,
			    b->v[i].verdict, &cause);
		else
			rv = writer_purge(b->v[i].before_ms, &cause);
	}
	if (rv == 0)
		rv = writer_step(W_COMMIT, &cause);
	if (rv == -1) {
		log_warnx("db: batch of %zu tracking jobs dropped: %s", b->n,
		    cause);
		free(cause);
		cause = NULL;
		if (!sqlite3_get_autocommit(st.wconn) &&
		    writer_step(W_ROLLBACK, &cause) == -1) {
			log_warnx("db: rollback: %s", cause);
			free(cause);
		}
	}
	for (i = 0; i < b->n; i++)
		track_rec_free(b->v[i].rec);
	b->n = 0;
}

/* Wait up to DB_BATCH_WAIT_MS, or until a flush or stop asks. */
static void
batch_wait(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)DB_BATCH_WAIT_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&st.work, &st.lock, &ts);
}

static void *
writer_main(void *arg)
{
	struct jobs	 batch = { NULL, 0, 0 }, tmp;
	uint64_t	 upto, dropped;

	(void)arg;
	pthread_mutex_lock(&st.lock);
	for (;;) {
		while (st.queue.n == 0 && !st.stopping)
			pthread_cond_wait(&st.work, &st.lock);
		if (st.queue.n == 0)
			break;
		/* Let a batch gather: one commit for many records is what
		 * keeps the writer's disk writes far below the mail rate. */
		if (!st.stopping && st.flushers == 0 &&
		    st.queue.n < DB_BATCH_MAX)
			batch_wait();
		/* Take everything queued; give back the empty array. */
		tmp = st.queue;
		st.queue = batch;
		batch = tmp;
		upto = st.submitted;
		dropped = st.dropped;
		st.dropped = 0;
		pthread_mutex_unlock(&st.lock);

		if (dropped > 0)
			log_warnx("db: %" PRIu64 " tracking records dropped, "
			    "writer queue full", dropped);
		writer_batch(&batch);

		pthread_mutex_lock(&st.lock);
		st.completed = upto;
		pthread_cond_broadcast(&st.done);
	}
	pthread_mutex_unlock(&st.lock);
	free(batch.v);
	return NULL;
}

static void
queue_push(const struct job *j)
{
	size_t	cap;

	if (st.queue.n == st.queue.cap) {
		cap = st.queue.cap != 0 ? st.queue.cap * 2 : 256;
		st.queue.v = xreallocarray(st.queue.v, cap, sizeof *st.queue.v);
		st.queue.cap = cap;
	}
	st.queue.v[st.queue.n++] = *j;
}

static void
reader_free(struct db *db)
{
	int	i;

	if (db == NULL)
		return;
	for (i = 0; i < R_MAX; i++)
		sqlite3_finalize(db->stmt[i]);
	for (i = 0; i < SEARCH_SHAPES; i++)
		sqlite3_finalize(db->search[i]);
	if (sqlite3_close(db->conn) != SQLITE_OK)
		log_warnx("db: close reader: %s", sqlite3_errmsg(db->conn));
	free(db);
}

/* Thread exit: close the thread's reader unless db_close already did. */
static void
reader_destroy(void *arg)
{
	struct db	*db = arg, **pp;
	bool		 found = false;

	pthread_mutex_lock(&readers_lock);
	for (pp = &readers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == db) {
			*pp = db->next;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&readers_lock);
	if (found)
		reader_free(db);
}

static void
readers_close_all(void)
{
	struct db	*db, *next;

	pthread_mutex_lock(&readers_lock);
	db = readers;
	readers = NULL;
	pthread_mutex_unlock(&readers_lock);
	for (; db != NULL; db = next) {
		next = db->next;
		reader_free(db);
	}
}

static int
writer_start(char **cause)
{
	sigset_t	 all, old;
	int		 rc;

	/* The writer never takes a signal meant for the loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&st.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		(void)xasprintf(cause, "writer thread: %s", strerror(rc));
		return -1;
	}
	return 0;
}

int
db_open(const char *path, char **cause)
{
	sqlite3	*conn;
	char	*why = NULL;
	int	 rc;

	pthread_mutex_lock(&st.lock);
	rc = st.running;
	pthread_mutex_unlock(&st.lock);
	if (rc) {
		*cause = xstrdup("store already open");
		return -1;
	}
	/* Connections move between threads and run side by side. */
	if (!sqlite3_threadsafe()) {
		*cause = xstrdup("sqlite3 was built without thread support");
		return -1;
	}

	conn = conn_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    &why);
	if (conn == NULL)
		goto fail;
	if (conn_set_wal(conn, &why) == -1 ||
	    exec_sql(conn, "PRAGMA synchronous=NORMAL;"
	    " PRAGMA foreign_keys=ON", &why) == -1 ||
	    migrate(conn, &why) == -1 ||
	    writer_prepare(conn, &why) == -1)
		goto fail;
	if ((rc = pthread_key_create(&st.key, reader_destroy)) != 0) {
		(void)xasprintf(&why, "thread key: %s", strerror(rc));
		writer_finalize();
		goto fail;
	}

	pthread_mutex_lock(&st.lock);
	st.wconn = conn;
	st.path = xstrdup(path);
	st.submitted = st.completed = st.dropped = 0;
	st.stopping = false;
	if (writer_start(&why) == -1) {
		free(st.path);
		st.path = NULL;
		st.wconn = NULL;
		pthread_mutex_unlock(&st.lock);
		pthread_key_delete(st.key);
		writer_finalize();
		goto fail;
	}
	st.running = true;
	pthread_mutex_unlock(&st.lock);
	log_debug("db: %s open, schema version %d", path, DB_SCHEMA_VERSION);
	return 0;

fail:
	sqlite3_close(conn);
	(void)xasprintf(cause, "%s: %s", path, why);
	free(why);
	return -1;
}

void
db_close(void)
{
	char	*cause = NULL;
	size_t	 i;

	pthread_mutex_lock(&st.lock);
	if (!st.running || st.stopping) {
		pthread_mutex_unlock(&st.lock);
		return;
	}
	st.stopping = true;
	pthread_cond_signal(&st.work);
	pthread_mutex_unlock(&st.lock);

	/* The writer drains the queue before it returns. */
	pthread_join(st.thread, NULL);

	/* Readers first, so the writer's close is the last one and folds the
	 * WAL back into the database. */
	readers_close_all();
	pthread_key_delete(st.key);

	if (exec_sql(st.wconn, "PRAGMA optimize", &cause) == -1) {
		log_debug("db: optimize: %s", cause);
		free(cause);
	}
	writer_finalize();
	if (sqlite3_close(st.wconn) != SQLITE_OK)
		log_warnx("db: close: %s", sqlite3_errmsg(st.wconn));

	pthread_mutex_lock(&st.lock);
	st.wconn = NULL;
	for (i = 0; i < st.queue.n; i++)	/* none: the writer drained */
		track_rec_free(st.queue.v[i].rec);
	free(st.queue.v);
	memset(&st.queue, 0, sizeof st.queue);
	free(st.path);
	st.path = NULL;
	st.running = false;
	st.stopping = false;
	pthread_cond_broadcast(&st.done);
	pthread_mutex_unlock(&st.lock);
}

/* Under st.lock: queue a job, or say why not. */
static bool
submit_job(const struct job *j, bool bounded)
{
	if (!st.running || st.stopping)
		return false;
	if (bounded && st.queue.n >= DB_QUEUE_MAX)
		return false;
	queue_push(j);
	st.submitted++;
	/* Wake the writer only when it sleeps on an empty queue: one futex
	 * call per batch, not per message. */
	if (st.queue.n == 1)
		pthread_cond_signal(&st.work);
	return true;
}

void
db_track_submit(struct track_rec *rec)
{
	struct job	 j = { .kind = JOB_TRACK, .rec = rec };
	bool		 ok, first = false, open;

	if (rec == NULL)
		return;
	pthread_mutex_lock(&st.lock);
	open = st.running && !st.stopping;
	if (!(ok = submit_job(&j, true)) && open)
		first = st.dropped++ == 0;
	pthread_mutex_unlock(&st.lock);
	if (ok)
		return;
	if (first)
		log_warnx("db: %.*s: tracking writer queue full (%d), dropping "
		    "records", (int)sizeof rec->queue_id, rec->queue_id,
		    DB_QUEUE_MAX);
	else if (!open)
		log_debug("db: %.*s: store not open, tracking record dropped",
		    (int)sizeof rec->queue_id, rec->queue_id);
	track_rec_free(rec);
}

void
db_verdict_count(const char *verdict, int64_t time_ms)
{
	struct job	 j = { .kind = JOB_VERDICT, .before_ms = time_ms,
			    .verdict = verdict };

	pthread_mutex_lock(&st.lock);
	(void)submit_job(&j, true);
	pthread_mutex_unlock(&st.lock);
}

void
db_track_purge_submit(int64_t before_ms)
{
	struct job	 j = { .kind = JOB_PURGE, .before_ms = before_ms };
	bool		 ok;

	pthread_mutex_lock(&st.lock);
	ok = submit_job(&j, false);
	pthread_mutex_unlock(&st.lock);
	if (!ok)
		log_debug("db: store not open, purge ignored");
}

void
db_flush(void)
{
	uint64_t	target;

	pthread_mutex_lock(&st.lock);
	target = st.submitted;
	st.flushers++;
	pthread_cond_signal(&st.work);
	while (st.running && st.completed < target)
		pthread_cond_wait(&st.done, &st.lock);
	st.flushers--;
	pthread_mutex_unlock(&st.lock);
}

struct db *
db_reader(char **cause)
{
	struct db	*db;
	sqlite3		*conn;
	pthread_key_t	 key;
	char		*path, *why = NULL;
	int		 rc;

	pthread_mutex_lock(&st.lock);
	if (!st.running) {
		pthread_mutex_unlock(&st.lock);
		*cause = xstrdup("store not open");
		return NULL;
	}
	key = st.key;
	if ((db = pthread_getspecific(key)) != NULL) {
		pthread_mutex_unlock(&st.lock);
		return db;
	}
	path = xstrdup(st.path);
	pthread_mutex_unlock(&st.lock);

	/* Read-only: readers never write, whatever a bug asks. */
	conn = conn_open(path, SQLITE_OPEN_READONLY, &why);
	if (conn == NULL) {
		(void)xasprintf(cause, "%s: %s", path, why);
		free(why);
		free(path);
		return NULL;
	}
	free(path);
	db = xcalloc(1, sizeof *db);
	db->conn = conn;
	if ((rc = pthread_setspecific(key, db)) != 0) {
		(void)xasprintf(cause, "thread key: %s", strerror(rc));
		reader_free(db);
		return NULL;
	}
	pthread_mutex_lock(&readers_lock);
	db->next = readers;
	readers = db;
	pthread_mutex_unlock(&readers_lock);
	return db;
}

static sqlite3_stmt *
reader_stmt(struct db *db, int r, char **cause)
{
	if (db->stmt[r] == NULL &&
	    prepare(db->conn, reader_sql[r], &db->stmt[r], cause) == -1)
		return NULL;
	return db->stmt[r];
}

static char *
col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char	*p;

	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return NULL;
	if ((p = sqlite3_column_text(s, i)) == NULL)
		return NULL;
	return xstrdup((const char *)p);
}

static enum track_outcome
col_outcome(sqlite3_stmt *s, int i)
{
	const unsigned char	*p;
	enum track_outcome	 o;

	p = sqlite3_column_text(s, i);
	if (p == NULL || track_outcome_parse((const char *)p, &o) == -1)
		return TRACK_OUTCOME_MAX;	/* shown as "unknown" */
	return o;
}

static int
load_rcpts(struct db *db, int64_t id, struct track_rec *r, char **cause)
{
	sqlite3_stmt		*s;
	struct track_rcpt	*rc;
	size_t			 cap = 0;
	int			 step;

	if ((s = reader_stmt(db, R_RCPTS, cause)) == NULL)
		return -1;
	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
		set_cause(cause, db->conn, "bind");
		return -1;
	}
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (r->nrcpts == cap) {
			cap = cap != 0 ? cap * 2 : 4;
			r->rcpts = xreallocarray(r->rcpts, cap,
			    sizeof *r->rcpts);
		}
		rc = &r->rcpts[r->nrcpts++];
		if ((rc->addr = col_dup(s, 0)) == NULL)
			rc->addr = xstrdup("");
		rc->outcome = col_outcome(s, 1);
		rc->reply = col_dup(s, 2);
	}
	if (step != SQLITE_DONE) {
		set_cause(cause, db->conn, "recipients");
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

static void
sanitize_str(char **p)
{
	char	*s = *p;

	if (s == NULL)
		return;
	*p = util_sanitize(s, strlen(s), strlen(s));
	free(s);
}

/* Rows written by older code may hold invalid UTF-8 that jansson refuses. */
static void
rec_sanitize(struct track_rec *r, char **dir)
{
	char	*q;
	size_t	 i;

	q = util_sanitize(r->queue_id, strnlen(r->queue_id,
	    sizeof r->queue_id), sizeof r->queue_id - 1);
	(void)snprintf(r->queue_id, sizeof r->queue_id, "%s", q);
	free(q);
	sanitize_str(dir);
	r->direction = *dir;
	sanitize_str(&r->node);
	sanitize_str(&r->client_addr);
	sanitize_str(&r->client_name);
	sanitize_str(&r->helo);
	sanitize_str(&r->sender);
	sanitize_str(&r->message_id);
	sanitize_str(&r->subject);
	sanitize_str(&r->reply);
	sanitize_str(&r->relay_reply);
	for (i = 0; i < r->nrcpts; i++) {
		sanitize_str(&r->rcpts[i].addr);
		sanitize_str(&r->rcpts[i].reply);
	}
}

/* The current row of s (TRACK_COLS) as track_rec_to_json shapes it. */
static json_t *
row_to_json(struct db *db, sqlite3_stmt *s, char **cause)
{
	struct track_rec	*r;
	const unsigned char	*qid, *text;
	char			*dir;
	json_t			*j = NULL;
	int64_t			 v;

	r = track_rec_new();
	if ((qid = sqlite3_column_text(s, C_QUEUE_ID)) != NULL)
		(void)snprintf(r->queue_id, sizeof r->queue_id, "%s", qid);
	r->node = col_dup(s, C_NODE);
	r->time_ms = sqlite3_column_int64(s, C_TIME);
	dir = col_dup(s, C_DIRECTION);	/* direction is borrowed by r */
	r->direction = dir;
	r->client_addr = col_dup(s, C_CLIENT_ADDR);
	r->client_name = col_dup(s, C_CLIENT_NAME);
	r->helo = col_dup(s, C_HELO);
	r->sender = col_dup(s, C_SENDER);
	v = sqlite3_column_int64(s, C_SIZE);
	r->size = v > 0 ? (uint64_t)v : 0;
	r->message_id = col_dup(s, C_MESSAGE_ID);
	r->subject = col_dup(s, C_SUBJECT);
	r->outcome = col_outcome(s, C_OUTCOME);
	r->reply = col_dup(s, C_REPLY);
	r->relay_reply = col_dup(s, C_RELAY_REPLY);
	v = sqlite3_column_int64(s, C_DURATION);
	r->duration_ms = v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
	v = sqlite3_column_int64(s, C_RELAY_MS);
	r->relay_ms = v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
	if (sqlite3_column_type(s, C_SCORE) != SQLITE_NULL) {
		r->scanned = true;
		r->score = sqlite3_column_double(s, C_SCORE);
	}
	if ((text = sqlite3_column_text(s, C_FINDINGS)) != NULL)
		r->findings = json_loads((const char *)text, 0, NULL);

	if (load_rcpts(db, sqlite3_column_int64(s, C_ID), r, cause) == 0) {
		if ((j = track_rec_to_json(r)) == NULL) {
			rec_sanitize(r, &dir);
			j = track_rec_to_json(r);
		}
		if (j == NULL)
			(void)xasprintf(cause, "%s: record not representable "
			    "as JSON", r->queue_id);
	}
	track_rec_free(r);
	free(dir);
	return j;
}

json_t *
db_track_get(struct db *db, const char *queue_id, char **cause)
{
	sqlite3_stmt	*s;
	json_t		*j = NULL;
	int		 rc;

	if ((s = reader_stmt(db, R_GET, cause)) == NULL)
		return NULL;
	if (bind_text(s, 1, queue_id) != SQLITE_OK) {
		set_cause(cause, db->conn, "bind");
		return NULL;
	}
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		j = row_to_json(db, s, cause);
	else if (rc == SQLITE_DONE)
		j = json_null();
	else
		set_cause(cause, db->conn, "tracking.get");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return j;
}

/* '%' s '%' with \, % and _ escaped for LIKE ... ESCAPE '\'. Caller frees. */
static char *
like_pattern(const char *s)
{
	char	*out, *o;

	o = out = xmalloc(2 * strlen(s) + 3);
	*o++ = '%';
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '%' || *s == '_')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '%';
	*o = '\0';
	return out;
}

/* "time_ms:id", both decimal, id positive. */
static int
cursor_parse(const char *c, int64_t *time_ms, int64_t *id)
{
	char		*end;
	long long	 t, i;

	if (strlen(c) > DB_CURSOR_MAX)
		return -1;
	if (!(c[0] == '-' || (c[0] >= '0' && c[0] <= '9')))
		return -1;
	errno = 0;
	t = strtoll(c, &end, 10);
	if (errno != 0 || end == c || *end != ':')
		return -1;
	c = end + 1;
	if (!(c[0] >= '0' && c[0] <= '9'))
		return -1;
	i = strtoll(c, &end, 10);
	if (errno != 0 || *end != '\0' || i <= 0)
		return -1;
	*time_ms = t;
	*id = i;
	return 0;
}

static bool
has(const char *s)
{
	return s != NULL && *s != '\0';
}

static sqlite3_stmt *
search_stmt(struct db *db, unsigned shape, char **cause)
{
	struct buf	 b;
	int		 f, bad = 0;

	if (db->search[shape] != NULL)
		return db->search[shape];
	buf_init(&b, SEARCH_SQL_MAX);
	bad |= buf_append(&b, "SELECT " TRACK_COLS " FROM tracking t WHERE 1",
	    strlen("SELECT " TRACK_COLS " FROM tracking t WHERE 1"));
	for (f = 0; f < F_MAX; f++) {
		if (shape & (1u << f))
			bad |= buf_append(&b, search_clause[f],
			    strlen(search_clause[f]));
	}
	bad |= buf_append(&b, " ORDER BY t.time_ms DESC, t.id DESC"
	    " LIMIT :limit", strlen(" ORDER BY t.time_ms DESC, t.id DESC"
	    " LIMIT :limit"));
	if (bad != 0) {
		buf_free(&b);
		*cause = xstrdup("search statement too long");
		return NULL;
	}
	(void)prepare(db->conn, b.data, &db->search[shape], cause);
	buf_free(&b);
	return db->search[shape];
}

static int
search_bind(sqlite3_stmt *s, const struct track_query *q, int64_t ctime,
    int64_t cid, int limit)
{
	char	*p;
	int	 bad = 0;

	if (has(q->sender)) {
		p = like_pattern(q->sender);
		bad |= bind_name_text(s, ":sender", p);
		free(p);
	}
	if (has(q->rcpt)) {
		p = like_pattern(q->rcpt);
		bad |= bind_name_text(s, ":rcpt", p);
		free(p);
	}
	if (has(q->text)) {
		p = like_pattern(q->text);
		bad |= bind_name_text(s, ":text", p);
		free(p);
	}
	if (has(q->outcome))
		bad |= bind_name_text(s, ":outcome", q->outcome);
	if (has(q->direction))
		bad |= bind_name_text(s, ":direction", q->direction);
	if (q->from_ms != 0)
		bad |= bind_name_int64(s, ":from", q->from_ms);
	if (q->to_ms != 0)
		bad |= bind_name_int64(s, ":to", q->to_ms);
	if (has(q->cursor)) {
		bad |= bind_name_int64(s, ":ctime", ctime);
		bad |= bind_name_int64(s, ":cid", cid);
	}
	/* One more row than the page tells whether a next page exists. */
	bad |= bind_name_int64(s, ":limit", (int64_t)limit + 1);
	return bad == SQLITE_OK ? 0 : -1;
}

static unsigned
search_shape(const struct track_query *q)
{
	unsigned	shape = 0;

	if (has(q->sender))
		shape |= 1u << F_SENDER;
	if (has(q->rcpt))
		shape |= 1u << F_RCPT;
	if (has(q->text))
		shape |= 1u << F_TEXT;
	if (has(q->outcome))
		shape |= 1u << F_OUTCOME;
	if (has(q->direction))
		shape |= 1u << F_DIRECTION;
	if (q->from_ms != 0)
		shape |= 1u << F_FROM;
	if (q->to_ms != 0)
		shape |= 1u << F_TO;
	if (has(q->cursor))
		shape |= 1u << F_CURSOR;
	return shape;
}

json_t *
db_track_search(struct db *db, const struct track_query *q, char **cause)
{
	sqlite3_stmt		*s;
	json_t			*items = NULL, *res, *j;
	enum track_outcome	 o;
	int64_t			 ctime = 0, cid = 0, last_time = 0, last_id = 0;
	char			 next[64];
	int			 limit, n = 0, rc;
	bool			 more = false;

	if (has(q->outcome) && track_outcome_parse(q->outcome, &o) == -1) {
		(void)xasprintf(cause, "unknown outcome \"%.32s\"",
		    q->outcome);
		return NULL;
	}
	if (has(q->cursor) && cursor_parse(q->cursor, &ctime, &cid) == -1) {
		*cause = xstrdup("malformed cursor");
		return NULL;
	}
	limit = q->limit;
	if (limit <= 0)
		limit = DB_PAGE_DEFAULT;
	if (limit > DB_PAGE_MAX)
		limit = DB_PAGE_MAX;

	if ((s = search_stmt(db, search_shape(q), cause)) == NULL)
		return NULL;
	if (search_bind(s, q, ctime, cid, limit) == -1) {
		set_cause(cause, db->conn, "bind");
		goto out;
	}
	items = json_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == limit) {
			more = true;
			break;
		}
		last_time = sqlite3_column_int64(s, C_TIME);
		last_id = sqlite3_column_int64(s, C_ID);
		if ((j = row_to_json(db, s, cause)) == NULL)
			goto out;
		json_array_append_new(items, j);
		n++;
	}
	if (!more && rc != SQLITE_DONE) {
		set_cause(cause, db->conn, "tracking.search");
		goto out;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);

	res = json_object();
	json_object_set_new(res, "items", items);
	if (more) {
		(void)snprintf(next, sizeof next, "%" PRId64 ":%" PRId64,
		    last_time, last_id);
		json_object_set_new(res, "next", json_string(next));
	} else
		json_object_set_new(res, "next", json_null());
	return res;

out:
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	json_decref(items);
	return NULL;
}

/* "verdicts" totals and "verdict_hours" rows, into res. */
static int
stats_verdicts(struct db *db, int64_t from_ms, int64_t to_ms, json_t *res,
    char **cause)
{
	static const char *const names[] = { "clean", "spam", "virus",
	    "greylisted" };
	sqlite3_stmt	*s;
	json_t		*rows, *totals, *t;
	const char	*v;
	int64_t		 n;
	size_t		 i;
	int		 rc;

	if ((s = reader_stmt(db, R_VERDICTS, cause)) == NULL)
		return -1;
	if (sqlite3_bind_int64(s, 1, from_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, to_ms != 0 ? to_ms : INT64_MAX) !=
	    SQLITE_OK) {
		set_cause(cause, db->conn, "bind");
		return -1;
	}
	rows = json_array();
	totals = json_object();
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		json_object_set_new(totals, names[i], json_integer(0));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((v = (const char *)sqlite3_column_text(s, 1)) == NULL)
			continue;
		n = sqlite3_column_int64(s, 2);
		json_array_append_new(rows, json_pack("{s:I, s:s, s:I}",
		    "hour", (json_int_t)sqlite3_column_int64(s, 0),
		    "verdict", v, "messages", (json_int_t)n));
		if ((t = json_object_get(totals, v)) != NULL)
			json_integer_set(t, json_integer_value(t) + n);
		else
			json_object_set_new(totals, v, json_integer(n));
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		set_cause(cause, db->conn, "stats.get verdicts");
		json_decref(rows);
		json_decref(totals);
		return -1;
	}
	json_object_set_new(res, "verdicts", totals);
	json_object_set_new(res, "verdict_hours", rows);
	return 0;
}

json_t *
db_stats_get(struct db *db, int64_t from_ms, int64_t to_ms, char **cause)
{
	sqlite3_stmt		*s;
	json_t			*hours, *totals, *res, *t;
	const char		*dir, *outcome;
	int64_t			 messages;
	int			 i, rc;

	if ((s = reader_stmt(db, R_STATS, cause)) == NULL)
		return NULL;
	if (sqlite3_bind_int64(s, 1, from_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, to_ms != 0 ? to_ms : INT64_MAX) !=
	    SQLITE_OK) {
		set_cause(cause, db->conn, "bind");
		return NULL;
	}
	hours = json_array();
	totals = json_object();
	for (i = 0; i < TRACK_OUTCOME_MAX; i++)
		json_object_set_new(totals,
		    track_outcome_name((enum track_outcome)i), json_integer(0));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((dir = (const char *)sqlite3_column_text(s, 1)) == NULL)
			dir = "unknown";
		if ((outcome = (const char *)sqlite3_column_text(s, 2)) ==
		    NULL)
			outcome = "unknown";
		messages = sqlite3_column_int64(s, 3);
		json_array_append_new(hours, json_pack("{s:I, s:s, s:s, s:I, "
		    "s:I}", "hour", (json_int_t)sqlite3_column_int64(s, 0),
		    "direction", dir, "outcome", outcome,
		    "messages", (json_int_t)messages,
		    "bytes", (json_int_t)sqlite3_column_int64(s, 4)));
		if ((t = json_object_get(totals, outcome)) != NULL)
			json_integer_set(t, json_integer_value(t) + messages);
		else
			json_object_set_new(totals, outcome,
			    json_integer(messages));
	}
	if (rc != SQLITE_DONE) {
		set_cause(cause, db->conn, "stats.get");
		sqlite3_reset(s);
		json_decref(hours);
		json_decref(totals);
		return NULL;
	}
	sqlite3_reset(s);
	res = json_object();
	json_object_set_new(res, "hours", hours);
	json_object_set_new(res, "totals", totals);
	if (stats_verdicts(db, from_ms, to_ms, res, cause) == -1) {
		json_decref(res);
		return NULL;
	}
	return res;
}
