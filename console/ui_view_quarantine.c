/*
 * Quarantine: the list paged through quarantine.list (filter by type and
 * recipient, search), a preview (quarantine.get: sanitised headers,
 * findings with scores, the text part) in a pane on large terminals or
 * over the list on small ones, and actions on the selected message or the
 * marked ones: release, delete, welcomelist or blocklist the sender, each
 * confirmed first and reported as moatd answered. The list reloads every
 * few seconds so that what others do shows.
 * Console thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "ui.h"
#include "ui_text.h"
#include "util.h"
#include "xmalloc.h"

#define Q_CMD_LIST	"quarantine.list"
#define Q_CMD_GET	"quarantine.get"
#define Q_CMD_RELEASE	"quarantine.release"
#define Q_CMD_DELETE	"quarantine.delete"
#define Q_CMD_WELCOME	"quarantine.welcomelist"
#define Q_CMD_BLOCK	"quarantine.blocklist"

#define Q_PAGE		100
#define QUAR_ID_CHARS_MAX	49	/* an id and its comma */
#define Q_REFRESH_MS	5000	/* others act: reload what is shown */
#define Q_PREVIEW_MS	150	/* pane preview after the selection rests */
#define Q_INFLIGHT	2	/* bulk requests on the wire at once */
#define Q_BULK_MAX	200	/* ids per request (moatd takes 1000) */
#define Q_SPLIT_LINES	34	/* preview pane below the list from here */
#define Q_SPLIT_COLS	150	/* ... or beside it from here */

static const struct ui_keyhelp q_keys[] = {
	{ "Enter", "preview", Q_CMD_GET, true },
	{ "Space", "mark", NULL, true },
	{ "r", "release", Q_CMD_RELEASE, true },
	{ "d", "delete", Q_CMD_DELETE, true },
	{ "w", "welcome", Q_CMD_WELCOME, true },
	{ "b", "block", Q_CMD_BLOCK, true },
	{ "t", "type", NULL, true },
	{ "/", "search", NULL, true },
	{ "f", "recipient filter", NULL, false },
	{ "a", "mark all shown", NULL, false },
	{ "u", "unmark all", NULL, false },
	{ "R", "reload now", NULL, false },
	{ NULL, NULL, NULL, false },
};

/* In the preview, actions are about the message shown. */
static const struct ui_keyhelp preview_keys[] = {
	{ "r", "release", Q_CMD_RELEASE, true },
	{ "d", "delete", Q_CMD_DELETE, true },
	{ "w", "welcomelist sender, release", Q_CMD_WELCOME, true },
	{ "b", "blocklist sender, delete", Q_CMD_BLOCK, true },
	{ NULL, NULL, NULL, false },
};

static const char *const q_types[] = { NULL, "spam", "virus", "attachment" };
#define Q_NTYPES	(sizeof q_types / sizeof q_types[0])

enum q_action {
	Q_RELEASE = 0,
	Q_DELETE,
	Q_WELCOME,
	Q_BLOCK,
};

static const struct {
	const char	*verb;		/* "release" */
	const char	*done;		/* "released" */
	const char	*cmd;
} q_acts[] = {
	[Q_RELEASE] = { "release", "released", Q_CMD_RELEASE },
	[Q_DELETE] = { "delete", "deleted", Q_CMD_DELETE },
	[Q_WELCOME] = { "welcomelist", "welcomelisted and released",
	    Q_CMD_WELCOME },
	[Q_BLOCK] = { "blocklist", "blocklisted and deleted", Q_CMD_BLOCK },
};

static struct {
	struct ui_list		 list;
	struct model_marks	 marks;
	size_t			 type;		/* index into q_types */
	char			 rcpt[256];
	char			 text[256];
	int			 rows;
	uint64_t		 next_refresh;
	/* preview */
	struct model_pager	 preview;
	char			 preview_id[128];	/* shown or asked */
	int64_t			 preview_req;
	uint64_t		 preview_at;	/* pane: ask when rested */
	bool			 pane;		/* the last draw had a pane */
	/* an action over several messages */
	enum q_action		 act;
	json_t			*todo;		/* ids (or senders) left */
	size_t			 total;
	size_t			 inflight;
	size_t			 ok;
	size_t			 failed;
	char			 last_error[256];
	bool			 acting;
	bool			 on_preview;	/* act on the preview only */
} q;

static void	q_query(void);
static void	q_loaded(struct ui_list *);

static void
q_init(void)
{
	ui_list_init(&q.list, Q_CMD_LIST, "id", Q_PAGE);
	q.list.loaded = q_loaded;
	model_marks_init(&q.marks);
	model_pager_init(&q.preview);
	q.rows = 10;
}

static void
q_free(void)
{
	ui_list_free(&q.list);
	model_marks_free(&q.marks);
	model_pager_clear(&q.preview);
	json_decref(q.todo);
}

/* --- item fields (tolerant of names while the protocol settles) -------- */

static const char *
q_id(const json_t *it)
{
	static const char *const k[] = { "id", "quar_id", "qid", NULL };

	return model_str_any(it, k);
}

static const char *
q_sender(const json_t *it)
{
	static const char *const k[] = { "sender", "from", "mail_from", NULL };

	return model_str_any(it, k);
}

static const char *
q_subject(const json_t *it)
{
	static const char *const k[] = { "subject", NULL };

	return model_str_any(it, k);
}

static const char *
q_type(const json_t *it)
{
	static const char *const k[] = { "type", "reason", "verdict", NULL };

	return model_str_any(it, k);
}

static int64_t
q_time(const json_t *it)
{
	static const char *const k[] = { "time_ms", "date_ms", "received_ms",
	    "created_ms", NULL };
	const char *const	*p;
	int64_t			 v;

	for (p = k; *p != NULL; p++) {
		if ((v = model_int(it, *p, -1)) > 0)
			return v;
	}
	return 0;
}

/* The list answer names its id key; model_list keeps one. */
static void
q_loaded(struct ui_list *l)
{
	json_t	*it = json_array_get(l->list.items, 0);

	if (it == NULL)
		return;
	if (json_object_get(it, "id") != NULL)
		l->list.idkey = "id";
	else if (json_object_get(it, "quar_id") != NULL)
		l->list.idkey = "quar_id";
	else if (json_object_get(it, "qid") != NULL)
		l->list.idkey = "qid";
}

/* --- the list ----------------------------------------------------------- */

static bool
q_arg_known(const char *key)
{
	const struct proto_cmd	*pc = proto_cmd_find(Q_CMD_LIST);

	/* Unknown to this console's table: send it, moatd decides. */
	return pc == NULL || proto_arg_find(pc->args, key) != NULL;
}

static void
q_query(void)
{
	json_t	*args = json_object();

	if (q_types[q.type] != NULL && q_arg_known("type"))
		json_object_set_new(args, "type", json_string(q_types[q.type]));
	if (q.rcpt[0] != '\0' && q_arg_known("rcpt"))
		json_object_set_new(args, "rcpt", json_string(q.rcpt));
	if (q.text[0] != '\0' && q_arg_known("text"))
		json_object_set_new(args, "text", json_string(q.text));
	ui_list_query(&q.list, args);
	q.next_refresh = util_mono_ms() + Q_REFRESH_MS;
}

static void
q_enter(void)
{
	if (!q.list.list.loaded || q.list.unknown)
		q_query();
	else
		ui_list_refresh(&q.list);
}

static void
q_connected(void)
{
	if (ui_current() == &ui_view_quarantine)
		q_query();
	else
		model_list_reset(&q.list.list);
}

static void
q_disconnected(void)
{
	q.preview_req = 0;
	if (q.acting) {
		q.acting = false;
		json_decref(q.todo);
		q.todo = NULL;
		ui_message(UI_S_ERROR, "connection lost during the action: "
		    "%zu done, %zu not confirmed", q.ok, q.total - q.ok);
	}
}

static void
q_event(const char *name, json_t *data)
{
	const char	*o = model_str(data, "outcome");

	/* Mail quarantined, or released or deleted by anyone (each is a
	 * tracking record): show it at once. */
	if (strncmp(name, "quarantine", 10) == 0 ||
	    (strcmp(name, PROTO_EV_TRACKING) == 0 &&
	    (strcmp(o, "quarantined") == 0 || strcmp(o, "released") == 0 ||
	    strcmp(o, "deleted") == 0)))
		q.next_refresh = util_mono_ms();
}


/* --- preview ------------------------------------------------------------ */

static void
preview_headers(json_t *h)
{
	static const char *const wanted[] = { "From", "To", "Cc", "Reply-To",
	    "Subject", "Date", "Message-ID", "Return-Path", NULL };
	json_t		*e, *v;
	const char	*k;
	size_t		 i, j;

	if (json_is_string(h)) {
		model_pager_add(&q.preview, UI_S_NORMAL, json_string_value(h));
		return;
	}
	if (json_is_object(h)) {
		for (i = 0; wanted[i] != NULL; i++) {
			json_object_foreach(h, k, v) {
				if (strcasecmp(k, wanted[i]) == 0)
					model_pager_kv(&q.preview, UI_S_NORMAL,
					    11, k, json_is_string(v) ?
					    json_string_value(v) : "");
			}
		}
		return;
	}
	json_array_foreach(h, i, e) {
		const char	*name, *val;

		if (json_is_array(e)) {
			name = json_string_value(json_array_get(e, 0));
			val = json_string_value(json_array_get(e, 1));
		} else {
			name = model_str(e, "name");
			val = model_str(e, "value");
		}
		if (name == NULL)
			continue;
		for (j = 0; wanted[j] != NULL; j++) {
			if (strcasecmp(name, wanted[j]) == 0)
				model_pager_kv(&q.preview, UI_S_NORMAL, 11,
				    name, val != NULL ? val : "");
		}
	}
}

static void
preview_fill(json_t *m, const char *note)
{
	static const char *const text_keys[] = { "text", "body_text", "body",
	    "preview", NULL };
	json_t		*f, *e, *h;
	char		 buf[256], rc[1024];
	double		 sc;
	size_t		 i;
	const char	*s;

	model_pager_clear(&q.preview);
	snprintf(buf, sizeof buf, "Quarantined %s", q_id(m));
	model_pager_set_title(&q.preview, buf);
	if (note != NULL)
		model_pager_add(&q.preview, UI_S_DIM, note);
	ui_text_datetime(q_time(m), buf, sizeof buf);
	model_pager_kv(&q.preview, UI_S_NORMAL, 11, "Received", buf);
	model_pager_kv(&q.preview, UI_S_NORMAL, 11, "Envelope", q_sender(m));
	model_rcpts(m, rc, sizeof rc);
	model_pager_kv(&q.preview, UI_S_NORMAL, 11, "  to", rc);
	model_pager_kv(&q.preview, ui_outcome_style(q_type(m)), 11, "Type",
	    q_type(m));
	if (model_num(m, "score", &sc)) {
		snprintf(buf, sizeof buf, "%.2f", sc);
		model_pager_kv(&q.preview, UI_S_NORMAL, 11, "Score", buf);
	}
	if (*model_str(m, "virus") != '\0')
		model_pager_kv(&q.preview, UI_S_BAD, 11, "Virus",
		    model_str(m, "virus"));
	if (*model_str(m, "rule") != '\0')
		model_pager_kv(&q.preview, UI_S_NORMAL, 11, "Rule",
		    model_str(m, "rule"));
	if (*model_str(m, "error") != '\0')
		model_pager_kv(&q.preview, UI_S_ERROR, 11, "Error",
		    model_str(m, "error"));

	if ((h = json_object_get(m, "headers")) != NULL) {
		model_pager_add(&q.preview, UI_S_NORMAL, "");
		model_pager_add(&q.preview, UI_S_TITLE, "Headers");
		preview_headers(h);
	} else
		model_pager_kv(&q.preview, UI_S_NORMAL, 11, "Subject",
		    q_subject(m));
	f = json_object_get(m, "findings");
	if (json_array_size(f) > 0) {
		model_pager_add(&q.preview, UI_S_NORMAL, "");
		model_pager_addf(&q.preview, UI_S_TITLE, "Findings (%zu)",
		    json_array_size(f));
		json_array_foreach(f, i, e) {
			sc = 0;
			model_num(e, "score", &sc);
			model_pager_addf(&q.preview, UI_S_NORMAL,
			    "  %-24s %7.2f  %s", model_str(e, "symbol"), sc,
			    model_str(e, "detail"));
		}
	}
	s = model_str_any(m, text_keys);
	if (*s != '\0') {
		model_pager_add(&q.preview, UI_S_NORMAL, "");
		model_pager_add(&q.preview, UI_S_TITLE, "Text");
		model_pager_add(&q.preview, UI_S_NORMAL, s);
	}
}

static void
preview_done(void *arg, json_t *result, const char *code, const char *msg)
{
	(void)arg;
	q.preview_req = 0;
	ui_answered(Q_CMD_GET, code);
	ui_dirty();
	if (code != NULL) {
		char	 text[256];

		if (strcmp(code, PROTO_E_UNKNOWN_COMMAND) == 0)
			ui_unavailable_text(Q_CMD_GET, text, sizeof text);
		else
			snprintf(text, sizeof text, "%s: %s", Q_CMD_GET, msg);
		model_pager_add(&q.preview, UI_S_NORMAL, "");
		model_pager_add(&q.preview, UI_S_ERROR, text);
		return;
	}
	preview_fill(json_is_object(json_object_get(result, "message")) ?
	    json_object_get(result, "message") : result, NULL);
}

static void
preview_ask(json_t *it)
{
	json_t	*args;
	char	 why[256];

	snprintf(q.preview_id, sizeof q.preview_id, "%s", q_id(it));
	preview_fill(it, "loading...");
	ui_cancel(q.preview_req);
	q.preview_req = 0;
	if (!ui_may(Q_CMD_GET, why, sizeof why)) {
		model_pager_add(&q.preview, UI_S_DIM, why);
		return;
	}
	args = json_pack("{s:s}", "id", q.preview_id);
	q.preview_req = ui_call(Q_CMD_GET, args, preview_done, NULL);
	json_decref(args);
	if (q.preview_req < 0)
		q.preview_req = 0;
}

/* --- actions ------------------------------------------------------------ */

/*
 * An action on several messages goes out as requests of up to Q_BULK_MAX
 * ids ("ids": "a,b,c"); moatd answers each with a result per id
 * ({"results":[{"id","ok","error"?}...], "done", "failed"}), and only what
 * it says it did leaves the list.
 */
static void	act_pump(void);

static void
act_finish(void)
{
	char	msg[512];

	q.acting = false;
	json_decref(q.todo);
	q.todo = NULL;
	if (q.failed == 0)
		snprintf(msg, sizeof msg, "%s %zu message%s (confirmed by "
		    "moatd)", q_acts[q.act].done, q.ok, q.ok == 1 ? "" : "s");
	else
		snprintf(msg, sizeof msg, "%s %zu of %zu; %zu failed: %s",
		    q_acts[q.act].done, q.ok, q.total, q.failed, q.last_error);
	ui_message(q.failed == 0 ? UI_S_GOOD : UI_S_ERROR, "%s", msg);
	ui_list_refresh(&q.list);
}

/* arg: the ids of the request (owned array). */
static void
act_done(void *arg, json_t *result, const char *code, const char *msg)
{
	json_t		*ids = arg, *r;
	const char	*id;
	size_t		 i, answered = 0;

	q.inflight--;
	ui_answered(q_acts[q.act].cmd, code);
	if (code != NULL) {
		q.failed += json_array_size(ids);
		snprintf(q.last_error, sizeof q.last_error, "%s",
		    msg != NULL ? msg : code);
	}
	json_array_foreach(json_object_get(result, "results"), i, r) {
		id = model_str(r, "id");
		answered++;
		if (!json_is_true(json_object_get(r, "ok"))) {
			q.failed++;
			snprintf(q.last_error, sizeof q.last_error, "%s: %s", id,
			    *model_str(r, "error") != '\0' ?
			    model_str(r, "error") : "refused");
			continue;
		}
		q.ok++;
		if (model_marks_has(&q.marks, id))
			model_marks_toggle(&q.marks, id);
		model_list_remove(&q.list.list, id);
	}
	/* An answer without per-id results: its counts, or all of them. */
	if (code == NULL && answered == 0) {
		if (json_is_integer(json_object_get(result, "done"))) {
			q.ok += (size_t)model_int(result, "done", 0);
			q.failed += (size_t)model_int(result, "failed", 0);
		} else
			q.ok += json_array_size(ids);
	}
	json_decref(ids);
	ui_dirty();
	if (q.acting)
		act_pump();
}

static void
act_pump(void)
{
	struct buf	 b;
	json_t		*args, *ids;
	const char	*id;
	int64_t		 req;
	size_t		 n;

	while (q.inflight < Q_INFLIGHT && json_array_size(q.todo) > 0) {
		ids = json_array();
		buf_init(&b, Q_BULK_MAX * QUAR_ID_CHARS_MAX);
		for (n = 0; n < Q_BULK_MAX && json_array_size(q.todo) > 0;
		    n++) {
			id = json_string_value(json_array_get(q.todo, 0));
			if (id != NULL && (b.len > 0 ? buf_append(&b, ",", 1) :
			    0) == 0 && buf_append(&b, id, strlen(id)) == 0)
				json_array_append_new(ids, json_string(id));
			json_array_remove(q.todo, 0);
		}
		args = json_pack("{s:s}", "ids", b.data != NULL ? b.data : "");
		buf_free(&b);
		req = ui_call(q_acts[q.act].cmd, args, act_done, ids);
		json_decref(args);
		if (req < 0) {
			q.failed += json_array_size(ids);
			snprintf(q.last_error, sizeof q.last_error,
			    "not connected");
			json_decref(ids);
			continue;
		}
		q.inflight++;
	}
	if (q.inflight == 0 && json_array_size(q.todo) == 0 && q.acting)
		act_finish();
}

/* The targets: the message previewed, the marked ones, or the selected
 * one. New array. */
static json_t *
act_targets(void)
{
	json_t	*sel;

	if (q.on_preview && q.preview_id[0] != '\0')
		return json_pack("[s]", q.preview_id);
	if (model_marks_count(&q.marks) > 0)
		return model_marks_ids(&q.marks);
	if ((sel = model_list_selected(&q.list.list)) == NULL ||
	    *q_id(sel) == '\0')
		return json_array();
	return json_pack("[s]", q_id(sel));
}

static void
act_start(void *arg)
{
	(void)arg;
	if (q.on_preview && ui_overlay_is(&q.preview))
		ui_overlay_close();	/* the message is going away */
	q.todo = act_targets();
	q.total = json_array_size(q.todo);
	q.ok = q.failed = q.inflight = 0;
	q.last_error[0] = '\0';
	q.acting = true;
	act_pump();
}

static void
act_ask(enum q_action a, bool on_preview)
{
	json_t		*ids;
	char		 why[256], question[256];
	const char	*which;
	size_t		 n;

	q.on_preview = on_preview;
	if (q.acting) {
		ui_message(UI_S_WARN, "an action is still running");
		return;
	}
	if (!ui_may(q_acts[a].cmd, why, sizeof why)) {
		ui_message(UI_S_WARN, "%s", why);
		return;
	}
	ids = act_targets();
	n = json_array_size(ids);
	json_decref(ids);
	if (n == 0) {
		ui_message(UI_S_NORMAL, "nothing selected");
		return;
	}
	q.act = a;
	which = on_preview ? "this" : model_marks_count(&q.marks) > 0 ?
	    "marked" : "selected";
	snprintf(question, sizeof question, "%s %zu %s message%s%s?%s "
	    "[y/N] ", a == Q_RELEASE ? "Release" : a == Q_DELETE ? "Delete" :
	    a == Q_WELCOME ? "Welcomelist the sender of" :
	    "Blocklist the sender of", n, which, n == 1 ? "" : "s",
	    a == Q_WELCOME ? " and release" : a == Q_BLOCK ? " and delete" :
	    "", a == Q_DELETE || a == Q_BLOCK ? " This cannot be undone." :
	    a == Q_RELEASE ? " It goes to the recipients." : "");

	ui_confirm(question, act_start, NULL);
}

/* --- keys --------------------------------------------------------------- */

static void
rcpt_done(void *arg, const char *text)
{
	(void)arg;
	if (text == NULL)
		return;
	snprintf(q.rcpt, sizeof q.rcpt, "%s", text);
	q_query();
}

static void
text_done(void *arg, const char *text)
{
	(void)arg;
	if (text == NULL)
		return;
	snprintf(q.text, sizeof q.text, "%s", text);
	q_query();
}

static bool
act_key(int k, bool on_preview)
{
	switch (k) {
	case 'r':
		act_ask(Q_RELEASE, on_preview);
		return true;
	case 'd':
		act_ask(Q_DELETE, on_preview);
		return true;
	case 'w':
		act_ask(Q_WELCOME, on_preview);
		return true;
	case 'b':
		act_ask(Q_BLOCK, on_preview);
		return true;
	}
	return false;
}

static bool
preview_key(int k)
{
	return act_key(k, true);
}

static bool
q_key(int k)
{
	json_t	*sel;
	size_t	 i;

	if (q.list.list.seeking && k != UI_FN(KEY_END) && k != 'G') {
		model_list_seek_cancel(&q.list.list);
		return true;
	}
	switch (k) {
	case '\n':
	case '\r':
	case UI_FN(KEY_ENTER):
	case UI_FN(KEY_RIGHT):
	case 'l':
		if ((sel = model_list_selected(&q.list.list)) == NULL)
			return true;
		preview_ask(sel);
		if (!q.pane)
			ui_overlay(&q.preview, preview_key, preview_keys);
		return true;
	case ' ':
	case 'm':
		if ((sel = model_list_selected(&q.list.list)) == NULL)
			return true;
		if (!model_marks_toggle(&q.marks, q_id(sel)))
			ui_message(UI_S_WARN, "at most %d marks",
			    MODEL_MARKS_MAX);
		model_list_move(&q.list.list, 1);
		ui_list_tick(&q.list);
		return true;
	case 'a':
		for (i = q.list.list.base; i < model_list_known(&q.list.list);
		    i++) {
			sel = model_list_get(&q.list.list, i);
			if (sel != NULL && !model_marks_has(&q.marks,
			    q_id(sel)))
				model_marks_toggle(&q.marks, q_id(sel));
		}
		return true;
	case 'u':
		model_marks_clear(&q.marks);
		return true;
	case 'r':
	case 'd':
	case 'w':
	case 'b':
		return act_key(k, false);

	case 't':
		q.type = (q.type + 1) % Q_NTYPES;
		q_query();
		return true;
	case 'f':
		ui_prompt("recipient (empty: all): ", q.rcpt, NULL, rcpt_done,
		    NULL);
		return true;
	case '/':
		ui_prompt("search (subject, sender): ", q.text, NULL,
		    text_done, NULL);
		return true;
	case 'R':
	case UI_FN(KEY_F(5)):
		if (q.list.unknown || q.list.list.error != NULL)
			q_query();
		else
			ui_list_refresh(&q.list);
		return true;
	}
	return ui_list_key(&q.list, k, q.rows);
}

static bool
q_back(void)
{
	if (q.text[0] != '\0' || q.rcpt[0] != '\0' || q.type != 0) {
		q.text[0] = q.rcpt[0] = '\0';
		q.type = 0;
		q_query();
		return true;
	}
	if (model_marks_count(&q.marks) > 0) {
		model_marks_clear(&q.marks);
		return true;
	}
	return false;
}

static void
q_tick(uint64_t now)
{
	json_t	*sel;

	ui_list_tick(&q.list);
	if (now >= q.next_refresh) {
		q.next_refresh = now + Q_REFRESH_MS;
		if (!q.acting && ui_connected())
			ui_list_refresh(&q.list);
	}
	/* The pane follows the selection once it rests. */
	if (q.pane && (sel = model_list_selected(&q.list.list)) != NULL &&
	    strcmp(q_id(sel), q.preview_id) != 0) {
		if (q.preview_at == 0)
			q.preview_at = now + Q_PREVIEW_MS;
		else if (now >= q.preview_at) {
			q.preview_at = 0;
			preview_ask(sel);
		}
	}
}

/* --- drawing ------------------------------------------------------------ */

enum { C_MARK, C_DATE, C_FROM, C_TO, C_SUBJECT, C_SCORE, C_TYPE, C_N };

static void
draw_list(WINDOW *w, int y, int x, int h, int width)
{
	static const struct model_col cols[C_N] = {
		[C_MARK] = { "", 1, 1, 0, 0, false, 0 },
		[C_DATE] = { "DATE", 11, 11, 0, 0, false, 0 },
		[C_FROM] = { "FROM", 10, 0, 3, 0, false, 0 },
		[C_TO] = { "TO", 10, 0, 2, 2, false, 0 },
		[C_SUBJECT] = { "SUBJECT", 12, 0, 5, 0, false, 0 },
		[C_SCORE] = { "SCORE", 5, 6, 0, 1, true, 0 },
		[C_TYPE] = { "TYPE", 10, 10, 0, 0, false, 0 },
	};
	struct model_col	 c[C_N];
	struct model_list	*l = &q.list.list;
	const char		*t[C_N];
	enum ui_style		 st[C_N];
	char			 date[32], rc[1024], score[16];
	json_t			*it;
	double			 sc;
	size_t			 i, j;
	int			 row;
	bool			 marked;

	memcpy(c, cols, sizeof cols);
	model_cols_layout(c, C_N, width);
	ui_table_head(w, y, x, width, c, C_N);
	q.rows = h - 1 > 1 ? h - 1 : 1;
	model_list_scroll(l, (size_t)q.rows);
	for (row = 0, i = l->top; row < q.rows; i++, row++) {
		if ((it = model_list_get(l, i)) == NULL)
			break;
		marked = model_marks_has(&q.marks, q_id(it));
		ui_text_time(q_time(it), ui_now_ms(), date, sizeof date);
		model_rcpts(it, rc, sizeof rc);
		if (model_num(it, "score", &sc))
			snprintf(score, sizeof score, "%.1f", sc);
		else
			snprintf(score, sizeof score, "-");
		t[C_MARK] = marked ? "*" : " ";
		t[C_DATE] = date;
		t[C_FROM] = q_sender(it);
		t[C_TO] = rc;
		t[C_SUBJECT] = q_subject(it);
		t[C_SCORE] = score;
		t[C_TYPE] = q_type(it);
		for (j = 0; j < C_N; j++)
			st[j] = marked ? UI_S_MARK : UI_S_NORMAL;
		st[C_TYPE] = ui_outcome_style(q_type(it));
		ui_table_row(w, y + 1 + row, x, width, i == l->sel ? UI_S_SEL :
		    UI_S_NORMAL, c, C_N, t, st);
	}
}

static void
q_draw(WINDOW *w, int y, int x, int h, int width)
{
	struct model_list	*l = &q.list.list;
	char			 title[1024], pos[96], note[256];
	int			 lh = h - 1, lw = width, ph = 0, pw = 0;

	if (h < 3)
		return;
	ui_list_position(&q.list, pos, sizeof pos);
	snprintf(title, sizeof title, "Quarantine \xc2\xb7 %s%s%s%s%s%s "
	    "\xc2\xb7 %s", q_types[q.type] != NULL ? q_types[q.type] : "all "
	    "types", q.rcpt[0] != '\0' ? " \xc2\xb7 to " : "", q.rcpt,
	    q.text[0] != '\0' ? " \xc2\xb7 \"" : "", q.text,
	    q.text[0] != '\0' ? "\"" : "", pos);
	if (model_marks_count(&q.marks) > 0)
		snprintf(title + strlen(title), sizeof title - strlen(title),
		    " \xc2\xb7 %zu marked", model_marks_count(&q.marks));
	if (q.acting)
		snprintf(title + strlen(title), sizeof title - strlen(title),
		    " \xc2\xb7 %s %zu/%zu %s", q_acts[q.act].verb, q.ok +
		    q.failed, q.total, ui_spinner());
	else if (ui_slow(l->req))
		snprintf(title + strlen(title), sizeof title - strlen(title),
		    " %s", ui_spinner());
	ui_put(w, y, x, width, UI_S_TITLE, 0, title);
	if (q.list.unknown || ui_have(Q_CMD_LIST) == UI_HAVE_NO) {
		ui_unavailable_text("quarantine", note, sizeof note);
		ui_draw_note(w, y + 1, x, h - 1, width, UI_S_DIM, note);
		q.pane = false;
		return;
	}
	if (l->error != NULL && model_list_known(l) == 0) {
		snprintf(note, sizeof note, "%s: %s (R retries)", Q_CMD_LIST,
		    l->error);
		ui_draw_note(w, y + 1, x, h - 1, width, UI_S_ERROR, note);
		return;
	}
	if (model_list_known(l) == 0) {
		ui_draw_note(w, y + 1, x, h - 1, width, UI_S_DIM, l->loaded ?
		    "the quarantine is empty" : ui_connected() ? "loading..." :
		    "not connected");
		q.pane = false;
		return;
	}
	/* A preview pane where there is room: below, or beside. */
	q.pane = false;
	if (width >= Q_SPLIT_COLS) {
		lw = width * 55 / 100;
		pw = width - lw - 1;
		q.pane = true;
	} else if (h >= Q_SPLIT_LINES) {
		lh = (h - 1) * 45 / 100;
		ph = h - 1 - lh - 1;
		q.pane = true;
	}
	draw_list(w, y + 1, x, lh, lw);
	if (!q.pane)
		return;
	if (pw > 0) {
		mvwvline(w, y + 1, x + lw, ACS_VLINE, lh);
		ui_draw_pager(w, &q.preview, y + 1, x + lw + 1, lh, pw);
	} else {
		mvwhline(w, y + 1 + lh, x, ACS_HLINE, width);
		ui_draw_pager(w, &q.preview, y + 2 + lh, x, ph, width);
	}
}

const struct ui_view ui_view_quarantine = {
	.name = "Quarantine",
	.short_name = "Quar",
	.keys = q_keys,
	.init = q_init,
	.free = q_free,
	.enter = q_enter,
	.connected = q_connected,
	.disconnected = q_disconnected,
	.draw = q_draw,
	.key = q_key,
	.back = q_back,
	.tick = q_tick,
	.event = q_event,
};
