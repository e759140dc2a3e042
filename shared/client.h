/*
 * Blocking control client: connect to moatd's socket, call a command and
 * wait for its answer, read tracking events. Used by moatctl and the
 * console. One thread at a time per client.
 */
#ifndef MOAT_CLIENT_H
#define MOAT_CLIENT_H

#include <jansson.h>

#define CLIENT_EVENTS_MAX	10000	/* events held while a call waits */
#define CLIENT_READ_CHUNK	65536

struct client;

/* The socket to use: path if given, else $MOAT_SOCKET, else the default. */
const char	*client_socket_path(const char *path);

/* NULL with *cause (caller frees) when the socket cannot be reached. */
struct client	*client_connect(const char *path, char **cause);
void		 client_close(struct client *);		/* accepts NULL */
/* Limit for each call in milliseconds; 0 (the default) waits forever. */
void		 client_set_timeout(struct client *, int ms);
int		 client_fd(const struct client *);

/*
 * Send cmd with args (borrowed; NULL: none) and wait for its answer.
 * Events that arrive meanwhile are kept for client_next_event.
 *   0  ok: *result is the answer's result (new reference);
 *   1  the command failed: *code and *cause hold the error (caller frees);
 *  -1  the connection failed or broke: *cause (caller frees), *code NULL.
 */
int		 client_call(struct client *, const char *cmd, json_t *args,
		    json_t **result, char **code, char **cause);

/* The next event ({"event":..,"data":..}, new reference), waiting up to
 * timeout_ms (-1: forever, 0: only what has arrived). Returns 1 with an
 * event, 0 on timeout, -1 with *cause when the connection ends. */
int		 client_next_event(struct client *, int timeout_ms,
		    json_t **event, char **cause);
/* Events dropped because more than CLIENT_EVENTS_MAX were waiting. */
unsigned long	 client_events_dropped(const struct client *);

#endif
