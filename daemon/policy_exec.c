/*
 * Carrying out a policy result: rewritten bodies per recipient group,
 * quarantined copies (durable before the answer), rendered notifications
 * and BCC copies. policy_prepare runs on the worker that evaluated the
 * message; policy_extras_send on the loop thread once the answer is final.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gmime/gmime.h>

#include "body.h"
#include "buf.h"
#include "log.h"
#include "policy.h"
#include "quar.h"
#include "relay.h"
#include "util.h"
#include "xmalloc.h"

#define EXEC_BODY_MAX	(256 * 1024 * 1024)	/* a rewritten message */
#define EXEC_RCPTS_TEXT	4096			/* ${rcpts} */

#define NOTIFY_SUBJECT_DEFAULT	"[moat] ${rule}: message from ${sender}"
#define NOTIFY_BODY_DEFAULT						\
	"The mail gateway ${host} applied rule \"${rule}\" to a message.\n"\
	"\n"								\
	"Queue id:   ${queue_id}\n"					\
	"Sender:     ${sender}\n"					\
	"From:       ${from}\n"						\
	"Recipients: ${rcpts}\n"					\
	"Subject:    ${subject}\n"					\
	"Score:      ${score}\n"					\
	"Virus:      ${virus}\n"					\
	"Removed:    ${filenames}\n"

struct policy_extra {
	struct policy_extra	*next;
	const char		*what;		/* "bcc", "notify" */
	char			*from;		/* envelope, "" for <> */
	char			**rcpts;
	size_t			 nrcpts;
	struct body		*body;
	bool			 smtputf8;
	enum smtp_body_type	 body_type;
};

void
policy_extras_free(struct policy_extra *x)
{
	struct policy_extra	*next;
	size_t			 i;

	for (; x != NULL; x = next) {
		next = x->next;
		free(x->from);
		for (i = 0; i < x->nrcpts; i++)
			free(x->rcpts[i]);
		free(x->rcpts);
		body_free(x->body);
		free(x);
	}
}

static char *
group_rcpts(const struct policy_group *g, const struct policy_input *in)
{
	struct buf	b;
	size_t		i;

	buf_init(&b, EXEC_RCPTS_TEXT);
	for (i = 0; i < g->nrcpts; i++)
		if (buf_appendf(&b, "%s%s", i > 0 ? ", " : "",
		    in->rcpts[g->rcpts[i]]) == -1)
			break;
	if (b.data == NULL && buf_append(&b, "", 0) == -1)
		return xstrdup("");
	return buf_steal(&b);
}

static struct body *
make_body(const struct cfg *c, const char *a, size_t alen, const char *b,
    size_t blen, char **cause)
{
	struct body	*body = body_new(c->spool_dir);

	if (body_append(body, a, alen) == -1 ||
	    body_append(body, b, blen) == -1 || body_finish(body) == -1) {
		xasprintf(cause, "spooling a rewritten message: %s",
		    strerror(body->error != 0 ? body->error : EIO));
		body_free(body);
		return NULL;
	}
	return body;
}

static int
store(const struct policy_input *in, const struct cfg *c,
    const struct policy_group *g, enum quar_type type, const char *data,
    size_t len, char *id, size_t idlen, char **cause)
{
	struct quar_meta	 m;
	const char		**rcpts;
	json_t			*f = NULL;
	size_t			 i;
	int			 rv;

	memset(&m, 0, sizeof m);
	rcpts = xcalloc(g->nrcpts + 1, sizeof *rcpts);
	for (i = 0; i < g->nrcpts; i++)
		rcpts[i] = in->rcpts[g->rcpts[i]];
	m.queue_id = in->queue_id != NULL ? in->queue_id : "0";
	m.node = in->node;
	m.type = type;
	m.time_ms = in->time_ms;
	m.direction = in->direction;
	m.sender = in->sender != NULL ? in->sender : "";
	m.rcpts = rcpts;
	m.nrcpts = g->nrcpts;
	m.client_addr = in->client_addr;
	if (in->msg != NULL) {
		m.subject = in->msg->subject;
		m.from_hdr = in->msg->from_addr;
		m.message_id = in->msg->message_id;
	}
	if (in->findings != NULL) {
		m.scanned = true;
		m.score = in->findings->score;
		m.virus = in->findings->virus;
		m.findings = f = findings_to_json(in->findings);
	}
	m.rule = g->final_rule != NULL ? g->final_rule->name : NULL;
	m.smtputf8 = in->smtputf8;
	m.body_type = in->body_type;
	rv = quar_store(c, &m, in->prepend, data, len, id, idlen, cause);
	json_decref(f);
	free(rcpts);
	return rv;
}

/* A notification mail (raw, CRLF). Caller frees. */
static char *
render_notify(const struct policy *p, const struct policy_action *a,
    const struct policy_vars *v, const char *to, size_t *len)
{
	GMimeMessage		*msg;
	GMimeTextPart		*tp;
	GMimeFormatOptions	*fo;
	GDateTime		*now;
	uint32_t		 rnd;
	char			*subject, *body, *raw, *out, *mid;

	subject = policy_template_expand(a->subject != NULL ? a->subject :
	    NOTIFY_SUBJECT_DEFAULT, v, POLICY_VALUE_MAX);
	body = policy_template_expand(a->text != NULL ? a->text :
	    NOTIFY_BODY_DEFAULT, v, POLICY_TEXT_MAX);
	msg = g_mime_message_new(TRUE);
	g_mime_object_set_header(GMIME_OBJECT(msg), "From", p->notify_from,
	    "utf-8");
	g_mime_object_set_header(GMIME_OBJECT(msg), "To", to, "utf-8");
	g_mime_message_set_subject(msg, subject, "utf-8");
	g_mime_object_set_header(GMIME_OBJECT(msg), "Auto-Submitted",
	    "auto-generated", NULL);
	arc4random_buf(&rnd, sizeof rnd);
	xasprintf(&mid, "notify.%lld.%08x@%s", (long long)time(NULL), rnd,
	    p->hostname);
	g_mime_message_set_message_id(msg, mid);
	free(mid);
	now = g_date_time_new_now_local();
	g_mime_message_set_date(msg, now);
	g_date_time_unref(now);
	tp = g_mime_text_part_new_with_subtype("plain");
	g_mime_text_part_set_text(tp, body);
	g_mime_part_set_content_encoding(GMIME_PART(tp),
	    g_mime_part_get_best_content_encoding(GMIME_PART(tp),
	    GMIME_ENCODING_CONSTRAINT_7BIT));
	g_mime_message_set_mime_part(msg, GMIME_OBJECT(tp));
	g_object_unref(tp);
	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	raw = g_mime_object_to_string(GMIME_OBJECT(msg), fo);
	g_mime_format_options_free(fo);
	g_object_unref(msg);
	out = xstrdup(raw != NULL ? raw : "");
	g_free(raw);
	free(subject);
	free(body);
	*len = strlen(out);
	return out;
}

static void
add_extra(struct policy_result *res, struct policy_extra *x)
{
	x->next = res->extras;
	res->extras = x;
	res->nextras++;
}

static void
notify_extra(struct policy_result *res, const struct policy_input *in,
    const struct cfg *c, const struct policy_group *g,
    const struct policy_hit *h, struct policy_vars *v)
{
	const struct policy	*p = res->policy;
	struct policy_extra	*x;
	char			*raw, *to;
	size_t			 len, i;
	char			*cause = NULL;

	x = xcalloc(1, sizeof *x);
	x->what = "notify";
	x->from = xstrdup("");		/* <>: never a loop of bounces */
	switch (h->action->to) {
	case POLICY_TO_ADMIN:
		x->rcpts = xcalloc(1, sizeof *x->rcpts);
		x->rcpts[x->nrcpts++] = xstrdup(p->admin);
		break;
	case POLICY_TO_ADDRESS:
		x->rcpts = xcalloc(1, sizeof *x->rcpts);
		x->rcpts[x->nrcpts++] = xstrdup(h->action->addr);
		break;
	case POLICY_TO_SENDER:
		if (in->sender == NULL || *in->sender == '\0') {
			free(x->from);
			free(x);
			return;
		}
		x->rcpts = xcalloc(1, sizeof *x->rcpts);
		x->rcpts[x->nrcpts++] = xstrdup(in->sender);
		break;
	case POLICY_TO_RCPTS:
		x->rcpts = xcalloc(g->nrcpts + 1, sizeof *x->rcpts);
		for (i = 0; i < g->nrcpts; i++)
			x->rcpts[x->nrcpts++] = xstrdup(in->rcpts[g->rcpts[i]]);
		break;
	}
	to = xstrdup(x->rcpts[0]);
	for (i = 1; i < x->nrcpts && strlen(to) < EXEC_RCPTS_TEXT; i++) {
		char *t;

		xasprintf(&t, "%s, %s", to, x->rcpts[i]);
		free(to);
		to = t;
	}
	v->rule = h->rule->name;
	raw = render_notify(p, h->action, v, to, &len);
	free(to);
	x->smtputf8 = in->smtputf8;
	x->body_type = SMTP_BODY_8BITMIME;
	x->body = make_body(c, "", 0, raw, len, &cause);
	free(raw);
	if (x->body == NULL) {
		log_warnx("%s: notification not made: %s", in->queue_id,
		    cause);
		free(cause);
		policy_extras_free(x);
		return;
	}
	add_extra(res, x);
}

static void
bcc_extra(struct policy_result *res, const struct policy_input *in,
    const struct cfg *c, const struct policy_hit *h, const char *data,
    size_t len)
{
	struct policy_extra	*x;
	char			*cause = NULL;
	const char		*pre = in->prepend != NULL ? in->prepend : "";

	x = xcalloc(1, sizeof *x);
	x->what = "bcc";
	x->from = xstrdup(in->sender != NULL ? in->sender : "");
	x->rcpts = xcalloc(1, sizeof *x->rcpts);
	x->rcpts[x->nrcpts++] = xstrdup(h->action->addr);
	x->smtputf8 = in->smtputf8;
	x->body_type = in->body_type;
	if (h->action->original) {
		data = in->raw;
		len = in->raw_len;
	}
	if ((x->body = make_body(c, pre, strlen(pre), data, len,
	    &cause)) == NULL) {
		log_warnx("%s: BCC copy not made: %s", in->queue_id, cause);
		free(cause);
		policy_extras_free(x);
		return;
	}
	add_extra(res, x);
}

static bool
seen(const struct policy_action **v, size_t *n, const struct policy_action *a)
{
	size_t	i;

	for (i = 0; i < *n; i++)
		if (v[i] == a)
			return true;
	if (*n < POLICY_EXTRAS_MAX)
		v[(*n)++] = a;
	return false;
}

static void
drop_stored(const struct cfg *c, struct policy_result *res)
{
	char	*cause = NULL;
	size_t	 i;

	for (i = 0; i < res->ngroups; i++) {
		if (res->groups[i].quar_id[0] != '\0' &&
		    quar_drop(c, res->groups[i].quar_id, &cause) == -1) {
			log_warnx("quarantine: %s: %s", res->groups[i].quar_id,
			    cause);
			free(cause);
			cause = NULL;
		}
		if (res->groups[i].orig_quar_id[0] != '\0' &&
		    quar_drop(c, res->groups[i].orig_quar_id, &cause) == -1) {
			log_warnx("quarantine: %s: %s",
			    res->groups[i].orig_quar_id, cause);
			free(cause);
			cause = NULL;
		}
		res->groups[i].quar_id[0] = '\0';
		res->groups[i].orig_quar_id[0] = '\0';
		body_free(res->groups[i].body);
		res->groups[i].body = NULL;
	}
	policy_extras_free(res->extras);
	res->extras = NULL;
	res->nextras = 0;
}

int
policy_prepare(struct policy_result *res, const struct policy_input *in,
    const struct cfg *c, char **cause)
{
	const struct policy_action	*once[POLICY_EXTRAS_MAX];
	struct policy_group		*g;
	struct policy_vars		 v;
	struct buf			 out;
	const char			*data;
	size_t				 len, i, k, nonce = 0;
	char				*rcpts;

	memset(&v, 0, sizeof v);
	v.sender = in->sender;
	v.subject = in->msg != NULL ? in->msg->subject : NULL;
	v.from = in->msg != NULL ? in->msg->from_addr : NULL;
	v.virus = in->findings != NULL ? in->findings->virus : NULL;
	v.queue_id = in->queue_id;
	v.host = res->policy->hostname;
	v.score = in->findings != NULL ? in->findings->score : 0.0;
	v.spam = v.score >= c->spam_threshold;

	for (i = 0; i < res->ngroups; i++) {
		g = &res->groups[i];
		rcpts = group_rcpts(g, in);
		v.rcpts = rcpts;
		v.rule = g->final_rule != NULL ? g->final_rule->name : "";
		v.filenames = NULL;
		data = in->raw;
		len = in->raw_len;
		buf_init(&out, EXEC_BODY_MAX);
		if (g->final != POLICY_BLOCK && g->modifies) {
			if (policy_apply(g, in->msg, in->raw, in->raw_len, &v,
			    &out, &g->removed, cause) == -1)
				goto fail;
			data = out.data;
			len = out.len;
			v.filenames = g->removed;
			if (g->final == POLICY_ACCEPT && (g->body =
			    make_body(c, "", 0, data, len, cause)) == NULL)
				goto fail;
		}
		if (g->quarantine_original && g->final != POLICY_BLOCK &&
		    store(in, c, g, QUAR_ATTACHMENT, in->raw, in->raw_len,
		    g->orig_quar_id, sizeof g->orig_quar_id, cause) == -1)
			goto fail;
		if (g->final == POLICY_QUARANTINE && store(in, c, g,
		    g->quar_type, data, len, g->quar_id, sizeof g->quar_id,
		    cause) == -1)
			goto fail;
		for (k = 0; k < g->nhits; k++) {
			if (res->nextras >= POLICY_EXTRAS_MAX)
				break;
			if (g->hits[k].action->type == POLICY_A_NOTIFY &&
			    (g->hits[k].action->to == POLICY_TO_RCPTS ||
			    !seen(once, &nonce, g->hits[k].action)))
				notify_extra(res, in, c, g, &g->hits[k], &v);
			else if (g->hits[k].action->type == POLICY_A_BCC &&
			    !seen(once, &nonce, g->hits[k].action))
				bcc_extra(res, in, c, &g->hits[k], data, len);
		}
		buf_free(&out);
		free(rcpts);
		continue;
fail:
		buf_free(&out);
		free(rcpts);
		drop_stored(c, res);
		return -1;
	}
	return 0;
}

static void
extra_sent(const struct relay_rcpt *rr, size_t n, void *arg)
{
	const char	*what = arg;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (rr[i].code / 100 == 2)
			log_debug("policy: %s to %s sent", what, rr[i].addr);
		else
			log_warnx("policy: %s to %s not sent: %s", what,
			    rr[i].addr, rr[i].code == 0 ? "next hop "
			    "unreachable" : rr[i].reply);
	}
}

void
policy_extras_send(const struct cfg *c, struct policy_result *res)
{
	struct policy_extra	*x, *next;

	if (res == NULL)
		return;
	for (x = res->extras; x != NULL; x = next) {
		next = x->next;
		quar_send(c, x->from, x->rcpts, x->nrcpts, x->body,
		    x->smtputf8, x->body_type, extra_sent, (void *)x->what);
		x->body = NULL;
		x->next = NULL;
		policy_extras_free(x);
	}
	res->extras = NULL;
	res->nextras = 0;
}
