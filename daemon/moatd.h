/*
 * Process-wide state of moatd that modules read: the event base and reload.
 * Loop thread only.
 */
#ifndef MOAT_MOATD_H
#define MOAT_MOATD_H

struct event_base;

extern struct event_base	*moatd_base;

/* Reload configuration from the file it came from; on error keeps the old
 * snapshot and sets *cause (caller frees). */
int	moatd_reload(char **cause);

#endif
