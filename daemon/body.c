/*
 * Message bodies in memory, spilling to an unlinked file when large.
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "body.h"
#include "log.h"
#include "xmalloc.h"

struct body *
body_new(const char *spool_dir)
{
	struct body	*b;

	b = xcalloc(1, sizeof *b);
	buf_init(&b->mem, BODY_MEM_MAX);
	b->fd = -1;
	b->spool_dir = xstrdup(spool_dir);
	return b;
}

void
body_free(struct body *b)
{
	if (b == NULL)
		return;
	buf_free(&b->mem);
	free(b->wbuf);
	if (b->map != NULL)
		munmap(b->map, b->len);
	if (b->fd != -1)
		close(b->fd);
	free(b->spool_dir);
	free(b);
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
body_spill(struct body *b)
{
	char	*path;
	int	 fd;

	fd = open(b->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1) {
		/* Filesystems without O_TMPFILE: create and unlink. */
		xasprintf(&path, "%s/moat-body.XXXXXX", b->spool_dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd != -1)
			unlink(path);
		free(path);
	}
	if (fd == -1 || write_all(fd, b->mem.data, b->mem.len) == -1) {
		b->error = errno;
		if (fd != -1)
			close(fd);
		return -1;
	}
	b->fd = fd;
	b->wbuf = xmalloc(BODY_WBUF);
	b->wlen = 0;
	/* Keep only the head in memory. */
	if (b->mem.len > BODY_HEAD_MAX) {
		b->mem.len = BODY_HEAD_MAX;
		b->mem.data[b->mem.len] = '\0';
	}
	return 0;
}

int
body_append(struct body *b, const void *p, size_t n)
{
	size_t	room;

	if (b->error != 0)
		return -1;
	if (b->fd == -1) {
		if (buf_append(&b->mem, p, n) == 0) {
			b->len += n;
			return 0;
		}
		if (body_spill(b) == -1)
			return -1;
	}
	/* Spilled: top up the head, then write to the file. */
	if (b->mem.len < BODY_HEAD_MAX && b->len == b->mem.len) {
		room = BODY_HEAD_MAX - b->mem.len;
		if (buf_append(&b->mem, p, n < room ? n : room) == -1)
			return -1;
	}
	b->len += n;
	if (b->wlen + n > BODY_WBUF && body_finish(b) == -1)
		return -1;
	if (n >= BODY_WBUF) {
		if (write_all(b->fd, p, n) == -1) {
			b->error = errno;
			return -1;
		}
		return 0;
	}
	memcpy(b->wbuf + b->wlen, p, n);
	b->wlen += n;
	return 0;
}

int
body_finish(struct body *b)
{
	if (b->error != 0)
		return -1;
	if (b->fd == -1 || b->wlen == 0)
		return 0;
	if (write_all(b->fd, b->wbuf, b->wlen) == -1) {
		b->error = errno;
		return -1;
	}
	b->wlen = 0;
	return 0;
}

ssize_t
body_read(const struct body *b, size_t off, void *dst, size_t n)
{
	ssize_t	r;

	if (off >= b->len)
		return 0;
	if (n > b->len - off)
		n = b->len - off;
	if (b->fd == -1) {
		memcpy(dst, b->mem.data + off, n);
		return (ssize_t)n;
	}
	do
		r = pread(b->fd, dst, n, (off_t)off);
	while (r == -1 && errno == EINTR);
	return r;
}

const char *
body_map(struct body *b, size_t *len)
{
	void	*p;

	*len = b->len;
	if (b->fd == -1)
		return b->mem.data != NULL ? b->mem.data : "";
	if (b->map == NULL) {
		if (b->len == 0)
			return "";
		p = mmap(NULL, b->len, PROT_READ, MAP_PRIVATE, b->fd, 0);
		if (p == MAP_FAILED)
			return NULL;
		b->map = p;
	}
	return b->map;
}

const char *
body_head(const struct body *b, size_t *len)
{
	*len = b->mem.len;
	return b->mem.data != NULL ? b->mem.data : "";
}
