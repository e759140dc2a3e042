/*
 * Findings lists. A list belongs to one thread at a time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "finding.h"
#include "util.h"
#include "xmalloc.h"

void
findings_init(struct findings *f)
{
	memset(f, 0, sizeof *f);
}

void
findings_free(struct findings *f)
{
	size_t	i;

	for (i = 0; i < f->n; i++)
		free(f->v[i].detail);
	free(f->v);
	free(f->virus);
	memset(f, 0, sizeof *f);
}

void
findings_add(struct findings *f, const char *symbol, double score,
    const char *fmt, ...)
{
	struct finding	*x;
	va_list		 ap;
	char		 detail[FINDING_DETAIL_MAX * 2];

	f->score += score;
	if (f->n >= FINDINGS_MAX) {
		f->dropped++;
		return;
	}
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->v = xreallocarray(f->v, f->cap, sizeof *f->v);
	}
	x = &f->v[f->n++];
	snprintf(x->symbol, sizeof x->symbol, "%s", symbol);
	x->score = score;
	x->detail = NULL;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof detail, fmt, ap);
		va_end(ap);
		x->detail = util_sanitize(detail, strlen(detail),
		    FINDING_DETAIL_MAX);
	}
}

bool
findings_has(const struct findings *f, const char *symbol)
{
	size_t	i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].symbol, symbol) == 0)
			return true;
	return false;
}

json_t *
findings_to_json(const struct findings *f)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < f->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:f, s:s?}",
		    "symbol", f->v[i].symbol, "score", f->v[i].score,
		    "detail", f->v[i].detail));
	return a;
}

char *
findings_summary(const struct findings *f, size_t max)
{
	struct buf	b;
	size_t		i;

	buf_init(&b, max);
	for (i = 0; i < f->n; i++)
		if (buf_appendf(&b, "%s%s(%.2f)", i ? " " : "",
		    f->v[i].symbol, f->v[i].score) == -1)
			break;
	return buf_steal(&b);
}
