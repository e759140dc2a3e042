/*
 * Message jobs on the worker pool: read the few headers tracking needs,
 * then relay. Worker threads run scan_job_run; the rest is loop thread.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "body.h"
#include "scan.h"
#include "util.h"
#include "xmalloc.h"

void
scan_job_free(struct scan_job *j)
{
	if (j == NULL)
		return;
	cfg_unref(j->cfg);
	free(j->helo);
	free(j->client_addr);
	free(j->client_name);
	free(j->rcpts);
	body_free(j->body);
	free(j->message_id);
	free(j->subject);
	free(j->relay_rcpts);
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

bool
scan_wants_worker(const struct cfg *c)
{
	/* Header reading is cheap; the CPU-heavy filters that will need a
	 * worker (MIME, rules, Bayes, ClamAV) come with the spam issues. */
	(void)c;
	return getenv("MOAT_SCAN_IN_WORKER") != NULL;
}

void
scan_job_run(void *arg)
{
	struct scan_job		*j = arg;
	struct relay_msg	*m = &j->relay;
	size_t			 i;

	read_headers(j);

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
	m->all_or_nothing = !j->lmtp;
}
