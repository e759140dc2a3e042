/*
 * View models: what the views draw, fed by network callbacks. No curses
 * and no sockets here, so every model is unit-tested on its own.
 *   model_list   a list paged through the protocol (cursor pages, a bounded
 *                window of them, selection, seeking to the end)
 *   model_tail   the live tracking tail (a ring, pause, filter)
 *   model_pager  lines of a detail or help screen, scrolled by rows
 *   model_marks  a set of marked ids
 *   model_rate   messages per minute from events
 *   model_agg    counts per key (domain, user) from streamed records
 *   model_line   a one-line editor for prompts and filters
 *   model_cols   column widths for a table at a terminal width
 * plus accessors for tracking records and hourly statistics.
 * Console thread. Items are JSON objects the models hold references to.
 */
#ifndef MOAT_MODEL_H
#define MOAT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#include <jansson.h>

/* --- paged lists -------------------------------------------------------- */

#define MODEL_LIST_PAGE		100	/* items asked for per request */
#define MODEL_LIST_PAGES	8	/* pages held at once */
#define MODEL_LIST_CURSORS_MAX	100000	/* page cursors remembered */

struct model_list {
	const char	*idkey;		/* item key naming it ("id") */
	json_t		*items;		/* owned array: the held window */
	size_t		 base;		/* absolute index of items[0] */
	size_t		 first_page;	/* page of items[0] */
	size_t		 page_len[MODEL_LIST_PAGES + 1]; /* +1 before a drop */
	size_t		 npages;
	char		**cursors;	/* owned: cursors[p] fetches page p
					 * (cursors[0] is NULL) */
	size_t		 ncursors;
	bool		 end;		/* the last held page is the last */
	bool		 loaded;	/* a first answer came */
	size_t		 sel;		/* absolute index */
	size_t		 top;		/* absolute index of the first row */
	int64_t		 total;		/* from the answer; -1 unknown */
	bool		 seeking;	/* End: loading pages to the end */
	char		*keep_id;	/* owned: selection to restore */
	bool		 refresh_pending; /* reload the window's first page */
	/* One request at a time: */
	bool		 loading;
	size_t		 loading_page;
	int64_t		 req;		/* the request's id (caller's) */
	char		*error;		/* owned: last failure, or NULL */
};

void	 model_list_init(struct model_list *, const char *idkey);
void	 model_list_free(struct model_list *);
/* Forget everything (new filter): page 0 is wanted next. */
void	 model_list_reset(struct model_list *);
/* Reload the held window from its first page, keeping the selection by
 * id where it is still there (others changed the list). */
void	 model_list_refresh(struct model_list *);
/* The page to ask for now, if any: *page and *cursor (borrowed; NULL for
 * page 0). Marks it loading; the caller stores the request id in ->req. */
bool	 model_list_want(struct model_list *, size_t *page,
	    const char **cursor);
/* An answer for page: items (borrowed array), next cursor (NULL: last
 * page), total (-1 unknown). Stale pages are ignored. */
void	 model_list_page(struct model_list *, size_t page, json_t *items,
	    const char *next, int64_t total);
void	 model_list_fail(struct model_list *, const char *message);
/* Items known so far (absolute); more may follow unless ->end. */
size_t	 model_list_known(const struct model_list *);
/* The item at absolute index i, if held (borrowed). */
json_t	*model_list_get(const struct model_list *, size_t i);
json_t	*model_list_selected(const struct model_list *);
/* Move the selection; rows is the visible height for paging keys. */
void	 model_list_move(struct model_list *, long delta);
void	 model_list_home(struct model_list *);
void	 model_list_end(struct model_list *);
void	 model_list_seek_cancel(struct model_list *);
/* Keep sel within [top, top + rows). */
void	 model_list_scroll(struct model_list *, size_t rows);
/* Remove the item with this id from the window (it was deleted). */
void	 model_list_remove(struct model_list *, const char *id);

/* --- the live tail ------------------------------------------------------ */

#define MODEL_TAIL_MAX		2000	/* records kept */
#define MODEL_FILTER_MAX	256	/* bytes of a filter */

struct model_tail {
	json_t		*recs;		/* owned array, oldest first */
	uint64_t	 first_seq;	/* sequence number of recs[0] */
	uint64_t	 received;	/* records ever added */
	bool		 paused;
	uint64_t	 pause_end;	/* seqs below it are shown when paused */
	char		 filter[MODEL_FILTER_MAX];
	/* The visible records (seqs), rebuilt by model_tail_view: */
	uint64_t	*vis;
	size_t		 nvis;
	size_t		 cap;
	uint64_t	 sel;		/* seq of the selected record */
	bool		 follow;	/* selection stays on the newest */
	size_t		 top;		/* index into vis */
	size_t		 rows;		/* visible height, last drawn */
};

void	 model_tail_init(struct model_tail *);
void	 model_tail_free(struct model_tail *);
/* A record that just finished (borrowed, kept by reference). */
void	 model_tail_add(struct model_tail *, json_t *rec);
/* Older records from a search (newest first, borrowed), put before what
 * the tail holds; records already there (same queue_id) are skipped. */
void	 model_tail_prepend(struct model_tail *, json_t *items);
void	 model_tail_pause(struct model_tail *, bool);
/* Records that arrived while paused and are not shown. */
uint64_t model_tail_hidden(const struct model_tail *);
void	 model_tail_set_filter(struct model_tail *, const char *);
/* Rebuild vis (the filter applied, the pause respected) and clamp the
 * selection; rows is the visible height. */
void	 model_tail_view(struct model_tail *, size_t rows);
void	 model_tail_move(struct model_tail *, long delta);
void	 model_tail_home(struct model_tail *);
void	 model_tail_end(struct model_tail *);
/* The selected record (borrowed) or NULL; index into vis in *idx. */
json_t	*model_tail_selected(const struct model_tail *, size_t *idx);
json_t	*model_tail_rec(const struct model_tail *, uint64_t seq);

/* --- detail pager ------------------------------------------------------- */

#define MODEL_PAGER_LINES_MAX	20000

struct model_pager {
	char		**lines;	/* owned, cleaned UTF-8 */
	int		 *attrs;	/* a style per line (view-defined) */
	int		 *indents;	/* wrapped rows start this far in */

	size_t		  n;
	size_t		  cap;
	size_t		  top;		/* first screen row shown */
	char		 *title;	/* owned */
};

void	 model_pager_init(struct model_pager *);
void	 model_pager_clear(struct model_pager *);
void	 model_pager_set_title(struct model_pager *, const char *);
/* Add a line (cleaned here; it may be long: drawing wraps it). */
void	 model_pager_add(struct model_pager *, int attr, const char *s);
void	 model_pager_addf(struct model_pager *, int attr, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* "key: value" with the key padded to kw columns. */
void	 model_pager_kv(struct model_pager *, int attr, int kw,
	    const char *key, const char *value);
/* Columns for row (0: the first) of line at width: rows after the first
 * start at the line's indent (never narrower than 8). */
size_t	 model_pager_row_width(const struct model_pager *, size_t line,
	    size_t row, int width);
/* Bytes of clean text s for one row of width columns: words are kept
 * whole when a space is near the end of the row. */
size_t	 model_pager_break(const char *s, int width);
/* Screen rows the lines take at width (wrapping). */


size_t	 model_pager_rows(const struct model_pager *, int width);
void	 model_pager_scroll(struct model_pager *, long delta, size_t rows,
	    int width);

/* --- marks -------------------------------------------------------------- */

#define MODEL_MARKS_MAX		10000

struct model_marks {
	json_t	*set;	/* owned object: id -> true */
};

void	 model_marks_init(struct model_marks *);
void	 model_marks_free(struct model_marks *);
bool	 model_marks_has(const struct model_marks *, const char *id);
/* Toggle; false when the set is full. */
bool	 model_marks_toggle(struct model_marks *, const char *id);
void	 model_marks_clear(struct model_marks *);
size_t	 model_marks_count(const struct model_marks *);
/* The ids (a new array, sorted). */
json_t	*model_marks_ids(const struct model_marks *);

/* --- messages per minute ------------------------------------------------ */

#define MODEL_RATE_SECONDS	60

struct model_rate {
	int64_t		 sec[MODEL_RATE_SECONDS];	/* which second */
	uint32_t	 in[MODEL_RATE_SECONDS];
	uint32_t	 out[MODEL_RATE_SECONDS];
};

void	 model_rate_init(struct model_rate *);
void	 model_rate_add(struct model_rate *, int64_t now_s, bool outbound);
/* Messages in the last MODEL_RATE_SECONDS. */
void	 model_rate_sum(const struct model_rate *, int64_t now_s,
	    uint32_t *in, uint32_t *out);

/* --- counts per key ----------------------------------------------------- */

#define MODEL_AGG_KEYS_MAX	50000	/* then everything else is "(other)" */

enum model_agg_col {
	MODEL_AGG_TOTAL = 0,
	MODEL_AGG_RELAYED,
	MODEL_AGG_QUARANTINED,
	MODEL_AGG_BLOCKED,	/* blocked and rejected */
	MODEL_AGG_TEMPFAILED,
	MODEL_AGG_SPAM,		/* score at or over the threshold */
	MODEL_AGG_NCOLS
};

struct model_agg_row {
	char		*key;	/* owned */
	int64_t		 n[MODEL_AGG_NCOLS];
	int64_t		 bytes;
};

struct model_agg {
	struct model_agg_row	**slots;	/* open addressing */
	size_t			  nslots;
	size_t			  nkeys;
	struct model_agg_row	**sorted;	/* by total, after _sort */
	size_t			  nsorted;
	bool			  dirty;
};

void	 model_agg_init(struct model_agg *);
void	 model_agg_free(struct model_agg *);
void	 model_agg_clear(struct model_agg *);
/* Count one record (outcome name, size, spam) for key. */
void	 model_agg_add(struct model_agg *, const char *key,
	    const char *outcome, int64_t bytes, bool spam);
/* Rows by total, largest first (borrowed until the next change). */
size_t	 model_agg_sort(struct model_agg *, struct model_agg_row ***rows);

/* --- one-line editor ---------------------------------------------------- */

#define MODEL_LINE_MAX		200	/* characters */

struct model_line {
	wchar_t	 buf[MODEL_LINE_MAX + 1];
	size_t	 len;
	size_t	 cur;
};

enum model_line_key {
	MODEL_LINE_LEFT = 1,
	MODEL_LINE_RIGHT,
	MODEL_LINE_HOME,
	MODEL_LINE_END,
	MODEL_LINE_BACKSPACE,
	MODEL_LINE_DELETE,
	MODEL_LINE_KILL,	/* ^U: all before the cursor */
	MODEL_LINE_WORD,	/* ^W: the word before the cursor */
};

void	 model_line_set(struct model_line *, const char *utf8);
/* Insert a printable character; false when full or not printable. */
bool	 model_line_insert(struct model_line *, wchar_t);
/* Apply an editing key; true when the text changed. */
bool	 model_line_edit(struct model_line *, enum model_line_key);
/* The text as UTF-8 into out (always terminated). */
void	 model_line_utf8(const struct model_line *, char *out, size_t);
/* Columns before the cursor (for placing it). */
int	 model_line_cursor_col(const struct model_line *);

/* --- table columns ------------------------------------------------------ */

struct model_col {
	const char	*title;
	int		 min;		/* columns at least */
	int		 max;		/* at most (0: no limit) */
	int		 weight;	/* share of spare columns */
	int		 drop;		/* 0: always; else dropped first when
					 * narrow, highest number first */
	bool		 right;		/* align right */
	int		 width;		/* result; 0: dropped */
};

/* Widths for a table width columns wide, one space between columns.
 * Returns the columns used. */
int	 model_cols_layout(struct model_col *, size_t n, int width);

/* --- records and statistics -------------------------------------------- */

/* A string member or "" (borrowed). */
const char *model_str(const json_t *o, const char *key);
/* The first of several keys that is a string (borrowed), or "". */
const char *model_str_any(const json_t *o, const char *const *keys);
int64_t	 model_int(const json_t *o, const char *key, int64_t dflt);
/* A number member (integer or real); false when absent or null. */
bool	 model_num(const json_t *o, const char *key, double *v);
/* Recipients as "a@x, b@y" (from "rcpts": strings or objects with
 * "address"; or "rcpt"/"to"). */
void	 model_rcpts(const json_t *rec, char *out, size_t len);
/* The domain of an address ("" when none), lowercased. */
void	 model_domain(const char *addr, char *out, size_t len);
/* Does rec match the filter text (case-insensitive substring of sender,
 * recipients, subject, outcome, client, queue id)? "" matches all. */
bool	 model_rec_matches(const json_t *rec, const char *filter);

/* Hourly counts from stats.get "hours" rows: n buckets of an hour from
 * from_ms; rows where field equals value (field NULL: all rows). */
void	 model_hours_series(const json_t *stats, int64_t from_ms, size_t n,
	    const char *field, const char *value, int64_t *out);
/* The hour (ms since the epoch) that holds ms. */
int64_t	 model_hour_floor(int64_t ms);

#endif
