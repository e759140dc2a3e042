/*
 * Non-blocking control client: requests queued into a bounded output
 * buffer, answers framed by proto_frame and matched to a fixed table of
 * pending requests, events handed to one callback.
 * One thread; callbacks run from aclient_io and aclient_fail.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aclient.h"
#include "buf.h"
#include "proto.h"
#include "util.h"
#include "xmalloc.h"

struct aclient_req {
	int64_t			 id;
	aclient_answer_cb	 cb;	/* NULL: cancelled or ignored */
	void			*arg;
	uint64_t		 queued_ms;
};

struct aclient {
	int			 fd;
	int64_t			 next_id;
	struct buf		 out;
	size_t			 out_off;	/* written part of out */
	struct proto_frame	 frame;
	char			*rbuf;		/* ACLIENT_READ_CHUNK */
	size_t			 roff;
	size_t			 rlen;
	struct aclient_req	 reqs[ACLIENT_PENDING_MAX];
	size_t			 nreqs;		/* oldest first */
	aclient_event_cb	 ev;
	void			*ev_arg;
};

int
aclient_connect_unix(const char *path, int *fd, char **cause)
{
	struct sockaddr_un	 sun;
	int			 s, saved;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		xasprintf(cause, "socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return -1;
	}
	/* A Unix connect completes at once or fails (EAGAIN: backlog full,
	 * which the caller treats like any failure and retries). */
	while (connect(s, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno == EINTR)
			continue;
		saved = errno;
		close(s);
		xasprintf(cause, "connect %s: %s", path, strerror(saved));
		return -1;
	}
	*fd = s;
	return 0;
}

struct aclient *
aclient_new(int fd, aclient_event_cb ev, void *ev_arg)
{
	struct aclient	*c;
	int		 fl;

	if ((fl = fcntl(fd, F_GETFL)) != -1)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if ((fl = fcntl(fd, F_GETFD)) != -1)
		(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->ev = ev;
	c->ev_arg = ev_arg;
	c->rbuf = xmalloc(ACLIENT_READ_CHUNK);
	buf_init(&c->out, ACLIENT_OUT_MAX);
	proto_frame_init(&c->frame, CTL_ANSWER_MAX);
	return c;
}

void
aclient_free(struct aclient *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	buf_free(&c->out);
	proto_frame_free(&c->frame);
	free(c->rbuf);
	free(c);
}

int
aclient_fd(const struct aclient *c)
{
	return c->fd;
}

short
aclient_poll_events(const struct aclient *c)
{
	return POLLIN | (c->out_off < c->out.len ? POLLOUT : 0);
}

size_t
aclient_npending(const struct aclient *c)
{
	return c->nreqs;
}

uint64_t
aclient_oldest_ms(const struct aclient *c)
{
	size_t	i;

	for (i = 0; i < c->nreqs; i++) {
		if (c->reqs[i].cb != NULL)
			return c->reqs[i].queued_ms;
	}
	return 0;
}

bool
aclient_is_pending(const struct aclient *c, int64_t id)
{
	size_t	i;

	for (i = 0; i < c->nreqs; i++) {
		if (c->reqs[i].id == id)
			return c->reqs[i].cb != NULL;
	}
	return false;
}

int64_t
aclient_call(struct aclient *c, const char *cmd, json_t *args,
    aclient_answer_cb cb, void *arg, char **cause)
{
	struct aclient_req	*r;
	json_t			*req;
	char			*line;
	size_t			 len;
	int64_t			 id;

	if (c->nreqs == ACLIENT_PENDING_MAX) {
		xasprintf(cause, "more than %d requests waiting",
		    ACLIENT_PENDING_MAX);
		return -1;
	}
	id = ++c->next_id;
	if ((req = proto_request_new(id, cmd, args)) == NULL ||
	    (line = proto_encode(req, &len)) == NULL) {
		json_decref(req);
		*cause = xstrdup("request cannot be encoded");
		return -1;
	}
	json_decref(req);
	if (len - 1 > CTL_REQ_MAX) {
		free(line);
		xasprintf(cause, "request longer than %d bytes", CTL_REQ_MAX);
		return -1;
	}
	if (c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
	}
	if (buf_append(&c->out, line, len) == -1) {
		free(line);
		*cause = xstrdup("too much output waiting for moatd");
		return -1;
	}
	free(line);
	r = &c->reqs[c->nreqs++];
	r->id = id;
	r->cb = cb;
	r->arg = arg;
	r->queued_ms = util_mono_ms();
	return id;
}

void
aclient_cancel(struct aclient *c, int64_t id)
{
	size_t	i;

	for (i = 0; i < c->nreqs; i++) {
		if (c->reqs[i].id == id)
			c->reqs[i].cb = NULL;
	}
}

void
aclient_cancel_arg(struct aclient *c, void *arg)
{
	size_t	i;

	for (i = 0; i < c->nreqs; i++) {
		if (c->reqs[i].arg == arg)
			c->reqs[i].cb = NULL;
	}
}

/* Remove request id from the table into *out. */
static bool
aclient_take(struct aclient *c, int64_t id, struct aclient_req *out)
{
	size_t	i;

	for (i = 0; i < c->nreqs; i++) {
		if (c->reqs[i].id != id)
			continue;
		*out = c->reqs[i];
		memmove(&c->reqs[i], &c->reqs[i + 1],
		    (c->nreqs - i - 1) * sizeof c->reqs[0]);
		c->nreqs--;
		return true;
	}
	return false;
}

/* One line from the server: an answer or an event. */
static int
aclient_line(struct aclient *c, const char *line, size_t len, char **cause)
{
	struct aclient_req	 r;
	json_error_t		 jerr;
	json_t			*msg, *ev, *id, *err;
	const char		*code, *text;

	if ((msg = json_loadb(line, len, 0, &jerr)) == NULL ||
	    !json_is_object(msg)) {
		json_decref(msg);
		xasprintf(cause, "bad line from moatd: %s",
		    msg == NULL ? jerr.text : "not an object");
		return -1;
	}
	if ((ev = json_object_get(msg, "event")) != NULL) {
		if (json_is_string(ev) && c->ev != NULL)
			c->ev(c->ev_arg, json_string_value(ev),
			    json_object_get(msg, "data"));
		json_decref(msg);
		return 0;
	}
	id = json_object_get(msg, "id");
	if (!json_is_integer(id) ||
	    !aclient_take(c, json_integer_value(id), &r) || r.cb == NULL) {
		json_decref(msg);	/* not ours, or cancelled */
		return 0;
	}
	if (json_is_true(json_object_get(msg, "ok"))) {
		r.cb(r.arg, json_object_get(msg, "result") != NULL ?
		    json_object_get(msg, "result") : json_null(), NULL, NULL);
	} else {
		err = json_object_get(msg, "error");
		code = json_string_value(json_object_get(err, "code"));
		text = json_string_value(json_object_get(err, "message"));
		if (code == NULL)
			code = PROTO_E_INTERNAL;
		r.cb(r.arg, NULL, code, text != NULL ? text : code);
	}
	json_decref(msg);
	return 0;
}

static int
aclient_read(struct aclient *c, char **cause)
{
	enum proto_frame_rv	 rv;
	size_t			 used, total = 0;
	ssize_t			 n;

	for (;;) {
		while (c->roff < c->rlen) {
			rv = proto_frame_push(&c->frame, c->rbuf + c->roff,
			    c->rlen - c->roff, &used);
			c->roff += used;
			if (rv == PROTO_FRAME_TOO_LARGE) {
				xasprintf(cause, "line from moatd longer than "
				    "%d bytes", CTL_ANSWER_MAX);
				return -1;
			}
			if (rv == PROTO_FRAME_LINE &&
			    aclient_line(c, c->frame.line.data,
			    c->frame.line.len, cause) == -1)
				return -1;
		}
		c->roff = c->rlen = 0;
		if (total >= ACLIENT_READ_TURN_MAX)
			return 0;	/* poll says when there is more */
		n = read(c->fd, c->rbuf, ACLIENT_READ_CHUNK);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			xasprintf(cause, "read: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			*cause = xstrdup("moatd closed the connection");
			return -1;
		}
		c->rlen = (size_t)n;
		total += (size_t)n;
	}
}

static int
aclient_write(struct aclient *c, char **cause)
{
	ssize_t	n;

	while (c->out_off < c->out.len) {
		n = send(c->fd, c->out.data + c->out_off,
		    c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			xasprintf(cause, "write: %s", strerror(errno));
			return -1;
		}
		c->out_off += (size_t)n;
	}
	buf_reset(&c->out);
	c->out_off = 0;
	return 0;
}

int
aclient_io(struct aclient *c, short revents, char **cause)
{
	if ((revents & POLLOUT) && aclient_write(c, cause) == -1)
		return -1;
	/* On POLLHUP/POLLERR read too: it drains what came and finds EOF. */
	if ((revents & (POLLIN | POLLHUP | POLLERR)) &&
	    aclient_read(c, cause) == -1)
		return -1;
	if ((revents & POLLNVAL)) {
		*cause = xstrdup("control descriptor is not open");
		return -1;
	}
	return 0;
}

void
aclient_fail(struct aclient *c, const char *message)
{
	struct aclient_req	*reqs;
	size_t			 n, i;

	/* Callbacks may queue new requests: finish a copy of the table. */
	n = c->nreqs;
	reqs = xreallocarray(NULL, n > 0 ? n : 1, sizeof *reqs);
	memcpy(reqs, c->reqs, n * sizeof *reqs);
	c->nreqs = 0;
	for (i = 0; i < n; i++) {
		if (reqs[i].cb != NULL)
			reqs[i].cb(reqs[i].arg, NULL, ACLIENT_E_CLOSED,
			    message);
	}
	free(reqs);
}
