/*
 * The outbound SMTP client: delivers one message to the next hop with its
 * envelope intact and reports the next hop's answer per recipient.
 * Loop thread only, asynchronous: connections to the next hop are cached
 * and reused, commands are pipelined, and many messages are in flight at
 * once on one thread without a hand-over per message.
 */
#ifndef MOAT_RELAY_H
#define MOAT_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_parse.h"

#define RELAY_REPLY_MAX		512	/* one reply line we keep */
#define RELAY_LINE_MAX		2048	/* longest reply line we accept */
#define RELAY_REPLY_LINES_MAX	100	/* lines of one multi-line reply */
#define RELAY_CACHE_IDLE_MS	5000	/* keep an idle connection this long */
#define RELAY_IDLE_MAX		128	/* idle connections kept */
#define RELAY_OUT_CHUNK		(256 * 1024) /* body bytes queued at once */

struct body;
struct cfg;
struct event_base;

struct relay_rcpt {
	const char	*addr;		/* borrowed */
	const char	*notify;	/* borrowed, "" none */
	const char	*orcpt;		/* borrowed, "" none */
	int		 code;		/* out: the answer for this recipient */
	char		 reply[RELAY_REPLY_MAX];
};

struct relay_msg {
	const char		*mail_from;	/* borrowed, "" for <> */
	bool			 smtputf8;
	enum smtp_body_type	 body_type;
	const char		*ret;		/* "" none */
	const char		*envid;		/* "" none */
	const struct smtp_xforward *xforward;	/* NULL none */
	struct relay_rcpt	*rcpts;
	size_t			 nrcpts;
	const struct body	*body;
	const char		*prepend;	/* borrowed: header lines sent
						 * before the body, or NULL */
	/* SMTP (not LMTP) upstream has one answer for all recipients: never
	 * deliver to only some of them. */
	bool			 all_or_nothing;
	/* out */
	int			 code;		/* 2xx when delivered to anyone */
	char			 reply[RELAY_REPLY_MAX];
	uint32_t		 ms;
};

typedef void	(*relay_done_fn)(struct relay_msg *, void *arg);

void	relay_init(struct event_base *);
/* Deliver m (borrowed until done runs). done always runs later from the
 * loop, never inside this call, with every answer filled. */
void	relay_send(const struct cfg *, struct relay_msg *m, relay_done_fn done,
	    void *arg);
size_t	relay_conn_count(void);		/* open, busy or idle */
/* Close idle connections; busy ones finish first. */
void	relay_shutdown(void);

#endif
