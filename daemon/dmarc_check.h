/*
 * DMARC (RFC 7489) with libopendmarc for the network checks
 * (netcheck.h). The loop thread fetches _dmarc.<From domain> and, for a
 * subdomain, _dmarc.<its registrable domain> (psl.h) at once; when SPF
 * and DKIM have finished, libopendmarc gets the record, the From domain
 * and their results and says which policy applies. The policy only adds
 * findings; the rule system decides what to do.
 *
 * Findings: DMARC_PASS, DMARC_REJECT, DMARC_QUARANTINE, DMARC_NONE
 * (failed with p=none), DMARC_NA (no record), DMARC_TEMPERROR.
 */
#ifndef MOAT_DMARC_CHECK_H
#define MOAT_DMARC_CHECK_H

#define DMARC_CHECK_RECORD_MAX	1024	/* a DMARC record */

struct netcheck_run;

void	dmarc_check_init(void);		/* loop, at start-up */
void	dmarc_check_shutdown(void);
void	dmarc_check_start(struct netcheck_run *);
/* SPF and DKIM results may be complete: decide when the record is in. */
void	dmarc_check_try(struct netcheck_run *);
void	dmarc_check_abort(struct netcheck_run *);
void	dmarc_check_free(struct netcheck_run *);

#endif
