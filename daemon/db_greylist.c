/*
 * The greylisting store (db_greylist.h). db_greylist_open runs on the
 * loop thread at start-up; afterwards the connection belongs to the
 * writer thread, and the loop thread only appends to the queue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db_greylist.h"
#include "log.h"
#include "xmalloc.h"

#define DBG_BUSY_MS	5000

enum dbg_op_type {
	DBG_PUT,
	DBG_EXPIRE,
};

struct dbg_op {
	enum dbg_op_type	 type;
	char			*key;
	int64_t			 a;	/* first_ms | first_before */
	int64_t			 b;	/* pass_ms | pass_before */
	unsigned		 count;
	struct dbg_op		*next;
};

static struct {
	sqlite3		*db;
	sqlite3_stmt	*put;
	sqlite3_stmt	*expire;
	pthread_t	 thread;
	bool		 running;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct dbg_op	*head;		/* under lock */
	struct dbg_op	*tail;
	size_t		 queued;
	bool		 stopping;
	size_t		 dropped;
} dbg = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS greylist ("
    " key TEXT PRIMARY KEY,"
    " first_ms INTEGER NOT NULL,"
    " pass_ms INTEGER NOT NULL,"
    " count INTEGER NOT NULL"
    ") WITHOUT ROWID;";

static int
fail_db(const char *what, char **cause)
{
	xasprintf(cause, "greylist store: %s: %s", what,
	    dbg.db != NULL ? sqlite3_errmsg(dbg.db) : "cannot open");
	if (dbg.put != NULL)
		sqlite3_finalize(dbg.put);
	if (dbg.expire != NULL)
		sqlite3_finalize(dbg.expire);
	dbg.put = dbg.expire = NULL;
	sqlite3_close(dbg.db);
	dbg.db = NULL;
	return -1;
}

static void
free_ops(struct dbg_op *op)
{
	struct dbg_op	*next;

	for (; op != NULL; op = next) {
		next = op->next;
		free(op->key);
		free(op);
	}
}

static void
run_ops(struct dbg_op *ops)
{
	struct dbg_op	*op;
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_exec(dbg.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		log_warnx("greylist store: begin: %s", sqlite3_errmsg(dbg.db));
		return;
	}
	for (op = ops; op != NULL; op = op->next) {
		if (op->type == DBG_PUT) {
			st = dbg.put;
			sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, op->a);
			sqlite3_bind_int64(st, 3, op->b);
			sqlite3_bind_int64(st, 4, op->count);
		} else {
			st = dbg.expire;
			sqlite3_bind_int64(st, 1, op->a);
			sqlite3_bind_int64(st, 2, op->b);
		}
		if ((rc = sqlite3_step(st)) != SQLITE_DONE)
			log_warnx("greylist store: %s", sqlite3_errstr(rc));
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	if (sqlite3_exec(dbg.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		log_warnx("greylist store: commit: %s",
		    sqlite3_errmsg(dbg.db));
		sqlite3_exec(dbg.db, "ROLLBACK", NULL, NULL, NULL);
	}
}

static void *
writer(void *arg)
{
	struct dbg_op	*ops;
	bool		 stop;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&dbg.lock);
		while (dbg.head == NULL && !dbg.stopping)
			pthread_cond_wait(&dbg.cond, &dbg.lock);
		ops = dbg.head;
		dbg.head = dbg.tail = NULL;
		dbg.queued = 0;
		stop = dbg.stopping;
		pthread_mutex_unlock(&dbg.lock);
		if (ops != NULL) {
			run_ops(ops);
			free_ops(ops);
		}
		if (stop)
			break;
	}
	return NULL;
}

int
db_greylist_open(const char *path, int64_t first_after, int64_t pass_after,
    unsigned max, db_greylist_row_fn fn, void *arg, char **cause)
{
	sqlite3_stmt	*st = NULL;
	unsigned	 n = 0;
	int		 rc;

	*cause = NULL;
	if (sqlite3_open_v2(path, &dbg.db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return fail_db(path, cause);
	sqlite3_busy_timeout(dbg.db, DBG_BUSY_MS);
	if (sqlite3_exec(dbg.db, "PRAGMA journal_mode=WAL; "
	    "PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(dbg.db, schema, NULL, NULL, NULL) != SQLITE_OK)
		return fail_db(path, cause);
	if (sqlite3_prepare_v2(dbg.db, "INSERT INTO greylist (key, first_ms, "
	    "pass_ms, count) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE "
	    "SET first_ms = excluded.first_ms, pass_ms = excluded.pass_ms, "
	    "count = excluded.count", -1, &dbg.put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(dbg.db, "DELETE FROM greylist WHERE "
	    "(pass_ms = 0 AND first_ms < ?) OR (pass_ms != 0 AND pass_ms < ?)",
	    -1, &dbg.expire, NULL) != SQLITE_OK)
		return fail_db("prepare", cause);
	if (sqlite3_prepare_v2(dbg.db, "SELECT key, first_ms, pass_ms, count "
	    "FROM greylist WHERE (pass_ms = 0 AND first_ms >= ?) OR "
	    "(pass_ms != 0 AND pass_ms >= ?) ORDER BY pass_ms DESC, "
	    "first_ms DESC", -1, &st, NULL) != SQLITE_OK)
		return fail_db("prepare", cause);
	sqlite3_bind_int64(st, 1, first_after);
	sqlite3_bind_int64(st, 2, pass_after);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_text(st, 0) == NULL)
			continue;
		fn((const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
		    (unsigned)sqlite3_column_int64(st, 3), arg);
		n++;
	}
	sqlite3_finalize(st);
	dbg.stopping = false;
	dbg.dropped = 0;
	if ((rc = pthread_create(&dbg.thread, NULL, writer, NULL)) != 0) {
		errno = rc;
		return fail_db("writer thread", cause);
	}
	dbg.running = true;
	return 0;
}

static void
enqueue(struct dbg_op *op)
{
	pthread_mutex_lock(&dbg.lock);
	if (!dbg.running || dbg.queued >= DB_GREYLIST_QUEUE_MAX) {
		if (dbg.running && dbg.dropped++ % 10000 == 0)
			log_warnx("greylist store: writer behind, %zu changes "
			    "dropped", dbg.dropped);
		pthread_mutex_unlock(&dbg.lock);
		free(op->key);
		free(op);
		return;
	}
	op->next = NULL;
	if (dbg.tail != NULL)
		dbg.tail->next = op;
	else
		dbg.head = op;
	dbg.tail = op;
	dbg.queued++;
	pthread_cond_signal(&dbg.cond);
	pthread_mutex_unlock(&dbg.lock);
}

void
db_greylist_put(const char *key, int64_t first_ms, int64_t pass_ms,
    unsigned count)
{
	struct dbg_op	*op;

	op = xcalloc(1, sizeof *op);
	op->type = DBG_PUT;
	op->key = xstrdup(key);
	op->a = first_ms;
	op->b = pass_ms;
	op->count = count;
	enqueue(op);
}

void
db_greylist_expire(int64_t first_before, int64_t pass_before)
{
	struct dbg_op	*op;

	op = xcalloc(1, sizeof *op);
	op->type = DBG_EXPIRE;
	op->a = first_before;
	op->b = pass_before;
	enqueue(op);
}

void
db_greylist_close(void)
{
	if (!dbg.running)
		return;
	pthread_mutex_lock(&dbg.lock);
	dbg.stopping = true;
	pthread_cond_signal(&dbg.cond);
	pthread_mutex_unlock(&dbg.lock);
	pthread_join(dbg.thread, NULL);
	dbg.running = false;
	sqlite3_finalize(dbg.put);
	sqlite3_finalize(dbg.expire);
	dbg.put = dbg.expire = NULL;
	sqlite3_close(dbg.db);
	dbg.db = NULL;
}
