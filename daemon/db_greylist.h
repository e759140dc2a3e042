/*
 * The greylisting store: the triplet table in its own sqlite file
 * (filters.greylist.path, default greylist.db beside the main store),
 * with its own connection. db_greylist_open loads the table (start-up,
 * before the loop runs) and starts a writer thread; the loop thread then
 * only queues changes, which the writer commits in batches. Nothing here
 * blocks the loop: when the queue is full, changes are dropped (the
 * in-memory table stays right; only a restart would forget them).
 */
#ifndef MOAT_DB_GREYLIST_H
#define MOAT_DB_GREYLIST_H

#include <stdint.h>

#define DB_GREYLIST_QUEUE_MAX	100000	/* changes waiting for the writer */

typedef void	(*db_greylist_row_fn)(const char *key, int64_t first_ms,
		    int64_t pass_ms, unsigned count, void *arg);

/* Open (creating) the store, call fn for each row that has not expired
 * (first seen after first_after for unpassed, passed after pass_after),
 * at most max rows, then start the writer. 0, or -1 with *cause. */
int	db_greylist_open(const char *path, int64_t first_after,
	    int64_t pass_after, unsigned max, db_greylist_row_fn fn, void *arg,
	    char **cause);
/* Loop thread: queue an insert-or-update, or the deletion of expired
 * rows. */
void	db_greylist_put(const char *key, int64_t first_ms, int64_t pass_ms,
	    unsigned count);
void	db_greylist_expire(int64_t first_before, int64_t pass_before);
/* Commit what is queued and stop the writer. */
void	db_greylist_close(void);

#endif
