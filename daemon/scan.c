/*
 * The filter pipeline: engine snapshots of the filters' state, and
 * scan_job_run, which parses a message once and runs every enabled filter.
 * scan_job_run runs on a worker thread (or inline when no filter is on);
 * engines are built and swapped on the loop thread.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "body.h"
#include "buf.h"
#include "log.h"
#include "filter_attachments.h"
#include "filter_bayes.h"
#include "filter_clamav.h"
#include "filter_phishing.h"
#include "filter_rules.h"
#include "mime.h"
#include "pool.h"
#include "attach.h"
#include "policy.h"
#include "msg.h"
#include "scan.h"
#include "util.h"
#include "xmalloc.h"

void
scan_job_free(struct scan_job *j)
{
	if (j == NULL)
		return;
	policy_result_free(j->pres);
	policy_unref(j->policy);
	attach_facts_free(j->attach);
	free(j->rcpt_ptrs);
	msg_free(j->msg);
	findings_free(&j->findings);
	scan_engine_unref(j->engine);
	cfg_unref(j->cfg);
	free(j->helo);
	free(j->client_addr);
	free(j->client_name);
	free(j->rcpts);
	body_free(j->body);
	free(j->prepend);
	free(j->message_id);
	free(j->subject);
	free(j->relay_rcpts);
	free(j->answers);
	free(j);
}

char *
scan_header_value(const char *head, size_t len, const char *name)
{
	const char	*p = head, *end = head + len, *eol, *v;
	size_t		 nlen = strlen(name);
	struct buf	 out;

	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if (eol == p || (eol == p + 1 && *p == '\r'))
			return NULL;		/* end of the header block */
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0)
			break;
		p = eol + 1;
	}
	if (p >= end)
		return NULL;
	buf_init(&out, SCAN_HEADER_MAX * 4);
	v = p + nlen + 1;
	for (;;) {
		eol = memchr(v, '\n', (size_t)(end - v));
		if (eol == NULL)
			eol = end;
		/* The line without its CR; folding keeps the white space. */
		if (buf_append(&out, v, (size_t)(eol - v) -
		    (eol > v && eol[-1] == '\r' ? 1 : 0)) == -1)
			break;
		/* Continuation lines start with white space. */
		if (eol + 1 >= end || (eol[1] != ' ' && eol[1] != '\t'))
			break;
		v = eol + 1;
	}
	return buf_steal(&out);
}

static char *
clean(const char *s)
{
	size_t	len;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return util_sanitize(s, len, SCAN_HEADER_MAX);
}

static void
read_headers(struct scan_job *j)
{
	const char	*head;
	size_t		 len;
	char		*v, *dec;

	head = body_head(j->body, &len);
	if ((v = scan_header_value(head, len, "Message-ID")) != NULL) {
		j->message_id = clean(v);
		free(v);
	}
	if ((v = scan_header_value(head, len, "Subject")) != NULL) {
		dec = g_mime_utils_header_decode_text(NULL, v);
		j->subject = clean(dec != NULL ? dec : v);
		g_free(dec);
		free(v);
	}
}

/* --- engines ------------------------------------------------------------- */

/* Facts first, content next, Bayes last: it may learn from the others. */
const struct scan_filter *const scan_filters[] = {
	&filter_attachments,
	&filter_clamav,
	&filter_rules,
	&filter_phishing,
	&filter_bayes,
	NULL
};

static struct scan_engine	*current_engine;

struct scan_engine *
scan_engine_load(struct cfg *c, char **cause)
{
	struct scan_engine	*e;
	size_t			 i;

	e = xcalloc(1, sizeof *e);
	e->refs = 1;
	e->cfg = cfg_ref(c);
	for (i = 0; scan_filters[i] != NULL; i++) {
		if (i >= SCAN_FILTERS_MAX)
			fatalx("scan: too many filters");
		if (!cfg_filter_enabled(c, scan_filters[i]->name))
			continue;
		if (scan_filters[i]->init(c, &e->state[i], cause) == -1) {
			scan_engine_unref(e);
			return NULL;
		}
		e->on[i] = true;
		e->non++;
	}
	return e;
}

struct scan_engine *
scan_engine_ref(struct scan_engine *e)
{
	__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
	return e;
}

void
scan_engine_unref(struct scan_engine *e)
{
	size_t	i;

	if (e == NULL || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (i = 0; scan_filters[i] != NULL; i++)
		if (e->on[i] && scan_filters[i]->free != NULL)
			scan_filters[i]->free(e->state[i]);
	cfg_unref(e->cfg);
	free(e);
}

struct scan_engine *
scan_engine_current(void)
{
	return current_engine;
}

void
scan_engine_set_current(struct scan_engine *e)
{
	struct scan_engine	*old = current_engine;

	current_engine = e;
	scan_engine_unref(old);
}

void *
scan_engine_state(const struct scan_engine *e, const char *name)
{
	size_t	i;

	for (i = 0; scan_filters[i] != NULL; i++)
		if (e->on[i] && strcmp(scan_filters[i]->name, name) == 0)
			return e->state[i];
	return NULL;
}

/* --- the worker ------------------------------------------------------------ */

static struct pool	*scan_pool;

void
scan_set_pool(struct pool *p)
{
	scan_pool = p;
}

struct scan_submit_ctx {
	struct scan_job	*job;
	void		(*done)(void *);
	void		*arg;
};

static void
submit_work(void *arg)
{
	struct scan_submit_ctx	*x = arg;

	scan_job_run(x->job);
}

static void
submit_done(void *arg)
{
	struct scan_submit_ctx	*x = arg;

	x->done(x->arg);
	free(x);
}

void
scan_submit(struct scan_job *j, void (*done)(void *), void *arg)
{
	struct scan_submit_ctx	*x;

	if (scan_pool == NULL || !scan_wants_worker(j)) {
		scan_job_run(j);
		done(arg);
		return;
	}
	x = xmalloc(sizeof *x);
	x->job = j;
	x->done = done;
	x->arg = arg;
	pool_submit(scan_pool, submit_work, submit_done, x);
}

void
scan_run_on_worker(struct scan_job *j, void (*work)(void *),
    void (*done)(void *), void *arg)
{
	(void)j;
	if (scan_pool == NULL) {
		work(arg);
		done(arg);
		return;
	}
	pool_submit(scan_pool, work, done, arg);
}

/* The message must be parsed: a filter is on or the policy has rules. */
static bool
wants_msg(const struct scan_job *j)
{
	return j->engine->non > 0 ||
	    (j->policy != NULL && policy_wants_msg(j->policy)) ||
	    cfg_filter_enabled(j->cfg, "surbl") ||
	    cfg_filter_enabled(j->cfg, "dkim") ||
	    cfg_filter_enabled(j->cfg, "dmarc");
}

bool
scan_wants_worker(const struct scan_job *j)
{
	/* Relaying alone is cheaper than a hand-over between threads. */
	return wants_msg(j);
}

/* X-Moat-Spam-* header lines, folded, CRLF-terminated. */
static char *
spam_headers(const struct scan_job *j)
{
	struct buf	 b;
	char		*summary, *p, *sp;
	size_t		 col;

	buf_init(&b, SCAN_PREPEND_MAX);
	summary = findings_summary(&j->findings, SCAN_PREPEND_MAX / 2);
	if (buf_appendf(&b, "X-Moat-Spam-Score: %.2f\r\n"
	    "X-Moat-Spam-Status: %s, score=%.2f required=%.2f\r\n"
	    "X-Moat-Spam-Report:", j->findings.score, j->spam ? "Yes" : "No",
	    j->findings.score, j->cfg->spam_threshold) == -1)
		goto done;
	col = strlen("X-Moat-Spam-Report:");
	for (p = summary; *p != '\0'; p = sp) {
		sp = strchr(p, ' ');
		if (sp == NULL)
			sp = p + strlen(p);
		if (col + (size_t)(sp - p) + 1 > 76) {
			if (buf_append(&b, "\r\n\t", 3) == -1)
				goto done;
			col = 8;
		} else {
			if (buf_append(&b, " ", 1) == -1)
				goto done;
			col++;
		}
		if (buf_append(&b, p, (size_t)(sp - p)) == -1)
			goto done;
		col += (size_t)(sp - p);
		while (*sp == ' ')
			sp++;
	}
	if (j->findings.n == 0 && buf_append(&b, " none", 5) == -1)
		goto done;
	if (buf_append(&b, "\r\n", 2) == -1)
		goto done;
done:
	free(summary);
	return buf_steal(&b);
}

void
scan_job_run(void *arg)
{
	struct scan_job		*j = arg;
	struct scan_engine	*e = j->engine;
	struct scan_ctx		 ctx;
	const char		*raw;
	size_t			 len, i;
	uint64_t		 start = util_mono_ms();

	if (!wants_msg(j)) {
		read_headers(j);
		return;
	}
	raw = body_map(j->body, &len);
	j->msg = mime_parse(raw != NULL ? raw : "", raw != NULL ? len : 0);
	if (raw == NULL)
		findings_add(&j->findings, "LOCAL_READ_ERROR", 0, "%s",
		    "the spooled message could not be mapped");
	ctx.cfg = j->cfg;
	ctx.job = j;
	ctx.msg = j->msg;
	ctx.findings = &j->findings;
	for (i = 0; scan_filters[i] != NULL; i++)
		if (e->on[i])
			scan_filters[i]->run(e->state[i], &ctx);
	j->scanned = e->non > 0;
	if (j->msg->message_id != NULL)
		j->message_id = clean(j->msg->message_id);
	if (j->msg->subject != NULL)
		j->subject = clean(j->msg->subject);
	j->scan_ms = (uint32_t)(util_mono_ms() - start);
}

void
scan_verdict(struct scan_job *j)
{
	if (!j->scanned)
		return;
	j->spam = j->findings.score >= j->cfg->spam_threshold;
	free(j->prepend);
	j->prepend = j->cfg->spam_headers ? spam_headers(j) : NULL;
}
