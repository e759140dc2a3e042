/*
 * The console's connection to moatd: a path it reconnects to with backoff,
 * or a handed-over descriptor it keeps until it ends.
 * Console thread.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "util.h"
#include "xmalloc.h"

struct conn {
	char			*path;		/* NULL: handed over */
	int			 handed_fd;	/* until started */
	char			*where;
	struct conn_hooks	 hooks;
	struct aclient		*ac;		/* NULL while not up */
	enum conn_state		 state;
	char			*cause;
	uint64_t		 retry_at;
	uint64_t		 down_since;
	int			 backoff_ms;
	unsigned		 gen;
};

static void	conn_event(void *, const char *, json_t *);

struct conn *
conn_new_path(const char *path, const struct conn_hooks *h)
{
	struct conn	*c;

	c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path);
	c->where = xstrdup(path);
	c->handed_fd = -1;
	c->hooks = *h;
	c->cause = xstrdup("not connected yet");
	c->backoff_ms = CONN_RETRY_MIN_MS;
	c->down_since = util_mono_ms();
	return c;
}

struct conn *
conn_new_fd(int fd, const struct conn_hooks *h, char **cause)
{
	struct conn	*c;
	socklen_t	 len;
	int		 type;

	len = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1) {
		xasprintf(cause, "descriptor %d: %s", fd, strerror(errno));
		return NULL;
	}
	if (type != SOCK_STREAM) {
		xasprintf(cause, "descriptor %d is not a stream socket", fd);
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->handed_fd = fd;
	xasprintf(&c->where, "descriptor %d (handed over)", fd);
	c->hooks = *h;
	c->cause = xstrdup("not started");
	c->down_since = util_mono_ms();
	return c;
}

static void
conn_set_cause(struct conn *c, const char *s)
{
	free(c->cause);
	c->cause = xstrdup(s != NULL ? s : "");
}

static void
conn_went_up(struct conn *c, int fd)
{
	c->ac = aclient_new(fd, conn_event, c);
	c->state = CONN_UP;
	c->gen++;
	c->retry_at = 0;
	c->backoff_ms = CONN_RETRY_MIN_MS;
	conn_set_cause(c, "");
	if (c->hooks.up != NULL)
		c->hooks.up(c->hooks.arg);
}

static void
conn_try(struct conn *c)
{
	char	*cause = NULL;
	int	 fd;

	if (c->path == NULL || c->state == CONN_UP)
		return;
	if (aclient_connect_unix(c->path, &fd, &cause) == -1) {
		conn_set_cause(c, cause);
		free(cause);
		c->retry_at = util_mono_ms() + (uint64_t)c->backoff_ms;
		c->backoff_ms *= 2;
		if (c->backoff_ms > CONN_RETRY_MAX_MS)
			c->backoff_ms = CONN_RETRY_MAX_MS;
		return;
	}
	conn_went_up(c, fd);
}

void
conn_start(struct conn *c)
{
	int	fd;

	if (c->path == NULL) {
		if ((fd = c->handed_fd) < 0)
			return;
		c->handed_fd = -1;
		conn_went_up(c, fd);
		return;
	}
	conn_try(c);
}

/* The connection ended: fail its requests, then retry or give up. */
static void
conn_lost(struct conn *c, const char *cause)
{
	struct aclient	*ac = c->ac;

	if (ac == NULL)
		return;
	/* Callbacks that call conn_call now see a connection that is down. */
	c->ac = NULL;
	c->state = c->path != NULL ? CONN_DOWN : CONN_GONE;
	c->down_since = util_mono_ms();
	conn_set_cause(c, cause);
	if (c->path != NULL) {
		c->backoff_ms = CONN_RETRY_MIN_MS;
		c->retry_at = util_mono_ms() + (uint64_t)c->backoff_ms;
	}
	aclient_fail(ac, cause);
	aclient_free(ac);
	if (c->hooks.down != NULL)
		c->hooks.down(c->hooks.arg, cause);
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	aclient_free(c->ac);
	free(c->path);
	free(c->where);
	free(c->cause);
	free(c);
}

static void
conn_event(void *arg, const char *name, json_t *data)
{
	struct conn	*c = arg;

	if (c->hooks.event != NULL)
		c->hooks.event(c->hooks.arg, name, data);
}

int64_t
conn_call(struct conn *c, const char *cmd, json_t *args,
    aclient_answer_cb cb, void *arg, char **cause)
{
	char	*why = NULL;
	int64_t	 id;

	if (c->ac == NULL) {
		if (cause != NULL)
			xasprintf(cause, "not connected to moatd");
		return -1;
	}
	if ((id = aclient_call(c->ac, cmd, args, cb, arg, &why)) == -1) {
		if (cause != NULL)
			*cause = why;
		else
			free(why);
	}
	return id;
}

void
conn_cancel(struct conn *c, int64_t id)
{
	if (c->ac != NULL && id > 0)
		aclient_cancel(c->ac, id);
}

void
conn_cancel_arg(struct conn *c, void *arg)
{
	if (c->ac != NULL)
		aclient_cancel_arg(c->ac, arg);
}

bool
conn_is_pending(const struct conn *c, int64_t id)
{
	return c->ac != NULL && id > 0 && aclient_is_pending(c->ac, id);
}

bool
conn_pollfd(const struct conn *c, struct pollfd *pfd)
{
	if (c->ac == NULL)
		return false;
	pfd->fd = aclient_fd(c->ac);
	pfd->events = aclient_poll_events(c->ac);
	pfd->revents = 0;
	return true;
}

void
conn_io(struct conn *c, short revents)
{
	char	*cause = NULL;

	if (c->ac == NULL || revents == 0)
		return;
	if (aclient_io(c->ac, revents, &cause) == -1) {
		conn_lost(c, cause);
		free(cause);
	}
}

int
conn_timeout(const struct conn *c, uint64_t now)
{
	if (c->state != CONN_DOWN || c->path == NULL || c->retry_at == 0)
		return -1;
	if (c->retry_at <= now)
		return 0;
	return (int)(c->retry_at - now);
}

void
conn_tick(struct conn *c, uint64_t now)
{
	if (c->state == CONN_DOWN && c->path != NULL && c->retry_at != 0 &&
	    c->retry_at <= now)
		conn_try(c);
}

void
conn_retry_now(struct conn *c)
{
	if (c->state == CONN_DOWN && c->path != NULL) {
		c->backoff_ms = CONN_RETRY_MIN_MS;
		conn_try(c);
	}
}

enum conn_state
conn_state(const struct conn *c)
{
	return c->state;
}

bool
conn_is_handed(const struct conn *c)
{
	return c->path == NULL;
}

const char *
conn_where(const struct conn *c)
{
	return c->where;
}

const char *
conn_cause(const struct conn *c)
{
	return c->cause != NULL ? c->cause : "";
}

uint64_t
conn_retry_at(const struct conn *c)
{
	return c->state == CONN_DOWN ? c->retry_at : 0;
}

uint64_t
conn_down_since(const struct conn *c)
{
	return c->down_since;
}

uint64_t
conn_busy_since(const struct conn *c)
{
	return c->ac != NULL ? aclient_oldest_ms(c->ac) : 0;
}

unsigned
conn_generation(const struct conn *c)
{
	return c->gen;
}
