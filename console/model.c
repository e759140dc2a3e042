/*
 * View models: paged lists, the live tail, pagers, marks, rates, counts
 * per key, the line editor, column layout, record accessors.
 * Console thread; no curses, no sockets.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model.h"
#include "ui_text.h"
#include "xmalloc.h"

#define TAIL_SEQ_START	((uint64_t)1 << 40)	/* room to prepend below */

/* --- paged lists -------------------------------------------------------- */

void
model_list_init(struct model_list *l, const char *idkey)
{
	memset(l, 0, sizeof *l);
	l->idkey = idkey;
	l->items = json_array();
	l->total = -1;
}

static void
list_clear_cursors(struct model_list *l)
{
	size_t	i;

	for (i = 0; i < l->ncursors; i++)
		free(l->cursors[i]);
	free(l->cursors);
	l->cursors = NULL;
	l->ncursors = 0;
}

void
model_list_free(struct model_list *l)
{
	json_decref(l->items);
	list_clear_cursors(l);
	free(l->keep_id);
	free(l->error);
	memset(l, 0, sizeof *l);
}

void
model_list_reset(struct model_list *l)
{
	json_array_clear(l->items);
	list_clear_cursors(l);
	l->base = l->first_page = l->npages = 0;
	l->end = l->loaded = l->seeking = l->loading = false;
	l->sel = l->top = 0;
	l->total = -1;
	free(l->keep_id);
	l->keep_id = NULL;
	free(l->error);
	l->error = NULL;
}

static size_t
list_held(const struct model_list *l)
{
	return json_array_size(l->items);
}

size_t
model_list_known(const struct model_list *l)
{
	return l->base + list_held(l);
}

json_t *
model_list_get(const struct model_list *l, size_t i)
{
	if (i < l->base || i >= l->base + list_held(l))
		return NULL;
	return json_array_get(l->items, i - l->base);
}

json_t *
model_list_selected(const struct model_list *l)
{
	return model_list_get(l, l->sel);
}

void
model_list_refresh(struct model_list *l)
{
	json_t	*sel;

	/* Nothing held yet, or an answer on its way: that one is fresh. */
	if (!l->loaded || l->loading)
		return;
	free(l->keep_id);
	l->keep_id = NULL;
	if ((sel = model_list_selected(l)) != NULL &&
	    *model_str(sel, l->idkey) != '\0')
		l->keep_id = xstrdup(model_str(sel, l->idkey));
	/* The first held page is asked for again and its answer replaces
	 * the window, so the screen is not blank meanwhile. */
	l->seeking = false;
	l->refresh_pending = true;
}

static const char *
list_cursor(const struct model_list *l, size_t page)
{
	return page < l->ncursors ? l->cursors[page] : NULL;
}

bool
model_list_want(struct model_list *l, size_t *page, const char **cursor)
{
	size_t	held_end = model_list_known(l), next;

	if (l->loading)
		return false;
	if (l->refresh_pending) {
		*page = l->first_page;
	} else if (l->npages == 0) {
		if (l->error != NULL)
			return false;	/* a key or a refresh retries */
		*page = l->first_page;
	} else if (!l->end && (l->seeking ||
	    l->sel + MODEL_LIST_PAGE / 2 >= held_end)) {
		next = l->first_page + l->npages;
		if (next >= l->ncursors || l->cursors[next] == NULL)
			return false;
		*page = next;
	} else if (l->first_page > 0 && l->sel < l->base + MODEL_LIST_PAGE / 2)
		*page = l->first_page - 1;
	else
		return false;
	if (*page > 0 && list_cursor(l, *page) == NULL)
		return false;
	*cursor = list_cursor(l, *page);
	l->loading = true;
	l->loading_page = *page;
	return true;
}

static void
list_set_cursor(struct model_list *l, size_t page, const char *cursor)
{
	size_t	i;

	if (page >= MODEL_LIST_CURSORS_MAX)
		return;
	if (page >= l->ncursors) {
		l->cursors = xreallocarray(l->cursors, page + 1,
		    sizeof *l->cursors);
		for (i = l->ncursors; i <= page; i++)
			l->cursors[i] = NULL;
		l->ncursors = page + 1;
	}
	free(l->cursors[page]);
	l->cursors[page] = cursor != NULL ? xstrdup(cursor) : NULL;
}

static void
list_drop_front(struct model_list *l)
{
	size_t	n = l->page_len[0], i;

	for (i = 0; i < n; i++)
		json_array_remove(l->items, 0);
	l->base += n;
	l->first_page++;
	memmove(l->page_len, l->page_len + 1,
	    (l->npages - 1) * sizeof l->page_len[0]);
	l->npages--;
}

static void
list_drop_back(struct model_list *l)
{
	size_t	n = l->page_len[l->npages - 1], i;

	for (i = 0; i < n; i++)
		json_array_remove(l->items, list_held(l) - 1);
	l->npages--;
	l->end = false;
}

static void
list_clamp(struct model_list *l)
{
	size_t	held_end = model_list_known(l);

	if (held_end == 0 || list_held(l) == 0) {
		l->sel = l->base;
		return;
	}
	if (l->sel >= held_end)
		l->sel = held_end - 1;
	if (l->sel < l->base)
		l->sel = l->base;
}

/* Put the selection back on keep_id if the window holds it. */
static void
list_restore(struct model_list *l)
{
	json_t	*it;
	size_t	 i;

	if (l->keep_id == NULL)
		return;
	json_array_foreach(l->items, i, it) {
		if (strcmp(model_str(it, l->idkey), l->keep_id) == 0) {
			l->sel = l->base + i;
			break;
		}
	}
	free(l->keep_id);
	l->keep_id = NULL;
}

void
model_list_page(struct model_list *l, size_t page, json_t *items,
    const char *next, int64_t total)
{
	size_t	n = json_array_size(items), i;
	bool	append;

	if (!l->loading || page != l->loading_page)
		return;
	l->loading = false;
	free(l->error);
	l->error = NULL;
	l->loaded = true;
	l->total = total;
	if (l->refresh_pending || l->npages == 0) {
		l->refresh_pending = false;
		json_array_clear(l->items);
		l->npages = 0;
		l->first_page = page;
		if (page == 0)
			l->base = 0;
		l->end = false;
		append = true;
	} else if (page == l->first_page + l->npages)
		append = true;
	else if (page + 1 == l->first_page)
		append = false;
	else
		return;
	if (append) {
		json_array_extend(l->items, items);
		l->page_len[l->npages++] = n;
		if (next == NULL || *next == '\0' || n == 0 ||
		    page + 1 >= MODEL_LIST_CURSORS_MAX)
			l->end = true;
		else
			list_set_cursor(l, page + 1, next);
		if (l->npages > MODEL_LIST_PAGES)
			list_drop_front(l);
	} else {
		for (i = n; i > 0; i--)
			json_array_insert(l->items, 0,
			    json_array_get(items, i - 1));
		memmove(l->page_len + 1, l->page_len,
		    l->npages * sizeof l->page_len[0]);
		l->page_len[0] = n;
		l->npages++;
		l->first_page = page;
		l->base = l->base >= n ? l->base - n : 0;
		if (l->npages > MODEL_LIST_PAGES)
			list_drop_back(l);
	}
	list_restore(l);
	if (l->seeking) {
		l->sel = model_list_known(l) > 0 ? model_list_known(l) - 1 : 0;
		if (l->end)
			l->seeking = false;
	}
	list_clamp(l);
}

void
model_list_fail(struct model_list *l, const char *message)
{
	l->loading = false;
	l->seeking = false;
	l->refresh_pending = false;
	free(l->error);
	l->error = xstrdup(message != NULL ? message : "failed");
}

void
model_list_move(struct model_list *l, long delta)
{
	long	s = (long)l->sel + delta;

	l->seeking = false;
	if (s < 0)
		s = 0;
	l->sel = (size_t)s;
	list_clamp(l);
}

void
model_list_home(struct model_list *l)
{
	l->seeking = false;
	if (l->first_page == 0) {
		l->sel = l->top = 0;
		return;
	}
	/* Back to page 0: its cursor is NULL, the others are kept. */
	json_array_clear(l->items);
	l->npages = 0;
	l->first_page = 0;
	l->base = l->sel = l->top = 0;
	l->end = false;
}

void
model_list_end(struct model_list *l)
{
	if (l->end) {
		l->sel = model_list_known(l) > 0 ? model_list_known(l) - 1 : 0;
		return;
	}
	l->seeking = true;
	l->sel = model_list_known(l) > 0 ? model_list_known(l) - 1 : 0;
}

void
model_list_seek_cancel(struct model_list *l)
{
	l->seeking = false;
}

void
model_list_scroll(struct model_list *l, size_t rows)
{
	size_t	known = model_list_known(l);

	if (rows == 0)
		return;
	if (l->sel < l->top)
		l->top = l->sel;
	if (l->sel >= l->top + rows)
		l->top = l->sel - rows + 1;
	/* Fill the screen when the list ends above its bottom. */
	if (l->end && known - l->top < rows && l->top > 0)
		l->top = known > rows ? known - rows : 0;
	if (l->top < l->base)
		l->top = l->base;
}

void
model_list_remove(struct model_list *l, const char *id)
{
	json_t	*it;
	size_t	 i, p, acc = 0;

	json_array_foreach(l->items, i, it) {
		if (strcmp(model_str(it, l->idkey), id) != 0)
			continue;
		json_array_remove(l->items, i);
		if (l->base + i < l->sel)
			l->sel--;	/* stay on the same item */
		for (p = 0; p < l->npages; p++) {

			acc += l->page_len[p];
			if (i < acc) {
				l->page_len[p]--;
				break;
			}
		}
		if (l->total > 0)
			l->total--;
		list_clamp(l);
		return;
	}
}

/* --- the live tail ------------------------------------------------------ */

void
model_tail_init(struct model_tail *t)
{
	memset(t, 0, sizeof *t);
	t->recs = json_array();
	t->first_seq = t->pause_end = TAIL_SEQ_START;
	t->sel = TAIL_SEQ_START;
	t->follow = true;
	t->rows = 20;
}

void
model_tail_free(struct model_tail *t)
{
	json_decref(t->recs);
	free(t->vis);
	memset(t, 0, sizeof *t);
}

static uint64_t
tail_end(const struct model_tail *t)
{
	return t->first_seq + json_array_size(t->recs);
}

void
model_tail_add(struct model_tail *t, json_t *rec)
{
	if (!json_is_object(rec))
		return;
	json_array_append(t->recs, rec);
	t->received++;
	if (json_array_size(t->recs) > MODEL_TAIL_MAX) {
		json_array_remove(t->recs, 0);
		t->first_seq++;
	}
}

static bool
tail_has(const struct model_tail *t, const char *qid)
{
	json_t	*r;
	size_t	 i;

	if (*qid == '\0')
		return false;
	json_array_foreach(t->recs, i, r) {
		if (strcmp(model_str(r, "queue_id"), qid) == 0)
			return true;
	}
	return false;
}

void
model_tail_prepend(struct model_tail *t, json_t *items)
{
	json_t	*r;
	size_t	 i, room;

	/* items are newest first: walk them so the oldest lands first. */
	room = MODEL_TAIL_MAX - json_array_size(t->recs);
	for (i = 0; i < json_array_size(items) && room > 0; i++) {
		r = json_array_get(items, i);
		if (!json_is_object(r) || tail_has(t, model_str(r,
		    "queue_id")))
			continue;
		if (t->first_seq == 0)
			break;
		json_array_insert(t->recs, 0, r);
		t->first_seq--;
		room--;
	}
	if (t->pause_end < t->first_seq)
		t->pause_end = t->first_seq;
}

void
model_tail_pause(struct model_tail *t, bool on)
{
	t->paused = on;
	t->pause_end = tail_end(t);
}

uint64_t
model_tail_hidden(const struct model_tail *t)
{
	if (!t->paused || tail_end(t) <= t->pause_end)
		return 0;
	return tail_end(t) - (t->pause_end > t->first_seq ? t->pause_end :
	    t->first_seq);
}

void
model_tail_set_filter(struct model_tail *t, const char *f)
{
	snprintf(t->filter, sizeof t->filter, "%s", f != NULL ? f : "");
}

json_t *
model_tail_rec(const struct model_tail *t, uint64_t seq)
{
	if (seq < t->first_seq || seq >= tail_end(t))
		return NULL;
	return json_array_get(t->recs, seq - t->first_seq);
}

static size_t
tail_index(const struct model_tail *t, uint64_t seq, bool *exact)
{
	size_t	lo = 0, hi = t->nvis, mid;

	while (lo < hi) {	/* vis is ascending */
		mid = (lo + hi) / 2;
		if (t->vis[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	*exact = lo < t->nvis && t->vis[lo] == seq;
	return lo;
}

void
model_tail_view(struct model_tail *t, size_t rows)
{
	uint64_t	seq, end = t->paused ? t->pause_end : tail_end(t);
	size_t		idx;
	bool		exact;

	if (rows > 0)
		t->rows = rows;
	if (end > tail_end(t))
		end = tail_end(t);
	t->nvis = 0;
	for (seq = t->first_seq; seq < end; seq++) {
		if (!model_rec_matches(model_tail_rec(t, seq), t->filter))
			continue;
		if (t->nvis == t->cap) {
			t->cap = t->cap == 0 ? 256 : t->cap * 2;
			t->vis = xreallocarray(t->vis, t->cap, sizeof *t->vis);
		}
		t->vis[t->nvis++] = seq;
	}
	if (t->nvis == 0) {
		t->top = 0;
		return;
	}
	if (t->follow)
		t->sel = t->vis[t->nvis - 1];
	idx = tail_index(t, t->sel, &exact);
	if (idx >= t->nvis)
		idx = t->nvis - 1;
	t->sel = t->vis[idx];
	if (idx < t->top)
		t->top = idx;
	if (idx >= t->top + t->rows)
		t->top = idx - t->rows + 1;
	if (t->nvis - t->top < t->rows)
		t->top = t->nvis > t->rows ? t->nvis - t->rows : 0;
}

void
model_tail_move(struct model_tail *t, long delta)
{
	size_t	idx;
	long	i;
	bool	exact;

	model_tail_view(t, 0);
	if (t->nvis == 0)
		return;
	idx = tail_index(t, t->sel, &exact);
	i = (long)idx + delta;
	if (i < 0)
		i = 0;
	if (i >= (long)t->nvis)
		i = (long)t->nvis - 1;
	t->sel = t->vis[i];
	/* Down onto the newest follows again, like less +F. */
	t->follow = (size_t)i == t->nvis - 1 && delta > 0;
	if (delta < 0)
		t->follow = false;
	model_tail_view(t, 0);
}

void
model_tail_home(struct model_tail *t)
{
	model_tail_view(t, 0);
	t->follow = false;
	if (t->nvis > 0)
		t->sel = t->vis[0];
	t->top = 0;
	model_tail_view(t, 0);
}

void
model_tail_end(struct model_tail *t)
{
	t->follow = true;
	model_tail_view(t, 0);
}

json_t *
model_tail_selected(const struct model_tail *t, size_t *idx)
{
	bool	exact;
	size_t	i;

	if (t->nvis == 0)
		return NULL;
	i = tail_index(t, t->sel, &exact);
	if (!exact)
		return NULL;
	if (idx != NULL)
		*idx = i;
	return model_tail_rec(t, t->sel);
}

/* --- detail pager ------------------------------------------------------- */

void
model_pager_init(struct model_pager *p)
{
	memset(p, 0, sizeof *p);
}

void
model_pager_clear(struct model_pager *p)
{
	size_t	i;

	for (i = 0; i < p->n; i++)
		free(p->lines[i]);
	free(p->lines);
	free(p->attrs);
	free(p->indents);
	free(p->title);
	memset(p, 0, sizeof *p);
}

void
model_pager_set_title(struct model_pager *p, const char *t)
{
	free(p->title);
	p->title = ui_text_clean(t);
}

static void
pager_push(struct model_pager *p, int attr, char *clean, int indent)
{
	if (p->n >= MODEL_PAGER_LINES_MAX) {
		free(clean);
		return;
	}
	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 64 : p->cap * 2;
		p->lines = xreallocarray(p->lines, p->cap, sizeof *p->lines);
		p->attrs = xreallocarray(p->attrs, p->cap, sizeof *p->attrs);
		p->indents = xreallocarray(p->indents, p->cap,
		    sizeof *p->indents);
	}
	p->attrs[p->n] = attr;
	p->indents[p->n] = indent;
	p->lines[p->n++] = clean;
}

void
model_pager_add(struct model_pager *p, int attr, const char *s)
{
	const char	*nl;
	char		*one;

	if (s == NULL)
		s = "";
	do {	/* each line of a text on its own row */
		nl = strchr(s, '\n');
		one = xstrndup(s, nl != NULL ? (size_t)(nl - s) : strlen(s));
		pager_push(p, attr, ui_text_clean(one), 0);
		free(one);
		s = nl != NULL ? nl + 1 : NULL;
	} while (s != NULL && p->n < MODEL_PAGER_LINES_MAX);
}

void
model_pager_addf(struct model_pager *p, int attr, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	model_pager_add(p, attr, s != NULL ? s : "");
	free(s);
}

void
model_pager_kv(struct model_pager *p, int attr, int kw, const char *key,
    const char *value)
{
	char	 kbuf[UI_FIT_SIZE(40)], *v, *line;

	if (kw > 40)
		kw = 40;
	ui_text_fit(key, kw, UI_FIT_PAD, kbuf, sizeof kbuf);
	v = ui_text_clean(value);
	xasprintf(&line, "%s  %s", kbuf, v);
	pager_push(p, attr, line, kw + 2);
	free(v);
}

size_t
model_pager_row_width(const struct model_pager *p, size_t line, size_t row,
    int width)
{
	int	w = row == 0 ? width : width - p->indents[line];

	return (size_t)(w > 8 ? w : width < 8 ? width : 8);
}

size_t
model_pager_break(const char *s, int width)
{
	size_t	n = ui_text_prefix(s, width), i;

	if (s[n] == '\0' || s[n] == ' ')
		return n;
	/* Break after the last space when it is not too far back. */
	for (i = n; i > n / 2; i--) {
		if (s[i - 1] == ' ')
			return i;
	}
	return n;
}

/* Rows line i takes at width; continuation rows are indented. */
static size_t
line_rows(const struct model_pager *p, size_t i, int width)
{
	const char	*s = p->lines[i];
	size_t		 rows = 0, n;

	if (*s == '\0' || width <= 0)
		return 1;
	while (*s != '\0') {
		n = model_pager_break(s, (int)model_pager_row_width(p, i,
		    rows, width));

		if (n == 0)
			break;
		s += n;
		rows++;
	}
	return rows > 0 ? rows : 1;
}

size_t
model_pager_rows(const struct model_pager *p, int width)
{
	size_t	i, rows = 0;

	for (i = 0; i < p->n; i++)
		rows += line_rows(p, i, width);
	return rows;
}


void
model_pager_scroll(struct model_pager *p, long delta, size_t rows,
    int width)
{
	size_t	total = model_pager_rows(p, width);
	size_t	max = total > rows ? total - rows : 0;
	long	t = (long)p->top + delta;

	if (t < 0)
		t = 0;
	if ((size_t)t > max)
		t = (long)max;
	p->top = (size_t)t;
}

/* --- marks -------------------------------------------------------------- */

void
model_marks_init(struct model_marks *m)
{
	m->set = json_object();
}

void
model_marks_free(struct model_marks *m)
{
	json_decref(m->set);
	m->set = NULL;
}

bool
model_marks_has(const struct model_marks *m, const char *id)
{
	return json_object_get(m->set, id) != NULL;
}

bool
model_marks_toggle(struct model_marks *m, const char *id)
{
	if (*id == '\0')
		return false;
	if (json_object_get(m->set, id) != NULL) {
		json_object_del(m->set, id);
		return true;
	}
	if (json_object_size(m->set) >= MODEL_MARKS_MAX)
		return false;
	json_object_set_new(m->set, id, json_true());
	return true;
}

void
model_marks_clear(struct model_marks *m)
{
	json_object_clear(m->set);
}

size_t
model_marks_count(const struct model_marks *m)
{
	return json_object_size(m->set);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *
model_marks_ids(const struct model_marks *m)
{
	const char	**keys, *k;
	json_t		 *v, *out = json_array();
	size_t		  n = 0, i;

	keys = xreallocarray(NULL, json_object_size(m->set) + 1,
	    sizeof *keys);
	json_object_foreach(m->set, k, v)
		keys[n++] = k;
	qsort(keys, n, sizeof *keys, str_cmp);
	for (i = 0; i < n; i++)
		json_array_append_new(out, json_string(keys[i]));
	free(keys);
	return out;
}

/* --- messages per minute ------------------------------------------------ */

void
model_rate_init(struct model_rate *r)
{
	size_t	i;

	memset(r, 0, sizeof *r);
	for (i = 0; i < MODEL_RATE_SECONDS; i++)
		r->sec[i] = -1;
}

void
model_rate_add(struct model_rate *r, int64_t now_s, bool outbound)
{
	size_t	i = (size_t)(now_s % MODEL_RATE_SECONDS);

	if (r->sec[i] != now_s) {
		r->sec[i] = now_s;
		r->in[i] = r->out[i] = 0;
	}
	if (outbound)
		r->out[i]++;
	else
		r->in[i]++;
}

void
model_rate_sum(const struct model_rate *r, int64_t now_s, uint32_t *in,
    uint32_t *out)
{
	size_t	i;

	*in = *out = 0;
	for (i = 0; i < MODEL_RATE_SECONDS; i++) {
		if (r->sec[i] < 0 || r->sec[i] <= now_s - MODEL_RATE_SECONDS ||
		    r->sec[i] > now_s)
			continue;
		*in += r->in[i];
		*out += r->out[i];
	}
}

/* --- counts per key ----------------------------------------------------- */

void
model_agg_init(struct model_agg *a)
{
	memset(a, 0, sizeof *a);
}

void
model_agg_clear(struct model_agg *a)
{
	size_t	i;

	for (i = 0; i < a->nslots; i++) {
		if (a->slots[i] != NULL) {
			free(a->slots[i]->key);
			free(a->slots[i]);
		}
	}
	free(a->slots);
	free(a->sorted);
	memset(a, 0, sizeof *a);
}

void
model_agg_free(struct model_agg *a)
{
	model_agg_clear(a);
}

static uint64_t
agg_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static struct model_agg_row **
agg_slot(struct model_agg_row **slots, size_t nslots, const char *key)
{
	size_t	i = (size_t)(agg_hash(key) & (nslots - 1));

	while (slots[i] != NULL && strcmp(slots[i]->key, key) != 0)
		i = (i + 1) & (nslots - 1);
	return &slots[i];
}

static void
agg_grow(struct model_agg *a)
{
	struct model_agg_row	**old = a->slots, **s;
	size_t			  oldn = a->nslots, i;

	a->nslots = oldn == 0 ? 256 : oldn * 2;
	a->slots = xcalloc(a->nslots, sizeof *a->slots);
	for (i = 0; i < oldn; i++) {
		if (old[i] == NULL)
			continue;
		s = agg_slot(a->slots, a->nslots, old[i]->key);
		*s = old[i];
	}
	free(old);
}

void
model_agg_add(struct model_agg *a, const char *key, const char *outcome,
    int64_t bytes, bool spam)
{
	struct model_agg_row	**s, *r;

	if (key == NULL || *key == '\0')
		key = "(none)";
	if (a->nslots == 0 || (a->nkeys + 1) * 10 > a->nslots * 7)
		agg_grow(a);
	s = agg_slot(a->slots, a->nslots, key);
	if (*s == NULL && a->nkeys >= MODEL_AGG_KEYS_MAX)
		s = agg_slot(a->slots, a->nslots, key = "(other)");
	if ((r = *s) == NULL) {
		r = *s = xcalloc(1, sizeof *r);
		r->key = xstrdup(key);
		a->nkeys++;
	}
	r->n[MODEL_AGG_TOTAL]++;
	if (strcmp(outcome, "relayed") == 0)
		r->n[MODEL_AGG_RELAYED]++;
	else if (strcmp(outcome, "quarantined") == 0)
		r->n[MODEL_AGG_QUARANTINED]++;
	else if (strcmp(outcome, "blocked") == 0 ||
	    strcmp(outcome, "rejected") == 0)
		r->n[MODEL_AGG_BLOCKED]++;
	else if (strcmp(outcome, "tempfailed") == 0)
		r->n[MODEL_AGG_TEMPFAILED]++;
	if (spam)
		r->n[MODEL_AGG_SPAM]++;
	r->bytes += bytes > 0 ? bytes : 0;
	a->dirty = true;
}

static int
agg_cmp(const void *a, const void *b)
{
	const struct model_agg_row	*x = *(const struct model_agg_row *const *)a;
	const struct model_agg_row	*y = *(const struct model_agg_row *const *)b;

	if (x->n[MODEL_AGG_TOTAL] != y->n[MODEL_AGG_TOTAL])
		return x->n[MODEL_AGG_TOTAL] > y->n[MODEL_AGG_TOTAL] ? -1 : 1;
	return strcmp(x->key, y->key);
}

size_t
model_agg_sort(struct model_agg *a, struct model_agg_row ***rows)
{
	size_t	i, n = 0;

	if (a->dirty || a->sorted == NULL) {
		free(a->sorted);
		a->sorted = xreallocarray(NULL, a->nkeys + 1,
		    sizeof *a->sorted);
		for (i = 0; i < a->nslots; i++) {
			if (a->slots[i] != NULL)
				a->sorted[n++] = a->slots[i];
		}
		qsort(a->sorted, n, sizeof *a->sorted, agg_cmp);
		a->nsorted = n;
		a->dirty = false;
	}
	*rows = a->sorted;
	return a->nsorted;
}

/* --- one-line editor ---------------------------------------------------- */

void
model_line_set(struct model_line *l, const char *s)
{
	mbstate_t	st;
	wchar_t		wc;
	size_t		n;

	memset(&st, 0, sizeof st);
	l->len = l->cur = 0;
	while (s != NULL && *s != '\0' && l->len < MODEL_LINE_MAX) {
		n = mbrtowc(&wc, s, strlen(s), &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0)
			break;
		l->buf[l->len++] = wc;
		s += n;
	}
	l->cur = l->len;
	l->buf[l->len] = L'\0';
}

bool
model_line_insert(struct model_line *l, wchar_t wc)
{
	if (l->len >= MODEL_LINE_MAX || wc < 0x20 || wc == 0x7f ||
	    (wc >= 0x80 && wc < 0xa0))
		return false;
	memmove(l->buf + l->cur + 1, l->buf + l->cur,
	    (l->len - l->cur) * sizeof l->buf[0]);
	l->buf[l->cur++] = wc;
	l->buf[++l->len] = L'\0';
	return true;
}

static void
line_delete(struct model_line *l, size_t from, size_t to)
{
	memmove(l->buf + from, l->buf + to, (l->len - to) * sizeof l->buf[0]);
	l->len -= to - from;
	l->buf[l->len] = L'\0';
	if (l->cur > to)
		l->cur -= to - from;
	else if (l->cur > from)
		l->cur = from;
}

bool
model_line_edit(struct model_line *l, enum model_line_key k)
{
	size_t	w;

	switch (k) {
	case MODEL_LINE_LEFT:
		if (l->cur > 0)
			l->cur--;
		return false;
	case MODEL_LINE_RIGHT:
		if (l->cur < l->len)
			l->cur++;
		return false;
	case MODEL_LINE_HOME:
		l->cur = 0;
		return false;
	case MODEL_LINE_END:
		l->cur = l->len;
		return false;
	case MODEL_LINE_BACKSPACE:
		if (l->cur == 0)
			return false;
		line_delete(l, l->cur - 1, l->cur);
		return true;
	case MODEL_LINE_DELETE:
		if (l->cur == l->len)
			return false;
		line_delete(l, l->cur, l->cur + 1);
		return true;
	case MODEL_LINE_KILL:
		if (l->cur == 0)
			return false;
		line_delete(l, 0, l->cur);
		return true;
	case MODEL_LINE_WORD:
		if (l->cur == 0)
			return false;
		w = l->cur;
		while (w > 0 && l->buf[w - 1] == L' ')
			w--;
		while (w > 0 && l->buf[w - 1] != L' ')
			w--;
		line_delete(l, w, l->cur);
		return true;
	}
	return false;
}

void
model_line_utf8(const struct model_line *l, char *out, size_t len)
{
	size_t		i, o = 0;
	uint32_t	c;
	char		enc[4];
	size_t		n;

	if (len == 0)
		return;
	for (i = 0; i < l->len; i++) {
		c = (uint32_t)l->buf[i];
		if (c < 0x80) {
			enc[0] = (char)c;
			n = 1;
		} else if (c < 0x800) {
			enc[0] = (char)(0xc0 | (c >> 6));
			enc[1] = (char)(0x80 | (c & 0x3f));
			n = 2;
		} else if (c < 0x10000) {
			enc[0] = (char)(0xe0 | (c >> 12));
			enc[1] = (char)(0x80 | ((c >> 6) & 0x3f));
			enc[2] = (char)(0x80 | (c & 0x3f));
			n = 3;
		} else {
			enc[0] = (char)(0xf0 | (c >> 18));
			enc[1] = (char)(0x80 | ((c >> 12) & 0x3f));
			enc[2] = (char)(0x80 | ((c >> 6) & 0x3f));
			enc[3] = (char)(0x80 | (c & 0x3f));
			n = 4;
		}
		if (o + n + 1 > len)
			break;
		memcpy(out + o, enc, n);
		o += n;
	}
	out[o] = '\0';
}

int
model_line_cursor_col(const struct model_line *l)
{
	size_t	i;
	int	col = 0, w;

	for (i = 0; i < l->cur; i++) {
		w = ui_text_utf8() || l->buf[i] < 0x80 ? wcwidth(l->buf[i]) : 1;
		col += w < 0 ? 1 : w;
	}
	return col;
}

/* --- table columns ------------------------------------------------------ */

int
model_cols_layout(struct model_col *c, size_t n, int width)
{
	size_t	i, best, nact = 0;
	int	need = 0, spare, wsum = 0, add, used = 0;
	bool	grew;

	for (i = 0; i < n; i++) {
		c[i].width = c[i].min;
		need += c[i].min;
		nact++;
	}
	need += nact > 0 ? (int)nact - 1 : 0;
	/* Drop optional columns, highest drop number first. */
	while (need > width) {
		best = n;
		for (i = 0; i < n; i++) {
			if (c[i].width > 0 && c[i].drop > 0 &&
			    (best == n || c[i].drop >= c[best].drop))
				best = i;
		}
		if (best == n)
			break;
		need -= c[best].width + 1;
		c[best].width = 0;
	}
	/* Still too wide: take from the widest columns. */
	while (need > width) {
		best = n;
		for (i = 0; i < n; i++) {
			if (c[i].width > 1 && (best == n ||
			    c[i].width > c[best].width))
				best = i;
		}
		if (best == n)
			break;
		c[best].width--;
		need--;
	}
	spare = width - need;
	for (i = 0; i < n; i++) {
		if (c[i].width > 0)
			wsum += c[i].weight;
	}
	if (spare > 0 && wsum > 0) {
		int	pool = spare;

		for (i = 0; i < n; i++) {
			if (c[i].width == 0 || c[i].weight == 0)
				continue;
			add = pool * c[i].weight / wsum;
			if (c[i].max > 0 && c[i].width + add > c[i].max)
				add = c[i].max - c[i].width;
			if (add > spare)
				add = spare;
			c[i].width += add;
			spare -= add;
		}
		/* Rounding leftovers, one column at a time. */
		do {
			grew = false;
			for (i = 0; i < n && spare > 0; i++) {
				if (c[i].width == 0 || c[i].weight == 0 ||
				    (c[i].max > 0 && c[i].width >= c[i].max))
					continue;
				c[i].width++;
				spare--;
				grew = true;
			}
		} while (grew && spare > 0);
	}
	nact = 0;
	for (i = 0; i < n; i++) {
		if (c[i].width > 0) {
			used += c[i].width;
			nact++;
		}
	}
	return used + (nact > 0 ? (int)nact - 1 : 0);
}

/* --- records and statistics -------------------------------------------- */

const char *
model_str(const json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

const char *
model_str_any(const json_t *o, const char *const *keys)
{
	const char	*s;

	for (; *keys != NULL; keys++) {
		if ((s = json_string_value(json_object_get(o, *keys))) != NULL)
			return s;
	}
	return "";
}

int64_t
model_int(const json_t *o, const char *key, int64_t dflt)
{
	json_t	*v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return dflt;
}

bool
model_num(const json_t *o, const char *key, double *d)
{
	json_t	*v = json_object_get(o, key);

	if (!json_is_number(v))
		return false;
	*d = json_number_value(v);
	return true;
}

static void
cat(char *out, size_t len, size_t *o, const char *s)
{
	size_t	n = strlen(s);

	if (*o + n + 1 > len)
		n = len > *o + 1 ? len - *o - 1 : 0;
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = '\0';
}

void
model_rcpts(const json_t *rec, char *out, size_t len)
{
	static const char *const keys[] = { "rcpts", "rcpt", "recipients",
	    "to", NULL };
	const char *const	*k;
	json_t			*v, *e;
	const char		*s;
	size_t			 i, o = 0;

	if (len == 0)
		return;
	out[0] = '\0';
	for (k = keys; *k != NULL; k++) {
		v = json_object_get(rec, *k);
		if (json_is_string(v)) {
			cat(out, len, &o, json_string_value(v));
			return;
		}
		if (!json_is_array(v))
			continue;
		json_array_foreach(v, i, e) {
			s = json_is_string(e) ? json_string_value(e) :
			    model_str(e, "address");
			if (*s == '\0')
				s = model_str(e, "rcpt");

			if (o > 0)
				cat(out, len, &o, ", ");
			cat(out, len, &o, s);
		}
		return;
	}
}

void
model_domain(const char *addr, char *out, size_t len)
{
	const char	*at = strrchr(addr, '@');
	size_t		 i;

	if (len == 0)
		return;
	snprintf(out, len, "%s", at != NULL ? at + 1 : "");
	for (i = 0; out[i] != '\0'; i++) {
		if (out[i] == '>')
			out[i] = '\0';
		else
			out[i] = (char)tolower((unsigned char)out[i]);
		if (out[i] == '\0')
			break;
	}
}

bool
model_rec_matches(const json_t *rec, const char *filter)
{
	static const char *const fields[] = { "sender", "subject", "outcome",
	    "client_addr", "client_name", "queue_id", "helo", "message_id",
	    "direction", NULL };
	char		 rc[2048], term[MODEL_FILTER_MAX];
	const char	*p = filter, *e;
	size_t		 i, n;
	bool		 hit;

	if (rec == NULL)
		return false;
	if (filter == NULL || *filter == '\0')
		return true;
	model_rcpts(rec, rc, sizeof rc);
	/* Every word must be found in some field. */
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return true;
		e = strchr(p, ' ');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (n >= sizeof term)
			n = sizeof term - 1;
		memcpy(term, p, n);
		term[n] = '\0';
		hit = strcasestr(rc, term) != NULL;
		for (i = 0; !hit && fields[i] != NULL; i++)
			hit = strcasestr(model_str(rec, fields[i]), term) !=
			    NULL;
		if (!hit)
			return false;
		p += n;
	}
}

int64_t
model_hour_floor(int64_t ms)
{
	return ms - ((ms % 3600000) + 3600000) % 3600000;
}

void
model_hours_series(const json_t *stats, int64_t from_ms, size_t n,
    const char *field, const char *value, int64_t *out)
{
	json_t	*row;
	int64_t	 h, idx;
	size_t	 i;

	memset(out, 0, n * sizeof *out);
	json_array_foreach(json_object_get(stats, "hours"), i, row) {
		h = model_int(row, "hour", -1);
		if (h < from_ms)
			continue;
		idx = (h - from_ms) / 3600000;
		if (idx < 0 || (size_t)idx >= n)
			continue;
		if (field != NULL && strcmp(model_str(row, field), value) != 0)
			continue;
		out[idx] += model_int(row, "messages", 0);
	}
}
