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

/* Milliseconds on the monotonic and the wall clock. */
uint64_t util_mono_ms(void);
int64_t	 util_wall_ms(void);

/* Split "host:port" or "[v6]:port". Caller frees *host. */
int	util_split_hostport(const char *, char **host, int *port);

#endif
