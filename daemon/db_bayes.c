/*
 * The Bayes token store (see db_bayes.h): an in-memory open-addressing
 * table that classification reads, and sqlite behind it.
 *
 * Learning changes memory at once and gathers the same changes in a
 * pending batch, which the writer thread writes in one transaction (every
 * DB_BAYES_FLUSH_MS or DB_BAYES_FLUSH_MSGS messages): one transaction per
 * message would rewrite a page per token, since token keys are random.
 * The learned-messages state is pending first, then the batch being
 * written, then sqlite, so results are exact at any moment; a crash loses
 * at most the last batch, whole.
 *
 * Locks, outermost first: dbmu (the writer connection: flushes, loading,
 * maintenance), wmu (pending batches, the reader connection, counters),
 * tlock (the memory table and totals, a rwlock), qmu (the autolearn queue
 * and the writer's state; innermost, never held while taking another).
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

/* Token count changes of a batch. */
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

/* A learned-table change of a batch. */
enum kstate {
	K_HAM = DB_BAYES_HAM,
	K_SPAM = DB_BAYES_SPAM,
	K_GONE,				/* forgotten */
};

struct kentry {
	uint64_t	key;		/* 0: empty */
	uint8_t		state;		/* enum kstate */
	uint8_t		autolearn;
};

struct batch {
	struct deltas	 d;
	struct kentry	*k;
	size_t		 kcap;		/* power of two */
	size_t		 nk;
	int64_t		 dspam;
	int64_t		 dham;
	size_t		 msgs;
	uint64_t	 since;		/* mono ms of its first message */
};

struct aq_item {
	uint64_t		 key;
	enum db_bayes_op	 op;
	uint64_t		*tokens;	/* owned */
	size_t			 n;
	STAILQ_ENTRY(aq_item)	 entry;
};

enum stmt {
	S_LEARNED_PUT = 0,
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

static const char learned_get_sql[] = "SELECT spam FROM learned WHERE k = ?1";

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

	pthread_mutex_t		 dbmu;
	sqlite3			*db;		/* under dbmu: the writer */
	sqlite3_stmt		*stmt[S_COUNT];
	int64_t			 db_nspam;	/* totals sqlite holds */
	int64_t			 db_nham;
	bool			 loaded;	/* atomic reads */
	uint64_t		 failed_mono;	/* last failed open, ms */
	char			*failed_cause;
	int64_t			 expired_day;
	uint64_t		 expired;
	uint64_t		 next_maint;	/* mono ms, atomic */

	pthread_mutex_t		 wmu;
	sqlite3			*rdb;		/* under wmu: learned lookups */
	sqlite3_stmt		*rget;
	struct batch		 pend;		/* learned, not yet written */
	struct batch		 fl;		/* being written (or retried) */
	uint64_t		 learned;	/* rows in learned, with pend */
	int			 expire_days;
	uint32_t		 expire_keep;
	uint32_t		 today_fixed;	/* tests; atomic */

	pthread_rwlock_t	 tlock;
	struct btable		 t;		/* under tlock */
	uint32_t		 nspam;		/* under tlock, with pend */
	uint32_t		 nham;

	pthread_mutex_t		 qmu;
	pthread_cond_t		 qcond;		/* work for the writer */
	pthread_cond_t		 qidle;		/* queue empty, writer idle */
	STAILQ_HEAD(, aq_item)	 queue;		/* under qmu */
	size_t			 nqueue;
	bool			 busy;		/* writer holds queue items */
	bool			 kick;		/* a batch is full: write it */
	bool			 stop;
	bool			 thread_on;
	pthread_t		 thread;
	uint64_t		 autolearned;
	uint64_t		 dropped;
};

static pthread_mutex_t		 reg_mu = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, db_bayes)	 reg = LIST_HEAD_INITIALIZER(reg);

static int	flush(struct db_bayes *, char **);

/* --- the memory table ----------------------------------------------------- */

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

static uint32_t
clamp_add(uint32_t v, int64_t d)
{
	int64_t	r = (int64_t)v + d;

	return r < 0 ? 0 : r > COUNT_MAX ? COUNT_MAX : (uint32_t)r;
}

/* --- batches -------------------------------------------------------------- */

static void
deltas_add(struct deltas *d, uint64_t h, int ds, int dh)
{
	struct delta	*old;
	size_t		 i, k, oldcap;

	if ((d->n + 1) * 2 > d->cap) {
		old = d->v;
		oldcap = d->cap;
		d->cap = d->cap ? d->cap * 2 : 4096;
		d->v = xcalloc(d->cap, sizeof *d->v);
		for (k = 0; k < oldcap; k++) {
			if (old[k].h == 0)
				continue;
			for (i = bt_home(old[k].h, d->cap); d->v[i].h != 0;
			    i = (i + 1) & (d->cap - 1))
				;
			d->v[i] = old[k];
		}
		free(old);
	}
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

static struct kentry *
batch_key(const struct batch *b, uint64_t key)
{
	size_t	i;

	if (b->kcap == 0)
		return NULL;
	for (i = bt_home(key, b->kcap); b->k[i].key != 0; i = (i + 1) &
	    (b->kcap - 1)) {
		if (b->k[i].key == key)
			return &b->k[i];
	}
	return NULL;
}

static void
batch_set_key(struct batch *b, uint64_t key, enum kstate state,
    bool autolearn)
{
	struct kentry	*e, *old;
	size_t		 i, k, oldcap;

	if ((e = batch_key(b, key)) == NULL) {
		if ((b->nk + 1) * 2 > b->kcap) {
			old = b->k;
			oldcap = b->kcap;
			b->kcap = b->kcap ? b->kcap * 2 : 256;
			b->k = xcalloc(b->kcap, sizeof *b->k);
			for (k = 0; k < oldcap; k++) {
				if (old[k].key == 0)
					continue;
				for (i = bt_home(old[k].key, b->kcap);
				    b->k[i].key != 0; i = (i + 1) &
				    (b->kcap - 1))
					;
				b->k[i] = old[k];
			}
			free(old);
		}
		for (i = bt_home(key, b->kcap); b->k[i].key != 0;
		    i = (i + 1) & (b->kcap - 1))
			;
		e = &b->k[i];
		e->key = key;
		b->nk++;
	}
	e->state = (uint8_t)state;
	e->autolearn = autolearn;
}

static void
batch_free(struct batch *b)
{
	free(b->d.v);
	free(b->k);
	memset(b, 0, sizeof *b);
}

static bool
batch_empty(const struct batch *b)
{
	return b->msgs == 0;
}

/* --- the registry --------------------------------------------------------- */

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
	pthread_mutex_init(&s->dbmu, NULL);
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
	char		*cause = NULL;

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
		pthread_join(s->thread, NULL);	/* it drains and writes */
	while ((q = STAILQ_FIRST(&s->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&s->queue, entry);
		free(q->tokens);
		free(q);
	}
	if (s->db != NULL && flush(s, &cause) == -1) {
		log_warnx("bayes: %s: the last learning is lost: %s", s->path,
		    cause);
		free(cause);
	}
	close_db(s);
	batch_free(&s->pend);
	batch_free(&s->fl);
	free(s->t.v);
	free(s->failed_cause);
	pthread_rwlock_destroy(&s->tlock);
	pthread_cond_destroy(&s->qcond);
	pthread_cond_destroy(&s->qidle);
	pthread_mutex_destroy(&s->qmu);
	pthread_mutex_destroy(&s->wmu);
	pthread_mutex_destroy(&s->dbmu);
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
	uint32_t	fixed;

	fixed = __atomic_load_n(&s->today_fixed, __ATOMIC_RELAXED);

	if (fixed != 0)
		return fixed;
	return (uint32_t)(time(NULL) / 86400);
}

void
db_bayes_set_today(struct db_bayes *s, uint32_t day)
{
	__atomic_store_n(&s->today_fixed, day, __ATOMIC_RELAXED);
}

/* --- sqlite --------------------------------------------------------------- */

static void
close_db(struct db_bayes *s)
{
	size_t	i;

	for (i = 0; i < S_COUNT; i++) {
		sqlite3_finalize(s->stmt[i]);
		s->stmt[i] = NULL;
	}
	sqlite3_finalize(s->rget);
	s->rget = NULL;
	if (s->db != NULL)
		sqlite3_close(s->db);
	if (s->rdb != NULL)
		sqlite3_close(s->rdb);
	s->db = s->rdb = NULL;
}

static int
sql_fail(struct db_bayes *s, sqlite3 *db, const char *what, char **cause)
{
	xasprintf(cause, "%s: %s: %s", s->path, what,
	    db != NULL ? sqlite3_errmsg(db) : "no database");
	return -1;
}

static int
exec_sql(struct db_bayes *s, sqlite3 *db, const char *sql, char **cause)
{
	char	*err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", s->path, err != NULL ? err :
		    sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static void
rollback(struct db_bayes *s)
{
	if (sqlite3_get_autocommit(s->db) == 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int
step_done(struct db_bayes *s, sqlite3_stmt *st, const char *what,
    char **cause)
{
	int	rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sql_fail(s, s->db, what, cause);
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
		return sql_fail(s, s->db, key, cause);
	return 0;
}

static int
meta_set(struct db_bayes *s, const char *key, int64_t v, char **cause)
{
	sqlite3_stmt	*st = s->stmt[S_META_SET];

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	return step_done(s, st, key, cause);
}

static uint32_t
count_of(int64_t v)
{
	return v < 0 ? 0 : v > COUNT_MAX ? COUNT_MAX : (uint32_t)v;
}

/* The whole token table into memory. Under dbmu and wmu. */
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
		return sql_fail(s, s->db, "count tokens", cause);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	while ((int64_t)cap * 7 < n * 10 + 10)
		cap *= 2;
	pthread_rwlock_wrlock(&s->tlock);
	free(s->t.v);
	memset(&s->t, 0, sizeof s->t);
	bt_resize(&s->t, cap);
	if ((rc = sqlite3_prepare_v2(s->db, "SELECT h, spam, ham, atime FROM "
	    "tokens", -1, &st, NULL)) != SQLITE_OK)
		st = NULL;
	while (st != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		e = bt_put(&s->t, (uint64_t)sqlite3_column_int64(st, 0));
		e->spam = count_of(sqlite3_column_int64(st, 1));
		e->ham = count_of(sqlite3_column_int64(st, 2));
		v = sqlite3_column_int64(st, 3);
		e->atime = e->saved = v < 0 ? 0 : v > UINT16_MAX ? UINT16_MAX :
		    (uint16_t)v;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		pthread_rwlock_unlock(&s->tlock);
		return sql_fail(s, s->db, "read tokens", cause);
	}
	if (meta_get(s, "nspam", &s->db_nspam, cause) == -1 ||
	    meta_get(s, "nham", &s->db_nham, cause) == -1) {
		pthread_rwlock_unlock(&s->tlock);
		return -1;
	}
	s->nspam = count_of(s->db_nspam);
	s->nham = count_of(s->db_nham);
	pthread_rwlock_unlock(&s->tlock);
	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM learned", -1, &st,
	    NULL) != SQLITE_OK)
		return sql_fail(s, s->db, "count learned", cause);
	if (sqlite3_step(st) == SQLITE_ROW)
		s->learned = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (meta_get(s, "expired_day", &s->expired_day, cause) == -1 ||
	    meta_get(s, "expired", &v, cause) == -1)
		return -1;
	s->expired = (uint64_t)v;
	return 0;
}

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

static int
open_conn(struct db_bayes *s, sqlite3 **db, char **cause)
{
	int	rc;

	rc = sqlite3_open_v2(s->path, db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		xasprintf(cause, "%s: %s", s->path, *db != NULL ?
		    sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		return -1;
	}
	sqlite3_busy_timeout(*db, DB_BAYES_BUSY_MS);
	return 0;
}

static void	*writer_main(void *);

/* Under dbmu and wmu. */
static int
open_locked(struct db_bayes *s, char **cause)
{
	int64_t	version;
	size_t	i;

	if (make_parents(s->path, cause) == -1 ||
	    open_conn(s, &s->db, cause) == -1)
		goto fail;
	/* Batches write tokens in random order: a large page cache keeps
	 * them from rereading the table. */
	if (exec_sql(s, s->db, "PRAGMA journal_mode = WAL; "
	    "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;",
	    cause) == -1 || exec_sql(s, s->db, schema_sql, cause) == -1)
		goto fail;
	for (i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL) !=
		    SQLITE_OK) {
			sql_fail(s, s->db, "prepare", cause);
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
	if (open_conn(s, &s->rdb, cause) == -1)
		goto fail;
	if (sqlite3_prepare_v3(s->rdb, learned_get_sql, -1,
	    SQLITE_PREPARE_PERSISTENT, &s->rget, NULL) != SQLITE_OK) {
		sql_fail(s, s->rdb, "prepare", cause);
		goto fail;
	}
	if (load_tokens(s, cause) == -1)
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
	pthread_mutex_lock(&s->dbmu);
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
	/* Started here, on first use: never before moatd forks. */
	pthread_mutex_lock(&s->qmu);
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0)
		log_warnx("bayes: cannot start the writer thread: learning "
		    "is written only at exit, no autolearn or expiry");
	else
		s->thread_on = true;
	pthread_mutex_unlock(&s->qmu);
	__atomic_store_n(&s->loaded, true, __ATOMIC_RELEASE);
done:
	pthread_mutex_unlock(&s->wmu);
	pthread_mutex_unlock(&s->dbmu);
	return rv;
}

/* --- reading -------------------------------------------------------------- */

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
	pthread_mutex_lock(&s->dbmu);
	st->expired = s->expired;
	st->expired_day = s->expired_day;
	pthread_mutex_unlock(&s->dbmu);
	pthread_mutex_lock(&s->wmu);
	st->learned = s->learned;
	st->pending = s->pend.msgs + s->fl.msgs;
	pthread_mutex_unlock(&s->wmu);
	pthread_rwlock_rdlock(&s->tlock);
	st->loaded = true;
	st->nspam = s->nspam;
	st->nham = s->nham;
	st->tokens = s->t.n;
	st->memory = s->t.cap * sizeof(struct bt_entry);
	pthread_rwlock_unlock(&s->tlock);
	pthread_mutex_lock(&s->qmu);
	st->autolearned = s->autolearned;
	st->queue_dropped = s->dropped;
	pthread_mutex_unlock(&s->qmu);
	return 0;
}

/* --- learning ------------------------------------------------------------- */

/* What the learned table says of key, counting what is not written yet:
 * -1 (never learned), DB_BAYES_HAM or DB_BAYES_SPAM. Under wmu. */
static int
learned_state(struct db_bayes *s, uint64_t key, int *state, char **cause)
{
	const struct kentry	*e;
	int			 rc;

	if ((e = batch_key(&s->pend, key)) != NULL ||
	    (e = batch_key(&s->fl, key)) != NULL) {
		*state = e->state == K_GONE ? -1 : e->state;
		return 0;
	}
	sqlite3_bind_int64(s->rget, 1, (sqlite3_int64)key);
	rc = sqlite3_step(s->rget);
	*state = rc == SQLITE_ROW ? (sqlite3_column_int(s->rget, 0) != 0 ?
	    DB_BAYES_SPAM : DB_BAYES_HAM) : -1;
	sqlite3_reset(s->rget);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(s, s->rdb, "learned", cause);
	return 0;
}

/* One message, in memory and in the pending batch. Under wmu. */
static int
learn_one(struct db_bayes *s, struct db_bayes_item *it, uint16_t today,
    char **cause)
{
	struct bt_entry	*e;
	int		 prev, ds = 0, dh = 0;
	size_t		 i;

	if (learned_state(s, it->key, &prev, cause) == -1)
		return -1;
	if (it->op == DB_BAYES_FORGET) {
		if (prev == -1) {
			it->result = DB_BAYES_UNKNOWN;
			return 0;
		}
		it->result = DB_BAYES_FORGOTTEN;
		batch_set_key(&s->pend, it->key, K_GONE, false);
		s->learned--;
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
		batch_set_key(&s->pend, it->key, (enum kstate)it->op,
		    it->autolearn);
		if (prev == -1)
			s->learned++;
		if (it->op == DB_BAYES_SPAM)
			ds++;
		else
			dh++;
	}
	if (prev == DB_BAYES_SPAM)
		ds--;
	else if (prev == DB_BAYES_HAM)
		dh--;
	if (s->pend.msgs++ == 0)
		s->pend.since = util_mono_ms();
	s->pend.dspam += ds;
	s->pend.dham += dh;
	pthread_rwlock_wrlock(&s->tlock);
	for (i = 0; i < it->ntokens; i++) {
		deltas_add(&s->pend.d, it->tokens[i], ds, dh);
		if (ds <= 0 && dh <= 0) {
			if ((e = bt_find(&s->t, it->tokens[i])) == NULL)
				continue;
		} else
			e = bt_put(&s->t, it->tokens[i]);
		e->spam = clamp_add(e->spam, ds);
		e->ham = clamp_add(e->ham, dh);
		if (e->spam == 0 && e->ham == 0)
			bt_del(&s->t, e);
		else if ((ds > 0 || dh > 0) && atime_get(e) < today)
			e->atime = today;
	}
	s->nspam = clamp_add(s->nspam, ds);
	s->nham = clamp_add(s->nham, dh);
	pthread_rwlock_unlock(&s->tlock);
	return 0;
}

static void
kick_writer(struct db_bayes *s)
{
	pthread_mutex_lock(&s->qmu);
	s->kick = true;
	pthread_cond_signal(&s->qcond);
	pthread_mutex_unlock(&s->qmu);
}

int
db_bayes_learn(struct db_bayes *s, struct db_bayes_item *items, size_t n,
    char **cause)
{
	uint16_t	today;
	size_t		i;
	bool		full;
	int		rv = 0;

	if (db_bayes_load(s, cause) == -1)
		return -1;
	today = (uint16_t)db_bayes_today(s);
	pthread_mutex_lock(&s->wmu);
	for (i = 0; i < n && rv == 0; i++)
		rv = learn_one(s, &items[i], today, cause);
	full = s->pend.msgs >= DB_BAYES_FLUSH_MSGS;
	pthread_mutex_unlock(&s->wmu);
	if (full)
		kick_writer(s);
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
	if (!__atomic_load_n(&s->loaded, __ATOMIC_ACQUIRE) || !s->thread_on ||
	    s->stop || s->nqueue >= DB_BAYES_QUEUE_MAX) {
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

/* --- writing -------------------------------------------------------------- */

static int
delta_cmp(const void *a, const void *b)
{
	int64_t	x = (int64_t)((const struct delta *)a)->h;
	int64_t	y = (int64_t)((const struct delta *)b)->h;

	return x < y ? -1 : x > y;
}

/* In key order: sqlite walks its B-tree once instead of jumping. The map
 * is no longer a map afterwards. */
static int
write_deltas(struct db_bayes *s, struct deltas *d, uint16_t today,
    char **cause)
{
	sqlite3_stmt	*add = s->stmt[S_TOK_ADD], *del = s->stmt[S_TOK_DEL0];
	size_t		 i, n;

	for (i = 0, n = 0; i < d->cap; i++)
		if (d->v[i].h != 0 && (d->v[i].ds != 0 || d->v[i].dh != 0))
			d->v[n++] = d->v[i];
	if (d->cap > n)
		memset(d->v + n, 0, (d->cap - n) * sizeof *d->v);
	qsort(d->v, n, sizeof *d->v, delta_cmp);
	d->n = n;
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

static int
write_keys(struct db_bayes *s, const struct batch *b, char **cause)
{
	sqlite3_stmt	*put = s->stmt[S_LEARNED_PUT];
	sqlite3_stmt	*del = s->stmt[S_LEARNED_DEL];
	int64_t		 now = util_wall_ms();
	size_t		 i;

	for (i = 0; i < b->kcap; i++) {
		if (b->k[i].key == 0)
			continue;
		if (b->k[i].state == K_GONE) {
			sqlite3_bind_int64(del, 1, (sqlite3_int64)b->k[i].key);
			if (step_done(s, del, "forget", cause) == -1)
				return -1;
			continue;
		}
		sqlite3_bind_int64(put, 1, (sqlite3_int64)b->k[i].key);
		sqlite3_bind_int(put, 2, b->k[i].state == K_SPAM);
		sqlite3_bind_int(put, 3, b->k[i].autolearn);
		sqlite3_bind_int64(put, 4, now);
		if (step_done(s, put, "learn", cause) == -1)
			return -1;
	}
	return 0;
}

/* Write the pending batch in one transaction. A batch that failed stays
 * (lookups still see it) and is retried first next time. Under dbmu. */
static int
flush_locked(struct db_bayes *s, char **cause)
{
	uint16_t	today = (uint16_t)db_bayes_today(s);
	int64_t		nspam, nham;

	pthread_mutex_lock(&s->wmu);
	if (batch_empty(&s->fl)) {
		s->fl = s->pend;
		memset(&s->pend, 0, sizeof s->pend);
	}
	pthread_mutex_unlock(&s->wmu);
	if (batch_empty(&s->fl))
		return 0;
	nspam = s->db_nspam + s->fl.dspam;
	nham = s->db_nham + s->fl.dham;
	if (exec_sql(s, s->db, "BEGIN IMMEDIATE", cause) == -1)
		return -1;
	if (write_keys(s, &s->fl, cause) == -1 ||
	    write_deltas(s, &s->fl.d, today, cause) == -1 ||
	    meta_set(s, "nspam", nspam < 0 ? 0 : nspam, cause) == -1 ||
	    meta_set(s, "nham", nham < 0 ? 0 : nham, cause) == -1 ||
	    exec_sql(s, s->db, "COMMIT", cause) == -1) {
		rollback(s);
		return -1;
	}
	s->db_nspam = nspam < 0 ? 0 : nspam;
	s->db_nham = nham < 0 ? 0 : nham;
	pthread_mutex_lock(&s->wmu);
	batch_free(&s->fl);
	pthread_mutex_unlock(&s->wmu);
	return 0;
}

static int
flush(struct db_bayes *s, char **cause)
{
	int	rv = 0;

	pthread_mutex_lock(&s->dbmu);
	if (s->db != NULL)
		rv = flush_locked(s, cause);
	pthread_mutex_unlock(&s->dbmu);
	return rv;
}

void
db_bayes_sync(struct db_bayes *s)
{
	char	*cause = NULL;

	pthread_mutex_lock(&s->qmu);
	while (s->thread_on && (s->nqueue > 0 || s->busy))
		pthread_cond_wait(&s->qidle, &s->qmu);
	pthread_mutex_unlock(&s->qmu);
	if (flush(s, &cause) == -1) {
		log_warnx("bayes: %s", cause);
		free(cause);
	}
}

/* --- maintenance ---------------------------------------------------------- */

/* Write the days tokens were last seen. Under dbmu. */
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
	qsort(v, n, sizeof *v, delta_cmp);
	if (exec_sql(s, s->db, "BEGIN IMMEDIATE", cause) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)v[i].h);
		sqlite3_bind_int(st, 2, v[i].ds);
		if (step_done(s, st, "access times", cause) == -1) {
			rollback(s);
			goto fail;
		}
	}
	if (exec_sql(s, s->db, "COMMIT", cause) == -1) {
		rollback(s);
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

/* Drop old, rare tokens from sqlite and memory at once, with learning
 * held (wmu) and classification waiting (once a day), so both keep the
 * same set. Under dbmu, after a flush. */
static int
expire_locked(struct db_bayes *s, uint32_t today, size_t *expired,
    char **cause)
{
	sqlite3_stmt	*st = s->stmt[S_TOK_DEL];
	struct bt_entry	*e;
	uint64_t	*victims = NULL;
	size_t		 n = 0, cap = 0, i;
	uint32_t	 cutoff, keep;
	int		 days;

	*expired = 0;
	pthread_mutex_lock(&s->wmu);
	days = s->expire_days;
	keep = s->expire_keep;
	if (days <= 0 || today <= (uint32_t)days) {
		pthread_mutex_unlock(&s->wmu);
		return 0;
	}
	cutoff = today - (uint32_t)days;
	pthread_rwlock_wrlock(&s->tlock);
	for (i = 0; i < s->t.cap; i++) {
		e = &s->t.v[i];
		if (e->h == 0 || atime_get(e) >= cutoff ||
		    (uint64_t)e->spam + e->ham >= keep)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			victims = xreallocarray(victims, cap, sizeof *victims);
		}
		victims[n++] = e->h;
	}
	if (exec_sql(s, s->db, "BEGIN IMMEDIATE", cause) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)victims[i]);
		if (step_done(s, st, "expire", cause) == -1)
			goto rollback;
	}
	if (meta_set(s, "expired_day", today, cause) == -1 ||
	    meta_set(s, "expired", (int64_t)n, cause) == -1 ||
	    exec_sql(s, s->db, "COMMIT", cause) == -1)
		goto rollback;
	for (i = 0; i < n; i++)
		if ((e = bt_find(&s->t, victims[i])) != NULL)
			bt_del(&s->t, e);
	/* Shrink a table that lost most of its tokens. */
	if (s->t.cap > TABLE_MIN && s->t.n * 10 < s->t.cap * 2)
		bt_resize(&s->t, s->t.cap / 2);
	pthread_rwlock_unlock(&s->tlock);
	pthread_mutex_unlock(&s->wmu);
	s->expired_day = today;
	s->expired = n;
	*expired = n;
	free(victims);
	if (n > 0)
		log_info("bayes: %s: expired %zu tokens unseen for %d days",
		    s->path, n, days);
	return 0;
rollback:
	rollback(s);
fail:
	pthread_rwlock_unlock(&s->tlock);
	pthread_mutex_unlock(&s->wmu);
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
	pthread_mutex_lock(&s->dbmu);
	today = db_bayes_today(s);
	if (flush_locked(s, cause) == -1 || flush_atimes(s, cause) == -1)
		rv = -1;
	else if (force || s->expired_day < (int64_t)today)
		rv = expire_locked(s, today, expired, cause);
	__atomic_store_n(&s->next_maint, util_mono_ms() + DB_BAYES_MAINT_S *
	    1000ULL, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->dbmu);
	return rv;
}

/* --- the writer thread ---------------------------------------------------- */

static void
writer_learn(struct db_bayes *s, struct aq_item **batch, size_t n)
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
	if (db_bayes_learn(s, items, n, &cause) == -1) {
		log_warnx("bayes: autolearn: %s", cause);
		free(cause);
	}
	for (i = 0; i < n; i++) {
		if (items[i].result == DB_BAYES_LEARNED)
			learned++;
		free(batch[i]->tokens);
		free(batch[i]);
	}
	free(items);
	pthread_mutex_lock(&s->qmu);
	s->autolearned += learned;
	pthread_mutex_unlock(&s->qmu);
}

/* When the pending batch is due (0: nothing pending). */
static uint64_t
flush_due(struct db_bayes *s)
{
	uint64_t	due;

	pthread_mutex_lock(&s->wmu);
	due = batch_empty(&s->pend) && batch_empty(&s->fl) ? 0 :
	    batch_empty(&s->fl) ? s->pend.since + DB_BAYES_FLUSH_MS :
	    util_mono_ms();
	pthread_mutex_unlock(&s->wmu);
	return due;
}

static void
writer_work(struct db_bayes *s, bool force)
{
	uint64_t	now = util_mono_ms(), due = flush_due(s);
	size_t		expired;
	char		*cause = NULL;

	if (due != 0 && (force || now >= due) && flush(s, &cause) == -1) {
		log_warnx("bayes: writing learned messages: %s", cause);
		free(cause);
		cause = NULL;
	}
	if (now >= __atomic_load_n(&s->next_maint, __ATOMIC_RELAXED) &&
	    db_bayes_maintain(s, false, &expired, &cause) == -1) {
		log_warnx("bayes: maintenance: %s", cause);
		free(cause);
	}
}

static void *
writer_main(void *arg)
{
	struct db_bayes	*s = arg;
	struct aq_item	*batch[DB_BAYES_BATCH_MAX], *q;
	struct timespec	 ts;
	uint64_t	 now, next, due;
	size_t		 n;
	bool		 kick;
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
			writer_learn(s, batch, n);
			pthread_mutex_lock(&s->qmu);
			s->busy = false;
			if (s->nqueue == 0)
				pthread_cond_broadcast(&s->qidle);
			continue;
		}
		if (s->stop)
			break;
		kick = s->kick;
		s->kick = false;
		pthread_mutex_unlock(&s->qmu);
		writer_work(s, kick);
		now = util_mono_ms();
		next = __atomic_load_n(&s->next_maint, __ATOMIC_RELAXED);
		if ((due = flush_due(s)) != 0 && due < next)
			next = due;
		pthread_mutex_lock(&s->qmu);
		if (s->nqueue > 0 || s->kick || s->stop)
			continue;
		if (next <= now)
			next = now + 1;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)((next - now) / 1000);
		ts.tv_nsec += (long)((next - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->qcond, &s->qmu, &ts);
	}
	pthread_mutex_unlock(&s->qmu);
	/* Keep what was learned and what readers saw for the next start. */
	writer_work(s, true);
	pthread_mutex_lock(&s->dbmu);
	if (s->db != NULL && flush_atimes(s, &cause) == -1) {
		log_warnx("bayes: %s", cause);
		free(cause);
	}
	pthread_mutex_unlock(&s->dbmu);
	return NULL;
}
