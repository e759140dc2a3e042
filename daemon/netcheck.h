/*
 * Asynchronous network checks of a message: DNSBL of the client address,
 * SURBL/URIBL of the message's URL domains, SPF, DKIM and DMARC. They run
 * on the loop thread after the worker parsed and filtered the message and
 * before policy, and add findings. Nothing here blocks the loop:
 *   - DNSBL and SURBL ask evdns (libevent) for A records;
 *   - SPF (libspf2) runs on the loop against a DNS layer of ours that
 *     answers from records fetched with dnsq; a record it lacks ends the
 *     round, is fetched asynchronously, and the evaluation runs again
 *     (spf_check.c);
 *   - DKIM (libopendkim) gets the keys we fetched with dnsq through its
 *     key look-up callback; the hashing and RSA work run on a small pool
 *     of its own ("netcheck", 2 threads), never on the scan workers
 *     (dkim_check.c);
 *   - DMARC (libopendmarc) gets the _dmarc record we fetched and the SPF
 *     and DKIM results, and only adds findings (dmarc_check.c).
 * evdns has no TXT or MX queries, hence dnsq (daemon/dnsq.h), which asks
 * the same servers: dns.servers ("ip:port"), else /etc/resolv.conf.
 * Each query times out after dns.timeout_ms; the whole run after twice
 * that (SPF may need a few rounds), then unanswered checks count as
 * temporary errors.
 *
 * Configuration (each block may be left out; enabled defaults to true):
 *   filters.dnsbl = { zones = ( { zone = "zen.example"; score = 3.0;
 *       symbol = "RBL_ZEN"; match = [ "127.0.0.2" ]; } ); };
 *   filters.surbl = { zones = ( { zone = "multi.surbl.example";
 *       score = 4.0; symbol = "URIBL_X"; bitmask = 0; match = [...]; } );
 *       max_domains = 20; skip_domains = [ "example.org" ]; };
 *   filters.spf   = { scores = { SPF_FAIL = 1.0; ... }; };
 *   filters.dkim  = { scores = { ... }; max_signatures = 5; };
 *   filters.dmarc = { scores = { DMARC_REJECT = 3.0; ... }; };
 * A zone answer counts when it lies in 127.0.0.0/8 outside
 * 127.255.255.0/24 (the error codes of Spamhaus and others), and, when
 * given, equals one of match or shares a bit with bitmask.
 */
#ifndef MOAT_NETCHECK_H
#define MOAT_NETCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <netinet/in.h>

struct cfg;
struct event_base;
struct findings;
struct msg;
struct netcheck_run;

#define NETCHECK_ZONES_MAX		32	/* per list */
#define NETCHECK_SURBL_DOMAINS_MAX	200	/* max_domains upper bound */
#define NETCHECK_SURBL_DOMAINS_DEF	20
#define NETCHECK_SURBL_QUERIES_MAX	100	/* per message, all zones */
#define NETCHECK_SCORES_MAX		64	/* score overrides */
#define NETCHECK_DEADLINE_FACTOR	2	/* run deadline: x timeout */

struct netcheck_ctx {
	/* Set by the caller; borrowed until done runs. */
	const struct cfg	*cfg;
	const char		*queue_id;	/* for logs, may be NULL */
	const char		*client_addr;	/* IP literal ("IPv6:" ok) */
	const char		*helo;		/* may be NULL */
	const char		*sender;	/* envelope, "" for <> */
	const struct msg	*msg;		/* NULL: envelope checks only */
	struct findings		*findings;	/* ours alone until done */
	void			*arg;		/* the caller's */

	struct netcheck_run	*run;		/* private */
};

/* Loop thread, at start-up: the DNS layer and the checks' libraries. */
void	netcheck_init(struct event_base *, const struct cfg *);
/* Loop thread, at exit after every run finished. */
void	netcheck_shutdown(void);
/* Check the dnsbl, surbl, spf, dkim and dmarc blocks (moatd -t, reload):
 * 0, or -1 with *cause "file:line: reason". */
int	netcheck_conf_check(const struct cfg *, char **cause);
/*
 * Run every enabled check for ctx. done(ctx) runs exactly once, later,
 * from the loop (never inside netcheck_run), after all checks finished or
 * timed out; ctx->findings then holds their findings.
 */
void	netcheck_run(struct netcheck_ctx *,
	    void (*done)(struct netcheck_ctx *));
size_t	netcheck_running(void);		/* runs not yet done */

/* --- for the checks (spf_check.c, dkim_check.c, dmarc_check.c) ------------ */

struct dnsq;
struct pool;
struct netcheck_conf;
struct spf_check;
struct dkim_check;
struct dmarc_check;

#define NETCHECK_DOMAIN_MAX	255

/* DKIM outcome per signature, as DMARC needs it. */
enum netcheck_dkim_result {
	NC_DKIM_PASS = 0,
	NC_DKIM_FAIL,
	NC_DKIM_TEMPFAIL,
};

struct netcheck_dkim_sig {
	char			 domain[NETCHECK_DOMAIN_MAX + 1];
	char			 selector[64];
	enum netcheck_dkim_result result;
	char			 why[96];
};

struct netcheck_run {
	struct netcheck_ctx	*ctx;
	struct netcheck_conf	*conf;		/* reference */
	void			(*done)(struct netcheck_ctx *);
	int			 holds;		/* outstanding work */
	bool			 expired;	/* deadline passed */
	struct event		*timer;
	struct event		*finish_ev;

	bool			 have_ip;
	int			 family;	/* AF_INET or AF_INET6 */
	unsigned char		 addr[16];
	char			 ip[INET6_ADDRSTRLEN];
	bool			 loopback;
	char			 from_domain[NETCHECK_DOMAIN_MAX + 1];

	struct nc_dns		*dns;		/* evdns requests in flight */
	size_t			 surbl_queries;

	struct spf_check	*spf;
	struct dkim_check	*dkim;
	struct dmarc_check	*dmarc;

	/* What DMARC reads. */
	bool			 spf_done;
	int			 spf_result;	/* SPF_RESULT_*, 0 none */
	bool			 spf_helo;	/* checked the HELO name */
	char			 spf_domain[NETCHECK_DOMAIN_MAX + 1];
	bool			 dkim_done;
	struct netcheck_dkim_sig *dkim_sigs;	/* owned */
	size_t			 ndkim_sigs;
};

struct dnsq	*netcheck_dnsq(void);
struct pool	*netcheck_pool(void);
void		 netcheck_hold(struct netcheck_run *);
void		 netcheck_release(struct netcheck_run *);
bool		 netcheck_enabled(const struct netcheck_run *,
		     const char *name);
/* The configured score of symbol, or def. */
double		 netcheck_score(const struct netcheck_run *, const char *symbol,
		     double def);
int		 netcheck_dkim_max_sigs(const struct netcheck_run *);
/* SPF or DKIM finished: DMARC may be able to decide. */
void		 netcheck_auth_ready(struct netcheck_run *);
const char	*netcheck_qid(const struct netcheck_run *);

#endif
