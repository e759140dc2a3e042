/*
 * The outbound SMTP client: delivers one message to the next hop with its
 * envelope intact and reports the next hop's answer per recipient. Blocking
 * I/O with deadlines, so it runs on worker threads only; each worker keeps
 * its own cached connection for the next message.
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
#define RELAY_CACHE_IDLE_MS	5000	/* reuse a connection this long */

struct body;
struct cfg;

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
	/* SMTP (not LMTP) upstream has one answer for all recipients: never
	 * deliver to only some of them. */
	bool			 all_or_nothing;
	/* out */
	int			 code;		/* 2xx when delivered to anyone */
	char			 reply[RELAY_REPLY_MAX];
	uint32_t		 ms;
};

/* Worker thread. Fills the answers; never fails without one. */
void	relay_send(const struct cfg *, struct relay_msg *);
/* Worker thread exit: drop the cached connection. */
void	relay_thread_done(void);

#endif
