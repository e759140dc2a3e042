/*
 * SMTP syntax without I/O. Pure functions; any thread.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_parse.h"

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} verbs[] = {
	{ "AUTH", SMTP_AUTH }, { "BDAT", SMTP_BDAT }, { "DATA", SMTP_DATA },
	{ "EHLO", SMTP_EHLO }, { "EXPN", SMTP_EXPN }, { "HELO", SMTP_HELO },
	{ "HELP", SMTP_HELP }, { "LHLO", SMTP_LHLO }, { "MAIL", SMTP_MAIL },
	{ "NOOP", SMTP_NOOP }, { "QUIT", SMTP_QUIT }, { "RCPT", SMTP_RCPT },
	{ "RSET", SMTP_RSET }, { "STARTTLS", SMTP_STARTTLS },
	{ "VRFY", SMTP_VRFY }, { "XFORWARD", SMTP_XFORWARD },
};

enum smtp_verb
smtp_parse_verb(const char *line, const char **arg)
{
	size_t	len, i;

	len = strcspn(line, " ");
	*arg = line + len;
	while (**arg == ' ')
		(*arg)++;
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strlen(verbs[i].name) == len &&
		    strncasecmp(line, verbs[i].name, len) == 0)
			return verbs[i].verb;
	return SMTP_UNKNOWN;
}

bool
smtp_addr_is_utf8(const char *addr)
{
	for (; *addr != '\0'; addr++)
		if ((unsigned char)*addr > 127)
			return true;
	return false;
}

/* A domain name (letters, digits, hyphens, UTF-8 labels) or an address
 * literal in brackets. */
static bool
is_domain(const char *d)
{
	size_t	label = 0;

	if (d[0] == '[')
		return d[strlen(d) - 1] == ']' && strlen(d) > 2;
	for (; *d != '\0'; d++) {
		if (*d == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*d) && *d != '-' &&
		    (unsigned char)*d < 128)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/*
 * Parse "<path>" at *p (after the FROM:/TO: keyword). Source routes
 * ("@a,@b:user@dom") are accepted and dropped as RFC 5321 asks. Quoted
 * local parts are kept as given.
 */
static int
parse_path(const char **p, char *out, size_t outlen, bool allow_empty,
    char *reply, size_t replylen)
{
	const char	*s = *p, *start, *colon, *at;
	bool		 quoted = false;
	size_t		 len;

	while (*s == ' ')
		s++;
	if (*s != '<') {
		snprintf(reply, replylen, "501 5.1.7 Syntax: address must be "
		    "enclosed in <>");
		return -1;
	}
	start = ++s;
	for (; *s != '\0'; s++) {
		if (*s == '"' && (s == start || s[-1] != '\\'))
			quoted = !quoted;
		else if (!quoted && (*s == '>' || *s == '<' || *s == ' '))
			break;
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			break;
	}
	if (*s != '>') {
		snprintf(reply, replylen, "501 5.1.3 Bad address syntax");
		return -1;
	}
	len = (size_t)(s - start);
	*p = s + 1;
	if (len > 0 && start[0] == '@' && (colon = memchr(start, ':', len))) {
		len -= (size_t)(colon + 1 - start);
		start = colon + 1;
	}
	if (len == 0) {
		if (!allow_empty) {
			snprintf(reply, replylen,
			    "501 5.1.3 Empty recipient address");
			return -1;
		}
		out[0] = '\0';
		return 0;
	}
	if (len >= outlen || len > SMTP_PATH_MAX) {
		snprintf(reply, replylen, "501 5.1.3 Address too long");
		return -1;
	}
	memcpy(out, start, len);
	out[len] = '\0';
	at = strrchr(out, '@');
	if (at == NULL) {
		/* Only "postmaster" may go without a domain (RFC 5321 4.5.1). */
		if (strcasecmp(out, "postmaster") == 0 && !allow_empty)
			return 0;
		snprintf(reply, replylen, "501 5.1.3 Address needs a domain");
		return -1;
	}
	if (at == out || at[1] == '\0' ||
	    (size_t)(at - out) > SMTP_LOCAL_MAX ||
	    strlen(at + 1) > SMTP_DOMAIN_MAX ||
	    (out[0] != '"' && memchr(out, '@', (size_t)(at - out)) != NULL) ||
	    !is_domain(at + 1)) {
		snprintf(reply, replylen, "501 5.1.3 Bad address syntax");
		return -1;
	}
	return 0;
}

/* Next "KEY[=VALUE]" parameter; returns 0 at end, 1 with one, -1 bad. */
static int
next_param(const char **p, char *key, size_t keylen, char *val,
    size_t vallen)
{
	const char	*s = *p, *k, *eq, *e;
	size_t		 kl, vl;

	while (*s == ' ')
		s++;
	if (*s == '\0')
		return 0;
	k = s;
	e = s + strcspn(s, " ");
	eq = memchr(k, '=', (size_t)(e - k));
	kl = (size_t)((eq != NULL ? eq : e) - k);
	if (kl == 0 || kl >= keylen)
		return -1;
	memcpy(key, k, kl);
	key[kl] = '\0';
	val[0] = '\0';
	if (eq != NULL) {
		vl = (size_t)(e - eq - 1);
		if (vl >= vallen)
			return -1;
		memcpy(val, eq + 1, vl);
		val[vl] = '\0';
	}
	*p = e;
	return 1;
}

/* xtext (RFC 3461): printable ASCII but '+' and '=', "+XX" escapes. */
static bool
is_xtext(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '+') {
			if (!isxdigit((unsigned char)s[1]) ||
			    !isxdigit((unsigned char)s[2]))
				return false;
			s += 2;
		} else if (*s < '!' || *s > '~' || *s == '=')
			return false;
	}
	return true;
}

int
smtp_parse_mail(const char *arg, struct smtp_mail_args *m, char *reply,
    size_t replylen)
{
	char	 key[32], val[SMTP_PARAM_MAX + 1], *end;
	int	 rv;

	memset(m, 0, sizeof *m);
	if (strncasecmp(arg, "FROM:", 5) != 0) {
		snprintf(reply, replylen, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return -1;
	}
	arg += 5;
	if (parse_path(&arg, m->addr, sizeof m->addr, true, reply,
	    replylen) == -1)
		return -1;
	while ((rv = next_param(&arg, key, sizeof key, val, sizeof val)) == 1) {
		if (strcasecmp(key, "SIZE") == 0) {
			m->size = strtoull(val, &end, 10);
			if (val[0] == '\0' || *end != '\0' || val[0] == '-')
				goto bad;
			m->have_size = true;
		} else if (strcasecmp(key, "BODY") == 0) {
			if (strcasecmp(val, "7BIT") == 0)
				m->body = SMTP_BODY_7BIT;
			else if (strcasecmp(val, "8BITMIME") == 0)
				m->body = SMTP_BODY_8BITMIME;
			else {
				snprintf(reply, replylen, "555 5.5.4 "
				    "Unsupported BODY type");
				return -1;
			}
		} else if (strcasecmp(key, "SMTPUTF8") == 0 && val[0] == '\0')
			m->smtputf8 = true;
		else if (strcasecmp(key, "RET") == 0 &&
		    (strcasecmp(val, "FULL") == 0 ||
		    strcasecmp(val, "HDRS") == 0))
			memcpy(m->ret, val, strlen(val) + 1);
		else if (strcasecmp(key, "ENVID") == 0 && val[0] != '\0' &&
		    is_xtext(val))
			snprintf(m->envid, sizeof m->envid, "%s", val);
		else if (strcasecmp(key, "AUTH") == 0)
			;	/* passed by some clients unasked; ignored */
		else
			goto bad;
	}
	if (rv == -1)
		goto bad;
	if (!m->smtputf8 && smtp_addr_is_utf8(m->addr)) {
		snprintf(reply, replylen, "553 5.6.7 Non-ASCII sender needs "
		    "SMTPUTF8");
		return -1;
	}
	return 0;
bad:
	snprintf(reply, replylen, "555 5.5.4 Unsupported or malformed MAIL "
	    "parameter");
	return -1;
}

int
smtp_parse_rcpt(const char *arg, struct smtp_rcpt_args *r, char *reply,
    size_t replylen)
{
	char	key[32], val[SMTP_PARAM_MAX + 1];
	int	rv;

	memset(r, 0, sizeof *r);
	if (strncasecmp(arg, "TO:", 3) != 0) {
		snprintf(reply, replylen, "501 5.5.4 Syntax: RCPT TO:<address>");
		return -1;
	}
	arg += 3;
	if (parse_path(&arg, r->addr, sizeof r->addr, false, reply,
	    replylen) == -1)
		return -1;
	while ((rv = next_param(&arg, key, sizeof key, val, sizeof val)) == 1) {
		if (strcasecmp(key, "NOTIFY") == 0 && val[0] != '\0' &&
		    strlen(val) < sizeof r->notify &&
		    strspn(val, "SUCESFAILURDLAYNVcesfailurdlaynv,") ==
		    strlen(val))
			memcpy(r->notify, val, strlen(val) + 1);
		else if (strcasecmp(key, "ORCPT") == 0 && is_xtext(val) &&
		    strchr(val, ';') != NULL)
			snprintf(r->orcpt, sizeof r->orcpt, "%s", val);
		else {
			snprintf(reply, replylen, "555 5.5.4 Unsupported or "
			    "malformed RCPT parameter");
			return -1;
		}
	}
	if (rv == -1) {
		snprintf(reply, replylen, "555 5.5.4 Malformed RCPT parameter");
		return -1;
	}
	return 0;
}

static void
xtext_decode(const char *in, char *out, size_t outlen)
{
	size_t	o = 0;
	char	hex[3] = { 0, 0, 0 };

	for (; *in != '\0' && o + 1 < outlen; in++) {
		if (*in == '+' && isxdigit((unsigned char)in[1]) &&
		    isxdigit((unsigned char)in[2])) {
			hex[0] = in[1];
			hex[1] = in[2];
			out[o++] = (char)strtol(hex, NULL, 16);
			in += 2;
		} else
			out[o++] = *in;
	}
	out[o] = '\0';
}

int
smtp_parse_xforward(const char *arg, struct smtp_xforward *x, char *reply,
    size_t replylen)
{
	char	 key[16], val[SMTP_PARAM_MAX + 1], dec[SMTP_PARAM_MAX + 1];
	char	*dst;
	size_t	 dstlen;
	int	 rv, n = 0;

	while ((rv = next_param(&arg, key, sizeof key, val, sizeof val)) == 1) {
		n++;
		if (strcasecmp(key, "NAME") == 0) {
			dst = x->name;
			dstlen = sizeof x->name;
		} else if (strcasecmp(key, "ADDR") == 0) {
			dst = x->addr;
			dstlen = sizeof x->addr;
		} else if (strcasecmp(key, "PORT") == 0) {
			dst = x->port;
			dstlen = sizeof x->port;
		} else if (strcasecmp(key, "PROTO") == 0) {
			dst = x->proto;
			dstlen = sizeof x->proto;
		} else if (strcasecmp(key, "HELO") == 0) {
			dst = x->helo;
			dstlen = sizeof x->helo;
		} else if (strcasecmp(key, "IDENT") == 0) {
			dst = x->ident;
			dstlen = sizeof x->ident;
		} else if (strcasecmp(key, "SOURCE") == 0) {
			dst = x->source;
			dstlen = sizeof x->source;
		} else {
			snprintf(reply, replylen, "501 5.5.4 Bad XFORWARD "
			    "attribute name: %.32s", key);
			return -1;
		}
		xtext_decode(val, dec, sizeof dec);
		/* Postfix sends [UNAVAILABLE] and [TEMPUNAVAIL]: keep empty. */
		if (dec[0] == '[' && (strcmp(dec, "[UNAVAILABLE]") == 0 ||
		    strcmp(dec, "[TEMPUNAVAIL]") == 0))
			dec[0] = '\0';
		if (strncasecmp(dec, "IPV6:", 5) == 0 && dst == x->addr)
			memmove(dec, dec + 5, strlen(dec + 5) + 1);
		if (strlen(dec) >= dstlen) {
			snprintf(reply, replylen, "501 5.5.4 XFORWARD %s too "
			    "long", key);
			return -1;
		}
		memcpy(dst, dec, strlen(dec) + 1);
	}
	if (rv == -1 || n == 0) {
		snprintf(reply, replylen, "501 5.5.4 Syntax: XFORWARD "
		    "attribute=value...");
		return -1;
	}
	return 0;
}

/* DATA scanner states. */
enum {
	D_BOL = 0,	/* at the start of a line */
	D_DOT,		/* "." at the start of a line */
	D_DOT_CR,	/* ".\r" at the start of a line */
	D_MID,		/* inside a line */
	D_CR,		/* "\r" inside a line */
};

void
smtp_data_init(struct smtp_data *d, size_t max_size)
{
	memset(d, 0, sizeof *d);
	d->state = D_BOL;
	d->max_size = max_size;
}

static void
data_emit(struct smtp_data *d, const char *p, size_t n,
    int (*emit)(void *, const char *, size_t), void *arg)
{
	if (n == 0 || d->flags != 0)
		return;
	if (d->size + n > d->max_size) {
		d->flags |= SMTP_DATA_TOO_BIG;
		return;
	}
	d->size += n;
	if (emit(arg, p, n) == -1)
		d->flags |= SMTP_DATA_LOCAL_ERR;
}

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL
#define HAS_ZERO(v)	(((v) - ONES) & ~(v) & HIGHS)

/*
 * Length of the run of bytes that are not CR, LF or NUL, eight at a time;
 * notes a byte over 127 on the way.
 */
static size_t
ordinary_run(const char *p, size_t n, bool *eight_bit)
{
	uint64_t	v;
	size_t		i = 0;
	unsigned char	c;

	while (i + 8 <= n) {
		memcpy(&v, p + i, 8);
		if (HAS_ZERO(v) || HAS_ZERO(v ^ (ONES * '\r')) ||
		    HAS_ZERO(v ^ (ONES * '\n')))
			break;
		if (v & HIGHS)
			*eight_bit = true;
		i += 8;
	}
	for (; i < n; i++) {
		c = (unsigned char)p[i];
		if (c == '\r' || c == '\n' || c == '\0')
			break;
		if (c > 127)
			*eight_bit = true;
	}
	return i;
}

size_t
smtp_data_feed(struct smtp_data *d, const char *p, size_t n,
    int (*emit)(void *, const char *, size_t), void *arg)
{
	size_t		 i = 0, run, span = 0, end;
	unsigned char	 c;

	/* Message bytes are contiguous in the input but for the dots that
	 * are dropped: emit whole spans, not bytes. */
	while (i < n && !d->done) {
		if (d->state == D_MID) {
			run = ordinary_run(p + i, n - i, &d->eight_bit);
			if (run > 0) {
				d->line_len += run;
				if (d->line_len > SMTP_DATA_LINE_MAX)
					d->flags |= SMTP_DATA_LONG_LINE;
				i += run;
				continue;
			}
		}
		c = (unsigned char)p[i++];
		switch (d->state) {
		case D_BOL:
			if (c == '.') {
				/* Stuffing or the end: the dot is not data. */
				data_emit(d, p + span, i - 1 - span, emit, arg);
				span = i;
				d->state = D_DOT;
				d->line_len = 1;
				continue;
			}
			break;
		case D_DOT:
			if (c == '\r') {
				d->state = D_DOT_CR;
				continue;
			}
			break;		/* c starts the line after the dot */
		case D_DOT_CR:
			if (c == '\n') {
				d->done = true;
				span = i;
				continue;
			}
			d->flags |= SMTP_DATA_BARE_CR;
			break;
		case D_CR:
			if (c == '\n') {
				d->state = D_BOL;
				d->line_len = 0;
				continue;
			}
			d->flags |= SMTP_DATA_BARE_CR;
			break;
		}
		/* c is an ordinary position inside a line. */
		d->state = D_MID;
		if (c == '\r') {
			d->state = D_CR;
			continue;
		}
		if (c == '\n')
			d->flags |= SMTP_DATA_BARE_LF;
		else if (c == '\0')
			d->flags |= SMTP_DATA_NUL;
		else if (c > 127)
			d->eight_bit = true;
		if (++d->line_len > SMTP_DATA_LINE_MAX)
			d->flags |= SMTP_DATA_LONG_LINE;
	}
	/* A CR after a leading dot may be the end marker: hold it back. */
	end = d->state == D_DOT_CR && !d->done ? i - 1 : i;
	if (end > span)
		data_emit(d, p + span, end - span, emit, arg);
	return i;
}

const char *
smtp_data_reply(const struct smtp_data *d)
{
	if (d->flags & SMTP_DATA_LOCAL_ERR)
		return "451 4.3.0 Local error storing the message; "
		    "try again later";
	if (d->flags & SMTP_DATA_TOO_BIG)
		return "552 5.3.4 Message size exceeds fixed limit";
	if (d->flags & SMTP_DATA_NUL)
		return "550 5.6.0 Message contains a NUL byte";
	if (d->flags & SMTP_DATA_BARE_LF)
		return "550 5.6.0 Message contains a bare LF (line ends "
		    "must be CRLF, RFC 5321 2.3.8)";
	if (d->flags & SMTP_DATA_BARE_CR)
		return "550 5.6.0 Message contains a bare CR (line ends "
		    "must be CRLF, RFC 5321 2.3.8)";
	if (d->flags & SMTP_DATA_LONG_LINE)
		return "550 5.6.0 Message contains a line longer than 998 "
		    "octets (RFC 5321 4.5.3.1.6)";
	return NULL;
}
