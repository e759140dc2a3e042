/*
 * The console's screen: layout (tab bar, connection banner, view body,
 * message line, key bar), the poll loop over the terminal and the
 * connection, one redraw per loop turn, prompts, confirmations, the
 * overlay pager, roles and which commands this moatd has.
 * Console thread; views are a table of struct ui_view.
 */
#ifndef MOAT_UI_H
#define MOAT_UI_H

#define NCURSES_WIDECHAR	1

#include <stdbool.h>
#include <stdint.h>

#include <curses.h>
#include <jansson.h>

#include "conn.h"
#include "model.h"
#include "proto.h"

#define UI_MIN_COLS		40
#define UI_MIN_LINES		10
#define UI_STATUS_EVERY_MS	2000	/* status refresh (header, roles) */
#define UI_MESSAGE_MS		6000	/* how long a notice stays */
#define UI_SPINNER_AFTER_MS	250	/* slower answers show a spinner */
#define UI_FRAME_MS		100	/* spinner frame */

enum ui_style {
	UI_S_NORMAL = 0,
	UI_S_BAR,	/* tab bar and key bar */
	UI_S_TAB,	/* the current view's tab */
	UI_S_TITLE,	/* a view's title line */
	UI_S_HEAD,	/* table column titles */
	UI_S_SEL,	/* the selected row */
	UI_S_MARK,	/* marked rows */
	UI_S_DIM,	/* greyed text: off, not available, a note */
	UI_S_KEYOFF,	/* a greyed key in the key bar */
	UI_S_GOOD,
	UI_S_WARN,
	UI_S_BAD,
	UI_S_QUAR,
	UI_S_BANNER,	/* connection lost */
	UI_S_KEY,	/* a key's name in the key bar */
	UI_S_ERROR,
	UI_S_SPARK,
	UI_S_BOLD,
	UI_S_COUNT
};

/* Keys: characters as themselves, curses function keys with UI_KEY_FN. */
#define UI_KEY_FN		0x40000000
#define UI_FN(k)		(UI_KEY_FN | (k))
#define UI_CTRL(c)		((c) & 0x1f)
#define UI_ESC			27

/* A key of a view, for the key bar and the help screen. */
struct ui_keyhelp {
	const char	*key;	/* NULL ends a table */
	const char	*what;
	const char	*cmd;	/* protocol command it runs (roles), or NULL */
	bool		 bar;	/* shown in the key bar */
};

struct ui_view {
	const char		*name;
	const char		*short_name;	/* narrow tab bars */
	const struct ui_keyhelp	*keys;
	void	(*init)(void);
	void	(*free)(void);
	/* Became the current view. */
	void	(*enter)(void);
	/* The connection came (back): re-ask for what the view follows. */
	void	(*connected)(void);
	/* The connection was lost. */
	void	(*disconnected)(void);
	void	(*draw)(WINDOW *, int y, int x, int h, int w);
	/* A key; true when used. */
	bool	(*key)(int);
	/* q/Esc: true when it closed something of its own. */
	bool	(*back)(void);
	/* Each loop turn while current: timers and page loads. */
	void	(*tick)(uint64_t now_ms);
	/* Every event, whether current or not. */
	void	(*event)(const char *name, json_t *data);
};

extern const struct ui_view	ui_view_dashboard;
extern const struct ui_view	ui_view_quarantine;
extern const struct ui_view	ui_view_tracking;
extern const struct ui_view	ui_view_rules;
extern const struct ui_view	ui_view_stats;
extern const struct ui_view	ui_view_cluster;

/* The hooks to create the conn with (conn_new_path, conn_new_fd). */
const struct conn_hooks *ui_conn_hooks(void);
/* Run the console until the user quits; 0, or 1 when the handed-over
 * connection ended. conn is borrowed. */
int		 ui_run(struct conn *, bool colour);

/* --- for the views ------------------------------------------------------ */

/* A request (see conn_call); on -1 the reason goes to the message line. */
int64_t		 ui_call(const char *cmd, json_t *args, aclient_answer_cb,
		    void *arg);
void		 ui_cancel(int64_t id);
bool		 ui_connected(void);
unsigned	 ui_generation(void);

/* Which command groups this moatd has ("quarantine" for quarantine.*). */
enum ui_have {
	UI_HAVE_UNKNOWN = 0,
	UI_HAVE_YES,
	UI_HAVE_NO,
};
enum ui_have	 ui_have(const char *noun);
/* An answer for cmd came: record what it says about the noun. Returns
 * true when the daemon does not know the command. */
bool		 ui_answered(const char *cmd, const char *code);
/* "not available on this moatd (needs quarantine.*)" */
void		 ui_unavailable_text(const char *noun, char *, size_t);

/* May this connection's role run cmd? If not, why (for people). */
bool		 ui_may(const char *cmd, char *why, size_t);
enum proto_role	 ui_role(void);
/* The last status answer (borrowed; NULL before the first). */
json_t		*ui_status(void);
uint64_t	 ui_status_mono(void);	/* when it came */

void		 ui_message(enum ui_style, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 ui_dirty(void);
/* Show the answer's error on the message line ("cmd: message"). */
void		 ui_error(const char *cmd, const char *code, const char *msg);

/* Prompt on the message line. changed runs on every edit (filter as you
 * type; may be NULL); done runs with the text (NULL: cancelled). */
typedef void	(*ui_prompt_fn)(void *arg, const char *text);
void		 ui_prompt(const char *label, const char *initial,
		    ui_prompt_fn changed, ui_prompt_fn done, void *arg);
/* Ask y/N; yes runs only on y. */
typedef void	(*ui_confirm_fn)(void *arg);
void		 ui_confirm(const char *question, ui_confirm_fn yes, void *arg);

/* Show a pager over the body; key (may be NULL) sees keys first, true
 * when used; hints (may be NULL) go to the key bar. The pager and hints
 * are borrowed until closed. */
void		 ui_overlay(struct model_pager *, bool (*key)(int),
		    const struct ui_keyhelp *hints);

void		 ui_overlay_close(void);
bool		 ui_overlay_is(const struct model_pager *);

/* Switch to view i (0-based); pushes history. */
void		 ui_switch(size_t i);
const struct ui_view *ui_current(void);

/* Drawing. s is any text (cleaned, fitted); flags UI_FIT_*. */
attr_t		 ui_attr(enum ui_style);
int		 ui_put(WINDOW *, int y, int x, int w, enum ui_style, int flags,
		    const char *s);
/* As ui_put for our own printf text. */
int		 ui_putf(WINDOW *, int y, int x, int w, enum ui_style,
		    const char *, ...) __attribute__((format(printf, 6, 7)));
void		 ui_fill(WINDOW *, int y, int x, int w, enum ui_style);
/* A table header from laid-out columns. */
void		 ui_table_head(WINDOW *, int y, int x, int w,
		    const struct model_col *, size_t n);
/* One cell per column: texts[i] for column i (NULL: empty). */
void		 ui_table_row(WINDOW *, int y, int x, int w, enum ui_style,
		    const struct model_col *, size_t n,
		    const char *const *texts, const enum ui_style *styles);
/* Draw a pager's visible rows. */
void		 ui_draw_pager(WINDOW *, struct model_pager *, int y, int x,
		    int h, int w);
/* A centred note in a body area ("loading…", "not available …"). */
void		 ui_draw_note(WINDOW *, int y, int x, int h, int w,
		    enum ui_style, const char *);
/* The spinner frame, or " " when nothing is slow. */
const char	*ui_spinner(void);
/* Is request id older than UI_SPINNER_AFTER_MS and unanswered? */
bool		 ui_slow(int64_t id);

/*
 * A list paged through a command answering {"items":[...], "next":cursor,
 * "total":n}: the query (args without cursor and limit) and its model.
 */
struct ui_list {
	struct model_list	 list;
	const char		*cmd;
	json_t			*args;		/* owned */
	int			 limit;
	const char		*items_key;	/* default "items" */
	bool			 unknown;	/* moatd lacks cmd */

	void			(*loaded)(struct ui_list *);	/* may be NULL */
};

void		 ui_list_init(struct ui_list *, const char *cmd,
		    const char *idkey, int limit);
void		 ui_list_free(struct ui_list *);
/* A new query (args stolen; NULL: none): starts again from page 0. */
void		 ui_list_query(struct ui_list *, json_t *args);
/* Reload what is shown (others acted; the connection came back). */
void		 ui_list_refresh(struct ui_list *);
/* Ask for the page the model wants, if any; call each loop turn. */
void		 ui_list_tick(struct ui_list *);
/* Shared list keys (moves, paging, Home/End); true when used. */
bool		 ui_list_key(struct ui_list *, int key, int rows);
/* "12 of 1,234", "12 of 500+", "loading..." */
void		 ui_list_position(const struct ui_list *, char *, size_t);

/* Shared by list views: paging keys (arrows, vi, PgUp/PgDn, Home/End).
 * Sets the row delta, or *home or *end; false: not a move. */
bool		 ui_move_key(int key, int page, long *delta, bool *home,
		    bool *end);
/* Style for an outcome or verdict name. */
enum ui_style	 ui_outcome_style(const char *);
int64_t		 ui_now_ms(void);	/* wall clock */

/* The help overlay for a view (ui_view_help.c). */
void		 ui_help_open(const struct ui_view *);
void		 ui_help_free(void);

#endif
