/*
 * Allocation wrappers: out of memory is fatal, so callers never check.
 * Any thread. Every returned pointer is owned by the caller.
 */
#ifndef MOAT_XMALLOC_H
#define MOAT_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
