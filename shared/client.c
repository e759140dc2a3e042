/*
 * Blocking control client over a Unix socket: JSON lines with a length
 * limit, answers matched to requests by id, events queued.
 * One thread at a time per client; the caller owns the client.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "proto.h"
#include "util.h"
#include "xmalloc.h"

struct client {
	int			 fd;
	json_int_t		 next_id;
	int			 timeout_ms;	/* per call; 0: none */
	struct proto_frame	 frame;
	char			*rbuf;		/* CLIENT_READ_CHUNK */
	size_t			 roff;
	size_t			 rlen;
	json_t			*events;	/* array, oldest first */
	unsigned long		 dropped;
};

const char *
client_socket_path(const char *path)
{
	const char	*env;

	if (path != NULL && *path != '\0')
		return path;
	if ((env = getenv(CTL_SOCKET_ENV)) != NULL && *env != '\0')
		return env;
	return CTL_SOCKET_DEFAULT;
}

struct client *
client_connect(const char *path, char **cause)
{
	struct sockaddr_un	 sun;
	struct client		*c;
	int			 fd, saved;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		xasprintf(cause, "socket path too long: %s", path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return NULL;
	}
	while (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno == EINTR)
			continue;
		saved = errno;
		close(fd);
		xasprintf(cause, "connect %s: %s", path, strerror(saved));
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->rbuf = xmalloc(CLIENT_READ_CHUNK);
	c->events = json_array();
	proto_frame_init(&c->frame, CTL_ANSWER_MAX);
	return c;
}

void
client_close(struct client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	proto_frame_free(&c->frame);
	json_decref(c->events);
	free(c->rbuf);
	free(c);
}

void
client_set_timeout(struct client *c, int ms)
{
	c->timeout_ms = ms < 0 ? 0 : ms;
}

int
client_fd(const struct client *c)
{
	return c->fd;
}

unsigned long
client_events_dropped(const struct client *c)
{
	return c->dropped;
}

static int
client_write(struct client *c, const char *p, size_t len, char **cause)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = send(c->fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "send: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Milliseconds left until deadline (0: none), for poll: -1 forever. */
static int
client_wait_ms(uint64_t deadline)
{
	uint64_t	now;

	if (deadline == 0)
		return -1;
	now = util_mono_ms();
	if (now >= deadline)
		return 0;
	return deadline - now > INT32_MAX ? INT32_MAX : (int)(deadline - now);
}

/*
 * The next message from the server. Returns 1 with *msg, 0 when the
 * deadline (0: none; UINT64_MAX: do not wait) passed, -1 with *cause.
 */
static int
client_read_msg(struct client *c, uint64_t deadline, json_t **msg,
    char **cause)
{
	struct pollfd	 pfd;
	json_error_t	 err;
	ssize_t		 n;
	size_t		 used;
	int		 rv;

	for (;;) {
		while (c->roff < c->rlen) {
			rv = proto_frame_push(&c->frame, c->rbuf + c->roff,
			    c->rlen - c->roff, &used);
			c->roff += used;
			if (rv == PROTO_FRAME_TOO_LARGE) {
				xasprintf(cause, "answer longer than %d bytes",
				    CTL_ANSWER_MAX);
				return -1;
			}
			if (rv != PROTO_FRAME_LINE)
				continue;
			*msg = json_loadb(c->frame.line.data,
			    c->frame.line.len, 0, &err);
			if (*msg == NULL || !json_is_object(*msg)) {
				json_decref(*msg);
				xasprintf(cause, "bad answer from moatd: %s",
				    *msg == NULL ? err.text : "not an object");
				return -1;
			}
			return 1;
		}
		c->roff = c->rlen = 0;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		rv = poll(&pfd, 1, deadline == UINT64_MAX ? 0 :
		    client_wait_ms(deadline));
		if (rv == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "poll: %s", strerror(errno));
			return -1;
		}
		if (rv == 0)
			return 0;
		if ((n = read(c->fd, c->rbuf, CLIENT_READ_CHUNK)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			xasprintf(cause, "read: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			*cause = xstrdup("moatd closed the connection");
			return -1;
		}
		c->rlen = (size_t)n;
	}
}

static void
client_queue_event(struct client *c, json_t *ev)
{
	if (json_array_size(c->events) >= CLIENT_EVENTS_MAX) {
		json_array_remove(c->events, 0);
		c->dropped++;
	}
	json_array_append_new(c->events, ev);
}

/* Split an answer into the caller's outputs. */
static int
client_answer(json_t *msg, json_t **result, char **code, char **cause)
{
	json_t		*ok, *err, *r;
	const char	*s;

	ok = json_object_get(msg, "ok");
	if (json_is_true(ok)) {
		r = json_object_get(msg, "result");
		*result = r != NULL ? json_incref(r) : json_object();
		return 0;
	}
	err = json_object_get(msg, "error");
	if (!json_is_false(ok) || !json_is_object(err)) {
		*cause = xstrdup("bad answer from moatd: no ok or error");
		return -1;
	}
	s = json_string_value(json_object_get(err, "code"));
	*code = xstrdup(s != NULL ? s : "unknown");
	s = json_string_value(json_object_get(err, "message"));
	*cause = xstrdup(s != NULL ? s : *code);
	return 1;
}

int
client_call(struct client *c, const char *cmd, json_t *args,
    json_t **result, char **code, char **cause)
{
	json_t		*req, *msg, *id;
	json_int_t	 want;
	uint64_t	 deadline = 0;
	char		*line;
	size_t		 len;
	int		 rv;

	*result = NULL;
	*code = NULL;
	*cause = NULL;
	want = ++c->next_id;
	if ((req = proto_request_new(want, cmd, args)) == NULL ||
	    (line = proto_encode(req, &len)) == NULL) {
		json_decref(req);
		*cause = xstrdup("request cannot be encoded");
		return -1;
	}
	json_decref(req);
	/* The daemon judges by our role; no role may send more. */
	if (len - 1 > CTL_REQ_ADMIN_MAX) {
		free(line);
		xasprintf(cause, "request longer than %d bytes",
		    CTL_REQ_ADMIN_MAX);
		return -1;
	}
	rv = client_write(c, line, len, cause);
	free(line);
	if (rv == -1)
		return -1;
	if (c->timeout_ms > 0)
		deadline = util_mono_ms() + (uint64_t)c->timeout_ms;
	for (;;) {
		if ((rv = client_read_msg(c, deadline, &msg, cause)) == -1)
			return -1;
		if (rv == 0) {
			*cause = xstrdup("moatd did not answer in time");
			return -1;
		}
		if (json_object_get(msg, "event") != NULL) {
			client_queue_event(c, msg);
			continue;
		}
		/* One call at a time: an error without an id is ours. */
		id = json_object_get(msg, "id");
		if ((json_is_integer(id) && json_integer_value(id) == want) ||
		    json_is_null(id)) {
			rv = client_answer(msg, result, code, cause);
			json_decref(msg);
			return rv;
		}
		json_decref(msg);	/* a late answer to an abandoned call */
	}
}

int
client_next_event(struct client *c, int timeout_ms, json_t **event,
    char **cause)
{
	json_t		*msg;
	uint64_t	 deadline;
	int		 rv;

	*event = NULL;
	*cause = NULL;
	if (json_array_size(c->events) > 0) {
		*event = json_incref(json_array_get(c->events, 0));
		json_array_remove(c->events, 0);
		return 1;
	}
	if (timeout_ms < 0)
		deadline = 0;
	else if (timeout_ms == 0)
		deadline = UINT64_MAX;
	else
		deadline = util_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		if ((rv = client_read_msg(c, deadline, &msg, cause)) != 1)
			return rv;
		if (json_object_get(msg, "event") != NULL) {
			*event = msg;
			return 1;
		}
		json_decref(msg);	/* an answer nobody waits for */
	}
}
