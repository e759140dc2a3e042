/*
 * Non-blocking control client: JSON lines over a socket the caller polls.
 * Requests are matched to answers by id and finish through callbacks;
 * events go to one event callback. No I/O happens except in aclient_io,
 * which the caller runs when poll says the descriptor is ready.
 * One thread; the caller owns the client.
 */
#ifndef MOAT_ACLIENT_H
#define MOAT_ACLIENT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ACLIENT_OUT_MAX		(4 * 1024 * 1024) /* unsent request bytes */
#define ACLIENT_PENDING_MAX	256	/* requests waiting for an answer */
#define ACLIENT_READ_CHUNK	65536
#define ACLIENT_READ_TURN_MAX	(1024 * 1024)	/* bytes read per aclient_io,
						 * so keys stay responsive */

/* The code a callback sees when the connection ended before the answer. */
#define ACLIENT_E_CLOSED	"disconnected"

/*
 * An answer: result (borrowed, an object or other JSON value) and code NULL
 * when ok; otherwise result NULL, code and message (borrowed) say why.
 */
typedef void	(*aclient_answer_cb)(void *arg, json_t *result,
		    const char *code, const char *message);
/* An event: name and data borrowed. */
typedef void	(*aclient_event_cb)(void *arg, const char *name, json_t *data);

struct aclient;

/* Connect to a Unix socket without blocking. -1 with *cause (caller frees):
 * the caller retries later. */
int		 aclient_connect_unix(const char *path, int *fd, char **cause);

/* Take fd (a connected stream socket; made non-blocking and close-on-exec).
 * ev may be NULL. */
struct aclient	*aclient_new(int fd, aclient_event_cb ev, void *ev_arg);
/* Close the socket; pending callbacks are not called. Accepts NULL. */
void		 aclient_free(struct aclient *);
int		 aclient_fd(const struct aclient *);
/* POLLIN, plus POLLOUT while requests wait to be written. */
short		 aclient_poll_events(const struct aclient *);

/*
 * Queue cmd with args (borrowed; NULL: none). Returns the request id (> 0),
 * or -1 with *cause (too many pending, request too large). cb may be NULL
 * (answer ignored); it runs from aclient_io or aclient_fail, never from
 * here.
 */
int64_t		 aclient_call(struct aclient *, const char *cmd, json_t *args,
		    aclient_answer_cb cb, void *arg, char **cause);
/* Forget a request: its callback will not run. Unknown ids are ignored. */
void		 aclient_cancel(struct aclient *, int64_t id);
/* Forget every request whose callback argument is arg. */
void		 aclient_cancel_arg(struct aclient *, void *arg);

/* Read and write as revents allow. 0, or -1 with *cause when the
 * connection ended or the server broke the protocol; then call
 * aclient_fail and aclient_free. */
int		 aclient_io(struct aclient *, short revents, char **cause);
/* Finish every pending request with ACLIENT_E_CLOSED and message. */
void		 aclient_fail(struct aclient *, const char *message);

size_t		 aclient_npending(const struct aclient *);
/* Monotonic ms when the oldest pending request was queued; 0: none. */
uint64_t	 aclient_oldest_ms(const struct aclient *);
/* Is request id still waiting? */
bool		 aclient_is_pending(const struct aclient *, int64_t id);

#endif
