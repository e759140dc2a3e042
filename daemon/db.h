/*
 * The store (sqlite, WAL): schema and migrations, tracking records, hourly
 * statistics. Only db_ talks to sqlite.
 *
 * Writes go through one writer thread that commits in batches: any thread
 * may call db_track_submit, which never blocks on disk. Reads use a
 * connection per calling thread (db_reader) and must not run on the loop
 * thread: control handlers run them in a pool.
 */
#ifndef MOAT_DB_H
#define MOAT_DB_H

#include <stdint.h>

#include <jansson.h>

#include "track.h"

#define DB_SCHEMA_VERSION	4
#define DB_PAGE_MAX		1000	/* most rows one search returns */
#define DB_PAGE_DEFAULT		50	/* rows when the query says limit 0 */
#define DB_BUSY_TIMEOUT_MS	5000
#define DB_BATCH_WAIT_MS	50	/* a batch gathers this long at most */
#define DB_BATCH_MAX		2000	/* ...or until this many are queued */
#define DB_QUEUE_MAX		100000	/* records waiting for the writer;
					 * past it new records are dropped */
#define DB_CURSOR_MAX		64	/* longest cursor string accepted */

struct db;

/* Start-up, loop thread, before serving: create or migrate the schema, start
 * the writer thread. A database whose schema is newer than this code is an
 * error. */
int		 db_open(const char *path, char **cause);
/* Flush what the writer holds, stop it, close every connection. Readers of
 * other threads must be idle (pools destroyed first); their struct db is
 * freed here. db_open may be called again afterwards. */
void		 db_close(void);

/* Any thread. Takes ownership of rec. Also bumps the hourly counters. Without
 * an open store, or with DB_QUEUE_MAX records waiting, rec is dropped. */
void		 db_track_submit(struct track_rec *rec);
/* Block until everything submitted so far is committed (tests, shutdown). */
void		 db_flush(void);

/* The calling thread's read connection, opened on first use; closed when the
 * thread exits or at db_close. Borrowed: do not free. */
struct db	*db_reader(char **cause);

/* Strings: NULL or "" match any record. Substrings are case-insensitive
 * (ASCII); % and _ in them are literal. */
struct track_query {
	const char	*sender;	/* substring */
	const char	*rcpt;		/* substring of any recipient */
	const char	*text;		/* in subject, sender, rcpt, message-id,
					 * queue id, client addr or name */
	const char	*outcome;	/* exact outcome name */
	const char	*direction;	/* exact */
	int64_t		 from_ms;	/* time_ms >= from_ms; 0: no bound */
	int64_t		 to_ms;		/* time_ms < to_ms; 0: no bound */
	const char	*cursor;	/* from a previous page's "next" */
	int		 limit;		/* 1..DB_PAGE_MAX, clamped; 0 default */
};

/* {"items":[rec...], "next":cursor|null}, newest first. NULL on error
 * (unknown outcome, malformed cursor, sqlite error). */
json_t		*db_track_search(struct db *, const struct track_query *,
		    char **cause);
/* The record as track_rec_to_json shapes it, or JSON null when unknown. */
json_t		*db_track_get(struct db *, const char *queue_id,
		    char **cause);
/* Hourly counters with hour in [from_ms, to_ms) (to_ms 0: no bound), oldest
 * first: {"hours":[{"hour":ms, "direction":..., "outcome":..., "messages":n,
 * "bytes":n}...], "totals":{outcome:n}}; totals name every outcome. */
json_t		*db_stats_get(struct db *, int64_t from_ms, int64_t to_ms,
		    char **cause);
/* Any thread: count one verdict ("greylisted"...; a static string) in
 * the hour of time_ms. Messages count theirs through track_rec.verdict. */
void		 db_verdict_count(const char *verdict, int64_t time_ms);
/* Any thread: ask the writer to delete tracking older than before_ms. The
 * hourly counters are kept. */
void		 db_track_purge_submit(int64_t before_ms);

#endif
