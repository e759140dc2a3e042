/*
 * SPF (RFC 7208) with libspf2 for the network checks (netcheck.h): the
 * MAIL FROM identity, or the HELO name for the null sender. Loop thread.
 *
 * libspf2 resolves through "DNS layers"; ours answers only from records
 * already fetched for this message. When the evaluation asks for one we
 * lack, the layer answers "try again" and notes the name; the round's
 * result is dropped, the missing records are fetched with dnsq, and the
 * evaluation runs again, up to SPF_CHECK_ROUNDS_MAX rounds. Each round is
 * a few microseconds of CPU; libspf2's own limit of ten DNS mechanisms
 * bounds the rounds. Loopback clients are not checked (libspf2 would
 * pass them).
 *
 * Findings: SPF_PASS, SPF_FAIL, SPF_SOFTFAIL, SPF_NEUTRAL, SPF_NONE,
 * SPF_TEMPERROR, SPF_PERMERROR (scores in filters.spf.scores).
 */
#ifndef MOAT_SPF_CHECK_H
#define MOAT_SPF_CHECK_H

#define SPF_CHECK_ROUNDS_MAX	24
#define SPF_CHECK_CACHE_MAX	64	/* records kept per message */

struct netcheck_run;

void	spf_check_init(const char *hostname);	/* loop, at start-up */
void	spf_check_shutdown(void);
void	spf_check_start(struct netcheck_run *);
/* The deadline passed: stop, add SPF_TEMPERROR if not decided. */
void	spf_check_abort(struct netcheck_run *);
void	spf_check_free(struct netcheck_run *);

#endif
