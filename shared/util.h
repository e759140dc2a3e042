/*
 * Small helpers both the daemon and the console use.
 * Any thread.
 */
#ifndef MOAT_UTIL_H
#define MOAT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy at most max bytes of s, dropping control characters and invalid
 * UTF-8 so the result is safe to draw on a terminal. Caller frees. */
char	*util_sanitize(const char *s, size_t len, size_t max);

/* One UTF-8 sequence at p (left > 0): its length and code point; an
 * invalid, overlong or surrogate sequence gives U+FFFD for one byte. */
size_t	util_utf8_decode(const unsigned char *p, size_t left, uint32_t *cp);
/* cp (<= U+10FFFF) as UTF-8 into out (4 bytes room): its length. */
size_t	util_utf8_encode(uint32_t cp, char *out);

/* Milliseconds on the monotonic and the wall clock. */
uint64_t util_mono_ms(void);
int64_t	 util_wall_ms(void);

/* Split "host:port" or "[v6]:port". Caller frees *host. */
int	util_split_hostport(const char *, char **host, int *port);

#endif
