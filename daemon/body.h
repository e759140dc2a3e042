/*
 * A message body (the message itself, dot-unstuffed, CRLF lines): in memory
 * up to BODY_MEM_MAX, beyond that in an unlinked temporary file. The first
 * BODY_HEAD_MAX bytes always stay in memory for header inspection.
 * Written by the loop thread, then owned by one worker job at a time.
 */
#ifndef MOAT_BODY_H
#define MOAT_BODY_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define BODY_MEM_MAX	(1024 * 1024)
#define BODY_HEAD_MAX	(64 * 1024)
#define BODY_WBUF	(64 * 1024)	/* spill file writes in this size */

struct body {
	struct buf	 mem;		/* whole body, or its head once spilled */
	int		 fd;		/* -1 while in memory */
	size_t		 len;
	char		*spool_dir;	/* owned */
	char		*wbuf;		/* spilled: gathers small appends */
	void		*map;		/* body_map of the spill file */
	size_t		 wlen;
	int		 error;		/* errno of a failed spill or write */
};

struct body	*body_new(const char *spool_dir);
void		 body_free(struct body *);	/* accepts NULL */
/* 0, or -1 when the spill file cannot be written (error set). */
int		 body_append(struct body *, const void *, size_t)
		    __attribute__((warn_unused_result));
/* The end of the message: write out what is gathered. 0 or -1. */
int		 body_finish(struct body *)
		    __attribute__((warn_unused_result));
/* After body_finish. Read up to n bytes at off; returns bytes read, 0 at end, -1 on error. */
ssize_t		 body_read(const struct body *, size_t off, void *, size_t n);
/* The whole message as one read-only block (a mapping once spilled), or
 * NULL on error. Valid until body_free; after body_finish. */
const char	*body_map(struct body *, size_t *len);
/* The in-memory head (headers live here). */
const char	*body_head(const struct body *, size_t *len);

#endif
