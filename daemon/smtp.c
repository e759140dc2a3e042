/*
 * The inbound ESMTP/LMTP server. Loop thread only: listeners, sessions,
 * command dispatch, the DATA phase, hand-over of finished messages to the
 * scan pool and the answer once the worker is done.
 */
#include <sys/socket.h>
#include <sys/queue.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "body.h"
#include "cfg.h"
#include "ctl.h"
#include "db.h"
#include "greylist.h"
#include "ldapdir.h"
#include "deliver.h"
#include "log.h"
#include "netio.h"
#include "policy.h"
#include "pool.h"
#include "scan.h"
#include "smtp.h"
#include "smtp_parse.h"
#include "stats.h"
#include "track.h"
#include "util.h"
#include "xmalloc.h"

#define SMTP_ERRORS_MAX		20	/* bad commands before we hang up */
#define SMTP_SESSION_BUCKETS	4096
#define SMTP_RCPTS_START	8

enum smtp_state {
	ST_CMD = 0,
	ST_DATA,	/* reading message data */
	ST_WAIT,	/* message with a worker */
	ST_CLOSING,	/* flushing the last reply */
};

struct session {
	uint64_t		 id;
	LIST_ENTRY(session)	 hash;
	LIST_ENTRY(session)	 all;
	struct bufferevent	*bev;
	struct evbuffer		*pending;	/* replies not yet written */
	struct event		*timer;
	struct cfg		*cfg;		/* reference */
	enum direction		 direction;
	enum smtp_state		 state;
	char			 addr[INET6_ADDRSTRLEN];
	int			 port;
	bool			 xforward_ok;
	bool			 esmtp;
	bool			 lmtp;
	bool			 discard_line;	/* inside an overlong line */
	bool			 draining;
	int			 errors;
	char			*helo;
	bool			 have_xforward;
	struct smtp_xforward	 xforward;
	uint64_t		 started;	/* monotonic ms */
	uint64_t		 last_active;

	/* The transaction. */
	bool			 in_mail;
	struct smtp_mail_args	 mail;
	struct smtp_rcpt_args	*rcpts;
	size_t			 nrcpts;
	size_t			 caprcpts;
	struct smtp_data	 data;
	struct body		*body;
	int64_t			 data_time_ms;
	uint64_t		 data_start;
};

LIST_HEAD(session_list, session);

static struct event_base	*base;
static struct evconnlistener	**listeners;
static size_t			 nlisteners;
static struct session_list	 sessions;
static struct session_list	 buckets[SMTP_SESSION_BUCKETS];
static size_t			 nsessions;
static size_t			 ninflight;
static uint64_t			 next_session_id = 1;
static uint32_t			 qid_counter;
static bool			 draining;

static void	session_read(struct bufferevent *, void *);
static void	session_process(struct session *);
static void	session_close(struct session *);
static const char *client_addr(const struct session *);

static struct session *
session_find(uint64_t id)
{
	struct session	*s;

	LIST_FOREACH(s, &buckets[id % SMTP_SESSION_BUCKETS], hash)
		if (s->id == id)
			return s;
	return NULL;
}

static void
reply(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reply(struct session *s, const char *fmt, ...)
{
	struct evbuffer	*out = s->pending;
	va_list		 ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void
transaction_reset(struct session *s)
{
	s->in_mail = false;
	memset(&s->mail, 0, sizeof s->mail);
	s->nrcpts = 0;
	body_free(s->body);
	s->body = NULL;
}

static void
session_free(struct session *s)
{
	LIST_REMOVE(s, hash);
	LIST_REMOVE(s, all);
	nsessions--;
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->pending != NULL)
		evbuffer_free(s->pending);
	transaction_reset(s);
	free(s->rcpts);
	free(s->helo);
	cfg_unref(s->cfg);
	free(s);
}

static void
timer_arm(struct session *s)
{
	struct timeval	tv;
	uint64_t	now = util_mono_ms(), left, idle;

	s->last_active = now;
	if (s->state == ST_WAIT || s->state == ST_CLOSING) {
		evtimer_del(s->timer);
		return;
	}
	idle = (uint64_t)s->cfg->idle_timeout * 1000;
	left = (uint64_t)s->cfg->session_timeout * 1000;
	left = now - s->started >= left ? 0 : left - (now - s->started);
	if (idle < left)
		left = idle;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	evtimer_add(s->timer, &tv);
}

static void
session_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;

	(void)fd;
	(void)what;
	if (s->state == ST_CLOSING) {
		session_free(s);
		return;
	}
	log_info("smtp: session %llu from %s: timeout in %s",
	    (unsigned long long)s->id, s->addr,
	    s->state == ST_DATA ? "DATA" : "command phase");
	reply(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg->hostname);
	session_close(s);
}

static void
session_write_done(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	if (s->state == ST_CLOSING)
		session_free(s);
}

static void
session_event(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR)
		log_debug("smtp: session %llu from %s: %s",
		    (unsigned long long)s->id, s->addr,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	if (s->state == ST_DATA || s->in_mail)
		log_info("smtp: session %llu from %s: lost connection %s",
		    (unsigned long long)s->id, s->addr,
		    s->state == ST_DATA ? "in DATA" : "in a transaction");
	session_free(s);
}

/* Stop reading; free once the last reply is written, never right here:
 * callers may still be walking the session. */
static void
session_close(struct session *s)
{
	netio_flush(s->bev, s->pending);
	s->state = ST_CLOSING;
	evtimer_del(s->timer);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		event_active(s->timer, EV_TIMEOUT, 0);
}

static void
make_queue_id(char *qid, size_t len)
{
	snprintf(qid, len, "%09llX%05X", (unsigned long long)time(NULL),
	    (unsigned)(qid_counter++ & 0xfffff));
}

/* --- commands ------------------------------------------------------------ */

static void
cmd_helo(struct session *s, enum smtp_verb verb, const char *arg)
{
	const struct cfg	*c = s->cfg;

	if (*arg == '\0' || strlen(arg) > 255 || strchr(arg, ' ') != NULL) {
		reply(s, "501 5.5.4 Syntax: %s hostname",
		    verb == SMTP_HELO ? "HELO" : verb == SMTP_LHLO ? "LHLO" :
		    "EHLO");
		return;
	}
	transaction_reset(s);
	free(s->helo);
	s->helo = util_sanitize(arg, strlen(arg), 255);
	s->esmtp = verb != SMTP_HELO;
	s->lmtp = verb == SMTP_LHLO;
	if (verb == SMTP_HELO) {
		reply(s, "250 %s", c->hostname);
		return;
	}
	reply(s, "250-%s", c->hostname);
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %zu", c->max_message_size);
	reply(s, "250-8BITMIME");
	reply(s, "250-SMTPUTF8");
	reply(s, "250-DSN");
	if (s->xforward_ok)
		reply(s, "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT");
	reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
cmd_mail(struct session *s, const char *arg)
{
	char	err[256];

	if (s->helo == NULL) {
		reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->in_mail) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (smtp_parse_mail(arg, &s->mail, err, sizeof err) == -1) {
		reply(s, "%s", err);
		s->errors++;
		return;
	}
	if (s->mail.have_size && s->mail.size > s->cfg->max_message_size) {
		reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	s->in_mail = true;
	s->nrcpts = 0;
	reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt(struct session *s, const char *arg)
{
	struct smtp_rcpt_args	 r;
	char			 err[256];
	int			 known;

	if (!s->in_mail) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpts >= (size_t)s->cfg->max_recipients) {
		reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (smtp_parse_rcpt(arg, &r, err, sizeof err) == -1) {
		reply(s, "%s", err);
		s->errors++;
		return;
	}
	if (!s->mail.smtputf8 && smtp_addr_is_utf8(r.addr)) {
		reply(s, "553 5.6.7 Non-ASCII recipient needs SMTPUTF8");
		return;
	}
	/* Directory verification (ldapdir.h); -2: not configured. */
	if (s->direction == DIR_INBOUND &&
	    (known = ldapdir_rcpt_known(r.addr)) != 1 && known != -2) {
		if (known == 0)
			reply(s, "550 5.1.1 <%s>: Recipient address rejected: "
			    "unknown user", r.addr);
		else
			reply(s, "451 4.4.3 Directory unavailable, try again "
			    "later");
		return;
	}
	/* Greylisting judges the real client: Postfix's XFORWARD address. */
	if (s->direction == DIR_INBOUND && greylist_check(s->cfg,
	    client_addr(s), s->mail.addr, r.addr, err, sizeof err) == 1) {
		db_verdict_count("greylisted", util_wall_ms());
		reply(s, "%s", err);
		return;
	}
	if (s->nrcpts == s->caprcpts) {
		s->caprcpts = s->caprcpts ? s->caprcpts * 2 : SMTP_RCPTS_START;
		s->rcpts = xreallocarray(s->rcpts, s->caprcpts,
		    sizeof *s->rcpts);
	}
	s->rcpts[s->nrcpts++] = r;
	reply(s, "250 2.1.5 Ok");
}

static void
cmd_data(struct session *s, const char *arg)
{
	if (*arg != '\0') {
		reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->in_mail) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpts == 0) {
		reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	s->body = body_new(s->cfg->spool_dir);
	smtp_data_init(&s->data, s->cfg->max_message_size);
	s->data_start = util_mono_ms();
	s->data_time_ms = util_wall_ms();
	s->state = ST_DATA;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
cmd_xforward(struct session *s, const char *arg)
{
	struct smtp_xforward	x;
	char			err[256];

	if (!s->xforward_ok) {
		reply(s, "550 5.7.0 Error: insufficient authorization");
		return;
	}
	if (s->in_mail) {
		reply(s, "503 5.5.1 Error: XFORWARD not allowed inside a "
		    "mail transaction");
		return;
	}
	x = s->xforward;
	if (!s->have_xforward)
		memset(&x, 0, sizeof x);
	if (smtp_parse_xforward(arg, &x, err, sizeof err) == -1) {
		reply(s, "%s", err);
		return;
	}
	s->xforward = x;
	s->have_xforward = true;
	reply(s, "250 2.0.0 Ok");
}

static void
session_command(struct session *s, const char *line)
{
	const char	*arg;
	enum smtp_verb	 verb;

	verb = smtp_parse_verb(line, &arg);
	switch (verb) {
	case SMTP_HELO:
	case SMTP_EHLO:
	case SMTP_LHLO:
		cmd_helo(s, verb, arg);
		break;
	case SMTP_MAIL:
		cmd_mail(s, arg);
		break;
	case SMTP_RCPT:
		cmd_rcpt(s, arg);
		break;
	case SMTP_DATA:
		cmd_data(s, arg);
		break;
	case SMTP_RSET:
		transaction_reset(s);
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_QUIT:
		reply(s, "221 2.0.0 Bye");
		session_close(s);
		break;
	case SMTP_HELP:
		reply(s, "214 2.0.0 Commands: EHLO HELO LHLO MAIL RCPT DATA "
		    "RSET NOOP QUIT HELP XFORWARD");
		break;
	case SMTP_VRFY:
		reply(s, "502 5.5.1 VRFY command is disabled");
		break;
	case SMTP_EXPN:
		reply(s, "502 5.5.1 EXPN command is disabled");
		break;
	case SMTP_XFORWARD:
		cmd_xforward(s, arg);
		break;
	case SMTP_STARTTLS:
	case SMTP_AUTH:
	case SMTP_BDAT:
		reply(s, "502 5.5.1 Error: command not implemented");
		break;
	default:
		s->errors++;
		reply(s, "500 5.5.2 Error: command not recognized");
		break;
	}
}

/* --- the end of DATA ---------------------------------------------------- */

static const char *
client_addr(const struct session *s)
{
	if (s->have_xforward && s->xforward.addr[0] != '\0')
		return s->xforward.addr;
	return s->addr;
}

static struct track_rec *
track_from_session(const struct session *s, const char *qid)
{
	struct track_rec	*r = track_rec_new();
	size_t			 i;

	snprintf(r->queue_id, sizeof r->queue_id, "%s", qid);
	r->node = xstrdup(s->cfg->node_name);
	r->time_ms = s->data_time_ms;
	r->direction = cfg_direction_name(s->direction);
	r->client_addr = xstrdup(client_addr(s));
	if (s->have_xforward && s->xforward.name[0] != '\0')
		r->client_name = util_sanitize(s->xforward.name,
		    strlen(s->xforward.name), 255);
	if (s->have_xforward && s->xforward.helo[0] != '\0')
		r->helo = util_sanitize(s->xforward.helo,
		    strlen(s->xforward.helo), 255);
	else if (s->helo != NULL)
		r->helo = xstrdup(s->helo);
	r->sender = util_sanitize(s->mail.addr, strlen(s->mail.addr),
	    SMTP_PATH_MAX);
	r->nrcpts = s->nrcpts;
	r->rcpts = xcalloc(s->nrcpts, sizeof *r->rcpts);
	for (i = 0; i < s->nrcpts; i++)
		r->rcpts[i].addr = util_sanitize(s->rcpts[i].addr,
		    strlen(s->rcpts[i].addr), SMTP_PATH_MAX);
	r->size = s->data.size;
	return r;
}

static void
track_finish(struct track_rec *r)
{
	stats_count_message(r);
	ctl_publish_tracking(r);
	db_track_submit(r);
}

/* Message data that we refuse ourselves (smuggling, size, local error). */
static void
data_refused(struct session *s, const char *why)
{
	struct track_rec	*r;
	char			 qid[24];
	size_t			 i;

	make_queue_id(qid, sizeof qid);
	log_info("%s: refused from %s: %s", qid, client_addr(s), why);
	r = track_from_session(s, qid);
	r->outcome = why[0] == '4' ? TRACK_TEMPFAILED : TRACK_REJECTED;
	r->reply = xstrdup(why);
	for (i = 0; i < r->nrcpts; i++) {
		r->rcpts[i].outcome = r->outcome;
		r->rcpts[i].reply = xstrdup(why);
	}
	r->duration_ms = (uint32_t)(util_mono_ms() - s->data_start);
	track_finish(r);
	if (s->lmtp) {
		for (i = 0; i < s->nrcpts; i++)
			reply(s, "%s", why);
	} else
		reply(s, "%s", why);
}

/* Delivered (or not): answer the client and record the story. */
static void
job_done(struct scan_job *j)
{
	struct session		*s;
	struct track_rec	*r;
	size_t			 i;

	ninflight--;
	s = session_find(j->session_id);
	r = track_rec_new();
	snprintf(r->queue_id, sizeof r->queue_id, "%s", j->queue_id);
	r->node = xstrdup(j->cfg->node_name);
	r->time_ms = j->time_ms;
	r->direction = cfg_direction_name(j->direction);
	r->client_addr = j->client_addr;
	j->client_addr = NULL;
	r->client_name = j->client_name;
	j->client_name = NULL;
	r->helo = j->helo;
	j->helo = NULL;
	r->sender = util_sanitize(j->mail.addr, strlen(j->mail.addr),
	    SMTP_PATH_MAX);
	r->size = j->body->len;
	r->message_id = j->message_id;
	j->message_id = NULL;
	r->subject = j->subject;
	j->subject = NULL;
	r->relay_reply = j->relay.reply[0] != '\0' ?
	    xstrdup(j->relay.reply) : NULL;
	r->relay_ms = j->relay.ms;
	if (j->scanned) {
		r->scanned = true;
		r->verdict = j->findings.virus != NULL ? "virus" :
		    j->spam ? "spam" : "clean";
		r->score = j->findings.score;
		r->findings = findings_to_json(&j->findings);
	}
	r->nrcpts = j->nrcpts;
	r->rcpts = xcalloc(j->nrcpts, sizeof *r->rcpts);
	for (i = 0; i < j->nrcpts; i++) {
		r->rcpts[i].addr = util_sanitize(j->rcpts[i].addr,
		    strlen(j->rcpts[i].addr), SMTP_PATH_MAX);
		r->rcpts[i].outcome = j->answers[i].outcome;
		r->rcpts[i].reply = xstrdup(j->answers[i].reply);
		if (s != NULL && j->lmtp)
			reply(s, "%s", j->answers[i].reply);
	}
	r->outcome = j->outcome;
	r->reply = xstrdup(j->reply);
	if (s != NULL && !j->lmtp)
		reply(s, "%s", j->reply);
	r->duration_ms = (uint32_t)(util_mono_ms() - j->start_mono);
	log_info("%s: from=<%s> nrcpt=%zu size=%llu client=%s outcome=%s "
	    "%s%.2f relay=%s:%d delay=%ums (%s)", j->queue_id, r->sender,
	    j->nrcpts, (unsigned long long)r->size, r->client_addr,
	    track_outcome_name(r->outcome), j->scanned ? "score=" : "",
	    j->scanned ? j->findings.score : 0.0, j->cfg->next_hop_host,
	    j->cfg->next_hop_port, r->duration_ms, r->reply);
	if (s == NULL)
		log_info("%s: client went away before the answer",
		    j->queue_id);
	track_finish(r);
	scan_job_free(j);
	if (s == NULL)
		return;
	transaction_reset(s);
	s->state = ST_CMD;
	if (s->draining || draining) {
		reply(s, "421 4.3.2 %s Service shutting down",
		    s->cfg->hostname);
		session_close(s);
		return;
	}
	timer_arm(s);
	session_process(s);
	if (s->state != ST_CLOSING)
		netio_flush(s->bev, s->pending);
}

/* Analysed: now deliver (loop thread). */
static void
job_scanned(void *arg)
{
	deliver_start(arg, job_done);
}

static void
data_finished(struct session *s)
{
	struct scan_job	*j;
	const char	*why;
	size_t		 i;

	s->state = ST_CMD;
	if (s->data.flags == 0 && body_finish(s->body) == -1) {
		log_warnx("session %llu: spooling the message: %s",
		    (unsigned long long)s->id, strerror(s->body->error));
		s->data.flags |= SMTP_DATA_LOCAL_ERR;
	}
	if ((why = smtp_data_reply(&s->data)) != NULL) {
		data_refused(s, why);
		transaction_reset(s);
		return;
	}
	j = xcalloc(1, sizeof *j);
	j->session_id = s->id;
	j->cfg = cfg_ref(s->cfg);
	j->engine = scan_engine_ref(scan_engine_current());
	if (policy_current() != NULL)
		j->policy = policy_ref(policy_current());
	findings_init(&j->findings);
	make_queue_id(j->queue_id, sizeof j->queue_id);
	j->direction = s->direction;
	j->lmtp = s->lmtp;
	j->time_ms = s->data_time_ms;
	j->start_mono = s->data_start;
	j->helo = s->have_xforward && s->xforward.helo[0] != '\0' ?
	    util_sanitize(s->xforward.helo, strlen(s->xforward.helo), 255) :
	    xstrdup(s->helo != NULL ? s->helo : "");
	j->client_addr = xstrdup(client_addr(s));
	if (s->have_xforward && s->xforward.name[0] != '\0')
		j->client_name = util_sanitize(s->xforward.name,
		    strlen(s->xforward.name), 255);
	j->have_xforward = s->have_xforward;
	j->xforward = s->xforward;
	j->mail = s->mail;
	if (j->mail.body == SMTP_BODY_NONE && s->data.eight_bit)
		j->mail.body = SMTP_BODY_8BITMIME;
	j->rcpts = xreallocarray(NULL, s->nrcpts, sizeof *j->rcpts);
	memcpy(j->rcpts, s->rcpts, s->nrcpts * sizeof *j->rcpts);
	j->nrcpts = s->nrcpts;
	j->rcpt_ptrs = xcalloc(s->nrcpts + 1, sizeof *j->rcpt_ptrs);
	for (i = 0; i < s->nrcpts; i++)
		j->rcpt_ptrs[i] = j->rcpts[i].addr;
	j->body = s->body;
	s->body = NULL;
	log_debug("%s: session %llu from=<%s> nrcpt=%zu size=%zu",
	    j->queue_id, (unsigned long long)s->id, s->mail.addr, s->nrcpts,
	    j->body->len);
	s->state = ST_WAIT;
	timer_arm(s);
	ninflight++;
	scan_submit(j, job_scanned, j);
}

static int
data_emit(void *arg, const char *p, size_t n)
{
	return body_append(arg, p, n);
}

/* --- input -------------------------------------------------------------- */

static void
session_data(struct session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	v;
	size_t			used;

	while (s->state == ST_DATA && evbuffer_peek(in, -1, NULL, &v, 1) > 0) {
		used = smtp_data_feed(&s->data, v.iov_base, v.iov_len,
		    data_emit, s->body);
		evbuffer_drain(in, used);
		if (s->data.done)
			data_finished(s);
	}
}

static void
session_process(struct session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr	 eol;
	char			 line[SMTP_CMD_LINE_MAX + 1];
	size_t			 len;

	while (s->state == ST_CMD || s->state == ST_DATA) {
		if (s->state == ST_DATA) {
			session_data(s, in);
			if (s->state == ST_DATA)
				return;
			continue;
		}
		eol = evbuffer_search(in, "\n", 1, NULL);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) > SMTP_CMD_LINE_MAX) {
				/* Drop the rest of an overlong line. */
				if (!s->discard_line) {
					reply(s, "500 5.5.2 Error: line too "
					    "long");
					s->errors++;
				}
				s->discard_line = true;
				evbuffer_drain(in, evbuffer_get_length(in));
			}
			break;
		}
		len = (size_t)eol.pos + 1;
		if (s->discard_line || len > SMTP_CMD_LINE_MAX) {
			if (!s->discard_line) {
				reply(s, "500 5.5.2 Error: line too long");
				s->errors++;
			}
			s->discard_line = false;
			evbuffer_drain(in, len);
			continue;
		}
		evbuffer_remove(in, line, len);
		line[len] = '\0';
		if (len < 2 || line[len - 2] != '\r') {
			reply(s, "500 5.5.2 Error: bare LF in command; lines "
			    "must end with CRLF");
			s->errors++;
		} else if (memchr(line, '\0', len) != NULL ||
		    strchr(line, '\r') != line + len - 2) {
			reply(s, "500 5.5.2 Error: bad character in command");
			s->errors++;
		} else {
			line[len - 2] = '\0';
			session_command(s, line);
		}
		if (s->errors >= SMTP_ERRORS_MAX && s->state == ST_CMD) {
			reply(s, "421 4.7.0 %s Error: too many errors",
			    s->cfg->hostname);
			session_close(s);
		}
	}
}

static void
session_read(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	timer_arm(s);
	session_process(s);
	if (s->state != ST_CLOSING)
		netio_flush(s->bev, s->pending);
}

/* --- listeners ---------------------------------------------------------- */

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	/* The direction by value: the snapshot it came from may be gone. */
	enum direction		 dir = (enum direction)(intptr_t)arg;
	struct cfg		*c = cfg_current();
	struct session		*s;
	int			 one;
	static const char	 busy[] = "421 4.7.0 Error: too many "
				    "connections; try again later\r\n";

	(void)l;
	(void)salen;
	if (draining || nsessions >= (size_t)c->max_connections) {
		stats.refused++;
		if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL |
		    MSG_DONTWAIT) == -1)
			log_debug("smtp: refusing connection: %s",
			    strerror(errno));
		close(fd);
		if (!draining)
			log_warnx("smtp: connection refused: "
			    "max_connections (%d) reached",
			    c->max_connections);
		return;
	}
	s = xcalloc(1, sizeof *s);
	s->id = next_session_id++;
	s->cfg = cfg_ref(c);
	s->direction = dir;
	s->started = util_mono_ms();
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr,
		    s->addr, sizeof s->addr);
		s->port = ntohs(((struct sockaddr_in *)sa)->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr,
		    s->addr, sizeof s->addr);
		s->port = ntohs(((struct sockaddr_in6 *)sa)->sin6_port);
	} else
		snprintf(s->addr, sizeof s->addr, "unknown");
	s->xforward_ok = cfg_net_match(c->xforward_hosts, c->nxforward_hosts,
	    s->addr);
	LIST_INSERT_HEAD(&buckets[s->id % SMTP_SESSION_BUCKETS], s, hash);
	LIST_INSERT_HEAD(&sessions, s, all);
	nsessions++;
	stats.connections++;

	one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->pending = evbuffer_new();
	s->timer = evtimer_new(base, session_timeout, s);
	if (s->bev == NULL || s->timer == NULL || s->pending == NULL) {
		log_warnx("smtp: cannot set up a session");
		if (s->bev == NULL)
			close(fd);
		session_free(s);
		return;
	}
	bufferevent_setcb(s->bev, session_read, session_write_done,
	    session_event, s);
	/* Bound what one client can make us buffer between reads. */
	bufferevent_setwatermark(s->bev, EV_READ, 0, 256 * 1024);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_debug("smtp: session %llu connect from %s:%d (%s)",
	    (unsigned long long)s->id, s->addr, s->port,
	    cfg_direction_name(s->direction));
	reply(s, "220 %s ESMTP Moat", c->hostname);
	netio_flush(s->bev, s->pending);
	timer_arm(s);
}

static void
accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	log_warn("smtp: accept");
}

int
smtp_start(struct event_base *b, char **cause)
{
	struct cfg		*c = cfg_current();
	struct evconnlistener	*l;
	struct addrinfo		 hints, *res;
	char			 port[8];
	size_t			 i;
	int			 err;

	base = b;
	qid_counter = (uint32_t)arc4random();
	LIST_INIT(&sessions);
	for (i = 0; i < SMTP_SESSION_BUCKETS; i++)
		LIST_INIT(&buckets[i]);
	listeners = xcalloc(c->nlisten, sizeof *listeners);
	for (i = 0; i < c->nlisten; i++) {
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		snprintf(port, sizeof port, "%d", c->listen[i].port);
		if ((err = getaddrinfo(c->listen[i].address, port, &hints,
		    &res)) != 0) {
			xasprintf(cause, "listen %s:%d: %s",
			    c->listen[i].address, c->listen[i].port,
			    gai_strerror(err));
			return -1;
		}
		l = evconnlistener_new_bind(base, accept_cb,
		    (void *)(intptr_t)c->listen[i].direction,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
		    LEV_OPT_CLOSE_ON_EXEC, 1024, res->ai_addr,
		    (int)res->ai_addrlen);
		freeaddrinfo(res);
		if (l == NULL) {
			xasprintf(cause, "listen %s:%d: %s",
			    c->listen[i].address, c->listen[i].port,
			    strerror(errno));
			return -1;
		}
		evconnlistener_set_error_cb(l, accept_error);
		listeners[nlisteners++] = l;
		log_info("smtp: listening on %s:%d (%s)", c->listen[i].address,
		    c->listen[i].port,
		    cfg_direction_name(c->listen[i].direction));
	}
	return 0;
}

void
smtp_drain(void)
{
	struct session	*s, *next;
	size_t		 i;

	draining = true;
	for (i = 0; i < nlisteners; i++)
		evconnlistener_free(listeners[i]);
	nlisteners = 0;
	for (s = LIST_FIRST(&sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, all);
		s->draining = true;
		if (s->state == ST_CMD && !s->in_mail) {
			reply(s, "421 4.3.2 %s Service shutting down",
			    s->cfg->hostname);
			session_close(s);
		}
	}
}

int
smtp_drained(void)
{
	return nsessions == 0 && ninflight == 0;
}

void
smtp_free(void)
{
	struct session	*s;

	while ((s = LIST_FIRST(&sessions)) != NULL)
		session_free(s);
	free(listeners);
	listeners = NULL;
}

size_t
smtp_session_count(void)
{
	return nsessions;
}

size_t
smtp_inflight_count(void)
{
	return ninflight;
}
