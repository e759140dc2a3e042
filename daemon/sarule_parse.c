/*
 * SpamAssassin rule files -> a compiled rule set (sarule.h). Runs on the
 * thread that builds the set: the loop thread at start and reload, or a
 * tool. Lines are read as SpamAssassin's Conf::Parser reads them: a
 * comment starts at an unescaped '#', "\#" is a literal '#', one
 * directive per line, lang lines are ignored, if/ifplugin/else/endif
 * nest per file. Problems never stop the parse: a rule that cannot be
 * read is "broken" (file:line), one we cannot run is "skipped" (reason).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "sarule_int.h"
#include "util.h"
#include "xmalloc.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define SR_RULE_NAME_MAX	128
#define SR_META_STACK_MAX	256

struct sr_file {
	struct sarule_set	*set;
	const char		*name;		/* interned */
	char			*dir;		/* owned: base for include */
	int			 line;
	int			 depth;		/* include depth */
	int			 nif;
	struct {
		bool		 skip;		/* skipping before this if */
		int		 line;
	}			 ifs[SARULE_IF_DEPTH];
	bool			 skip;		/* in a false block */
};

static void	parse_text(struct sr_file *, char *text);
static int	parse_path(struct sarule_set *, const char *path, int depth,
		    char **cause);

/* --- problems ------------------------------------------------------------ */

void
sr_problem_add(struct sarule_set *set, bool broken, const char *file,
    int line, const char *rule, const char *fmt, ...)
{
	struct sarule_summary	*s = &set->sum;
	struct sarule_problem	**v, *p;
	size_t			*n, *listed;
	va_list			 ap;

	v = broken ? &s->broken : &s->skipped;
	n = broken ? &s->nbroken : &s->nskipped;
	listed = broken ? &s->broken_listed : &s->skipped_listed;
	(*n)++;
	if (*listed >= SARULE_PROBLEMS_MAX)
		return;
	if (*listed == 0 || (*listed >= 8 && (*listed & (*listed - 1)) == 0))
		*v = xreallocarray(*v, *listed ? *listed * 2 : 8, sizeof **v);
	p = &(*v)[(*listed)++];
	xasprintf(&p->where, "%s:%d", file, line);
	p->rule = rule != NULL ? xstrdup(rule) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&p->reason, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
}

static void
line_broken(struct sr_file *f, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
line_broken(struct sr_file *f, const char *rule, const char *fmt, ...)
{
	va_list	 ap;
	char	*why;

	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	sr_problem_add(f->set, true, f->name, f->line, rule, "%s", why);
	free(why);
}

/* --- names --------------------------------------------------------------- */

static uint64_t
name_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void
map_insert(struct sr_map *m, const struct sr_rule *rules, int idx)
{
	size_t	i = name_hash(rules[idx].name) & (m->cap - 1);

	while (m->slots[i] != -1)
		i = (i + 1) & (m->cap - 1);
	m->slots[i] = idx;
}

static int
map_find(const struct sarule_set *set, const char *name)
{
	const struct sr_map	*m = &set->map;
	size_t			 i;

	if (m->cap == 0)
		return -1;
	i = name_hash(name) & (m->cap - 1);
	while (m->slots[i] != -1) {
		if (strcmp(set->rules[m->slots[i]].name, name) == 0)
			return m->slots[i];
		i = (i + 1) & (m->cap - 1);
	}
	return -1;
}

static void
map_grow(struct sarule_set *set)
{
	struct sr_map	*m = &set->map;
	size_t		 i;

	m->cap = m->cap ? m->cap * 2 : 1024;
	free(m->slots);
	m->slots = xreallocarray(NULL, m->cap, sizeof *m->slots);
	for (i = 0; i < m->cap; i++)
		m->slots[i] = -1;
	for (i = 0; i < set->nrules; i++)
		map_insert(m, set->rules, (int)i);
}

bool
sr_is_rule_name(const char *s)
{
	size_t	i;

	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (i = 1; s[i] != '\0'; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return i <= SR_RULE_NAME_MAX;
}

/* The rule called name, made (state SR_NONE) when new; NULL when the set
 * is full. */
static struct sr_rule *
rule_get(struct sarule_set *set, const char *name)
{
	struct sr_rule	*r;
	int		 i;

	if ((i = map_find(set, name)) != -1)
		return &set->rules[i];
	if (set->nrules >= SARULE_RULES_MAX)
		return NULL;
	if (set->nrules == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 256;
		set->rules = xreallocarray(set->rules, set->cap,
		    sizeof *set->rules);
	}
	r = &set->rules[set->nrules];
	memset(r, 0, sizeof *r);
	r->name = xstrdup(name);
	r->hsrc = -1;
	r->fn = -1;
	set->nrules++;
	if (set->nrules * 2 > set->map.cap)
		map_grow(set);
	else
		map_insert(&set->map, set->rules, (int)set->nrules - 1);
	return r;
}

static void
args_clear(struct sr_args *a)
{
	int	i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

/* Forget a rule's definition; its attributes (score, describe, tflags,
 * priority) stay, as in SpamAssassin. */
static void
def_clear(struct sr_rule *r)
{
	free(r->hdr);
	free(r->unset);
	free(r->re_body);
	if (r->re_ml != r->re)
		pcre2_code_free(r->re_ml);
	pcre2_code_free(r->re);
	args_clear(&r->args);
	free(r->meta);
	free(r->prog);
	free(r->why);
	r->hdr = r->unset = r->re_body = r->meta = r->why = NULL;
	r->re = r->re_ml = NULL;
	r->prog = NULL;
	r->nprog = 0;
	r->hmod = 0;
	r->hsrc = -1;
	r->fn = -1;
	r->re_opts = 0;
	r->flags &= SRF_MULTIPLE | SRF_NICE | SRF_NET | SRF_SCORE_REL;
	r->state = SR_NONE;
}

static void
rule_free(struct sr_rule *r)
{
	def_clear(r);
	free(r->name);
	free(r->describe);
}

static void
rule_skip(struct sr_rule *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
rule_skip(struct sr_rule *r, const char *fmt, ...)
{
	va_list	ap;

	free(r->why);
	va_start(ap, fmt);
	if (vasprintf(&r->why, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	r->state = SR_SKIPPED;
}

void
sr_rule_broken(struct sarule_set *set, struct sr_rule *r, const char *fmt, ...)
{
	va_list	ap;

	free(r->why);
	va_start(ap, fmt);
	if (vasprintf(&r->why, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	r->state = SR_BROKEN;
	sr_problem_add(set, true, r->file, r->line, r->name, "%s", r->why);
}

/* Start a new definition of name at the current line. */
static struct sr_rule *
define(struct sr_file *f, const char *name, enum sr_type type)
{
	struct sr_rule	*r;

	if (!sr_is_rule_name(name)) {
		line_broken(f, NULL, "invalid rule name '%s'", name);
		return NULL;
	}
	if ((r = rule_get(f->set, name)) == NULL) {
		line_broken(f, name, "too many rules (%d)", SARULE_RULES_MAX);
		return NULL;
	}
	def_clear(r);
	r->type = type;
	r->state = SR_OK;
	r->flags |= SRF_DEFINED;
	r->file = f->name;
	r->line = f->line;
	return r;
}

static const char *
intern_file(struct sarule_set *set, const char *name)
{
	size_t	i;

	for (i = 0; i < set->nfiles; i++)
		if (strcmp(set->files[i], name) == 0)
			return set->files[i];
	set->files = xreallocarray(set->files, set->nfiles + 1,
	    sizeof *set->files);
	set->files[set->nfiles] = xstrdup(name);
	return set->files[set->nfiles++];
}

/* --- regular expressions ------------------------------------------------- */

/*
 * Split a Perl regex literal the way SpamAssassin does: /re/mods,
 * m{re}mods (also () [] <>), or m and any other non-word delimiter.
 */
static int
re_split(const char *lit, char **body, char **mods, const char **err)
{
	const char	*s = lit, *end, *j;
	char		 close;
	size_t		 len;

	if (*s == '/') {
		close = '/';
		s++;
	} else if (*s == 'm' || (s[0] == 'q' && s[1] == 'r')) {
		s += *s == 'm' ? 1 : 2;
		switch (*s) {
		case '{': close = '}'; break;
		case '(': close = ')'; break;
		case '[': close = ']'; break;
		case '<': close = '>'; break;
		default:
			close = *s;
			if (close == '\0' || isalnum((unsigned char)close) ||
			    close == '_' || isspace((unsigned char)close)) {
				*err = "missing regexp delimiters";
				return -1;
			}
			if (close == '\\') {
				*err = "backslash delimiter not allowed";
				return -1;
			}
		}
		s++;
	} else {
		*err = "missing regexp delimiters";
		return -1;
	}
	end = s + strlen(s);
	j = end;
	while (j > s && islower((unsigned char)j[-1]) && j[-1] != 'e')
		j--;
	if (j == s || j[-1] != close) {
		*err = "invalid end delimiter/mods";
		return -1;
	}
	len = (size_t)(j - 1 - s);
	/* An unescaped delimiter inside (asymmetric delimiters only). */
	if (close != '}' && close != ')' && close != ']') {
		const char	*p;

		for (p = s; p < s + len; p++) {
			if (*p == '\\' && p + 1 < s + len) {
				p++;
				continue;
			}
			if (*p == close) {
				*err = "unquoted delimiter found";
				return -1;
			}
		}
	}
	*body = xstrndup(s, len);
	*mods = xstrdup(j);
	if (strstr(*body, "(?{") != NULL || strstr(*body, "(??{") != NULL) {
		free(*body);
		free(*mods);
		*err = "eval (?{}) found";
		return -1;
	}
	return 0;
}

static int
re_mods(const char *mods, uint32_t *opts, const char **err)
{
	const char	*m;

	*opts = 0;
	for (m = mods; *m != '\0'; m++) {
		switch (*m) {
		case 'i': *opts |= PCRE2_CASELESS; break;
		case 'm': *opts |= PCRE2_MULTILINE; break;
		case 's': *opts |= PCRE2_DOTALL; break;
		case 'x':
			if (*opts & PCRE2_EXTENDED)
				*opts |= PCRE2_EXTENDED_MORE;
			*opts |= PCRE2_EXTENDED;
			break;
		case 'n': *opts |= PCRE2_NO_AUTO_CAPTURE; break;
		case 'g': case 'o': case 'p': case 'a': case 'u': case 'l':
		case 'd':
			break;		/* no meaning for a match test */
		default:
			*err = "unknown regexp modifier";
			return -1;
		}
	}
	return 0;
}

/* Compile in byte mode, as Perl matches SpamAssassin's octets; a pattern
 * naming code points above 255 gets UTF mode on our UTF-8 text. */
pcre2_code *
sr_re_compile(const char *body, uint32_t opts, bool *utf, char **err)
{
	pcre2_code	*re;
	PCRE2_SIZE	 off;
	int		 ec;
	PCRE2_UCHAR	 msg[256];

	*utf = false;
	re = pcre2_compile((PCRE2_SPTR)body, PCRE2_ZERO_TERMINATED, opts,
	    &ec, &off, NULL);
	if (re == NULL && (ec == PCRE2_ERROR_CODE_POINT_TOO_BIG ||
	    ec == PCRE2_ERROR_BACKSLASH_U_CODE_POINT_TOO_BIG)) {
		re = pcre2_compile((PCRE2_SPTR)body, PCRE2_ZERO_TERMINATED,
		    opts | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &off,
		    NULL);
		*utf = re != NULL;
	}
	if (re == NULL) {
		if (pcre2_get_error_message(ec, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", ec);
		xasprintf(err, "PCRE2: %s at offset %zu", (char *)msg,
		    (size_t)off);
	}
	return re;
}

/* SpamAssassin 4 capture templates %{NAME} need rule-to-rule captures. */
static bool
has_capture_tag(const char *s)
{
	const char	*p;

	for (p = s; (p = strstr(p, "%{")) != NULL; p += 2)
		if (isupper((unsigned char)p[2]))
			return true;
	return false;
}

/* Parse a regex literal into rule r; false when the rule is skipped or
 * broken. */
static bool
rule_regex(struct sr_file *f, struct sr_rule *r, const char *lit)
{
	const char	*err = NULL;
	char		*body, *mods, *cerr;
	bool		 utf;

	if (re_split(lit, &body, &mods, &err) == -1) {
		sr_rule_broken(f->set, r, "%s: %s", err, lit);
		return false;
	}
	if (re_mods(mods, &r->re_opts, &err) == -1) {
		sr_rule_broken(f->set, r, "%s '%s'", err, mods);
		free(body);
		free(mods);
		return false;
	}
	free(mods);
	if (has_capture_tag(body)) {
		rule_skip(r, "capture templates %%{...} not supported");
		free(body);
		return false;
	}
	if ((r->re = sr_re_compile(body, r->re_opts, &utf, &cerr)) == NULL) {
		sr_rule_broken(f->set, r, "%s", cerr);
		free(cerr);
		free(body);
		return false;
	}
	if (utf)
		r->flags |= SRF_UTF;
	r->re_body = body;
	return true;
}

/* --- eval: calls --------------------------------------------------------- */

static int
eval_parse(const char *s, char **name, struct sr_args *a, const char **err)
{
	const char	*p = s, *start;
	char		 q;
	struct buf	 arg;
	int		 rc;

	a->n = 0;
	if (!(isalpha((unsigned char)*p) || *p == '_'))
		goto bad;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	*name = xstrndup(s, (size_t)(p - s));
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '(')
		goto badname;
	p++;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == ')' && a->n == 0)
			break;
		if (a->n >= SARULE_EVAL_ARGS_MAX) {
			*err = "too many eval arguments";
			goto fail;
		}
		buf_init(&arg, SARULE_LINE_MAX);
		if (*p == '\'' || *p == '"') {
			q = *p++;
			while (*p != '\0' && *p != q) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				rc = buf_append(&arg, p++, 1);
				(void)rc;
			}
			if (*p != q) {
				buf_free(&arg);
				*err = "unterminated string in eval arguments";
				goto fail;
			}
			p++;
		} else {
			start = p;
			while (*p != '\0' && *p != ',' && *p != ')')
				p++;
			while (p > start && isspace((unsigned char)p[-1]))
				p--;
			rc = buf_append(&arg, start, (size_t)(p - start));
			(void)rc;
		}
		a->v[a->n] = buf_steal(&arg);
		if (a->v[a->n] == NULL)
			a->v[a->n] = xstrdup("");
		a->num[a->n] = strtod(a->v[a->n], NULL);
		a->n++;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == ')')
			break;
		*err = "bad eval arguments";
		goto fail;
	}
	p++;
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '\0') {
		*err = "text after eval call";
		goto fail;
	}
	return 0;
bad:
	*err = "bad eval function name";
	*name = NULL;
	return -1;
badname:
	*err = "eval call without (arguments)";
fail:
	free(*name);
	*name = NULL;
	args_clear(a);
	return -1;
}

static void
rule_eval(struct sr_file *f, struct sr_rule *r, const char *call)
{
	const struct sr_fndef	*d;
	const char		*err = NULL, *why;
	char			*name;
	int			 fn;

	r->flags |= SRF_EVAL;
	if (eval_parse(call, &name, &r->args, &err) == -1) {
		sr_rule_broken(f->set, r, "%s: eval:%s", err, call);
		return;
	}
	if ((fn = sr_fn_find(name)) == -1) {
		rule_skip(r, "eval:%s() not implemented", name);
		free(name);
		return;
	}
	d = sr_fn_get(fn);
	if (r->args.n < d->minargs || r->args.n > d->maxargs) {
		sr_rule_broken(f->set, r, "eval:%s() takes %d to %d arguments",
		    name, d->minargs, d->maxargs);
		free(name);
		return;
	}
	if (d->check != NULL && (why = d->check(&r->args)) != NULL) {
		rule_skip(r, "eval:%s(): %s", name, why);
		free(name);
		return;
	}
	free(name);
	r->fn = fn;
}

/* --- directives ---------------------------------------------------------- */

/* Split "NAME rest": *rest points past the white space after NAME. */
static char *
split_name(char *value, char **rest)
{
	char	*p = value;

	while (*p != '\0' && !isspace((unsigned char)*p))
		p++;
	if (*p != '\0') {
		*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
	}
	*rest = p;
	return value;
}

static const char *const unsupported_headers[] = {
	"ALL-EXTERNAL", "ALL-INTERNAL", "ALL-TRUSTED", "ALL-UNTRUSTED",
	"X-Spam-Relays-External", "X-Spam-Relays-Internal",
	"X-Spam-Relays-Trusted", "X-Spam-Relays-Untrusted",
};

static bool
header_name_ok(const char *s, size_t len)
{
	size_t	i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' ||
		    s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

/* header NAME Header[:mod[:mod]] =~ /re/ [if-unset: X] | exists:Header |
 * eval:fn(...) */
static void
do_header(struct sr_file *f, char *value)
{
	struct sr_rule	*r;
	char		*name, *rest, *p, *h, *op, *pat, *u;
	size_t		 i, hlen;

	name = split_name(value, &rest);
	if ((r = define(f, name, SR_HEADER)) == NULL)
		return;
	if (strncmp(rest, "eval:", 5) == 0) {
		rule_eval(f, r, rest + 5);
		return;
	}
	if (strncmp(rest, "exists:", 7) == 0) {
		h = rest + 7;
		hlen = strlen(h);
		if (hlen > 0 && h[hlen - 1] == ':')
			hlen--;
		if (!header_name_ok(h, hlen)) {
			sr_rule_broken(f->set, r, "invalid header in exists:%s",
			    h);
			return;
		}
		r->hdr = xstrndup(h, hlen);
		r->flags |= SRF_EXISTS;
		return;
	}
	/* Header name, modifiers, operator. */
	h = rest;
	for (p = h; isalnum((unsigned char)*p) || *p == '_' || *p == '.' ||
	    *p == '-'; p++)
		;
	hlen = (size_t)(p - h);
	if (hlen == 0) {
		sr_rule_broken(f->set, r, "invalid header test: %s", rest);
		return;
	}
	while (*p == ':') {
		const char	*m = ++p;

		while (islower((unsigned char)*p))
			p++;
		if (p == m)
			continue;	/* "Header: =~" */
		if (strncmp(m, "raw", 3) == 0 && p - m == 3)
			r->hmod |= SRH_RAW;
		else if (strncmp(m, "addr", 4) == 0 && p - m == 4)
			r->hmod |= SRH_ADDR;
		else if (strncmp(m, "name", 4) == 0 && p - m == 4)
			r->hmod |= SRH_NAME;
		else if (strncmp(m, "first", 5) == 0 && p - m == 5)
			r->hmod |= SRH_FIRST;
		else if (strncmp(m, "last", 4) == 0 && p - m == 4)
			r->hmod |= SRH_LAST;
		else if ((p - m == 4 && (strncmp(m, "host", 4) == 0)) ||
		    (p - m == 6 && strncmp(m, "domain", 6) == 0) ||
		    (p - m == 2 && strncmp(m, "ip", 2) == 0) ||
		    (p - m == 5 && strncmp(m, "revip", 5) == 0)) {
			rule_skip(r, "header modifier :%.*s not supported",
			    (int)(p - m), m);
			return;
		} else {
			sr_rule_broken(f->set, r,
			    "invalid header modifier :%.*s", (int)(p - m), m);
			return;
		}
	}
	while (isspace((unsigned char)*p))
		p++;
	op = p;
	if (!((op[0] == '=' || op[0] == '!') && op[1] == '~')) {
		sr_rule_broken(f->set, r, "invalid header test: %s", rest);
		return;
	}
	if (op[0] == '!')
		r->flags |= SRF_NEG;
	pat = op + 2;
	while (isspace((unsigned char)*pat))
		pat++;
	r->hdr = xstrndup(h, hlen);
	/* "pattern [if-unset: value]" */
	if ((u = strstr(pat, "[if-unset:")) != NULL &&
	    pat[strlen(pat) - 1] == ']' && u > pat &&
	    isspace((unsigned char)u[-1])) {
		char	*v = u + 10, *e = pat + strlen(pat) - 1;

		while (isspace((unsigned char)*v))
			v++;
		r->unset = xstrndup(v, (size_t)(e - v));
		for (u--; u > pat && isspace((unsigned char)u[-1]); u--)
			;
		*u = '\0';
	}
	for (i = 0; i < NITEMS(unsupported_headers); i++)
		if (strcasecmp(r->hdr, unsupported_headers[i]) == 0) {
			rule_skip(r, "pseudo-header %s not available",
			    unsupported_headers[i]);
			return;
		}
	rule_regex(f, r, pat);
}

static void
do_pattern(struct sr_file *f, char *value, enum sr_type type)
{
	struct sr_rule	*r;
	char		*name, *rest;

	name = split_name(value, &rest);
	if ((r = define(f, name, type)) == NULL)
		return;
	if (*rest == '\0') {
		sr_rule_broken(f->set, r, "missing pattern");
		return;
	}
	if (strncmp(rest, "eval:", 5) == 0) {
		rule_eval(f, r, rest + 5);
		return;
	}
	rule_regex(f, r, rest);
}

static void
do_body(struct sr_file *f, char *value)
{
	do_pattern(f, value, SR_BODY);
}

static void
do_rawbody(struct sr_file *f, char *value)
{
	do_pattern(f, value, SR_RAWBODY);
}

static void
do_uri(struct sr_file *f, char *value)
{
	do_pattern(f, value, SR_URI);
}

static void
do_full(struct sr_file *f, char *value)
{
	do_pattern(f, value, SR_FULL);
}

static void
do_meta(struct sr_file *f, char *value)
{
	struct sr_rule	*r;
	char		*name, *rest;

	name = split_name(value, &rest);
	if ((r = define(f, name, SR_META)) == NULL)
		return;
	if (*rest == '\0') {
		sr_rule_broken(f->set, r, "empty meta expression");
		return;
	}
	r->meta = xstrdup(rest);
}

/* Rules of plugins we do not have, outside an ifplugin block. */
static void
do_plugin_rule(struct sr_file *f, char *value, const char *directive)
{
	struct sr_rule	*r;
	char		*name, *rest;

	name = split_name(value, &rest);
	if ((r = define(f, name, SR_HEADER)) == NULL)
		return;
	rule_skip(r, "'%s' rules not supported", directive);
}

static struct sr_rule *
attr_rule(struct sr_file *f, char *value, char **rest, const char *what)
{
	struct sr_rule	*r;
	char		*name;

	name = split_name(value, rest);
	if (*name == '\0') {
		line_broken(f, NULL, "%s: missing rule name", what);
		return NULL;
	}
	if (!sr_is_rule_name(name)) {
		line_broken(f, NULL, "%s: invalid rule name '%s'", what, name);
		return NULL;
	}
	if ((r = rule_get(f->set, name)) == NULL)
		line_broken(f, name, "too many rules");
	return r;
}

static void
do_score(struct sr_file *f, char *value)
{
	struct sr_rule	*r;
	char		*rest, *tok, *end, *save = NULL;
	double		 v[SARULE_SCORE_SETS + 1];
	int		 n = 0, i;
	bool		 rel = false;

	if ((r = attr_rule(f, value, &rest, "score")) == NULL)
		return;
	for (tok = strtok_r(rest, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		size_t	len = strlen(tok);

		if (n > SARULE_SCORE_SETS)
			break;
		if (tok[0] == '(' && len > 2 && tok[len - 1] == ')') {
			tok[len - 1] = '\0';
			tok++;
			rel = true;
		}
		v[n] = strtod(tok, &end);
		if (*tok == '\0' || *end != '\0') {
			line_broken(f, r->name, "score: '%s' is not a number",
			    tok);
			return;
		}
		n++;
	}
	if (n != 1 && n != SARULE_SCORE_SETS) {
		line_broken(f, r->name, "score needs 1 or 4 values, not %d",
		    n);
		return;
	}
	for (i = 0; i < SARULE_SCORE_SETS; i++) {
		double	s = v[n == 1 ? 0 : i];

		r->scores[i] = rel && r->nscores ? r->scores[i] + s : s;
	}
	r->nscores = n;
	if (rel)
		r->flags |= SRF_SCORE_REL;
}

static void
do_describe(struct sr_file *f, char *value)
{
	struct sr_rule	*r;
	char		*rest;

	if ((r = attr_rule(f, value, &rest, "describe")) == NULL)
		return;
	free(r->describe);
	r->describe = xstrdup(rest);
}

static void
do_tflags(struct sr_file *f, char *value)
{
	struct sr_rule	*r;
	char		*rest, *tok, *save = NULL, *end;
	unsigned long	 n;

	if ((r = attr_rule(f, value, &rest, "tflags")) == NULL)
		return;
	r->flags &= ~(uint32_t)(SRF_MULTIPLE | SRF_NICE | SRF_NET);
	r->maxhits = 0;
	for (tok = strtok_r(rest, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (strcmp(tok, "multiple") == 0)
			r->flags |= SRF_MULTIPLE;
		else if (strcmp(tok, "nice") == 0)
			r->flags |= SRF_NICE;
		else if (strcmp(tok, "net") == 0)
			r->flags |= SRF_NET;
		else if (strncmp(tok, "maxhits=", 8) == 0) {
			errno = 0;
			n = strtoul(tok + 8, &end, 10);
			if (tok[8] == '\0' || *end != '\0' || errno != 0 ||
			    n == 0 || n > SARULE_HITS_MAX) {
				line_broken(f, r->name, "tflags: bad %s", tok);
				return;
			}
			r->maxhits = (unsigned)n;
		}
		/* learn, noautolearn, userconf, publish ...: no effect here */
	}
}

static void
do_priority(struct sr_file *f, char *value)
{
	struct sr_rule	*r;
	char		*rest, *end;
	long		 n;

	if ((r = attr_rule(f, value, &rest, "priority")) == NULL)
		return;
	errno = 0;
	n = strtol(rest, &end, 10);
	if (*rest == '\0' || *end != '\0' || errno != 0 || n < -100000 ||
	    n > 100000) {
		line_broken(f, r->name, "priority: '%s' is not a number", rest);
		return;
	}
	r->priority = (int)n;
}

static void
do_include(struct sr_file *f, char *value)
{
	char	*path, *cause = NULL;

	if (*value == '\0') {
		line_broken(f, NULL, "include: missing file");
		return;
	}
	if (value[0] == '/')
		path = xstrdup(value);
	else
		xasprintf(&path, "%s/%s", f->dir, value);
	if (f->depth + 1 > SARULE_INCLUDE_DEPTH)
		line_broken(f, NULL, "include: nested deeper than %d",
		    SARULE_INCLUDE_DEPTH);
	else if (parse_path(f->set, path, f->depth + 1, &cause) == -1) {
		line_broken(f, NULL, "include: %s", cause);
		free(cause);
	}
	free(path);
}

static void
do_ignore(struct sr_file *f, char *value)
{
	(void)f;
	(void)value;
}

struct directive {
	const char	*name;
	void		(*fn)(struct sr_file *, char *);
};

/* Sorted by name (bsearch). */
static const struct directive directives[] = {
	{ "body",	do_body },
	{ "describe",	do_describe },
	{ "full",	do_full },
	{ "header",	do_header },
	{ "include",	do_include },
	{ "meta",	do_meta },
	{ "priority",	do_priority },
	{ "rawbody",	do_rawbody },
	{ "score",	do_score },
	{ "tflags",	do_tflags },
	{ "uri",	do_uri },
};

/* Directives of plugins we do not run that define rules. Sorted. */
static const char *const plugin_rules[] = {
	"askdns", "hashbl_acl", "mimeheader", "uri_detail", "uridnsbl",
	"uridnssub", "urirhsbl", "urirhssub",
};

/* SpamAssassin settings that mean nothing to Moat's engine. Sorted. */
static const char *const ignored[] = {
	"add_header", "all_spam_to", "allow_user_rules",
	"always_trust_envelope_sender", "body_part_scan_size",
	"dns_available", "enable_compat", "enlist_addrlist",
	"enlist_uri_host", "envelope_sender_header", "fold_headers",
	"internal_networks", "loadplugin", "lock_method",
	"mbox_format_from_regex", "more_spam_to", "msa_networks",
	"normalize_charset", "ok_languages", "ok_locales",
	"originating_ip_headers", "parse_dkim_uris",
	"rawbody_part_scan_size", "rbl_timeout", "redirector_pattern",
	"remove_header", "report", "require_version", "required_hits",
	"required_score", "reuse", "rewrite_header", "skip_rbl_checks",
	"subjprefix", "test", "time_limit", "trusted_networks", "tryplugin",
	"unsafe_report", "uri_host_lists", "use_auto_whitelist", "use_bayes",
	"use_bayes_rules", "use_learner", "version_tag",
};

/* Families of settings, by prefix. */
static const char *const ignored_prefixes[] = {
	"adsp_", "auto_welcomelist", "auto_whitelist", "bayes_",
	"blacklist_", "blocklist_", "clear_", "country_db", "dcc_",
	"def_welcomelist", "def_whitelist", "dkim_", "dmarc_", "dns_",
	"freemail_", "geodb_", "hashbl_", "pyzor_", "razor_", "replace_",
	"report_", "shortcircuit", "spamcop_", "spf_", "txrep_",
	"unblacklist", "unblocklist", "unwelcomelist", "unwhitelist",
	"uri_country", "uridnsbl_", "url_shortener", "user_scores_",
	"util_rb_", "welcomelist_", "whitelist_",
};

static int
directive_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct directive *)e)->name);
}

static int
str_cmp(const void *k, const void *e)
{
	return strcmp(k, *(const char *const *)e);
}

/* --- if / ifplugin ------------------------------------------------------- */

/* Plugins whose rules we can read (their eval: tests we lack are
 * skipped one by one); any other plugin is "not loaded". */
static const char *const plugins[] = {
	"Mail::SpamAssassin::Plugin::BodyEval",
	"Mail::SpamAssassin::Plugin::Check",
	"Mail::SpamAssassin::Plugin::HTMLEval",
	"Mail::SpamAssassin::Plugin::HeaderEval",
	"Mail::SpamAssassin::Plugin::MIMEEval",
	"Mail::SpamAssassin::Plugin::RelayEval",
	"Mail::SpamAssassin::Plugin::URIEval",
};

struct cond {
	const char	*s;
	struct sr_tok	 t;
	const char	*err;
};

static void
cond_next(struct cond *c)
{
	c->s = sr_lex(c->s, &c->t);
}

static double	cond_expr(struct cond *, int prec);

static double
cond_primary(struct cond *c)
{
	struct sr_tok	 name;
	char		 buf[256];
	double		 v;
	size_t		 i;

	if (sr_tok_is(&c->t, "!")) {
		cond_next(c);
		return cond_primary(c) != 0 ? 0 : 1;
	}
	if (sr_tok_is(&c->t, "-")) {
		cond_next(c);
		return -cond_primary(c);
	}
	if (sr_tok_is(&c->t, "(")) {
		cond_next(c);
		v = cond_expr(c, 0);
		if (!sr_tok_is(&c->t, ")"))
			c->err = "missing ')'";
		cond_next(c);
		return v;
	}
	if (c->t.kind == TK_NUM) {
		v = c->t.num;
		cond_next(c);
		return v;
	}
	if (c->t.kind != TK_NAME) {
		c->err = "unexpected token";
		cond_next(c);
		return 0;
	}
	name = c->t;
	cond_next(c);
	if (name.len == 7 && strncmp(name.p, "version", 7) == 0)
		return SARULE_SA_VERSION;
	if (name.len == 12 && strncmp(name.p, "perl_version", 12) == 0)
		return 5.036000;
	if (name.len == 16 && strncmp(name.p, "local_tests_only", 16) == 0)
		return 0;
	if (!sr_tok_is(&c->t, "(")) {
		c->err = "unknown name";
		return 0;
	}
	cond_next(c);
	if (c->t.kind != TK_NAME || c->t.len >= sizeof buf) {
		c->err = "bad argument";
		return 0;
	}
	snprintf(buf, sizeof buf, "%.*s", (int)c->t.len, c->t.p);
	cond_next(c);
	if (!sr_tok_is(&c->t, ")")) {
		c->err = "missing ')'";
		return 0;
	}
	cond_next(c);
	if (name.len == 6 && strncmp(name.p, "plugin", 6) == 0) {
		for (i = 0; i < NITEMS(plugins); i++)
			if (strcmp(buf, plugins[i]) == 0)
				return 1;
		return 0;
	}
	if ((name.len == 3 && strncmp(name.p, "can", 3) == 0) ||
	    (name.len == 3 && strncmp(name.p, "has", 3) == 0))
		return 0;	/* no SpamAssassin feature flags here */
	c->err = "unknown function";
	return 0;
}

static int
cond_prec(const struct sr_tok *t)
{
	if (sr_tok_is(t, "||"))
		return 1;
	if (sr_tok_is(t, "&&"))
		return 2;
	if (sr_tok_is(t, "==") || sr_tok_is(t, "!="))
		return 3;
	if (sr_tok_is(t, "<") || sr_tok_is(t, ">") || sr_tok_is(t, "<=") ||
	    sr_tok_is(t, ">="))
		return 4;
	if (sr_tok_is(t, "+") || sr_tok_is(t, "-"))
		return 5;
	if (sr_tok_is(t, "*") || sr_tok_is(t, "/"))
		return 6;
	return -1;
}

static double
cond_apply(const struct sr_tok *op, double a, double b)
{
	if (sr_tok_is(op, "||"))
		return a != 0 ? a : b;
	if (sr_tok_is(op, "&&"))
		return a != 0 ? b : a;
	if (sr_tok_is(op, "=="))
		return a == b;
	if (sr_tok_is(op, "!="))
		return a != b;
	if (sr_tok_is(op, "<"))
		return a < b;
	if (sr_tok_is(op, ">"))
		return a > b;
	if (sr_tok_is(op, "<="))
		return a <= b;
	if (sr_tok_is(op, ">="))
		return a >= b;
	if (sr_tok_is(op, "+"))
		return a + b;
	if (sr_tok_is(op, "-"))
		return a - b;
	if (sr_tok_is(op, "*"))
		return a * b;
	return b != 0 ? a / b : 0;
}

static double
cond_expr(struct cond *c, int min)
{
	struct sr_tok	 op;
	double		 a, b;
	int		 p;

	a = cond_primary(c);
	while (c->err == NULL && (p = cond_prec(&c->t)) >= min && p > 0) {
		op = c->t;
		cond_next(c);
		b = cond_expr(c, p + 1);
		a = cond_apply(&op, a, b);
	}
	return a;
}

static int
cond_eval(const char *s, bool *out, const char **err)
{
	struct cond	c = { .s = s };

	cond_next(&c);
	*out = cond_expr(&c, 0) != 0;
	if (c.err == NULL && c.t.kind != TK_END)
		c.err = "text after condition";
	if (c.err != NULL) {
		*err = c.err;
		return -1;
	}
	return 0;
}

static void
if_push(struct sr_file *f, const char *key, const char *cond)
{
	const char	*err = NULL;
	bool		 on;

	if (f->nif >= SARULE_IF_DEPTH) {
		line_broken(f, NULL, "%s: nested deeper than %d", key,
		    SARULE_IF_DEPTH);
		on = false;
	} else if (*cond == '\0') {
		line_broken(f, NULL, "%s: missing condition", key);
		on = false;
	} else if (cond_eval(cond, &on, &err) == -1) {
		line_broken(f, NULL, "%s: %s in '%s'", key, err, cond);
		on = false;
	}
	if (f->nif < SARULE_IF_DEPTH) {
		f->ifs[f->nif].skip = f->skip;
		f->ifs[f->nif].line = f->line;
		f->nif++;
	}
	if (!on)
		f->skip = true;
}

/* Handle the conditional directives; true when the line was one. */
static bool
conditional(struct sr_file *f, const char *key, char *value)
{
	char	*cond;

	if (strcmp(key, "ifplugin") == 0) {
		if (*value == '\0') {
			if_push(f, key, "");
			return true;
		}
		xasprintf(&cond, "plugin(%s)", value);
		if_push(f, key, cond);
		free(cond);
		return true;
	}
	if (strcmp(key, "if") == 0) {
		if_push(f, key, value);
		return true;
	}
	if (strcmp(key, "else") == 0) {
		if (f->nif == 0) {
			line_broken(f, NULL, "else without if");
			return true;
		}
		/* Stay off when an enclosing block is off. */
		f->skip = f->ifs[f->nif - 1].skip ? true : !f->skip;
		return true;
	}
	if (strcmp(key, "endif") == 0) {
		if (f->nif == 0) {
			line_broken(f, NULL, "endif without if");
			return true;
		}
		f->skip = f->ifs[--f->nif].skip;
		return true;
	}
	return false;
}

/* --- lines --------------------------------------------------------------- */

static bool
is_plugin_rule(const char *key)
{
	return bsearch(key, plugin_rules, NITEMS(plugin_rules),
	    sizeof plugin_rules[0], str_cmp) != NULL ||
	    strncmp(key, "hashbl_", 7) == 0;
}

/* A rule named in a block that is off: metas may still name it. */
static void
note_inactive(struct sr_file *f, const char *key, char *value)
{
	static const char *const defining[] = {
		"body", "full", "header", "meta", "rawbody", "uri",
	};
	struct sr_rule	*r;
	char		*rest, *name;

	if (bsearch(key, defining, NITEMS(defining), sizeof defining[0],
	    str_cmp) == NULL && !is_plugin_rule(key))
		return;
	name = split_name(value, &rest);
	if (!sr_is_rule_name(name) || (r = rule_get(f->set, name)) == NULL)
		return;
	if (r->state == SR_NONE) {
		r->state = SR_INACTIVE;
		r->file = f->name;
		r->line = f->line;
	}
	r->flags |= SRF_DEFINED;
}

static bool
is_ignored(const char *key)
{
	size_t	i;

	if (bsearch(key, ignored, NITEMS(ignored), sizeof ignored[0],
	    str_cmp) != NULL)
		return true;
	for (i = 0; i < NITEMS(ignored_prefixes); i++)
		if (strncmp(key, ignored_prefixes[i],
		    strlen(ignored_prefixes[i])) == 0)
			return true;
	return false;
}

/* Strip a comment: from the first '#' not after a backslash; then "\#"
 * stands for '#'. */
static void
strip_comment(char *line)
{
	char	*p, *w;

	for (p = line; (p = strchr(p, '#')) != NULL; p++)
		if (p == line || p[-1] != '\\') {
			*p = '\0';
			break;
		}
	for (p = w = line; *p != '\0'; p++) {
		if (p[0] == '\\' && p[1] == '#')
			continue;
		*w++ = *p;
	}
	*w = '\0';
}

static void
parse_line(struct sr_file *f, char *line)
{
	const struct directive	*d;
	char			*key, *value, *p, *e;

	strip_comment(line);
	while (isspace((unsigned char)*line))
		line++;
	e = line + strlen(line);
	while (e > line && isspace((unsigned char)e[-1]))
		*--e = '\0';
	if (*line == '\0')
		return;
	key = line;
	for (p = line; *p != '\0' && !isspace((unsigned char)*p); p++) {
		*p = (char)tolower((unsigned char)*p);
		if (*p == '-')
			*p = '_';
	}
	if (*p != '\0') {
		*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
	}
	value = p;
	if (strcmp(key, "lang") == 0)
		return;			/* translations */
	if (conditional(f, key, value))
		return;
	if (f->skip) {
		note_inactive(f, key, value);
		return;
	}
	if ((d = bsearch(key, directives, NITEMS(directives),
	    sizeof directives[0], directive_cmp)) != NULL) {
		d->fn(f, value);
		return;
	}
	if (is_plugin_rule(key)) {
		do_plugin_rule(f, value, key);
		return;
	}
	if (is_ignored(key)) {
		do_ignore(f, value);
		return;
	}
	line_broken(f, NULL, "unknown directive '%s'", key);
}

static void
parse_text(struct sr_file *f, char *text)
{
	char	*line, *next;
	size_t	 len;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		f->line++;
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len > SARULE_LINE_MAX) {
			line_broken(f, NULL, "line longer than %d bytes",
			    SARULE_LINE_MAX);
			continue;
		}
		parse_line(f, line);
	}
	while (f->nif > 0) {
		f->nif--;
		sr_problem_add(f->set, true, f->name, f->ifs[f->nif].line, NULL,
		    "if without endif");
	}
}

static char *
read_file(const char *path, char **cause)
{
	struct stat	 st;
	char		*text;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > SARULE_FILE_MAX) {
		xasprintf(cause, "%s: %s", path, !S_ISREG(st.st_mode) ?
		    "not a regular file" : "too large");
		close(fd);
		return NULL;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		n = read(fd, text + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			xasprintf(cause, "%s: %s", path, n == 0 ?
			    "short read" : strerror(errno));
			free(text);
			close(fd);
			return NULL;
		}
		off += (size_t)n;
	}
	close(fd);
	text[off] = '\0';
	/* A NUL inside ends the text early: fine for rule files. */
	return text;
}

static void
parse_named(struct sarule_set *set, const char *name, const char *dir,
    char *text, int depth)
{
	struct sr_file	f;

	memset(&f, 0, sizeof f);
	f.set = set;
	f.name = intern_file(set, name);
	f.dir = xstrdup(dir);
	f.depth = depth;
	parse_text(&f, text);
	free(f.dir);
}

static int
parse_file(struct sarule_set *set, const char *path, int depth,
    char **cause)
{
	char	*text, *dir, *slash;

	if ((text = read_file(path, cause)) == NULL)
		return -1;
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else {
		free(dir);
		dir = xstrdup(".");
	}
	parse_named(set, path, dir, text, depth);
	free(dir);
	free(text);
	return 0;
}

static int
cf_filter(const struct dirent *d)
{
	size_t	len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 3 &&
	    strcmp(d->d_name + len - 3, ".cf") == 0;
}

static int
name_sort(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
parse_path(struct sarule_set *set, const char *path, int depth,
    char **cause)
{
	struct dirent	**list;
	struct stat	  st;
	char		 *file;
	int		  n, i, rc = 0;

	if (stat(path, &st) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return parse_file(set, path, depth, cause);
	if ((n = scandir(path, &list, cf_filter, name_sort)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (rc == 0 && i >= SARULE_DIR_FILES_MAX) {
			xasprintf(cause, "%s: more than %d rule files", path,
			    SARULE_DIR_FILES_MAX);
			rc = -1;
		}
		if (rc == 0) {
			xasprintf(&file, "%s/%s", path, list[i]->d_name);
			rc = parse_file(set, file, depth, cause);
			free(file);
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

/* --- the set ------------------------------------------------------------- */

struct sarule_set *
sarule_set_new(const struct sarule_opts *opts)
{
	struct sarule_set	*set;

	set = xcalloc(1, sizeof *set);
	if (opts != NULL)
		set->opts = *opts;
	if (set->opts.score_set < 0 ||
	    set->opts.score_set >= SARULE_SCORE_SETS)
		set->opts.score_set = 0;
	return set;
}

int
sarule_set_add_path(struct sarule_set *set, const char *path, char **cause)
{
	return parse_path(set, path, 0, cause);
}

void
sarule_set_add_text(struct sarule_set *set, const char *name,
    const char *text)
{
	char	*copy = xstrdup(text);

	parse_named(set, name, ".", copy, 0);
	free(copy);
}

static void
problems_free(struct sarule_problem *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(v[i].where);
		free(v[i].rule);
		free(v[i].reason);
	}
	free(v);
}

void
sarule_set_free(struct sarule_set *set)
{
	size_t	i;

	if (set == NULL)
		return;
	for (i = 0; i < set->nrules; i++)
		rule_free(&set->rules[i]);
	free(set->rules);
	free(set->map.slots);
	for (i = 0; i < set->nfiles; i++)
		free(set->files[i]);
	free(set->files);
	problems_free(set->sum.skipped, set->sum.skipped_listed);
	problems_free(set->sum.broken, set->sum.broken_listed);
	for (i = 0; i < SR_NTYPES; i++)
		free(set->run[i]);
	for (i = 0; i < set->nhsrcs; i++)
		free(set->hsrcs[i].name);
	free(set->hsrcs);
	for (i = 0; i < SR_HS_KINDS; i++) {
		hs_free_database(set->hs[i].db);
		free(set->hs[i].off);
		free(set->hs[i].rules);
	}
	free(set->in_hs);
	free(set);
}

const struct sarule_summary *
sarule_set_summary(const struct sarule_set *set)
{
	return &set->sum;
}

size_t
sarule_set_count(const struct sarule_set *set)
{
	return set->nrules;
}

int
sarule_set_find(const struct sarule_set *set, const char *name)
{
	return map_find(set, name);
}
