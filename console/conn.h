/*
 * The console's connection to moatd. It hides where the socket came from:
 *   a path:  connected here, and reconnected with backoff when lost;
 *   a descriptor handed over (moat -F FD): the SSH front opened it and
 *            declared the user and role on it, so it is never replaced:
 *            when it ends the console says so and cannot reconnect.
 * Requests never block: they are queued and answered through callbacks
 * while the caller's poll loop runs conn_io.
 * Console thread; one conn per console.
 */
#ifndef MOAT_CONN_H
#define MOAT_CONN_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "aclient.h"

#define CONN_RETRY_MIN_MS	250
#define CONN_RETRY_MAX_MS	5000

enum conn_state {
	CONN_DOWN = 0,	/* not connected; retrying (path) */
	CONN_UP,
	CONN_GONE,	/* the handed-over descriptor ended: for good */
};

struct conn_hooks {
	void	(*up)(void *arg);	/* connected, first time or again */
	void	(*down)(void *arg, const char *cause);	/* just lost */
	void	(*event)(void *arg, const char *name, json_t *data);
	void	 *arg;
};

struct conn;

/* path: the socket (see client_socket_path). */
struct conn	*conn_new_path(const char *path, const struct conn_hooks *);
/* fd: a connected stream socket from the SSH front. NULL with *cause
 * when it is not one. */
struct conn	*conn_new_fd(int fd, const struct conn_hooks *, char **cause);
void		 conn_free(struct conn *);	/* accepts NULL */
/* The first connection attempt (runs the up hook on success). */
void		 conn_start(struct conn *);

/* Queue a request: the id (> 0), or -1 when not connected (cb is not
 * called) with *cause set when cause is not NULL (caller frees). */
int64_t		 conn_call(struct conn *, const char *cmd, json_t *args,
		    aclient_answer_cb cb, void *arg, char **cause);
void		 conn_cancel(struct conn *, int64_t id);
void		 conn_cancel_arg(struct conn *, void *arg);
bool		 conn_is_pending(const struct conn *, int64_t id);

/* Fill pfd for poll; false when there is nothing to poll. */
bool		 conn_pollfd(const struct conn *, struct pollfd *);
void		 conn_io(struct conn *, short revents);
/* Milliseconds until conn_tick has work (a reconnect); -1: none. */
int		 conn_timeout(const struct conn *, uint64_t now_ms);
void		 conn_tick(struct conn *, uint64_t now_ms);
/* Try now (a key asked for it). */
void		 conn_retry_now(struct conn *);

enum conn_state	 conn_state(const struct conn *);
bool		 conn_is_handed(const struct conn *);
const char	*conn_where(const struct conn *);	/* for people */
const char	*conn_cause(const struct conn *);	/* why down, or "" */
uint64_t	 conn_retry_at(const struct conn *);	/* mono ms, 0: none */
uint64_t	 conn_down_since(const struct conn *);	/* mono ms */
/* Monotonic ms when the oldest unanswered request was sent; 0: none. */
uint64_t	 conn_busy_since(const struct conn *);
unsigned	 conn_generation(const struct conn *);	/* +1 per connect */

#endif
