/*
 * The quarantine: messages held instead of delivered, each a file under
 * the quarantine folder (written durably before moatd answers 250) with an
 * index row per message and per recipient in the store (db_quar).
 * Operations: store and drop (worker threads), release, delete, sender
 * lists, retention purge, spam reports (loop thread, disk and store work
 * on the "quar" pool, mail through the next hop with relay_send).
 *
 * Index states per recipient: held → releasing (claimed by one release,
 * atomically) → row deleted once the next hop took it; back to held when
 * the next hop refused. An entry without recipients is removed with its
 * file. Every change is a tracking record (outcome released/deleted).
 */
#ifndef MOAT_QUAR_H
#define MOAT_QUAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cfg.h"
#include "policy.h"
#include "smtp_parse.h"

struct body;
struct event_base;
struct relay_rcpt;

#define QUAR_ID_MAX		48
#define QUAR_PREVIEW_DEFAULT	(16 * 1024)	/* text preview bytes */
#define QUAR_PREVIEW_MAX	(256 * 1024)
#define QUAR_HEADERS_MAX	(32 * 1024)	/* header block shown */
#define QUAR_BULK_MAX		1000		/* ids in one request */
#define QUAR_PURGE_EVERY_S	3600
#define QUAR_PURGE_BATCH	500		/* entries per store round */
#define QUAR_REPORT_ITEMS_MAX	500		/* entries in one digest */
#define QUAR_REPORT_USERS_MAX	10000		/* digests in one run */
#define QUAR_POOL_THREADS	2

/* The quarantine = { } section. */
struct quar_cfg {
	char		*dir;		/* default storage.quarantine_dir */
	int		 days[QUAR_TYPE_MAX];	/* retention; 0 keeps */
	bool		 report;	/* daily spam digests */
	int		 report_min;	/* minutes after local midnight */
	char		*report_from;
	int		 report_hours;	/* digest covers this far back */
	int		 preview_max;
};

int	 quar_cfg_load(const struct cfg *, struct quar_cfg *, char **cause);
void	 quar_cfg_free(struct quar_cfg *);
/* moatd -t and reload: the section is valid. 0, or -1 with *cause. */
int	 quar_check(const struct cfg *, char **cause);

/* What the index keeps about a stored message. */
struct quar_meta {
	const char		*queue_id;
	const char		*node;
	enum quar_type		 type;
	int64_t			 time_ms;
	enum direction		 direction;
	const char		*sender;	/* "" for <> */
	const char *const	*rcpts;
	size_t			 nrcpts;
	const char		*client_addr;
	const char		*subject;	/* decoded, may be NULL */
	const char		*from_hdr;
	const char		*message_id;
	bool			 scanned;
	double			 score;
	const char		*virus;
	const char		*rule;		/* the deciding rule */
	const json_t		*findings;	/* borrowed, may be NULL */
	bool			 smtputf8;
	enum smtp_body_type	 body_type;
};

/* An index entry read back (release, tracking). */
struct quar_entry {
	char			 id[QUAR_ID_MAX];
	char			 queue_id[24];
	enum quar_type		 type;
	int64_t			 time_ms;
	char			*direction;
	char			*sender;
	char			*subject;
	char			*file;		/* relative to the folder */
	bool			 scanned;
	double			 score;
	bool			 smtputf8;
	enum smtp_body_type	 body_type;
	uint64_t		 size;
	char			**rcpts;	/* the ones acted on */
	size_t			 nrcpts;
};

void	 quar_entry_clear(struct quar_entry *);

/*
 * Start: remember the store, put recipients a crash left "releasing" back
 * to held, load the sender lists, start the pool and the purge and report
 * timers. Loop thread, after db_open. quar_stop before db_close.
 */
int	 quar_start(struct event_base *, const struct cfg *, char **cause);
void	 quar_stop(void);

/*
 * Store a message (prepend, then data) durably: temp file, fsync, rename,
 * folder fsync, then the index row committed with synchronous=FULL. Any
 * thread but the loop (a worker). id gets "<queue id>-<8 hex>". 0, or -1
 * with *cause (nothing left behind).
 */
int	 quar_store(const struct cfg *, const struct quar_meta *,
	    const char *prepend, const char *data, size_t len, char *id,
	    size_t idlen, char **cause);
/* Remove an entry and its file (a message the client will send again).
 * Not the loop thread. */
int	 quar_drop(const struct cfg *, const char *id, char **cause);
/* Loop thread: quar_drop every entry policy_prepare stored for res, on the
 * pool (ids copied). */
void	 quar_drop_async(const struct cfg *, const struct policy_result *);

/*
 * Send a message we made (release, report, notification, BCC copy) to
 * rcpts through the next hop. Loop thread; body is taken; done (may be
 * NULL) runs later on the loop with the per-recipient answers.
 */
typedef void	(*quar_sent_fn)(const struct relay_rcpt *, size_t n,
		    void *arg);
void	 quar_send(const struct cfg *, const char *from,
	    char *const *rcpts, size_t n, struct body *, bool smtputf8,
	    enum smtp_body_type, quar_sent_fn, void *arg);

/* --- operations for the control commands (loop thread) --------------- */

enum quar_op {
	QUAR_OP_RELEASE = 0,
	QUAR_OP_DELETE,
	QUAR_OP_WELCOMELIST,	/* add the sender to the list, release */
	QUAR_OP_BLOCKLIST,	/* add the sender to the list, delete */
};

struct quar_req {
	enum quar_op	 op;
	char		**ids;		/* owned */
	size_t		 nids;
	char		*rcpt;		/* owned, NULL: every recipient */
	bool		 global;	/* lists: global, else per user */
	char		*actor;		/* owned: who asked (tracking) */
};

/* done(result, code, message, arg): result (stolen) or an error. */
typedef void	(*quar_done_fn)(json_t *result, const char *code,
		    const char *message, void *arg);

/* Run an operation on every id; the result is {"results":[{"id","ok",
 * "rcpts"|"error"}...], "done":n, "failed":n}. req is taken. */
void	 quar_run(struct quar_req *, quar_done_fn, void *arg);
/* One entry: the index row, findings, sanitised headers and preview. */
void	 quar_show(const char *id, quar_done_fn, void *arg);
/* Retention purge now: {"purged":{"spam":n,...}}. */
void	 quar_purge(quar_done_fn, void *arg);
/* Spam digests now, for one recipient or (NULL) every recipient with
 * spam held in the last report_hours: {"sent":n,"failed":n}. */
void	 quar_report(const char *rcpt, quar_done_fn, void *arg);
/* Lists changed: reload the snapshot policy_eval reads, on the pool
 * (quar_lists_reload, loop thread) or now (quar_lists_load, not the loop
 * thread: store read). */
void	 quar_lists_reload(void);
int	 quar_lists_load(char **cause);
/* The pool for store reads of the control commands. */
struct pool *quar_pool(void);

/* Exposed for tests: the digest mail for one recipient (raw message,
 * CRLF); items as db_quar_report_items gives them. Caller frees. */
char	*quar_report_render(const struct quar_cfg *, const char *host,
	    const char *rcpt, const json_t *items, size_t *len);
/* Sanitised headers and text preview of a stored message. */
json_t	*quar_preview(const char *raw, size_t len, size_t preview_max);

#endif
