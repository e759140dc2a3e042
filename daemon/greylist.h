/*
 * Greylisting at RCPT. A triplet (client network, envelope sender,
 * recipient) seen for the first time is answered "451 4.7.1 Greylisted,
 * try again in N seconds"; a retry after the delay and within the retry
 * window passes, and the passed triplet then passes at once for its
 * lifetime (renewed by each message). Decided on the loop thread from an
 * in-memory table (a bounded hash keyed with SipHash); the table is
 * loaded from its own sqlite store at start and kept there by a writer
 * thread (db_greylist.h): no sqlite on the loop.
 *
 * Behind Postfix as an after-queue content filter, a 451 at RCPT makes
 * Postfix keep the recipient in its queue and retry (as with Proxmox's
 * before-queue greylisting, the sending MTA is then Postfix, so the
 * caller must pass the real client address, from XFORWARD). The check is
 * meant for inbound sessions only.
 *
 * filters.greylist = {
 *     enabled = true;
 *     delay = 300;              # seconds before a retry may pass
 *     retry_window = 14400;     # seconds after the first try a retry
 *                               # must come in (else it starts over)
 *     lifetime = 3110400;       # seconds a passed triplet lives (36 d)
 *     ipv4_prefix = 24; ipv6_prefix = 64;   # the client network
 *     whitelist_networks = [ "192.0.2.0/24" ];
 *     whitelist_senders = [ "example.org", "user@example.net" ];
 *     whitelist_recipients = [ "postmaster@example.com", "example.net" ];
 *     max_entries = 100000;     # over it, greylisting lets mail pass
 *     path = "greylist.db";     # default: beside storage.path
 * };
 * A domain in a whitelist covers its subdomains; an address matches
 * exactly. Null senders are greylisted like others.
 */
#ifndef MOAT_GREYLIST_H
#define MOAT_GREYLIST_H

#include <stddef.h>
#include <stdint.h>

#define GREYLIST_ADDR_MAX	256	/* sender, recipient kept */
#define GREYLIST_KEY_MAX	(64 + 2 * GREYLIST_ADDR_MAX + 4)
#define GREYLIST_ENTRIES_DEF	100000
#define GREYLIST_ENTRIES_MAX	10000000
#define GREYLIST_WHITELIST_MAX	1000	/* entries per list */
#define GREYLIST_SWEEP_S	300	/* expiry pass */
#define GREYLIST_RENEW_S	3600	/* least interval between writes of
					 * a passed triplet's last use */

struct cfg;
struct event_base;

/* Check the filters.greylist block (moatd -t, reload): 0 or -1, *cause. */
int	greylist_conf_check(const struct cfg *, char **cause);
/* Loop thread, at start-up after privileges were dropped: load the store
 * and start the writer and the expiry timer. Does nothing (0) when
 * greylisting is off. -1 with *cause on a store error. */
int	greylist_start(struct event_base *, const struct cfg *, char **cause);
/* Loop thread, at exit: stop the timer, commit and close the store. */
void	greylist_stop(void);
/*
 * Loop thread, at RCPT: 0 to go on, 1 when greylisted with the complete
 * SMTP reply in reply. client_addr is the real client (from XFORWARD
 * when present; "IPv6:" prefix accepted); sender is the envelope sender
 * ("" for <>). Always 0 when greylisting is off, not started, or the
 * address cannot be parsed.
 */
int	greylist_check(const struct cfg *, const char *client_addr,
	    const char *sender, const char *rcpt, char *reply, size_t len);
size_t	greylist_count(void);	/* triplets in memory */
/* Tests: the clock greylisting reads (wall milliseconds); NULL resets. */
void	greylist_set_clock(int64_t (*now_ms)(void));

#endif
