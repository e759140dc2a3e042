/*
 * The quarantine index and the sender lists in the store (tables of
 * schema migration 3 in db.c). Every call is synchronous on the calling
 * thread's own connection (synchronous=FULL: a committed row survives a
 * crash), opened on first use: never call from the loop thread.
 */
#ifndef MOAT_DB_QUAR_H
#define MOAT_DB_QUAR_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "policy.h"
#include "quar.h"

#define DB_QUAR_PAGE_MAX	1000

/* Remember the store's path (after db_open). Loop thread, at start. */
int	 db_quar_open(const char *path, char **cause);
/* Close every connection (pools stopped first). */
void	 db_quar_close(void);

/* A crash while releasing: those recipients are held again. */
int	 db_quar_reset_releasing(int *n, char **cause);

int	 db_quar_insert(const struct quar_meta *, const char *id,
	    const char *file, uint64_t size, char **cause);
/* Remove the entry and its recipients; *file (caller frees) is the file
 * to unlink, NULL when there was no such entry. */
int	 db_quar_remove(const char *id, char **file, char **cause);

struct quar_query {
	const char	*type;		/* exact */
	const char	*rcpt;		/* substring of a held recipient */
	const char	*sender;	/* substring */
	const char	*text;		/* subject, sender, rcpt, id ... */
	int64_t		 from_ms;	/* 0: no bound */
	int64_t		 to_ms;
	const char	*cursor;
	int		 limit;
};

/* {"items":[...], "next":cursor|null}, newest first. */
json_t	*db_quar_search(const struct quar_query *, char **cause);
/* The entry with its recipients, or JSON null. */
json_t	*db_quar_get(const char *id, char **cause);

/*
 * Claim recipients of id for release: held → releasing, in one UPDATE, so
 * that of two releases at once only one gets each recipient. rcpt NULL:
 * every held one. e gets the entry and the claimed recipients (nrcpts 0:
 * nothing held). Returns 0, 1 when there is no such entry, -1 on error.
 */
int	 db_quar_claim(const char *id, const char *rcpt, struct quar_entry *e,
	    char **cause);
/* After a release: rows of delivered recipients go, refused ones are held
 * again. *file (caller frees) is set when the entry became empty and was
 * removed: unlink it. */
int	 db_quar_settle(const char *id, char *const *done, size_t ndone,
	    char *const *back, size_t nback, char **file, char **cause);
/* Delete held recipients (rcpt NULL: all). Like claim for the answer;
 * *file as settle. */
int	 db_quar_delete(const char *id, const char *rcpt,
	    struct quar_entry *e, char **file, char **cause);
/* Up to max ids of entries of type older than before_ms. */
int	 db_quar_expired(enum quar_type, int64_t before_ms, size_t max,
	    char ***ids, size_t *n, char **cause);

/* Recipients with spam held since since_ms: ["a@x", ...]. */
json_t	*db_quar_report_users(int64_t since_ms, size_t max, char **cause);
/* That recipient's held spam since since_ms, newest first:
 * [{"id","time_ms","sender","subject","score"}...]. */
json_t	*db_quar_report_items(const char *rcpt, int64_t since_ms,
	    size_t max, char **cause);

/* Sender lists. owner "" is the global list. add: *added false when the
 * entry was there already; del: *found. */
int	 db_quar_list_add(const char *owner, bool block, const char *pattern,
	    const char *comment, bool *added, char **cause);
int	 db_quar_list_del(const char *owner, bool block, const char *pattern,
	    bool *found, char **cause);
/* {"items":[{"owner","list","pattern","comment","added_ms"}...]};
 * owner NULL any, kind -1 any, 0 welcome, 1 block. */
json_t	*db_quar_list_search(const char *owner, int kind, const char *text,
	    int limit, char **cause);
/* Every entry, for the snapshot policy_eval reads. */
int	 db_quar_lists_load(struct policy_list_entry **v, size_t *n,
	    char **cause);

#endif
