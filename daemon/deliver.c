/*
 * Delivery of analysed messages. Loop thread: hands the message to the
 * relay and turns the next hop's answers into moatd's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "relay.h"
#include "scan.h"
#include "track.h"
#include "xmalloc.h"

struct deliver_ctx {
	struct scan_job	*job;
	deliver_done_fn	 done;
};

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

/*
 * The one answer SMTP allows: delivered to all, refused for all, or
 * deferred (nothing was delivered: the relay never splits an SMTP message).
 */
static void
overall_answer(struct scan_job *j)
{
	size_t		 i, n[TRACK_OUTCOME_MAX] = { 0 };
	const char	*first[TRACK_OUTCOME_MAX] = { NULL };
	int		 o;

	for (i = 0; i < j->nrcpts; i++) {
		o = j->answers[i].outcome;
		n[o]++;
		if (first[o] == NULL)
			first[o] = j->answers[i].reply;
	}
	if (n[TRACK_RELAYED] == j->nrcpts ||
	    (n[TRACK_RELAYED] > 0 && j->lmtp))
		o = TRACK_RELAYED;
	else if (n[TRACK_REJECTED] == j->nrcpts)
		o = TRACK_REJECTED;
	else
		o = TRACK_TEMPFAILED;
	j->outcome = o;
	snprintf(j->reply, sizeof j->reply, "%s", first[o] != NULL ? first[o] :
	    "451 4.3.0 Delivery deferred");
}

static void
relayed(struct relay_msg *m, void *arg)
{
	struct deliver_ctx	*d = arg;
	struct scan_job		*j = d->job;
	deliver_done_fn		 done = d->done;
	size_t			 i;

	(void)m;
	free(d);
	for (i = 0; i < j->nrcpts; i++)
		rcpt_answer(j->queue_id, j->relay_rcpts[i].code,
		    j->relay_rcpts[i].reply, &j->answers[i]);
	overall_answer(j);
	done(j);
}

void
deliver_start(struct scan_job *j, deliver_done_fn done)
{
	struct relay_msg	*m = &j->relay;
	struct deliver_ctx	*d;
	size_t			 i;

	j->answers = xcalloc(j->nrcpts, sizeof *j->answers);
	j->relay_rcpts = xcalloc(j->nrcpts, sizeof *j->relay_rcpts);
	for (i = 0; i < j->nrcpts; i++) {
		j->relay_rcpts[i].addr = j->rcpts[i].addr;
		j->relay_rcpts[i].notify = j->rcpts[i].notify;
		j->relay_rcpts[i].orcpt = j->rcpts[i].orcpt;
	}
	memset(m, 0, sizeof *m);
	m->mail_from = j->mail.addr;
	m->smtputf8 = j->mail.smtputf8;
	m->body_type = j->mail.body;
	m->ret = j->mail.ret;
	m->envid = j->mail.envid;
	m->xforward = j->have_xforward ? &j->xforward : NULL;
	m->rcpts = j->relay_rcpts;
	m->nrcpts = j->nrcpts;
	m->body = j->body;
	m->prepend = j->prepend;
	m->all_or_nothing = !j->lmtp;
	d = xmalloc(sizeof *d);
	d->job = j;
	d->done = done;
	relay_send(j->cfg, m, relayed, d);
}
