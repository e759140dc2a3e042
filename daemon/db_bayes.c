/*
 * The Bayes token store (see db_bayes.h): sqlite for durability, an
 * in-memory open-addressing table for classification. Locks, outermost
 * first: wmu (the sqlite connection, loading, maintenance), then tlock
 * (the memory table, a rwlock); qmu guards the autolearn queue alone.
 * Memory changes only after its sqlite transaction committed, under wmu,
 * so the two stay in step.
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "db_bayes.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define TABLE_MIN	4096	/* slots */
#define COUNT_MAX	UINT32_MAX

struct bt_entry {
	uint64_t	h;		/* 0: empty slot */
	uint32_t	spam;
	uint32_t	ham;
	uint16_t	atime;		/* day last seen (atomic: readers
					 * write it under the read lock) */
	uint16_t	saved;		/* atime as sqlite holds it */
};

struct btable {
	struct bt_entry	*v;
	size_t		 cap;		/* power of two */
	size_t		 n;
};

struct aq_item {
	uint64_t		 key;
	enum db_bayes_op	 op;
	uint64_t		*tokens;	/* owned */
	size_t			 n;
	STAILQ_ENTRY(aq_item)	 entry;
};

enum stmt {
	S_LEARNED_GET = 0,
	S_LEARNED_PUT,
	S_LEARNED_DEL,
	S_TOK_ADD,
	S_TOK_DEL0,
	S_TOK_ATIME,
	S_TOK_DEL,
	S_META_GET,
	S_META_SET,
	S_COUNT,
};

static const char *const stmt_sql[S_COUNT] = {
	[S_LEARNED_GET] = "SELECT spam FROM learned WHERE k = ?1",
	[S_LEARNED_PUT] = "INSERT OR REPLACE INTO learned (k, spam, auto, "
	    "time_ms) VALUES (?1, ?2, ?3, ?4)",
	[S_LEARNED_DEL] = "DELETE FROM learned WHERE k = ?1",
	[S_TOK_ADD] = "INSERT INTO tokens (h, spam, ham, atime) "
	    "VALUES (?1, max(?2, 0), max(?3, 0), ?4) ON CONFLICT (h) DO "
	    "UPDATE SET spam = max(spam + ?2, 0), ham = max(ham + ?3, 0), "
	    "atime = max(atime, ?4)",
	[S_TOK_DEL0] = "DELETE FROM tokens WHERE h = ?1 AND spam = 0 AND "
	    "ham = 0",
	[S_TOK_ATIME] = "UPDATE tokens SET atime = ?2 WHERE h = ?1 AND "
	    "atime < ?2",
	[S_TOK_DEL] = "DELETE FROM tokens WHERE h = ?1",
	[S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[S_META_SET] = "INSERT OR REPLACE INTO meta (key, value) "
	    "VALUES (?1, ?2)",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
	"    value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS tokens (h INTEGER PRIMARY KEY, "
	"    spam INTEGER NOT NULL, ham INTEGER NOT NULL, "
	"    atime INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS learned (k INTEGER PRIMARY KEY, "
	"    spam INTEGER NOT NULL, auto INTEGER NOT NULL, "
	"    time_ms INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta (key, value) VALUES ('version', 1), "
	"    ('nspam', 0), ('nham', 0), ('expired_day', 0), "
	"    ('expired', 0);";

struct db_bayes {
	char			*path;
	int			 refs;		/* under reg_mu */
	LIST_ENTRY(db_bayes)	 entry;

	pthread_mutex_t		 wmu;
	sqlite3			*db;		/* under wmu */
	sqlite3_stmt		*stmt[S_COUNT];
	bool			 loaded;	/* atomic reads */
	uint64_t		 failed_mono;	/* last failed open, ms */
	char			*failed_cause;
	uint64_t		 learned;	/* rows in learned */
	int			 expire_days;	/* under wmu */
	uint32_t		 expire_keep;
	int64_t			 expired_day;
	uint64_t		 expired;
	uint64_t		 next_maint;	/* mono ms, atomic */
	uint32_t		 today_fixed;	/* tests */

	pthread_rwlock_t	 tlock;
	struct btable		 t;		/* under tlock */
	uint32_t		 nspam;		/* under tlock */
	uint32_t		 nham;

	pthread_mutex_t		 qmu;
	pthread_cond_t		 qcond;		/* work for the writer */
	pthread_cond_t		 qidle;		/* queue empty, writer idle */
	STAILQ_HEAD(, aq_item)	 queue;		/* under qmu */
	size_t			 nqueue;
	bool			 busy;		/* writer holds a batch */
	bool			 stop;
	bool			 thread_on;
	pthread_t		 thread;
	uint64_t		 autolearned;	/* under qmu */
	uint64_t		 dropped;
};

static pthread_mutex_t		 reg_mu = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, db_bayes)	 reg = LIST_HEAD_INITIALIZER(reg);

/* --- the memory table ------------------------------------------------------ */

static size_t
bt_home(uint64_t h, size_t cap)
{
	return (size_t)((h * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
}

static struct bt_entry *
bt_find(const struct btable *t, uint64_t h)
{
	size_t	i;

	if (t->cap == 0)
		return NULL;
	for (i = bt_home(h, t->cap); t->v[i].h != 0; i = (i + 1) &
	    (t->cap - 1)) {
		if (t->v[i].h == h)
			return &t->v[i];
	}
	return NULL;
}

static void
bt_resize(struct btable *t, size_t cap)
{
	struct bt_entry	*old = t->v;
	size_t		 oldcap = t->cap, i, k;

	t->v = xcalloc(cap, sizeof *t->v);
	t->cap = cap;
	for (i = 0; i < oldcap; i++) {
		if (old[i].h == 0)
			continue;
		for (k = bt_home(old[i].h, cap); t->v[k].h != 0;
		    k = (k + 1) & (cap - 1))
			;
		t->v[k] = old[i];
	}
	free(old);
}

/* The entry for h, added (zero counts) when missing. */
static struct bt_entry *
bt_put(struct btable *t, uint64_t h)
{
	struct bt_entry	*e;
	size_t		 i;

	if ((e = bt_find(t, h)) != NULL)
		return e;
	if ((t->n + 1) * 10 > t->cap * 7)
		bt_resize(t, t->cap ? t->cap * 2 : TABLE_MIN);
	for (i = bt_home(h, t->cap); t->v[i].h != 0; i = (i + 1) &
	    (t->cap - 1))
		;
	memset(&t->v[i], 0, sizeof t->v[i]);
	t->v[i].h = h;
	t->n++;
	return &t->v[i];
}

/* Linear probing without tombstones: shift the followers back. */
static void
bt_del(struct btable *t, struct bt_entry *e)
{
	size_t	mask = t->cap - 1, i = (size_t)(e - t->v), j = i, k;

	for (;;) {
		j = (j + 1) & mask;
		if (t->v[j].h == 0)
			break;
		k = bt_home(t->v[j].h, t->cap);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->v[i] = t->v[j];
		i = j;
	}
	t->v[i].h = 0;
	t->n--;
}

static uint16_t
atime_get(struct bt_entry *e)
{
	return __atomic_load_n(&e->atime, __ATOMIC_RELAXED);
}

/* --- the registry ----------------------------------------------------------- */

struct db_bayes *
db_bayes_get(const char *path)
{
	struct db_bayes		*s;
	pthread_rwlockattr_t	 ra;

	pthread_mutex_lock(&reg_mu);
	LIST_FOREACH(s, &reg, entry) {
		if (strcmp(s->path, path) == 0) {
			s->refs++;
			pthread_mutex_unlock(&reg_mu);
			return s;
		}
	}
	s = xcalloc(1, sizeof *s);
	s->path = xstrdup(path);
	s->refs = 1;
	s->expire_keep = 1;
	pthread_mutex_init(&s->wmu, NULL);
	pthread_mutex_init(&s->qmu, NULL);
	pthread_cond_init(&s->qcond, NULL);
	pthread_cond_init(&s->qidle, NULL);
	/* Learning must not starve behind a stream of classifications. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->tlock, &ra);
	pthread_rwlockattr_destroy(&ra);
	STAILQ_INIT(&s->queue);
	LIST_INSERT_HEAD(&reg, s, entry);
	pthread_mutex_unlock(&reg_mu);
	return s;
}

struct db_bayes *
db_bayes_ref(struct db_bayes *s)
{
	pthread_mutex_lock(&reg_mu);
	s->refs++;
	pthread_mutex_unlock(&reg_mu);
	return s;
}

const char *
db_bayes_path(const struct db_bayes *s)
{
	return s->path;
}

static void	close_db(struct db_bayes *);

void
db_bayes_unref(struct db_bayes *s)
{
	struct aq_item	*q;

	if (s == NULL)
		return;
	pthread_mutex_lock(&reg_mu);
	if (--s->refs > 0) {
		pthread_mutex_unlock(&reg_mu);
		return;
	}
	LIST_REMOVE(s, entry);
	pthread_mutex_unlock(&reg_mu);

	pthread_mutex_lock(&s->qmu);
	s->stop = true;
	pthread_cond_broadcast(&s->qcond);
	pthread_mutex_unlock(&s->qmu);
	if (s->thread_on)
		pthread_join(s->thread, NULL);	/* it drains the queue */
	while ((q = STAILQ_FIRST(&s->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&s->queue, entry);
		free(q->tokens);
		free(q);
	}
	close_db(s);
	free(s->t.v);
	free(s->failed_cause);
	pthread_rwlock_destroy(&s->tlock);
	pthread_cond_destroy(&s->qcond);
	pthread_cond_destroy(&s->qidle);
	pthread_mutex_destroy(&s->qmu);
	pthread_mutex_destroy(&s->wmu);
	free(s->path);
	free(s);
}

void
db_bayes_set_expiry(struct db_bayes *s, int days, uint32_t keep_count)
{
	pthread_mutex_lock(&s->wmu);
	s->expire_days = days;
	s->expire_keep = keep_count;
	pthread_mutex_unlock(&s->wmu);
}

uint32_t
db_bayes_today(const struct db_bayes *s)
{
	uint32_t	fixed = __atomic_load_n(&s->today_fixed, __ATOMIC_RELAXED);

	if (fixed != 0)
		return fixed;
	return (uint32_t)(time(NULL) / 86400);
}

void
db_bayes_set_today(struct db_bayes *s, uint32_t day)
{
	__atomic_store_n(&s->today_fixed, day, __ATOMIC_RELAXED);
}

/* --- sqlite ----------------------------------------------------------------- */

static void
close_db(struct db_bayes *s)
{
	size_t	i;

	for (i = 0; i < S_COUNT; i++) {
		sqlite3_finalize(s->stmt[i]);
		s->stmt[i] = NULL;
	}
	if (s->db != NULL)
		sqlite3_close(s->db);
	s->db = NULL;
}

static int
sql_fail(struct db_bayes *s, const char *what, char **cause)
{
	xasprintf(cause, "%s: %s: %s", s->path, what,
	    s->db != NULL ? sqlite3_errmsg(s->db) : "no database");
	return -1;
}

static int
exec_sql(struct db_bayes *s, const char *sql, char **cause)
{
	char	*err = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", s->path, err != NULL ? err :
		    sqlite3_errmsg(s->db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int
meta_get(struct db_bayes *s, const char *key, int64_t *out, char **cause)
{
	sqlite3_stmt	*st = s->stmt[S_META_GET];
	int		 rc;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(s, key, cause);
	return 0;
}

static int
meta_set(struct db_bayes *s, const char *key, int64_t v, char **cause)
{
	sqlite3_stmt	*st = s->stmt[S_META_SET];
	int		 rc;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sql_fail(s, key, cause);
	return 0;
}

/* The whole token table into memory. Under wmu, before loaded is set. */
static int
load_tokens(struct db_bayes *s, char **cause)
{
	sqlite3_stmt	*st;
	struct bt_entry	*e;
	int64_t		 n = 0, v;
	size_t		 cap = TABLE_MIN;
	int		 rc;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM tokens", -1, &st,
	    NULL) != SQLITE_OK)
		return sql_fail(s, "count tokens", cause);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	while ((int64_t)cap * 7 < n * 10 + 10)
		cap *= 2;
	free(s->t.v);
	s->t.v = NULL;
	s->t.cap = s->t.n = 0;
	bt_resize(&s->t, cap);
	if (sqlite3_prepare_v2(s->db, "SELECT h, spam, ham, atime FROM tokens",
	    -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, "read tokens", cause);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		e = bt_put(&s->t, (uint64_t)sqlite3_column_int64(st, 0));
		v = sqlite3_column_int64(st, 1);
		e->spam = v < 0 ? 0 : v > COUNT_MAX ? COUNT_MAX : (uint32_t)v;
		v = sqlite3_column_int64(st, 2);
		e->ham = v < 0 ? 0 : v > COUNT_MAX ? COUNT_MAX : (uint32_t)v;
		v = sqlite3_column_int64(st, 3);
		e->atime = e->saved = v < 0 ? 0 : v > UINT16_MAX ? UINT16_MAX :
		    (uint16_t)v;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(s, "read tokens", cause);
	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM learned", -1, &st,
	    NULL) != SQLITE_OK)
		return sql_fail(s, "count learned", cause);
	if (sqlite3_step(st) == SQLITE_ROW)
		s->learned = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (meta_get(s, "nspam", &v, cause) == -1)
		return -1;
	s->nspam = v < 0 ? 0 : v > COUNT_MAX ? COUNT_MAX : (uint32_t)v;
	if (meta_get(s, "nham", &v, cause) == -1)
		return -1;
	s->nham = v < 0 ? 0 : v > COUNT_MAX ? COUNT_MAX : (uint32_t)v;
	if (meta_get(s, "expired_day", &s->expired_day, cause) == -1 ||
	    meta_get(s, "expired", &v, cause) == -1)
		return -1;
	s->expired = (uint64_t)v;
	return 0;
}

static void	*writer_main(void *);

/* mkdir -p for the folders above path. */
static int
make_parents(const char *path, char **cause)
{
	char	*p, *sl;

	p = xstrdup(path);
	for (sl = strchr(p + 1, '/'); sl != NULL; sl = strchr(sl + 1, '/')) {
		*sl = '\0';
		if (mkdir(p, 0750) == -1 && errno != EEXIST) {
			xasprintf(cause, "%s: mkdir %s: %s", path, p,
			    strerror(errno));
			free(p);
			return -1;
		}
		*sl = '/';
	}
	free(p);
	return 0;
}

/* Under wmu. */
static int
open_locked(struct db_bayes *s, char **cause)
{
	int64_t	version;
	size_t	i;
	int	rc;

	if (make_parents(s->path, cause) == -1)
		return -1;
	rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		xasprintf(cause, "%s: %s", s->path, s->db != NULL ?
		    sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		close_db(s);
		return -1;
	}
	sqlite3_busy_timeout(s->db, DB_BAYES_BUSY_MS);
	/* The token table is written in random order: a large page cache
	 * keeps learning from rereading it. */
	if (exec_sql(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = "
	    "NORMAL; PRAGMA cache_size = -65536;", cause) == -1 ||
	    exec_sql(s, schema_sql, cause) == -1)
		goto fail;
	for (i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL) != SQLITE_OK) {
			sql_fail(s, "prepare", cause);
			goto fail;
		}
	}
	if (meta_get(s, "version", &version, cause) == -1)
		goto fail;
	if (version > DB_BAYES_VERSION) {
		xasprintf(cause, "%s: schema version %lld is newer than this "
		    "moatd's (%d)", s->path, (long long)version,
		    DB_BAYES_VERSION);
		goto fail;
	}
	pthread_rwlock_wrlock(&s->tlock);
	rc = load_tokens(s, cause);
	pthread_rwlock_unlock(&s->tlock);
	if (rc == -1)
		goto fail;
	return 0;
fail:
	close_db(s);
	return -1;
}

int
db_bayes_load(struct db_bayes *s, char **cause)
{
	uint64_t	start;
	int		rv = 0;

	if (__atomic_load_n(&s->loaded, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&s->wmu);
	if (s->loaded)
		goto done;
	if (s->failed_mono != 0 &&
	    util_mono_ms() - s->failed_mono < DB_BAYES_RETRY_S * 1000) {
		*cause = xstrdup(s->failed_cause);
		rv = -1;
		goto done;
	}
	start = util_mono_ms();
	if (open_locked(s, cause) == -1) {
		log_warnx("bayes: %s", *cause);
		free(s->failed_cause);
		s->failed_cause = xstrdup(*cause);
		s->failed_mono = util_mono_ms();
		rv = -1;
		goto done;
	}
	s->failed_mono = 0;
	log_info("bayes: %s: %zu tokens, %u spam and %u ham learned "
	    "(loaded in %llu ms)", s->path, s->t.n, s->nspam, s->nham,
	    (unsigned long long)(util_mono_ms() - start));
	__atomic_store_n(&s->next_maint, util_mono_ms() + DB_BAYES_MAINT_S *
	    1000ULL, __ATOMIC_RELAXED);
	pthread_mutex_lock(&s->qmu);
	if (!s->thread_on && !s->stop) {
		if (pthread_create(&s->thread, NULL, writer_main, s) != 0)
			log_warnx("bayes: cannot start the writer thread: "
			    "autolearn and expiry are off");
		else
			s->thread_on = true;
	}
	pthread_mutex_unlock(&s->qmu);
	__atomic_store_n(&s->loaded, true, __ATOMIC_RELEASE);
done:
	pthread_mutex_unlock(&s->wmu);
	return rv;
}

/* --- reading ------------------------------------------------------------------ */

int
db_bayes_lookup(struct db_bayes *s, const uint64_t *tokens, size_t n,
    struct bayes_count *out, uint32_t *nspam, uint32_t *nham)
{
	struct bt_entry	*e;
	uint16_t	 today;
	char		*cause = NULL;
	size_t		 i;

	if (db_bayes_load(s, &cause) == -1) {
		free(cause);
		return -1;
	}
	today = (uint16_t)db_bayes_today(s);
	pthread_rwlock_rdlock(&s->tlock);
	for (i = 0; i < n; i++) {
		if ((e = bt_find(&s->t, tokens[i])) == NULL) {
			out[i].spam = out[i].ham = 0;
			continue;
		}
		out[i].spam = e->spam;
		out[i].ham = e->ham;
		if (atime_get(e) != today)
			__atomic_store_n(&e->atime, today, __ATOMIC_RELAXED);
	}
	*nspam = s->nspam;
	*nham = s->nham;
	pthread_rwlock_unlock(&s->tlock);
	return 0;
}

int
db_bayes_stats(struct db_bayes *s, struct db_bayes_stats *st, char **cause)
{
	memset(st, 0, sizeof *st);
	if (db_bayes_load(s, cause) == -1)
		return -1;
	pthread_mutex_lock(&s->wmu);
	st->learned = s->learned;
	st->expired = s->expired;
	st->expired_day = s->expired_day;
	pthread_rwlock_rdlock(&s->tlock);
	st->loaded = true;
	st->nspam = s->nspam;
	st->nham = s->nham;
	st->tokens = s->t.n;
	st->memory = s->t.cap * sizeof(struct bt_entry);
	pthread_rwlock_unlock(&s->tlock);
	pthread_mutex_unlock(&s->wmu);
	pthread_mutex_lock(&s->qmu);
	st->autolearned = s->autolearned;
	st->queue_dropped = s->dropped;
	pthread_mutex_unlock(&s->qmu);
	return 0;
}

/* --- learning ----------------------------------------------------------------- */

struct delta {
	uint64_t	h;
	int32_t		ds;
	int32_t		dh;
};

struct deltas {
	struct delta	*v;
	size_t		 cap;		/* power of two */
	size_t		 n;
};

static void
deltas_add(struct deltas *d, uint64_t h, int ds, int dh)
{
	size_t	i;

	for (i = bt_home(h, d->cap); d->v[i].h != 0 && d->v[i].h != h;
	    i = (i + 1) & (d->cap - 1))
		;
	if (d->v[i].h == 0) {
		d->v[i].h = h;
		d->n++;
	}
	d->v[i].ds += ds;
	d->v[i].dh += dh;
}

static int
step_done(struct db_bayes *s, sqlite3_stmt *st, const char *what,
    char **cause)
{
	int	rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sql_fail(s, what, cause);
	return 0;
}

/* Decide one item inside the transaction: its result, the message count
 * changes and the token changes. */
static int
learn_item(struct db_bayes *s, struct db_bayes_item *it, struct deltas *d,
    int64_t *dspam, int64_t *dham, int64_t *dlearned, char **cause)
{
	sqlite3_stmt	*st = s->stmt[S_LEARNED_GET];
	int		 rc, prev = -1, ds = 0, dh = 0;
	size_t		 i;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)it->key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		prev = sqlite3_column_int(st, 0) != 0 ? DB_BAYES_SPAM :
		    DB_BAYES_HAM;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(s, "learned", cause);

	if (it->op == DB_BAYES_FORGET) {
		if (prev == -1) {
			it->result = DB_BAYES_UNKNOWN;
			return 0;
		}
		it->result = DB_BAYES_FORGOTTEN;
		st = s->stmt[S_LEARNED_DEL];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)it->key);
		if (step_done(s, st, "forget", cause) == -1)
			return -1;
		(*dlearned)--;
	} else {
		if (prev == (int)it->op) {
			it->result = DB_BAYES_ALREADY;
			return 0;
		}
		if (prev != -1 && it->autolearn) {
			it->result = DB_BAYES_SKIPPED;
			return 0;
		}
		it->result = prev == -1 ? DB_BAYES_LEARNED :
		    DB_BAYES_RELEARNED;
		st = s->stmt[S_LEARNED_PUT];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)it->key);
		sqlite3_bind_int(st, 2, it->op == DB_BAYES_SPAM);
		sqlite3_bind_int(st, 3, it->autolearn);
		sqlite3_bind_int64(st, 4, util_wall_ms());
		if (step_done(s, st, "learn", cause) == -1)
			return -1;
		if (prev == -1)
			(*dlearned)++;
		if (it->op == DB_BAYES_SPAM)
			ds++;
		else
			dh++;
	}
	if (prev == DB_BAYES_SPAM)
		ds--;
	else if (prev == DB_BAYES_HAM)
		dh--;
	*dspam += ds;
	*dham += dh;
	for (i = 0; i < it->ntokens; i++)
		deltas_add(d, it->tokens[i], ds, dh);
	return 0;
}

static uint32_t
clamp_add(uint32_t v, int32_t d)
{
	int64_t	r = (int64_t)v + d;

	return r < 0 ? 0 : r > COUNT_MAX ? COUNT_MAX : (uint32_t)r;
}

/* Under wmu, after the commit. */
static void
apply_memory(struct db_bayes *s, const struct deltas *d, int64_t dspam,
    int64_t dham, uint16_t today)
{
	struct bt_entry	*e;
	size_t		 i;

	pthread_rwlock_wrlock(&s->tlock);
	for (i = 0; i < d->cap; i++) {
		if (d->v[i].h == 0 || (d->v[i].ds == 0 && d->v[i].dh == 0))
			continue;
		if (d->v[i].ds <= 0 && d->v[i].dh <= 0) {
			if ((e = bt_find(&s->t, d->v[i].h)) == NULL)
				continue;
		} else
			e = bt_put(&s->t, d->v[i].h);
		e->spam = clamp_add(e->spam, d->v[i].ds);
		e->ham = clamp_add(e->ham, d->v[i].dh);
		if (e->spam == 0 && e->ham == 0) {
			bt_del(&s->t, e);
			continue;
		}
		if (d->v[i].ds > 0 || d->v[i].dh > 0) {
			if (atime_get(e) < today)
				e->atime = today;
			if (e->saved < today)
				e->saved = today;
		}
	}
	s->nspam = clamp_add(s->nspam, (int32_t)dspam);
	s->nham = clamp_add(s->nham, (int32_t)dham);
	pthread_rwlock_unlock(&s->tlock);
}

static int
delta_cmp(const void *a, const void *b)
{
	int64_t	x = (int64_t)((const struct delta *)a)->h;
	int64_t	y = (int64_t)((const struct delta *)b)->h;

	return x < y ? -1 : x > y;
}

/* In key order: sqlite walks its B-tree once instead of jumping. The map
 * is no longer a map afterwards (apply_memory scans it whole). */
static int
write_deltas(struct db_bayes *s, struct deltas *d, uint16_t today,
    char **cause)
{
	sqlite3_stmt	*add = s->stmt[S_TOK_ADD], *del = s->stmt[S_TOK_DEL0];
	size_t		 i, n;

	for (i = 0, n = 0; i < d->cap; i++)
		if (d->v[i].h != 0 && (d->v[i].ds != 0 || d->v[i].dh != 0))
			d->v[n++] = d->v[i];
	memset(d->v + n, 0, (d->cap - n) * sizeof *d->v);
	qsort(d->v, n, sizeof *d->v, delta_cmp);
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(add, 1, (sqlite3_int64)d->v[i].h);
		sqlite3_bind_int(add, 2, d->v[i].ds);
		sqlite3_bind_int(add, 3, d->v[i].dh);
		sqlite3_bind_int(add, 4, today);
		if (step_done(s, add, "tokens", cause) == -1)
			return -1;
		if (d->v[i].ds < 0 || d->v[i].dh < 0) {
			sqlite3_bind_int64(del, 1, (sqlite3_int64)d->v[i].h);
			if (step_done(s, del, "tokens", cause) == -1)
				return -1;
		}
	}
	return 0;
}

/* Under wmu, loaded. */
static int
learn_locked(struct db_bayes *s, struct db_bayes_item *items, size_t n,
    char **cause)
{
	struct deltas	 d;
	int64_t		 dspam = 0, dham = 0, dlearned = 0, v;
	uint16_t	 today = (uint16_t)db_bayes_today(s);
	size_t		 i, total = 0;

	for (i = 0; i < n; i++)
		total += items[i].ntokens;
	memset(&d, 0, sizeof d);
	for (d.cap = 1024; d.cap < total * 2; d.cap *= 2)
		;
	d.v = xcalloc(d.cap, sizeof *d.v);
	if (exec_sql(s, "BEGIN IMMEDIATE", cause) == -1) {
		free(d.v);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (learn_item(s, &items[i], &d, &dspam, &dham, &dlearned,
		    cause) == -1)
			goto fail;
	if (write_deltas(s, &d, today, cause) == -1)
		goto fail;
	if (dspam != 0 || dham != 0) {
		pthread_rwlock_rdlock(&s->tlock);
		v = s->nspam;
		pthread_rwlock_unlock(&s->tlock);
		if (meta_set(s, "nspam", clamp_add((uint32_t)v,
		    (int32_t)dspam), cause) == -1)
			goto fail;
		pthread_rwlock_rdlock(&s->tlock);
		v = s->nham;
		pthread_rwlock_unlock(&s->tlock);
		if (meta_set(s, "nham", clamp_add((uint32_t)v, (int32_t)dham),
		    cause) == -1)
			goto fail;
	}
	if (exec_sql(s, "COMMIT", cause) == -1)
		goto fail;
	apply_memory(s, &d, dspam, dham, today);
	s->learned = (uint64_t)((int64_t)s->learned + dlearned);
	free(d.v);
	return 0;
fail:
	free(d.v);
	if (sqlite3_get_autocommit(s->db) == 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
db_bayes_learn(struct db_bayes *s, struct db_bayes_item *items, size_t n,
    char **cause)
{
	int	rv;

	if (db_bayes_load(s, cause) == -1)
		return -1;
	pthread_mutex_lock(&s->wmu);
	rv = learn_locked(s, items, n, cause);
	pthread_mutex_unlock(&s->wmu);
	return rv;
}

bool
db_bayes_learn_async(struct db_bayes *s, uint64_t key, enum db_bayes_op op,
    uint64_t *tokens, size_t n)
{
	struct aq_item	*q;

	/* Never opens the file: the caller may be the loop thread. Scanning
	 * loaded the store before anything could be autolearned. */
	pthread_mutex_lock(&s->qmu);
	if (!__atomic_load_n(&s->loaded, __ATOMIC_ACQUIRE) || !s->thread_on || s->stop || s->nqueue >= DB_BAYES_QUEUE_MAX) {
		s->dropped++;
		pthread_mutex_unlock(&s->qmu);
		free(tokens);
		return false;
	}
	q = xcalloc(1, sizeof *q);
	q->key = key;
	q->op = op;
	q->tokens = tokens;
	q->n = n;
	STAILQ_INSERT_TAIL(&s->queue, q, entry);
	s->nqueue++;
	pthread_cond_signal(&s->qcond);
	pthread_mutex_unlock(&s->qmu);
	return true;
}

void
db_bayes_sync(struct db_bayes *s)
{
	pthread_mutex_lock(&s->qmu);
	while (s->thread_on && (s->nqueue > 0 || s->busy))
		pthread_cond_wait(&s->qidle, &s->qmu);
	pthread_mutex_unlock(&s->qmu);
}

/* --- maintenance ---------------------------------------------------------------- */

/* Write the days tokens were last seen. Under wmu. */
static int
flush_atimes(struct db_bayes *s, char **cause)
{
	struct delta	*v = NULL;	/* h and the day in ds */
	sqlite3_stmt	*st = s->stmt[S_TOK_ATIME];
	struct bt_entry	*e;
	size_t		 n = 0, cap = 0, i;
	uint16_t	 a;

	pthread_rwlock_rdlock(&s->tlock);
	for (i = 0; i < s->t.cap; i++) {
		e = &s->t.v[i];
		if (e->h == 0 || (a = atime_get(e)) == e->saved)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[n].h = e->h;
		v[n++].ds = a;
	}
	pthread_rwlock_unlock(&s->tlock);
	if (n == 0)
		return 0;
	if (exec_sql(s, "BEGIN IMMEDIATE", cause) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)v[i].h);
		sqlite3_bind_int(st, 2, v[i].ds);
		if (step_done(s, st, "access times", cause) == -1) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
	}
	if (exec_sql(s, "COMMIT", cause) == -1) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	pthread_rwlock_wrlock(&s->tlock);
	for (i = 0; i < n; i++)
		if ((e = bt_find(&s->t, v[i].h)) != NULL)
			e->saved = (uint16_t)v[i].ds;
	pthread_rwlock_unlock(&s->tlock);
	free(v);
	return 0;
fail:
	free(v);
	return -1;
}

/* Drop old, rare tokens from sqlite and memory at once: classification
 * waits meanwhile (once a day), so both see the same set. Under wmu. */
static int
expire_locked(struct db_bayes *s, uint32_t today, size_t *expired,
    char **cause)
{
	sqlite3_stmt	*st = s->stmt[S_TOK_DEL];
	struct bt_entry	*e;
	uint64_t	*victims = NULL;
	size_t		 n = 0, cap = 0, i;
	uint32_t	 cutoff;

	*expired = 0;
	if (s->expire_days <= 0 || today <= (uint32_t)s->expire_days)
		return 0;
	cutoff = today - (uint32_t)s->expire_days;
	pthread_rwlock_wrlock(&s->tlock);
	for (i = 0; i < s->t.cap; i++) {
		e = &s->t.v[i];
		if (e->h == 0 || atime_get(e) >= cutoff ||
		    (uint64_t)e->spam + e->ham >= s->expire_keep)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			victims = xreallocarray(victims, cap, sizeof *victims);
		}
		victims[n++] = e->h;
	}
	if (exec_sql(s, "BEGIN IMMEDIATE", cause) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)victims[i]);
		if (step_done(s, st, "expire", cause) == -1)
			goto rollback;
	}
	if (meta_set(s, "expired_day", today, cause) == -1 ||
	    meta_set(s, "expired", (int64_t)n, cause) == -1 ||
	    exec_sql(s, "COMMIT", cause) == -1)
		goto rollback;
	for (i = 0; i < n; i++)
		if ((e = bt_find(&s->t, victims[i])) != NULL)
			bt_del(&s->t, e);
	/* Shrink a table that lost most of its tokens. */
	if (s->t.cap > TABLE_MIN && s->t.n * 10 < s->t.cap * 2)
		bt_resize(&s->t, s->t.cap / 2);
	pthread_rwlock_unlock(&s->tlock);
	s->expired_day = today;
	s->expired = n;
	*expired = n;
	free(victims);
	if (n > 0)
		log_info("bayes: %s: expired %zu tokens unseen for %d days",
		    s->path, n, s->expire_days);
	return 0;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
fail:
	pthread_rwlock_unlock(&s->tlock);
	free(victims);
	return -1;
}

int
db_bayes_maintain(struct db_bayes *s, bool force, size_t *expired,
    char **cause)
{
	uint32_t	today;
	int		rv = 0;

	*expired = 0;
	if (db_bayes_load(s, cause) == -1)
		return -1;
	pthread_mutex_lock(&s->wmu);
	today = db_bayes_today(s);
	if (flush_atimes(s, cause) == -1)
		rv = -1;
	else if (force || s->expired_day < (int64_t)today)
		rv = expire_locked(s, today, expired, cause);
	__atomic_store_n(&s->next_maint, util_mono_ms() + DB_BAYES_MAINT_S *
	    1000ULL, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->wmu);
	return rv;
}

/* --- the writer thread ------------------------------------------------------------ */

static void
writer_batch(struct db_bayes *s, struct aq_item **batch, size_t n)
{
	struct db_bayes_item	*items;
	char			*cause = NULL;
	size_t			 i, learned = 0;

	items = xcalloc(n, sizeof *items);
	for (i = 0; i < n; i++) {
		items[i].key = batch[i]->key;
		items[i].op = batch[i]->op;
		items[i].autolearn = true;
		items[i].tokens = batch[i]->tokens;
		items[i].ntokens = batch[i]->n;
	}
	pthread_mutex_lock(&s->wmu);
	if (learn_locked(s, items, n, &cause) == -1) {
		log_warnx("bayes: autolearn of %zu messages: %s", n, cause);
		free(cause);
	} else {
		for (i = 0; i < n; i++)
			if (items[i].result == DB_BAYES_LEARNED)
				learned++;
	}
	pthread_mutex_unlock(&s->wmu);
	pthread_mutex_lock(&s->qmu);
	s->autolearned += learned;
	pthread_mutex_unlock(&s->qmu);
	for (i = 0; i < n; i++) {
		free(batch[i]->tokens);
		free(batch[i]);
	}
	free(items);
}

static void *
writer_main(void *arg)
{
	struct db_bayes	*s = arg;
	struct aq_item	*batch[DB_BAYES_BATCH_MAX], *q;
	struct timespec	 ts;
	size_t		 n, expired;
	uint64_t	 now, next;
	char		*cause = NULL;

	pthread_setname_np(pthread_self(), "bayes");
	pthread_mutex_lock(&s->qmu);
	for (;;) {
		if (s->nqueue > 0) {
			for (n = 0; n < DB_BAYES_BATCH_MAX &&
			    (q = STAILQ_FIRST(&s->queue)) != NULL; n++) {
				STAILQ_REMOVE_HEAD(&s->queue, entry);
				batch[n] = q;
			}
			s->nqueue -= n;
			s->busy = true;
			pthread_mutex_unlock(&s->qmu);
			writer_batch(s, batch, n);
			pthread_mutex_lock(&s->qmu);
			s->busy = false;
			if (s->nqueue == 0)
				pthread_cond_broadcast(&s->qidle);
			continue;
		}
		if (s->stop)
			break;
		next = __atomic_load_n(&s->next_maint, __ATOMIC_RELAXED);
		now = util_mono_ms();
		if (now >= next) {
			pthread_mutex_unlock(&s->qmu);
			if (db_bayes_maintain(s, false, &expired, &cause) ==
			    -1) {
				log_warnx("bayes: maintenance: %s", cause);
				free(cause);
				cause = NULL;
			}
			pthread_mutex_lock(&s->qmu);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)((next - now) / 1000) + 1;
		pthread_cond_timedwait(&s->qcond, &s->qmu, &ts);
	}
	pthread_mutex_unlock(&s->qmu);
	/* Keep what readers saw for the next start. */
	pthread_mutex_lock(&s->wmu);
	if (s->db != NULL && flush_atimes(s, &cause) == -1) {
		log_warnx("bayes: %s", cause);
		free(cause);
	}
	pthread_mutex_unlock(&s->wmu);
	return NULL;
}
