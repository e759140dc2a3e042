/*
 * DMARC policy evaluation (dmarc_check.h). Loop thread only.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <opendmarc/dmarc.h>

#include "dmarc_check.h"
#include "dnsq.h"
#include "finding.h"
#include "log.h"
#include "netcheck.h"
#include "psl.h"
#include "xmalloc.h"

#include <spf2/spf.h>

struct dmarc_fetch {
	struct dmarc_check	*dc;
	struct dnsq_req		*req;
	bool			 have;
	enum dnsq_status	 status;
	char			*record;	/* owned: the one v=DMARC1 */
	bool			 several;	/* two or more: none applies */
};

struct dmarc_check {
	struct netcheck_run	*run;
	char			 org[NETCHECK_DOMAIN_MAX + 1];	/* or "" */
	struct dmarc_fetch	 from;
	struct dmarc_fetch	 orgf;
	bool			 decided;
};

static OPENDMARC_LIB_T	dmarc_lib;

static bool
is_dmarc(const char *txt)
{
	while (isspace((unsigned char)*txt))
		txt++;
	if (*txt++ != 'v')
		return false;
	while (isspace((unsigned char)*txt))
		txt++;
	if (*txt++ != '=')
		return false;
	while (isspace((unsigned char)*txt))
		txt++;
	return strncmp(txt, "DMARC1", 6) == 0 && (txt[6] == '\0' ||
	    txt[6] == ';' || isspace((unsigned char)txt[6]));
}

static void
on_record(const struct dnsq_answer *a, void *arg)
{
	struct dmarc_fetch	*f = arg;
	struct netcheck_run	*run = f->dc->run;
	size_t			 i;

	f->req = NULL;
	f->have = true;
	f->status = a->status;
	for (i = 0; a->status == DNSQ_OK && i < a->nrr; i++) {
		if (!is_dmarc(a->rr[i].data) ||
		    strlen(a->rr[i].data) > DMARC_CHECK_RECORD_MAX)
			continue;
		if (f->record != NULL) {
			f->several = true;
			continue;
		}
		f->record = xstrdup(a->rr[i].data);
	}
	dmarc_check_try(run);
	netcheck_release(run);
}

static void
fetch(struct dmarc_check *dc, struct dmarc_fetch *f, const char *domain)
{
	char	name[DNSQ_NAME_MAX + 2];

	f->dc = dc;
	if ((size_t)snprintf(name, sizeof name, "_dmarc.%s", domain) >=
	    sizeof name) {
		f->have = true;
		f->status = DNSQ_ERROR;
		return;
	}
	netcheck_hold(dc->run);
	f->req = dnsq_query(netcheck_dnsq(), name, DNSQ_T_TXT, on_record, f);
}

void
dmarc_check_start(struct netcheck_run *run)
{
	struct dmarc_check	*dc;
	const char		*org;

	dc = xcalloc(1, sizeof *dc);
	dc->run = run;
	run->dmarc = dc;
	org = psl_registrable(run->from_domain);
	if (org != NULL && strcmp(org, run->from_domain) != 0)
		snprintf(dc->org, sizeof dc->org, "%s", org);
	netcheck_hold(run);		/* until decided */
	/* Both at once: the organizational one is often needed. */
	fetch(dc, &dc->from, run->from_domain);
	if (dc->org[0] != '\0')
		fetch(dc, &dc->orgf, dc->org);
}

static bool
usable(const struct dmarc_fetch *f)
{
	return f->have && f->record != NULL && !f->several;
}

static bool
temporary(const struct dmarc_fetch *f)
{
	return f->have && (f->status == DNSQ_SERVFAIL ||
	    f->status == DNSQ_TIMEOUT || f->status == DNSQ_ERROR);
}

static const char *
spf_name(int result)
{
	return result != 0 ? SPF_strresult((SPF_result_t)result) : "none";
}

static void
decide(struct dmarc_check *dc, const char *symbol, double def,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
decide(struct dmarc_check *dc, const char *symbol, double def,
    const char *fmt, ...)
{
	struct netcheck_run	*run = dc->run;
	va_list			 ap;
	char			 detail[FINDING_DETAIL_MAX];

	if (dc->decided)
		return;
	dc->decided = true;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	findings_add(run->ctx->findings, symbol, netcheck_score(run, symbol,
	    def), "%s", detail);
	log_debug("%s: %s %s", netcheck_qid(run), symbol, detail);
	netcheck_release(run);
}

static int
spf_outcome(int result)
{
	switch (result) {
	case SPF_RESULT_PASS:
		return DMARC_POLICY_SPF_OUTCOME_PASS;
	case SPF_RESULT_TEMPERROR:
		return DMARC_POLICY_SPF_OUTCOME_TMPFAIL;
	case 0:
	case SPF_RESULT_NONE:
		return DMARC_POLICY_SPF_OUTCOME_NONE;
	}
	return DMARC_POLICY_SPF_OUTCOME_FAIL;
}

static bool
dkim_tempfailed(const struct netcheck_run *run)
{
	size_t	i;

	for (i = 0; i < run->ndkim_sigs; i++)
		if (run->dkim_sigs[i].result == NC_DKIM_TEMPFAIL)
			return true;
	return false;
}

static void
evaluate(struct dmarc_check *dc, const struct dmarc_fetch *f)
{
	struct netcheck_run	*run = dc->run;
	DMARC_POLICY_T		*pctx;
	const char		*org = f == &dc->orgf ? dc->org : NULL;
	const char		*sym;
	char			*rec = f->record;
	int			 policy, p = 0, pct = 100;
	int			 dkim_al = 0, spf_al = 0;
	size_t			 i;
	double			 def;

	pctx = opendmarc_policy_connect_init((u_char *)run->ip,
	    run->family == AF_INET6 ? DMARC_POLICY_IP_TYPE_IPV6 :
	    DMARC_POLICY_IP_TYPE_IPV4);
	if (pctx == NULL) {
		decide(dc, "DMARC_TEMPERROR", 0.0, "out of memory");
		return;
	}
	opendmarc_policy_store_from_domain(pctx, (u_char *)run->from_domain);
	if (opendmarc_policy_store_dmarc(pctx, (u_char *)rec,
	    (u_char *)run->from_domain, (u_char *)org) != DMARC_PARSE_OKAY) {
		opendmarc_policy_connect_shutdown(pctx);
		decide(dc, "DMARC_NA", 0.0, "bad DMARC record for %s",
		    org != NULL ? org : run->from_domain);
		return;
	}
	if (run->spf_domain[0] != '\0')
		opendmarc_policy_store_spf(pctx, (u_char *)run->spf_domain,
		    spf_outcome(run->spf_result), run->spf_helo ?
		    DMARC_POLICY_SPF_ORIGIN_HELO :
		    DMARC_POLICY_SPF_ORIGIN_MAILFROM, NULL);
	for (i = 0; i < run->ndkim_sigs; i++)
		opendmarc_policy_store_dkim(pctx,
		    (u_char *)run->dkim_sigs[i].domain,
		    (u_char *)run->dkim_sigs[i].selector,
		    run->dkim_sigs[i].result == NC_DKIM_PASS ?
		    DMARC_POLICY_DKIM_OUTCOME_PASS :
		    run->dkim_sigs[i].result == NC_DKIM_TEMPFAIL ?
		    DMARC_POLICY_DKIM_OUTCOME_TMPFAIL :
		    DMARC_POLICY_DKIM_OUTCOME_FAIL,
		    (u_char *)run->dkim_sigs[i].why);
	policy = opendmarc_get_policy_to_enforce(pctx);
	opendmarc_policy_fetch_p(pctx, &p);
	opendmarc_policy_fetch_pct(pctx, &pct);
	opendmarc_policy_fetch_alignment(pctx, &dkim_al, &spf_al);
	opendmarc_policy_connect_shutdown(pctx);
	switch (policy) {
	case DMARC_POLICY_PASS:
		sym = "DMARC_PASS";
		def = -0.2;
		break;
	case DMARC_POLICY_REJECT:
		sym = "DMARC_REJECT";
		def = 3.0;
		break;
	case DMARC_POLICY_QUARANTINE:
		sym = "DMARC_QUARANTINE";
		def = 2.0;
		break;
	case DMARC_POLICY_NONE:
		sym = "DMARC_NONE";
		def = 0.3;
		break;
	case DMARC_POLICY_ABSENT:
		sym = "DMARC_NA";
		def = 0.0;
		break;
	default:
		sym = "DMARC_TEMPERROR";
		def = 0.0;
		break;
	}
	/* A failure that an unanswered look-up may have caused is not one. */
	if ((policy == DMARC_POLICY_REJECT ||
	    policy == DMARC_POLICY_QUARANTINE || policy == DMARC_POLICY_NONE) &&
	    (spf_outcome(run->spf_result) == DMARC_POLICY_SPF_OUTCOME_TMPFAIL ||
	    dkim_tempfailed(run))) {
		sym = "DMARC_TEMPERROR";
		def = 0.0;
	}
	decide(dc, sym, def, "From %s%s%s: p=%s pct=%d; SPF %s %s (%s); "
	    "DKIM %s", run->from_domain, org != NULL ? " via " : "",
	    org != NULL ? org : "", p == DMARC_RECORD_P_REJECT ? "reject" :
	    p == DMARC_RECORD_P_QUARANTINE ? "quarantine" : "none", pct,
	    spf_name(run->spf_result), run->spf_domain[0] != '\0' ?
	    run->spf_domain : "-", spf_al == DMARC_POLICY_SPF_ALIGNMENT_PASS ?
	    "aligned" : "not aligned",
	    dkim_al == DMARC_POLICY_DKIM_ALIGNMENT_PASS ? "aligned pass" :
	    run->ndkim_sigs > 0 ? "no aligned pass" : "unsigned");
}

void
dmarc_check_try(struct netcheck_run *run)
{
	struct dmarc_check	*dc = run->dmarc;
	const struct dmarc_fetch *f;

	if (dc == NULL || dc->decided || !dc->from.have)
		return;
	if (!usable(&dc->from) && dc->org[0] != '\0' && !dc->orgf.have)
		return;			/* the organizational record decides */
	f = usable(&dc->from) ? &dc->from : dc->org[0] != '\0' &&
	    usable(&dc->orgf) ? &dc->orgf : NULL;
	if (f == NULL) {
		if (temporary(&dc->from) || (dc->org[0] != '\0' &&
		    temporary(&dc->orgf)))
			decide(dc, "DMARC_TEMPERROR", 0.0, "_dmarc record of "
			    "%s: %s", run->from_domain, dnsq_status_name(
			    temporary(&dc->from) ? dc->from.status :
			    dc->orgf.status));
		else
			decide(dc, "DMARC_NA", 0.0, "no DMARC record for %s",
			    run->from_domain);
		return;
	}
	if (!run->spf_done || !run->dkim_done)
		return;
	evaluate(dc, f);
}

static void
cancel(struct dmarc_fetch *f)
{
	if (f->req == NULL)
		return;
	dnsq_cancel(f->req);
	f->req = NULL;
	f->have = true;
	f->status = DNSQ_TIMEOUT;
	netcheck_release(f->dc->run);
}

void
dmarc_check_abort(struct netcheck_run *run)
{
	struct dmarc_check	*dc = run->dmarc;

	if (dc == NULL || dc->decided)
		return;
	/* Hold across: the releases below must not finish the run. */
	netcheck_hold(run);
	cancel(&dc->from);
	if (dc->org[0] != '\0')
		cancel(&dc->orgf);
	dmarc_check_try(run);
	if (!dc->decided)
		decide(dc, "DMARC_TEMPERROR", 0.0, "timeout: SPF %s, DKIM %s",
		    run->spf_done ? "done" : "unfinished",
		    run->dkim_done ? "done" : "unfinished");
	netcheck_release(run);
}

void
dmarc_check_free(struct netcheck_run *run)
{
	struct dmarc_check	*dc = run->dmarc;

	if (dc == NULL)
		return;
	if (dc->from.req != NULL)
		dnsq_cancel(dc->from.req);
	if (dc->orgf.req != NULL)
		dnsq_cancel(dc->orgf.req);
	free(dc->from.record);
	free(dc->orgf.record);
	free(dc);
	run->dmarc = NULL;
}

void
dmarc_check_init(void)
{
	memset(&dmarc_lib, 0, sizeof dmarc_lib);
	dmarc_lib.tld_type = OPENDMARC_TLD_TYPE_NONE;
	if (opendmarc_policy_library_init(&dmarc_lib) != DMARC_PARSE_OKAY)
		log_warnx("libopendmarc: initialisation failed");
}

void
dmarc_check_shutdown(void)
{
	opendmarc_policy_library_shutdown(&dmarc_lib);
}
