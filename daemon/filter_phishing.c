/*
 * Phishing heuristics (filter_phishing.h). init on the loop thread builds
 * the protected list; run on worker threads reads it and the message.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libconfig.h>

#include "cfg.h"
#include "filter_phishing.h"
#include "finding.h"
#include "msg.h"
#include "psl.h"
#include "scan.h"
#include "xmalloc.h"

#define PHISH_SCORES_MAX	16

struct phish_domain {
	char	*domain;		/* registrable, lower case */
	char	 label[PHISH_LABEL_MAX + 1];	/* its first label */
	char	 skel[PHISH_LABEL_MAX + 1];	/* ASCII skeleton of label */
	bool	 local;
};

struct phish_state {
	struct phish_domain	*prot;
	size_t			 nprot;
	struct {
		const char	*symbol;
		double		 score;
	} scores[PHISH_SCORES_MAX];
	size_t			 nscores;
};

static const struct {
	const char	*symbol;
	double		 score;
} phish_defaults[] = {
	{ "PHISH_LINK_MISMATCH", 1.5 },
	{ "PHISH_LINK_PROTECTED", 3.5 },
	{ "URI_IP", 1.0 },
	{ "PHISH_LOOKALIKE", 4.0 },
	{ "PHISH_FROM_LOOKALIKE", 4.0 },
	{ "PHISH_BRAND_SUBDOMAIN", 2.5 },
	{ "PHISH_PUNYCODE", 1.0 },
	{ "PHISH_DISPLAY_SPOOF", 3.0 },
	{ "PHISH_BRAND_DISPLAY", 2.0 },
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* --- punycode (RFC 3492) -------------------------------------------------- */

static unsigned
adapt(unsigned delta, unsigned npoints, bool first)
{
	unsigned	k = 0;

	delta = first ? delta / 700 : delta / 2;
	delta += delta / npoints;
	while (delta > ((36 - 1) * 26) / 2) {
		delta /= 36 - 1;
		k += 36;
	}
	return k + (36 * delta) / (delta + 38);
}

int
phish_punycode_decode(const char *in, size_t len, unsigned *out,
    size_t *outlen)
{
	unsigned	 n = 128, bias = 72, i = 0, oldi, w, k, t, digit;
	size_t		 b = 0, j, o = 0, max = *outlen, p;
	unsigned char	 c;

	for (j = 0; j < len; j++)
		if (in[j] == '-')
			b = j;
	for (j = 0; j < b; j++) {
		if ((unsigned char)in[j] >= 0x80 || o >= max)
			return -1;
		out[o++] = (unsigned char)tolower((unsigned char)in[j]);
	}
	for (p = b > 0 ? b + 1 : 0; p < len;) {
		oldi = i;
		for (w = 1, k = 36;; k += 36) {
			if (p >= len)
				return -1;
			c = (unsigned char)in[p++];
			if (c >= '0' && c <= '9')
				digit = c - '0' + 26;
			else if (c >= 'a' && c <= 'z')
				digit = c - 'a';
			else if (c >= 'A' && c <= 'Z')
				digit = c - 'A';
			else
				return -1;
			if (digit > (UINT32_MAX - i) / w)
				return -1;
			i += digit * w;
			t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
			if (digit < t)
				break;
			if (w > UINT32_MAX / (36 - t))
				return -1;
			w *= 36 - t;
		}
		bias = adapt(i - oldi, (unsigned)o + 1, oldi == 0);
		if (i / (o + 1) > UINT32_MAX - n)
			return -1;
		n += i / (unsigned)(o + 1);
		i %= (unsigned)(o + 1);
		if (o >= max || n > 0x10ffff)
			return -1;
		memmove(out + i + 1, out + i, (o - i) * sizeof *out);
		out[i++] = n;
		o++;
	}
	*outlen = o;
	return 0;
}

/* --- skeletons ------------------------------------------------------------ */

static const struct {
	unsigned	cp;
	char		ch;
} confusables[] = {
	{ 0x00e0, 'a' }, { 0x00e1, 'a' }, { 0x00e2, 'a' }, { 0x00e3, 'a' },
	{ 0x00e4, 'a' }, { 0x00e5, 'a' }, { 0x00e7, 'c' }, { 0x00e8, 'e' },
	{ 0x00e9, 'e' }, { 0x00ea, 'e' }, { 0x00eb, 'e' }, { 0x00ec, 'i' },
	{ 0x00ed, 'i' }, { 0x00ee, 'i' }, { 0x00ef, 'i' }, { 0x00f1, 'n' },
	{ 0x00f2, 'o' }, { 0x00f3, 'o' }, { 0x00f4, 'o' }, { 0x00f5, 'o' },
	{ 0x00f6, 'o' }, { 0x00f8, 'o' }, { 0x00f9, 'u' }, { 0x00fa, 'u' },
	{ 0x00fb, 'u' }, { 0x00fc, 'u' }, { 0x00fd, 'y' }, { 0x00ff, 'y' },
	{ 0x0101, 'a' }, { 0x0103, 'a' }, { 0x0105, 'a' }, { 0x0107, 'c' },
	{ 0x0109, 'c' }, { 0x010b, 'c' }, { 0x010d, 'c' }, { 0x010f, 'd' },
	{ 0x0111, 'd' }, { 0x0113, 'e' }, { 0x0117, 'e' }, { 0x0119, 'e' },
	{ 0x011b, 'e' }, { 0x011f, 'g' }, { 0x0123, 'g' }, { 0x012b, 'i' },
	{ 0x012f, 'i' }, { 0x0131, 'i' }, { 0x0137, 'k' }, { 0x013c, 'l' },
	{ 0x013e, 'l' }, { 0x0142, 'l' }, { 0x0144, 'n' }, { 0x0146, 'n' },
	{ 0x0148, 'n' }, { 0x014d, 'o' }, { 0x0151, 'o' }, { 0x0155, 'r' },
	{ 0x0159, 'r' }, { 0x015b, 's' }, { 0x015f, 's' }, { 0x0161, 's' },
	{ 0x0163, 't' }, { 0x0165, 't' }, { 0x016b, 'u' }, { 0x016f, 'u' },
	{ 0x0171, 'u' }, { 0x0173, 'u' }, { 0x017a, 'z' }, { 0x017c, 'z' },
	{ 0x017e, 'z' }, { 0x01c0, 'l' }, { 0x0237, 'j' }, { 0x0251, 'a' },
	{ 0x0261, 'g' }, { 0x0269, 'i' },
	{ 0x03b1, 'a' }, { 0x03b3, 'y' }, { 0x03b5, 'e' }, { 0x03b9, 'i' },
	{ 0x03ba, 'k' }, { 0x03bd, 'v' }, { 0x03bf, 'o' }, { 0x03c1, 'p' },
	{ 0x03c5, 'u' }, { 0x03c7, 'x' },
	{ 0x0430, 'a' }, { 0x0433, 'r' }, { 0x0435, 'e' }, { 0x043a, 'k' },
	{ 0x043e, 'o' }, { 0x0440, 'p' }, { 0x0441, 'c' }, { 0x0443, 'y' },
	{ 0x0445, 'x' }, { 0x0451, 'e' }, { 0x0455, 's' }, { 0x0456, 'i' },
	{ 0x0457, 'i' }, { 0x0458, 'j' }, { 0x04bb, 'h' }, { 0x04cf, 'l' },
	{ 0x0501, 'd' }, { 0x051b, 'q' }, { 0x051d, 'w' },
};

static int
fold(unsigned cp)
{
	size_t	lo = 0, hi = NITEMS(confusables), mid;

	if (cp < 0x80)
		return tolower((int)cp);
	if (cp >= 0xff41 && cp <= 0xff5a)
		return (int)(cp - 0xff41 + 'a');
	if (cp >= 0xff10 && cp <= 0xff19)
		return (int)(cp - 0xff10 + '0');
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (confusables[mid].cp == cp)
			return confusables[mid].ch;
		if (confusables[mid].cp < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return '?';
}

/* Code points of a label: punycode decoded, else its bytes. */
static size_t
label_points(const char *label, size_t llen, unsigned *cps, size_t max)
{
	size_t	n = max, i;

	if (llen > 4 && strncasecmp(label, "xn--", 4) == 0 &&
	    phish_punycode_decode(label + 4, llen - 4, cps, &n) == 0)
		return n;
	for (i = 0; i < llen && i < max; i++)
		cps[i] = (unsigned char)label[i];
	return i;
}

void
phish_skeleton(const char *label, char *out, size_t len)
{
	unsigned	cps[PHISH_LABEL_MAX * 2];
	char		tmp[PHISH_LABEL_MAX * 2 + 1];
	size_t		n, i, o = 0;

	n = label_points(label, strlen(label), cps, NITEMS(cps));
	for (i = 0; i < n && o + 1 < sizeof tmp; i++) {
		tmp[o] = (char)fold(cps[i]);
		if (tmp[o] == '0')
			tmp[o] = 'o';
		else if (tmp[o] == '1')
			tmp[o] = 'l';
		o++;
	}
	tmp[o] = '\0';
	/* Letter pairs that read as one letter. */
	for (i = 0, o = 0; tmp[i] != '\0' && o + 1 < len; i++) {
		if (tmp[i] == 'r' && tmp[i + 1] == 'n') {
			out[o++] = 'm';
			i++;
		} else if (tmp[i] == 'v' && tmp[i + 1] == 'v') {
			out[o++] = 'w';
			i++;
		} else
			out[o++] = tmp[i];
	}
	if (len > 0)
		out[o] = '\0';
}

/* True when a label mixes Latin letters with Cyrillic or Greek. */
static bool
mixed_script(const char *label, size_t llen)
{
	unsigned	cps[PHISH_LABEL_MAX * 2];
	size_t		n, i;
	bool		latin = false, other = false;

	if (llen <= 4 || strncasecmp(label, "xn--", 4) != 0)
		return false;
	n = NITEMS(cps);
	if (phish_punycode_decode(label + 4, llen - 4, cps, &n) == -1)
		return false;
	for (i = 0; i < n; i++) {
		if ((cps[i] >= 'a' && cps[i] <= 'z') ||
		    (cps[i] >= 0xc0 && cps[i] < 0x250))
			latin = true;
		else if (cps[i] >= 0x370 && cps[i] < 0x530)
			other = true;
	}
	return latin && other;
}

bool
phish_one_edit(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b), i = 0;

	if (la == lb) {
		while (i < la && a[i] == b[i])
			i++;
		if (i == la)
			return true;
		if (strcmp(a + i + 1, b + i + 1) == 0)
			return true;		/* one replaced */
		return i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] &&
		    strcmp(a + i + 2, b + i + 2) == 0;	/* one swap */
	}
	if (la + 1 == lb)
		return phish_one_edit(b, a);
	if (la != lb + 1)
		return false;
	while (i < lb && a[i] == b[i])
		i++;
	return strcmp(a + i + 1, b + i) == 0;		/* one inserted */
}

/* --- hosts ---------------------------------------------------------------- */

static bool
numeric_part(const char *p, size_t n)
{
	size_t	i = 0;

	if (n == 0)
		return false;
	if (n > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		for (i = 2; i < n; i++)
			if (!isxdigit((unsigned char)p[i]))
				return false;
		return true;
	}
	for (; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return false;
	return true;
}

bool
phish_host_is_ip(const char *host)
{
	const char	*p = host, *dot;
	int		 parts = 0;

	if (psl_is_ip(host))
		return true;
	if (*host == '\0')
		return false;
	/* 3232235777, 0xc0a80001, 0300.0250.0.1: what browsers resolve. */
	for (;;) {
		dot = strchr(p, '.');
		if (!numeric_part(p, dot != NULL ? (size_t)(dot - p) :
		    strlen(p)) || ++parts > 4)
			return false;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	return true;
}

/* --- configuration -------------------------------------------------------- */

static void
add_protected(struct phish_state *st, const char *name, bool local)
{
	char		 dom[PSL_NAME_MAX + 1], *p;
	const char	*reg;
	struct phish_domain *pd;
	size_t		 i, n;

	snprintf(dom, sizeof dom, "%s", name);
	for (p = dom; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	n = strlen(dom);
	if (n > 0 && dom[n - 1] == '.')
		dom[n - 1] = '\0';
	if ((reg = psl_registrable(dom)) == NULL || psl_is_ip(reg) ||
	    st->nprot >= PHISH_PROTECTED_MAX)
		return;
	for (i = 0; i < st->nprot; i++)
		if (strcmp(st->prot[i].domain, reg) == 0)
			return;
	st->prot = xreallocarray(st->prot, st->nprot + 1, sizeof *st->prot);
	pd = &st->prot[st->nprot++];
	memset(pd, 0, sizeof *pd);
	pd->domain = xstrdup(reg);
	pd->local = local;
	n = strcspn(reg, ".");
	snprintf(pd->label, sizeof pd->label, "%.*s", (int)(n <
	    sizeof pd->label ? n : sizeof pd->label - 1), reg);
	phish_skeleton(pd->label, pd->skel, sizeof pd->skel);
}

static void
phish_free(void *arg)
{
	struct phish_state	*st = arg;
	size_t			 i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nprot; i++)
		free(st->prot[i].domain);
	free(st->prot);
	free(st);
}

static int
load_scores(const struct cfg *c, config_setting_t *sec,
    struct phish_state *st, char **cause)
{
	config_setting_t	*g, *e;
	const char		*name;
	size_t			 i, k;
	int			 n, t;

	if (sec == NULL || (g = config_setting_get_member(sec, "scores")) ==
	    NULL)
		return 0;
	if (!config_setting_is_group(g)) {
		xasprintf(cause, "%s:%d: 'scores' must be a group", c->path,
		    config_setting_source_line(g));
		return -1;
	}
	n = config_setting_length(g);
	for (i = 0; i < (size_t)n; i++) {
		e = config_setting_get_elem(g, (unsigned)i);
		name = config_setting_name(e);
		t = config_setting_type(e);
		for (k = 0; k < NITEMS(phish_defaults); k++)
			if (name != NULL &&
			    strcmp(phish_defaults[k].symbol, name) == 0)
				break;
		if (k == NITEMS(phish_defaults) || (t != CONFIG_TYPE_INT &&
		    t != CONFIG_TYPE_FLOAT)) {
			xasprintf(cause, "%s:%d: unknown symbol or bad score "
			    "'%s'", c->path, config_setting_source_line(e),
			    name != NULL ? name : "");
			return -1;
		}
		st->scores[st->nscores].symbol = phish_defaults[k].symbol;
		st->scores[st->nscores].score = t == CONFIG_TYPE_FLOAT ?
		    config_setting_get_float(e) : config_setting_get_int(e);
		st->nscores++;
	}
	return 0;
}

static int
phish_init(const struct cfg *c, void **state, char **cause)
{
	static const char *const keys[] = { "enabled", "protected", "scores",
	    NULL };
	struct phish_state	*st;
	config_setting_t	*s;
	char			**prot = NULL;
	size_t			 nprot = 0, i;

	*state = NULL;
	st = xcalloc(1, sizeof *st);
	s = cfg_section(c, "filters.phishing");
	if (cfg_check_keys(c, s, keys, cause) == -1 ||
	    cfg_get_strlist(c, s, "protected", &prot, &nprot, cause) == -1 ||
	    load_scores(c, s, st, cause) == -1)
		goto fail;
	for (i = 0; i < nprot; i++) {
		if (psl_registrable(prot[i]) == NULL &&
		    strchr(prot[i], '.') == NULL) {
			xasprintf(cause, "%s:%d: '%s' in protected is not a "
			    "domain", c->path, config_setting_source_line(
			    config_setting_get_member(s, "protected")),
			    prot[i]);
			goto fail;
		}
		add_protected(st, prot[i], false);
	}
	for (i = 0; i < c->nlocal_domains; i++)
		add_protected(st, c->local_domains[i], true);
	if (prot != NULL)
		cfg_strlist_free(prot);
	*state = st;
	return 0;
fail:
	if (prot != NULL)
		cfg_strlist_free(prot);
	phish_free(st);
	return -1;
}

/* --- the checks ----------------------------------------------------------- */

static double
score_of(const struct phish_state *st, const char *symbol)
{
	size_t	i;

	for (i = 0; i < st->nscores; i++)
		if (strcmp(st->scores[i].symbol, symbol) == 0)
			return st->scores[i].score;
	for (i = 0; i < NITEMS(phish_defaults); i++)
		if (strcmp(phish_defaults[i].symbol, symbol) == 0)
			return phish_defaults[i].score;
	return 0;
}

static void
hit(const struct phish_state *st, struct findings *f, const char *symbol,
    const char *a, const char *b)
{
	if (findings_has(f, symbol))
		return;
	findings_add(f, symbol, score_of(st, symbol), "%s%s%s", a,
	    b != NULL ? " -> " : "", b != NULL ? b : "");
}

static const struct phish_domain *
protected_of(const struct phish_state *st, const char *host)
{
	size_t	i;

	for (i = 0; i < st->nprot; i++)
		if (psl_in_domain(host, st->prot[i].domain))
			return &st->prot[i];
	return NULL;
}

/* The protected domain host imitates, or NULL. */
static const struct phish_domain *
lookalike_of(const struct phish_state *st, const char *host)
{
	const char	*reg;
	char		 label[PHISH_LABEL_MAX + 1], skel[PHISH_LABEL_MAX + 1];
	size_t		 i, n;

	if ((reg = psl_registrable(host)) == NULL || psl_is_ip(reg))
		return NULL;
	n = strcspn(reg, ".");
	if (n == 0 || n > PHISH_LABEL_MAX)
		return NULL;
	memcpy(label, reg, n);
	label[n] = '\0';
	phish_skeleton(label, skel, sizeof skel);
	for (i = 0; i < st->nprot; i++) {
		const struct phish_domain *p = &st->prot[i];

		/* The brand's own label under another suffix: its own
		 * country domain more often than not. */
		if (strcmp(label, p->label) == 0)
			continue;
		if (strcmp(skel, p->skel) == 0)
			return p;
		if (strlen(p->label) >= 5 && phish_one_edit(skel, p->skel))
			return p;
	}
	return NULL;
}

/* A protected domain as labels inside host, not at its end. */
static const struct phish_domain *
brand_subdomain(const struct phish_state *st, const char *host)
{
	char	dotted[PSL_NAME_MAX + 3], needle[PSL_NAME_MAX + 3];
	size_t	i;

	if ((size_t)snprintf(dotted, sizeof dotted, ".%s.", host) >=
	    sizeof dotted)
		return NULL;
	for (i = 0; i < st->nprot; i++) {
		snprintf(needle, sizeof needle, ".%s.", st->prot[i].domain);
		if (strstr(dotted, needle) != NULL)
			return &st->prot[i];
	}
	return NULL;
}

static bool
idn_mixed(const char *host)
{
	const char	*p = host;
	size_t		 n;

	for (;;) {
		n = strcspn(p, ".");
		if (mixed_script(p, n))
			return true;
		if (p[n] == '\0')
			return false;
		p += n + 1;
	}
}

static const char *const file_exts[] = {
	"asp", "aspx", "bat", "bmp", "cgi", "css", "csv", "doc", "docx",
	"exe", "gif", "htm", "html", "jpeg", "jpg", "js", "json", "jsp",
	"pdf", "php", "png", "ppt", "pptx", "rar", "svg", "txt", "xls",
	"xlsx", "xml", "zip",
};

/* The first host-looking token of a link text, lower case, or false. */
static bool
text_domain(const char *text, char *out, size_t len)
{
	const char	*p = text, *end, *tld;
	size_t		 n, i;

	while (*p != '\0') {
		while (*p != '\0' && strchr(" \t\r\n<>()[]\"',;", *p) != NULL)
			p++;
		end = p + strcspn(p, " \t\r\n<>()[]\"',;");
		n = (size_t)(end - p);
		if (n > 8 && strncasecmp(p, "https://", 8) == 0) {
			p += 8;
			n -= 8;
		} else if (n > 7 && strncasecmp(p, "http://", 7) == 0) {
			p += 7;
			n -= 7;
		}
		if (memchr(p, '@', n) != NULL) {	/* an address */
			const char *at = memchr(p, '@', n);

			n -= (size_t)(at + 1 - p);
			p = at + 1;
		}
		n = strcspn(p, "/?#:") < n ? strcspn(p, "/?#:") : n;
		while (n > 0 && p[n - 1] == '.')
			n--;
		if (n > 3 && n < len) {
			for (i = 0; i < n; i++) {
				out[i] = (char)tolower((unsigned char)p[i]);
				if (!isalnum((unsigned char)out[i]) &&
				    out[i] != '.' && out[i] != '-')
					break;
			}
			out[i] = '\0';
			tld = i == n ? strrchr(out, '.') : NULL;
			if (tld != NULL && tld > out &&
			    strstr(out, "..") == NULL && strlen(tld + 1) >= 2) {
				for (i = 0; tld[1 + i] != '\0' &&
				    isalpha((unsigned char)tld[1 + i]); i++)
					;
				if (tld[1 + i] == '\0') {
					for (i = 0; i < NITEMS(file_exts); i++)
						if (strcmp(tld + 1,
						    file_exts[i]) == 0)
							break;
					if (i == NITEMS(file_exts))
						return true;
				}
			}
		}
		p = end;
	}
	return false;
}

static void
check_link(const struct phish_state *st, struct findings *f,
    const struct msg_url *u, const char *host)
{
	char		 tdom[PSL_NAME_MAX + 1];
	const char	*rt, *rh;

	if (u->text == NULL || strncasecmp(u->url, "http", 4) != 0 ||
	    !text_domain(u->text, tdom, sizeof tdom))
		return;
	rt = psl_registrable(tdom);
	rh = psl_registrable(host);
	if (rt == NULL || rh == NULL || strcmp(rt, rh) == 0)
		return;
	hit(st, f, protected_of(st, tdom) != NULL ? "PHISH_LINK_PROTECTED" :
	    "PHISH_LINK_MISMATCH", tdom, host);
}

static void
check_host(const struct phish_state *st, struct findings *f,
    const char *host)
{
	const struct phish_domain	*p;

	if (phish_host_is_ip(host)) {
		hit(st, f, "URI_IP", host, NULL);
		return;
	}
	if (protected_of(st, host) != NULL)
		return;
	if ((p = lookalike_of(st, host)) != NULL)
		hit(st, f, "PHISH_LOOKALIKE", host, p->domain);
	if ((p = brand_subdomain(st, host)) != NULL)
		hit(st, f, "PHISH_BRAND_SUBDOMAIN", host, p->domain);
	if (idn_mixed(host))
		hit(st, f, "PHISH_PUNYCODE", host, NULL);
}

/* name holds word (alnum boundaries; '.' and '-' join words). */
static bool
has_word(const char *name, const char *word)
{
	const char	*p = name;
	size_t		 n = strlen(word);

	while ((p = strstr(p, word)) != NULL) {
		if ((p == name || (!isalnum((unsigned char)p[-1]) &&
		    p[-1] != '-' && p[-1] != '.')) &&
		    !isalnum((unsigned char)p[n]) && p[n] != '-' &&
		    (p[n] != '.' || !isalnum((unsigned char)p[n + 1])))
			return true;
		p++;
	}
	return false;
}

static void
check_from(const struct phish_state *st, struct findings *f,
    const struct msg *m)
{
	const char	*at, *fdom;
	char		*name, *q;
	const struct phish_domain *p;
	bool		 spoof = false;
	size_t		 i;

	if (m->from_addr == NULL || (at = strrchr(m->from_addr, '@')) == NULL)
		return;
	fdom = at + 1;
	if (protected_of(st, fdom) == NULL) {
		if ((p = lookalike_of(st, fdom)) != NULL)
			hit(st, f, "PHISH_FROM_LOOKALIKE", fdom, p->domain);
		if (idn_mixed(fdom))
			hit(st, f, "PHISH_PUNYCODE", fdom, NULL);
	}
	if (m->from_name == NULL || m->from_name[0] == '\0')
		return;
	name = xstrdup(m->from_name);
	for (q = name; *q != '\0'; q++)
		*q = (char)tolower((unsigned char)*q);
	for (i = 0; i < st->nprot; i++) {
		p = &st->prot[i];
		if (psl_in_domain(fdom, p->domain))
			continue;
		if (p->local && has_word(name, p->domain)) {
			hit(st, f, "PHISH_DISPLAY_SPOOF", m->from_name,
			    m->from_addr);
			spoof = true;
		}
	}
	for (i = 0; i < st->nprot && !spoof; i++) {
		p = &st->prot[i];
		if (psl_in_domain(fdom, p->domain) || strlen(p->label) < 4)
			continue;
		/* Same brand label, other suffix: the brand's own domain. */
		if (psl_registrable(fdom) != NULL && strncmp(
		    psl_registrable(fdom), p->label, strlen(p->label)) == 0 &&
		    psl_registrable(fdom)[strlen(p->label)] == '.')
			continue;
		if (has_word(name, p->label))
			hit(st, f, "PHISH_BRAND_DISPLAY", m->from_name,
			    m->from_addr);
	}
	free(name);
}

static void
phish_run(void *arg, struct scan_ctx *ctx)
{
	const struct phish_state	*st = arg;
	const struct msg		*m = ctx->msg;
	char				 host[PSL_NAME_MAX + 1];
	const char			*seen[PHISH_HOSTS_MAX];
	size_t				 nseen = 0, i, k, n;

	if (st == NULL || m == NULL)
		return;
	for (i = 0; i < m->nurls; i++) {
		const struct msg_url *u = &m->urls[i];

		if (u->host == NULL || u->host[0] == '\0' || u->url == NULL)
			continue;
		snprintf(host, sizeof host, "%s", u->host);
		n = strlen(host);
		while (n > 0 && host[n - 1] == '.')
			host[--n] = '\0';
		if (n == 0)
			continue;
		check_link(st, ctx->findings, u, host);
		for (k = 0; k < nseen; k++)
			if (strcmp(seen[k], u->host) == 0)
				break;
		if (k < nseen || nseen >= PHISH_HOSTS_MAX)
			continue;
		seen[nseen++] = u->host;
		check_host(st, ctx->findings, host);
	}
	check_from(st, ctx->findings, m);
}

const struct scan_filter filter_phishing = {
	.name = "phishing",
	.init = phish_init,
	.run = phish_run,
	.free = phish_free,
};
