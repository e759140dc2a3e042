/*
 * Registrable domains ("organizational domains") without downloading the
 * Public Suffix List: a compiled-in heuristic. A name's public suffix is
 *   - two labels when its last two labels are in a short list of
 *     multi-label suffixes (common ones of the PSL's private section such
 *     as blogspot.com, github.io, herokuapp.com, and CentralNic's uk.com),
 *   - two labels when the top-level label is a two-letter country code and
 *     the second one a generic second level (co, com, net, org, ac, gov,
 *     edu, or, ne, go ...): co.uk, com.au, ac.jp, gov.br,
 *   - otherwise one label.
 * The registrable domain is the suffix plus one label. It errs towards a
 * shorter suffix (a name like www.city.kawasaki.jp yields city.kawasaki.jp
 * where the PSL has kawasaki.jp wildcards), which for SURBL look-ups and
 * alignment only makes a check a little stricter.
 * Pure functions, any thread. Names are lower case without a final dot.
 */
#ifndef MOAT_PSL_H
#define MOAT_PSL_H

#include <stdbool.h>
#include <stddef.h>

#define PSL_NAME_MAX	253	/* longest domain name we look at */

/* The registrable part of host, a pointer into host; host itself for an
 * IP literal; NULL when host is a public suffix, empty or too long. */
const char	*psl_registrable(const char *host);
/* True when domain is a public suffix by the rules above. */
bool		 psl_is_suffix(const char *domain);
/* True for an IPv4 dotted quad or an IPv6 literal (brackets allowed). */
bool		 psl_is_ip(const char *host);
/* True when name equals domain or is a subdomain of it (case-blind). */
bool		 psl_in_domain(const char *name, const char *domain);

#endif
