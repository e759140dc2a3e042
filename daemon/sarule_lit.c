/*
 * Required literals of a Perl/PCRE2 pattern: a set of strings one of which
 * every match must contain. Hyperscan finds all rules' literals in one
 * pass over a message; a rule none of whose literals occur cannot match
 * and is not run. Compiling literals takes milliseconds where compiling
 * the full patterns takes Hyperscan minutes on SpamAssassin's rule set.
 *
 * The extraction is conservative: anything it does not understand makes
 * the pattern "unknown" (always run). Literals are matched without case,
 * a superset of both cased and /i patterns. Any thread.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sarule_int.h"
#include "xmalloc.h"

#define LIT_SET_MAX	64	/* alternatives kept per set */

struct lset {
	bool		 known;
	size_t		 n;
	struct sr_lit	*v;
};

struct lp {				/* the parser */
	const char	*p;
	bool		 giveup;	/* construct we cannot reason about */
	int		 depth;
};

static void
lset_free(struct lset *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].s);
	free(s->v);
	s->v = NULL;
	s->n = 0;
	s->known = false;
}

static size_t
lset_minlen(const struct lset *s)
{
	size_t	i, m = SIZE_MAX;

	for (i = 0; i < s->n; i++)
		if (s->v[i].len < m)
			m = s->v[i].len;
	return s->n ? m : 0;
}

/* Better: a longer shortest literal, then fewer alternatives. */
static bool
lset_better(const struct lset *a, const struct lset *b)
{
	size_t	ma, mb;

	if (!b->known)
		return a->known;
	if (!a->known)
		return false;
	ma = lset_minlen(a) > 8 ? 8 : lset_minlen(a);
	mb = lset_minlen(b) > 8 ? 8 : lset_minlen(b);
	if (ma != mb)
		return ma > mb;
	return a->n < b->n;
}

static void
lset_single(struct lset *s, const char *run, size_t len)
{
	s->known = true;
	s->n = 1;
	s->v = xcalloc(1, sizeof *s->v);
	if (len > SR_LIT_MAX)
		len = SR_LIT_MAX;
	s->v[0].s = xmalloc(len + 1);
	memcpy(s->v[0].s, run, len);
	s->v[0].s[len] = '\0';
	s->v[0].len = len;
}

/* Keep the better of best and cand; the other is freed. */
static void
consider(struct lset *best, struct lset *cand)
{
	if (lset_better(cand, best)) {
		lset_free(best);
		*best = *cand;
	} else
		lset_free(cand);
	memset(cand, 0, sizeof *cand);
}

static void
flush(struct lset *best, char *run, size_t *len)
{
	struct lset	c;

	if (*len == 0)
		return;
	memset(&c, 0, sizeof c);
	lset_single(&c, run, *len);
	consider(best, &c);
	*len = 0;
}

/* A quantifier after an atom: its minimum count, or 1 when none. */
static int
quantifier(struct lp *l, bool *single)
{
	const char	*p = l->p, *q;
	long		 lo, hi;
	char		*end;
	int		 min = 1;

	*single = true;
	switch (*p) {
	case '?':
	case '*':
		min = 0;
		*single = false;
		p++;
		break;
	case '+':
		*single = false;
		p++;
		break;
	case '{':
		if (!isdigit((unsigned char)p[1]))
			return 1;	/* a literal '{' */
		lo = strtol(p + 1, &end, 10);
		q = end;
		hi = lo;
		if (*q == ',') {
			q++;
			hi = isdigit((unsigned char)*q) ? strtol(q, &end, 10) :
			    -1;
			q = isdigit((unsigned char)*q) ? end : q;
		}
		if (*q != '}')
			return 1;	/* not a quantifier: literal '{' */
		p = q + 1;
		min = lo > 0 ? 1 : 0;
		*single = lo == 1 && hi == 1;
		break;
	default:
		return 1;
	}
	if (*p == '?' || *p == '+')
		p++;			/* lazy, possessive */
	l->p = p;
	return min;
}

enum atom {
	A_LIT,		/* one literal byte */
	A_ANY,		/* consumes, not literal */
	A_ZERO,		/* zero-width */
	A_GROUP,	/* a group: its set */
	A_END,
};

static void	parse_alt(struct lp *, struct lset *);

static void
skip_class(struct lp *l)
{
	const char	*p = l->p + 1;

	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p != '\0' && *p != ']') {
		if (*p == '\\' && p[1] != '\0')
			p += 2;
		else if (p[0] == '[' && p[1] == ':') {
			const char	*e = strstr(p + 2, ":]");

			p = e != NULL ? e + 2 : p + 1;
		} else
			p++;
	}
	if (*p == '\0')
		l->giveup = true;
	l->p = *p != '\0' ? p + 1 : p;
}

static int
hexval(int c)
{
	if (isdigit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* After '\\'. */
static enum atom
escape(struct lp *l, char *ch)
{
	const char	*p = l->p;
	int		 c = (unsigned char)*p, v = 0, i;

	if (c == '\0') {
		l->giveup = true;
		return A_END;
	}
	l->p = p + 1;
	switch (c) {
	case 't': *ch = '\t'; return A_LIT;
	case 'n': *ch = '\n'; return A_LIT;
	case 'r': *ch = '\r'; return A_LIT;
	case 'f': *ch = '\f'; return A_LIT;
	case 'e': *ch = 27; return A_LIT;
	case 'a': *ch = 7; return A_LIT;
	case 'b': case 'B': case 'A': case 'z': case 'Z': case 'G': case 'K':
		return A_ZERO;
	case 'x':
		if (p[1] == '{') {
			const char	*e = strchr(p + 2, '}');

			if (e == NULL) {
				l->giveup = true;
				return A_END;
			}
			for (i = 2; p + i < e; i++) {
				if (hexval((unsigned char)p[i]) < 0 ||
				    v > 0xff) {
					l->p = e + 1;
					return A_ANY;
				}
				v = v * 16 + hexval((unsigned char)p[i]);
			}
			l->p = e + 1;
		} else {
			for (i = 1; i <= 2 && hexval((unsigned char)p[i]) >= 0;
			    i++)
				v = v * 16 + hexval((unsigned char)p[i]);
			l->p = p + i;
		}
		if (v == 0 || v > 0xff)
			return A_ANY;
		*ch = (char)v;
		return A_LIT;
	case 'p': case 'P': case 'N': case 'g': case 'k': case 'o':
		/* \p{..}, \N{..}, \g{..}, \k<..>, \o{..}: skip the braces */
		if (p[1] == '{' || p[1] == '<' || p[1] == '\'') {
			const char	*e = strpbrk(p + 2, "}>'");

			l->p = e != NULL ? e + 1 : p + 1;
		} else if (c == 'p' || c == 'P' || c == 'g')
			l->p = p[1] != '\0' ? p + 2 : p + 1;
		return A_ANY;
	case 'Q': case 'E': case 'c':
		l->giveup = true;
		return A_END;
	default:
		if (isdigit(c)) {	/* \1 backreference, \012 octal */
			while (isdigit((unsigned char)*l->p))
				l->p++;
			return A_ANY;
		}
		if (isalnum(c))
			return A_ANY;	/* \d \w \s \h \v \R \X \C ... */
		*ch = (char)c;
		return A_LIT;
	}
}

/* After '(': the group's set (lookarounds and options are zero-width). */
static enum atom
group(struct lp *l, struct lset *out)
{
	const char	*p = l->p;
	bool		 zero = false;

	if (*p == '*') {
		l->giveup = true;	/* (*VERB) */
		return A_END;
	}
	if (*p == '?') {
		p++;
		if (*p == ':' || *p == '|' || *p == '>')
			p++;
		else if (*p == '=' || *p == '!') {
			p++;
			zero = true;
		} else if (*p == '<' && (p[1] == '=' || p[1] == '!')) {
			p += 2;
			zero = true;
		} else if (*p == '<' || *p == '\'' || (*p == 'P' &&
		    p[1] == '<')) {
			const char	*e = strpbrk(p, ">'");

			if (e == NULL) {
				l->giveup = true;
				return A_END;
			}
			p = e + 1;
		} else if (*p == '#') {
			const char	*e = strchr(p, ')');

			l->p = e != NULL ? e + 1 : p;
			return A_ZERO;
		} else {
			/* Options: (?i) (?i-s) (?^i) or (?i:...). */
			const char	*q = p;

			while (isalpha((unsigned char)*q) || *q == '-' ||
			    *q == '^') {
				if (*q == 'x')
					l->giveup = true;
				q++;
			}
			if (q == p && *q != ')') {
				l->giveup = true;	/* (?R) (?1) (?(..)) */
				return A_END;
			}
			if (*q == ')') {
				l->p = q + 1;
				return A_ZERO;
			}
			if (*q != ':') {
				l->giveup = true;
				return A_END;
			}
			p = q + 1;
		}
	}
	l->p = p;
	if (++l->depth > 200) {
		l->giveup = true;
		return A_END;
	}
	parse_alt(l, out);
	l->depth--;
	if (*l->p != ')') {
		l->giveup = true;
		return A_END;
	}
	l->p++;
	if (zero) {
		lset_free(out);
		return A_ZERO;
	}
	return A_GROUP;
}

static void
parse_seq(struct lp *l, struct lset *best)
{
	char		 run[SR_LIT_MAX], ch = 0;
	size_t		 len = 0;
	struct lset	 g;
	enum atom	 a;
	bool		 single;
	int		 min;

	memset(best, 0, sizeof *best);
	while (!l->giveup && *l->p != '\0' && *l->p != '|' && *l->p != ')') {
		memset(&g, 0, sizeof g);
		switch (*l->p) {
		case '\\':
			l->p++;
			a = escape(l, &ch);
			break;
		case '[':
			skip_class(l);
			a = A_ANY;
			break;
		case '.':
			l->p++;
			a = A_ANY;
			break;
		case '^':
		case '$':
			l->p++;
			a = A_ZERO;
			break;
		case '(':
			l->p++;
			a = group(l, &g);
			break;
		default:
			ch = *l->p++;
			a = A_LIT;
			break;
		}
		if (l->giveup || a == A_END) {
			lset_free(&g);
			break;
		}
		min = quantifier(l, &single);
		if (a == A_LIT && min > 0) {
			if (len < sizeof run)
				run[len++] = ch;
			if (!single)
				flush(best, run, &len);
			continue;
		}
		flush(best, run, &len);
		if (a == A_GROUP && min > 0 && g.known)
			consider(best, &g);
		else
			lset_free(&g);
	}
	flush(best, run, &len);
}

static void
parse_alt(struct lp *l, struct lset *out)
{
	struct lset	 b;
	size_t		 i;
	bool		 first = true;

	memset(out, 0, sizeof *out);
	for (;;) {
		parse_seq(l, &b);
		if (first) {
			*out = b;
			first = false;
		} else if (!out->known || !b.known ||
		    out->n + b.n > LIT_SET_MAX) {
			lset_free(out);
			lset_free(&b);
		} else {
			out->v = xreallocarray(out->v, out->n + b.n,
			    sizeof *out->v);
			for (i = 0; i < b.n; i++)
				out->v[out->n++] = b.v[i];
			free(b.v);
		}
		if (*l->p != '|' || l->giveup)
			break;
		l->p++;
	}
}

int
sr_lit_extract(const char *re, uint32_t opts, struct sr_lit **out,
    size_t *n)
{
	struct lp	l = { .p = re };
	struct lset	s;

	*out = NULL;
	*n = 0;
	if (opts & (PCRE2_EXTENDED | PCRE2_UTF))
		return -1;
	parse_alt(&l, &s);
	if (l.giveup || *l.p != '\0' || !s.known ||
	    lset_minlen(&s) < SR_LIT_MIN) {
		lset_free(&s);
		return -1;
	}
	*out = s.v;
	*n = s.n;
	return 0;
}

void
sr_lit_free(struct sr_lit *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i].s);
	free(v);
}
