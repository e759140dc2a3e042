/*
 * DKIM verification (dkim_check.h). Keys are fetched on the loop thread;
 * libopendkim runs on a netcheck pool thread (dkim_work) that reads the
 * fetched keys, which nobody changes once the job is submitted; the
 * results are turned into findings back on the loop (dkim_done).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <opendkim/dkim.h>

#include "dkim_check.h"
#include "dnsq.h"
#include "finding.h"
#include "log.h"
#include "msg.h"
#include "netcheck.h"
#include "pool.h"
#include "psl.h"
#include "xmalloc.h"

#define DKIM_SELECTOR_MAX	63

struct dkim_key {
	struct dkim_check	*dc;
	char			 domain[NETCHECK_DOMAIN_MAX + 1];
	char			 selector[DKIM_SELECTOR_MAX + 1];
	struct dnsq_req		*req;		/* while fetching */
	bool			 have;
	enum dnsq_status	 status;
	char			*record;	/* owned: the key TXT */
};

struct dkim_check {
	struct netcheck_run	*run;
	const char		*raw;		/* borrowed from the msg */
	size_t			 raw_len;
	char			 qid[32];
	int			 max_sigs;
	struct dkim_key		 keys[DKIM_CHECK_SIGS_MAX];
	size_t			 nkeys;
	size_t			 pending;
	bool			 submitted;
	/* Written by the job. */
	struct netcheck_dkim_sig res[DKIM_CHECK_SIGS_MAX];
	size_t			 nres;
	char			 error[128];
};

static DKIM_LIB	*dkim_lib;

/* --- the job (pool thread) ------------------------------------------------ */

static struct dkim_key *
key_find(struct dkim_check *dc, const char *domain, const char *selector)
{
	size_t	i;

	for (i = 0; i < dc->nkeys; i++)
		if (strcasecmp(dc->keys[i].domain, domain) == 0 &&
		    strcmp(dc->keys[i].selector, selector) == 0)
			return &dc->keys[i];
	return NULL;
}

static DKIM_CBSTAT
key_lookup(DKIM *d, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct dkim_check	*dc = dkim_get_user_context(d);
	struct dkim_key		*k;
	const char		*dom, *sel;

	dom = (const char *)dkim_sig_getdomain(sig);
	sel = (const char *)dkim_sig_getselector(sig);
	if (dc == NULL || dom == NULL || sel == NULL ||
	    (k = key_find(dc, dom, sel)) == NULL || !k->have)
		return DKIM_CBSTAT_NOTFOUND;
	if (k->record == NULL || strlen(k->record) >= buflen)
		return DKIM_CBSTAT_NOTFOUND;
	memcpy(buf, k->record, strlen(k->record) + 1);
	return DKIM_CBSTAT_CONTINUE;
}

/* Process the first max_sigs signatures only: each costs a body hash. */
static DKIM_CBSTAT
prescreen(DKIM *d, DKIM_SIGINFO **sigs, int nsigs)
{
	struct dkim_check	*dc = dkim_get_user_context(d);
	int			 i;

	for (i = dc != NULL ? dc->max_sigs : 0; i < nsigs; i++)
		dkim_sig_ignore(sigs[i]);
	return DKIM_CBSTAT_CONTINUE;
}

static void
sig_result(struct dkim_check *dc, DKIM_SIGINFO *sig,
    struct netcheck_dkim_sig *r)
{
	const char	*dom, *sel;
	struct dkim_key	*k;
	unsigned	 flags = dkim_sig_getflags(sig);
	int		 err = dkim_sig_geterror(sig);

	dom = (const char *)dkim_sig_getdomain(sig);
	sel = (const char *)dkim_sig_getselector(sig);
	snprintf(r->domain, sizeof r->domain, "%s", dom != NULL ? dom : "");
	snprintf(r->selector, sizeof r->selector, "%s",
	    sel != NULL ? sel : "");
	k = dom != NULL && sel != NULL ? key_find(dc, dom, sel) : NULL;
	if ((flags & DKIM_SIGFLAG_PASSED) != 0 &&
	    dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH) {
		r->result = NC_DKIM_PASS;
		snprintf(r->why, sizeof r->why, "verified");
	} else if (k == NULL || !k->have ||
	    (k->status != DNSQ_OK && k->status != DNSQ_NODATA &&
	    k->status != DNSQ_NXDOMAIN)) {
		r->result = k == NULL ? NC_DKIM_FAIL : NC_DKIM_TEMPFAIL;
		snprintf(r->why, sizeof r->why, "%s", k == NULL ?
		    "signature not parsed" : "key look-up failed");
	} else {
		r->result = NC_DKIM_FAIL;
		if (dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH)
			snprintf(r->why, sizeof r->why, "body hash mismatch");
		else
			snprintf(r->why, sizeof r->why, "%s",
			    dkim_sig_geterrorstr(err) != NULL ?
			    dkim_sig_geterrorstr(err) : "not verified");
	}
}

static void
dkim_work(void *arg)
{
	struct dkim_check	*dc = arg;
	DKIM_SIGINFO		**sigs = NULL;
	DKIM			*d;
	DKIM_STAT		 st;
	int			 nsigs = 0, i;

	d = dkim_verify(dkim_lib, (const u_char *)dc->qid, NULL, &st);
	if (d == NULL) {
		snprintf(dc->error, sizeof dc->error, "dkim_verify: %s",
		    dkim_getresultstr(st));
		return;
	}
	dkim_set_user_context(d, dc);
	st = dkim_chunk(d, (u_char *)(uintptr_t)dc->raw, dc->raw_len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(d, NULL, 0);
	if (st == DKIM_STAT_OK || st == DKIM_STAT_NOSIG)
		st = dkim_eom(d, NULL);
	if (dkim_getsiglist(d, &sigs, &nsigs) == DKIM_STAT_OK) {
		for (i = 0; i < nsigs && dc->nres < DKIM_CHECK_SIGS_MAX; i++) {
			if (dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_IGNORE)
				continue;
			sig_result(dc, sigs[i], &dc->res[dc->nres++]);
		}
	}
	if (dc->nres == 0 && st != DKIM_STAT_OK && st != DKIM_STAT_NOSIG)
		snprintf(dc->error, sizeof dc->error, "%s",
		    dkim_geterror(d) != NULL ? dkim_geterror(d) :
		    dkim_getresultstr(st));
	dkim_free(d);
}

/* --- back on the loop ----------------------------------------------------- */

static bool
aligned(const char *d, const char *from)
{
	const char	*a, *b;

	if (from[0] == '\0')
		return false;
	if (strcasecmp(d, from) == 0)
		return true;
	a = psl_registrable(d);
	b = psl_registrable(from);
	return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

static void
dkim_done(void *arg)
{
	struct dkim_check	*dc = arg;
	struct netcheck_run	*run = dc->run;
	struct findings		*f = run->ctx->findings;
	const struct netcheck_dkim_sig *valid = NULL, *au = NULL;
	const struct netcheck_dkim_sig *bad = NULL, *temp = NULL;
	size_t			 i, nvalid = 0, nbad = 0;

	for (i = 0; i < dc->nres; i++) {
		const struct netcheck_dkim_sig *r = &dc->res[i];

		if (r->result == NC_DKIM_PASS) {
			nvalid++;
			if (valid == NULL)
				valid = r;
			if (au == NULL && aligned(r->domain,
			    run->from_domain))
				au = r;
		} else if (r->result == NC_DKIM_TEMPFAIL) {
			if (temp == NULL)
				temp = r;
		} else {
			nbad++;
			if (bad == NULL)
				bad = r;
		}
	}
	if (valid != NULL)
		findings_add(f, "DKIM_VALID", netcheck_score(run, "DKIM_VALID",
		    -0.1), "d=%s s=%s%s", valid->domain, valid->selector,
		    nvalid > 1 ? " and others" : "");
	if (au != NULL)
		findings_add(f, "DKIM_VALID_AU", netcheck_score(run,
		    "DKIM_VALID_AU", -0.1), "d=%s s=%s (From %s)", au->domain,
		    au->selector, run->from_domain);
	if (bad != NULL)
		findings_add(f, "DKIM_INVALID", netcheck_score(run,
		    "DKIM_INVALID", 0.1), "d=%s s=%s: %s%s", bad->domain,
		    bad->selector, bad->why, nbad > 1 ? " (and others)" : "");
	if (temp != NULL)
		findings_add(f, "DKIM_TEMPFAIL", netcheck_score(run,
		    "DKIM_TEMPFAIL", 0.0), "d=%s s=%s: %s", temp->domain,
		    temp->selector, temp->why);
	if (dc->error[0] != '\0')
		log_debug("%s: DKIM: %s", netcheck_qid(run), dc->error);
	free(run->dkim_sigs);
	run->dkim_sigs = dc->nres > 0 ? xcalloc(dc->nres,
	    sizeof *run->dkim_sigs) : NULL;
	if (dc->nres > 0)
		memcpy(run->dkim_sigs, dc->res, dc->nres * sizeof *dc->res);
	run->ndkim_sigs = dc->nres;
	run->dkim_done = true;
	netcheck_auth_ready(run);
	netcheck_release(run);
}

static void
submit(struct dkim_check *dc)
{
	if (dc->submitted)
		return;
	dc->submitted = true;
	netcheck_hold(dc->run);
	pool_submit(netcheck_pool(), dkim_work, dkim_done, dc);
}

static void
on_key(const struct dnsq_answer *a, void *arg)
{
	struct dkim_key		*k = arg;
	struct dkim_check	*dc = k->dc;
	struct netcheck_run	*run = dc->run;
	size_t			 i;

	k->req = NULL;
	k->have = true;
	k->status = a->status;
	for (i = 0; a->status == DNSQ_OK && i < a->nrr; i++) {
		if (strlen(a->rr[i].data) > DKIM_CHECK_KEY_MAX)
			continue;
		/* The first record that looks like a key: "p=" present. */
		if (strstr(a->rr[i].data, "p=") != NULL) {
			k->record = xstrdup(a->rr[i].data);
			break;
		}
	}
	if (a->status == DNSQ_OK && k->record == NULL)
		k->status = DNSQ_NODATA;
	if (--dc->pending == 0)
		submit(dc);
	netcheck_release(run);
}

/* d= and s= of one DKIM-Signature value (tag=value; ...). */
static bool
sig_tags(const char *v, char *d, size_t dlen, char *s, size_t slen)
{
	const char	*p = v, *end, *eq;
	char		 tag[8], *out;
	size_t		 n, olen, i;

	d[0] = s[0] = '\0';
	while (*p != '\0') {
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL) {
			for (n = 0; p < eq && n < sizeof tag - 1; p++)
				if (!isspace((unsigned char)*p))
					tag[n++] = *p;
			tag[n] = '\0';
			out = strcmp(tag, "d") == 0 ? d :
			    strcmp(tag, "s") == 0 ? s : NULL;
			olen = out == d ? dlen : slen;
			for (i = 0, p = eq + 1; out != NULL && p < end; p++) {
				if (isspace((unsigned char)*p))
					continue;
				if (!isalnum((unsigned char)*p) && *p != '.' &&
				    *p != '-' && *p != '_')
					return false;
				if (i + 1 >= olen)
					return false;
				out[i++] = (char)tolower((unsigned char)*p);
			}
			if (out != NULL)
				out[i] = '\0';
		}
		p = *end == ';' ? end + 1 : end;
	}
	return d[0] != '\0' && s[0] != '\0';
}

void
dkim_check_start(struct netcheck_run *run)
{
	const struct msg	*m = run->ctx->msg;
	struct dkim_check	*dc;
	struct dkim_key		*k;
	char			 d[NETCHECK_DOMAIN_MAX + 1];
	char			 s[DKIM_SELECTOR_MAX + 1];
	char			 name[DNSQ_NAME_MAX + 2];
	size_t			 i, nsigs = 0;
	const char		*v;

	if (m->raw == NULL) {
		run->dkim_done = true;
		return;
	}
	dc = xcalloc(1, sizeof *dc);
	dc->run = run;
	dc->raw = m->raw;
	dc->raw_len = m->raw_len;
	dc->max_sigs = netcheck_dkim_max_sigs(run);
	snprintf(dc->qid, sizeof dc->qid, "%s", netcheck_qid(run));
	for (i = 0; i < m->nheaders && nsigs < (size_t)dc->max_sigs; i++) {
		if (strcasecmp(m->headers[i].name, "DKIM-Signature") != 0)
			continue;
		nsigs++;
		v = m->headers[i].raw != NULL ? m->headers[i].raw :
		    m->headers[i].value;
		if (v == NULL || !sig_tags(v, d, sizeof d, s, sizeof s) ||
		    key_find(dc, d, s) != NULL)
			continue;
		if ((size_t)snprintf(name, sizeof name, "%s._domainkey.%s", s,
		    d) >= sizeof name)
			continue;
		k = &dc->keys[dc->nkeys++];
		k->dc = dc;
		snprintf(k->domain, sizeof k->domain, "%s", d);
		snprintf(k->selector, sizeof k->selector, "%s", s);
		dc->pending++;
		netcheck_hold(run);
		k->req = dnsq_query(netcheck_dnsq(), name, DNSQ_T_TXT, on_key,
		    k);
	}
	if (nsigs == 0) {
		free(dc);
		run->dkim_done = true;
		return;
	}
	run->dkim = dc;
	if (dc->pending == 0)
		submit(dc);	/* signatures, but none we can look up */
}

void
dkim_check_abort(struct netcheck_run *run)
{
	struct dkim_check	*dc = run->dkim;
	size_t			 i;

	if (dc == NULL || dc->submitted)
		return;
	/* Verify with the keys we have; the others count as temporary. */
	for (i = 0; i < dc->nkeys; i++) {
		if (dc->keys[i].req == NULL)
			continue;
		dnsq_cancel(dc->keys[i].req);
		dc->keys[i].req = NULL;
		dc->keys[i].have = true;
		dc->keys[i].status = DNSQ_TIMEOUT;
		dc->pending--;
		netcheck_release(run);
	}
	submit(dc);
}

void
dkim_check_free(struct netcheck_run *run)
{
	struct dkim_check	*dc = run->dkim;
	size_t			 i;

	if (dc == NULL)
		return;
	for (i = 0; i < dc->nkeys; i++) {
		if (dc->keys[i].req != NULL)
			dnsq_cancel(dc->keys[i].req);
		free(dc->keys[i].record);
	}
	free(dc);
	run->dkim = NULL;
}

void
dkim_check_init(void)
{
	if ((dkim_lib = dkim_init(NULL, NULL)) == NULL)
		fatalx("libopendkim: dkim_init failed");
	dkim_set_key_lookup(dkim_lib, key_lookup);
	dkim_set_prescreen(dkim_lib, prescreen);
}

void
dkim_check_shutdown(void)
{
	if (dkim_lib != NULL)
		dkim_close(dkim_lib);
	dkim_lib = NULL;
}
