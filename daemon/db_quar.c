/*
 * The quarantine index and sender lists on sqlite: one read-write
 * connection per calling thread (worker or pool thread, never the loop),
 * synchronous=FULL so a committed row is on disk, foreign keys on for the
 * recipient cascade. Values are always bound; the search statement's
 * shape is a set of fixed clauses.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "buf.h"
#include "db.h"
#include "db_quar.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define QSEARCH_SQL_MAX	4096

enum {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_INSERT,
	S_INSERT_RCPT,
	S_ENTRY,
	S_RCPTS,
	S_CLAIM,
	S_DONE,
	S_BACK,
	S_COUNT,
	S_REMOVE,
	S_DELETE_RCPTS,
	S_RESET,
	S_EXPIRED,
	S_REPORT_USERS,
	S_REPORT_ITEMS,
	S_LIST_ADD,
	S_LIST_DEL,
	S_LIST_ALL,
	S_MAX
};

#define ENTRY_COLS							\
	"q.id, q.queue_id, q.node, q.type, q.time_ms, q.direction,"	\
	" q.sender, q.client_addr, q.from_hdr, q.subject, q.message_id,"\
	" q.score, q.virus, q.rule, q.findings, q.size, q.file,"	\
	" q.smtputf8, q.body_type"

enum {
	E_ID, E_QUEUE_ID, E_NODE, E_TYPE, E_TIME, E_DIRECTION, E_SENDER,
	E_CLIENT, E_FROM, E_SUBJECT, E_MESSAGE_ID, E_SCORE, E_VIRUS, E_RULE,
	E_FINDINGS, E_SIZE, E_FILE, E_SMTPUTF8, E_BODY_TYPE
};

static const char *const sql[S_MAX] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_INSERT] = "INSERT INTO quarantine (id, queue_id, node, type,"
	    " time_ms, direction, sender, client_addr, from_hdr, subject,"
	    " message_id, score, virus, rule, findings, size, file, smtputf8,"
	    " body_type) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
	    " ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
	[S_INSERT_RCPT] = "INSERT OR IGNORE INTO quarantine_rcpt (quar_id,"
	    " rcpt, state) VALUES (?1, ?2, 'held')",
	[S_ENTRY] = "SELECT " ENTRY_COLS " FROM quarantine q WHERE q.id = ?1",
	[S_RCPTS] = "SELECT rcpt, state FROM quarantine_rcpt"
	    " WHERE quar_id = ?1 ORDER BY rcpt",
	/* The one statement that makes a release happen once. */
	[S_CLAIM] = "UPDATE quarantine_rcpt SET state = 'releasing'"
	    " WHERE quar_id = ?1 AND state = 'held'"
	    " AND (?2 IS NULL OR rcpt = ?2 COLLATE NOCASE) RETURNING rcpt",
	[S_DONE] = "DELETE FROM quarantine_rcpt WHERE quar_id = ?1"
	    " AND rcpt = ?2 AND state = 'releasing'",
	[S_BACK] = "UPDATE quarantine_rcpt SET state = 'held'"
	    " WHERE quar_id = ?1 AND rcpt = ?2 AND state = 'releasing'",
	[S_COUNT] = "SELECT count(*) FROM quarantine_rcpt WHERE quar_id = ?1",
	[S_REMOVE] = "DELETE FROM quarantine WHERE id = ?1 RETURNING file",
	[S_DELETE_RCPTS] = "DELETE FROM quarantine_rcpt WHERE quar_id = ?1"
	    " AND state = 'held' AND (?2 IS NULL OR rcpt = ?2 COLLATE NOCASE)"
	    " RETURNING rcpt",
	[S_RESET] = "UPDATE quarantine_rcpt SET state = 'held'"
	    " WHERE state = 'releasing'",
	[S_EXPIRED] = "SELECT id FROM quarantine WHERE type = ?1"
	    " AND time_ms < ?2 ORDER BY time_ms LIMIT ?3",
	[S_REPORT_USERS] = "SELECT DISTINCT r.rcpt FROM quarantine_rcpt r"
	    " JOIN quarantine q ON q.id = r.quar_id WHERE q.type = 'spam'"
	    " AND r.state = 'held' AND q.time_ms >= ?1 ORDER BY r.rcpt"
	    " LIMIT ?2",
	[S_REPORT_ITEMS] = "SELECT q.id, q.time_ms, q.sender, q.subject,"
	    " q.score FROM quarantine q JOIN quarantine_rcpt r"
	    " ON r.quar_id = q.id WHERE r.rcpt = ?1 AND r.state = 'held'"
	    " AND q.type = 'spam' AND q.time_ms >= ?2"
	    " ORDER BY q.time_ms DESC, q.id DESC LIMIT ?3",
	[S_LIST_ADD] = "INSERT OR IGNORE INTO sender_list (owner, block,"
	    " pattern, comment, added_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_LIST_DEL] = "DELETE FROM sender_list WHERE owner = ?1"
	    " AND block = ?2 AND pattern = ?3",
	[S_LIST_ALL] = "SELECT owner, block, pattern FROM sender_list",
};

/* Search filters: a bit each; one cached statement per shape. */
enum {
	F_TYPE,
	F_RCPT,
	F_SENDER,
	F_TEXT,
	F_FROM,
	F_TO,
	F_CURSOR,
	F_MAX
};
#define SHAPES	(1 << F_MAX)

#define LIKE(col, p)	" " col " LIKE " p " ESCAPE '\\'"
#define RCPT_LIKE(p)							\
	" EXISTS (SELECT 1 FROM quarantine_rcpt r WHERE"		\
	" r.quar_id = q.id AND" LIKE("r.rcpt", p) ")"

static const char *const clause[F_MAX] = {
	[F_TYPE] = " AND q.type = :type",
	[F_RCPT] = " AND" RCPT_LIKE(":rcpt"),
	[F_SENDER] = " AND" LIKE("q.sender", ":sender"),
	[F_TEXT] = " AND (" LIKE("q.subject", ":text")
	    " OR" LIKE("q.sender", ":text")
	    " OR" LIKE("q.from_hdr", ":text")
	    " OR" LIKE("q.id", ":text")
	    " OR" LIKE("q.message_id", ":text")
	    " OR" LIKE("q.virus", ":text")
	    " OR" RCPT_LIKE(":text") ")",
	[F_FROM] = " AND q.time_ms >= :from",
	[F_TO] = " AND q.time_ms < :to",
	[F_CURSOR] = " AND (q.time_ms, q.id) < (:ctime, :cid)",
};

struct qconn {
	sqlite3		*conn;
	sqlite3_stmt	*st[S_MAX];
	sqlite3_stmt	*search[SHAPES];
	pthread_t	 owner;
	struct qconn	*next;
};

static pthread_mutex_t	 qlock = PTHREAD_MUTEX_INITIALIZER;
static char		*qpath;		/* under qlock */
static pthread_key_t	 qkey;
static bool		 qkey_made;	/* under qlock */
static struct qconn	*qconns;	/* under qlock: every open one */

static void
set_cause(char **cause, sqlite3 *conn, const char *what)
{
	if (cause == NULL)
		return;
	if (conn != NULL)
		xasprintf(cause, "%s: %s", what, sqlite3_errmsg(conn));
	else
		*cause = xstrdup(what);
}

static void
qconn_free(struct qconn *c)
{
	int	i;

	for (i = 0; i < S_MAX; i++)
		sqlite3_finalize(c->st[i]);
	for (i = 0; i < SHAPES; i++)
		sqlite3_finalize(c->search[i]);
	if (sqlite3_close(c->conn) != SQLITE_OK)
		log_warnx("db_quar: close: %s", sqlite3_errmsg(c->conn));
	free(c);
}

static void
qconn_destroy(void *arg)
{
	struct qconn	*c = arg, **pp;
	bool		 found = false;

	pthread_mutex_lock(&qlock);
	for (pp = &qconns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c && pthread_equal(c->owner, pthread_self())) {
			*pp = c->next;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&qlock);
	if (found)
		qconn_free(c);
}

int
db_quar_open(const char *path, char **cause)
{
	int	rc;

	pthread_mutex_lock(&qlock);
	free(qpath);
	qpath = xstrdup(path);
	if (!qkey_made) {
		if ((rc = pthread_key_create(&qkey, qconn_destroy)) != 0) {
			pthread_mutex_unlock(&qlock);
			xasprintf(cause, "thread key: %s", strerror(rc));
			return -1;
		}
		qkey_made = true;
	}
	pthread_mutex_unlock(&qlock);
	return 0;
}

void
db_quar_close(void)
{
	struct qconn	*c, *next;

	pthread_mutex_lock(&qlock);
	c = qconns;
	qconns = NULL;
	free(qpath);
	qpath = NULL;
	if (qkey_made)
		pthread_setspecific(qkey, NULL);
	pthread_mutex_unlock(&qlock);
	for (; c != NULL; c = next) {
		next = c->next;
		qconn_free(c);
	}
}

/* The calling thread's connection. */
static struct qconn *
qconn(char **cause)
{
	struct qconn	*c, *it;
	sqlite3		*conn = NULL;
	char		*path, *err = NULL;
	bool		 live = false;

	pthread_mutex_lock(&qlock);
	if (qpath == NULL || !qkey_made) {
		pthread_mutex_unlock(&qlock);
		*cause = xstrdup("quarantine index not open");
		return NULL;
	}
	/* A connection db_quar_close already freed is not used again. */
	if ((c = pthread_getspecific(qkey)) != NULL) {
		for (it = qconns; it != NULL; it = it->next)
			if (it == c && pthread_equal(c->owner,
			    pthread_self()))
				live = true;
		if (live) {
			pthread_mutex_unlock(&qlock);
			return c;
		}
	}
	path = xstrdup(qpath);
	pthread_mutex_unlock(&qlock);

	if (sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", path, conn != NULL ?
		    sqlite3_errmsg(conn) : "cannot open");
		sqlite3_close(conn);
		free(path);
		return NULL;
	}
	free(path);
	if (sqlite3_busy_timeout(conn, DB_BUSY_TIMEOUT_MS) != SQLITE_OK ||
	    sqlite3_exec(conn, "PRAGMA synchronous=FULL; PRAGMA "
	    "foreign_keys=ON", NULL, NULL, &err) != SQLITE_OK) {
		xasprintf(cause, "quarantine index: %s", err != NULL ? err :
		    sqlite3_errmsg(conn));
		sqlite3_free(err);
		sqlite3_close(conn);
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->conn = conn;
	c->owner = pthread_self();
	pthread_mutex_lock(&qlock);
	c->next = qconns;
	qconns = c;
	pthread_setspecific(qkey, c);
	pthread_mutex_unlock(&qlock);
	return c;
}

static sqlite3_stmt *
stmt(struct qconn *c, int s, char **cause)
{
	if (c->st[s] == NULL && sqlite3_prepare_v3(c->conn, sql[s], -1,
	    SQLITE_PREPARE_PERSISTENT, &c->st[s], NULL) != SQLITE_OK) {
		set_cause(cause, c->conn, "prepare");
		c->st[s] = NULL;
		return NULL;
	}
	sqlite3_reset(c->st[s]);
	sqlite3_clear_bindings(c->st[s]);
	return c->st[s];
}

static int
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

static int
exec_simple(struct qconn *c, int s, char **cause)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = stmt(c, s, cause)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		set_cause(cause, c->conn, sql[s]);
		return -1;
	}
	return 0;
}

static int
begin(struct qconn *c, char **cause)
{
	return exec_simple(c, S_BEGIN, cause);
}

static int
commit(struct qconn *c, char **cause)
{
	return exec_simple(c, S_COMMIT, cause);
}

static void
rollback(struct qconn *c)
{
	if (!sqlite3_get_autocommit(c->conn))
		(void)exec_simple(c, S_ROLLBACK, NULL);
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static char *
col_dup(sqlite3_stmt *s, int i)
{
	const char	*v = col_text(s, i);

	return v != NULL ? xstrdup(v) : NULL;
}

int
db_quar_reset_releasing(int *n, char **cause)
{
	struct qconn	*c;

	*n = 0;
	if ((c = qconn(cause)) == NULL || exec_simple(c, S_RESET, cause) == -1)
		return -1;
	*n = sqlite3_changes(c->conn);
	return 0;
}

int
db_quar_insert(const struct quar_meta *m, const char *id, const char *file,
    uint64_t size, char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	char		*findings = NULL;
	size_t		 i;
	int		 bad = 0;

	if ((c = qconn(cause)) == NULL)
		return -1;
	if (begin(c, cause) == -1)
		return -1;
	if ((s = stmt(c, S_INSERT, cause)) == NULL)
		goto fail;
	if (m->findings != NULL)
		findings = json_dumps(m->findings, JSON_COMPACT);
	bad |= bind_text(s, 1, id);
	bad |= bind_text(s, 2, m->queue_id);
	bad |= bind_text(s, 3, m->node);
	bad |= bind_text(s, 4, quar_type_name(m->type));
	bad |= sqlite3_bind_int64(s, 5, m->time_ms);
	bad |= bind_text(s, 6, cfg_direction_name(m->direction));
	bad |= bind_text(s, 7, m->sender != NULL ? m->sender : "");
	bad |= bind_text(s, 8, m->client_addr);
	bad |= bind_text(s, 9, m->from_hdr);
	bad |= bind_text(s, 10, m->subject);
	bad |= bind_text(s, 11, m->message_id);
	bad |= m->scanned ? sqlite3_bind_double(s, 12, m->score) :
	    sqlite3_bind_null(s, 12);
	bad |= bind_text(s, 13, m->virus);
	bad |= bind_text(s, 14, m->rule);
	bad |= bind_text(s, 15, findings);
	bad |= sqlite3_bind_int64(s, 16, size > INT64_MAX ? INT64_MAX :
	    (int64_t)size);
	bad |= bind_text(s, 17, file);
	bad |= sqlite3_bind_int(s, 18, m->smtputf8);
	bad |= sqlite3_bind_int(s, 19, (int)m->body_type);
	free(findings);
	if (bad != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		set_cause(cause, c->conn, "insert quarantine");
		goto fail;
	}
	for (i = 0; i < m->nrcpts; i++) {
		if ((s = stmt(c, S_INSERT_RCPT, cause)) == NULL)
			goto fail;
		if (bind_text(s, 1, id) != SQLITE_OK ||
		    bind_text(s, 2, m->rcpts[i]) != SQLITE_OK ||
		    sqlite3_step(s) != SQLITE_DONE) {
			set_cause(cause, c->conn, "insert quarantine rcpt");
			goto fail;
		}
	}
	if (commit(c, cause) == -1)
		goto fail;
	return 0;
fail:
	rollback(c);
	return -1;
}

/* Inside a transaction: delete the entry; *file gets its file. */
static int
remove_entry(struct qconn *c, const char *id, char **file, char **cause)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((s = stmt(c, S_REMOVE, cause)) == NULL)
		return -1;
	if (bind_text(s, 1, id) != SQLITE_OK) {
		set_cause(cause, c->conn, "bind");
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*file == NULL)
			*file = col_dup(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		set_cause(cause, c->conn, "remove quarantine entry");
		return -1;
	}
	return 0;
}

int
db_quar_remove(const char *id, char **file, char **cause)
{
	struct qconn	*c;

	*file = NULL;
	if ((c = qconn(cause)) == NULL || begin(c, cause) == -1)
		return -1;
	if (remove_entry(c, id, file, cause) == -1 ||
	    commit(c, cause) == -1) {
		rollback(c);
		free(*file);
		*file = NULL;
		return -1;
	}
	return 0;
}

/* --- reads ------------------------------------------------------------- */

static json_t *
rcpts_json(struct qconn *c, const char *id, char **cause)
{
	sqlite3_stmt	*s;
	json_t		*a;
	int		 rc;

	if ((s = stmt(c, S_RCPTS, cause)) == NULL)
		return NULL;
	if (bind_text(s, 1, id) != SQLITE_OK) {
		set_cause(cause, c->conn, "bind");
		return NULL;
	}
	a = json_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:s?, s:s?}", "rcpt",
		    col_text(s, 0), "state", col_text(s, 1)));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		set_cause(cause, c->conn, "quarantine recipients");
		return NULL;
	}
	return a;
}

static json_t *
opt_text(sqlite3_stmt *s, int i)
{
	const char	*v = col_text(s, i);

	return v != NULL ? json_string(v) : json_null();
}

/* A row of ENTRY_COLS as JSON; full adds findings. */
static json_t *
entry_json(struct qconn *c, sqlite3_stmt *s, bool full, char **cause)
{
	json_t		*o, *r;
	const char	*f;

	o = json_object();
	json_object_set_new(o, "id", opt_text(s, E_ID));
	json_object_set_new(o, "queue_id", opt_text(s, E_QUEUE_ID));
	json_object_set_new(o, "node", opt_text(s, E_NODE));
	json_object_set_new(o, "type", opt_text(s, E_TYPE));
	json_object_set_new(o, "time_ms",
	    json_integer(sqlite3_column_int64(s, E_TIME)));
	json_object_set_new(o, "direction", opt_text(s, E_DIRECTION));
	json_object_set_new(o, "sender", opt_text(s, E_SENDER));
	json_object_set_new(o, "client_addr", opt_text(s, E_CLIENT));
	json_object_set_new(o, "from", opt_text(s, E_FROM));
	json_object_set_new(o, "subject", opt_text(s, E_SUBJECT));
	json_object_set_new(o, "message_id", opt_text(s, E_MESSAGE_ID));
	json_object_set_new(o, "score", sqlite3_column_type(s, E_SCORE) ==
	    SQLITE_NULL ? json_null() :
	    json_real(sqlite3_column_double(s, E_SCORE)));
	json_object_set_new(o, "virus", opt_text(s, E_VIRUS));
	json_object_set_new(o, "rule", opt_text(s, E_RULE));
	json_object_set_new(o, "size",
	    json_integer(sqlite3_column_int64(s, E_SIZE)));
	if (full) {
		f = col_text(s, E_FINDINGS);
		json_object_set_new(o, "findings", f != NULL ?
		    json_loads(f, 0, NULL) : json_null());
		if (json_object_get(o, "findings") == NULL)
			json_object_set_new(o, "findings", json_null());
		json_object_set_new(o, "file", opt_text(s, E_FILE));
	}
	if ((r = rcpts_json(c, col_text(s, E_ID), cause)) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "rcpts", r);
	return o;
}

/* "%text%" with %, _ and \ escaped. Caller frees. */
static char *
like_pattern(const char *s)
{
	size_t	len = strlen(s), i, k = 0;
	char	*p = xmalloc(len * 2 + 3);

	p[k++] = '%';
	for (i = 0; i < len; i++) {
		if (s[i] == '%' || s[i] == '_' || s[i] == '\\')
			p[k++] = '\\';
		p[k++] = s[i];
	}
	p[k++] = '%';
	p[k] = '\0';
	return p;
}

static bool
given(const char *s)
{
	return s != NULL && *s != '\0';
}

static sqlite3_stmt *
search_stmt(struct qconn *c, unsigned shape, char **cause)
{
	struct buf	b;
	int		f;

	if (c->search[shape] != NULL) {
		sqlite3_reset(c->search[shape]);
		sqlite3_clear_bindings(c->search[shape]);
		return c->search[shape];
	}
	buf_init(&b, QSEARCH_SQL_MAX);
	if (buf_appendf(&b, "SELECT " ENTRY_COLS " FROM quarantine q"
	    " WHERE 1") == -1)
		goto toolong;
	for (f = 0; f < F_MAX; f++)
		if ((shape & (1u << f)) &&
		    buf_append(&b, clause[f], strlen(clause[f])) == -1)
			goto toolong;
	if (buf_appendf(&b, " ORDER BY q.time_ms DESC, q.id DESC"
	    " LIMIT :limit") == -1)
		goto toolong;
	if (sqlite3_prepare_v3(c->conn, b.data, -1, SQLITE_PREPARE_PERSISTENT,
	    &c->search[shape], NULL) != SQLITE_OK) {
		set_cause(cause, c->conn, "prepare search");
		c->search[shape] = NULL;
	}
	buf_free(&b);
	return c->search[shape];
toolong:
	buf_free(&b);
	*cause = xstrdup("search statement too long");
	return NULL;
}

static int
bind_name(sqlite3_stmt *s, const char *name, const char *v, bool like)
{
	char	*p;
	int	 i, rc;

	if ((i = sqlite3_bind_parameter_index(s, name)) == 0)
		return SQLITE_RANGE;
	if (!like)
		return sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	p = like_pattern(v);
	rc = sqlite3_bind_text(s, i, p, -1, SQLITE_TRANSIENT);
	free(p);
	return rc;
}

static int
bind_name64(sqlite3_stmt *s, const char *name, int64_t v)
{
	int	i;

	if ((i = sqlite3_bind_parameter_index(s, name)) == 0)
		return SQLITE_RANGE;
	return sqlite3_bind_int64(s, i, v);
}

json_t *
db_quar_search(const struct quar_query *q, char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	json_t		*items, *o;
	unsigned	 shape = 0;
	int64_t		 ctime = 0, last_time = 0;
	char		 cid[QUAR_ID_MAX], last_id[QUAR_ID_MAX] = "", *next;
	int		 limit, n = 0, rc, bad = 0;

	limit = q->limit <= 0 ? 50 : q->limit > DB_QUAR_PAGE_MAX ?
	    DB_QUAR_PAGE_MAX : q->limit;
	if (given(q->cursor)) {
		if (strlen(q->cursor) > DB_CURSOR_MAX ||
		    sscanf(q->cursor, "%" SCNd64 ":%47s", &ctime, cid) != 2) {
			*cause = xstrdup("malformed cursor");
			return NULL;
		}
		shape |= 1u << F_CURSOR;
	}
	if (given(q->type))
		shape |= 1u << F_TYPE;
	if (given(q->rcpt))
		shape |= 1u << F_RCPT;
	if (given(q->sender))
		shape |= 1u << F_SENDER;
	if (given(q->text))
		shape |= 1u << F_TEXT;
	if (q->from_ms > 0)
		shape |= 1u << F_FROM;
	if (q->to_ms > 0)
		shape |= 1u << F_TO;
	if ((c = qconn(cause)) == NULL || (s = search_stmt(c, shape,
	    cause)) == NULL)
		return NULL;
	if (shape & (1u << F_TYPE))
		bad |= bind_name(s, ":type", q->type, false);
	if (shape & (1u << F_RCPT))
		bad |= bind_name(s, ":rcpt", q->rcpt, true);
	if (shape & (1u << F_SENDER))
		bad |= bind_name(s, ":sender", q->sender, true);
	if (shape & (1u << F_TEXT))
		bad |= bind_name(s, ":text", q->text, true);
	if (shape & (1u << F_FROM))
		bad |= bind_name64(s, ":from", q->from_ms);
	if (shape & (1u << F_TO))
		bad |= bind_name64(s, ":to", q->to_ms);
	if (shape & (1u << F_CURSOR)) {
		bad |= bind_name64(s, ":ctime", ctime);
		bad |= bind_name(s, ":cid", cid, false);
	}
	bad |= bind_name64(s, ":limit", limit + 1);
	if (bad != SQLITE_OK) {
		set_cause(cause, c->conn, "bind search");
		return NULL;
	}
	items = json_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == limit)
			break;
		/* Rows of the same statement: the recipient query uses
		 * another statement on the same connection. */
		if ((o = entry_json(c, s, false, cause)) == NULL) {
			sqlite3_reset(s);
			json_decref(items);
			return NULL;
		}
		last_time = sqlite3_column_int64(s, E_TIME);
		snprintf(last_id, sizeof last_id, "%s", col_text(s, E_ID));
		json_array_append_new(items, o);
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		set_cause(cause, c->conn, "search");
		sqlite3_reset(s);
		json_decref(items);
		return NULL;
	}
	if (rc == SQLITE_ROW) {
		xasprintf(&next, "%" PRId64 ":%s", last_time, last_id);
		sqlite3_reset(s);
		o = json_pack("{s:o, s:s}", "items", items, "next", next);
		free(next);
		return o;
	}
	sqlite3_reset(s);
	return json_pack("{s:o, s:n}", "items", items, "next");
}

json_t *
db_quar_get(const char *id, char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	json_t		*o;
	int		 rc;

	if ((c = qconn(cause)) == NULL || (s = stmt(c, S_ENTRY, cause)) ==
	    NULL)
		return NULL;
	if (bind_text(s, 1, id) != SQLITE_OK) {
		set_cause(cause, c->conn, "bind");
		return NULL;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return json_null();
	}
	if (rc != SQLITE_ROW) {
		set_cause(cause, c->conn, "quarantine entry");
		sqlite3_reset(s);
		return NULL;
	}
	o = entry_json(c, s, true, cause);
	sqlite3_reset(s);
	return o;
}

/* --- state changes --------------------------------------------------- */

void
quar_entry_clear(struct quar_entry *e)
{
	size_t	i;

	free(e->direction);
	free(e->sender);
	free(e->subject);
	free(e->file);
	for (i = 0; i < e->nrcpts; i++)
		free(e->rcpts[i]);
	free(e->rcpts);
	memset(e, 0, sizeof *e);
}

/* Inside a transaction: read the entry; 1 when there is none. */
static int
load_entry(struct qconn *c, const char *id, struct quar_entry *e,
    char **cause)
{
	sqlite3_stmt	*s;
	const char	*v;
	int		 rc, t;

	memset(e, 0, sizeof *e);
	if ((s = stmt(c, S_ENTRY, cause)) == NULL)
		return -1;
	if (bind_text(s, 1, id) != SQLITE_OK) {
		set_cause(cause, c->conn, "bind");
		return -1;
	}
	if ((rc = sqlite3_step(s)) == SQLITE_DONE) {
		sqlite3_reset(s);
		return 1;
	}
	if (rc != SQLITE_ROW) {
		set_cause(cause, c->conn, "quarantine entry");
		sqlite3_reset(s);
		return -1;
	}
	snprintf(e->id, sizeof e->id, "%s", col_text(s, E_ID));
	v = col_text(s, E_QUEUE_ID);
	snprintf(e->queue_id, sizeof e->queue_id, "%s", v != NULL ? v : "");
	v = col_text(s, E_TYPE);
	if (v == NULL || quar_type_parse(v, &e->type) == -1)
		e->type = QUAR_SPAM;
	e->time_ms = sqlite3_column_int64(s, E_TIME);
	e->direction = col_dup(s, E_DIRECTION);
	e->sender = col_dup(s, E_SENDER);
	if (e->sender == NULL)
		e->sender = xstrdup("");
	e->subject = col_dup(s, E_SUBJECT);
	e->file = col_dup(s, E_FILE);
	if ((e->scanned = sqlite3_column_type(s, E_SCORE) != SQLITE_NULL))
		e->score = sqlite3_column_double(s, E_SCORE);
	e->smtputf8 = sqlite3_column_int(s, E_SMTPUTF8) != 0;
	t = sqlite3_column_int(s, E_BODY_TYPE);
	e->body_type = t == SMTP_BODY_7BIT ? SMTP_BODY_7BIT :
	    t == SMTP_BODY_8BITMIME ? SMTP_BODY_8BITMIME : SMTP_BODY_NONE;
	e->size = (uint64_t)sqlite3_column_int64(s, E_SIZE);
	sqlite3_reset(s);
	return 0;
}

/* Step a "... RETURNING rcpt" statement, collecting the recipients. */
static int
collect_rcpts(struct qconn *c, sqlite3_stmt *s, struct quar_entry *e,
    char **cause)
{
	int	rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		e->rcpts = xreallocarray(e->rcpts, e->nrcpts + 1,
		    sizeof *e->rcpts);
		e->rcpts[e->nrcpts++] = xstrdup(col_text(s, 0) != NULL ?
		    col_text(s, 0) : "");
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		set_cause(cause, c->conn, "quarantine recipients");
		return -1;
	}
	return 0;
}

int
db_quar_claim(const char *id, const char *rcpt, struct quar_entry *e,
    char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	int		 rv;

	memset(e, 0, sizeof *e);
	if ((c = qconn(cause)) == NULL || begin(c, cause) == -1)
		return -1;
	if ((rv = load_entry(c, id, e, cause)) != 0)
		goto done;
	rv = -1;
	if ((s = stmt(c, S_CLAIM, cause)) == NULL)
		goto done;
	if (bind_text(s, 1, id) != SQLITE_OK ||
	    bind_text(s, 2, rcpt) != SQLITE_OK) {
		set_cause(cause, c->conn, "bind");
		goto done;
	}
	if (collect_rcpts(c, s, e, cause) == -1)
		goto done;
	rv = 0;
done:
	if (rv == -1 || commit(c, cause) == -1) {
		rollback(c);
		quar_entry_clear(e);
		return -1;
	}
	return rv;
}

/* Inside a transaction: remove the entry when no recipient is left. */
static int
remove_if_empty(struct qconn *c, const char *id, char **file, char **cause)
{
	sqlite3_stmt	*s;
	int64_t		 n;

	if ((s = stmt(c, S_COUNT, cause)) == NULL)
		return -1;
	if (bind_text(s, 1, id) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		set_cause(cause, c->conn, "count recipients");
		sqlite3_reset(s);
		return -1;
	}
	n = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (n > 0)
		return 0;
	return remove_entry(c, id, file, cause);
}

int
db_quar_settle(const char *id, char *const *done, size_t ndone,
    char *const *back, size_t nback, char **file, char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	size_t		 i;

	*file = NULL;
	if ((c = qconn(cause)) == NULL || begin(c, cause) == -1)
		return -1;
	for (i = 0; i < ndone + nback; i++) {
		if ((s = stmt(c, i < ndone ? S_DONE : S_BACK, cause)) == NULL)
			goto fail;
		if (bind_text(s, 1, id) != SQLITE_OK ||
		    bind_text(s, 2, i < ndone ? done[i] : back[i - ndone]) !=
		    SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
			set_cause(cause, c->conn, "settle release");
			sqlite3_reset(s);
			goto fail;
		}
		sqlite3_reset(s);
	}
	if (remove_if_empty(c, id, file, cause) == -1 ||
	    commit(c, cause) == -1)
		goto fail;
	return 0;
fail:
	rollback(c);
	free(*file);
	*file = NULL;
	return -1;
}

int
db_quar_delete(const char *id, const char *rcpt, struct quar_entry *e,
    char **file, char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	int		 rv;

	*file = NULL;
	memset(e, 0, sizeof *e);
	if ((c = qconn(cause)) == NULL || begin(c, cause) == -1)
		return -1;
	if ((rv = load_entry(c, id, e, cause)) != 0)
		goto done;
	rv = -1;
	if ((s = stmt(c, S_DELETE_RCPTS, cause)) == NULL)
		goto done;
	if (bind_text(s, 1, id) != SQLITE_OK ||
	    bind_text(s, 2, rcpt) != SQLITE_OK) {
		set_cause(cause, c->conn, "bind");
		goto done;
	}
	if (collect_rcpts(c, s, e, cause) == -1 ||
	    remove_if_empty(c, id, file, cause) == -1)
		goto done;
	rv = 0;
done:
	if (rv == -1 || commit(c, cause) == -1) {
		rollback(c);
		quar_entry_clear(e);
		free(*file);
		*file = NULL;
		return -1;
	}
	return rv;
}

int
db_quar_expired(enum quar_type t, int64_t before_ms, size_t max, char ***ids,
    size_t *n, char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	int		 rc;

	*ids = NULL;
	*n = 0;
	if ((c = qconn(cause)) == NULL || (s = stmt(c, S_EXPIRED, cause)) ==
	    NULL)
		return -1;
	if (bind_text(s, 1, quar_type_name(t)) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, before_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, (int64_t)max) != SQLITE_OK) {
		set_cause(cause, c->conn, "bind");
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*ids = xreallocarray(*ids, *n + 1, sizeof **ids);
		(*ids)[(*n)++] = xstrdup(col_text(s, 0) != NULL ?
		    col_text(s, 0) : "");
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		set_cause(cause, c->conn, "expired entries");
		return -1;
	}
	return 0;
}

/* --- reports ------------------------------------------------------------ */

json_t *
db_quar_report_users(int64_t since_ms, size_t max, char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	json_t		*a;
	int		 rc;

	if ((c = qconn(cause)) == NULL || (s = stmt(c, S_REPORT_USERS,
	    cause)) == NULL)
		return NULL;
	if (sqlite3_bind_int64(s, 1, since_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (int64_t)max) != SQLITE_OK) {
		set_cause(cause, c->conn, "bind");
		return NULL;
	}
	a = json_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (col_text(s, 0) != NULL)
			json_array_append_new(a, json_string(col_text(s, 0)));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		set_cause(cause, c->conn, "report users");
		return NULL;
	}
	return a;
}

json_t *
db_quar_report_items(const char *rcpt, int64_t since_ms, size_t max,
    char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	json_t		*a;
	int		 rc;

	if ((c = qconn(cause)) == NULL || (s = stmt(c, S_REPORT_ITEMS,
	    cause)) == NULL)
		return NULL;
	if (bind_text(s, 1, rcpt) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, since_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, (int64_t)max) != SQLITE_OK) {
		set_cause(cause, c->conn, "bind");
		return NULL;
	}
	a = json_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:s?, s:I, s:s?, s:s?, "
		    "s:f}", "id", col_text(s, 0), "time_ms",
		    (json_int_t)sqlite3_column_int64(s, 1), "sender",
		    col_text(s, 2), "subject", col_text(s, 3), "score",
		    sqlite3_column_double(s, 4)));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		set_cause(cause, c->conn, "report items");
		return NULL;
	}
	return a;
}

/* --- sender lists -------------------------------------------------------- */

static char *
lowered(const char *s)
{
	char	*p = xstrdup(s), *q;

	for (q = p; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return p;
}

static int
list_change(int which, const char *owner, bool block, const char *pattern,
    const char *comment, bool *changed, char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	char		*o = lowered(owner), *p = lowered(pattern);
	int		 bad = 0, rv = -1;

	*changed = false;
	if ((c = qconn(cause)) == NULL || (s = stmt(c, which, cause)) == NULL)
		goto out;
	bad |= bind_text(s, 1, o);
	bad |= sqlite3_bind_int(s, 2, block);
	bad |= bind_text(s, 3, p);
	if (which == S_LIST_ADD) {
		bad |= bind_text(s, 4, comment);
		bad |= sqlite3_bind_int64(s, 5, util_wall_ms());
	}
	if (bad != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		set_cause(cause, c->conn, "sender list");
		sqlite3_reset(s);
		goto out;
	}
	*changed = sqlite3_changes(c->conn) > 0;
	sqlite3_reset(s);
	rv = 0;
out:
	free(o);
	free(p);
	return rv;
}

int
db_quar_list_add(const char *owner, bool block, const char *pattern,
    const char *comment, bool *added, char **cause)
{
	return list_change(S_LIST_ADD, owner, block, pattern, comment, added,
	    cause);
}

int
db_quar_list_del(const char *owner, bool block, const char *pattern,
    bool *found, char **cause)
{
	return list_change(S_LIST_DEL, owner, block, pattern, NULL, found,
	    cause);
}

json_t *
db_quar_list_search(const char *owner, int kind, const char *text, int limit,
    char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s = NULL;
	json_t		*a;
	char		*o = NULL, *t = NULL;
	int		 rc, bad = 0;

	if ((c = qconn(cause)) == NULL)
		return NULL;
	/* One fixed statement: absent filters are bound as NULL. */
	if (sqlite3_prepare_v2(c->conn, "SELECT owner, block, pattern,"
	    " comment, added_ms FROM sender_list"
	    " WHERE (?1 IS NULL OR owner = ?1) AND (?2 < 0 OR block = ?2)"
	    " AND (?3 IS NULL OR pattern LIKE ?3 ESCAPE '\\'"
	    " OR owner LIKE ?3 ESCAPE '\\')"
	    " ORDER BY owner, block, pattern LIMIT ?4", -1, &s, NULL) !=
	    SQLITE_OK) {
		set_cause(cause, c->conn, "prepare");
		return NULL;
	}
	if (owner != NULL)
		o = lowered(owner);
	if (given(text))
		t = like_pattern(text);
	bad |= bind_text(s, 1, o);
	bad |= sqlite3_bind_int(s, 2, kind);
	bad |= bind_text(s, 3, t);
	bad |= sqlite3_bind_int(s, 4, limit <= 0 || limit > POLICY_LIST_MAX ?
	    POLICY_LIST_MAX : limit);
	free(o);
	free(t);
	if (bad != SQLITE_OK) {
		set_cause(cause, c->conn, "bind");
		sqlite3_finalize(s);
		return NULL;
	}
	a = json_array();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s?, s:s?, "
		    "s:I, s:s}", "owner", col_text(s, 0) != NULL &&
		    *col_text(s, 0) != '\0' ? col_text(s, 0) : "*",
		    "list", sqlite3_column_int(s, 1) ? "block" : "welcome",
		    "pattern", col_text(s, 2), "comment", col_text(s, 3),
		    "added_ms", (json_int_t)sqlite3_column_int64(s, 4),
		    "scope", col_text(s, 0) != NULL && *col_text(s, 0) !=
		    '\0' ? "user" : "global"));
	if (rc != SQLITE_DONE) {
		set_cause(cause, c->conn, "sender lists");
		sqlite3_finalize(s);
		json_decref(a);
		return NULL;
	}
	sqlite3_finalize(s);
	return json_pack("{s:o}", "items", a);
}

int
db_quar_lists_load(struct policy_list_entry **v, size_t *n, char **cause)
{
	struct qconn	*c;
	sqlite3_stmt	*s;
	int		 rc;

	*v = NULL;
	*n = 0;
	if ((c = qconn(cause)) == NULL || (s = stmt(c, S_LIST_ALL, cause)) ==
	    NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < POLICY_LIST_MAX) {
		*v = xreallocarray(*v, *n + 1, sizeof **v);
		(*v)[*n].owner = xstrdup(col_text(s, 0) != NULL ?
		    col_text(s, 0) : "");
		(*v)[*n].block = sqlite3_column_int(s, 1) != 0;
		(*v)[*n].pattern = xstrdup(col_text(s, 2) != NULL ?
		    col_text(s, 2) : "");
		(*n)++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		set_cause(cause, c->conn, "sender lists");
		return -1;
	}
	return 0;
}
