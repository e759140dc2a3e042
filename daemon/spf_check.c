/*
 * SPF with libspf2 over records fetched asynchronously (spf_check.h).
 * Loop thread only: libspf2 runs synchronously inside a round and its DNS
 * layer reads spf_current, the check whose round is running.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "dnsq.h"
#include "finding.h"
#include "log.h"
#include "netcheck.h"
#include "spf_check.h"
#include "xmalloc.h"

struct spf_rec {
	struct spf_check	*sc;
	char			 name[DNSQ_NAME_MAX + 1];
	int			 type;		/* DNSQ_T_* (= ns_t_*) */
	bool			 have;
	struct dnsq_answer	 ans;
	struct dnsq_req		*req;		/* while fetching */
};

struct spf_check {
	struct netcheck_run	*run;
	struct spf_rec		 recs[SPF_CHECK_CACHE_MAX];
	size_t			 nrecs;
	size_t			 pending;	/* fetches in flight */
	int			 rounds;
	bool			 missed;	/* this round lacked a record */
	bool			 overflow;	/* too many records */
	bool			 finished;
};

static SPF_server_t	*spf_server;
static SPF_dns_server_t	 spf_layer;
static struct spf_check	*spf_current;

/* --- the DNS layer -------------------------------------------------------- */

static void
copy_answer(struct dnsq_answer *dst, const struct dnsq_answer *src)
{
	size_t	i;

	memset(dst, 0, sizeof *dst);
	dst->status = src->status;
	dst->ttl = src->ttl;
	if (src->nrr == 0)
		return;
	dst->rr = xcalloc(src->nrr, sizeof *dst->rr);
	for (i = 0; i < src->nrr; i++) {
		dst->rr[i].type = src->rr[i].type;
		dst->rr[i].pref = src->rr[i].pref;
		dst->rr[i].data = xstrdup(src->rr[i].data);
	}
	dst->nrr = src->nrr;
}

static void	spf_round(struct spf_check *);

static void
on_fetch(const struct dnsq_answer *a, void *arg)
{
	struct spf_rec		*r = arg;
	struct spf_check	*sc = r->sc;
	struct netcheck_run	*run = sc->run;

	r->req = NULL;
	copy_answer(&r->ans, a);
	r->have = true;
	sc->pending--;
	if (sc->pending == 0 && !sc->finished)
		spf_round(sc);
	netcheck_release(run);
}

static struct spf_rec *
rec_find(struct spf_check *sc, const char *name, int type)
{
	size_t	i;

	for (i = 0; i < sc->nrecs; i++)
		if (sc->recs[i].type == type &&
		    strcmp(sc->recs[i].name, name) == 0)
			return &sc->recs[i];
	return NULL;
}

static void
rec_fetch(struct spf_check *sc, const char *name, int type)
{
	struct spf_rec	*r;

	if (sc->nrecs >= SPF_CHECK_CACHE_MAX) {
		sc->overflow = true;
		return;
	}
	r = &sc->recs[sc->nrecs++];
	r->sc = sc;
	snprintf(r->name, sizeof r->name, "%s", name);
	r->type = type;
	sc->pending++;
	netcheck_hold(sc->run);
	r->req = dnsq_query(netcheck_dnsq(), name, type, on_fetch, r);
}

static SPF_dns_rr_t *
rr_from(SPF_dns_server_t *srv, const char *domain, ns_type type,
    const struct dnsq_answer *a)
{
	SPF_dns_rr_t	*rr;
	size_t		 i, len;
	int		 n = 0, herrno;

	switch (a->status) {
	case DNSQ_OK:
		herrno = NETDB_SUCCESS;
		break;
	case DNSQ_NODATA:
		herrno = NO_DATA;
		break;
	case DNSQ_NXDOMAIN:
		herrno = HOST_NOT_FOUND;
		break;
	default:
		herrno = TRY_AGAIN;
		break;
	}
	rr = SPF_dns_rr_new_init(srv, domain, type, (int)a->ttl, herrno);
	if (rr == NULL || herrno != NETDB_SUCCESS)
		return rr;
	for (i = 0; i < a->nrr; i++) {
		if (a->rr[i].type != (int)type)
			continue;
		len = type == ns_t_a ? sizeof(struct in_addr) :
		    type == ns_t_aaaa ? sizeof(struct in6_addr) :
		    strlen(a->rr[i].data) + 1;
		if (SPF_dns_rr_buf_realloc(rr, n, len) != SPF_E_SUCCESS)
			break;
		if (type == ns_t_a) {
			if (inet_pton(AF_INET, a->rr[i].data,
			    &rr->rr[n]->a) != 1)
				continue;
		} else if (type == ns_t_aaaa) {
			if (inet_pton(AF_INET6, a->rr[i].data,
			    &rr->rr[n]->aaaa) != 1)
				continue;
		} else
			memcpy(rr->rr[n]->txt, a->rr[i].data, len);
		n++;
	}
	rr->num_rr = n;
	if (n == 0)
		rr->herrno = NO_DATA;
	return rr;
}

/* libspf2's look-up: from the fetched records, or "try again" and fetch. */
static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type,
    int should_cache)
{
	struct spf_check	*sc = spf_current;
	struct spf_rec		*r;
	char			 name[DNSQ_NAME_MAX + 1];
	size_t			 i, len;

	(void)should_cache;
	len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (sc == NULL || len == 0 || len > DNSQ_NAME_MAX)
		return SPF_dns_rr_new_init(srv, domain, type, 0,
		    HOST_NOT_FOUND);
	for (i = 0; i < len; i++)
		name[i] = (char)tolower((unsigned char)domain[i]);
	name[len] = '\0';
	if (type != ns_t_a && type != ns_t_aaaa && type != ns_t_mx &&
	    type != ns_t_txt && type != ns_t_ptr)
		return SPF_dns_rr_new_init(srv, domain, type, 0, NO_DATA);
	if ((r = rec_find(sc, name, (int)type)) != NULL && r->have)
		return rr_from(srv, domain, type, &r->ans);
	sc->missed = true;
	if (r == NULL)
		rec_fetch(sc, name, (int)type);
	return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
}

/* --- logging -------------------------------------------------------------- */

static void __attribute__((noreturn))
spf_log_error(const char *file, int line, const char *msg)
{
	fatalx("libspf2: %s:%d: %s", file != NULL ? file : "?", line, msg);
}

static void
spf_log_warning(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	log_debug("libspf2: %s", msg);
}

static void
spf_log_quiet(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	(void)msg;
}

void
spf_check_init(const char *hostname)
{
	SPF_error_handler = spf_log_error;
	SPF_warning_handler = spf_log_warning;
	SPF_info_handler = spf_log_quiet;
	SPF_debug_handler = spf_log_quiet;
	memset(&spf_layer, 0, sizeof spf_layer);
	spf_layer.destroy = NULL;	/* static: libspf2 must not free it */
	spf_layer.lookup = layer_lookup;
	spf_layer.name = "moat";
	if ((spf_server = SPF_server_new_dns(&spf_layer, 0)) == NULL)
		fatalx("libspf2: cannot create a server");
	if (hostname != NULL)
		SPF_server_set_rec_dom(spf_server, hostname);
}

void
spf_check_shutdown(void)
{
	if (spf_server != NULL)
		SPF_server_free(spf_server);
	spf_server = NULL;
}

/* --- a check -------------------------------------------------------------- */

static const struct {
	SPF_result_t	 result;
	const char	*symbol;
	double		 score;
} spf_symbols[] = {
	{ SPF_RESULT_PASS, "SPF_PASS", -0.1 },
	{ SPF_RESULT_FAIL, "SPF_FAIL", 1.0 },
	{ SPF_RESULT_SOFTFAIL, "SPF_SOFTFAIL", 0.5 },
	{ SPF_RESULT_NEUTRAL, "SPF_NEUTRAL", 0.2 },
	{ SPF_RESULT_NONE, "SPF_NONE", 0.0 },
	{ SPF_RESULT_TEMPERROR, "SPF_TEMPERROR", 0.0 },
	{ SPF_RESULT_PERMERROR, "SPF_PERMERROR", 0.2 },
};

static void
spf_finish(struct spf_check *sc, SPF_result_t result, const char *why)
{
	struct netcheck_run	*run = sc->run;
	size_t			 i;

	if (sc->finished)
		return;
	sc->finished = true;
	if (result == SPF_RESULT_INVALID)
		result = SPF_RESULT_TEMPERROR;
	for (i = 0; i < sizeof spf_symbols / sizeof spf_symbols[0]; i++)
		if (spf_symbols[i].result == result)
			break;
	if (i < sizeof spf_symbols / sizeof spf_symbols[0]) {
		findings_add(run->ctx->findings, spf_symbols[i].symbol,
		    netcheck_score(run, spf_symbols[i].symbol,
		    spf_symbols[i].score), "%s %s for %s%s%s%s", run->ip,
		    SPF_strresult(result), run->spf_helo ? "helo " : "",
		    run->spf_domain, why != NULL ? ": " : "",
		    why != NULL ? why : "");
		log_debug("%s: SPF %s for %s (%d rounds)", netcheck_qid(run),
		    SPF_strresult(result), run->spf_domain, sc->rounds);
	}
	run->spf_result = result;
	run->spf_done = true;
	netcheck_auth_ready(run);
}

static void
spf_round(struct spf_check *sc)
{
	struct netcheck_run	*run = sc->run;
	const char		*sender = run->ctx->sender;
	const char		*helo = run->ctx->helo;
	SPF_request_t		*req;
	SPF_response_t		*resp = NULL;
	struct in_addr		 a4;
	struct in6_addr		 a6;

	if ((req = SPF_request_new(spf_server)) == NULL) {
		spf_finish(sc, SPF_RESULT_TEMPERROR, "out of memory");
		return;
	}
	if (run->family == AF_INET) {
		memcpy(&a4, run->addr, sizeof a4);
		SPF_request_set_ipv4(req, a4);
	} else {
		memcpy(&a6, run->addr, sizeof a6);
		SPF_request_set_ipv6(req, a6);
	}
	/* The sender first: libspf2 falls back to postmaster@helo. */
	if (sender != NULL && sender[0] != '\0')
		SPF_request_set_env_from(req, sender);
	if (helo != NULL && helo[0] != '\0')
		SPF_request_set_helo_dom(req, helo);
	sc->missed = false;
	sc->rounds++;
	spf_current = sc;
	SPF_request_query_mailfrom(req, &resp);
	spf_current = NULL;
	if (sc->missed && sc->pending > 0 && !sc->overflow &&
	    sc->rounds < SPF_CHECK_ROUNDS_MAX && !run->expired) {
		/* Wait for the records; on_fetch runs the next round. */
		SPF_response_free(resp);
		SPF_request_free(req);
		return;
	}
	if (sc->missed)
		spf_finish(sc, SPF_RESULT_TEMPERROR, sc->overflow ?
		    "too many DNS look-ups" : "DNS look-ups unfinished");
	else if (resp == NULL)
		spf_finish(sc, SPF_RESULT_TEMPERROR, "no answer");
	else
		spf_finish(sc, SPF_response_result(resp),
		    SPF_response_reason(resp) == SPF_REASON_NONE ? NULL :
		    SPF_strreason(SPF_response_reason(resp)));
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_request_free(req);
}

void
spf_check_start(struct netcheck_run *run)
{
	const char		*sender = run->ctx->sender;
	const char		*helo = run->ctx->helo, *dom;
	struct spf_check	*sc;
	size_t			 i;

	if (sender != NULL && sender[0] != '\0' &&
	    (dom = strrchr(sender, '@')) != NULL && dom[1] != '\0')
		dom++;
	else if (helo != NULL && helo[0] != '\0') {
		dom = helo;
		run->spf_helo = true;
	} else {
		run->spf_done = true;
		return;
	}
	for (i = 0; dom[i] != '\0' && i < sizeof run->spf_domain - 1; i++)
		run->spf_domain[i] = (char)tolower((unsigned char)dom[i]);
	run->spf_domain[i] = '\0';
	sc = xcalloc(1, sizeof *sc);
	sc->run = run;
	run->spf = sc;
	netcheck_hold(run);		/* until spf_round finishes */
	spf_round(sc);
	netcheck_release(run);
}

static void
cancel_fetches(struct spf_check *sc)
{
	size_t	i;

	for (i = 0; i < sc->nrecs; i++) {
		if (sc->recs[i].req == NULL)
			continue;
		dnsq_cancel(sc->recs[i].req);
		sc->recs[i].req = NULL;
		sc->pending--;
		netcheck_release(sc->run);
	}
}

void
spf_check_abort(struct netcheck_run *run)
{
	struct spf_check	*sc = run->spf;

	if (sc == NULL || sc->finished)
		return;
	spf_finish(sc, SPF_RESULT_TEMPERROR, "timeout");
	cancel_fetches(sc);
}

void
spf_check_free(struct netcheck_run *run)
{
	struct spf_check	*sc = run->spf;
	size_t			 i;

	if (sc == NULL)
		return;
	for (i = 0; i < sc->nrecs; i++) {
		if (sc->recs[i].req != NULL)
			dnsq_cancel(sc->recs[i].req);
		dnsq_answer_clear(&sc->recs[i].ans);
	}
	free(sc);
	run->spf = NULL;
}
