/*
 * The text side of MIME analysis (see mime_text.h): charsets, transfer
 * decoding, HTML to visible text, URLs. Every scan moves forward through
 * its input and is bounded by it; any thread (the entity table is set up
 * once by mime_text_init()).
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "buf.h"
#include "xmalloc.h"
#include "mime_text.h"

#define MIME_URL_MAX		4096	/* one URL */
#define MIME_LINKTEXT_MAX	1024	/* one <a>'s text */
#define MIME_META_SCAN		4096	/* where <meta charset> is */

/* --- UTF-8 and charsets ------------------------------------------------- */

void
mime_lower_ascii(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* Length of the valid UTF-8 sequence at p (1-4), 0 when invalid. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char	c = p[0];

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (c < 0xe0) {
		if (n < 2 || (p[1] & 0xc0) != 0x80)
			return 0;
		return 2;
	}
	if (c < 0xf0) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)		/* overlong */
			return 0;
		if (c == 0xed && p[1] > 0x9f)		/* surrogate */
			return 0;
		return 3;
	}
	if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
	    (p[3] & 0xc0) != 0x80)
		return 0;
	if (c == 0xf0 && p[1] < 0x90)
		return 0;
	if (c == 0xf4 && p[1] > 0x8f)
		return 0;
	return 4;
}

/* Encode cp as UTF-8 into o (4 bytes room); returns the length. */
static size_t
utf8_put(char *o, uint32_t cp)
{
	if (cp >= 0xd800 && cp <= 0xdfff)
		cp = 0xfffd;
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	if (cp > 0x10ffff)
		return utf8_put(o, 0xfffd);
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* windows-1252 0x80-0x9f; latin1 (and the WHATWG) map the rest 1:1. */
static const uint16_t cp1252_hi[32] = {
	0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd,
	0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178
};

static uint32_t
cp1252(unsigned char c)
{
	if (c >= 0x80 && c < 0xa0)
		return cp1252_hi[c - 0x80];
	return c;
}

/* Where the run of ASCII bytes from i ends, eight at a time. */
static size_t
ascii_span(const unsigned char *in, size_t i, size_t len)
{
	uint64_t	w;

	while (len - i >= 8) {
		memcpy(&w, in + i, 8);
		if (w & 0x8080808080808080ULL)
			break;
		i += 8;
	}
	while (i < len && in[i] < 0x80)
		i++;
	return i;
}

/* Append in to out as UTF-8: valid UTF-8 sequences as they are, any other
 * byte read as windows-1252 (what mislabelled mail almost always is).
 * -1 when out is full. */
static int
append_utf8_or_1252(struct buf *out, const unsigned char *in, size_t len,
    bool only_1252)
{
	size_t	 i = 0, run, k;
	char	 tmp[4];

	while (i < len) {
		run = ascii_span(in, i, len);
		if (!only_1252) {
			while (run < len && (k = utf8_seq(in + run,
			    len - run)) != 0)
				run = ascii_span(in, run + k, len);
		}
		if (run > i && buf_append(out, in + i, run - i) == -1)
			return -1;
		if (run >= len)
			break;
		k = utf8_put(tmp, cp1252(in[run]));
		if (buf_append(out, tmp, k) == -1)
			return -1;
		i = run + 1;
	}
	return 0;
}

static bool
is_utf8_name(const char *cs)
{
	return cs == NULL || *cs == '\0' || strcmp(cs, "utf-8") == 0 ||
	    strcmp(cs, "utf8") == 0 || strcmp(cs, "us-ascii") == 0 ||
	    strcmp(cs, "ascii") == 0 || strcmp(cs, "ansi_x3.4-1968") == 0 ||
	    strcmp(cs, "unknown-8bit") == 0 || strcmp(cs, "x-unknown") == 0;
}

static bool
is_1252_name(const char *cs)
{
	return strcmp(cs, "iso-8859-1") == 0 || strcmp(cs, "windows-1252") ==
	    0 || strcmp(cs, "latin1") == 0 || strcmp(cs, "iso8859-1") == 0 ||
	    strcmp(cs, "iso_8859-1") == 0 || strcmp(cs, "cp1252") == 0 ||
	    strcmp(cs, "l1") == 0 || strcmp(cs, "iso-8859-1:1987") == 0;
}

/* Convert with iconv; invalid input bytes become U+FFFD. -1 when out is
 * full, -2 when the charset is unknown (nothing appended). */
static int
append_iconv(struct buf *out, const char *charset, const char *in,
    size_t len)
{
	iconv_t	 cd;
	char	 chunk[4096], *op, *ip = (char *)(uintptr_t)in;
	size_t	 il = len, ol, r;
	int	 rv = 0;

	if ((cd = g_mime_iconv_open("UTF-8", charset)) == (iconv_t)-1)
		return -2;
	iconv(cd, NULL, NULL, NULL, NULL);
	while (il > 0 && rv == 0) {
		op = chunk;
		ol = sizeof chunk;
		r = iconv(cd, &ip, &il, &op, &ol);
		if (op > chunk && buf_append(out, chunk, op - chunk) == -1)
			rv = -1;
		else if (r == (size_t)-1 && errno != E2BIG) {
			if (buf_append(out, "\xef\xbf\xbd", 3) == -1)
				rv = -1;
			if (errno == EINVAL)	/* incomplete at the end */
				break;
			ip++;
			il--;
			iconv(cd, NULL, NULL, NULL, NULL);
		}
	}
	op = chunk;
	ol = sizeof chunk;
	if (rv == 0 && iconv(cd, NULL, NULL, &op, &ol) != (size_t)-1 &&
	    op > chunk && buf_append(out, chunk, op - chunk) == -1)
		rv = -1;
	g_mime_iconv_close(cd);
	return rv;
}

/* Append data in charset (lower case, may be NULL) to out as UTF-8.
 * -1 when out is full. */
int
mime_text_append(struct buf *out, const char *charset, const unsigned char *in,
    size_t len)
{
	int	rv;

	if (is_utf8_name(charset))
		return append_utf8_or_1252(out, in, len, false);
	if (is_1252_name(charset))
		return append_utf8_or_1252(out, in, len, true);
	rv = append_iconv(out, charset, (const char *)in, len);
	if (rv == -2)
		rv = append_utf8_or_1252(out, in, len, false);
	return rv;
}

/* In place: CRLF -> LF, NUL -> space, so text is one C string of len.
 * Whole lines move at once: this runs over every byte of text. */
size_t
mime_text_normalise(char *s, size_t len)
{
	char	*r = s, *w = s, *end = s + len, *cr, *z;
	size_t	 n;

	while (r < end) {
		if ((cr = memchr(r, '\r', end - r)) == NULL)
			cr = end;
		n = cr - r;
		if (w != r)
			memmove(w, r, n);
		w += n;
		r = cr;
		if (r < end) {
			if (r + 1 < end && r[1] == '\n')
				r++;		/* drop the CR */
			else
				*w++ = *r++;	/* a bare CR stays */
		}
	}
	*w = '\0';
	for (z = s; (z = memchr(z, '\0', w - z)) != NULL; z++)
		*z = ' ';
	return w - s;
}

/* Cut len back to a UTF-8 boundary at or below max. */
size_t
mime_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	return len;
}

/* A valid UTF-8 copy of a NUL-terminated string. */
char *
mime_utf8_dup(const char *s)
{
	struct buf	b;
	size_t		n = strlen(s);

	if (g_utf8_validate(s, n, NULL))
		return xstrdup(s);
	buf_init(&b, n * 3 + 1);
	if (append_utf8_or_1252(&b, (const unsigned char *)s, n, false) ==
	    -1 || b.data == NULL) {
		buf_free(&b);
		return xstrdup("");
	}
	return buf_steal(&b);
}

/* --- transfer decoding -------------------------------------------------- */

static const signed char b64_val[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
	['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17,
	['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26,
	['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31,
	['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41,
	['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46,
	['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51,
	['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61,
	['9'] = 62, ['+'] = 63, ['/'] = 64,
	/* 0: invalid, -1: whitespace, -2: padding */
	[' '] = -1, ['\t'] = -1, ['\r'] = -1, ['\n'] = -1, ['\f'] = -1,
	['\v'] = -1, ['='] = -2
};

/* Base64, lenient like mail readers: junk is skipped but reported. */
size_t
mime_decode_base64(const unsigned char *in, size_t len, unsigned char *out,
    bool *bad)
{
	uint32_t	acc = 0;
	size_t		i, o = 0;
	int		n = 0, v;
	bool		pad = false;

	for (i = 0; i < len; i++) {
		v = b64_val[in[i]];
		if (v > 0) {
			if (pad) {	/* data after padding: a new run */
				*bad = true;
				pad = false;
			}
			acc = (acc << 6) | (uint32_t)(v - 1);
			if (++n == 4) {
				out[o++] = (unsigned char)(acc >> 16);
				out[o++] = (unsigned char)(acc >> 8);
				out[o++] = (unsigned char)acc;
				n = 0;
				acc = 0;
			}
		} else if (v == -2) {
			if (n == 2)
				out[o++] = (unsigned char)(acc >> 4);
			else if (n == 3) {
				out[o++] = (unsigned char)(acc >> 10);
				out[o++] = (unsigned char)(acc >> 2);
			} else if (n == 1)
				*bad = true;
			n = 0;
			acc = 0;
			pad = true;
		} else if (v == 0)
			*bad = true;
	}
	if (n == 1)
		*bad = true;
	else if (n == 2)
		out[o++] = (unsigned char)(acc >> 4);
	else if (n == 3) {
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
	}
	return o;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Quoted-printable; a stray '=' stays as it is and is reported. */
size_t
mime_decode_qp(const unsigned char *in, size_t len, unsigned char *out,
    bool *bad)
{
	size_t	i = 0, o = 0, j;
	int	h, l;

	while (i < len) {
		const unsigned char *eq = memchr(in + i, '=', len - i);
		size_t	run = eq != NULL ? (size_t)(eq - in) - i :
			    len - i;

		memcpy(out + o, in + i, run);
		o += run;
		i += run;
		if (i >= len)
			break;
		/* at '=' */
		if (i + 2 < len + 0 && (h = hexval(in[i + 1])) >= 0 &&
		    (l = hexval(in[i + 2])) >= 0) {
			out[o++] = (unsigned char)(h << 4 | l);
			i += 3;
			continue;
		}
		/* soft line break, possibly with trailing blanks */
		j = i + 1;
		while (j < len && (in[j] == ' ' || in[j] == '\t'))
			j++;
		if (j < len && in[j] == '\r')
			j++;
		if (j >= len || in[j] == '\n') {
			i = j < len ? j + 1 : j;
			continue;
		}
		*bad = true;
		out[o++] = '=';
		i++;
	}
	return o;
}

size_t
mime_decode_uu(const unsigned char *in, size_t len, unsigned char *out)
{
	GMimeEncoding	st;

	g_mime_encoding_init_decode(&st, GMIME_CONTENT_ENCODING_UUENCODE);
	return g_mime_encoding_flush(&st, (const char *)in, len, (char *)out);
}

/* --- HTML entities -------------------------------------------------------- */

struct entity {
	const char	*name;
	uint32_t	 cp;
};

/* Latin-1 names, U+00A0 to U+00FF in order. */
static const char *const latin1_names[96] = {
	"nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect",
	"uml", "copy", "ordf", "laquo", "not", "shy", "reg", "macr", "deg",
	"plusmn", "sup2", "sup3", "acute", "micro", "para", "middot", "cedil",
	"sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
	"Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig",
	"Ccedil", "Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute",
	"Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute", "Ocirc",
	"Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc",
	"Uuml", "Yacute", "THORN", "szlig", "agrave", "aacute", "acirc",
	"atilde", "auml", "aring", "aelig", "ccedil", "egrave", "eacute",
	"ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
	"ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash",
	"ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml"
};

static const struct entity other_entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
	{ "apos", '\'' }, { "euro", 0x20ac }, { "hellip", 0x2026 },
	{ "mdash", 0x2014 }, { "ndash", 0x2013 }, { "lsquo", 0x2018 },
	{ "rsquo", 0x2019 }, { "sbquo", 0x201a }, { "ldquo", 0x201c },
	{ "rdquo", 0x201d }, { "bdquo", 0x201e }, { "bull", 0x2022 },
	{ "trade", 0x2122 }, { "dagger", 0x2020 }, { "Dagger", 0x2021 },
	{ "permil", 0x2030 }, { "lsaquo", 0x2039 }, { "rsaquo", 0x203a },
	{ "oelig", 0x0153 }, { "OElig", 0x0152 }, { "scaron", 0x0161 },
	{ "Scaron", 0x0160 }, { "Yuml", 0x0178 }, { "fnof", 0x0192 },
	{ "circ", 0x02c6 }, { "tilde", 0x02dc }, { "ensp", 0x2002 },
	{ "emsp", 0x2003 }, { "thinsp", 0x2009 }, { "zwnj", 0x200c },
	{ "zwj", 0x200d }, { "lrm", 0x200e }, { "rlm", 0x200f },
	{ "rarr", 0x2192 }, { "larr", 0x2190 }, { "hearts", 0x2665 },
	{ "star", 0x2606 }, { "check", 0x2713 }, { "prime", 0x2032 },
	{ "minus", 0x2212 }, { "infin", 0x221e }, { "asymp", 0x2248 },
	{ "ne", 0x2260 }, { "le", 0x2264 }, { "ge", 0x2265 },
	{ "alpha", 0x03b1 }, { "beta", 0x03b2 }, { "pi", 0x03c0 },
	{ "mu", 0x03bc }, { "Omega", 0x03a9 }, { "loz", 0x25ca },
	{ "spades", 0x2660 }, { "clubs", 0x2663 }, { "diams", 0x2666 },
	{ "nbhy", 0x2011 }, { "NewLine", '\n' }, { "Tab", '\t' },
};

#define N_OTHER	(sizeof other_entities / sizeof other_entities[0])
#define N_ENTITIES	(96 + N_OTHER)
static struct entity	entities[N_ENTITIES];

static int
entity_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entity *)a)->name,
	    ((const struct entity *)b)->name);
}

void
mime_text_init(void)
{
	size_t	i, n = 0;

	for (i = 0; i < 96; i++) {
		entities[n].name = latin1_names[i];
		entities[n++].cp = 0xa0 + (uint32_t)i;
	}
	for (i = 0; i < N_OTHER; i++)
		entities[n++] = other_entities[i];
	qsort(entities, n, sizeof entities[0], entity_cmp);
}

/* At p[0] == '&': the code point and how many bytes it took, or 0. */
static size_t
entity_decode(const char *p, const char *end, uint32_t *cp)
{
	const char	*q = p + 1;
	char		 name[12];
	struct entity	 key, *e;
	uint32_t	 v = 0;
	size_t		 n = 0;
	int		 d;

	if (q < end && *q == '#') {
		q++;
		if (q < end && (*q == 'x' || *q == 'X')) {
			q++;
			while (q < end && (d = hexval((unsigned char)*q)) >= 0
			    && n < 8) {
				v = v * 16 + (uint32_t)d;
				q++;
				n++;
			}
		} else {
			while (q < end && *q >= '0' && *q <= '9' && n < 9) {
				v = v * 10 + (uint32_t)(*q - '0');
				q++;
				n++;
			}
		}
		if (n == 0)
			return 0;
		while (q < end && n >= 8 && ((*q >= '0' && *q <= '9') ||
		    hexval((unsigned char)*q) >= 0)) {	/* too long */
			q++;
			v = 0xfffd;
		}
		if (q < end && *q == ';')
			q++;
		if (v == 0 || v > 0x10ffff)
			v = 0xfffd;
		else if (v >= 0x80 && v < 0xa0)
			v = cp1252((unsigned char)v);
		*cp = v;
		return (size_t)(q - p);
	}
	while (q < end && n < sizeof name - 1 && ((*q >= 'a' && *q <= 'z') ||
	    (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9')))
		name[n++] = *q++;
	if (n == 0)
		return 0;
	name[n] = '\0';
	key.name = name;
	e = bsearch(&key, entities, N_ENTITIES, sizeof entities[0],
	    entity_cmp);
	if (e == NULL)
		return 0;
	if (q < end && *q == ';')
		q++;
	*cp = e->cp;
	return (size_t)(q - p);
}

/* Decode entities of an attribute value into a new string. */
static char *
attr_decode(const char *v, size_t len)
{
	char		*o = xmalloc(len + 1);
	size_t		 i = 0, n = 0, k;
	uint32_t	 cp;

	while (i < len) {
		if (v[i] == '&' && (k = entity_decode(v + i, v + len, &cp)) >
		    0 && utf8_put(o + n, cp) <= k) {
			n += utf8_put(o + n, cp);
			i += k;
			continue;
		}
		o[n++] = v[i++];
	}
	o[n] = '\0';
	return o;
}

/* --- URLs ----------------------------------------------------------------- */

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* Normalise a URL: scheme and host lower case, "www." and "//" given
 * http, host percent-decoded and IDN as punycode. NULL when it is not a
 * link we keep (relative, javascript:, cid:, ...). */
static char *
url_normalise(const char *s, size_t n, char **hostp)
{
	char		 scheme[16], *u, *host, *a;
	const char	*p, *auth, *aend, *h, *hend, *at;
	size_t		 sl = 0, i, prefix_len;
	const char	*prefix;
	struct buf	 b;
	bool		 mailto = false, nonascii = false;
	int		 hi, lo;

	while (n > 0 && (unsigned char)*s <= ' ') {
		s++;
		n--;
	}
	while (n > 0 && (unsigned char)s[n - 1] <= ' ')
		n--;
	if (n == 0 || n > MIME_URL_MAX)
		return NULL;
	while (sl < n && sl < sizeof scheme - 1 && (is_alnum(s[sl]) ||
	    s[sl] == '+' || s[sl] == '-' || s[sl] == '.'))
		sl++;
	prefix = "";
	if (n > 2 && s[0] == '/' && s[1] == '/') {
		prefix = "http:";
		p = s + 2;
		sl = 0;
	} else if (n > 4 && strncasecmp(s, "www.", 4) == 0) {
		prefix = "http://";	/* before "www.x.example:80" */
		p = s;
		sl = 0;
	} else if (sl > 0 && sl < n && s[sl] == ':' && !(s[0] >= '0' &&
	    s[0] <= '9')) {
		memcpy(scheme, s, sl);
		scheme[sl] = '\0';
		mime_lower_ascii(scheme);
		if (strcmp(scheme, "mailto") == 0)
			mailto = true;
		else if (strcmp(scheme, "http") != 0 && strcmp(scheme,
		    "https") != 0 && strcmp(scheme, "ftp") != 0)
			return NULL;
		p = s + sl + 1;
		if (!mailto) {
			if (p >= s + n || (*p != '/' && *p != '\\'))
				return NULL;
			while (p < s + n && (*p == '/' || *p == '\\'))
				p++;
		}
	} else
		return NULL;
	prefix_len = strlen(prefix);

	/* The authority: [userinfo@]host[:port]. */
	auth = p;
	for (aend = auth; aend < s + n && *aend != '/' && *aend != '?' &&
	    *aend != '#' && *aend != '\\'; aend++)
		;
	if (mailto) {
		for (aend = auth; aend < s + n && *aend != '?'; aend++)
			;
	}
	at = NULL;
	for (h = auth; h < aend; h++)
		if (*h == '@')
			at = h;
	h = at != NULL ? at + 1 : auth;
	if (mailto && at == NULL)
		return NULL;
	if (h < aend && *h == '[') {
		hend = memchr(h, ']', aend - h);
		hend = hend != NULL ? hend + 1 : aend;
	} else
		for (hend = h; hend < aend && *hend != ':'; hend++)
			;
	if (hend == h)
		return NULL;

	/* Host: percent-decoded, lower case, no trailing dot. */
	host = xmalloc(hend - h + 1);
	for (i = 0, p = h; p < hend; p++) {
		if (*p == '%' && p + 2 < hend && (hi = hexval(p[1])) >= 0 &&
		    (lo = hexval(p[2])) >= 0) {
			host[i++] = (char)(hi << 4 | lo);
			p += 2;
		} else
			host[i++] = *p;
		if ((unsigned char)host[i - 1] >= 0x80)
			nonascii = true;
		else if ((unsigned char)host[i - 1] < 0x21 ||
		    host[i - 1] == '\0') {
			free(host);
			return NULL;
		}
	}
	host[i] = '\0';
	while (i > 0 && host[i - 1] == '.')
		host[--i] = '\0';
	mime_lower_ascii(host);
	if (i == 0) {
		free(host);
		return NULL;
	}
	if (nonascii && g_utf8_validate(host, -1, NULL) &&
	    (a = g_hostname_to_ascii(host)) != NULL) {
		free(host);
		host = xstrdup(a);
		g_free(a);
		mime_lower_ascii(host);
	}

	/* The URL as found, scheme and host lower case, no whitespace. */
	buf_init(&b, prefix_len + n + 1);
	if (buf_append(&b, prefix, prefix_len) == -1)
		goto fail;
	for (p = s; p < s + n; p++) {
		char	c = *p;

		if (c == '\t' || c == '\r' || c == '\n')
			continue;
		if ((p < s + sl || (p >= h && p < hend)) && c >= 'A' &&
		    c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (buf_append(&b, &c, 1) == -1)
			goto fail;
	}
	if (b.data == NULL)
		goto fail;
	u = buf_steal(&b);
	if (!g_utf8_validate(u, -1, NULL)) {
		char *v = mime_utf8_dup(u);

		free(u);
		u = v;
	}
	*hostp = host;
	return u;
fail:
	buf_free(&b);
	free(host);
	return NULL;
}

static void
url_add(struct mime_urls *c, int part, const char *s, size_t n,
    const char *text, bool from_html)
{
	struct msg	*m = c->m;
	struct msg_url	*mu;
	char		*url, *host, *pair;

	if (m->nurls >= MSG_URLS_MAX) {
		m->flags |= MSG_TRUNCATED;
		return;
	}
	if ((url = url_normalise(s, n, &host)) == NULL)
		return;
	if (c->seen_url == NULL) {
		c->seen_url = g_hash_table_new_full(g_str_hash, g_str_equal,
		    g_free, NULL);
		c->seen_pair = g_hash_table_new_full(g_str_hash, g_str_equal,
		    g_free, NULL);
	}
	if (!from_html) {
		/* Text URLs once; not again when an href had it. */
		if (g_hash_table_contains(c->seen_url, url))
			goto dup;
	} else {
		pair = g_strconcat(url, "\1", text != NULL ? text : "", NULL);
		if (!g_hash_table_add(c->seen_pair, pair))
			goto dup;
	}
	g_hash_table_add(c->seen_url, g_strdup(url));
	if (m->nurls == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		m->urls = xreallocarray(m->urls, c->cap, sizeof *m->urls);
	}
	mu = &m->urls[m->nurls++];
	mu->url = url;
	mu->host = host;
	mu->text = text != NULL ? xstrdup(text) : NULL;
	mu->from_html = from_html;
	mu->part = part;
	return;
dup:
	free(url);
	free(host);
}

static bool
url_stop(const unsigned char *p, const unsigned char *end)
{
	unsigned char	c = *p;

	if (c <= ' ' || c == 0x7f)
		return true;
	switch (c) {
	case '<': case '>': case '"': case '\'': case '`': case '{':
	case '}': case '|': case '\\': case '^':
		return true;
	case 0xc2:		/* U+00A0 */
		return p + 1 < end && p[1] == 0xa0;
	case 0xe3:		/* U+3000 ideographic space */
		return p + 2 < end && p[1] == 0x80 && p[2] == 0x80;
	}
	return false;
}

/* URLs written in text: http://, https://, ftp://, www. */
void
mime_urls_from_text(struct mime_urls *c, int part, const char *text, size_t len)
{
	const unsigned char	*s = (const unsigned char *)text;
	const unsigned char	*end = s + len, *p, *q;
	size_t			 pl, open;

	for (p = s; p < end; p++) {
		unsigned char	ch = *p | 0x20;

		if (ch != 'h' && ch != 'w' && ch != 'f')
			continue;
		if (p > s && (is_alnum(p[-1]) || p[-1] == '.' || p[-1] == '@' ||
		    p[-1] == '/' || p[-1] == '-'))
			continue;
		/* Most words starting so are not URLs: one cheap look at
		 * the next bytes before comparing. */
		if (end - p < 6 || (ch == 'h' && (p[1] | 0x20) != 't') ||
		    (ch == 'w' && (p[1] | 0x20) != 'w') ||
		    (ch == 'f' && (p[1] | 0x20) != 't'))
			continue;
		pl = 0;
		if (ch == 'h' && end - p > 8 && strncasecmp((const char *)p,
		    "http://", 7) == 0)
			pl = 7;
		else if (ch == 'h' && end - p > 9 &&
		    strncasecmp((const char *)p, "https://", 8) == 0)
			pl = 8;
		else if (ch == 'f' && end - p > 7 &&
		    strncasecmp((const char *)p, "ftp://", 6) == 0)
			pl = 6;
		else if (ch == 'w' && end - p > 5 &&
		    strncasecmp((const char *)p, "www.", 4) == 0)
			pl = 4;
		if (pl == 0 || url_stop(p + pl, end))
			continue;
		open = 0;
		for (q = p + pl; q < end && !url_stop(q, end); q++) {
			if (*q == '(')
				open++;
			else if (*q == ')') {
				if (open == 0)
					break;
				open--;
			}
		}
		while (q > p + pl && strchr(".,;:!?)]}*", q[-1]) != NULL)
			q--;
		if (q > p + pl)
			url_add(c, part, (const char *)p, q - p, NULL, false);
		p = q - 1;
	}
}

/* --- HTML to text --------------------------------------------------------- */

struct html {
	struct mime_urls	*c;
	int		 part;
	char		*out;		/* visible text, input + 2 */
	size_t		 len;
	size_t		 max;
	bool		 space;		/* whitespace pending */
	char		*href;		/* open <a href>, owned */
	char		 atext[MIME_LINKTEXT_MAX];
	size_t		 alen;
	bool		 aspace;
};

static void
html_put(struct html *h, const char *s, size_t n)
{
	if (h->space) {
		h->space = false;
		if (h->len > 0 && h->out[h->len - 1] != '\n' && h->len < h->max)
			h->out[h->len++] = ' ';
		if (h->href != NULL && h->alen > 0)
			h->aspace = true;
	}
	if (n > h->max - h->len) {
		n = h->max - h->len;
		h->c->m->flags |= MSG_TRUNCATED;
	}
	memcpy(h->out + h->len, s, n);
	h->len += n;
	if (h->href != NULL) {
		if (h->aspace && h->alen < sizeof h->atext - 1) {
			h->atext[h->alen++] = ' ';
			h->aspace = false;
		}
		if (n > sizeof h->atext - 1 - h->alen)
			n = mime_utf8_cut(s, n, sizeof h->atext - 1 - h->alen);
		memcpy(h->atext + h->alen, s, n);
		h->alen += n;
	}
}

static void
html_newline(struct html *h)
{
	h->space = false;
	if (h->len > 0 && h->out[h->len - 1] != '\n' && h->len < h->max)
		h->out[h->len++] = '\n';
	if (h->href != NULL && h->alen > 0)
		h->aspace = true;
}

static void
html_link_end(struct html *h)
{
	if (h->href == NULL)
		return;
	h->atext[h->alen] = '\0';
	url_add(h->c, h->part, h->href, strlen(h->href), h->atext, true);
	free(h->href);
	h->href = NULL;
	h->alen = 0;
	h->aspace = false;
}

/* Text between tags: entities decoded, whitespace collapsed. */
static void
html_text(struct html *h, const char *p, const char *end)
{
	const char	*run = p;
	uint32_t	 cp;
	size_t		 k;
	char		 tmp[4];

	while (p < end) {
		unsigned char	ch = (unsigned char)*p;

		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' ||
		    ch == '\f') {
			if (p > run)
				html_put(h, run, p - run);
			h->space = true;
			run = ++p;
		} else if (ch == '&' && (k = entity_decode(p, end, &cp)) > 0) {
			if (p > run)
				html_put(h, run, p - run);
			if (cp == 0xa0 || cp == ' ' || cp == '\t' || cp == '\n')
				h->space = true;
			else if (cp != 0xad && cp != 0x200c && cp != 0x200d)
				html_put(h, tmp, utf8_put(tmp, cp));
			p += k;
			run = p;
		} else
			p++;
	}
	if (p > run)
		html_put(h, run, p - run);
}

static const char *const html_blocks[] = {
	"address", "article", "aside", "blockquote", "br", "center", "dd",
	"div", "dl", "dt", "fieldset", "footer", "form", "h1", "h2", "h3",
	"h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
	"pre", "section", "table", "tbody", "td", "th", "thead", "tr", "ul"
};

static bool
html_is_block(const char *name)
{
	size_t	lo = 0, mid;
	size_t	hi = sizeof html_blocks / sizeof html_blocks[0];
	int	r;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((r = strcmp(name, html_blocks[mid])) == 0)
			return true;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

/* Which attribute of a start tag carries a link we keep. */
static const char *
html_link_attr(const char *tag)
{
	if (strcmp(tag, "a") == 0 || strcmp(tag, "area") == 0 ||
	    strcmp(tag, "base") == 0)
		return "href";
	if (strcmp(tag, "img") == 0 || strcmp(tag, "iframe") == 0 ||
	    strcmp(tag, "frame") == 0 || strcmp(tag, "embed") == 0)
		return "src";
	if (strcmp(tag, "form") == 0)
		return "action";
	if (strcmp(tag, "body") == 0 || strcmp(tag, "table") == 0 ||
	    strcmp(tag, "td") == 0)
		return "background";
	return NULL;
}

/* Find "</name" (case-insensitive) from p; end when absent. */
static const char *
html_find_close(const char *p, const char *end, const char *name)
{
	size_t	nl = strlen(name);

	while (p < end && (p = memchr(p, '<', end - p)) != NULL) {
		if ((size_t)(end - p) > nl + 1 && p[1] == '/' &&
		    strncasecmp(p + 2, name, nl) == 0 && (p + 2 + nl == end ||
		    !is_alnum(p[2 + nl])))
			return p;
		p++;
	}
	return end;
}

/* A tag from p ('<' + letter or '/'): returns where text resumes. */
static const char *
html_tag(struct html *h, const char *p, const char *end)
{
	char		 name[16], an[16];
	const char	*want, *v, *ve;
	size_t		 n = 0, anl;
	bool		 closing = false;
	char		 q;

	p++;
	if (*p == '/') {
		closing = true;
		p++;
	}
	while (p < end && (is_alnum(*p) || *p == '-' || *p == ':')) {
		if (n < sizeof name - 1)
			name[n++] = (char)((*p >= 'A' && *p <= 'Z') ?
			    *p - 'A' + 'a' : *p);
		p++;
	}
	name[n] = '\0';
	want = closing ? NULL : html_link_attr(name);

	/* Attributes up to '>', quotes respected. */
	while (p < end && *p != '>') {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' ||
		    *p == '/' || *p == '\f') {
			p++;
			continue;
		}
		anl = 0;
		while (p < end && *p != '=' && *p != '>' && *p != ' ' &&
		    *p != '\t' && *p != '\r' && *p != '\n' && *p != '/') {
			if (anl < sizeof an - 1)
				an[anl++] = (char)((*p >= 'A' && *p <= 'Z') ?
				    *p - 'A' + 'a' : *p);
			p++;
		}
		an[anl] = '\0';
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
		    *p == '\n'))
			p++;
		if (p >= end || *p != '=')
			continue;
		p++;
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
		    *p == '\n'))
			p++;
		if (p < end && (*p == '"' || *p == '\'')) {
			q = *p++;
			v = p;
			if ((ve = memchr(p, q, end - p)) == NULL)
				ve = end;
			p = ve < end ? ve + 1 : end;
		} else {
			v = p;
			while (p < end && *p != '>' && *p != ' ' &&
			    *p != '\t' && *p != '\r' && *p != '\n')
				p++;
			ve = p;
		}
		if (want != NULL && strcmp(an, want) == 0) {
			char	*val = attr_decode(v, ve - v);

			if (strcmp(name, "a") == 0) {
				html_link_end(h);
				h->href = val;
				h->alen = 0;
				val = NULL;
			} else if (strcmp(name, "base") != 0)
				url_add(h->c, h->part, val, strlen(val), NULL,
				    true);
			free(val);
			want = NULL;
		}
	}
	if (p < end)
		p++;

	if (closing && strcmp(name, "a") == 0)
		html_link_end(h);
	else if (html_is_block(name))
		html_newline(h);
	else if (!closing && (strcmp(name, "script") == 0 ||
	    strcmp(name, "style") == 0 || strcmp(name, "title") == 0)) {
		p = html_find_close(p, end, name);
		h->space = true;
	}
	return p;
}

/* Visible text of an HTML document, links to c's URL list. Linear: every
 * step moves forward. Caller frees; *outlen its length. */
char *
mime_html_to_text(struct mime_urls *c, int part, const char *s, size_t len,
    size_t *outlen)
{
	struct html	 h;
	const char	*p = s, *end = s + len, *lt, *e;

	memset(&h, 0, sizeof h);
	h.c = c;
	h.part = part;
	h.max = len < MSG_TEXT_MAX ? len : MSG_TEXT_MAX;
	h.out = xmalloc(h.max + 2);
	while (p < end) {
		if ((lt = memchr(p, '<', end - p)) == NULL)
			lt = end;
		html_text(&h, p, lt);
		p = lt;
		if (p >= end)
			break;
		if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
			e = g_strstr_len(p + 4, end - p - 4, "-->");
			p = e != NULL ? e + 3 : end;
			h.space = true;
		} else if (end - p >= 2 && (p[1] == '!' || p[1] == '?')) {
			e = memchr(p, '>', end - p);
			p = e != NULL ? e + 1 : end;
		} else if (end - p >= 2 && ((p[1] >= 'a' && p[1] <= 'z') ||
		    (p[1] >= 'A' && p[1] <= 'Z') || p[1] == '/'))
			p = html_tag(&h, p, end);
		else {
			html_put(&h, "<", 1);
			p++;
		}
	}
	html_link_end(&h);
	while (h.len > 0 && (h.out[h.len - 1] == '\n' ||
	    h.out[h.len - 1] == ' '))
		h.len--;
	h.out[h.len] = '\0';
	*outlen = h.len;
	return h.out;
}

/* The charset an HTML part names in <meta>, lower case, or NULL. */
char *
mime_html_meta_charset(const unsigned char *d, size_t len)
{
	const char	*s = (const char *)d, *p;
	size_t		 n, i;
	char		*cs;

	n = len < MIME_META_SCAN ? len : MIME_META_SCAN;
	for (p = s; (size_t)(p - s) + 8 < n; p++) {
		if ((*p | 0x20) != 'c' || strncasecmp(p, "charset=", 8) != 0)
			continue;
		p += 8;
		while ((size_t)(p - s) < n && (*p == '"' || *p == '\''))
			p++;
		for (i = 0; (size_t)(p - s) + i < n && i < 40 &&
		    (is_alnum(p[i]) || p[i] == '-' || p[i] == '_' ||
		    p[i] == '.' || p[i] == ':'); i++)
			;
		if (i == 0)
			return NULL;
		cs = xstrndup(p, i);
		mime_lower_ascii(cs);
		return cs;
	}
	return NULL;
}

void
mime_urls_free(struct mime_urls *u)
{
	if (u->seen_url != NULL)
		g_hash_table_destroy(u->seen_url);
	if (u->seen_pair != NULL)
		g_hash_table_destroy(u->seen_pair);
	u->seen_url = u->seen_pair = NULL;
}
