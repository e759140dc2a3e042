/*
 * The network-check runner (netcheck.h): configuration, the DNS layer
 * (evdns and dnsq on the same servers), the life of a run with its
 * deadline, and the DNSBL and SURBL checks. Loop thread only.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <libconfig.h>

#include "cfg.h"
#include "dkim_check.h"
#include "dmarc_check.h"
#include "dnsq.h"
#include "finding.h"
#include "log.h"
#include "msg.h"
#include "netcheck.h"
#include "pool.h"
#include "psl.h"
#include "spf_check.h"
#include "xmalloc.h"

#define NC_POOL_THREADS		2
#define NC_MATCH_MAX		16
#define NC_CONF_CACHE		2

struct nc_zone {
	char		*zone;
	char		*symbol;
	double		 score;
	uint32_t	 match[NC_MATCH_MAX];	/* host order */
	size_t		 nmatch;
	unsigned	 bitmask;
	bool		 hit;		/* per run: see nc_dns */
};

struct nc_score {
	char		 symbol[FINDING_SYMBOL_MAX];
	double		 score;
};

struct netcheck_conf {
	int		 refs;
	struct cfg	*cfg;		/* reference: local_domains */
	bool		 dnsbl_on, surbl_on, spf_on, dkim_on, dmarc_on;
	struct nc_zone	 dnsbl[NETCHECK_ZONES_MAX];
	size_t		 ndnsbl;
	struct nc_zone	 surbl[NETCHECK_ZONES_MAX];
	size_t		 nsurbl;
	int		 surbl_max_domains;
	char		**skip_domains;
	size_t		 nskip;
	struct nc_score	 scores[NETCHECK_SCORES_MAX];
	size_t		 nscores;
	int		 dkim_max_sigs;
	int		 timeout_ms;
};

/* An evdns request of a run. */
struct nc_dns {
	struct netcheck_run	*run;
	struct evdns_request	*req;
	bool			 surbl;
	size_t			 zone;
	char			 what[NETCHECK_DOMAIN_MAX + 1];
	struct nc_dns		*next;
};

static struct event_base	*nc_base;
static struct evdns_base	*nc_evdns;
static struct dnsq		*nc_dnsq;
static struct pool		*nc_pool;
static char			*nc_servers_key;	/* evdns servers */
static size_t			 nc_running;
static struct {
	const struct cfg	*cfg;			/* identity only */
	struct netcheck_conf	*conf;
} nc_cache[NC_CONF_CACHE];

/* --- configuration -------------------------------------------------------- */

static int
conf_fail(const struct cfg *c, config_setting_t *s, char **cause,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
conf_fail(const struct cfg *c, config_setting_t *s, char **cause,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	xasprintf(cause, "%s:%d: %s", s != NULL &&
	    config_setting_source_file(s) != NULL ?
	    config_setting_source_file(s) : c->path,
	    s != NULL ? config_setting_source_line(s) : 0, msg);
	return -1;
}

static bool
valid_symbol(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n >= FINDING_SYMBOL_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isupper((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

static bool
valid_zone(const char *z)
{
	size_t	i, n = strlen(z);

	if (n == 0 || n > 200 || z[0] == '.' || z[n - 1] == '.' ||
	    strstr(z, "..") != NULL)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)z[i]) && z[i] != '.' &&
		    z[i] != '-' && z[i] != '_')
			return false;
	return true;
}

static void
zone_free(struct nc_zone *z)
{
	free(z->zone);
	free(z->symbol);
}

static int
load_zone(const struct cfg *c, config_setting_t *e, const char *prefix,
    struct nc_zone *z, char **cause)
{
	static const char *const keys[] = { "zone", "score", "symbol",
	    "match", "bitmask", NULL };
	char		**match = NULL;
	size_t		 nmatch = 0, i;
	struct in_addr	 a;
	long long	 mask;
	char		*p;
	int		 rv = -1;

	if (!config_setting_is_group(e))
		return conf_fail(c, e, cause, "zones must be groups");
	if (cfg_check_keys(c, e, keys, cause) == -1 ||
	    cfg_get_str(c, e, "zone", NULL, &z->zone, cause) == -1 ||
	    cfg_get_float(c, e, "score", 1.0, &z->score, cause) == -1 ||
	    cfg_get_str(c, e, "symbol", NULL, &z->symbol, cause) == -1 ||
	    cfg_get_int(c, e, "bitmask", 0, 0, 0xffffffffLL, &mask,
	    cause) == -1 ||
	    cfg_get_strlist(c, e, "match", &match, &nmatch, cause) == -1)
		goto out;
	z->bitmask = (unsigned)mask;
	if (z->zone == NULL || !valid_zone(z->zone)) {
		conf_fail(c, e, cause, "'zone' must be a domain name");
		goto out;
	}
	for (p = z->zone; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (z->symbol == NULL) {
		xasprintf(&z->symbol, "%s_%s", prefix, z->zone);
		for (p = z->symbol; *p != '\0'; p++)
			*p = isalnum((unsigned char)*p) ?
			    (char)toupper((unsigned char)*p) : '_';
		if (strlen(z->symbol) >= FINDING_SYMBOL_MAX)
			z->symbol[FINDING_SYMBOL_MAX - 1] = '\0';
	}
	if (!valid_symbol(z->symbol)) {
		conf_fail(c, e, cause, "'symbol' must be UPPER_CASE letters, "
		    "digits and _ (at most %d)", FINDING_SYMBOL_MAX - 1);
		goto out;
	}
	if (nmatch > NC_MATCH_MAX) {
		conf_fail(c, e, cause, "at most %d 'match' addresses",
		    NC_MATCH_MAX);
		goto out;
	}
	for (i = 0; i < nmatch; i++) {
		if (inet_pton(AF_INET, match[i], &a) != 1) {
			conf_fail(c, e, cause, "bad 'match' address '%s'",
			    match[i]);
			goto out;
		}
		z->match[z->nmatch++] = ntohl(a.s_addr);
	}
	rv = 0;
out:
	if (match != NULL)
		cfg_strlist_free(match);
	return rv;
}

static int
load_zones(const struct cfg *c, config_setting_t *sec, const char *prefix,
    struct nc_zone *zones, size_t *nzones, char **cause)
{
	config_setting_t	*l;
	int			 i, n;

	if (sec == NULL ||
	    (l = config_setting_get_member(sec, "zones")) == NULL)
		return 0;
	if (!config_setting_is_list(l) && !config_setting_is_array(l))
		return conf_fail(c, l, cause, "'zones' must be a list of "
		    "groups");
	n = config_setting_length(l);
	if (n > NETCHECK_ZONES_MAX)
		return conf_fail(c, l, cause, "at most %d zones",
		    NETCHECK_ZONES_MAX);
	for (i = 0; i < n; i++) {
		if (load_zone(c, config_setting_get_elem(l, (unsigned)i),
		    prefix, &zones[*nzones], cause) == -1) {
			zone_free(&zones[*nzones]);
			return -1;
		}
		(*nzones)++;
	}
	return 0;
}

static int
load_scores(const struct cfg *c, config_setting_t *sec,
    struct netcheck_conf *nc, char **cause)
{
	config_setting_t	*g, *e;
	const char		*name;
	int			 i, n, t;

	if (sec == NULL || (g = config_setting_get_member(sec, "scores")) ==
	    NULL)
		return 0;
	if (!config_setting_is_group(g))
		return conf_fail(c, g, cause, "'scores' must be a group of "
		    "SYMBOL = number");
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(g, (unsigned)i);
		name = config_setting_name(e);
		t = config_setting_type(e);
		if (name == NULL || !valid_symbol(name))
			return conf_fail(c, e, cause, "bad symbol '%s'",
			    name != NULL ? name : "");
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_FLOAT &&
		    t != CONFIG_TYPE_INT64)
			return conf_fail(c, e, cause, "score of %s must be a "
			    "number", name);
		if (nc->nscores >= NETCHECK_SCORES_MAX)
			return conf_fail(c, e, cause, "too many scores");
		snprintf(nc->scores[nc->nscores].symbol,
		    sizeof nc->scores[nc->nscores].symbol, "%s", name);
		nc->scores[nc->nscores].score = t == CONFIG_TYPE_FLOAT ?
		    config_setting_get_float(e) : t == CONFIG_TYPE_INT ?
		    config_setting_get_int(e) : config_setting_get_int64(e);
		nc->nscores++;
	}
	return 0;
}

static void
conf_unref(struct netcheck_conf *nc)
{
	size_t	i;

	if (nc == NULL || --nc->refs > 0)
		return;
	for (i = 0; i < nc->ndnsbl; i++)
		zone_free(&nc->dnsbl[i]);
	for (i = 0; i < nc->nsurbl; i++)
		zone_free(&nc->surbl[i]);
	if (nc->skip_domains != NULL)
		cfg_strlist_free(nc->skip_domains);
	cfg_unref(nc->cfg);
	free(nc);
}

static struct netcheck_conf *
conf_load(const struct cfg *c, char **cause)
{
	static const char *const zkeys[] = { "enabled", "zones", NULL };
	static const char *const skeys[] = { "enabled", "zones",
	    "max_domains", "skip_domains", NULL };
	static const char *const akeys[] = { "enabled", "scores", NULL };
	static const char *const dkeys[] = { "enabled", "scores",
	    "max_signatures", NULL };
	struct netcheck_conf	*nc;
	config_setting_t	*s;
	long long		 v;
	size_t			 i;

	nc = xcalloc(1, sizeof *nc);
	nc->refs = 1;
	nc->cfg = cfg_ref((struct cfg *)c);
	nc->timeout_ms = c->dns_timeout_ms;
	nc->dnsbl_on = cfg_filter_enabled(c, "dnsbl");
	nc->surbl_on = cfg_filter_enabled(c, "surbl");
	nc->spf_on = cfg_filter_enabled(c, "spf");
	nc->dkim_on = cfg_filter_enabled(c, "dkim");
	nc->dmarc_on = cfg_filter_enabled(c, "dmarc");

	s = cfg_section(c, "filters.dnsbl");
	if (cfg_check_keys(c, s, zkeys, cause) == -1 ||
	    load_zones(c, s, "RBL", nc->dnsbl, &nc->ndnsbl, cause) == -1)
		goto fail;
	s = cfg_section(c, "filters.surbl");
	if (cfg_check_keys(c, s, skeys, cause) == -1 ||
	    load_zones(c, s, "URIBL", nc->surbl, &nc->nsurbl, cause) == -1 ||
	    cfg_get_int(c, s, "max_domains", NETCHECK_SURBL_DOMAINS_DEF, 1,
	    NETCHECK_SURBL_DOMAINS_MAX, &v, cause) == -1 ||
	    cfg_get_strlist(c, s, "skip_domains", &nc->skip_domains,
	    &nc->nskip, cause) == -1)
		goto fail;
	nc->surbl_max_domains = (int)v;
	for (i = 0; i < nc->nskip; i++) {
		char	*p;

		for (p = nc->skip_domains[i]; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	s = cfg_section(c, "filters.spf");
	if (cfg_check_keys(c, s, akeys, cause) == -1 ||
	    load_scores(c, s, nc, cause) == -1)
		goto fail;
	s = cfg_section(c, "filters.dkim");
	if (cfg_check_keys(c, s, dkeys, cause) == -1 ||
	    load_scores(c, s, nc, cause) == -1 ||
	    cfg_get_int(c, s, "max_signatures", DKIM_CHECK_SIGS_DEF, 1,
	    DKIM_CHECK_SIGS_MAX, &v, cause) == -1)
		goto fail;
	nc->dkim_max_sigs = (int)v;
	s = cfg_section(c, "filters.dmarc");
	if (cfg_check_keys(c, s, akeys, cause) == -1 ||
	    load_scores(c, s, nc, cause) == -1)
		goto fail;
	return nc;
fail:
	conf_unref(nc);
	return NULL;
}

int
netcheck_conf_check(const struct cfg *c, char **cause)
{
	struct netcheck_conf	*nc;

	*cause = NULL;
	if ((nc = conf_load(c, cause)) == NULL)
		return -1;
	conf_unref(nc);
	return 0;
}

/* The parsed blocks of c, kept for the last few snapshots. */
static struct netcheck_conf *
conf_get(const struct cfg *c)
{
	struct netcheck_conf	*nc;
	char			*cause = NULL;
	size_t			 i;

	for (i = 0; i < NC_CONF_CACHE; i++)
		if (nc_cache[i].cfg == c && nc_cache[i].conf != NULL)
			return nc_cache[i].conf;
	if ((nc = conf_load(c, &cause)) == NULL) {
		log_warnx("netcheck: %s: checks skipped", cause);
		free(cause);
		return NULL;
	}
	conf_unref(nc_cache[NC_CONF_CACHE - 1].conf);
	for (i = NC_CONF_CACHE - 1; i > 0; i--)
		nc_cache[i] = nc_cache[i - 1];
	nc_cache[0].cfg = c;
	nc_cache[0].conf = nc;
	return nc;
}

/* --- the DNS layer -------------------------------------------------------- */

static char *
servers_key(const struct cfg *c)
{
	char	*key = xstrdup(""), *p;
	size_t	 i;

	for (i = 0; i < c->ndns_servers; i++) {
		xasprintf(&p, "%s%s,", key, c->dns_servers[i]);
		free(key);
		key = p;
	}
	return key;
}

static void
configure_dns(const struct cfg *c)
{
	struct sockaddr_storage	 ss[DNSQ_SERVERS_MAX];
	socklen_t		 lens[DNSQ_SERVERS_MAX];
	char			*key, tmo[32];
	size_t			 i, n;
	int			 r;

	key = servers_key(c);
	if (nc_servers_key != NULL && strcmp(key, nc_servers_key) == 0) {
		free(key);
		return;
	}
	if (nc_evdns == NULL) {
		nc_evdns = evdns_base_new(nc_base,
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (nc_evdns == NULL)
			fatalx("netcheck: evdns_base_new failed");
	} else
		evdns_base_clear_nameservers_and_suspend(nc_evdns);
	if (c->ndns_servers > 0) {
		for (i = 0; i < c->ndns_servers; i++)
			if (evdns_base_nameserver_ip_add(nc_evdns,
			    c->dns_servers[i]) != 0)
				log_warnx("netcheck: bad DNS server '%s'",
				    c->dns_servers[i]);
	} else if ((r = evdns_base_resolv_conf_parse(nc_evdns,
	    DNS_OPTION_NAMESERVERS, "/etc/resolv.conf")) != 0)
		log_warnx("netcheck: /etc/resolv.conf: error %d", r);
	if (nc_servers_key != NULL)
		evdns_base_resume(nc_evdns);
	/* Per query: the deadline of the run bounds everything anyway. */
	snprintf(tmo, sizeof tmo, "%.3f", c->dns_timeout_ms / 2000.0);
	evdns_base_set_option(nc_evdns, "timeout:", tmo);
	evdns_base_set_option(nc_evdns, "attempts:", "2");
	evdns_base_set_option(nc_evdns, "randomize-case:", "0");
	for (n = 0; n < DNSQ_SERVERS_MAX; n++) {
		lens[n] = sizeof ss[n];
		r = evdns_base_get_nameserver_addr(nc_evdns, (int)n,
		    (struct sockaddr *)&ss[n], lens[n]);
		if (r <= 0 || (size_t)r > sizeof ss[n])
			break;
		lens[n] = (socklen_t)r;
	}
	dnsq_set_servers(nc_dnsq, ss, lens, n);
	log_info("netcheck: %zu DNS server%s (%s)", n, n == 1 ? "" : "s",
	    c->ndns_servers > 0 ? "dns.servers" : "/etc/resolv.conf");
	free(nc_servers_key);
	nc_servers_key = key;
}

static void
evdns_log(int is_warning, const char *msg)
{
	(void)is_warning;
	log_debug("evdns: %s", msg);
}

void
netcheck_init(struct event_base *base, const struct cfg *c)
{
	nc_base = base;
	evdns_set_log_fn(evdns_log);
	nc_dnsq = dnsq_new(base);
	dnsq_set_timeout(nc_dnsq, c->dns_timeout_ms);
	configure_dns(c);
	nc_pool = pool_create(base, "netcheck", NC_POOL_THREADS);
	spf_check_init(c->hostname);
	dkim_check_init();
	dmarc_check_init();
}

void
netcheck_shutdown(void)
{
	size_t	i;

	if (nc_base == NULL)
		return;
	if (nc_running > 0)
		log_warnx("netcheck: %zu runs unfinished at exit", nc_running);
	pool_destroy(nc_pool);
	nc_pool = NULL;
	dnsq_free(nc_dnsq);
	nc_dnsq = NULL;
	if (nc_evdns != NULL)
		evdns_base_free(nc_evdns, 1);
	nc_evdns = NULL;
	spf_check_shutdown();
	dkim_check_shutdown();
	dmarc_check_shutdown();
	for (i = 0; i < NC_CONF_CACHE; i++) {
		conf_unref(nc_cache[i].conf);
		nc_cache[i].conf = NULL;
		nc_cache[i].cfg = NULL;
	}
	free(nc_servers_key);
	nc_servers_key = NULL;
	nc_base = NULL;
}

/* --- helpers for the checks ----------------------------------------------- */

struct dnsq *
netcheck_dnsq(void)
{
	return nc_dnsq;
}

struct pool *
netcheck_pool(void)
{
	return nc_pool;
}

size_t
netcheck_running(void)
{
	return nc_running;
}

void
netcheck_hold(struct netcheck_run *run)
{
	run->holds++;
}

void
netcheck_release(struct netcheck_run *run)
{
	if (run->holds <= 0)
		fatalx("netcheck: release without hold");
	if (--run->holds == 0)
		event_active(run->finish_ev, EV_TIMEOUT, 0);
}

bool
netcheck_enabled(const struct netcheck_run *run, const char *name)
{
	const struct netcheck_conf	*nc = run->conf;

	if (nc == NULL)
		return false;
	if (strcmp(name, "dnsbl") == 0)
		return nc->dnsbl_on;
	if (strcmp(name, "surbl") == 0)
		return nc->surbl_on;
	if (strcmp(name, "spf") == 0)
		return nc->spf_on;
	if (strcmp(name, "dkim") == 0)
		return nc->dkim_on;
	if (strcmp(name, "dmarc") == 0)
		return nc->dmarc_on;
	return false;
}

double
netcheck_score(const struct netcheck_run *run, const char *symbol,
    double def)
{
	size_t	i;

	for (i = 0; run->conf != NULL && i < run->conf->nscores; i++)
		if (strcmp(run->conf->scores[i].symbol, symbol) == 0)
			return run->conf->scores[i].score;
	return def;
}

int
netcheck_dkim_max_sigs(const struct netcheck_run *run)
{
	return run->conf != NULL ? run->conf->dkim_max_sigs :
	    DKIM_CHECK_SIGS_DEF;
}

void
netcheck_auth_ready(struct netcheck_run *run)
{
	if (run->dmarc != NULL)
		dmarc_check_try(run);
}

const char *
netcheck_qid(const struct netcheck_run *run)
{
	return run->ctx->queue_id != NULL ? run->ctx->queue_id : "-";
}

/* --- DNSBL and SURBL ------------------------------------------------------ */

static bool
answer_counts(const struct nc_zone *z, uint32_t a)
{
	size_t	i;

	if ((a >> 24) != 127 || (a & 0xffffff00U) == 0x7fffff00U)
		return false;
	if (z->bitmask != 0 && (a & 0xff & z->bitmask) == 0)
		return false;
	if (z->nmatch == 0)
		return true;
	for (i = 0; i < z->nmatch; i++)
		if (z->match[i] == a)
			return true;
	return false;
}

static void
dns_unlink(struct nc_dns *d)
{
	struct nc_dns	**pp;

	for (pp = &d->run->dns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
}

static void
on_zone_answer(int result, char type, int count, int ttl, void *addrs,
    void *arg)
{
	struct nc_dns		*d = arg;
	struct netcheck_run	*run = d->run;
	struct nc_zone		*z;
	const uint32_t		*a = addrs;
	char			 ip[INET_ADDRSTRLEN];
	struct in_addr		 in;
	int			 i;

	(void)ttl;
	dns_unlink(d);
	if (result == DNS_ERR_NONE && type == DNS_IPv4_A && !run->expired &&
	    run->conf != NULL) {
		z = d->surbl ? &run->conf->surbl[d->zone] :
		    &run->conf->dnsbl[d->zone];
		for (i = 0; i < count; i++) {
			if (!answer_counts(z, ntohl(a[i])))
				continue;
			if (findings_has(run->ctx->findings, z->symbol))
				break;
			in.s_addr = a[i];
			inet_ntop(AF_INET, &in, ip, sizeof ip);
			findings_add(run->ctx->findings, z->symbol, z->score,
			    "%s listed in %s (%s)", d->what, z->zone, ip);
			log_debug("%s: %s listed in %s (%s)",
			    netcheck_qid(run), d->what, z->zone, ip);
			break;
		}
	} else if (result != DNS_ERR_NONE && result != DNS_ERR_NOTEXIST &&
	    result != DNS_ERR_NODATA && result != DNS_ERR_CANCEL)
		log_debug("%s: %s in %s: %s", netcheck_qid(run), d->what,
		    d->surbl ? run->conf->surbl[d->zone].zone :
		    run->conf->dnsbl[d->zone].zone,
		    evdns_err_to_string(result));
	free(d);
	netcheck_release(run);
}

static void
zone_query(struct netcheck_run *run, bool surbl, size_t zone,
    const char *what, const char *name)
{
	struct nc_dns	*d;

	d = xcalloc(1, sizeof *d);
	d->run = run;
	d->surbl = surbl;
	d->zone = zone;
	snprintf(d->what, sizeof d->what, "%s", what);
	d->req = evdns_base_resolve_ipv4(nc_evdns, name, DNS_QUERY_NO_SEARCH,
	    on_zone_answer, d);
	if (d->req == NULL) {
		log_debug("%s: cannot ask for %s", netcheck_qid(run), name);
		free(d);
		return;
	}
	d->next = run->dns;
	run->dns = d;
	netcheck_hold(run);
}

/* "4.3.2.1" for 1.2.3.4, 32 nibbles for IPv6. */
static void
reversed(int family, const unsigned char *a, char *out, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 o = 0;
	int			 i;

	if (family == AF_INET) {
		snprintf(out, len, "%u.%u.%u.%u", a[3], a[2], a[1], a[0]);
		return;
	}
	for (i = 15; i >= 0 && o + 4 < len; i--) {
		out[o++] = hex[a[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	out[o > 0 ? o - 1 : 0] = '\0';
}

static bool
is_private(int family, const unsigned char *a)
{
	if (family == AF_INET)
		return a[0] == 10 || a[0] == 127 || a[0] == 0 ||
		    (a[0] == 172 && (a[1] & 0xf0) == 16) ||
		    (a[0] == 192 && a[1] == 168) ||
		    (a[0] == 169 && a[1] == 254) ||
		    (a[0] == 100 && (a[1] & 0xc0) == 64);
	return (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe &&
	    (a[1] & 0xc0) == 0x80) || (memcmp(a, in6addr_loopback.s6_addr,
	    16) == 0) || memcmp(a, in6addr_any.s6_addr, 16) == 0;
}

static void
dnsbl_start(struct netcheck_run *run)
{
	char	rev[80], name[DNSQ_NAME_MAX + 2];
	size_t	i;

	if (is_private(run->family, run->addr))
		return;
	reversed(run->family, run->addr, rev, sizeof rev);
	for (i = 0; i < run->conf->ndnsbl; i++) {
		if ((size_t)snprintf(name, sizeof name, "%s.%s", rev,
		    run->conf->dnsbl[i].zone) >= sizeof name)
			continue;
		zone_query(run, false, i, run->ip, name);
	}
}

static bool
skip_domain(const struct netcheck_run *run, const char *dom)
{
	const struct netcheck_conf	*nc = run->conf;
	size_t				 i;

	for (i = 0; i < nc->nskip; i++)
		if (psl_in_domain(dom, nc->skip_domains[i]))
			return true;
	for (i = 0; i < nc->cfg->nlocal_domains; i++)
		if (psl_in_domain(dom, nc->cfg->local_domains[i]))
			return true;
	return false;
}

static void
surbl_start(struct netcheck_run *run)
{
	const struct msg	*m = run->ctx->msg;
	char			**seen, name[DNSQ_NAME_MAX + 2], rev[80];
	const char		*reg, *q;
	unsigned char		 a[4];
	size_t			 nseen = 0, i, k, z;

	seen = xcalloc((size_t)run->conf->surbl_max_domains, sizeof *seen);
	for (i = 0; i < m->nurls &&
	    nseen < (size_t)run->conf->surbl_max_domains; i++) {
		if (m->urls[i].host == NULL || m->urls[i].host[0] == '\0')
			continue;
		if ((reg = psl_registrable(m->urls[i].host)) == NULL)
			continue;
		for (k = 0; k < nseen; k++)
			if (strcmp(seen[k], reg) == 0)
				break;
		if (k < nseen || skip_domain(run, reg))
			continue;
		seen[nseen++] = xstrdup(reg);
	}
	for (k = 0; k < nseen; k++) {
		q = seen[k];
		if (inet_pton(AF_INET, seen[k], a) == 1) {
			reversed(AF_INET, a, rev, sizeof rev);
			q = rev;
		} else if (psl_is_ip(seen[k]))
			continue;	/* no IPv6 in URI lists */
		for (z = 0; z < run->conf->nsurbl; z++) {
			if (run->surbl_queries >= NETCHECK_SURBL_QUERIES_MAX)
				break;
			if ((size_t)snprintf(name, sizeof name, "%s.%s", q,
			    run->conf->surbl[z].zone) >= sizeof name)
				continue;
			run->surbl_queries++;
			zone_query(run, true, z, seen[k], name);
		}
	}
	for (k = 0; k < nseen; k++)
		free(seen[k]);
	free(seen);
}

/* --- a run ---------------------------------------------------------------- */

static void
parse_client(struct netcheck_run *run, const char *addr)
{
	char	buf[INET6_ADDRSTRLEN + 8];
	size_t	len;

	if (addr == NULL)
		return;
	if (strncasecmp(addr, "IPv6:", 5) == 0)
		addr += 5;
	len = strlen(addr);
	if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']') {
		addr++;
		len -= 2;
	}
	if (len >= sizeof buf)
		return;
	memcpy(buf, addr, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, run->addr) == 1)
		run->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, run->addr) == 1) {
		run->family = AF_INET6;
		/* An IPv4-mapped address is the IPv4 client. */
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)run->addr)) {
			memmove(run->addr, run->addr + 12, 4);
			run->family = AF_INET;
		}
	} else
		return;
	run->have_ip = true;
	inet_ntop(run->family, run->addr, run->ip, sizeof run->ip);
	run->loopback = run->family == AF_INET ? run->addr[0] == 127 :
	    memcmp(run->addr, in6addr_loopback.s6_addr, 16) == 0;
}

static void
set_from_domain(struct netcheck_run *run)
{
	const struct msg	*m = run->ctx->msg;
	const char		*at;
	size_t			 i;

	if (m == NULL || m->from_addr == NULL ||
	    (at = strrchr(m->from_addr, '@')) == NULL || at[1] == '\0' ||
	    strchr(m->from_addr, ',') != NULL ||
	    strlen(at + 1) >= sizeof run->from_domain)
		return;
	for (i = 0; at[1 + i] != '\0'; i++)
		run->from_domain[i] = (char)tolower((unsigned char)at[1 + i]);
	run->from_domain[i] = '\0';
	if (i > 0 && run->from_domain[i - 1] == '.')
		run->from_domain[i - 1] = '\0';
}

static void
on_finish(evutil_socket_t fd, short what, void *arg)
{
	struct netcheck_run	*run = arg;
	struct netcheck_ctx	*ctx = run->ctx;
	void			(*done)(struct netcheck_ctx *) = run->done;

	(void)fd;
	(void)what;
	if (run->holds > 0)
		return;
	spf_check_free(run);
	dkim_check_free(run);
	dmarc_check_free(run);
	event_free(run->timer);
	event_free(run->finish_ev);
	free(run->dkim_sigs);
	conf_unref(run->conf);
	free(run);
	ctx->run = NULL;
	nc_running--;
	done(ctx);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct netcheck_run	*run = arg;
	struct nc_dns		*d;

	(void)fd;
	(void)what;
	run->expired = true;
	log_debug("%s: network checks: deadline, %d pending",
	    netcheck_qid(run), run->holds);
	/* evdns calls back (DNS_ERR_CANCEL) later, which releases. */
	for (d = run->dns; d != NULL; d = d->next)
		evdns_cancel_request(nc_evdns, d->req);
	netcheck_hold(run);
	spf_check_abort(run);
	dkim_check_abort(run);
	dmarc_check_abort(run);
	netcheck_release(run);
}

void
netcheck_run(struct netcheck_ctx *ctx, void (*done)(struct netcheck_ctx *))
{
	struct netcheck_run	*run;
	struct timeval		 tv;
	int			 ms;

	if (nc_base == NULL)
		fatalx("netcheck_run before netcheck_init");
	run = xcalloc(1, sizeof *run);
	ctx->run = run;
	run->ctx = ctx;
	run->done = done;
	run->finish_ev = event_new(nc_base, -1, 0, on_finish, run);
	run->timer = evtimer_new(nc_base, on_deadline, run);
	nc_running++;
	run->holds = 1;			/* until set-up is over */
	if ((run->conf = conf_get(ctx->cfg)) == NULL) {
		netcheck_release(run);
		return;
	}
	run->conf->refs++;
	configure_dns(ctx->cfg);
	dnsq_set_timeout(nc_dnsq, ctx->cfg->dns_timeout_ms);
	ms = ctx->cfg->dns_timeout_ms * NETCHECK_DEADLINE_FACTOR;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(run->timer, &tv);
	parse_client(run, ctx->client_addr);
	set_from_domain(run);

	if (run->conf->dnsbl_on && run->have_ip && run->conf->ndnsbl > 0)
		dnsbl_start(run);
	if (run->conf->surbl_on && ctx->msg != NULL && run->conf->nsurbl > 0)
		surbl_start(run);
	if (run->conf->dmarc_on && ctx->msg != NULL &&
	    run->from_domain[0] != '\0')
		dmarc_check_start(run);
	if (run->conf->spf_on && run->have_ip && !run->loopback)
		spf_check_start(run);
	else
		run->spf_done = true;
	if (run->conf->dkim_on && ctx->msg != NULL)
		dkim_check_start(run);
	else
		run->dkim_done = true;
	netcheck_auth_ready(run);
	netcheck_release(run);
}
