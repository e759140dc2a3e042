/*
 * Delivery of analysed messages: the network checks, the policy decision
 * per recipient, then its execution: relay each group of accepted
 * recipients (with its rewritten body, if any), answer for quarantined and
 * blocked ones, and turn it all into moatd's answers. The policy step runs
 * on a worker (it may rewrite bodies and fsync the quarantine); the rest on
 * the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "body.h"
#include "deliver.h"
#include "filter_bayes.h"
#include "log.h"
#include "msg.h"
#include "netcheck.h"
#include "policy.h"
#include "quar.h"
#include "relay.h"
#include "scan.h"
#include "track.h"
#include "xmalloc.h"

struct deliver_ctx {
	struct scan_job		*job;
	deliver_done_fn		 done;
	struct netcheck_ctx	 net;
	size_t			 group;		/* next group to relay */
	struct relay_rcpt	*grcpts;	/* the group being relayed */
	size_t			*gidx;		/* their job indexes */
	size_t			 ngrcpts;
	struct relay_msg	 gmsg;
};

static void	relay_next_group(struct deliver_ctx *);

/* The enhanced status code in a reply, with its class set to cls, or def. */
static void
enhanced_code(const char *text, int cls, const char *def, char *out,
    size_t len)
{
	int	a, b, c, n = 0;

	if (strlen(text) > 4 && sscanf(text + 4, "%1d.%3d.%3d%n", &a, &b, &c,
	    &n) == 3 && n > 0 && (text[4 + n] == ' ' || text[4 + n] == '\0'))
		snprintf(out, len, "%d.%d.%d", cls, b, c);
	else
		snprintf(out, len, "%s", def);
}

/*
 * What moatd answers for one recipient given the next hop's answer: 2xx
 * becomes our 250, 4xx our 451, 5xx is passed on as it came.
 */
static void
rcpt_answer(const char *qid, int code, const char *nh, struct scan_answer *a)
{
	char	enh[16];

	if (code / 100 == 2) {
		a->code = 250;
		snprintf(a->reply, sizeof a->reply, "250 2.0.0 Ok: queued as "
		    "%s (next hop: %.300s)", qid, nh);
		a->outcome = TRACK_RELAYED;
		return;
	}
	if (code / 100 == 5) {
		a->code = code;
		snprintf(a->reply, sizeof a->reply, "%.480s", nh);
		a->outcome = TRACK_REJECTED;
		return;
	}
	a->code = 451;
	a->outcome = TRACK_TEMPFAILED;
	if (code == 451 && strncmp(nh, "451 4.", 6) == 0 &&
	    strstr(nh, "Next hop") != NULL) {
		snprintf(a->reply, sizeof a->reply, "%.480s", nh);
		return;
	}
	enhanced_code(nh, 4, "4.4.0", enh, sizeof enh);
	snprintf(a->reply, sizeof a->reply, "451 %s Next hop deferred: %.400s",
	    enh, nh);
}

static void
set_answer(struct scan_answer *a, int code, int outcome, const char *text)
{
	a->code = code;
	a->outcome = outcome;
	snprintf(a->reply, sizeof a->reply, "%s", text);
}

/*
 * The one answer SMTP allows. Any deferral defers the whole message (and
 * the caller drops what was quarantined, since the client sends it again);
 * a message refused for every recipient is refused; otherwise it was taken.
 */
static void
overall_answer(struct scan_job *j)
{
	size_t		 i, n[TRACK_OUTCOME_MAX] = { 0 }, nrefused = 0;
	const char	*first[TRACK_OUTCOME_MAX] = { NULL };
	const char	*firstbad = NULL;
	int		 o;

	for (i = 0; i < j->nrcpts; i++) {
		o = j->answers[i].outcome;
		n[o]++;
		if (first[o] == NULL)
			first[o] = j->answers[i].reply;
		if (j->answers[i].code / 100 == 5) {
			nrefused++;
			if (firstbad == NULL)
				firstbad = j->answers[i].reply;
		}
	}
	if (n[TRACK_TEMPFAILED] > 0 && (!j->lmtp ||
	    n[TRACK_TEMPFAILED] == j->nrcpts)) {
		j->outcome = TRACK_TEMPFAILED;
		snprintf(j->reply, sizeof j->reply, "%s",
		    first[TRACK_TEMPFAILED]);
		return;
	}
	if (nrefused == j->nrcpts) {
		j->outcome = n[TRACK_BLOCKED] > 0 ? TRACK_BLOCKED :
		    TRACK_REJECTED;
		snprintf(j->reply, sizeof j->reply, "%s", firstbad);
		return;
	}
	if (n[TRACK_RELAYED] > 0)
		o = TRACK_RELAYED;
	else if (n[TRACK_QUARANTINED] > 0)
		o = TRACK_QUARANTINED;
	else if (n[TRACK_BLOCKED] > 0)
		o = TRACK_BLOCKED;
	else
		o = TRACK_RELAYED;
	j->outcome = o;
	for (i = 0; i < j->nrcpts; i++)
		if (j->answers[i].code / 100 == 2) {
			snprintf(j->reply, sizeof j->reply, "%s",
			    first[o] != NULL ? first[o] : j->answers[i].reply);
			break;
		}
	if (nrefused > 0 && !j->lmtp)
		log_warnx("%s: %zu recipients refused by the next hop while "
		    "others were delivered; SMTP has one answer: use LMTP",
		    j->queue_id, nrefused);
}

static void
finish(struct deliver_ctx *d)
{
	struct scan_job	*j = d->job;
	deliver_done_fn	 done = d->done;

	overall_answer(j);
	if (j->pres != NULL) {
		if (j->outcome == TRACK_TEMPFAILED ||
		    (j->lmtp && j->answers[0].code / 100 == 4 &&
		    j->outcome == TRACK_TEMPFAILED))
			quar_drop_async(j->cfg, j->pres);
		else
			policy_extras_send(j->cfg, j->pres);
	}
	free(d->grcpts);
	free(d->gidx);
	free(d);
	done(j);
}

/* --- relaying groups ------------------------------------------------------- */

static void
group_relayed(struct relay_msg *m, void *arg)
{
	struct deliver_ctx	*d = arg;
	struct scan_job		*j = d->job;
	size_t			 i;

	if (m->ms > j->relay.ms)
		j->relay.ms = m->ms;
	if (j->relay.reply[0] == '\0')
		snprintf(j->relay.reply, sizeof j->relay.reply, "%s",
		    m->reply);
	for (i = 0; i < d->ngrcpts; i++)
		rcpt_answer(j->queue_id, d->grcpts[i].code,
		    d->grcpts[i].reply, &j->answers[d->gidx[i]]);
	relay_next_group(d);
}

/* Relay the recipients of the next accepted group, or finish. */
static void
relay_next_group(struct deliver_ctx *d)
{
	struct scan_job		*j = d->job;
	struct relay_msg	*m = &d->gmsg;
	const struct body	*body = j->body;
	size_t			 i, k;
	bool			 all;

	for (;;) {
		if (j->pres == NULL) {
			if (d->group > 0)
				break;
			all = true;
		} else {
			if (d->group >= j->pres->ngroups)
				break;
			if (j->pres->groups[d->group].final != POLICY_ACCEPT) {
				d->group++;
				continue;
			}
			all = false;
			if (j->pres->groups[d->group].body != NULL)
				body = j->pres->groups[d->group].body;
		}
		d->ngrcpts = 0;
		free(d->grcpts);
		free(d->gidx);
		d->grcpts = xcalloc(j->nrcpts, sizeof *d->grcpts);
		d->gidx = xcalloc(j->nrcpts, sizeof *d->gidx);
		for (i = 0; i < j->nrcpts; i++) {
			if (!all && j->pres->rcpts[i].group != d->group)
				continue;
			k = d->ngrcpts++;
			d->gidx[k] = i;
			d->grcpts[k].addr = j->rcpts[i].addr;
			d->grcpts[k].notify = j->rcpts[i].notify;
			d->grcpts[k].orcpt = j->rcpts[i].orcpt;
		}
		d->group++;
		if (d->ngrcpts == 0)
			continue;
		memset(m, 0, sizeof *m);
		m->mail_from = j->mail.addr;
		m->smtputf8 = j->mail.smtputf8;
		m->body_type = j->mail.body;
		m->ret = j->mail.ret;
		m->envid = j->mail.envid;
		m->xforward = j->have_xforward ? &j->xforward : NULL;
		m->rcpts = d->grcpts;
		m->nrcpts = d->ngrcpts;
		m->body = body;
		m->prepend = j->prepend;
		m->all_or_nothing = !j->lmtp;
		relay_send(j->cfg, m, group_relayed, d);
		return;
	}
	finish(d);
}

/* --- the policy step ------------------------------------------------------- */

static void
policy_input_fill(struct scan_job *j, struct policy_input *in)
{
	size_t	len;

	memset(in, 0, sizeof *in);
	in->direction = j->direction;
	in->sender = j->mail.addr;
	in->rcpts = (const char *const *)j->rcpt_ptrs;
	in->nrcpts = j->nrcpts;
	in->client_addr = j->client_addr;
	in->msg = j->msg;
	in->findings = &j->findings;
	in->attach = j->attach;
	in->time_ms = j->time_ms;
	in->raw = body_map(j->body, &len);
	in->raw_len = in->raw != NULL ? len : 0;
	in->prepend = j->prepend;
	in->queue_id = j->queue_id;
	in->node = j->cfg->node_name;
	in->smtputf8 = j->mail.smtputf8;
	in->body_type = j->mail.body;
}

/* Worker: the verdict with every finding, then the policy. */
static void
policy_work(void *arg)
{
	struct deliver_ctx	*d = arg;
	struct scan_job		*j = d->job;
	struct policy_input	 in;
	char			*cause = NULL;

	scan_verdict(j);
	if (j->msg != NULL && j->scanned)
		filter_bayes_autolearn(scan_engine_state(j->engine, "bayes"),
		    j->msg, &j->findings);
	if (j->policy == NULL || !policy_wants_msg(j->policy))
		return;		/* everyone accepted: relay_next_group */
	if (j->attach == NULL && j->msg != NULL)
		j->attach = attach_facts_build(j->msg, NULL);
	policy_input_fill(j, &in);
	j->pres = policy_eval(j->policy, &in);
	if (j->pres->tempfail)
		return;
	if (policy_prepare(j->pres, &in, j->cfg, &cause) == -1) {
		log_warnx("%s: policy: %s", j->queue_id, cause);
		free(cause);
		j->prep_failed = true;
	}
}

/* Loop: answers for what is not relayed, then relay the rest. */
static void
policy_done(void *arg)
{
	struct deliver_ctx		*d = arg;
	struct scan_job			*j = d->job;
	const struct policy_group	*g;
	char				 text[RELAY_REPLY_MAX];
	size_t				 i;

	if (j->pres == NULL) {
		relay_next_group(d);
		return;
	}
	if (j->prep_failed || j->pres->tempfail) {
		for (i = 0; i < j->nrcpts; i++)
			set_answer(&j->answers[i], 451, TRACK_TEMPFAILED,
			    j->pres->tempfail ? "451 4.7.0 The virus scanner "
			    "could not scan this message; try again later" :
			    "451 4.3.0 Local error applying the policy; try "
			    "again later");
		finish(d);
		return;
	}
	for (i = 0; i < j->nrcpts; i++) {
		g = &j->pres->groups[j->pres->rcpts[i].group];
		switch (g->final) {
		case POLICY_QUARANTINE:
			snprintf(text, sizeof text, "250 2.0.0 Ok: %s "
			    "quarantined as %s", quar_type_name(g->quar_type),
			    g->quar_id);
			set_answer(&j->answers[i], 250, TRACK_QUARANTINED,
			    text);
			break;
		case POLICY_BLOCK:
			if (j->pres->all_blocked) {
				snprintf(text, sizeof text, "554 5.7.1 "
				    "Rejected by policy%s%.200s%s",
				    j->pres->rule_text[0] ? " (" : "",
				    j->pres->rule_text,
				    j->pres->rule_text[0] ? ")" : "");
				set_answer(&j->answers[i], 554,
				    TRACK_BLOCKED, text);
			} else
				set_answer(&j->answers[i], 250, TRACK_BLOCKED,
				    "250 2.7.0 Ok: discarded by policy");
			break;
		default:
			break;
		}
	}
	relay_next_group(d);
}

/* Any network check on: the run itself skips what has nothing to ask. */
static bool
net_wanted(const struct cfg *c)
{
	static const char *const names[] = { "dnsbl", "surbl", "spf", "dkim",
	    "dmarc" };
	size_t	i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (cfg_filter_enabled(c, names[i]))
			return true;
	return false;
}

static void
after_net(struct deliver_ctx *d)
{
	struct scan_job	*j = d->job;

	/* A policy with rules, or filters whose verdict Bayes may learn
	 * from: one more worker round. Plain relaying needs none. */
	if ((j->policy != NULL && policy_wants_msg(j->policy)) || j->scanned) {
		scan_run_on_worker(j, policy_work, policy_done, d);
		return;
	}
	scan_verdict(j);
	relay_next_group(d);
}

static void
net_done(struct netcheck_ctx *ctx)
{
	after_net(ctx->arg);
}

void
deliver_start(struct scan_job *j, deliver_done_fn done)
{
	struct deliver_ctx	*d;

	j->answers = xcalloc(j->nrcpts, sizeof *j->answers);
	d = xcalloc(1, sizeof *d);
	d->job = j;
	d->done = done;
	if (net_wanted(j->cfg) && j->direction == DIR_INBOUND) {
		d->net.cfg = j->cfg;
		d->net.queue_id = j->queue_id;
		d->net.client_addr = j->client_addr;
		d->net.helo = j->helo;
		d->net.sender = j->mail.addr;
		d->net.msg = j->msg;
		d->net.findings = &j->findings;
		d->net.arg = d;
		netcheck_run(&d->net, net_done);
		return;
	}
	after_net(d);
}
