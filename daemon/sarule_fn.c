/*
 * The eval: tests the rule engine runs: a few of SpamAssassin's, with the
 * same names and arguments, and Moat's own (moat_*) for facts a regex
 * cannot see. Any thread, called from sarule_eval with the message's
 * views; each returns the rule's value (0: no hit).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "msg.h"
#include "psl.h"
#include "sarule_int.h"
#include "xmalloc.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define ADDR_MAX	320
#define DOMAINS_MAX	256

/* --- helpers ------------------------------------------------------------- */

static bool
arg_num(const char *s, double *out)
{
	char	*end;

	*out = 0;
	if (s == NULL || *s == '\0')
		return false;
	*out = strtod(s, &end);
	return *end == '\0';
}

/* Numbers or 'undef'. */
static const char *
check_range(const struct sr_args *a)
{
	double	d;
	int	i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], "undef") != 0 && !arg_num(a->v[i], &d))
			return "arguments must be numbers or 'undef'";
	return NULL;
}

static const char *
check_nums(const struct sr_args *a)
{
	double	d;
	int	i;

	for (i = 0; i < a->n; i++)
		if (!arg_num(a->v[i], &d))
			return "arguments must be numbers";
	return NULL;
}

/* Seconds since the epoch of an RFC 5322 date, or false. */
static bool
parse_date(const char *s, int64_t *out)
{
	GDateTime	*dt;

	while (s != NULL && isspace((unsigned char)*s))
		s++;
	if (s == NULL || *s == '\0')
		return false;
	if ((dt = g_mime_utils_header_decode_date(s)) == NULL)
		return false;
	*out = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	/* GMime answers the epoch for dates it cannot read. */
	return *out != 0;
}

static const char *
domain_of(const char *addr)
{
	const char	*at = strrchr(addr, '@');

	return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

/* The registrable domain of a host (psl.h), or the host itself. */
static const char *
reg_domain(const char *host)
{
	const char	*r = psl_registrable(host);

	return r != NULL ? r : host;
}

/* --- SpamAssassin's ------------------------------------------------------ */

/* Date: minus the Received: times; the difference closest to 0, in
 * hours, within [min, max). No Received: header: no difference. */
static double
fn_shifted_date(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	const char		*date, *semi;
	int64_t			 dt, rt, best = 0;
	double			 lo, hi;
	size_t			 i, n = 0;
	bool			 have = false;
	int64_t			 diffs[64];

	if ((date = sr_header_first(m, "Date")) == NULL ||
	    !parse_date(date, &dt))
		return 0;
	for (i = 0; i < m->nheaders && n < NITEMS(diffs); i++) {
		const char	*v = m->headers[i].value;

		if (strcasecmp(m->headers[i].name, "Received") != 0 ||
		    v == NULL || (semi = strrchr(v, ';')) == NULL)
			continue;
		if (!parse_date(semi + 1, &rt))
			continue;
		diffs[n++] = dt - rt;
	}
	/* The oldest hop with no difference is left out, as SA does. */
	if (n > 1 && diffs[n - 1] == 0)
		n--;
	for (i = 0; i < n; i++)
		if (!have || llabs(diffs[i]) < llabs(best)) {
			best = diffs[i];
			have = true;
		}
	if (strcmp(a->v[0], "undef") != 0 && arg_num(a->v[0], &lo) &&
	    (double)best < lo * 3600)
		return 0;
	if (strcmp(a->v[1], "undef") != 0 && arg_num(a->v[1], &hi) &&
	    (double)best >= hi * 3600)
		return 0;
	return 1;
}

static double
fn_missing_to(struct sr_ctx *c, const struct sr_args *a)
{
	(void)a;
	return sr_header_first(c->msg, "To") == NULL &&
	    sr_header_first(c->msg, "Apparently-To") == NULL;
}

static const char *const caps_charsets[] = {
	"koi", "jp", "jis", "euc", "gb", "big5", "isoir", "cp1251",
	"windows-1251", "georgianps", "pt154", "tis",
};

static double
fn_subject_caps(struct sr_ctx *c, const struct sr_args *a)
{
	const char	*s = sr_header_first(c->msg, "Subject"), *e, *p, *w;
	size_t		 i, letters = 0, skip;
	char		*raw;
	bool		 space = false;

	(void)a;
	if (s == NULL)
		return 0;
	while (isspace((unsigned char)*s))
		s++;
	/* Reply and forward prefixes do not count. */
	for (;;) {
		static const char *const pre[] = { "re", "fwd", "fw", "aw",
		    "antwort", "wg", "sv", "vb", "vs", "vl" };

		for (i = 0, skip = 0; i < NITEMS(pre); i++) {
			size_t	l = strlen(pre[i]);

			if (strncasecmp(s, pre[i], l) == 0 && s[l] == ':') {
				skip = l + 1;
				break;
			}
		}
		if (skip == 0)
			break;
		for (s += skip; isspace((unsigned char)*s); s++)
			;
	}
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if (e - s < 10)
		return 0;
	for (p = s; p < e; p++) {
		if (isspace((unsigned char)*p))
			space = true;
		if (islower((unsigned char)*p))
			return 0;
		if (isupper((unsigned char)*p))
			letters++;
	}
	if (!space || letters == 0)
		return 0;
	if ((raw = sr_header_values(c->msg, "Subject", true)) != NULL) {
		for (i = 0; i < NITEMS(caps_charsets); i++) {
			for (w = raw; (w = strstr(w, "=?")) != NULL; w += 2)
				if (strncasecmp(w + 2, caps_charsets[i],
				    strlen(caps_charsets[i])) == 0)
					break;
			if (w != NULL)
				break;
		}
		free(raw);
		if (i < NITEMS(caps_charsets))
			return 0;
	}
	return 1;
}

/* An HTML part with an image and between min (exclusive) and max bytes
 * of visible text. */
static double
fn_html_image_only(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	double			 lo, hi;
	size_t			 i;

	lo = a->num[0];
	hi = a->num[1];
	for (i = 0; i < m->nparts; i++) {
		const struct msg_part	*p = &m->parts[i];

		if (!p->is_html || p->data == NULL)
			continue;
		if (memmem(p->data, p->len, "<img", 4) == NULL &&
		    memmem(p->data, p->len, "<IMG", 4) == NULL)
			continue;
		if ((double)p->text_len > lo && (double)p->text_len <= hi)
			return 1;
	}
	return 0;
}

/* Distinct values of a header, counted within [min, max]. */
static double
fn_header_count(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	const char		**seen;
	double			 lo, hi;
	size_t			 i, k, n = 0;

	if (!arg_num(a->v[1], &lo) || !arg_num(a->v[2], &hi))
		return 0;
	seen = xcalloc(m->nheaders ? m->nheaders : 1, sizeof *seen);
	for (i = 0; i < m->nheaders; i++) {
		const char	*v = m->headers[i].value ?
		    m->headers[i].value : "";

		if (strcasecmp(m->headers[i].name, a->v[0]) != 0)
			continue;
		for (k = 0; k < n; k++)
			if (strcmp(seen[k], v) == 0)
				break;
		if (k == n)
			seen[n++] = v;
	}
	free(seen);
	return (double)n >= lo && (double)n <= hi;
}

static const char *
check_header_count(const struct sr_args *a)
{
	double	d;

	if (!arg_num(a->v[1], &d) || !arg_num(a->v[2], &d))
		return "min and max must be numbers";
	return NULL;
}

/* The raw body (after the header block) is at most max bytes. */
static double
fn_body_length(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	double			 max;
	size_t			 len;

	max = a->num[0];
	len = m->raw_len > m->header_len ? m->raw_len - m->header_len : 0;
	return (double)len <= max;
}

/* A header (other than address and id fields) with an unexpanded
 * %TEMPLATE of a bulk mailer. */
static double
fn_unresolved_template(struct sr_ctx *c, const struct sr_args *a)
{
	static const char *const skip[] = {
		"X-VMS-To", "X-UIDL", "X-Face", "To", "Cc", "From", "Subject",
		"References", "In-Reply-To", "Message-Id", "X-Message-Id",
		"Resent-Message-Id", "X-Original-Message-Id",
	};
	const struct msg	*m = c->msg;
	const char		*v;
	size_t			 i, k;

	(void)a;
	for (i = 0; i < m->nheaders; i++) {
		for (k = 0; k < NITEMS(skip); k++)
			if (strcasecmp(m->headers[i].name, skip[k]) == 0)
				break;
		if (k < NITEMS(skip) || (v = m->headers[i].value) == NULL)
			continue;
		for (; (v = strchr(v, '%')) != NULL; v++)
			if (isupper((unsigned char)v[1]) &&
			    (isupper((unsigned char)v[2]) || v[2] == '_' ||
			    v[2] == '-'))
				return 1;
	}
	return 0;
}

/* check_msg_parse_flags('truncated' | 'mime_malformed') */
static double
fn_parse_flags(struct sr_ctx *c, const struct sr_args *a)
{
	int	i;

	for (i = 0; i < a->n; i++) {
		if (strcmp(a->v[i], "truncated") == 0 &&
		    (c->msg->flags & MSG_TRUNCATED))
			return 1;
		if (strcmp(a->v[i], "mime_malformed") == 0 &&
		    (c->msg->flags & MSG_MALFORMED))
			return 1;
	}
	return 0;
}

static const char *
check_parse_flags(const struct sr_args *a)
{
	int	i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], "truncated") != 0 &&
		    strcmp(a->v[i], "mime_malformed") != 0)
			return "only 'truncated' and 'mime_malformed' known";
	return NULL;
}

/* --- Moat's -------------------------------------------------------------- */

/* Reply-To names a mailbox in another domain than From. */
static double
fn_replyto_differs(struct sr_ctx *c, const struct sr_args *a)
{
	char		 from[ADDR_MAX], rt[ADDR_MAX];
	const char	*fd, *rd;

	(void)a;
	if (!sr_addr_first(sr_header_first(c->msg, "From"), from,
	    sizeof from) ||
	    !sr_addr_first(sr_header_first(c->msg, "Reply-To"), rt,
	    sizeof rt))
		return 0;
	if ((fd = domain_of(from)) == NULL || (rd = domain_of(rt)) == NULL)
		return 0;
	return strcmp(reg_domain(fd), reg_domain(rd)) != 0;
}

/* Links to at least min different registered domains. */
static double
fn_uri_domains(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	const char		*seen[DOMAINS_MAX];
	double			 min;
	size_t			 i, k, n = 0;

	min = a->num[0];
	for (i = 0; i < m->nurls && n < DOMAINS_MAX; i++) {
		const char	*d;

		if (m->urls[i].host == NULL || *m->urls[i].host == '\0')
			continue;
		d = reg_domain(m->urls[i].host);
		for (k = 0; k < n; k++)
			if (strcmp(seen[k], d) == 0)
				break;
		if (k == n)
			seen[n++] = d;
	}
	return (double)n >= min;
}

/* Received: headers counted within [min, max]. */
static double
fn_received_count(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	double			 lo, hi;
	size_t			 i, n = 0;

	lo = a->num[0];
	hi = a->num[1];
	for (i = 0; i < m->nheaders; i++)
		if (strcasecmp(m->headers[i].name, "Received") == 0)
			n++;
	return (double)n >= lo && (double)n <= hi;
}

/* Visible text of the HTML parts below ratio times their source size:
 * markup-heavy mail, often with hidden text or image bait. */
static double
fn_html_text_ratio(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	double			 ratio, minsrc;
	size_t			 i, src = 0, text = 0;

	ratio = a->num[0];
	minsrc = a->num[1];
	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].is_html && m->parts[i].data != NULL) {
			src += m->parts[i].len;
			text += m->parts[i].text_len;
		}
	if (src == 0 || (double)src < minsrc)
		return 0;
	return (double)text / (double)src < ratio;
}

/* Only HTML text: no text/plain part beside it. */
static double
fn_html_only(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	size_t			 i;
	bool			 html = false;

	(void)a;
	for (i = 0; i < m->nparts; i++) {
		if (!m->parts[i].is_text || m->parts[i].is_attachment)
			continue;
		if (!m->parts[i].is_html)
			return 0;
		html = true;
	}
	return html;
}

/* Message-Id made by a relay: its domain is the "by" host of a Received
 * field, so the sender's software set none (ratware, or a script). */
static double
fn_msgid_by_relay(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	const char		*mid, *at, *end, *by, *h;
	size_t			 i, len, hl;

	(void)a;
	if ((mid = sr_header_first(m, "Message-Id")) == NULL ||
	    (at = strrchr(mid, '@')) == NULL)
		return 0;
	at++;
	for (end = at; *end != '\0' && *end != '>' &&
	    !isspace((unsigned char)*end); end++)
		;
	if ((len = (size_t)(end - at)) == 0)
		return 0;
	for (i = 0; i < m->nheaders; i++) {
		const char	*v = m->headers[i].value;

		if (strcasecmp(m->headers[i].name, "Received") != 0 ||
		    v == NULL)
			continue;
		for (by = v; (by = strstr(by, "by ")) != NULL; by += 3) {
			if (by != v && !isspace((unsigned char)by[-1]))
				continue;
			h = by + 3;
			for (hl = 0; h[hl] != '\0' && h[hl] != ' ' &&
			    h[hl] != '\t' && h[hl] != ';' && h[hl] != '('; hl++)
				;
			if (hl == len && strncasecmp(h, at, len) == 0)
				return 1;
			break;
		}
	}
	return 0;
}

static void
count_addr(const char *v, int *n)
{
	char		 addr[ADDR_MAX];
	const char	*p;
	bool		 quote = false;
	int		 angle = 0;

	/* Commas outside quotes and brackets separate addresses. */
	if (v == NULL || !sr_addr_first(v, addr, sizeof addr))
		return;
	(*n)++;
	for (p = v; *p != '\0'; p++) {
		if (*p == '"')
			quote = !quote;
		else if (!quote && *p == '<')
			angle++;
		else if (!quote && *p == '>' && angle > 0)
			angle--;
		else if (!quote && angle == 0 && *p == ',' &&
		    strchr(p + 1, '@') != NULL)
			(*n)++;
	}
}

/* At least min addresses in To: and Cc: together. */
static double
fn_rcpt_count(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	size_t			 i;
	int			 n = 0;

	for (i = 0; i < m->nheaders; i++)
		if (strcasecmp(m->headers[i].name, "To") == 0 ||
		    strcasecmp(m->headers[i].name, "Cc") == 0)
			count_addr(m->headers[i].value, &n);
	return n >= a->num[0];
}

/* To: is the sender's own address (mass mail sent "to self", Bcc). */
static double
fn_to_is_from(struct sr_ctx *c, const struct sr_args *a)
{
	char	from[ADDR_MAX], to[ADDR_MAX];

	(void)a;
	if (!sr_addr_first(sr_header_first(c->msg, "From"), from,
	    sizeof from) ||
	    !sr_addr_first(sr_header_first(c->msg, "To"), to, sizeof to))
		return 0;
	return strcmp(from, to) == 0;
}

/* The Date field names the wrong day of the week (hand-made dates). */
static double
fn_date_weekday(struct sr_ctx *c, const struct sr_args *a)
{
	static const char *const days[] = {
		"mon", "tue", "wed", "thu", "fri", "sat", "sun",
	};
	const char	*d = sr_header_first(c->msg, "Date");
	GDateTime	*dt;
	int		 i, wd;

	(void)a;
	if (d == NULL)
		return 0;
	while (isspace((unsigned char)*d))
		d++;
	for (i = 0; i < 7; i++)
		if (strncasecmp(d, days[i], 3) == 0)
			break;
	if (i == 7 || (dt = g_mime_utils_header_decode_date(d)) == NULL)
		return 0;
	/* The day in the sender's own zone, as written. */
	wd = g_date_time_get_day_of_week(dt) - 1;
	g_date_time_unref(dt);
	return wd != i;
}

/* The first Received field added by a server on the internet: not
 * loopback or private, not a POP or IMAP fetch. */
static const char *
first_external_hop(const struct msg *m, char *ip, size_t iplen)
{
	const char	*v, *by, *p, *q;
	size_t		 i, n;
	unsigned	 o[4];

	for (i = 0; i < m->nheaders; i++) {
		if (strcasecmp(m->headers[i].name, "Received") != 0 ||
		    (v = m->headers[i].value) == NULL)
			continue;
		if (strstr(v, "with POP3") != NULL ||
		    strstr(v, "with IMAP") != NULL ||
		    strstr(v, "by localhost") != NULL)
			continue;
		by = strstr(v, " by ");
		/* The first dotted quad in the "from" part. */
		for (p = v; (by == NULL || p < by) && *p != '\0'; p++) {
			if (!isdigit((unsigned char)*p) || (p > v &&
			    (isalnum((unsigned char)p[-1]) || p[-1] == '.')))
				continue;
			if (sscanf(p, "%3u.%3u.%3u.%3u", &o[0], &o[1], &o[2],
			    &o[3]) == 4)
				break;
		}
		if (*p == '\0' || (by != NULL && p >= by))
			continue;
		if (o[0] == 127 || o[0] == 10 || (o[0] == 192 &&
		    o[1] == 168) || (o[0] == 172 && o[1] >= 16 &&
		    o[1] <= 31) || o[0] == 0)
			continue;
		for (q = p, n = 0; (isdigit((unsigned char)*q) ||
		    *q == '.') && n + 1 < iplen; q++)
			ip[n++] = *q;
		ip[n] = '\0';
		return v;
	}
	return NULL;
}

/* The server that handed us the message has no reverse DNS name, in the
 * words of Postfix "(unknown [ip])", qmail "from unknown" or Exim "from
 * [ip] (helo=". Sendmail's "from helo ([ip])" also means the names agree
 * and its "may be forged" that they differ, so neither tells. */
static double
fn_relay_rdns_none(struct sr_ctx *c, const struct sr_args *a)
{
	char		 ip[32], pat[48];
	const char	*v;

	(void)a;
	if ((v = first_external_hop(c->msg, ip, sizeof ip)) == NULL)
		return 0;
	if (strncmp(v, "from unknown ", 13) == 0 ||
	    strstr(v, "(unknown [") != NULL)
		return 1;
	snprintf(pat, sizeof pat, "from [%s] (helo=", ip);
	return strncmp(v, pat, strlen(pat)) == 0;
}

/* The Message-Id field sits among the Received fields: a relay added it
 * because the sender's software wrote none. */
static double
fn_msgid_in_trace(struct sr_ctx *c, const struct sr_args *a)
{
	const struct msg	*m = c->msg;
	size_t			 i, first = SIZE_MAX, last = 0, mid = SIZE_MAX;

	(void)a;
	for (i = 0; i < m->nheaders; i++) {
		if (strcasecmp(m->headers[i].name, "Received") == 0) {
			if (first == SIZE_MAX)
				first = i;
			last = i;
		} else if (strcasecmp(m->headers[i].name, "Message-Id") == 0 &&
		    mid == SIZE_MAX)
			mid = i;
	}
	return mid != SIZE_MAX && first != SIZE_MAX && mid > first &&
	    mid < last;
}

struct rcpts {
	char	 v[64][ADDR_MAX];
	int	 n;
};

static void
rcpt_collect(const char *value, struct rcpts *r)
{
	const char	*p = value, *e;
	char		 one[ADDR_MAX + 2];

	/* Comma-separated; names with commas are rare enough here. */
	while (p != NULL && *p != '\0' && r->n < 64) {
		e = strchr(p, ',');
		snprintf(one, sizeof one, "%.*s", e != NULL ?
		    (int)(e - p) : (int)strlen(p), p);
		if (sr_addr_first(one, r->v[r->n], ADDR_MAX) &&
		    strchr(r->v[r->n], '@') != NULL)
			r->n++;
		p = e != NULL ? e + 1 : NULL;
	}
}

static void
rcpts_of(const struct msg *m, struct rcpts *r)
{
	size_t	i;

	r->n = 0;
	for (i = 0; i < m->nheaders; i++)
		if (strcasecmp(m->headers[i].name, "To") == 0 ||
		    strcasecmp(m->headers[i].name, "Cc") == 0)
			rcpt_collect(m->headers[i].value, r);
}

/* At least min recipients, in alphabetical order: an address list. */
static double
fn_rcpt_sorted(struct sr_ctx *c, const struct sr_args *a)
{
	struct rcpts	*r = xmalloc(sizeof *r);
	int		 i;
	bool		 sorted;

	rcpts_of(c->msg, r);
	sorted = r->n >= a->num[0];
	for (i = 1; i < r->n && sorted; i++)
		if (strcmp(r->v[i - 1], r->v[i]) > 0)
			sorted = false;
	free(r);
	return sorted;
}

/* At least min recipients whose mailbox names start alike (the first 5
 * characters) in different domains: guessed addresses. */
static double
fn_rcpt_similar(struct sr_ctx *c, const struct sr_args *a)
{
	struct rcpts	*r = xmalloc(sizeof *r);
	int		 i, k, best = 0, n;

	rcpts_of(c->msg, r);
	for (i = 0; i < r->n; i++) {
		for (k = 0, n = 0; k < r->n; k++)
			if (strncmp(r->v[i], r->v[k], 5) == 0 &&
			    strchr(r->v[i], '@') - r->v[i] >= 5)
				n++;
		if (n > best)
			best = n;
	}
	free(r);
	return best >= a->num[0];
}

/* Sorted by name (bsearch). */
static const struct sr_fndef fns[] = {
	{ "check_body_length", 1, 1, check_nums, fn_body_length },
	{ "check_for_missing_to_header", 0, 0, NULL, fn_missing_to },
	{ "check_for_shifted_date", 2, 2, check_range, fn_shifted_date },
	{ "check_header_count_range", 3, 3, check_header_count,
	    fn_header_count },
	{ "check_msg_parse_flags", 1, 4, check_parse_flags,
	    fn_parse_flags },
	{ "check_unresolved_template", 0, 0, NULL, fn_unresolved_template },
	{ "html_image_only", 2, 2, check_nums, fn_html_image_only },
	{ "moat_date_weekday_wrong", 0, 0, NULL, fn_date_weekday },
	{ "moat_html_only", 0, 0, NULL, fn_html_only },
	{ "moat_html_text_ratio", 2, 2, check_nums, fn_html_text_ratio },
	{ "moat_msgid_by_relay", 0, 0, NULL, fn_msgid_by_relay },
	{ "moat_msgid_in_trace", 0, 0, NULL, fn_msgid_in_trace },
	{ "moat_rcpt_count", 1, 1, check_nums, fn_rcpt_count },
	{ "moat_rcpt_similar", 1, 1, check_nums, fn_rcpt_similar },
	{ "moat_rcpt_sorted", 1, 1, check_nums, fn_rcpt_sorted },
	{ "moat_received_count", 2, 2, check_nums, fn_received_count },
	{ "moat_relay_rdns_none", 0, 0, NULL, fn_relay_rdns_none },
	{ "moat_replyto_differs", 0, 0, NULL, fn_replyto_differs },
	{ "moat_to_is_from", 0, 0, NULL, fn_to_is_from },
	{ "moat_uri_domains", 1, 1, check_nums, fn_uri_domains },
	{ "subject_is_all_caps", 0, 0, NULL, fn_subject_caps },
};

static int
fn_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct sr_fndef *)e)->name);
}

int
sr_fn_find(const char *name)
{
	const struct sr_fndef	*d;

	d = bsearch(name, fns, NITEMS(fns), sizeof fns[0], fn_cmp);
	return d != NULL ? (int)(d - fns) : -1;
}

const struct sr_fndef *
sr_fn_get(int i)
{
	return &fns[i];
}
