/*
 * Spam digests: for each recipient with spam held recently, a mail (plain
 * text and HTML) listing it, sent through the next hop. quar_report starts
 * on the loop thread; the store work runs on the quar pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "body.h"
#include "buf.h"
#include "db_quar.h"
#include "log.h"
#include "pool.h"
#include "quar.h"
#include "relay.h"
#include "util.h"
#include "xmalloc.h"

/* A digest cut short by its buffer bound is still sent. */
#define BUF_TRY(x)		do { if ((x) == -1) log_debug("quarantine: " \
				    "report cut"); } while (0)

/* --- spam digests ---------------------------------------------------------- */

static char *
html_escape(const char *s)
{
	struct buf	 b;
	const char	*rep;

	buf_init(&b, strlen(s) * 6 + 1);
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '&': rep = "&amp;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: rep = NULL; break;
		}
		if ((rep != NULL ? buf_append(&b, rep, strlen(rep)) :
		    buf_append(&b, s, 1)) == -1)
			break;
	}
	if (b.data == NULL && buf_append(&b, "", 0) == -1)
		return xstrdup("");
	return buf_steal(&b);
}

static GMimeObject *
text_part(const char *subtype, const char *text)
{
	GMimeTextPart	*tp = g_mime_text_part_new_with_subtype(subtype);

	g_mime_text_part_set_text(tp, text);
	g_mime_part_set_content_encoding(GMIME_PART(tp),
	    g_mime_part_get_best_content_encoding(GMIME_PART(tp),
	    GMIME_ENCODING_CONSTRAINT_7BIT));
	return GMIME_OBJECT(tp);
}

char *
quar_report_render(const struct quar_cfg *q, const char *host,
    const char *rcpt, const json_t *items, size_t *len)
{
	struct buf		 txt, html;
	GMimeMessage		*msg;
	GMimeMultipart		*alt;
	GMimeObject		*part;
	GMimeFormatOptions	*fo;
	const json_t		*it;
	size_t			 i, n = json_array_size(items);
	char			 when[32], subj[256], *s, *snd, *sub, *e1, *e2;
	char			*out, *raw;
	uint32_t		 rnd;
	time_t			 t;
	struct tm		 tm;

	buf_init(&txt, 4 * 1024 * 1024);
	buf_init(&html, 8 * 1024 * 1024);
	BUF_TRY(buf_appendf(&txt, "Spam report for %s\n\n%zu message(s) are held "
	    "in the quarantine of %s for you:\n\n", rcpt, n, host));
	e1 = html_escape(rcpt);
	e2 = html_escape(host);
	BUF_TRY(buf_appendf(&html, "<!DOCTYPE html>\n<html><head><meta charset="
	    "\"utf-8\"><title>Spam report</title></head><body>\n<h1>Spam "
	    "report for %s</h1>\n<p>%zu message(s) are held in the quarantine "
	    "of %s for you:</p>\n<table border=\"1\" cellpadding=\"4\">\n<tr>"
	    "<th>Received</th><th>From</th><th>Subject</th><th>Score</th>"
	    "<th>Id</th></tr>\n", e1, n, e2));
	free(e1);
	free(e2);
	json_array_foreach(items, i, it) {
		t = (time_t)(json_integer_value(json_object_get(it,
		    "time_ms")) / 1000);
		localtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
		s = (char *)json_string_value(json_object_get(it, "sender"));
		snd = util_sanitize(s != NULL && *s != '\0' ? s : "<>",
		    strlen(s != NULL && *s != '\0' ? s : "<>"), 200);
		s = (char *)json_string_value(json_object_get(it, "subject"));
		sub = util_sanitize(s != NULL ? s : "", s != NULL ? strlen(s) :
		    0, 200);
		s = (char *)json_string_value(json_object_get(it, "id"));
		BUF_TRY(buf_appendf(&txt, "%s  %s\n  Subject: %s\n  Score: %.1f  "
		    "Id: %s\n\n", when, snd, sub, json_real_value(
		    json_object_get(it, "score")), s != NULL ? s : ""));
		e1 = html_escape(snd);
		e2 = html_escape(sub);
		BUF_TRY(buf_appendf(&html, "<tr><td>%s</td><td>%s</td><td>%s</td>"
		    "<td>%.1f</td><td><code>%s</code></td></tr>\n", when, e1,
		    e2, json_real_value(json_object_get(it, "score")),
		    s != NULL ? s : ""));
		free(e1);
		free(e2);
		free(snd);
		free(sub);
	}
	BUF_TRY(buf_appendf(&txt, "Ask your mail administrator to release a "
	    "message you want, giving its Id\n(moatctl quarantine.release "
	    "id=ID). Messages are deleted after %d days.\n",
	    q->days[QUAR_SPAM]));
	BUF_TRY(buf_appendf(&html, "</table>\n<p>Ask your mail administrator to "
	    "release a message you want, giving its Id. Messages are deleted "
	    "after %d days.</p>\n</body></html>\n", q->days[QUAR_SPAM]));

	msg = g_mime_message_new(TRUE);
	g_mime_object_set_header(GMIME_OBJECT(msg), "From", q->report_from,
	    "utf-8");
	g_mime_object_set_header(GMIME_OBJECT(msg), "To", rcpt, "utf-8");
	snprintf(subj, sizeof subj, "Spam report: %zu message(s) in "
	    "quarantine", n);
	g_mime_message_set_subject(msg, subj, "utf-8");
	g_mime_object_set_header(GMIME_OBJECT(msg), "Auto-Submitted",
	    "auto-generated", NULL);
	arc4random_buf(&rnd, sizeof rnd);
	xasprintf(&s, "report.%lld.%08x@%s", (long long)time(NULL), rnd, host);
	g_mime_message_set_message_id(msg, s);
	free(s);
	{
		GDateTime *now = g_date_time_new_now_local();

		g_mime_message_set_date(msg, now);
		g_date_time_unref(now);
	}
	alt = g_mime_multipart_new_with_subtype("alternative");
	part = text_part("plain", txt.data != NULL ? txt.data : "");
	g_mime_multipart_add(alt, part);
	g_object_unref(part);
	part = text_part("html", html.data != NULL ? html.data : "");
	g_mime_multipart_add(alt, part);
	g_object_unref(part);
	g_mime_message_set_mime_part(msg, GMIME_OBJECT(alt));
	g_object_unref(alt);
	buf_free(&txt);
	buf_free(&html);

	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	raw = g_mime_object_to_string(GMIME_OBJECT(msg), fo);
	g_mime_format_options_free(fo);
	g_object_unref(msg);
	out = xstrdup(raw != NULL ? raw : "");
	g_free(raw);
	*len = strlen(out);
	return out;
}

struct report {
	struct cfg	*cfg;
	struct quar_cfg	 q;
	char		*only;		/* one recipient, or NULL */
	quar_done_fn	 done;
	void		*arg;
	char		**users;
	struct body	**bodies;
	size_t		 n;
	size_t		 waiting;
	size_t		 sent;
	size_t		 failed;
	char		*cause;
};

static void
report_work(void *arg)
{
	struct report	*rp = arg;
	json_t		*users, *items, *u;
	size_t		 i, len;
	int64_t		 since;
	char		*raw;
	struct body	*b;

	since = util_wall_ms() - (int64_t)rp->q.report_hours * 3600 * 1000;
	if (rp->only != NULL)
		users = json_pack("[s]", rp->only);
	else if ((users = db_quar_report_users(since, QUAR_REPORT_USERS_MAX,
	    &rp->cause)) == NULL)
		return;
	json_array_foreach(users, i, u) {
		items = db_quar_report_items(json_string_value(u), since,
		    QUAR_REPORT_ITEMS_MAX, &rp->cause);
		if (items == NULL)
			break;
		if (json_array_size(items) == 0) {
			json_decref(items);
			continue;
		}
		raw = quar_report_render(&rp->q, rp->cfg->hostname,
		    json_string_value(u), items, &len);
		json_decref(items);
		b = body_new(rp->cfg->spool_dir);
		if (body_append(b, raw, len) == -1 || body_finish(b) == -1) {
			body_free(b);
			free(raw);
			rp->failed++;
			continue;
		}
		free(raw);
		rp->users = xreallocarray(rp->users, rp->n + 1,
		    sizeof *rp->users);
		rp->bodies = xreallocarray(rp->bodies, rp->n + 1,
		    sizeof *rp->bodies);
		rp->users[rp->n] = xstrdup(json_string_value(u));
		rp->bodies[rp->n++] = b;
	}
	json_decref(users);
}

static void
report_finish(struct report *rp)
{
	json_t	*res = NULL;
	size_t	 i;

	if (rp->cause == NULL)
		res = json_pack("{s:I, s:I}", "sent", (json_int_t)rp->sent,
		    "failed", (json_int_t)rp->failed);
	else
		log_warnx("quarantine: spam report: %s", rp->cause);
	if (rp->sent + rp->failed > 0)
		log_info("quarantine: spam reports sent %zu, failed %zu",
		    rp->sent, rp->failed);
	if (rp->done != NULL)
		rp->done(res, "internal", rp->cause, rp->arg);
	else
		json_decref(res);
	for (i = 0; i < rp->n; i++)
		free(rp->users[i]);
	free(rp->users);
	free(rp->bodies);
	free(rp->only);
	free(rp->cause);
	quar_cfg_free(&rp->q);
	cfg_unref(rp->cfg);
	free(rp);
}

static void
report_sent(const struct relay_rcpt *rr, size_t n, void *arg)
{
	struct report	*rp = arg;

	if (n > 0 && rr[0].code / 100 == 2)
		rp->sent++;
	else {
		rp->failed++;
		log_warnx("quarantine: spam report to %s: %s", n > 0 ?
		    rr[0].addr : "?", n > 0 ? rr[0].reply : "?");
	}
	if (--rp->waiting == 0)
		report_finish(rp);
}

static void
report_done(void *arg)
{
	struct report	*rp = arg;
	size_t		 i;
	char		*to[1];

	if (rp->n == 0) {
		report_finish(rp);
		return;
	}
	rp->waiting = rp->n;
	for (i = 0; i < rp->n; i++) {
		to[0] = rp->users[i];
		quar_send(rp->cfg, rp->q.report_from, to, 1, rp->bodies[i],
		    false, SMTP_BODY_NONE, report_sent, rp);
		rp->bodies[i] = NULL;
	}
}

void
quar_report(const char *rcpt, quar_done_fn done, void *arg)
{
	struct report	*rp;
	char		*cause = NULL;

	if (quar_pool() == NULL) {
		if (done != NULL)
			done(NULL, "unavailable", "the quarantine is not "
			    "running", arg);
		return;
	}
	rp = xcalloc(1, sizeof *rp);
	rp->cfg = cfg_ref(cfg_current());
	if (quar_cfg_load(rp->cfg, &rp->q, &cause) == -1) {
		if (done != NULL)
			done(NULL, "internal", cause, arg);
		free(cause);
		cfg_unref(rp->cfg);
		free(rp);
		return;
	}
	rp->only = rcpt != NULL ? xstrdup(rcpt) : NULL;
	rp->done = done;
	rp->arg = arg;
	pool_submit(quar_pool(), report_work, report_done, rp);
}
