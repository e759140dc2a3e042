/*
 * DKIM (RFC 6376) verification of every signature with libopendkim for
 * the network checks (netcheck.h). The loop thread reads d= and s= of
 * each DKIM-Signature (at most filters.dkim.max_signatures) and fetches
 * the keys with dnsq; then a job on the netcheck pool runs libopendkim
 * over the raw message, its key look-up callback answering from the
 * fetched keys. Findings go to the list back on the loop thread.
 *
 * Findings: DKIM_VALID (a signature verified), DKIM_VALID_AU (one from
 * the author's domain: the From domain or a domain with the same
 * registrable domain), DKIM_INVALID (a signature failed), DKIM_TEMPFAIL
 * (a key could not be fetched).
 */
#ifndef MOAT_DKIM_CHECK_H
#define MOAT_DKIM_CHECK_H

#define DKIM_CHECK_SIGS_MAX	16	/* max_signatures upper bound */
#define DKIM_CHECK_SIGS_DEF	5
#define DKIM_CHECK_KEY_MAX	4096	/* a key record */

struct netcheck_run;

void	dkim_check_init(void);		/* loop, at start-up */
void	dkim_check_shutdown(void);
void	dkim_check_start(struct netcheck_run *);
void	dkim_check_abort(struct netcheck_run *);
void	dkim_check_free(struct netcheck_run *);

#endif
