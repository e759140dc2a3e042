/*
 * The outbound SMTP client. Worker threads only: blocking calls on a
 * non-blocking socket with poll() deadlines. Each thread caches one
 * connection (pthread key) and reuses it for the next message.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "body.h"
#include "cfg.h"
#include "log.h"
#include "relay.h"
#include "util.h"
#include "xmalloc.h"

#define RELAY_RBUF	16384
#define RELAY_WBUF	65536

struct relay_conn {
	int		 fd;
	char		 hop[300];	/* host:port it talks to */
	uint64_t	 last_used;	/* monotonic ms */
	bool		 pipelining;
	bool		 size;
	bool		 eightbit;
	bool		 smtputf8;
	bool		 dsn;
	bool		 xforward;
	char		 xforward_attrs[128];
	unsigned	 used;		/* transactions done */
	char		 rbuf[RELAY_RBUF];
	size_t		 roff, rlen;
	char		 wbuf[RELAY_WBUF];
	size_t		 wlen;
	uint64_t	 deadline;
	const char	*stage;		/* what it was doing, for errors */
	char		 error[256];	/* why it failed */
	bool		 temp_timeout;
};

static pthread_key_t	conn_key;
static pthread_once_t	conn_once = PTHREAD_ONCE_INIT;

static void
conn_close(struct relay_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

static void
conn_key_destroy(void *p)
{
	conn_close(p);
}

static void
conn_key_init(void)
{
	if (pthread_key_create(&conn_key, conn_key_destroy) != 0)
		fatalx("relay: pthread_key_create");
}

void
relay_thread_done(void)
{
	pthread_once(&conn_once, conn_key_init);
	conn_close(pthread_getspecific(conn_key));
	pthread_setspecific(conn_key, NULL);
}

static int
conn_fail(struct relay_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
conn_fail(struct relay_conn *c, const char *fmt, ...)
{
	va_list	ap;

	if (c->error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(c->error, sizeof c->error, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
wait_fd(struct relay_conn *c, short events)
{
	struct pollfd	pfd = { .fd = c->fd, .events = events };
	uint64_t	now;
	int		n;

	for (;;) {
		now = util_mono_ms();
		if (now >= c->deadline) {
			c->temp_timeout = true;
			return conn_fail(c, "timed out %s", c->stage);
		}
		n = poll(&pfd, 1, (int)(c->deadline - now));
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return conn_fail(c, "poll: %s", strerror(errno));
	}
}

static int
conn_flush(struct relay_conn *c)
{
	size_t	off = 0;
	ssize_t	w;

	while (off < c->wlen) {
		w = send(c->fd, c->wbuf + off, c->wlen - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(c, POLLOUT) == -1)
				return -1;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		return conn_fail(c, "lost connection %s: %s", c->stage,
		    strerror(errno));
	}
	c->wlen = 0;
	return 0;
}

static int
conn_write(struct relay_conn *c, const char *p, size_t n)
{
	size_t	room;

	while (n > 0) {
		room = sizeof c->wbuf - c->wlen;
		if (room == 0) {
			if (conn_flush(c) == -1)
				return -1;
			continue;
		}
		if (room > n)
			room = n;
		memcpy(c->wbuf + c->wlen, p, room);
		c->wlen += room;
		p += room;
		n -= room;
	}
	return 0;
}

static int
conn_printf(struct relay_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
conn_printf(struct relay_conn *c, const char *fmt, ...)
{
	char	line[RELAY_LINE_MAX];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return conn_fail(c, "command too long");
	return conn_write(c, line, (size_t)n);
}

/* One reply line into line (CRLF removed). */
static int
read_line(struct relay_conn *c, char *line, size_t linelen)
{
	char	*nl;
	size_t	 n;
	ssize_t	 r;

	for (;;) {
		nl = memchr(c->rbuf + c->roff, '\n', c->rlen - c->roff);
		if (nl != NULL) {
			n = (size_t)(nl - (c->rbuf + c->roff));
			if (n > 0 && c->rbuf[c->roff + n - 1] == '\r')
				n--;
			if (n >= linelen)
				return conn_fail(c, "reply line too long %s",
				    c->stage);
			memcpy(line, c->rbuf + c->roff, n);
			line[n] = '\0';
			c->roff = (size_t)(nl + 1 - c->rbuf);
			return 0;
		}
		if (c->roff > 0) {
			memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
			c->rlen -= c->roff;
			c->roff = 0;
		}
		if (c->rlen == sizeof c->rbuf || c->rlen >= linelen)
			return conn_fail(c, "reply line too long %s", c->stage);
		r = recv(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, 0);
		if (r > 0) {
			c->rlen += (size_t)r;
			continue;
		}
		if (r == 0)
			return conn_fail(c, "closed the connection %s",
			    c->stage);
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (wait_fd(c, POLLIN) == -1)
				return -1;
			continue;
		}
		if (errno != EINTR)
			return conn_fail(c, "lost connection %s: %s",
			    c->stage, strerror(errno));
	}
}

/*
 * One whole reply: returns its code and keeps the last line in text.
 * ehlo, when set, sees every line (for extensions).
 */
static int
read_reply(struct relay_conn *c, char *text, size_t textlen,
    void (*ehlo)(struct relay_conn *, const char *))
{
	char	line[RELAY_LINE_MAX];
	int	code = 0, n;

	for (n = 0; n < RELAY_REPLY_LINES_MAX; n++) {
		if (read_line(c, line, sizeof line) == -1)
			return -1;
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' || (line[3] != ' ' && line[3] != '-' &&
		    line[3] != '\0'))
			return conn_fail(c, "sent a malformed reply %s",
			    c->stage);
		if (code == 0)
			code = atoi(line);
		else if (atoi(line) != code)
			return conn_fail(c, "sent a malformed reply %s",
			    c->stage);
		if (ehlo != NULL && n > 0)
			ehlo(c, line + 4);
		if (line[3] != '-') {
			if (text != NULL) {
				char *s = util_sanitize(line, strlen(line),
				    textlen - 1);
				memcpy(text, s, strlen(s) + 1);
				free(s);
			}
			return code;
		}
	}
	return conn_fail(c, "sent too long a reply %s", c->stage);
}

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
		snprintf(c->xforward_attrs, sizeof c->xforward_attrs, " %s ",
		    ext + 9);
	}
}

static int
conn_open(struct relay_conn *c, const struct cfg *cfg)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 port[8], text[RELAY_REPLY_MAX];
	int		 fd = -1, err = 0, one = 1, code;
	socklen_t	 len;

	snprintf(port, sizeof port, "%d", cfg->next_hop_port);
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((err = getaddrinfo(cfg->next_hop_host, port, &hints, &res)) != 0)
		return conn_fail(c, "unreachable: %s", gai_strerror(err));
	c->stage = "while connecting";
	c->deadline = util_mono_ms() + (uint64_t)cfg->relay_connect_timeout *
	    1000;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			err = errno;
			continue;
		}
		c->fd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_fd(c, POLLOUT) == 0) {
			len = sizeof err;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
			    &len) == 0 && err == 0)
				break;
		} else
			err = errno;
		close(fd);
		c->fd = fd = -1;
		if (c->temp_timeout)
			break;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		if (c->temp_timeout)
			return -1;
		return conn_fail(c, "unreachable: %s", strerror(err));
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	c->deadline = util_mono_ms() + (uint64_t)cfg->relay_timeout * 1000;
	c->stage = "in the greeting";
	if ((code = read_reply(c, text, sizeof text, NULL)) == -1)
		return -1;
	if (code != 220)
		return conn_fail(c, "refused the connection: %s", text);
	c->stage = "after EHLO";
	if (conn_printf(c, "EHLO %s\r\n", cfg->hostname) == -1 ||
	    conn_flush(c) == -1 ||
	    (code = read_reply(c, text, sizeof text, ehlo_ext)) == -1)
		return -1;
	if (code / 100 != 2) {
		c->stage = "after HELO";
		if (conn_printf(c, "HELO %s\r\n", cfg->hostname) == -1 ||
		    conn_flush(c) == -1 ||
		    (code = read_reply(c, text, sizeof text, NULL)) == -1)
			return -1;
		if (code / 100 != 2)
			return conn_fail(c, "refused HELO: %s", text);
	}
	return 0;
}

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

static int
send_xforward(struct relay_conn *c, const struct smtp_xforward *x,
    int *ncmds)
{
	static const char *const names[] = { "NAME", "ADDR", "PORT", "PROTO",
	    "HELO", "IDENT", "SOURCE" };
	const char	*vals[7];
	char		 enc[600], key[16], line[RELAY_LINE_MAX];
	size_t		 i, len = 0;

	vals[0] = x->name; vals[1] = x->addr; vals[2] = x->port;
	vals[3] = x->proto; vals[4] = x->helo; vals[5] = x->ident;
	vals[6] = x->source;
	for (i = 0; i < 7; i++) {
		snprintf(key, sizeof key, " %s ", names[i]);
		if (strcasestr(c->xforward_attrs, key) == NULL)
			continue;
		xtext(vals[i][0] != '\0' ? vals[i] : "[UNAVAILABLE]", enc,
		    sizeof enc);
		/* Keep each command under 512 octets, as Postfix does. */
		if (len > 0 && len + strlen(enc) + 12 > 500) {
			if (conn_printf(c, "XFORWARD%s\r\n", line) == -1)
				return -1;
			(*ncmds)++;
			len = 0;
		}
		len += (size_t)snprintf(line + len, sizeof line - len,
		    " %s=%s", names[i], enc);
	}
	if (len > 0) {
		if (conn_printf(c, "XFORWARD%s\r\n", line) == -1)
			return -1;
		(*ncmds)++;
	}
	return 0;
}

/* The body, dot-stuffed, then the final dot. */
static int
send_body(struct relay_conn *c, const struct body *b)
{
	char		 chunk[65536];
	size_t		 off = 0, i, start;
	ssize_t		 n;
	bool		 bol = true;
	char		 last = '\n';

	while ((n = body_read(b, off, chunk, sizeof chunk)) > 0) {
		start = 0;
		for (i = 0; i < (size_t)n; i++) {
			if (bol && chunk[i] == '.') {
				if (conn_write(c, chunk + start, i - start) ==
				    -1 || conn_write(c, ".", 1) == -1)
					return -1;
				start = i;
			}
			bol = chunk[i] == '\n';
		}
		if (conn_write(c, chunk + start, (size_t)n - start) == -1)
			return -1;
		last = chunk[n - 1];
		off += (size_t)n;
	}
	if (n == -1)
		return conn_fail(c, "local error reading the message: %s",
		    strerror(errno));
	if (off > 0 && last != '\n' && conn_write(c, "\r\n", 2) == -1)
		return -1;
	return conn_write(c, ".\r\n", 3);
}

static void
set_reply(int *code, char *reply, int newcode, const char *text)
{
	*code = newcode;
	snprintf(reply, RELAY_REPLY_MAX, "%s", text);
}

static int
send_rcpt(struct relay_conn *c, const struct relay_rcpt *rc)
{
	char	params[2 * SMTP_PARAM_MAX];
	size_t	plen = 0;

	params[0] = '\0';
	if (c->dsn && rc->notify[0] != '\0')
		plen += (size_t)snprintf(params, sizeof params, " NOTIFY=%s",
		    rc->notify);
	if (c->dsn && rc->orcpt[0] != '\0')
		snprintf(params + plen, sizeof params - plen, " ORCPT=%s",
		    rc->orcpt);
	return conn_printf(c, "RCPT TO:<%s>%s\r\n", rc->addr, params);
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

/*
 * One transaction on an open connection. Returns -1 when the connection
 * failed before the next hop could have accepted anything (the caller may
 * retry on a fresh connection), 0 otherwise with every answer filled.
 */
static int
transact(struct relay_conn *c, const struct cfg *cfg, struct relay_msg *m,
    bool *retryable)
{
	char	 text[RELAY_REPLY_MAX], params[SMTP_PARAM_MAX + 64];
	int	 code, mailcode, ncmds = 0, i, accepted = 0, refused = 0;
	size_t	 r, plen;

	*retryable = true;
	c->deadline = util_mono_ms() + (uint64_t)cfg->relay_timeout * 1000;
	if (m->xforward != NULL && c->xforward &&
	    send_xforward(c, m->xforward, &ncmds) == -1)
		return -1;

	plen = 0;
	params[0] = '\0';
	if (c->size)
		plen += (size_t)snprintf(params + plen, sizeof params - plen,
		    " SIZE=%zu", m->body->len);
	if (m->body_type == SMTP_BODY_8BITMIME && c->eightbit)
		plen += (size_t)snprintf(params + plen, sizeof params - plen,
		    " BODY=8BITMIME");
	else if (m->body_type == SMTP_BODY_7BIT && c->eightbit)
		plen += (size_t)snprintf(params + plen, sizeof params - plen,
		    " BODY=7BIT");
	if (m->smtputf8) {
		if (!c->smtputf8) {
			*retryable = false;
			for (r = 0; r < m->nrcpts; r++)
				set_reply(&m->rcpts[r].code, m->rcpts[r].reply,
				    550, "550 5.6.7 Next hop does not support "
				    "SMTPUTF8");
			set_reply(&m->code, m->reply, 550, m->rcpts[0].reply);
			return 0;
		}
		plen += (size_t)snprintf(params + plen, sizeof params - plen,
		    " SMTPUTF8");
	}
	if (c->dsn && m->ret[0] != '\0')
		plen += (size_t)snprintf(params + plen, sizeof params - plen,
		    " RET=%s", m->ret);
	if (c->dsn && m->envid[0] != '\0')
		snprintf(params + plen, sizeof params - plen, " ENVID=%s",
		    m->envid);
	if (conn_printf(c, "MAIL FROM:<%s>%s\r\n", m->mail_from, params) == -1)
		return -1;
	for (r = 0; c->pipelining && r < m->nrcpts; r++)
		if (send_rcpt(c, &m->rcpts[r]) == -1)
			return -1;
	if (c->pipelining && conn_printf(c, "DATA\r\n") == -1)
		return -1;
	c->stage = "after MAIL FROM";
	if (conn_flush(c) == -1)
		return -1;
	for (i = 0; i < ncmds; i++) {
		c->stage = "after XFORWARD";
		if ((code = read_reply(c, text, sizeof text, NULL)) == -1)
			return -1;
		if (code == 421)
			return conn_fail(c, "closed the connection: %s", text);
	}
	c->stage = "after MAIL FROM";
	if ((mailcode = read_reply(c, text, sizeof text, NULL)) == -1)
		return -1;
	if (mailcode == 421)
		return conn_fail(c, "closed the connection: %s", text);
	/* From here the next hop may have acted: no silent retry. */
	*retryable = false;
	if (mailcode / 100 != 2) {
		for (r = 0; r < m->nrcpts; r++)
			set_reply(&m->rcpts[r].code, m->rcpts[r].reply,
			    mailcode, text);
		set_reply(&m->code, m->reply, mailcode, text);
		if (c->pipelining) {
			/* Drain the RCPT and DATA answers. */
			c->stage = "after RCPT TO";
			for (r = 0; r <= m->nrcpts; r++)
				if (read_reply(c, NULL, 0, NULL) == -1)
					break;
		}
		return 1;	/* transaction over, connection not reused */
	}
	for (r = 0; r < m->nrcpts; r++) {
		if (!c->pipelining && (send_rcpt(c, &m->rcpts[r]) == -1 ||
		    conn_flush(c) == -1))
			return -1;
		c->stage = "after RCPT TO";
		if ((code = read_reply(c, text, sizeof text, NULL)) == -1)
			return -1;
		set_reply(&m->rcpts[r].code, m->rcpts[r].reply, code, text);
		if (code / 100 == 2)
			accepted++;
		else
			refused++;
	}
	if (!c->pipelining) {
		if (accepted == 0 || (refused > 0 && m->all_or_nothing)) {
			if (accepted > 0)
				abort_partial(m);
			else
				set_reply(&m->code, m->reply,
				    m->rcpts[0].code, m->rcpts[0].reply);
			return 1;
		}
		if (conn_printf(c, "DATA\r\n") == -1 || conn_flush(c) == -1)
			return -1;
	}
	c->stage = "after DATA";
	if ((code = read_reply(c, text, sizeof text, NULL)) == -1)
		return -1;
	if (code != 354) {
		if (accepted == 0) {
			set_reply(&m->code, m->reply, m->rcpts[0].code,
			    m->rcpts[0].reply);
			return 1;
		}
		for (r = 0; r < m->nrcpts; r++)
			if (m->rcpts[r].code / 100 == 2)
				set_reply(&m->rcpts[r].code,
				    m->rcpts[r].reply, code, text);
		set_reply(&m->code, m->reply, code, text);
		return 1;
	}
	if (accepted == 0 || (refused > 0 && m->all_or_nothing)) {
		/* Abort inside DATA: drop the connection without the dot. */
		abort_partial(m);
		return 1;
	}
	c->stage = "after the message";
	if (send_body(c, m->body) == -1 || conn_flush(c) == -1)
		return -1;
	c->stage = "after the end of data";
	if ((code = read_reply(c, text, sizeof text, NULL)) == -1)
		return -1;
	for (r = 0; r < m->nrcpts; r++)
		if (m->rcpts[r].code / 100 == 2)
			set_reply(&m->rcpts[r].code, m->rcpts[r].reply, code,
			    text);
	set_reply(&m->code, m->reply, code, text);
	return code / 100 == 2 ? 0 : 1;
}

static void
fail_all(struct relay_msg *m, const struct cfg *cfg, struct relay_conn *c,
    bool maybe_delivered)
{
	char	text[RELAY_REPLY_MAX];
	size_t	r;

	snprintf(text, sizeof text, "451 %s Next hop %s:%d %s%s",
	    c->temp_timeout ? "4.4.2" : "4.4.1", cfg->next_hop_host,
	    cfg->next_hop_port, c->error,
	    maybe_delivered ? "" : "; try again later");
	for (r = 0; r < m->nrcpts; r++)
		if (m->rcpts[r].code == 0 || m->rcpts[r].code / 100 == 2)
			set_reply(&m->rcpts[r].code, m->rcpts[r].reply, 451,
			    text);
	set_reply(&m->code, m->reply, 451, text);
}

void
relay_send(const struct cfg *cfg, struct relay_msg *m)
{
	struct relay_conn	*c;
	char			 hop[300];
	uint64_t		 start = util_mono_ms();
	bool			 retryable, reused;
	int			 rv, attempt;
	size_t			 r;

	pthread_once(&conn_once, conn_key_init);
	snprintf(hop, sizeof hop, "%s:%d", cfg->next_hop_host,
	    cfg->next_hop_port);
	for (r = 0; r < m->nrcpts; r++)
		m->rcpts[r].code = 0;
	m->code = 0;
	for (attempt = 0; attempt < 2; attempt++) {
		c = pthread_getspecific(conn_key);
		if (c != NULL && (strcmp(c->hop, hop) != 0 ||
		    start - c->last_used > RELAY_CACHE_IDLE_MS)) {
			conn_close(c);
			c = NULL;
		}
		reused = c != NULL;
		if (c == NULL) {
			c = xcalloc(1, sizeof *c);
			c->fd = -1;
			snprintf(c->hop, sizeof c->hop, "%s", hop);
			pthread_setspecific(conn_key, c);
			if (conn_open(c, cfg) == -1) {
				fail_all(m, cfg, c, false);
				break;
			}
		}
		c->error[0] = '\0';
		c->temp_timeout = false;
		c->wlen = 0;
		rv = transact(c, cfg, m, &retryable);
		if (rv == 0) {
			c->used++;
			c->last_used = util_mono_ms();
			break;
		}
		if (rv == -1 && reused && retryable) {
			/* A cached connection the next hop had closed. */
			log_debug("relay: cached connection to %s: %s; "
			    "reconnecting", hop, c->error);
			conn_close(c);
			pthread_setspecific(conn_key, NULL);
			continue;
		}
		if (rv == -1)
			fail_all(m, cfg, c, !retryable);
		conn_close(c);
		pthread_setspecific(conn_key, NULL);
		break;
	}
	c = pthread_getspecific(conn_key);
	if (c == NULL || c->fd == -1) {
		conn_close(c);
		pthread_setspecific(conn_key, NULL);
	}
	m->ms = (uint32_t)(util_mono_ms() - start);
}
