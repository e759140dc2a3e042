/*
 * The inbound ESMTP/LMTP server: listeners, sessions, the DATA phase, and the
 * hand-over of each finished message to the scan pool.
 * Loop thread only.
 */
#ifndef MOAT_SMTP_H
#define MOAT_SMTP_H

#include <stddef.h>

struct event_base;
struct cfg;

int	smtp_start(struct event_base *, char **cause);
/* Stop accepting; sessions finish their message, then close. */
void	smtp_drain(void);
/* True once every session has closed after smtp_drain. */
int	smtp_drained(void);
void	smtp_free(void);

size_t	smtp_session_count(void);	/* open SMTP sessions */
size_t	smtp_inflight_count(void);	/* messages handed to workers */

#endif
