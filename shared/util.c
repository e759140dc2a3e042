/*
 * Small helpers both the daemon and the console use.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "xmalloc.h"

size_t
util_utf8_decode(const unsigned char *p, size_t left, uint32_t *cp)
{
	size_t		n, i;
	uint32_t	c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		c = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		c = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		c = p[0] & 0x07;
	} else
		goto bad;
	if (n > left)
		goto bad;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		goto bad;
	*cp = c;
	return n;
bad:
	*cp = 0xfffd;
	return 1;
}

size_t
util_utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of the valid, drawable UTF-8 sequence at p, or 0: C1 controls,
 * line separators and bidi overrides are not drawable. */
static size_t
utf8_seq(const unsigned char *p, size_t left)
{
	uint32_t	cp;
	size_t		n;

	n = util_utf8_decode(p, left, &cp);
	if (n == 1 && p[0] >= 0x80)
		return 0;
	if ((cp >= 0x80 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029 ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
		return 0;
	return n;
}

char *
util_sanitize(const char *s, size_t len, size_t max)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			*out, *o;
	size_t			 i, n;

	out = o = xmalloc((len < max ? len : max) + 1);
	for (i = 0; i < len && (size_t)(o - out) < max;) {
		if (p[i] == '\t' || p[i] == '\r' || p[i] == '\n') {
			if (o != out && o[-1] != ' ')
				*o++ = ' ';
			i++;
			continue;
		}
		if (p[i] < 0x20 || p[i] == 0x7f) {
			i++;
			continue;
		}
		n = utf8_seq(p + i, len - i);
		if (n == 0) {
			*o++ = '?';
			i++;
			continue;
		}
		if ((size_t)(o - out) + n > max)
			break;
		memcpy(o, p + i, n);
		o += n;
		i += n;
	}
	*o = '\0';
	return out;
}

uint64_t
util_mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t
util_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
util_split_hostport(const char *s, char **host, int *port)
{
	const char	*colon, *h, *e;
	char		*end;
	long		 p;

	if (s[0] == '[') {
		if ((e = strchr(s, ']')) == NULL || e[1] != ':')
			return -1;
		h = s + 1;
		colon = e + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		h = s;
		e = colon;
	}
	if (e == h)
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535 || end == colon + 1)
		return -1;
	*host = xstrndup(h, (size_t)(e - h));
	*port = (int)p;
	return 0;
}
