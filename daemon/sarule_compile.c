/*
 * Compiling a parsed rule set (sarule.h): metas to postfix programs in
 * dependency order, scores in the chosen score set, the rules each message
 * runs, header views, JIT and the Hyperscan literal databases. Also the
 * lexer metas and if conditions share. Runs on the thread that builds the
 * set.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sarule_int.h"
#include "util.h"
#include "xmalloc.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static atomic_uint_fast64_t	sr_gen;

/* --- the lexer ----------------------------------------------------------- */

/* The lexer shared by if conditions and metas (SpamAssassin's
 * ARITH_EXPRESSION_LEXER, with signs left to the parser). */
const char *
sr_lex(const char *s, struct sr_tok *t)
{
	static const char *const ops2[] = {
		"&&", "||", ">=", "<=", "==", "!=",
	};
	size_t	i;
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	t->p = s;
	t->len = 0;
	if (*s == '\0') {
		t->kind = TK_END;
		return s;
	}
	if (isdigit((unsigned char)*s) || (*s == '.' &&
	    isdigit((unsigned char)s[1]))) {
		t->num = strtod(s, &end);
		t->kind = TK_NUM;
		t->len = (size_t)(end - s);
		return end;
	}
	if (isalpha((unsigned char)*s) || *s == '_') {
		end = (char *)s;
		while (isalnum((unsigned char)*end) || *end == '_' ||
		    (*end == ':' && end[1] == ':' &&
		    (isalnum((unsigned char)end[2]) || end[2] == '_')))
			end += *end == ':' ? 2 : 1;
		t->kind = TK_NAME;
		t->len = (size_t)(end - s);
		return end;
	}
	for (i = 0; i < NITEMS(ops2); i++)
		if (strncmp(s, ops2[i], 2) == 0) {
			t->kind = TK_OP;
			t->len = 2;
			return s + 2;
		}
	if (strchr("()!<>+-*/^?:", *s) != NULL) {
		t->kind = TK_OP;
		t->len = 1;
		return s + 1;
	}
	t->kind = TK_BAD;
	t->len = 1;
	return s + 1;
}

bool
sr_tok_is(const struct sr_tok *t, const char *op)
{
	return (t->kind == TK_OP || t->kind == TK_NAME) &&
	    t->len == strlen(op) && strncmp(t->p, op, t->len) == 0;
}

/* --- compile: metas ------------------------------------------------------ */

struct mc {				/* meta compiler */
	struct sarule_set	*set;
	struct sr_rule		*r;
	const char		*s;
	struct sr_tok		 t;
	struct sr_op		*prog;
	size_t			 n, cap;
	int			 depth, maxdepth;
	int			 ntok;
	char			*err;		/* owned */
};

static void
mc_next(struct mc *c)
{
	c->s = sr_lex(c->s, &c->t);
	if (++c->ntok > SARULE_META_TOKENS_MAX && c->err == NULL)
		xasprintf(&c->err, "more than %d tokens",
		    SARULE_META_TOKENS_MAX);
}

static void
mc_emit(struct mc *c, int op, int rule, double num)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->prog = xreallocarray(c->prog, c->cap, sizeof *c->prog);
	}
	c->prog[c->n].op = op;
	c->prog[c->n].rule = rule;
	c->prog[c->n].num = num;
	c->n++;
	/* Track the stack depth the program needs. */
	if (op == OP_NUM || op == OP_RULE)
		c->depth++;
	else if (op != OP_NOT && op != OP_NEG)
		c->depth--;
	if (c->depth > c->maxdepth)
		c->maxdepth = c->depth;
}

static bool
glob_match(const char *g, const char *s)
{
	for (; *g != '\0'; g++, s++) {
		if (*g == '*') {
			for (g++; ; s++) {
				if (glob_match(g, s))
					return true;
				if (*s == '\0')
					return false;
			}
		}
		if (*s == '\0' || (*g != '?' && *g != *s))
			return false;
	}
	return *s == '\0';
}

/* rules_matching(GLOB): the sum of every defined rule the glob names. */
static void
mc_rules_matching(struct mc *c, const char *glob)
{
	size_t	i;
	int	n = 0;

	for (i = 0; i < c->set->nrules; i++) {
		const struct sr_rule	*o = &c->set->rules[i];

		if (o == c->r || o->state != SR_OK || !glob_match(glob,
		    o->name))
			continue;
		mc_emit(c, OP_RULE, (int)i, 0);
		if (n++ > 0)
			mc_emit(c, OP_ADD, -1, 0);
	}
	if (n == 0)
		mc_emit(c, OP_NUM, -1, 0);
}

static void	mc_expr(struct mc *, int min);

static void
mc_name(struct mc *c)
{
	char		 name[SR_RULE_NAME_MAX + 1], glob[SR_RULE_NAME_MAX + 1];
	const struct sr_rule *o;
	int		 i;

	if (c->t.len > SR_RULE_NAME_MAX) {
		xasprintf(&c->err, "name too long");
		return;
	}
	snprintf(name, sizeof name, "%.*s", (int)c->t.len, c->t.p);
	mc_next(c);
	if (strcmp(name, "rules_matching") == 0 && sr_tok_is(&c->t, "(")) {
		const char	*g = c->s;
		size_t		 len;

		while (isspace((unsigned char)*g))
			g++;
		for (len = 0; isalnum((unsigned char)g[len]) ||
		    g[len] == '_' || g[len] == '*' || g[len] == '?'; len++)
			;
		if (len == 0 || len > SR_RULE_NAME_MAX) {
			xasprintf(&c->err, "bad rules_matching() argument");
			return;
		}
		snprintf(glob, sizeof glob, "%.*s", (int)len, g);
		c->s = g + len;
		mc_next(c);
		if (!sr_tok_is(&c->t, ")")) {
			xasprintf(&c->err, "missing ')' after rules_matching");
			return;
		}
		mc_next(c);
		mc_rules_matching(c, glob);
		return;
	}
	if (strchr(name, ':') != NULL || !sr_is_rule_name(name)) {
		xasprintf(&c->err, "invalid token '%s'", name);
		return;
	}
	if ((i = sarule_set_find(c->set, name)) == -1 ||
	    !((o = &c->set->rules[i])->flags & SRF_DEFINED)) {
		xasprintf(&c->err, "unknown rule %s", name);
		return;
	}
	if (o->state == SR_OK)
		mc_emit(c, OP_RULE, i, 0);
	else
		mc_emit(c, OP_NUM, -1, 0);	/* skipped: never hits */
}

static void
mc_unary(struct mc *c)
{
	if (c->err != NULL)
		return;
	if (sr_tok_is(&c->t, "!")) {
		mc_next(c);
		mc_unary(c);
		mc_emit(c, OP_NOT, -1, 0);
	} else if (sr_tok_is(&c->t, "-")) {
		mc_next(c);
		mc_unary(c);
		mc_emit(c, OP_NEG, -1, 0);
	} else if (sr_tok_is(&c->t, "+")) {
		mc_next(c);
		mc_unary(c);
	} else if (sr_tok_is(&c->t, "(")) {
		mc_next(c);
		mc_expr(c, 0);
		if (c->err == NULL && !sr_tok_is(&c->t, ")"))
			xasprintf(&c->err, "missing ')'");
		mc_next(c);
	} else if (c->t.kind == TK_NUM) {
		mc_emit(c, OP_NUM, -1, c->t.num);
		mc_next(c);
	} else if (c->t.kind == TK_NAME) {
		mc_name(c);
	} else if (c->t.kind == TK_END) {
		xasprintf(&c->err, "unexpected end of expression");
	} else {
		xasprintf(&c->err, "unexpected '%.*s'", (int)c->t.len,
		    c->t.p);
	}
}

static int
mc_binop(const struct sr_tok *t, int *prec)
{
	static const struct {
		const char	*s;
		int		 op;
		int		 prec;
	} ops[] = {
		{ "||", OP_OR, 1 }, { "&&", OP_AND, 2 },
		{ "==", OP_EQ, 3 }, { "!=", OP_NE, 3 },
		{ "<", OP_LT, 4 }, { ">", OP_GT, 4 },
		{ "<=", OP_LE, 4 }, { ">=", OP_GE, 4 },
		{ "+", OP_ADD, 5 }, { "-", OP_SUB, 5 },
		{ "*", OP_MUL, 6 }, { "/", OP_DIV, 6 },
	};
	size_t	i;

	if (t->kind != TK_OP)
		return -1;
	for (i = 0; i < NITEMS(ops); i++)
		if (sr_tok_is(t, ops[i].s)) {
			*prec = ops[i].prec;
			return ops[i].op;
		}
	return -1;
}

static void
mc_expr(struct mc *c, int min)
{
	int	op, prec;

	mc_unary(c);
	while (c->err == NULL && (op = mc_binop(&c->t, &prec)) != -1 &&
	    prec >= min) {
		mc_next(c);
		mc_expr(c, prec + 1);
		mc_emit(c, op, -1, 0);
	}
}

static void
meta_compile(struct sarule_set *set, struct sr_rule *r)
{
	struct mc	c;

	memset(&c, 0, sizeof c);
	c.set = set;
	c.r = r;
	c.s = r->meta;
	mc_next(&c);
	mc_expr(&c, 0);
	if (c.err == NULL && c.t.kind == TK_BAD)
		xasprintf(&c.err, "unexpected '%.*s'", (int)c.t.len, c.t.p);
	if (c.err == NULL && c.t.kind != TK_END)
		xasprintf(&c.err, "unsupported or unexpected '%.*s'",
		    (int)c.t.len, c.t.p);
	if (c.err == NULL && c.maxdepth > SR_META_STACK_MAX)
		xasprintf(&c.err, "expression nested too deep");
	if (c.err != NULL) {
		sr_rule_broken(set, r, "meta: %s", c.err);
		free(c.err);
		free(c.prog);
		return;
	}
	r->prog = c.prog;
	r->nprog = c.n;
}

/* Depth-first topological order of the metas; a loop breaks its metas. */
static int
meta_visit(struct sarule_set *set, int i, uint8_t *mark, int *out,
    size_t *nout, int depth)
{
	struct sr_rule	*r = &set->rules[i];
	size_t		 k;

	if (mark[i] == 2)
		return 0;
	if (mark[i] == 1)
		return -1;
	if (depth > 1000) {
		sr_rule_broken(set, r, "meta: nested deeper than 1000");
		mark[i] = 2;
		return -1;
	}
	mark[i] = 1;
	for (k = 0; k < r->nprog; k++) {
		int	d = r->prog[k].rule;

		if (r->prog[k].op != OP_RULE ||
		    set->rules[d].type != SR_META ||
		    set->rules[d].state != SR_OK)
			continue;
		if (meta_visit(set, d, mark, out, nout, depth + 1) == -1) {
			mark[i] = 2;
			sr_rule_broken(set, r, "meta: dependency loop");
			return -1;
		}
	}
	mark[i] = 2;
	out[(*nout)++] = i;
	return 0;
}

/* --- compile ------------------------------------------------------------- */

static double
final_score(const struct sarule_set *set, const struct sr_rule *r)
{
	double	s;

	if (r->nscores > 0)
		return r->scores[set->opts.score_set];
	s = strncmp(r->name, "T_", 2) == 0 ? 0.01 : 1.0;
	return (r->flags & SRF_NICE) ? -s : s;
}

static int
run_cmp(const void *a, const void *b, void *arg)
{
	const struct sarule_set	*set = arg;
	const struct sr_rule	*x = &set->rules[*(const int *)a];
	const struct sr_rule	*y = &set->rules[*(const int *)b];

	if (x->type == SR_META)
		return x->order - y->order;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return *(const int *)a - *(const int *)b;
}

static int
header_source(struct sarule_set *set, const char *name, unsigned hmod)
{
	size_t	i;

	for (i = 0; i < set->nhsrcs; i++)
		/* Case matters: "ALL" and "MESSAGEID" are pseudo-headers. */
		if (set->hsrcs[i].hmod == hmod &&
		    strcmp(set->hsrcs[i].name, name) == 0)
			return (int)i;
	set->hsrcs = xreallocarray(set->hsrcs, set->nhsrcs + 1,
	    sizeof *set->hsrcs);
	set->hsrcs[set->nhsrcs].name = xstrdup(name);
	set->hsrcs[set->nhsrcs].hmod = hmod;
	return (int)set->nhsrcs++;
}

/*
 * Every match of a body rule in one line is also a match in the joined
 * lines when ^ and $ match at each line, unless the pattern anchors on
 * the subject's ends (\A \z \Z \G) or looks around negatively (the
 * neighbouring line may then refuse what the line's edge allowed).
 */
static void
body_joined(struct sr_rule *r)
{
	const char	*p;
	bool		 utf;
	char		*err = NULL;

	for (p = r->re_body; *p != '\0'; p++) {
		if (p[0] == '\\' && p[1] != '\0') {
			if (strchr("AzZG", p[1]) != NULL)
				return;
			p++;
		} else if (p[0] == '(' && p[1] == '?' && (p[2] == '!' ||
		    (p[2] == '<' && p[3] == '!')))
			return;
	}
	if (r->re_opts & PCRE2_MULTILINE) {
		r->re_ml = r->re;
		return;
	}
	r->re_ml = sr_re_compile(r->re_body, r->re_opts | PCRE2_MULTILINE |
	    ((r->flags & SRF_UTF) ? PCRE2_UTF | PCRE2_MATCH_INVALID_UTF : 0),
	    &utf, &err);
	free(err);
	if (r->re_ml != NULL)
		(void)pcre2_jit_compile(r->re_ml, PCRE2_JIT_COMPLETE);
}

int
sarule_set_compile(struct sarule_set *set, char **cause)
{
	struct sarule_summary	*s = &set->sum;
	struct sr_rule		*r;
	uint8_t			*mark;
	int			*topo;
	size_t			 i, k, ntopo = 0;
	uint64_t		 t0 = util_mono_ms();
	int			 t;

	if (set->compiled) {
		xasprintf(cause, "rule set compiled twice");
		return -1;
	}
	set->compiled = true;
	set->gen = atomic_fetch_add(&sr_gen, 1) + 1;

	/* Metas: expressions, then dependency order. */
	for (i = 0; i < set->nrules; i++) {
		r = &set->rules[i];
		if (r->type == SR_META && r->state == SR_OK)
			meta_compile(set, r);
	}
	mark = xcalloc(set->nrules ? set->nrules : 1, 1);
	topo = xcalloc(set->nrules ? set->nrules : 1, sizeof *topo);
	for (i = 0; i < set->nrules; i++) {
		r = &set->rules[i];
		if (r->type != SR_META || r->state != SR_OK || mark[i] == 2)
			continue;
		(void)meta_visit(set, (int)i, mark, topo, &ntopo, 0);
	}
	for (k = 0; k < ntopo; k++)
		set->rules[topo[k]].order = (int)k;

	/* Scores, then what must run: reported rules and what reported
	 * metas read, walking metas from the last to the first. */
	for (i = 0; i < set->nrules; i++) {
		r = &set->rules[i];
		r->score = final_score(set, r);
		if (r->state != SR_OK || r->score == 0)
			continue;
		s->loaded++;
		if (strncmp(r->name, "__", 2) != 0)
			r->flags |= SRF_REPORT | SRF_NEEDED;
	}
	for (k = ntopo; k-- > 0; ) {
		r = &set->rules[topo[k]];
		if (!(r->flags & SRF_NEEDED) || r->state != SR_OK)
			continue;
		for (i = 0; i < r->nprog; i++) {
			struct sr_rule	*d;

			if (r->prog[i].op != OP_RULE)
				continue;
			d = &set->rules[r->prog[i].rule];
			if (d->state == SR_OK && d->score != 0)
				d->flags |= SRF_NEEDED;
		}
	}
	free(mark);

	/* Loaded counts rules a score of 0 switched off as well. */
	for (i = 0; i < set->nrules; i++) {
		r = &set->rules[i];
		if (r->state == SR_OK && r->score == 0)
			s->loaded++;
		if (r->state == SR_SKIPPED)
			sr_problem_add(set, false, r->file, r->line, r->name,
			    "%s", r->why);
		if (r->state != SR_OK || !(r->flags & SRF_NEEDED))
			continue;
		s->active++;
		if (r->re != NULL)
			(void)pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE);
		if (r->type == SR_BODY && r->re != NULL)
			body_joined(r);
		if (r->type == SR_HEADER && !(r->flags & SRF_EVAL))
			r->hsrc = header_source(set, r->hdr, r->hmod);
		t = (int)r->type;
		set->run[t] = xreallocarray(set->run[t], set->nrun[t] + 1,
		    sizeof *set->run[t]);
		set->run[t][set->nrun[t]++] = (int)i;
	}
	free(topo);
	for (t = 0; t < SR_NTYPES; t++)
		if (set->nrun[t] > 1)
			qsort_r(set->run[t], set->nrun[t], sizeof(int),
			    run_cmp, set);
	if (sr_hs_build(set, cause) == -1)
		return -1;
	s->compile_ms = (uint32_t)(util_mono_ms() - t0);
	return 0;
}
