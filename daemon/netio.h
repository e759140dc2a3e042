/*
 * Writing to a bufferevent's socket without the event churn: replies are
 * gathered in a private buffer and written straight away; only what the
 * socket will not take goes to the bufferevent, which then waits for the
 * socket to drain. Saves the enable/poll/write/disable round per reply.
 * Loop thread only.
 */
#ifndef MOAT_NETIO_H
#define MOAT_NETIO_H

struct bufferevent;
struct evbuffer;

/* Write pending to bev's socket now, keeping order with bev's output. */
void	netio_flush(struct bufferevent *bev, struct evbuffer *pending);

#endif
