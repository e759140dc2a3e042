/*
 * MIME analysis with GMime: raw message → struct msg (daemon/msg.h).
 * Any thread after mime_init() on the main thread at start-up.
 */
#ifndef MOAT_MIME_H
#define MOAT_MIME_H

#include <stddef.h>

#include "msg.h"

void		 mime_init(void);
void		 mime_shutdown(void);
/* Never fails on bad input: malformed parts set MSG_MALFORMED and are
 * analysed as far as they go. raw is borrowed for the msg's life. */
struct msg	*mime_parse(const char *raw, size_t len);

#endif
