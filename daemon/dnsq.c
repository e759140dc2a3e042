/*
 * The stub resolver of dnsq.h. Loop thread only. Every completion goes
 * through a deferred event, so callbacks never run inside dnsq_query or
 * dnsq_cancel and a callback may start or cancel other queries.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "dnsq.h"
#include "log.h"
#include "xmalloc.h"

#define DNSQ_HDR_LEN		12
#define DNSQ_RECV_MAX		4096
#define DNSQ_PARSE_RR_MAX	256	/* answer records looked at */
#define DNSQ_PTR_HOPS_MAX	64	/* compression pointers per name */

#define T_OPT		41
#define C_IN		1

struct dnsq_req {
	struct dnsq		*q;
	char			 name[DNSQ_NAME_MAX + 1];
	int			 type;
	dnsq_cb			 cb;
	void			*arg;

	bool			 started;	/* holds an in-flight slot */
	bool			 completed;	/* answer set, callback due */
	int			 attempt;	/* attempts sent */
	int			 fds[DNSQ_ATTEMPTS];
	struct event		*rev[DNSQ_ATTEMPTS];
	uint16_t		 ids[DNSQ_ATTEMPTS];
	int			 servers[DNSQ_ATTEMPTS];
	struct sockaddr_storage	 sv[DNSQ_SERVERS_MAX];	/* servers snapshot */
	socklen_t		 svlen[DNSQ_SERVERS_MAX];
	size_t			 nsv;
	size_t			 rotor;

	struct bufferevent	*tcp;
	uint16_t		 tcp_id;

	struct event		*timeout_ev;
	struct event		*retry_ev;
	struct event		*deliver_ev;
	struct dnsq_answer	 answer;

	TAILQ_ENTRY(dnsq_req)	 entry;		/* all queries */
	TAILQ_ENTRY(dnsq_req)	 wait_entry;	/* waiting for a slot */
	bool			 waiting;
};
TAILQ_HEAD(dnsq_reqs, dnsq_req);

struct dnsq {
	struct event_base	*base;
	struct sockaddr_storage	 servers[DNSQ_SERVERS_MAX];
	socklen_t		 lens[DNSQ_SERVERS_MAX];
	size_t			 nservers;
	size_t			 rotor;
	int			 timeout_ms;
	size_t			 inflight;
	struct dnsq_reqs	 all;
	struct dnsq_reqs	 waiting;
};

static void	req_start(struct dnsq_req *);

/* --- wire format ---------------------------------------------------------- */

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned
get16(const uint8_t *p)
{
	return ((unsigned)p[0] << 8) | p[1];
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

/* Encode name as labels; returns bytes written or -1. */
static int
put_name(uint8_t *buf, size_t len, const char *name)
{
	const char	*p = name, *dot;
	size_t		 off = 0, l, n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > DNSQ_NAME_MAX)
		return -1;
	while (p < name + n) {
		dot = memchr(p, '.', (size_t)(name + n - p));
		l = dot != NULL ? (size_t)(dot - p) : (size_t)(name + n - p);
		if (l == 0 || l > 63 || off + l + 1 >= len)
			return -1;
		buf[off++] = (uint8_t)l;
		memcpy(buf + off, p, l);
		off += l;
		p += l + (dot != NULL ? 1 : 0);
		if (dot != NULL && p == name + n)
			return -1;	/* "a..": empty label */
	}
	if (off + 1 > len)
		return -1;
	buf[off++] = 0;
	return (int)off;
}

int
dnsq_build(uint8_t *buf, size_t len, uint16_t id, const char *name,
    int type)
{
	int	n;

	if (len < DNSQ_HDR_LEN + 4 + 11)
		return -1;
	memset(buf, 0, DNSQ_HDR_LEN);
	put16(buf, id);
	put16(buf + 2, 0x0100);		/* RD */
	put16(buf + 4, 1);		/* QDCOUNT */
	put16(buf + 10, 1);		/* ARCOUNT: EDNS0 OPT */
	n = put_name(buf + DNSQ_HDR_LEN, len - DNSQ_HDR_LEN - 4 - 11, name);
	if (n == -1)
		return -1;
	n += DNSQ_HDR_LEN;
	put16(buf + n, (unsigned)type);
	put16(buf + n + 2, C_IN);
	n += 4;
	buf[n] = 0;			/* root owner */
	put16(buf + n + 1, T_OPT);
	put16(buf + n + 3, DNSQ_UDP_MAX);
	memset(buf + n + 5, 0, 6);	/* TTL (ext. rcode, flags), RDLEN */
	return n + 11;
}

/*
 * Read a (possibly compressed) name at *off into out (dotted, no final
 * dot, "" for the root). -1 on a malformed packet; *odd is set when a
 * label holds a byte that has no place in a host name.
 */
static int
read_name(const uint8_t *buf, size_t len, size_t *off, char *out,
    size_t outlen, bool *odd)
{
	size_t	 p = *off, o = 0, l, i, limit = *off;
	int	 hops = 0;
	bool	 jumped = false;

	for (;;) {
		if (p >= len)
			return -1;
		l = buf[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++hops > DNSQ_PTR_HOPS_MAX)
				return -1;
			if (!jumped)
				*off = p + 2;
			jumped = true;
			/* Pointers only go backwards: no loops. */
			l = ((l & 0x3f) << 8) | buf[p + 1];
			if (l >= limit)
				return -1;
			limit = l;
			p = l;
			continue;
		}
		if ((l & 0xc0) != 0)
			return -1;
		p++;
		if (l == 0)
			break;
		if (p + l > len || o + l + 2 > outlen)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (i = 0; i < l; i++) {
			if (buf[p + i] <= 0x20 || buf[p + i] >= 0x7f ||
			    buf[p + i] == '.')
				*odd = true;
			out[o++] = (char)buf[p + i];
		}
		p += l;
	}
	out[o] = '\0';
	if (!jumped)
		*off = p;
	return 0;
}

struct raw_rr {
	char		 owner[DNSQ_NAME_MAX + 2];
	int		 type;
	uint32_t	 ttl;
	size_t		 off;	/* rdata */
	size_t		 len;
	bool		 odd;
};

/* The text form of one record's rdata, or NULL to skip it. */
static char *
rdata_text(const uint8_t *buf, size_t len, const struct raw_rr *r,
    unsigned *pref)
{
	char	 name[DNSQ_NAME_MAX + 2], txt[DNSQ_TXT_MAX + 1];
	char	 addr[INET6_ADDRSTRLEN];
	size_t	 off = r->off, end = r->off + r->len, o = 0, l;
	bool	 odd = false;

	switch (r->type) {
	case DNSQ_T_A:
		if (r->len != 4 ||
		    inet_ntop(AF_INET, buf + off, addr, sizeof addr) == NULL)
			return NULL;
		return xstrdup(addr);
	case DNSQ_T_AAAA:
		if (r->len != 16 ||
		    inet_ntop(AF_INET6, buf + off, addr, sizeof addr) == NULL)
			return NULL;
		return xstrdup(addr);
	case DNSQ_T_MX:
		if (r->len < 3)
			return NULL;
		*pref = get16(buf + off);
		off += 2;
		/* FALLTHROUGH */
	case DNSQ_T_PTR:
	case DNSQ_T_CNAME:
		if (read_name(buf, len, &off, name, sizeof name, &odd) == -1 ||
		    odd || off > end)
			return NULL;
		return xstrdup(name);
	case DNSQ_T_TXT:
		while (off < end) {
			l = buf[off++];
			if (off + l > end || o + l > DNSQ_TXT_MAX ||
			    memchr(buf + off, '\0', l) != NULL)
				return NULL;
			memcpy(txt + o, buf + off, l);
			o += l;
			off += l;
		}
		txt[o] = '\0';
		return xstrdup(txt);
	}
	return NULL;
}

static void
add_rr(struct dnsq_answer *out, int type, unsigned pref, char *data,
    uint32_t ttl)
{
	if (out->nrr >= DNSQ_RR_MAX) {
		free(data);
		return;
	}
	out->rr = xreallocarray(out->rr, out->nrr + 1, sizeof *out->rr);
	out->rr[out->nrr].type = type;
	out->rr[out->nrr].pref = pref;
	out->rr[out->nrr].data = data;
	out->nrr++;
	if (out->nrr == 1 || ttl < out->ttl)
		out->ttl = ttl;
}

/* Follow the CNAME chain from name and keep the records of type. */
static void
collect(const uint8_t *buf, size_t len, const struct raw_rr *rrs, size_t n,
    const char *name, int type, struct dnsq_answer *out)
{
	char		 cur[DNSQ_NAME_MAX + 2];
	const char	*next;
	unsigned	 pref;
	char		*data;
	size_t		 i;
	int		 hop;

	snprintf(cur, sizeof cur, "%s", name);
	if (cur[0] != '\0' && cur[strlen(cur) - 1] == '.')
		cur[strlen(cur) - 1] = '\0';
	for (hop = 0; hop <= DNSQ_CNAME_MAX; hop++) {
		for (i = 0; i < n; i++) {
			if (rrs[i].type != type || rrs[i].odd ||
			    strcasecmp(rrs[i].owner, cur) != 0)
				continue;
			pref = 0;
			if ((data = rdata_text(buf, len, &rrs[i], &pref)) !=
			    NULL)
				add_rr(out, type, pref, data, rrs[i].ttl);
		}
		if (out->nrr > 0 || type == DNSQ_T_CNAME)
			return;
		next = NULL;
		for (i = 0; i < n && next == NULL; i++) {
			if (rrs[i].type != DNSQ_T_CNAME ||
			    strcasecmp(rrs[i].owner, cur) != 0)
				continue;
			pref = 0;
			next = rdata_text(buf, len, &rrs[i], &pref);
		}
		if (next == NULL)
			return;
		snprintf(cur, sizeof cur, "%s", next);
		free((char *)next);
	}
}

int
dnsq_parse(const uint8_t *buf, size_t len, uint16_t id, const char *name,
    int type, struct dnsq_answer *out, bool *truncated)
{
	struct raw_rr	*rrs = NULL;
	char		 qname[DNSQ_NAME_MAX + 2];
	char		 want[DNSQ_NAME_MAX + 2];
	size_t		 off = DNSQ_HDR_LEN, n = 0, i;
	unsigned	 flags, qd, an, rcode, rtype, rlen;
	bool		 odd = false;

	memset(out, 0, sizeof *out);
	*truncated = false;
	if (len < DNSQ_HDR_LEN || get16(buf) != id)
		return -1;
	flags = get16(buf + 2);
	qd = get16(buf + 4);
	an = get16(buf + 6);
	if ((flags & 0x8000) == 0 || (flags & 0x7800) != 0 || qd != 1)
		return -1;
	if (read_name(buf, len, &off, qname, sizeof qname, &odd) == -1 ||
	    off + 4 > len)
		return -1;
	snprintf(want, sizeof want, "%s", name);
	if (want[0] != '\0' && want[strlen(want) - 1] == '.')
		want[strlen(want) - 1] = '\0';
	if (strcasecmp(qname, want) != 0 || get16(buf + off) !=
	    (unsigned)type || get16(buf + off + 2) != C_IN)
		return -1;
	off += 4;
	if (flags & 0x0200) {
		*truncated = true;
		return 0;
	}
	rcode = flags & 0x000f;
	if (rcode == 3) {
		out->status = DNSQ_NXDOMAIN;
		return 0;
	}
	if (rcode != 0) {
		out->status = DNSQ_SERVFAIL;
		return 0;
	}
	rrs = xcalloc(an < DNSQ_PARSE_RR_MAX ? an + 1 : DNSQ_PARSE_RR_MAX,
	    sizeof *rrs);
	for (i = 0; i < an && n < DNSQ_PARSE_RR_MAX; i++) {
		odd = false;
		if (read_name(buf, len, &off, rrs[n].owner,
		    sizeof rrs[n].owner, &odd) == -1 || off + 10 > len)
			goto bad;
		rtype = get16(buf + off);
		rlen = get16(buf + off + 8);
		if (off + 10 + rlen > len)
			goto bad;
		if (get16(buf + off + 2) == C_IN) {
			rrs[n].type = (int)rtype;
			rrs[n].ttl = get32(buf + off + 4);
			rrs[n].off = off + 10;
			rrs[n].len = rlen;
			rrs[n].odd = odd;
			n++;
		}
		off += 10 + rlen;
	}
	collect(buf, len, rrs, n, want, type, out);
	out->status = out->nrr > 0 ? DNSQ_OK : DNSQ_NODATA;
	free(rrs);
	return 0;
bad:
	free(rrs);
	dnsq_answer_clear(out);
	return -1;
}

void
dnsq_answer_clear(struct dnsq_answer *a)
{
	size_t	i;

	for (i = 0; i < a->nrr; i++)
		free(a->rr[i].data);
	free(a->rr);
	memset(a, 0, sizeof *a);
}

const char *
dnsq_status_name(enum dnsq_status s)
{
	switch (s) {
	case DNSQ_OK:
		return "ok";
	case DNSQ_NODATA:
		return "no data";
	case DNSQ_NXDOMAIN:
		return "no such domain";
	case DNSQ_SERVFAIL:
		return "server failure";
	case DNSQ_TIMEOUT:
		return "timeout";
	case DNSQ_ERROR:
		break;
	}
	return "error";
}

/* --- queries -------------------------------------------------------------- */

struct dnsq *
dnsq_new(struct event_base *base)
{
	struct dnsq	*q;

	q = xcalloc(1, sizeof *q);
	q->base = base;
	q->timeout_ms = 1500;
	TAILQ_INIT(&q->all);
	TAILQ_INIT(&q->waiting);
	return q;
}

void
dnsq_set_servers(struct dnsq *q, const struct sockaddr_storage *ss,
    const socklen_t *lens, size_t n)
{
	size_t	i;

	if (n > DNSQ_SERVERS_MAX)
		n = DNSQ_SERVERS_MAX;
	for (i = 0; i < n; i++) {
		q->servers[i] = ss[i];
		q->lens[i] = lens[i];
	}
	q->nservers = n;
	q->rotor = 0;
}

void
dnsq_set_timeout(struct dnsq *q, int ms)
{
	q->timeout_ms = ms > 10 ? ms : 10;
}

size_t
dnsq_inflight(const struct dnsq *q)
{
	return q->inflight;
}

static void
close_transport(struct dnsq_req *r)
{
	int	i;

	for (i = 0; i < DNSQ_ATTEMPTS; i++) {
		if (r->rev[i] != NULL) {
			event_free(r->rev[i]);
			r->rev[i] = NULL;
		}
		if (r->fds[i] != -1) {
			close(r->fds[i]);
			r->fds[i] = -1;
		}
	}
	if (r->tcp != NULL) {
		bufferevent_free(r->tcp);
		r->tcp = NULL;
	}
	if (r->retry_ev != NULL)
		evtimer_del(r->retry_ev);
	if (r->timeout_ev != NULL)
		evtimer_del(r->timeout_ev);
}

/* Give back the in-flight slot and start the next waiting query. */
static void
release_slot(struct dnsq_req *r)
{
	struct dnsq	*q = r->q;
	struct dnsq_req	*w;

	if (!r->started)
		return;
	r->started = false;
	q->inflight--;
	while (q->inflight < DNSQ_INFLIGHT_MAX &&
	    (w = TAILQ_FIRST(&q->waiting)) != NULL) {
		TAILQ_REMOVE(&q->waiting, w, wait_entry);
		w->waiting = false;
		req_start(w);
	}
}

/* Set the outcome (ans is moved in, or status alone) and schedule the
 * callback. */
static void
complete(struct dnsq_req *r, enum dnsq_status status,
    struct dnsq_answer *ans)
{
	if (r->completed) {
		if (ans != NULL)
			dnsq_answer_clear(ans);
		return;
	}
	r->completed = true;
	close_transport(r);
	if (r->waiting) {
		TAILQ_REMOVE(&r->q->waiting, r, wait_entry);
		r->waiting = false;
	}
	if (ans != NULL)
		r->answer = *ans;
	else
		r->answer.status = status;
	release_slot(r);
	event_active(r->deliver_ev, EV_TIMEOUT, 0);
}

static void
req_free(struct dnsq_req *r)
{
	close_transport(r);
	if (r->waiting)
		TAILQ_REMOVE(&r->q->waiting, r, wait_entry);
	release_slot(r);
	TAILQ_REMOVE(&r->q->all, r, entry);
	if (r->timeout_ev != NULL)
		event_free(r->timeout_ev);
	if (r->retry_ev != NULL)
		event_free(r->retry_ev);
	event_free(r->deliver_ev);
	dnsq_answer_clear(&r->answer);
	free(r);
}

static void
on_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct dnsq_req	*r = arg;
	dnsq_cb		 cb = r->cb;
	void		*cbarg = r->arg;
	struct dnsq_answer ans = r->answer;

	(void)fd;
	(void)what;
	memset(&r->answer, 0, sizeof r->answer);
	req_free(r);
	cb(&ans, cbarg);
	dnsq_answer_clear(&ans);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	complete(arg, DNSQ_TIMEOUT, NULL);
}

static uint16_t
random_id(void)
{
	uint16_t	id;

	arc4random_buf(&id, sizeof id);
	return id;
}

static void	send_attempt(struct dnsq_req *);

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_attempt(arg);
}

static void	on_udp(evutil_socket_t, short, void *);
static void	start_tcp(struct dnsq_req *, int server);

/* Handle a parsed answer from server. */
static void
answered(struct dnsq_req *r, struct dnsq_answer *ans, bool tc, int server)
{
	if (tc) {
		if (r->tcp == NULL)
			start_tcp(r, server);
		return;
	}
	if (ans->status == DNSQ_SERVFAIL && r->attempt < DNSQ_ATTEMPTS &&
	    r->nsv > 1) {
		/* Another server may know better: ask it now. */
		dnsq_answer_clear(ans);
		send_attempt(r);
		return;
	}
	complete(r, ans->status, ans);
}

static void
on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct dnsq_req		*r = arg;
	struct dnsq_answer	 ans;
	uint8_t			 buf[DNSQ_RECV_MAX];
	ssize_t			 n;
	bool			 tc;
	int			 i;

	(void)what;
	for (i = 0; i < DNSQ_ATTEMPTS; i++)
		if (r->fds[i] == fd)
			break;
	if (i == DNSQ_ATTEMPTS)
		return;
	if ((n = recv(fd, buf, sizeof buf, 0)) <= 0) {
		/* ICMP refusal of a connected socket: this server is out. */
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		event_free(r->rev[i]);
		r->rev[i] = NULL;
		close(r->fds[i]);
		r->fds[i] = -1;
		if (r->attempt < DNSQ_ATTEMPTS)
			send_attempt(r);
		return;
	}
	if (dnsq_parse(buf, (size_t)n, r->ids[i], r->name, r->type, &ans,
	    &tc) == -1)
		return;			/* not ours: keep listening */
	answered(r, &ans, tc, r->servers[i]);
}

static void
send_attempt(struct dnsq_req *r)
{
	struct timeval	 tv;
	uint8_t		 pkt[DNSQ_NAME_MAX + 64];
	int		 i = r->attempt, server, fd, len, step;
	const struct sockaddr *sa;

	if (i >= DNSQ_ATTEMPTS || r->completed)
		return;
	r->attempt++;
	server = (int)((r->rotor + (size_t)i) % r->nsv);
	sa = (const struct sockaddr *)&r->sv[server];
	r->ids[i] = random_id();
	r->servers[i] = server;
	if ((len = dnsq_build(pkt, sizeof pkt, r->ids[i], r->name,
	    r->type)) == -1) {
		complete(r, DNSQ_ERROR, NULL);
		return;
	}
	fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1 || connect(fd, sa, r->svlen[server]) == -1 ||
	    send(fd, pkt, (size_t)len, 0) != len) {
		log_debug("dns: query %s to server %d: %s", r->name, server,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		if (r->attempt < DNSQ_ATTEMPTS)
			send_attempt(r);
		else if (r->fds[0] == -1 && r->fds[1] == -1 &&
		    r->fds[2] == -1)
			complete(r, DNSQ_ERROR, NULL);
		return;
	}
	r->fds[i] = fd;
	r->rev[i] = event_new(r->q->base, fd, EV_READ | EV_PERSIST, on_udp,
	    r);
	event_add(r->rev[i], NULL);
	if (r->attempt < DNSQ_ATTEMPTS) {
		step = r->q->timeout_ms / DNSQ_ATTEMPTS;
		tv.tv_sec = step / 1000;
		tv.tv_usec = (step % 1000) * 1000;
		evtimer_add(r->retry_ev, &tv);
	}
}

/* --- TCP, after a truncated UDP answer ------------------------------------ */

static void
on_tcp_read(struct bufferevent *bev, void *arg)
{
	struct dnsq_req		*r = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct dnsq_answer	 ans;
	uint8_t			 hdr[2], *buf;
	size_t			 need;
	bool			 tc;

	if (evbuffer_get_length(in) < 2)
		return;
	evbuffer_copyout(in, hdr, 2);
	need = get16(hdr);
	if (evbuffer_get_length(in) < need + 2)
		return;
	buf = xmalloc(need + 2);
	evbuffer_remove(in, buf, need + 2);
	if (dnsq_parse(buf + 2, need, r->tcp_id, r->name, r->type, &ans,
	    &tc) == -1 || tc) {
		free(buf);
		complete(r, DNSQ_SERVFAIL, NULL);
		return;
	}
	free(buf);
	complete(r, ans.status, &ans);
}

static void
on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		complete(arg, DNSQ_SERVFAIL, NULL);
}

static void
start_tcp(struct dnsq_req *r, int server)
{
	uint8_t	pkt[DNSQ_NAME_MAX + 66];
	int	len;

	evtimer_del(r->retry_ev);
	r->attempt = DNSQ_ATTEMPTS;	/* no more UDP */
	r->tcp_id = random_id();
	if ((len = dnsq_build(pkt + 2, sizeof pkt - 2, r->tcp_id, r->name,
	    r->type)) == -1) {
		complete(r, DNSQ_ERROR, NULL);
		return;
	}
	put16(pkt, (unsigned)len);
	r->tcp = bufferevent_socket_new(r->q->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (r->tcp == NULL) {
		complete(r, DNSQ_ERROR, NULL);
		return;
	}
	bufferevent_setcb(r->tcp, on_tcp_read, NULL, on_tcp_event, r);
	bufferevent_setwatermark(r->tcp, EV_READ, 0, DNSQ_TCP_MAX + 2);
	if (bufferevent_socket_connect(r->tcp,
	    (struct sockaddr *)&r->sv[server], (int)r->svlen[server]) == -1) {
		complete(r, DNSQ_SERVFAIL, NULL);
		return;
	}
	bufferevent_write(r->tcp, pkt, (size_t)len + 2);
	bufferevent_enable(r->tcp, EV_READ);
}

/* --- the interface -------------------------------------------------------- */

static void
req_start(struct dnsq_req *r)
{
	r->started = true;
	r->q->inflight++;
	send_attempt(r);
}

struct dnsq_req *
dnsq_query(struct dnsq *q, const char *name, int type, dnsq_cb cb,
    void *arg)
{
	struct dnsq_req	*r;
	struct timeval	 tv;
	uint8_t		 probe[DNSQ_NAME_MAX + 64];
	size_t		 i;

	r = xcalloc(1, sizeof *r);
	r->q = q;
	r->type = type;
	r->cb = cb;
	r->arg = arg;
	for (i = 0; i < DNSQ_ATTEMPTS; i++)
		r->fds[i] = -1;
	r->deliver_ev = event_new(q->base, -1, 0, on_deliver, r);
	TAILQ_INSERT_TAIL(&q->all, r, entry);
	if (strlen(name) > DNSQ_NAME_MAX || q->nservers == 0 ||
	    dnsq_build(probe, sizeof probe, 0, name, type) == -1) {
		snprintf(r->name, sizeof r->name, "%.*s", DNSQ_NAME_MAX, name);
		complete(r, DNSQ_ERROR, NULL);
		return r;
	}
	snprintf(r->name, sizeof r->name, "%s", name);
	for (i = 0; i < q->nservers; i++) {
		r->sv[i] = q->servers[i];
		r->svlen[i] = q->lens[i];
	}
	r->nsv = q->nservers;
	r->rotor = q->rotor++;
	r->timeout_ev = evtimer_new(q->base, on_timeout, r);
	r->retry_ev = evtimer_new(q->base, on_retry, r);
	tv.tv_sec = q->timeout_ms / 1000;
	tv.tv_usec = (q->timeout_ms % 1000) * 1000;
	evtimer_add(r->timeout_ev, &tv);
	if (q->inflight >= DNSQ_INFLIGHT_MAX) {
		r->waiting = true;
		TAILQ_INSERT_TAIL(&q->waiting, r, wait_entry);
	} else
		req_start(r);
	return r;
}

void
dnsq_cancel(struct dnsq_req *r)
{
	if (r != NULL)
		req_free(r);
}

void
dnsq_free(struct dnsq *q)
{
	struct dnsq_req	*r;

	if (q == NULL)
		return;
	/* Nothing waits any more: do not start the waiting ones. */
	while ((r = TAILQ_FIRST(&q->waiting)) != NULL) {
		TAILQ_REMOVE(&q->waiting, r, wait_entry);
		r->waiting = false;
	}
	while ((r = TAILQ_FIRST(&q->all)) != NULL)
		req_free(r);
	free(q);
}
