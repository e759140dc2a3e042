/*
 * Direct writes for bufferevents. Loop thread only.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "netio.h"

void
netio_flush(struct bufferevent *bev, struct evbuffer *pending)
{
	struct evbuffer	*out;
	evutil_socket_t	 fd;

	if (evbuffer_get_length(pending) == 0)
		return;
	out = bufferevent_get_output(bev);
	fd = bufferevent_getfd(bev);
	/* Only when nothing is queued before it, or order would break. */
	if (fd != -1 && evbuffer_get_length(out) == 0 &&
	    (bufferevent_get_enabled(bev) & EV_WRITE) != 0) {
		while (evbuffer_get_length(pending) > 0 &&
		    evbuffer_write(pending, fd) > 0)
			;
	}
	/* The rest (or the error) is the bufferevent's to handle. */
	if (evbuffer_get_length(pending) > 0)
		evbuffer_add_buffer(out, pending);
}
