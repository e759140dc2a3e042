/*
 * Text for the terminal: cleaning, display width, fitting, formats.
 * Console thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "buf.h"
#include "ui_text.h"
#include "util.h"
#include "xmalloc.h"

#define REPLACEMENT	0xfffd

static bool	text_utf8 = true;

void
ui_text_set_utf8(bool on)
{
	text_utf8 = on;
}

bool
ui_text_utf8(void)
{
	return text_utf8;
}

/* Characters that reorder or hide text (Trojan Source) or are invisible
 * format controls: dropped. */
static bool
is_format_control(uint32_t cp)
{
	return cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	    cp == 0xfeff;
}

/* Kinds of escape sequence by their introducer. */
enum esc_kind {
	ESC_NONE = 0,
	ESC_CSI,	/* ESC [ or U+009B: parameters up to a final byte */
	ESC_STRING,	/* OSC, DCS, SOS, PM, APC: up to BEL or ST */
};

static enum esc_kind
c1_kind(uint32_t cp)
{
	switch (cp) {
	case 0x9b:
		return ESC_CSI;
	case 0x90: case 0x98: case 0x9d: case 0x9e: case 0x9f:
		return ESC_STRING;
	}
	return ESC_NONE;
}

/* Skip a CSI body at s[i]: parameters and intermediates (0x20-0x3f)
 * up to and including a final byte (0x40-0x7e). */
static size_t
skip_csi(const unsigned char *s, size_t len, size_t i)
{
	while (i < len && s[i] >= 0x20 && s[i] <= 0x3f)
		i++;
	if (i < len && s[i] >= 0x40 && s[i] <= 0x7e)
		i++;
	return i;
}

/* Skip a control string at s[i] up to and including BEL, ESC \ or U+009C
 * (unterminated: to the end, as a terminal would swallow it). */
static size_t
skip_string(const unsigned char *s, size_t len, size_t i)
{
	while (i < len) {
		if (s[i] == 0x07)
			return i + 1;
		if (s[i] == 0x1b)
			return i + 1 < len && s[i + 1] == '\\' ? i + 2 : i + 1;
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] == 0x9c)
			return i + 2;
		i++;
	}
	return i;
}

/* Skip what follows an ESC at s[i]. */
static size_t
skip_esc(const unsigned char *s, size_t len, size_t i)
{
	if (i >= len)
		return i;
	switch (s[i]) {
	case '[':
		return skip_csi(s, len, i + 1);
	case ']': case 'P': case 'X': case '^': case '_':
		return skip_string(s, len, i + 1);
	}
	/* nF: intermediates then a final byte; else one final byte. */
	while (i < len && s[i] >= 0x20 && s[i] <= 0x2f)
		i++;
	if (i < len && s[i] >= 0x30 && s[i] <= 0x7e)
		i++;
	return i;
}

char *
ui_text_clean(const char *str)
{
	const unsigned char	*s = (const unsigned char *)str;
	struct buf		 b;
	size_t			 len, i, n;
	uint32_t		 cp;
	char			 enc[4], *out;
	enum esc_kind		 k;

	if (s == NULL)
		return xstrdup("");
	len = strnlen(str, UI_TEXT_MAX);
	buf_init(&b, UI_TEXT_MAX);
	for (i = 0; i < len;) {
		if (s[i] == 0x1b) {
			i = skip_esc(s, len, i + 1);
			continue;
		}
		n = util_utf8_decode(s + i, len - i, &cp);
		if ((k = c1_kind(cp)) != ESC_NONE) {
			i = k == ESC_CSI ? skip_csi(s, len, i + n) :
			    skip_string(s, len, i + n);
			continue;
		}
		i += n;
		if (cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x2028 ||
		    cp == 0x2029) {
			if (b.len > 0 && b.data[b.len - 1] != ' ' &&
			    buf_append(&b, " ", 1) == -1)
				break;
			continue;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
		    is_format_control(cp))
			continue;
		if (buf_append(&b, enc, util_utf8_encode(cp, enc)) == -1)
			break;
	}
	if (b.data == NULL)
		return xstrdup("");
	/* The same policy as the daemon's, as a second line of defence. */
	out = util_sanitize(b.data, b.len, UI_TEXT_MAX);
	buf_free(&b);
	return out;
}

/* Columns of one code point of clean text. */
static int
cp_width(uint32_t cp)
{
	int	w;

	if (cp < 0x80)
		return 1;
	if (!text_utf8)
		return 1;
	w = wcwidth((wchar_t)cp);
	return w < 0 ? 1 : w;
}

int
ui_text_width(const char *clean)
{
	const unsigned char	*s = (const unsigned char *)clean;
	size_t			 len = strlen(clean), i = 0;
	uint32_t		 cp;
	int			 w = 0, cw;

	while (i < len) {
		i += util_utf8_decode(s + i, len - i, &cp);
		cw = cp_width(cp);
		if (!text_utf8 && cp >= 0x80 && wcwidth((wchar_t)cp) == 0)
			cw = 0;		/* combining marks are dropped */
		w += cw;
	}
	return w;
}

size_t
ui_text_prefix(const char *clean, int width)
{
	const unsigned char	*s = (const unsigned char *)clean;
	size_t			 len = strlen(clean), i = 0, n;
	uint32_t		 cp;
	int			 w = 0, cw;

	while (i < len) {
		n = util_utf8_decode(s + i, len - i, &cp);
		cw = cp_width(cp);
		if (w + cw > width && i > 0)
			break;
		w += cw;
		i += n;
	}
	return i;
}

/* Append one code point to out as the terminal can show it. */
static size_t
put_cp(uint32_t cp, char *out)
{
	int	w;

	if (cp < 0x80)
		return util_utf8_encode(cp, out);
	if (!text_utf8) {
		/* Our own separators read well in ASCII; the rest is '?'. */
		out[0] = cp == 0xb7 ? '-' : cp == 0x2026 ? '~' : '?';
		return 1;
	}

	w = wcwidth((wchar_t)cp);
	if (w < 0)
		cp = REPLACEMENT;
	return util_utf8_encode(cp, out);
}

int
ui_text_fit(const char *s, int width, int flags, char *out, size_t outsz)
{
	const unsigned char	*p;
	const char		*mark = text_utf8 ? "\xe2\x80\xa6" : "~";
	char			*clean = NULL, enc[4];
	size_t			 len, i, n, o = 0, need;
	uint32_t		 cp;
	int			 used = 0, cw, total, room, pad = 0, lead = 0;
	bool			 cut;

	if (outsz == 0)
		return 0;
	out[0] = '\0';
	if (width <= 0)
		return 0;
	if (flags & UI_FIT_RAW)
		p = (const unsigned char *)(s != NULL ? s : "");
	else
		p = (const unsigned char *)(clean = ui_text_clean(s));
	len = strlen((const char *)p);
	total = ui_text_width((const char *)p);
	cut = total > width;
	room = cut ? width - 1 : width;
	if (!cut && (flags & UI_FIT_RIGHT))
		lead = width - total;
	else if (!cut && (flags & UI_FIT_PAD))
		pad = width - total;
	for (; lead > 0 && o + 1 < outsz; lead--)
		out[o++] = ' ';
	used = (int)o;
	for (i = 0; i < len;) {
		n = util_utf8_decode(p + i, len - i, &cp);
		cw = cp_width(cp);
		if (!text_utf8 && cp >= 0x80 && wcwidth((wchar_t)cp) == 0) {
			i += n;		/* a combining mark alone is noise */
			continue;
		}
		if (cw > 0 && used + cw > room)
			break;
		need = put_cp(cp, enc);
		if (o + need + 1 > outsz)
			break;
		memcpy(out + o, enc, need);
		o += need;
		used += cw;
		i += n;
	}
	if (cut) {
		/* A wide character that did not fit leaves a gap. */
		for (; used < width - 1 && o + 1 < outsz; used++)
			out[o++] = ' ';
		if (o + strlen(mark) + 1 <= outsz) {
			memcpy(out + o, mark, strlen(mark));
			o += strlen(mark);
			used++;
		}
	}
	for (; pad > 0 && o + 1 < outsz; pad--, used++)
		out[o++] = ' ';
	out[o] = '\0';
	free(clean);
	return used;
}

void
ui_text_count(int64_t n, char *out, size_t len)
{
	const char	*sign = n < 0 ? "-" : "";
	double		 v;

	if (n < 0)
		n = -n;
	v = (double)n;
	if (n < 1000)
		snprintf(out, len, "%s%lld", sign, (long long)n);
	else if (n < 10000)
		snprintf(out, len, "%s%.1fk", sign, v / 1000);
	else if (n < 1000000)
		snprintf(out, len, "%s%lldk", sign, (long long)(n / 1000));
	else if (n < 10000000)
		snprintf(out, len, "%s%.1fM", sign, v / 1e6);
	else if (n < 1000000000)
		snprintf(out, len, "%s%lldM", sign, (long long)(n / 1000000));
	else
		snprintf(out, len, "%s%.1fG", sign, v / 1e9);
}

void
ui_text_grouped(int64_t n, char *out, size_t len)
{
	char	digits[32], tmp[48];
	size_t	nd, i, o = 0;

	snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? -n : n));
	nd = strlen(digits);
	if (n < 0)
		tmp[o++] = '-';
	for (i = 0; i < nd; i++) {
		if (i > 0 && (nd - i) % 3 == 0)
			tmp[o++] = ',';
		tmp[o++] = digits[i];
	}
	tmp[o] = '\0';
	snprintf(out, len, "%s", tmp);
}

void
ui_text_size(int64_t n, char *out, size_t len)
{
	if (n < 0)
		snprintf(out, len, "-");
	else if (n < 1024)
		snprintf(out, len, "%lld", (long long)n);
	else if (n < 1024 * 1024)
		snprintf(out, len, "%.1fK", (double)n / 1024);
	else if (n < 1024LL * 1024 * 1024)
		snprintf(out, len, "%.1fM", (double)n / (1024 * 1024));
	else
		snprintf(out, len, "%.1fG", (double)n / (1024.0 * 1024 * 1024));
}

void
ui_text_duration(int64_t s, char *out, size_t len)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, len, "%lldm %02llds", (long long)(s / 60),
		    (long long)(s % 60));
	else if (s < 86400)
		snprintf(out, len, "%lldh %02lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		snprintf(out, len, "%lldd %02lldh", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
}

void
ui_text_time(int64_t ms, int64_t now_ms, char *out, size_t len)
{
	struct tm	tm, now;
	time_t		t = (time_t)(ms / 1000), n = (time_t)(now_ms / 1000);

	if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
	    localtime_r(&n, &now) == NULL) {
		snprintf(out, len, "-");
		return;
	}
	if (tm.tm_year == now.tm_year && tm.tm_yday == now.tm_yday)
		strftime(out, len, "%H:%M:%S", &tm);
	else
		strftime(out, len, "%m-%d %H:%M", &tm);
}

void
ui_text_datetime(int64_t ms, char *out, size_t len)
{
	struct tm	tm;
	time_t		t = (time_t)(ms / 1000);

	if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, len, "-");
}

size_t
ui_text_sparkline(const int64_t *v, size_t n, char *out, size_t outsz)
{
	static const char *const bars[] = {
		"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
		"\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88",
	};
	static const char	ascii[] = "_.:-=+*#";
	int64_t			max = 0;
	size_t			i, o = 0, level, bl;

	if (outsz == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (v[i] > max)
			max = v[i];
	}
	for (i = 0; i < n; i++) {
		if (v[i] <= 0 || max == 0)
			level = 0;
		else	/* 1..7: any non-zero value above the floor */
			level = 1 + (size_t)(v[i] * 6 / max);
		if (level > 7)
			level = 7;
		bl = text_utf8 ? strlen(bars[level]) : 1;
		if (o + bl + 1 > outsz)
			break;
		if (text_utf8)
			memcpy(out + o, bars[level], bl);
		else
			out[o] = ascii[level];
		o += bl;
	}
	out[o] = '\0';
	return i;
}

/* --- times a person types ---------------------------------------------- */

static int
parse_relative(const char *s, int64_t now_ms, int64_t *ms)
{
	char		*end;
	long long	 n;
	int64_t		 unit;

	n = strtoll(s + 1, &end, 10);
	if (end == s + 1 || n < 0 || n > 100000)
		return -1;
	switch (*end) {
	case 's':
		unit = 1000;
		break;
	case 'm':
		unit = 60 * 1000;
		break;
	case 'h':
		unit = 3600 * 1000;
		break;
	case 'd':
		unit = 86400 * 1000;
		break;
	case 'w':
		unit = 7LL * 86400 * 1000;
		break;
	default:
		return -1;
	}
	if (end[1] != '\0')
		return -1;
	*ms = now_ms - (int64_t)n * unit;
	return 0;
}

int
ui_text_parse_time(const char *in, int64_t now_ms, int64_t *ms,
    char **cause)
{
	struct tm	 tm;
	time_t		 now = (time_t)(now_ms / 1000), t;
	char		 s[64], *end;
	size_t		 len;

	while (isspace((unsigned char)*in))
		in++;
	len = strlen(in);
	while (len > 0 && isspace((unsigned char)in[len - 1]))
		len--;
	if (len == 0 || len >= sizeof s)
		goto bad;
	memcpy(s, in, len);
	s[len] = '\0';
	if (strcmp(s, "now") == 0) {
		*ms = now_ms;
		return 0;
	}
	if (s[0] == '-')
		return parse_relative(s, now_ms, ms) == 0 ? 0 :
		    (xasprintf(cause, "not a time: %s (try -15m, -2h, -1d)", s),
		    -1);
	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm)) != NULL &&
	    *end == '\0')
		goto local;
	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%d %H:%M", &tm)) != NULL && *end == '\0')
		goto local;
	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%Y-%m-%d", &tm)) != NULL && *end == '\0')
		goto local;
	memset(&tm, 0, sizeof tm);
	if ((end = strptime(s, "%H:%M", &tm)) != NULL && *end == '\0') {
		struct tm	today;

		if (localtime_r(&now, &today) == NULL)
			goto bad;
		tm.tm_year = today.tm_year;
		tm.tm_mon = today.tm_mon;
		tm.tm_mday = today.tm_mday;
		goto local;
	}
bad:
	xasprintf(cause, "not a time: \"%.40s\" (try now, -15m, -2h, 14:30, "
	    "2025-01-31 08:00)", in);
	return -1;
local:
	tm.tm_isdst = -1;
	if ((t = mktime(&tm)) == (time_t)-1)
		goto bad;
	*ms = (int64_t)t * 1000;
	return 0;
}

int
ui_text_parse_range(const char *in, int64_t now_ms, int64_t *from_ms,
    int64_t *to_ms, char **cause)
{
	const char	*dots;
	char		*a;

	while (isspace((unsigned char)*in))
		in++;
	if (*in == '\0') {
		*from_ms = now_ms - 3600 * 1000;
		*to_ms = now_ms;
		return 0;
	}
	if ((dots = strstr(in, "..")) == NULL) {
		*to_ms = now_ms;
		return ui_text_parse_time(in, now_ms, from_ms, cause);
	}
	a = xstrndup(in, (size_t)(dots - in));
	if (ui_text_parse_time(a, now_ms, from_ms, cause) == -1) {
		free(a);
		return -1;
	}
	free(a);
	if (ui_text_parse_time(dots + 2, now_ms, to_ms, cause) == -1)
		return -1;
	if (*to_ms <= *from_ms) {
		xasprintf(cause, "the end of the range is not after its start");
		return -1;
	}
	return 0;
}
