/*
 * Small helpers both the daemon and the console use.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "xmalloc.h"

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t left)
{
	size_t	 n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlongs, surrogates, C1 controls and out-of-range points. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0) ||
	    cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069))
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
