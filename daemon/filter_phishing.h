/*
 * Phishing heuristics, a worker filter over struct msg (scan.h):
 *   PHISH_LINK_MISMATCH   link text shows one domain, the href goes to
 *                         another registrable domain (psl.h)
 *   PHISH_LINK_PROTECTED  the same, the text showing a protected domain
 *   URI_IP                a link to an IP address (also the decimal, hex
 *                         and octal spellings browsers accept)
 *   PHISH_LOOKALIKE       a link host imitating a protected domain:
 *                         confusable characters (punycode decoded to
 *                         Unicode and folded to an ASCII skeleton: Cyrillic
 *                         and Greek look-alikes, accents, fullwidth forms,
 *                         0/o, 1/l, rn/m, vv/w) or one edit (insert, delete,
 *                         replace, swap) away from the protected label of
 *                         five letters or more
 *   PHISH_FROM_LOOKALIKE  the From domain doing the same
 *   PHISH_BRAND_SUBDOMAIN a protected domain used as a subdomain of
 *                         another (paypal.com.example.net)
 *   PHISH_PUNYCODE        an IDN label mixing Latin with Cyrillic or Greek
 *   PHISH_DISPLAY_SPOOF   the From display name holds a local domain (or
 *                         an address in one) while From is external
 *   PHISH_BRAND_DISPLAY   the display name names a protected brand (its
 *                         label, four letters or more) while From is not
 *                         that brand's domain
 * Protected domains are filters.phishing.protected plus
 * smtp.local_domains. A host in (or under) a protected domain is never
 * suspicious.
 *
 * filters.phishing = { enabled = true; protected = [ "paypal.com" ];
 *                      scores = { PHISH_LOOKALIKE = 4.0; }; };
 */
#ifndef MOAT_FILTER_PHISHING_H
#define MOAT_FILTER_PHISHING_H

#include <stdbool.h>
#include <stddef.h>

#include "scan.h"

#define PHISH_PROTECTED_MAX	200	/* protected domains */
#define PHISH_HOSTS_MAX		200	/* distinct link hosts looked at */
#define PHISH_LABEL_MAX		63

extern const struct scan_filter filter_phishing;

/* Exposed for the tests. */
/* Decode a punycode label (without "xn--") to code points; -1 if bad. */
int	phish_punycode_decode(const char *in, size_t len, unsigned *out,
	    size_t *outlen);
/* The ASCII skeleton of a label (punycode decoded first). */
void	phish_skeleton(const char *label, char *out, size_t len);
/* True when a and b are at most one edit apart (swap counts one). */
bool	phish_one_edit(const char *a, const char *b);
/* True for an IP address host, dotted or not, any base. */
bool	phish_host_is_ip(const char *host);

#endif
