/*
 * The Bayes token store: its own sqlite file (WAL) holding per-token spam
 * and ham counts with a last-seen day, the message totals, and the
 * messages learned (so learning is idempotent and relearning moves a
 * message). Classification reads an in-memory copy of the token table
 * under a read lock and never touches sqlite.
 *
 * Learning changes memory at once (the next classification sees it) and
 * reaches the file in batches, one transaction each, within
 * DB_BAYES_FLUSH_MS: a transaction per message would rewrite a page per
 * token. A crash loses at most the last batch, whole; a clean stop writes
 * everything.
 *
 * One store per file, shared (reference counted) by every engine snapshot
 * that names the file. Nothing is opened until first use, which must not
 * be on the loop thread; a writer thread started then writes batches,
 * learns what autolearn queued and runs maintenance (access times,
 * expiry). Any thread except where noted.
 */
#ifndef MOAT_DB_BAYES_H
#define MOAT_DB_BAYES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bayes.h"

#define DB_BAYES_VERSION	1	/* schema */
#define DB_BAYES_BUSY_MS	5000
#define DB_BAYES_QUEUE_MAX	10000	/* autolearn messages waiting; more
					 * are dropped (and counted) */
#define DB_BAYES_BATCH_MAX	500	/* autolearn messages taken at once */
#define DB_BAYES_FLUSH_MS	1000	/* learning reaches the file after */
#define DB_BAYES_FLUSH_MSGS	2000	/* ...or after this many messages */
#define DB_BAYES_MAINT_S	3600	/* access times flushed this often */
#define DB_BAYES_RETRY_S	60	/* a failed open is retried after */

struct db_bayes;

enum db_bayes_op {
	DB_BAYES_HAM = 0,
	DB_BAYES_SPAM,
	DB_BAYES_FORGET,
};

enum db_bayes_result {
	DB_BAYES_LEARNED = 0,	/* new message */
	DB_BAYES_RELEARNED,	/* was learned as the other class: moved */
	DB_BAYES_ALREADY,	/* was learned as this class: nothing done */
	DB_BAYES_FORGOTTEN,
	DB_BAYES_UNKNOWN,	/* forget: it was never learned */
	DB_BAYES_SKIPPED,	/* autolearn: learned before, left alone */
};

/* One message to learn or forget: its key (bayes_msg_key) and tokens. */
struct db_bayes_item {
	uint64_t		 key;
	enum db_bayes_op	 op;
	bool			 autolearn;
	const uint64_t		*tokens;	/* borrowed */
	size_t			 ntokens;
	enum db_bayes_result	 result;	/* out */
};

struct db_bayes_stats {
	bool		loaded;
	uint32_t	nspam;		/* messages learned as spam */
	uint32_t	nham;
	size_t		tokens;		/* distinct tokens held */
	uint64_t	learned;	/* messages in the learned table */
	size_t		pending;	/* of them, not yet in the file */
	uint64_t	autolearned;	/* by this process */
	uint64_t	queue_dropped;	/* autolearn over DB_BAYES_QUEUE_MAX */
	uint64_t	expired;	/* tokens dropped by the last expiry */
	int64_t		expired_day;	/* its day (days since 1970), or 0 */
	size_t		memory;		/* bytes of the in-memory table */
};

/* The store of path (copied), opened lazily. Caller releases it. */
struct db_bayes	*db_bayes_get(const char *path);
struct db_bayes	*db_bayes_ref(struct db_bayes *);
/* The last reference learns what is queued, flushes and closes. */
void		 db_bayes_unref(struct db_bayes *);	/* accepts NULL */
const char	*db_bayes_path(const struct db_bayes *);
/* Expiry: tokens not seen for days (0: never expire) whose spam + ham
 * count is below keep_count are dropped, once a day. */
void		 db_bayes_set_expiry(struct db_bayes *, int days,
		    uint32_t keep_count);

/* Open the file and load the token table unless done. -1 with *cause;
 * after a failure, calls within DB_BAYES_RETRY_S fail at once. */
int		 db_bayes_load(struct db_bayes *, char **cause);
/* Counts of n tokens and the totals, from memory (loading first if
 * needed); marks the tokens seen today. -1 when the store cannot load. */
int		 db_bayes_lookup(struct db_bayes *, const uint64_t *tokens,
		    size_t n, struct bayes_count *out, uint32_t *nspam,
		    uint32_t *nham);
/* Learn or forget n messages; each item's result is set (counting every
 * earlier call, written or not). 0, or -1 with *cause when the store
 * cannot be read (items before the failing one were learned). */
int		 db_bayes_learn(struct db_bayes *, struct db_bayes_item *,
		    size_t n, char **cause);
/* Queue one autolearn for the writer thread without waiting; takes
 * tokens (freed with free()). Never opens the store. false when dropped
 * (not loaded yet, queue full, store broken). */
bool		 db_bayes_learn_async(struct db_bayes *, uint64_t key,
		    enum db_bayes_op, uint64_t *tokens, size_t n);
/* Wait until queued autolearn is learned, then write everything learned
 * to the file (tests, tools). */
void		 db_bayes_sync(struct db_bayes *);
/* Write pending learning and access times, and expire (when due, or now
 * when force). */
int		 db_bayes_maintain(struct db_bayes *, bool force,
		    size_t *expired, char **cause);
int		 db_bayes_stats(struct db_bayes *, struct db_bayes_stats *,
		    char **cause);
/* Days since 1970 (UTC), as the store counts them. */
uint32_t	 db_bayes_today(const struct db_bayes *);
/* Tests: pretend today is day (0: the real clock). */
void		 db_bayes_set_today(struct db_bayes *, uint32_t day);

#endif
