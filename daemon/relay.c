/*
 * The outbound SMTP client, asynchronous on the loop thread. Each
 * connection is a small state machine over a bufferevent: connect, greeting,
 * EHLO, then transactions whose commands are numbered (XFORWARD..., MAIL,
 * RCPT..., DATA) so that pipelined and one-at-a-time servers share one path.
 * Idle connections are kept for the next message.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "body.h"
#include "cfg.h"
#include "log.h"
#include "netio.h"
#include "relay.h"
#include "util.h"
#include "xmalloc.h"

#define RELAY_XF_MAX	2	/* XFORWARD commands per message */

enum rc_state {
	RC_CONNECTING = 0,
	RC_GREETING,
	RC_EHLO,
	RC_HELO,
	RC_READY,	/* between transactions */
	RC_CMDS,	/* XFORWARD, MAIL, RCPT, DATA answered in order */
	RC_DRAIN,	/* MAIL refused: swallow the pipelined answers */
	RC_BODY,	/* sending the message */
	RC_DOT,		/* waiting for the answer to the final dot */
	RC_DEAD,
};

struct relay_params {
	char			 host[256];
	int			 port;
	char			 ehlo_name[256];
	int			 connect_timeout;	/* seconds */
	int			 timeout;		/* seconds per command */
};

struct relay_conn {
	TAILQ_ENTRY(relay_conn)	 entry;
	struct relay_params	 params;
	struct bufferevent	*bev;
	struct evbuffer		*pending;	/* commands not yet written */
	struct event		*idle_timer;
	enum rc_state		 state;
	char			 hop[300];
	bool			 pipelining;
	bool			 size;
	bool			 eightbit;
	bool			 smtputf8;
	bool			 dsn;
	bool			 xforward;
	char			 xforward_attrs[128];
	bool			 reused;	/* served a message before */
	bool			 idle;		/* on the idle list */

	/* The reply being read. */
	int			 rcode;
	int			 rlines;
	char			 rtext[RELAY_REPLY_MAX];

	/* The transaction. */
	struct relay_msg	*msg;
	relay_done_fn		 done;
	void			*arg;
	uint64_t		 start;
	char			 xf[RELAY_XF_MAX][RELAY_LINE_MAX];
	size_t			 nxf;
	size_t			 ncmds;
	size_t			 sent;
	size_t			 answered;
	size_t			 accepted;
	size_t			 refused;
	bool			 retryable;
	size_t			 body_off;
	bool			 prepend_sent;
	bool			 body_bol;
	char			 body_last;
	const char		*stage;
	char			 error[256];
	bool			 timed_out;
};

TAILQ_HEAD(relay_conns, relay_conn);

struct relay_finish {
	struct relay_msg	*msg;
	relay_done_fn		 done;
	void			*arg;
};

static struct event_base	*base;
static struct evdns_base	*dns;
static struct relay_conns	 idle_conns = TAILQ_HEAD_INITIALIZER(idle_conns);
static size_t			 nidle;
static size_t			 nconns;
/* Closed connections wait here until the loop has left their callbacks. */
static struct relay_conns	 dead_conns = TAILQ_HEAD_INITIALIZER(dead_conns);
static struct event		*reaper;

static void	reap(evutil_socket_t, short, void *);

static void	conn_read(struct bufferevent *, void *);
static void	conn_write(struct bufferevent *, void *);
static void	conn_event(struct bufferevent *, short, void *);
static void	conn_start(struct relay_conn *);
static void	conn_connect(struct relay_conn *);
static struct relay_conn *conn_new(const struct relay_params *);

void
relay_init(struct event_base *b)
{
	base = b;
	if ((reaper = evtimer_new(b, reap, NULL)) == NULL)
		fatalx("relay: evtimer_new");
	dns = evdns_base_new(b, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (dns == NULL)
		dns = evdns_base_new(b, 0);
}

size_t
relay_conn_count(void)
{
	return nconns;
}

static void
set_reply(int *code, char *reply, int newcode, const char *text)
{
	*code = newcode;
	snprintf(reply, RELAY_REPLY_MAX, "%s", text);
}

/* Run done from the loop, never from inside the caller's call chain. */
static void
finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_finish	*f = arg;

	(void)fd;
	(void)what;
	f->done(f->msg, f->arg);
	free(f);
}

static void
finish_later(struct relay_msg *m, relay_done_fn done, void *arg,
    uint64_t start)
{
	struct relay_finish	*f = xmalloc(sizeof *f);
	struct timeval		 now = { 0, 0 };

	m->ms = (uint32_t)(util_mono_ms() - start);
	f->msg = m;
	f->done = done;
	f->arg = arg;
	if (event_base_once(base, -1, EV_TIMEOUT, finish_cb, f, &now) == -1)
		fatalx("relay: event_base_once");
}


static void
reap(evutil_socket_t fd, short what, void *arg)
{
	struct relay_conn	*c;

	(void)fd;
	(void)what;
	(void)arg;
	while ((c = TAILQ_FIRST(&dead_conns)) != NULL) {
		TAILQ_REMOVE(&dead_conns, c, entry);
		free(c);
	}
}

/* Close now; free the struct once every callback has unwound. */
static void
conn_destroy(struct relay_conn *c)
{
	struct timeval	now = { 0, 0 };

	if (c->state == RC_DEAD)
		return;
	if (c->idle) {
		TAILQ_REMOVE(&idle_conns, c, entry);
		nidle--;
		c->idle = false;
	}
	c->state = RC_DEAD;
	nconns--;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	c->bev = NULL;
	if (c->pending != NULL)
		evbuffer_free(c->pending);
	c->pending = NULL;
	if (c->idle_timer != NULL)
		event_free(c->idle_timer);
	c->idle_timer = NULL;
	TAILQ_INSERT_TAIL(&dead_conns, c, entry);
	if (!evtimer_pending(reaper, NULL))
		evtimer_add(reaper, &now);
}

/* Detach the message and hand it back. */
static void
conn_release(struct relay_conn *c)
{
	struct relay_msg	*m = c->msg;

	if (m == NULL)
		return;
	c->msg = NULL;
	finish_later(m, c->done, c->arg, c->start);
}

static void
fail_all(struct relay_conn *c)
{
	struct relay_msg	*m = c->msg;
	char			 text[RELAY_REPLY_MAX];
	size_t			 r;
	bool			 maybe = !c->retryable;

	snprintf(text, sizeof text, "451 %s Next hop %.100s %.200s%s",
	    c->timed_out ? "4.4.2" : "4.4.1", c->hop, c->error,
	    maybe ? "" : "; try again later");
	for (r = 0; r < m->nrcpts; r++)
		if (m->rcpts[r].code == 0 || m->rcpts[r].code / 100 == 2)
			set_reply(&m->rcpts[r].code, m->rcpts[r].reply, 451,
			    text);
	set_reply(&m->code, m->reply, 451, text);
}

static void
conn_fail(struct relay_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_fail(struct relay_conn *c, const char *fmt, ...)
{
	struct relay_conn	*fresh;
	struct relay_msg	*m = c->msg;
	va_list			 ap;

	if (c->state == RC_DEAD)
		return;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof c->error, fmt, ap);
	va_end(ap);
	if (m != NULL && c->reused && c->retryable) {
		/* A cached connection the next hop had given up on. */
		log_debug("relay: cached connection to %s: %s; reconnecting",
		    c->hop, c->error);
		fresh = conn_new(&c->params);
		fresh->msg = m;
		fresh->done = c->done;
		fresh->arg = c->arg;
		fresh->start = c->start;
		c->msg = NULL;
		conn_destroy(c);
		conn_connect(fresh);
		return;
	}
	if (m != NULL) {
		fail_all(c);
		conn_release(c);
	}
	conn_destroy(c);
}

static void
idle_expired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_destroy(arg);
}

static void
conn_idle(struct relay_conn *c)
{
	struct timeval	tv = { RELAY_CACHE_IDLE_MS / 1000,
			    (RELAY_CACHE_IDLE_MS % 1000) * 1000 };

	if (nidle >= RELAY_IDLE_MAX) {
		conn_destroy(c);
		return;
	}
	c->state = RC_READY;
	c->reused = true;
	c->idle = true;
	TAILQ_INSERT_HEAD(&idle_conns, c, entry);
	nidle++;
	evtimer_add(c->idle_timer, &tv);
}

static int
conn_printf(struct relay_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
conn_printf(struct relay_conn *c, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = evbuffer_add_vprintf(c->pending, fmt, ap);
	va_end(ap);
	return n < 0 ? -1 : 0;
}

static void
params_from_cfg(struct relay_params *p, const struct cfg *cfg)
{
	snprintf(p->host, sizeof p->host, "%s", cfg->next_hop_host);
	p->port = cfg->next_hop_port;
	snprintf(p->ehlo_name, sizeof p->ehlo_name, "%s", cfg->hostname);
	p->connect_timeout = cfg->relay_connect_timeout;
	p->timeout = cfg->relay_timeout;
}

static struct relay_conn *
conn_new(const struct relay_params *p)
{
	struct relay_conn	*c;
	struct timeval		 tv;

	c = xcalloc(1, sizeof *c);
	nconns++;
	c->params = *p;
	c->state = RC_CONNECTING;
	snprintf(c->hop, sizeof c->hop, strchr(p->host, ':') != NULL ?
	    "[%s]:%d" : "%s:%d", p->host, p->port);
	c->stage = "while connecting";
	c->retryable = true;
	c->idle_timer = evtimer_new(base, idle_expired, c);
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->pending = evbuffer_new();
	if (c->bev == NULL || c->idle_timer == NULL || c->pending == NULL)
		fatalx("relay: out of memory");
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	tv.tv_sec = p->connect_timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

static void
conn_connect(struct relay_conn *c)
{
	if (bufferevent_socket_connect_hostname(c->bev, dns, AF_UNSPEC,
	    c->params.host, c->params.port) == -1)
		conn_fail(c, "unreachable: %s", strerror(errno));
}

void
relay_send(const struct cfg *cfg, struct relay_msg *m, relay_done_fn done,
    void *arg)
{
	struct relay_params	 p;
	struct relay_conn	*c;
	char			 hop[300];
	size_t			 r;

	for (r = 0; r < m->nrcpts; r++)
		m->rcpts[r].code = 0;
	m->code = 0;
	m->reply[0] = '\0';
	snprintf(hop, sizeof hop, strchr(cfg->next_hop_host, ':') != NULL ?
	    "[%s]:%d" : "%s:%d", cfg->next_hop_host, cfg->next_hop_port);
	TAILQ_FOREACH(c, &idle_conns, entry)
		if (strcmp(c->hop, hop) == 0)
			break;
	if (c != NULL) {
		TAILQ_REMOVE(&idle_conns, c, entry);
		nidle--;
		c->idle = false;
		evtimer_del(c->idle_timer);
	} else {
		params_from_cfg(&p, cfg);
		c = conn_new(&p);
	}
	c->msg = m;
	c->done = done;
	c->arg = arg;
	c->start = util_mono_ms();
	if (c->state == RC_READY) {
		conn_start(c);
		if (c->state != RC_DEAD)
			netio_flush(c->bev, c->pending);
	} else
		conn_connect(c);
}

void
relay_shutdown(void)
{
	struct relay_conn	*c;

	while ((c = TAILQ_FIRST(&idle_conns)) != NULL)
		conn_destroy(c);
	reap(-1, 0, NULL);
	event_free(reaper);
	reaper = NULL;
	if (dns != NULL)
		evdns_base_free(dns, 0);
	dns = NULL;
}

/* --- replies ------------------------------------------------------------ */

static void
ehlo_ext(struct relay_conn *c, const char *ext)
{
	if (strcasecmp(ext, "PIPELINING") == 0)
		c->pipelining = true;
	else if (strncasecmp(ext, "SIZE", 4) == 0 &&
	    (ext[4] == '\0' || ext[4] == ' '))
		c->size = true;
	else if (strcasecmp(ext, "8BITMIME") == 0)
		c->eightbit = true;
	else if (strcasecmp(ext, "SMTPUTF8") == 0)
		c->smtputf8 = true;
	else if (strcasecmp(ext, "DSN") == 0)
		c->dsn = true;
	else if (strncasecmp(ext, "XFORWARD ", 9) == 0) {
		c->xforward = true;
		snprintf(c->xforward_attrs, sizeof c->xforward_attrs, " %.120s ",
		    ext + 9);
	}
}

static void	on_reply(struct relay_conn *);

/* One reply line: returns -1 when the connection was failed. */
static int
reply_line(struct relay_conn *c, const char *line, size_t len)
{
	int	code;
	char	*s;

	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9' ||
	    (len > 3 && line[3] != ' ' && line[3] != '-')) {
		conn_fail(c, "sent a malformed reply %s", c->stage);
		return -1;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (c->rlines > 0 && code != c->rcode) {
		conn_fail(c, "sent a malformed reply %s", c->stage);
		return -1;
	}
	c->rcode = code;
	if (++c->rlines > RELAY_REPLY_LINES_MAX) {
		conn_fail(c, "sent too long a reply %s", c->stage);
		return -1;
	}
	if (c->state == RC_EHLO && c->rlines > 1 && len > 4)
		ehlo_ext(c, line + 4);
	if (len > 3 && line[3] == '-')
		return 0;
	s = util_sanitize(line, len, sizeof c->rtext - 1);
	memcpy(c->rtext, s, strlen(s) + 1);
	free(s);
	c->rlines = 0;
	on_reply(c);
	return c->state == RC_DEAD ? -1 : 0;
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct relay_conn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 eol;
	char			 line[RELAY_LINE_MAX + 2];
	size_t			 eol_len, len;

	for (;;) {
		if (c->state == RC_READY || c->state == RC_CONNECTING) {
			/* Nothing is expected: a 421 or garbage. */
			conn_fail(c, "sent an unexpected reply");
			return;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len,
		    EVBUFFER_EOL_CRLF);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) > RELAY_LINE_MAX)
				conn_fail(c, "sent a reply line too long %s",
				    c->stage);
			return;
		}
		len = (size_t)eol.pos;
		if (len > RELAY_LINE_MAX) {
			conn_fail(c, "sent a reply line too long %s",
			    c->stage);
			return;
		}
		evbuffer_remove(in, line, len + eol_len);
		line[len] = '\0';
		if (reply_line(c, line, len) == -1)
			return;
		if (evbuffer_get_length(in) == 0)
			break;
	}
	netio_flush(c->bev, c->pending);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay_conn	*c = arg;
	struct timeval		 tv;
	int			 err;

	if (what & BEV_EVENT_CONNECTED) {
		err = 1;
		/* Commands and replies are small: never wait to coalesce. */
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &err, sizeof err);
		c->state = RC_GREETING;
		c->stage = "in the greeting";
		tv.tv_sec = c->params.timeout;
		tv.tv_usec = 0;
		bufferevent_set_timeouts(bev, &tv, &tv);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		c->timed_out = true;
		conn_fail(c, "timed out %s", c->stage);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		conn_fail(c, "closed the connection %s", c->stage);
		return;
	}
	err = EVUTIL_SOCKET_ERROR();
	if (c->state == RC_CONNECTING) {
		if (bufferevent_socket_get_dns_error(bev) != 0)
			conn_fail(c, "unreachable: %s", evutil_gai_strerror(
			    bufferevent_socket_get_dns_error(bev)));
		else
			conn_fail(c, "unreachable: %s",
			    evutil_socket_error_to_string(err));
		return;
	}
	conn_fail(c, "lost connection %s: %s", c->stage,
	    evutil_socket_error_to_string(err));
}

/* --- the transaction ---------------------------------------------------- */

/* xtext-encode (RFC 3461) into out. */
static void
xtext(const char *in, char *out, size_t outlen)
{
	size_t	o = 0;

	for (; *in != '\0' && o + 4 < outlen; in++) {
		if (*in < '!' || *in > '~' || *in == '+' || *in == '=')
			o += (size_t)snprintf(out + o, outlen - o, "+%02X",
			    (unsigned char)*in);
		else
			out[o++] = *in;
	}
	out[o] = '\0';
}

/* XFORWARD lines the next hop accepts, each under 512 octets. */
static void
build_xforward(struct relay_conn *c, const struct smtp_xforward *x)
{
	static const char *const names[] = { "NAME", "ADDR", "PORT", "PROTO",
	    "HELO", "IDENT", "SOURCE" };
	const char	*vals[7];
	char		 enc[600], key[16];
	size_t		 i, len = 0;

	vals[0] = x->name; vals[1] = x->addr; vals[2] = x->port;
	vals[3] = x->proto; vals[4] = x->helo; vals[5] = x->ident;
	vals[6] = x->source;
	c->nxf = 0;
	for (i = 0; i < 7; i++) {
		snprintf(key, sizeof key, " %s ", names[i]);
		if (strcasestr(c->xforward_attrs, key) == NULL)
			continue;
		xtext(vals[i][0] != '\0' ? vals[i] : "[UNAVAILABLE]", enc,
		    sizeof enc);
		if (len > 0 && len + strlen(enc) + 20 > 500) {
			c->nxf++;
			len = 0;
		}
		if (c->nxf >= RELAY_XF_MAX)
			break;
		if (len == 0)
			len = (size_t)snprintf(c->xf[c->nxf], RELAY_LINE_MAX,
			    "XFORWARD");
		len += (size_t)snprintf(c->xf[c->nxf] + len,
		    RELAY_LINE_MAX - len, " %s=%s", names[i], enc);
	}
	if (len > 0)
		c->nxf++;
}

static void
send_cmd(struct relay_conn *c, size_t k)
{
	const struct relay_msg	*m = c->msg;
	const struct relay_rcpt	*rc;
	char			 params[2 * SMTP_PARAM_MAX + 64];
	size_t			 plen = 0;

	params[0] = '\0';
	if (k < c->nxf) {
		conn_printf(c, "%s\r\n", c->xf[k]);
	} else if (k == c->nxf) {
		if (c->size)
			plen += (size_t)snprintf(params + plen,
			    sizeof params - plen, " SIZE=%zu", m->body->len +
			    (m->prepend != NULL ? strlen(m->prepend) : 0));
		if (c->eightbit && m->body_type == SMTP_BODY_8BITMIME)
			plen += (size_t)snprintf(params + plen,
			    sizeof params - plen, " BODY=8BITMIME");
		else if (c->eightbit && m->body_type == SMTP_BODY_7BIT)
			plen += (size_t)snprintf(params + plen,
			    sizeof params - plen, " BODY=7BIT");
		if (m->smtputf8)
			plen += (size_t)snprintf(params + plen,
			    sizeof params - plen, " SMTPUTF8");
		if (c->dsn && m->ret[0] != '\0')
			plen += (size_t)snprintf(params + plen,
			    sizeof params - plen, " RET=%s", m->ret);
		if (c->dsn && m->envid[0] != '\0')
			snprintf(params + plen, sizeof params - plen,
			    " ENVID=%s", m->envid);
		conn_printf(c, "MAIL FROM:<%s>%s\r\n", m->mail_from, params);
	} else if (k < c->ncmds - 1) {
		rc = &m->rcpts[k - c->nxf - 1];
		if (c->dsn && rc->notify[0] != '\0')
			plen += (size_t)snprintf(params, sizeof params,
			    " NOTIFY=%s", rc->notify);
		if (c->dsn && rc->orcpt[0] != '\0')
			snprintf(params + plen, sizeof params - plen,
			    " ORCPT=%s", rc->orcpt);
		conn_printf(c, "RCPT TO:<%s>%s\r\n", rc->addr, params);
	} else
		conn_printf(c, "DATA\r\n");
	c->sent = k + 1;
}

static void
conn_start(struct relay_conn *c)
{
	struct relay_msg	*m = c->msg;
	size_t			 r;

	c->state = RC_CMDS;
	c->stage = "after MAIL FROM";
	c->retryable = true;
	c->timed_out = false;
	c->error[0] = '\0';
	c->accepted = c->refused = 0;
	c->sent = c->answered = 0;
	c->nxf = 0;
	if (m->smtputf8 && !c->smtputf8) {
		for (r = 0; r < m->nrcpts; r++)
			set_reply(&m->rcpts[r].code, m->rcpts[r].reply, 550,
			    "550 5.6.7 Next hop does not support SMTPUTF8");
		set_reply(&m->code, m->reply, 550, m->rcpts[0].reply);
		conn_release(c);
		conn_idle(c);
		return;
	}
	if (m->xforward != NULL && c->xforward)
		build_xforward(c, m->xforward);
	c->ncmds = c->nxf + 1 + m->nrcpts + 1;
	if (c->pipelining) {
		for (r = 0; r < c->ncmds; r++)
			send_cmd(c, r);
	} else
		send_cmd(c, 0);
}

/* SMTP upstream and some recipients refused: deliver to nobody. */
static void
abort_partial(struct relay_msg *m)
{
	size_t	r;

	for (r = 0; r < m->nrcpts; r++)
		if (m->rcpts[r].code / 100 == 2)
			set_reply(&m->rcpts[r].code, m->rcpts[r].reply, 451,
			    "451 4.5.3 Next hop refused other recipients of "
			    "this message; delivery deferred for all");
	set_reply(&m->code, m->reply, 451, "451 4.5.3 Next hop refused some "
	    "recipients; delivery deferred for all");
}

/* The transaction is over without a delivery: answer, drop the link. */
static void
conn_give_up(struct relay_conn *c)
{
	conn_release(c);
	conn_destroy(c);
}

static bool
nobody_or_partial(const struct relay_conn *c)
{
	return c->accepted == 0 || (c->refused > 0 && c->msg->all_or_nothing);
}

static void	fill_body(struct relay_conn *);

static void
cmd_reply(struct relay_conn *c, size_t k, int code, const char *text)
{
	struct relay_msg	*m = c->msg;
	size_t			 r;

	if (k < c->nxf) {
		if (code == 421)
			conn_fail(c, "closed the connection: %s", text);
		else if (code / 100 != 2)
			log_debug("relay: %s refused XFORWARD: %s", c->hop,
			    text);
	} else if (k == c->nxf) {
		if (code == 421) {
			conn_fail(c, "closed the connection: %s", text);
			return;
		}
		/* From here the next hop may act: no silent retry. */
		c->retryable = false;
		c->stage = "after RCPT TO";
		if (code / 100 != 2) {
			for (r = 0; r < m->nrcpts; r++)
				set_reply(&m->rcpts[r].code,
				    m->rcpts[r].reply, code, text);
			set_reply(&m->code, m->reply, code, text);
			if (c->pipelining && c->answered < c->ncmds) {
				c->state = RC_DRAIN;
				return;
			}
			conn_give_up(c);
			return;
		}
	} else if (k < c->ncmds - 1) {
		r = k - c->nxf - 1;
		set_reply(&m->rcpts[r].code, m->rcpts[r].reply, code, text);
		if (code / 100 == 2)
			c->accepted++;
		else
			c->refused++;
		if (k == c->ncmds - 2 && !c->pipelining &&
		    nobody_or_partial(c)) {
			if (c->accepted > 0)
				abort_partial(m);
			else
				set_reply(&m->code, m->reply,
				    m->rcpts[0].code, m->rcpts[0].reply);
			conn_give_up(c);
			return;
		}
	} else {
		c->stage = "after DATA";
		if (code != 354) {
			if (c->accepted == 0)
				set_reply(&m->code, m->reply,
				    m->rcpts[0].code, m->rcpts[0].reply);
			else {
				for (r = 0; r < m->nrcpts; r++)
					if (m->rcpts[r].code / 100 == 2)
						set_reply(&m->rcpts[r].code,
						    m->rcpts[r].reply, code,
						    text);
				set_reply(&m->code, m->reply, code, text);
			}
			conn_give_up(c);
			return;
		}
		if (nobody_or_partial(c)) {
			/* Inside DATA the only abort is hanging up. */
			abort_partial(m);
			conn_give_up(c);
			return;
		}
		c->state = RC_BODY;
		c->stage = "while sending the message";
		c->body_off = 0;
		c->prepend_sent = false;
		c->body_bol = true;
		c->body_last = '\n';
		bufferevent_setwatermark(c->bev, EV_WRITE, RELAY_OUT_CHUNK / 4,
		    0);
		fill_body(c);
		return;
	}
	if (!c->pipelining && c->sent < c->ncmds)
		send_cmd(c, c->sent);
}

static void
on_reply(struct relay_conn *c)
{
	struct relay_msg	*m = c->msg;
	size_t			 r;

	switch (c->state) {
	case RC_GREETING:
		if (c->rcode != 220) {
			conn_fail(c, "refused the connection: %s", c->rtext);
			return;
		}
		c->state = RC_EHLO;
		c->stage = "after EHLO";
		conn_printf(c, "EHLO %s\r\n", c->params.ehlo_name);
		return;
	case RC_EHLO:
	case RC_HELO:
		if (c->rcode / 100 == 2) {
			c->state = RC_READY;
			if (c->msg != NULL)
				conn_start(c);
			else
				conn_idle(c);
			return;
		}
		if (c->state == RC_HELO) {
			conn_fail(c, "refused HELO: %s", c->rtext);
			return;
		}
		c->state = RC_HELO;
		c->stage = "after HELO";
		conn_printf(c, "HELO %s\r\n", c->params.ehlo_name);
		return;
	case RC_CMDS:
		cmd_reply(c, c->answered++, c->rcode, c->rtext);
		return;
	case RC_DRAIN:
		if (++c->answered >= c->ncmds)
			conn_give_up(c);
		return;
	case RC_DOT:
		for (r = 0; r < m->nrcpts; r++)
			if (m->rcpts[r].code / 100 == 2)
				set_reply(&m->rcpts[r].code,
				    m->rcpts[r].reply, c->rcode, c->rtext);
		set_reply(&m->code, m->reply, c->rcode, c->rtext);
		conn_release(c);
		if (c->rcode / 100 == 2)
			conn_idle(c);
		else
			conn_destroy(c);
		return;
	default:
		conn_fail(c, "sent an unexpected reply %s", c->stage);
		return;
	}
}

/* --- the body ----------------------------------------------------------- */

static void
fill_body(struct relay_conn *c)
{
	/* Into pending, written directly: no write-event round per message. */
	struct evbuffer	*out = c->pending;
	struct evbuffer	*queued = bufferevent_get_output(c->bev);
	char		 chunk[65536], *nl;
	ssize_t		 n;
	size_t		 i, start;

	if (!c->prepend_sent && c->msg->prepend != NULL) {
		/* Our header lines go first; they never start with a dot. */
		evbuffer_add(out, c->msg->prepend, strlen(c->msg->prepend));
		c->prepend_sent = true;
	}
again:
	while (evbuffer_get_length(out) + evbuffer_get_length(queued) <
	    RELAY_OUT_CHUNK) {
		n = body_read(c->msg->body, c->body_off, chunk, sizeof chunk);
		if (n == -1) {
			conn_fail(c, "local error reading the message: %s",
			    strerror(errno));
			return;
		}
		if (n == 0)
			break;
		/* Stuff a dot at the start of each line: find line starts
		 * with memchr rather than byte by byte. */
		start = 0;
		i = 0;
		while (i < (size_t)n) {
			if (c->body_bol && chunk[i] == '.') {
				evbuffer_add(out, chunk + start, i - start);
				evbuffer_add(out, ".", 1);
				start = i;
			}
			nl = memchr(chunk + i, '\n', (size_t)n - i);
			if (nl == NULL) {
				c->body_bol = false;
				break;
			}
			i = (size_t)(nl - chunk) + 1;
			c->body_bol = true;
		}
		evbuffer_add(out, chunk + start, (size_t)n - start);
		c->body_last = chunk[n - 1];
		c->body_off += (size_t)n;
	}
	if (c->body_off < c->msg->body->len) {
		netio_flush(c->bev, c->pending);
		/* All taken by the socket: no write event will call us. */
		if (evbuffer_get_length(queued) == 0)
			goto again;
		return;
	}
	if (c->body_off > 0 && c->body_last != '\n')
		evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, ".\r\n", 3);
	netio_flush(c->bev, c->pending);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	c->state = RC_DOT;
	c->stage = "after the end of data";
}

static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct relay_conn	*c = arg;

	(void)bev;
	if (c->state == RC_BODY)
		fill_body(c);
}
