/*
 * Running a compiled SpamAssassin-syntax rule set on a parsed message.
 * Any thread, many at once: the set is read-only, each thread has its own
 * PCRE2 match data, JIT stack and Hyperscan scratch (thread-local). The
 * message is seen as SpamAssassin sees it: header rules on decoded values
 * (all instances, each ending in "\n"), body rules on the rendered text
 * split in paragraphs with the subject first, rawbody on each decoded text
 * part, uri on each URL, full on the raw message. Hyperscan scans each
 * view once to tell which body/rawbody/uri/full rules may match; PCRE2
 * confirms those.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "msg.h"
#include "sarule_int.h"
#include "xmalloc.h"


/* --- per-thread state ---------------------------------------------------- */

static pthread_key_t		 tls_key;
static pthread_once_t		 tls_once = PTHREAD_ONCE_INIT;
static __thread struct sr_tls	*tls_cur;

static void
tls_destroy(void *p)
{
	struct sr_tls	*t = p;

	if (t == NULL)
		return;
	pcre2_match_data_free(t->md);
	pcre2_match_context_free(t->mctx);
	pcre2_jit_stack_free(t->jstack);
	hs_free_scratch(t->scratch);
	free(t);
}

static void
tls_key_init(void)
{
	if (pthread_key_create(&tls_key, tls_destroy) != 0)
		fatalx("sarule: pthread_key_create");
}

struct sr_tls *
sr_tls_get(void)
{
	struct sr_tls	*t;

	if (tls_cur != NULL)
		return tls_cur;
	(void)pthread_once(&tls_once, tls_key_init);
	t = xcalloc(1, sizeof *t);
	if ((t->md = pcre2_match_data_create(16, NULL)) == NULL ||
	    (t->mctx = pcre2_match_context_create(NULL)) == NULL)
		fatalx("sarule: out of memory");
	(void)pcre2_set_match_limit(t->mctx, SARULE_MATCH_LIMIT);
	(void)pcre2_set_depth_limit(t->mctx, SARULE_MATCH_LIMIT);
	t->jstack = pcre2_jit_stack_create(32 * 1024, SARULE_JIT_STACK_MAX,
	    NULL);
	if (t->jstack != NULL)
		pcre2_jit_stack_assign(t->mctx, NULL, t->jstack);
	(void)pthread_setspecific(tls_key, t);
	tls_cur = t;
	return t;
}

void
sarule_thread_cleanup(void)
{
	if (tls_cur == NULL)
		return;
	(void)pthread_setspecific(tls_key, NULL);
	tls_destroy(tls_cur);
	tls_cur = NULL;
}

/* --- Hyperscan ----------------------------------------------------------- */

struct litent {
	struct sr_lit	 lit;		/* lower case */
	int		 rule;
};

static int
litent_cmp(const void *a, const void *b)
{
	const struct litent	*x = a, *y = b;
	int			 c;

	if (x->lit.len != y->lit.len)
		return x->lit.len < y->lit.len ? -1 : 1;
	if ((c = memcmp(x->lit.s, y->lit.s, x->lit.len)) != 0)
		return c;
	return x->rule - y->rule;
}

/* One database of the required literals of a type's rules. */
static void
hs_kind(struct sarule_set *set, int k)
{
	struct sr_hsdb		*h = &set->hs[k];
	enum sr_type		 type = (enum sr_type)(SR_HS_FIRST + k);
	struct litent		*e = NULL;
	struct sr_lit		*v;
	hs_compile_error_t	*err = NULL;
	const char		**exprs;
	unsigned		*flags, *ids;
	size_t			*lens, ne = 0, cap = 0, i, j, nv, nl;

	for (i = 0; i < set->nrun[type]; i++) {
		int			 idx = set->run[type][i];
		const struct sr_rule	*r = &set->rules[idx];

		if (r->re == NULL || (r->flags & SRF_UTF) ||
		    sr_lit_extract(r->re_body, r->re_opts, &v, &nv) == -1)
			continue;	/* always confirmed with PCRE2 */
		for (j = 0; j < nv; j++) {
			if (ne == cap) {
				cap = cap ? cap * 2 : 256;
				e = xreallocarray(e, cap, sizeof *e);
			}
			for (nl = 0; nl < v[j].len; nl++)
				v[j].s[nl] = (char)tolower(
				    (unsigned char)v[j].s[nl]);
			e[ne].lit = v[j];
			e[ne++].rule = idx;
		}
		free(v);
		set->in_hs[idx] = 1;
	}
	if (ne == 0) {
		free(e);
		return;
	}
	qsort(e, ne, sizeof *e, litent_cmp);
	exprs = xcalloc(ne, sizeof *exprs);
	lens = xcalloc(ne, sizeof *lens);
	flags = xcalloc(ne, sizeof *flags);
	ids = xcalloc(ne, sizeof *ids);
	h->off = xcalloc(ne + 1, sizeof *h->off);
	h->rules = xcalloc(ne, sizeof *h->rules);
	for (i = 0, nl = 0; i < ne; i++) {
		if (nl == 0 || e[i].lit.len != lens[nl - 1] ||
		    memcmp(e[i].lit.s, exprs[nl - 1], e[i].lit.len) != 0) {
			h->off[nl] = (uint32_t)i;
			exprs[nl] = e[i].lit.s;
			lens[nl] = e[i].lit.len;
			flags[nl] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
			ids[nl] = (unsigned)nl;
			nl++;
		}
		h->rules[i] = e[i].rule;
	}
	h->off[nl] = (uint32_t)ne;
	h->nlits = nl;
	if (hs_compile_lit_multi(exprs, flags, ids, lens, (unsigned)nl,
	    HS_MODE_BLOCK, NULL, &h->db, &err) != HS_SUCCESS) {
		log_warnx("sarule: hyperscan: %s", err != NULL ?
		    err->message : "compile failed");
		hs_free_compile_error(err);
		h->db = NULL;
		for (i = 0; i < ne; i++)
			set->in_hs[e[i].rule] = 0;
	}
	for (i = 0; i < ne; i++)
		free(e[i].lit.s);
	free(e);
	free(exprs);
	free(lens);
	free(flags);
	free(ids);
}

int
sr_hs_build(struct sarule_set *set, char **cause)
{
	size_t	i;
	int	k;

	(void)cause;
	set->in_hs = xcalloc(set->nrules ? set->nrules : 1, 1);
	if (!set->opts.hyperscan)
		return 0;
	for (k = 0; k < SR_HS_KINDS; k++)
		hs_kind(set, k);
	for (i = 0; i < set->nrules; i++)
		if (set->in_hs[i])
			set->sum.prefiltered++;
	return 0;
}

struct hs_arg {
	struct sr_ctx		*c;
	const struct sr_hsdb	*h;
};

static int
hs_on_match(unsigned id, unsigned long long from, unsigned long long to,
    unsigned fl, void *arg)
{
	struct hs_arg	*a = arg;
	uint32_t	 j;

	(void)from;
	(void)to;
	(void)fl;
	for (j = a->h->off[id]; j < a->h->off[id + 1]; j++)
		a->c->cand[a->h->rules[j]] = 1;
	return 0;
}

static void
hs_prepare(struct sr_ctx *c)
{
	const struct sarule_set	*set = c->set;
	int			 k;

	if (c->tls->scratch_gen == set->gen)
		return;
	for (k = 0; k < SR_HS_KINDS; k++)
		if (set->hs[k].db != NULL &&
		    hs_alloc_scratch(set->hs[k].db, &c->tls->scratch) !=
		    HS_SUCCESS)
			fatalx("sarule: hs_alloc_scratch");
	c->tls->scratch_gen = set->gen;
}

static void
hs_run(struct sr_ctx *c, int k, const struct sr_span *v, size_t n)
{
	struct hs_arg	 a = { c, &c->set->hs[k] };
	size_t		 i;

	uint32_t	 j;
	hs_error_t	 rc;

	if (a.h->db == NULL)
		return;
	hs_prepare(c);
	for (i = 0; i < n; i++) {
		if (v[i].len == 0)
			continue;
		rc = v[i].len <= 0xffffffffu ? hs_scan(a.h->db, v[i].p,
		    (unsigned)v[i].len, 0, c->tls->scratch, hs_on_match, &a) :
		    HS_INVALID;
		if (rc != HS_SUCCESS) {
			/* Cannot tell: every rule of the database may match. */
			log_debug("sarule: hs_scan: error %d", rc);
			for (j = 0; j < a.h->off[a.h->nlits]; j++)
				c->cand[a.h->rules[j]] = 1;
			return;
		}
	}
}

/* --- headers ------------------------------------------------------------- */

const char *
sr_header_first(const struct msg *m, const char *name)
{
	size_t	i;

	for (i = 0; i < m->nheaders; i++)
		if (strcasecmp(m->headers[i].name, name) == 0)
			return m->headers[i].value != NULL ?
			    m->headers[i].value : "";
	return NULL;
}

/* A value as header rules see it: decoded ones trimmed, then "\n". */
static int
append_value(struct buf *b, const char *v, bool raw)
{
	const char	*e;

	if (v == NULL)
		v = "";
	if (!raw)
		while (isspace((unsigned char)*v))
			v++;
	e = v + strlen(v);
	if (!raw)
		while (e > v && isspace((unsigned char)e[-1]))
			e--;
	/* Folding leaves tabs; SpamAssassin sees a space. */
	while (v < e) {
		const char	*t = memchr(v, '\t', (size_t)(e - v));

		if (t == NULL)
			t = e;
		if (buf_append(b, v, (size_t)(t - v)) == -1 ||
		    (t < e && buf_append(b, " ", 1) == -1))
			return -1;
		v = t < e ? t + 1 : e;
	}
	return buf_append(b, "\n", 1);
}

char *
sr_header_values(const struct msg *m, const char *name, bool raw)
{
	struct buf	b;
	size_t		i;
	bool		found = false;

	buf_init(&b, SARULE_HEADER_MAX);
	for (i = 0; i < m->nheaders; i++) {
		if (strcasecmp(m->headers[i].name, name) != 0)
			continue;
		found = true;
		if (append_value(&b, raw ? m->headers[i].raw :
		    m->headers[i].value, raw) == -1)
			break;
	}
	if (!found) {
		buf_free(&b);
		return NULL;
	}
	if (b.data == NULL)
		return xstrdup("");
	return buf_steal(&b);
}

/*
 * Addresses of a header value: "Name <a@b>", "a@b (Name)", "a@b", in a
 * comma-separated list. cb gets each address and display name (either may
 * be empty).
 */
static void
addr_walk(const char *v, void (*cb)(void *, const char *, size_t,
    const char *, size_t), void *arg)
{
	const char	*p = v, *s, *lt, *gt, *e;
	int		 paren, quote;

	while (*p != '\0') {
		s = p;
		paren = quote = 0;
		lt = gt = NULL;
		for (; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0') {
				p++;
				continue;
			}
			if (*p == '"' && paren == 0)
				quote = !quote;
			else if (quote)
				continue;
			else if (*p == '(')
				paren++;
			else if (*p == ')' && paren > 0)
				paren--;
			else if (paren == 0 && *p == '<' && lt == NULL)
				lt = p;
			else if (paren == 0 && *p == '>' && lt != NULL &&
			    gt == NULL)
				gt = p;
			else if (paren == 0 && *p == ',' &&
			    (lt == NULL || gt != NULL))
				break;
		}
		e = p;
		if (*p == ',')
			p++;
		if (lt != NULL && gt != NULL) {
			const char	*ns = s, *ne = lt;

			while (ns < ne && (isspace((unsigned char)*ns) ||
			    *ns == '"'))
				ns++;
			while (ne > ns && (isspace((unsigned char)ne[-1]) ||
			    ne[-1] == '"'))
				ne--;
			cb(arg, lt + 1, (size_t)(gt - lt - 1), ns,
			    (size_t)(ne - ns));
		} else {
			const char	*as = s, *ae, *cs = NULL, *ce = NULL;

			while (as < e && isspace((unsigned char)*as))
				as++;
			for (ae = as; ae < e && *ae != '(' &&
			    !isspace((unsigned char)*ae); ae++)
				;
			if ((cs = memchr(as, '(', (size_t)(e - as))) != NULL &&
			    (ce = memchr(cs, ')', (size_t)(e - cs))) != NULL)
				cs++;
			else
				cs = ce = NULL;
			if (ae > as)
				cb(arg, as, (size_t)(ae - as), cs != NULL ?
				    cs : "", cs != NULL ? (size_t)(ce - cs) :
				    0);
		}
		(void)e;
	}
}

struct addr_out {
	struct buf	*b;
	bool		 name;
	int		 n;
};

static void
addr_collect(void *arg, const char *a, size_t alen, const char *nm,
    size_t nlen)
{
	struct addr_out	*o = arg;
	int		 rc = 0;

	if (o->name ? nlen == 0 : alen == 0)
		return;
	if (o->n++ > 0)
		rc = buf_append(o->b, "\n", 1);
	if (rc == 0)
		rc = o->name ? buf_append(o->b, nm, nlen) :
		    buf_append(o->b, a, alen);
	(void)rc;
}

struct addr_first {
	char		*out;
	size_t		 n;
	bool		 found;
};

static void
addr_first_cb(void *arg, const char *a, size_t alen, const char *nm,
    size_t nlen)
{
	struct addr_first	*o = arg;
	size_t			 i;

	(void)nm;
	(void)nlen;
	if (o->found || alen == 0 || alen >= o->n)
		return;
	for (i = 0; i < alen; i++)
		o->out[i] = (char)tolower((unsigned char)a[i]);
	o->out[alen] = '\0';
	o->found = true;
}

bool
sr_addr_first(const char *value, char *out, size_t n)
{
	struct addr_first	o = { .out = out, .n = n };

	if (value == NULL || n == 0)
		return false;
	addr_walk(value, addr_first_cb, &o);
	return o.found;
}

struct hlist {
	const char	**v;
	size_t		  n;
};

static void
hlist_add(struct hlist *l, const char *s)
{
	if (s == NULL)
		return;
	l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
	l->v[l->n++] = s;
}

static void
hlist_named(struct hlist *l, const struct msg *m, const char *name, bool raw)
{
	size_t	i;

	for (i = 0; i < m->nheaders; i++)
		if (strcasecmp(m->headers[i].name, name) == 0)
			hlist_add(l, raw ? m->headers[i].raw :
			    m->headers[i].value);
}

/* Build one header view (name + modifiers), NULL when absent. */
static char *
header_build(struct sr_ctx *c, const struct sr_hsrc *h)
{
	const struct msg	*m = c->msg;
	struct hlist		 l = { NULL, 0 };
	struct addr_out		 ao;
	struct buf		 b;
	bool			 raw = (h->hmod & SRH_RAW) != 0;
	size_t			 i, first = 0, last;
	int			 rc = 0;

	buf_init(&b, SARULE_HEADER_MAX);
	if (strcmp(h->name, "ALL") == 0) {
		for (i = 0; i < m->nheaders && rc == 0; i++) {
			const char	*v = raw ? m->headers[i].raw :
			    m->headers[i].value;

			rc = buf_appendf(&b, "%s: ", m->headers[i].name);
			if (rc == 0)
				rc = append_value(&b, v, false);
		}
		free(l.v);
		if (m->nheaders == 0) {
			buf_free(&b);
			return NULL;
		}
		return b.data != NULL ? buf_steal(&b) : xstrdup("");
	}
	if (strcasecmp(h->name, "ToCc") == 0) {
		hlist_named(&l, m, "To", raw);
		hlist_named(&l, m, "Cc", raw);
	} else if (strcmp(h->name, "MESSAGEID") == 0) {
		hlist_named(&l, m, "X-Message-Id", raw);
		hlist_named(&l, m, "Resent-Message-Id", raw);
		hlist_named(&l, m, "X-Original-Message-ID", raw);
		hlist_named(&l, m, "Message-Id", raw);
	} else if (strcasecmp(h->name, "EnvelopeFrom") == 0) {
		if (c->in->env_from != NULL)
			hlist_add(&l, c->in->env_from);
	} else
		hlist_named(&l, m, h->name, raw);
	if (l.n == 0) {
		buf_free(&b);
		return NULL;
	}
	last = l.n;
	if (h->hmod & SRH_FIRST)
		last = 1;
	else if (h->hmod & SRH_LAST)
		first = l.n - 1;
	if (h->hmod & (SRH_ADDR | SRH_NAME)) {
		ao.b = &b;
		ao.name = (h->hmod & SRH_ADDR) == 0;
		ao.n = 0;
		for (i = first; i < last; i++)
			addr_walk(l.v[i], addr_collect, &ao);
		free(l.v);
		if (ao.n == 0) {
			buf_free(&b);
			return NULL;
		}
		return b.data != NULL ? buf_steal(&b) : xstrdup("");
	}
	for (i = first; i < last && rc == 0; i++) {
		if (strcasecmp(h->name, "EnvelopeFrom") == 0)
			rc = buf_append(&b, l.v[i], strlen(l.v[i]));
		else
			rc = append_value(&b, l.v[i], raw);
	}
	free(l.v);
	return b.data != NULL ? buf_steal(&b) : xstrdup("");
}

static const char *
header_view(struct sr_ctx *c, int i)
{
	if (!c->hdone[i]) {
		c->hval[i] = header_build(c, &c->set->hsrcs[i]);
		c->hdone[i] = 1;
	}
	return c->hval[i];
}

/* --- body views ---------------------------------------------------------- */

static bool
is_leaf(const struct msg *m, size_t i, const uint8_t *parent)
{
	(void)m;
	return !parent[i];
}

static uint8_t *
parents(const struct msg *m)
{
	uint8_t	*p = xcalloc(m->nparts ? m->nparts : 1, 1);
	size_t	 i;

	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].parent >= 0 &&
		    (size_t)m->parts[i].parent < m->nparts)
			p[m->parts[i].parent] = 1;
	return p;
}

static bool
is_sp(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	    ch == '\f' || ch == '\v';
}

/*
 * SpamAssassin's whitespace rules: a run of white space holding two or
 * more newlines ends a paragraph, any other run of white space (also
 * U+00A0) is one space; each paragraph is one line.
 */
static size_t
render(const char *s, size_t len, char *out)
{
	size_t	i = 0, o = 0, j, last;
	int	nl;
	bool	sq = false;
	unsigned char ch;

	while (i < len) {
		ch = (unsigned char)s[i];
		if (ch == '\n') {
			for (j = i, nl = 0, last = i; j < len &&
			    is_sp((unsigned char)s[j]); j++)
				if (s[j] == '\n') {
					nl++;
					last = j;
				}
			if (nl >= 2) {
				out[o++] = '\n';
				sq = false;
				i = last + 1;
				continue;
			}
		}
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
		    ch == '\v' || (ch == 0xc2 && i + 1 < len &&
		    (unsigned char)s[i + 1] == 0xa0)) {
			if (!sq)
				out[o++] = ' ';
			sq = true;
			i += ch == 0xc2 ? 2 : 1;
			continue;
		}
		out[o++] = ch == '\f' ? '\n' : (char)ch;
		sq = false;
		i++;
	}
	return o;
}

static void
add_line(struct sr_ctx *c, const char *p, size_t len, size_t *cap)
{
	if (c->nlines == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		c->lines = xreallocarray(c->lines, *cap, sizeof *c->lines);
	}
	c->lines[c->nlines].p = p;
	c->lines[c->nlines].len = len;
	c->nlines++;
}

void
sr_ctx_body(struct sr_ctx *c)
{
	const struct msg	*m = c->msg;
	struct buf		 b;
	uint8_t			*par;
	size_t			 i, cap = 0, len, cut, k;
	const char		*p, *e, *nl;
	int			 rc;

	if (c->body_done)
		return;
	c->body_done = true;
	buf_init(&b, MSG_TEXT_MAX + 65536);
	rc = m->subject != NULL ? buf_appendf(&b, "%s\n", m->subject) :
	    buf_append(&b, "\n", 1);
	par = parents(m);
	for (i = 0; i < m->nparts && rc == 0; i++) {
		if (!is_leaf(m, i, par))
			continue;
		rc = buf_append(&b, "\n", 1);
		if (rc == 0 && m->parts[i].text != NULL)
			rc = buf_append(&b, m->parts[i].text,
			    m->parts[i].text_len);
	}
	free(par);
	c->body = xmalloc(b.len + 1);
	c->body_len = render(b.data != NULL ? b.data : "", b.len, c->body);
	c->body[c->body_len] = '\0';
	buf_free(&b);

	/* Lines, each with its "\n"; long ones cut at a space. */
	for (p = c->body, e = c->body + c->body_len; p < e; p += len) {
		nl = memchr(p, '\n', (size_t)(e - p));
		len = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(e - p);
		while (len > SARULE_BODY_LINE_MAX) {
			cut = 0;
			for (k = SARULE_BODY_LINE_MAX + 1; k-- > 0; )
				if (p[k] == ' ') {
					cut = k + 1;
					break;
				}
			if (cut == 0)
				cut = SARULE_BODY_LINE_MAX;
			add_line(c, p, cut, &cap);
			p += cut;
			len -= cut;
		}
		add_line(c, p, len, &cap);
	}
}

static void
ctx_rawbody(struct sr_ctx *c)
{
	const struct msg	*m = c->msg;
	uint8_t			*par;
	size_t			 i;

	if (c->raw_done)
		return;
	c->raw_done = true;
	c->raw = xcalloc(m->nparts ? m->nparts : 1, sizeof *c->raw);
	par = parents(m);
	for (i = 0; i < m->nparts; i++) {
		const struct msg_part	*pt = &m->parts[i];
		const char		*ct = pt->content_type;

		if (!is_leaf(m, i, par) || pt->data == NULL || ct == NULL ||
		    (strncmp(ct, "text/", 5) != 0 &&
		    strncmp(ct, "message/", 8) != 0) ||
		    strcmp(ct, "text/calendar") == 0)
			continue;
		c->raw[c->nraw].p = (const char *)pt->data;
		c->raw[c->nraw].len = pt->len > SARULE_RAWBODY_PART_MAX ?
		    SARULE_RAWBODY_PART_MAX : pt->len;
		c->nraw++;
	}
	free(par);
}

/* --- matching ------------------------------------------------------------ */

/* Matches of r in one subject, at most max (Perl's while (//g)). */
static unsigned
re_count(struct sr_ctx *c, const struct sr_rule *r, const char *p,
    size_t len, unsigned max)
{
	PCRE2_SIZE	 off = 0, *ov;
	unsigned	 n = 0;
	int		 rc;

	while (n < max && off <= len) {
		rc = pcre2_match(r->re, (PCRE2_SPTR)p, len, off, 0,
		    c->tls->md, c->tls->mctx);
		if (rc < 0) {
			if (rc != PCRE2_ERROR_NOMATCH)
				log_debug("sarule: %s: match error %d",
				    r->name, rc);
			break;
		}
		n++;
		ov = pcre2_get_ovector_pointer(c->tls->md);
		off = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
	}
	return n;
}

static unsigned
max_hits(const struct sr_rule *r)
{
	if (!(r->flags & SRF_MULTIPLE))
		return 1;
	return r->maxhits ? r->maxhits : SARULE_HITS_MAX;
}

static double
match_spans(struct sr_ctx *c, const struct sr_rule *r,
    const struct sr_span *v, size_t n)
{
	unsigned	max = max_hits(r), hits = 0;
	size_t		i;

	for (i = 0; i < n && hits < max; i++)
		hits += re_count(c, r, v[i].p, v[i].len, max - hits);
	return hits;
}

static double
run_header(struct sr_ctx *c, const struct sr_rule *r)
{
	const char	*v;
	unsigned	 n;

	v = header_view(c, r->hsrc);
	if (r->flags & SRF_EXISTS)
		return v != NULL;
	if (v == NULL)
		v = r->unset != NULL ? r->unset : "";
	n = re_count(c, r, v, strlen(v), max_hits(r));
	if (r->flags & SRF_NEG)
		return n == 0;
	return n;
}

static double
run_meta(struct sr_ctx *c, const struct sr_rule *r)
{
	double	st[SR_META_STACK_MAX], a, b;
	size_t	i;
	int	sp = 0;

	for (i = 0; i < r->nprog; i++) {
		const struct sr_op	*o = &r->prog[i];

		switch (o->op) {
		case OP_NUM:
			st[sp++] = o->num;
			continue;
		case OP_RULE:
			st[sp++] = c->values[o->rule];
			continue;
		case OP_NOT:
			st[sp - 1] = st[sp - 1] != 0 ? 0 : 1;
			continue;
		case OP_NEG:
			st[sp - 1] = -st[sp - 1];
			continue;
		default:
			break;
		}
		b = st[--sp];
		a = st[sp - 1];
		switch (o->op) {
		case OP_AND: a = a != 0 ? b : a; break;
		case OP_OR: a = a != 0 ? a : b; break;
		case OP_ADD: a = a + b; break;
		case OP_SUB: a = a - b; break;
		case OP_MUL: a = a * b; break;
		case OP_DIV: a = b != 0 ? a / b : 0; break;
		case OP_GT: a = a > b; break;
		case OP_GE: a = a >= b; break;
		case OP_LT: a = a < b; break;
		case OP_LE: a = a <= b; break;
		case OP_EQ: a = a == b; break;
		case OP_NE: a = a != b; break;
		}
		st[sp - 1] = a;
	}
	return sp == 1 ? st[0] : 0;
}

/* One pass over all body lines; false only when no line can match. */
static bool
joined_may_match(struct sr_ctx *c, const struct sr_rule *r)
{
	int	rc;

	rc = pcre2_match(r->re_ml, (PCRE2_SPTR)c->body, c->body_len, 0, 0,
	    c->tls->md, c->tls->mctx);
	return rc != PCRE2_ERROR_NOMATCH;
}

static struct sr_span *
uri_spans(const struct msg *m, size_t *n)
{
	struct sr_span	*v = xcalloc(m->nurls ? m->nurls : 1, sizeof *v);
	size_t		 i;

	*n = 0;
	for (i = 0; i < m->nurls; i++) {
		if (m->urls[i].url == NULL)
			continue;
		v[*n].p = m->urls[i].url;
		v[(*n)++].len = strlen(m->urls[i].url);
	}
	return v;
}

static void
run_type(struct sr_ctx *c, enum sr_type type, const struct sr_span *v,
    size_t n)
{
	const struct sarule_set	*set = c->set;
	size_t			 i;

	if (set->nrun[type] == 0)
		return;
	/* Body text is scanned joined, by the caller. */
	if (type == SR_RAWBODY || type == SR_URI || type == SR_FULL)
		hs_run(c, (int)type - SR_HS_FIRST, v, n);
	for (i = 0; i < set->nrun[type]; i++) {
		int			 idx = set->run[type][i];
		const struct sr_rule	*r = &set->rules[idx];
		double			 val;

		if (r->flags & SRF_EVAL)
			val = sr_fn_get(r->fn)->fn(c, &r->args);
		else if (type == SR_HEADER)
			val = run_header(c, r);
		else if (type == SR_META)
			val = run_meta(c, r);
		else if (set->in_hs[idx] && !c->cand[idx])
			val = 0;
		else if (type == SR_BODY && r->re_ml != NULL &&
		    !joined_may_match(c, r))
			val = 0;
		else
			val = match_spans(c, r, v, n);
		c->values[idx] = val;
	}
}

void
sarule_eval(const struct sarule_set *set, const struct sarule_input *in,
    struct sarule_result *res)
{
	struct sr_ctx		 c;
	struct sr_span		*uris, full;
	size_t			 nuris, i, n;

	memset(res, 0, sizeof *res);
	if (set == NULL || !set->compiled || in == NULL || in->msg == NULL)
		return;
	memset(&c, 0, sizeof c);
	c.set = set;
	c.in = in;
	c.msg = in->msg;
	c.now = in->now != 0 ? in->now : (int64_t)time(NULL);
	c.tls = sr_tls_get();
	c.values = xcalloc(set->nrules ? set->nrules : 1, sizeof *c.values);
	c.hval = xcalloc(set->nhsrcs ? set->nhsrcs : 1, sizeof *c.hval);
	c.hdone = xcalloc(set->nhsrcs ? set->nhsrcs : 1, 1);
	c.cand = xcalloc(set->nrules ? set->nrules : 1, 1);

	run_type(&c, SR_HEADER, NULL, 0);
	if (set->nrun[SR_BODY] > 0) {
		sr_ctx_body(&c);
		full.p = c.body;
		full.len = c.body_len;
		/* Hyperscan reads the joined lines once; PCRE2 each line. */
		hs_run(&c, SR_BODY - SR_HS_FIRST, &full, 1);
		run_type(&c, SR_BODY, c.lines, c.nlines);
	}
	if (set->nrun[SR_RAWBODY] > 0) {
		ctx_rawbody(&c);
		run_type(&c, SR_RAWBODY, c.raw, c.nraw);
	}
	if (set->nrun[SR_URI] > 0) {
		uris = uri_spans(c.msg, &nuris);
		run_type(&c, SR_URI, uris, nuris);
		free(uris);
	}
	if (set->nrun[SR_FULL] > 0 && c.msg->raw != NULL) {
		full.p = c.msg->raw;
		full.len = c.msg->raw_len > SARULE_FULL_MAX ?
		    SARULE_FULL_MAX : c.msg->raw_len;
		run_type(&c, SR_FULL, &full, 1);
	}
	run_type(&c, SR_META, NULL, 0);

	for (i = 0, n = 0; i < set->nrules; i++)
		if ((set->rules[i].flags & SRF_REPORT) && c.values[i] != 0)
			n++;
	res->hits = xcalloc(n ? n : 1, sizeof *res->hits);
	for (i = 0; i < set->nrules; i++) {
		const struct sr_rule	*r = &set->rules[i];
		struct sarule_hit	*h;

		if (!(r->flags & SRF_REPORT) || c.values[i] == 0)
			continue;
		h = &res->hits[res->nhits++];
		h->name = r->name;
		h->describe = r->describe;
		h->score = r->score;
		h->count = r->type == SR_META || c.values[i] < 1 ? 1 :
		    (unsigned)c.values[i];
		res->score += r->score;
	}
	res->values = c.values;
	res->nvalues = set->nrules;

	for (i = 0; i < set->nhsrcs; i++)
		free(c.hval[i]);
	free(c.hval);
	free(c.hdone);
	free(c.cand);
	free(c.body);
	free(c.lines);
	free(c.raw);
}

void
sarule_result_free(struct sarule_result *res)
{
	if (res == NULL)
		return;
	free(res->hits);
	free(res->values);
	memset(res, 0, sizeof *res);
}

double
sarule_result_value(const struct sarule_set *set,
    const struct sarule_result *res, const char *name)
{
	int	i = sarule_set_find(set, name);

	if (i == -1 || res->values == NULL || (size_t)i >= res->nvalues)
		return -1;
	return res->values[i];
}
