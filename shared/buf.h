/*
 * Bounded growing byte buffer: every growing buffer in Moat goes through it
 * so that no input can grow memory past a named limit.
 * Owned by one thread at a time.
 */
#ifndef MOAT_BUF_H
#define MOAT_BUF_H

#include <stddef.h>

struct buf {
	char	*data;		/* owned; always NUL-terminated when non-NULL */
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* appends past this fail */
};

void	buf_init(struct buf *, size_t max);
void	buf_free(struct buf *);
void	buf_reset(struct buf *);
int	buf_append(struct buf *, const void *, size_t)
	    __attribute__((warn_unused_result));
int	buf_appendf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3), warn_unused_result));
char	*buf_steal(struct buf *);	/* caller frees; buffer is reset */

#endif
