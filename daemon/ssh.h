/*
 * The SSH front: an embedded libssh server that runs the moat console
 * for local users (users.h). One accept thread per ssh.listen address and
 * one thread per session, so nothing here blocks the loop thread; the
 * console's control connection is a socketpair whose daemon end the loop
 * thread hands to ctl_conn_adopt with the user's role.
 */
#ifndef MOAT_SSH_H
#define MOAT_SSH_H

struct event_base;
struct cfg;

#define SSH_SESSIONS_MAX	32	/* sessions at once */
#define SSH_AUTH_TIMEOUT_S	60	/* key exchange and login */
#define SSH_AUTH_TRIES_MAX	6	/* per connection */
#define SSH_POLL_MS		250	/* session loop: check for stop */
#define SSH_RSA_BITS		3072
#define SSH_CONSOLE_ENV		"MOAT_CONSOLE"	/* overrides the moat path */

/* Loop thread, when cfg->ssh_enabled: make host keys (first start),
 * bind the listeners and start the threads. 0, or -1 with *cause. */
int	ssh_start(struct event_base *, const struct cfg *, char **cause);
/* Stop accepting, end the sessions and join the threads. */
void	ssh_stop(void);

#endif
