/*
 * bench-smtp: a small, fast SMTP/LMTP load client for `make bench`.
 * One thread per connection; each keeps its connection for several
 * sequential transactions (like Postfix's connection cache), pipelines
 * MAIL/RCPT/DATA and times every message from MAIL to the final reply.
 * Messages come from a directory (read once, normalised to CRLF and
 * dot-stuffed at load time) or are generated (-z SIZE).
 * Only connects to the one address it is given; loopback unless -A.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_CONC_MAX		4096		/* threads/connections */
#define BENCH_MSGS_MAX		10000000	/* messages per run */
#define BENCH_RCPTS_MAX		1000
#define BENCH_FILES_MAX		100000		/* files loaded from -d */
#define BENCH_FILE_MAX		(64u << 20)	/* one message file */
#define BENCH_LOAD_MAX		(1024ul << 20)	/* all loaded messages */
#define BENCH_LINE_MAX		998		/* RFC 5321 text line */
#define BENCH_FOLD		990		/* where long lines are cut */
#define BENCH_REPLY_MAX		4096		/* one reply line kept */
#define BENCH_RBUF		16384
#define BENCH_CMD_MAX		(256 + BENCH_RCPTS_MAX * 80)
#define BENCH_CONNECT_FAILS	10		/* in a row: give up */
#define BENCH_SAMPLES		5		/* error texts shown */
#define BENCH_GEN_VARIANTS	8		/* generated messages */

struct bmsg {
	char	*data;		/* normalised, dot-stuffed, ends ".\r\n" */
	size_t	 len;
	size_t	 size;		/* message size before stuffing (SIZE=) */
	bool	 eightbit;
};

struct conn {
	int	 fd;
	char	 rbuf[BENCH_RBUF];
	size_t	 roff;
	size_t	 rlen;
	bool	 pipelining;
	bool	 size_ext;
	bool	 eightbit_ext;
	int	 sent;		/* transactions on this connection */
};

struct reply {
	int	 code;		/* 0: connection lost or timed out */
	char	 text[BENCH_REPLY_MAX];
};

static struct {
	const char	*server;
	const char	*dir;
	size_t		 gen_size;
	int		 conc;
	long		 nmsgs;
	int		 rcpts;
	int		 per_conn;
	int		 timeout;	/* seconds per read or write */
	int		 deadline;	/* seconds for the whole run, 0: none */
	bool		 lmtp;
	bool		 allow_remote;
	bool		 quiet;
	const char	*sender;
	const char	*rcpt_domain;
} opt = {
	.conc = 16,
	.nmsgs = 1000,
	.rcpts = 1,
	.per_conn = 100,
	.timeout = 60,
	.deadline = 0,
	.sender = "bench@bench.example.org",
	.rcpt_domain = "example.com",
};

static struct sockaddr_storage	 srv_addr;
static socklen_t		 srv_addrlen;

static struct bmsg	*msgs;
static size_t		 nloaded;

static atomic_long	 next_msg;
static atomic_long	 n_ok;
static atomic_long	 n_failed;
static atomic_long	 err_4xx;	/* non-2xx answers, by class */
static atomic_long	 err_5xx;
static atomic_long	 err_other;	/* unexpected 1xx/3xx answers */
static atomic_long	 err_io;	/* connect, timeout, lost connection */
static atomic_long	 n_conns;
static atomic_ullong	 bytes_sent;
static atomic_bool	 stop;
static uint32_t		*lat_us;	/* per message, UINT32_MAX: failed */
static uint64_t		 t_deadline;

static pthread_mutex_t	 sample_lock = PTHREAD_MUTEX_INITIALIZER;
static int		 nsamples;

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	ap;

	fputs("bench-smtp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
xcalloc(size_t n, size_t sz)
{
	void	*p;

	if ((p = calloc(n ? n : 1, sz ? sz : 1)) == NULL)
		die("out of memory");
	return p;
}

/* This process's user+system CPU time in microseconds. */
static uint64_t
cpu_us(void)
{
	struct rusage	ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench-smtp -s HOST:PORT [-c CONCURRENCY] [-n MESSAGES]\n"
	    "                  [-d DIR | -z SIZE] [-r RCPTS] "
	    "[-m MSGS_PER_CONNECTION]\n"
	    "                  [-t TIMEOUT] [-T DEADLINE] [-L] [-A] [-q]\n"
	    "  -s  server address (loopback only unless -A)\n"
	    "  -c  parallel connections, one thread each (16)\n"
	    "  -n  messages to send in total (1000)\n"
	    "  -d  directory of messages, every readable file is one\n"
	    "  -z  generated messages of about SIZE bytes (default 4096)\n"
	    "  -r  recipients per message (1)\n"
	    "  -m  messages per connection before QUIT (100)\n"
	    "  -t  seconds to wait for one reply or write (60)\n"
	    "  -T  seconds for the whole run, then stop (no limit)\n"
	    "  -L  speak LMTP (LHLO, one reply per recipient after DATA)\n"
	    "  -A  allow a non-loopback server address\n"
	    "  -q  only print the RESULT line\n");
	exit(2);
}

static long
num_arg(const char *s, long min, long max, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s)
		die("%s: not a number: %s", what, s);
	/* k/m suffixes for sizes and counts */
	if (*end == 'k' || *end == 'K') {
		if (v > LONG_MAX / 1024)
			die("%s: too large: %s", what, s);
		v *= 1024;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		if (v > LONG_MAX / (1024 * 1024))
			die("%s: too large: %s", what, s);
		v *= 1024 * 1024;
		end++;
	}
	if (*end != '\0')
		die("%s: not a number: %s", what, s);
	if (v < min || v > max)
		die("%s: %ld is outside %ld..%ld", what, v, min, max);
	return v;
}

static bool
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		const uint8_t *a = sin6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && a[12] == 127;
	}
	return false;
}

static void
resolve_server(const char *spec)
{
	struct addrinfo	 hints, *res;
	char		 host[256];
	const char	*port, *h;
	size_t		 hlen;
	int		 rc;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (close == NULL || close[1] != ':')
			die("bad server address: %s", spec);
		h = spec + 1;
		hlen = (size_t)(close - h);
		port = close + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (colon == NULL)
			die("server address needs a port: %s", spec);
		h = spec;
		hlen = (size_t)(colon - spec);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host) || *port == '\0')
		die("bad server address: %s", spec);
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		die("%s: %s", spec, gai_strerror(rc));
	memcpy(&srv_addr, res->ai_addr, res->ai_addrlen);
	srv_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (!opt.allow_remote && !is_loopback(&srv_addr))
		die("%s is not a loopback address (use -A to allow it)", spec);
}

/* --- loading messages ------------------------------------------------- */

struct obuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

static void
ob_add(struct obuf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		size_t	 cap = b->cap ? b->cap : 4096;
		char	*np;

		while (cap < b->len + n)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			die("out of memory");
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

struct norm_stats {
	size_t	 lf_files;	/* files that did not use CRLF */
	size_t	 folded;	/* long lines cut */
	size_t	 nuls;		/* NUL bytes replaced */
};

/* One text line (no line ending) as SMTP DATA: long lines are cut so
 * every line stays within RFC 5321's limit, each piece dot-stuffed. */
static void
emit_line(struct obuf *o, char *line, size_t n, size_t *size,
    struct norm_stats *ns)
{
	size_t	take;

	do {
		take = n > BENCH_FOLD ? BENCH_FOLD : n;
		if (take < n)
			ns->folded++;
		if (take > 0 && line[0] == '.')
			ob_add(o, ".", 1);
		ob_add(o, line, take);
		ob_add(o, "\r\n", 2);
		*size += take + 2;
		line += take;
		n -= take;
	} while (n > 0);
}

/* Raw file bytes to a ready-to-send DATA body. Any of CRLF, LF or a lone
 * CR ends a line; NUL becomes a space; an mbox "From " line is dropped.
 * moatd rejects bare LF/CR, NUL and long lines, the sink does not: the
 * same valid bytes go to both so the two runs compare. */
static void
normalise(struct bmsg *m, char *raw, size_t n, struct norm_stats *ns)
{
	struct obuf	 o = { 0 };
	size_t		 i, start = 0;
	bool		 bare = false, first = true;

	m->size = 0;
	m->eightbit = false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c == '\0') {
			raw[i] = ' ';
			ns->nuls++;
		} else if (c >= 0x80)
			m->eightbit = true;
		if (c != '\r' && c != '\n')
			continue;
		if (c == '\n' || i + 1 >= n || raw[i + 1] != '\n')
			bare = true;
		if (!(first && i - start >= 5 &&
		    memcmp(raw + start, "From ", 5) == 0))
			emit_line(&o, raw + start, i - start, &m->size, ns);
		first = false;
		if (c == '\r' && i + 1 < n && raw[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	if (start < n)
		emit_line(&o, raw + start, n - start, &m->size, ns);
	ob_add(&o, ".\r\n", 3);
	if (bare)
		ns->lf_files++;
	m->data = o.p;
	m->len = o.len;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
read_file(const char *path, size_t *lenp)
{
	struct stat	 st;
	char		*buf;
	size_t		 off = 0;
	ssize_t		 r;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uintmax_t)st.st_size > BENCH_FILE_MAX) {
		close(fd);
		return NULL;
	}
	buf = xcalloc(1, (size_t)st.st_size);
	while (off < (size_t)st.st_size) {
		r = read(fd, buf + off, (size_t)st.st_size - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	if (off == 0) {
		free(buf);
		return NULL;
	}
	*lenp = off;
	return buf;
}

static void
load_dir(const char *dir)
{
	DIR		 *d;
	struct dirent	 *de;
	char		**names = NULL, path[PATH_MAX], *raw;
	size_t		  nnames = 0, cap = 0, i, len, total = 0, skipped = 0;
	struct norm_stats ns = { 0 };

	if ((d = opendir(dir)) == NULL)
		die("%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL && nnames < BENCH_FILES_MAX) {
		if (de->d_name[0] == '.')
			continue;
		if (nnames == cap) {
			cap = cap ? cap * 2 : 256;
			char **nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL)
				die("out of memory");
			names = nn;
		}
		if ((names[nnames++] = strdup(de->d_name)) == NULL)
			die("out of memory");
	}
	closedir(d);
	if (nnames == 0)
		die("%s: no message files", dir);
	qsort(names, nnames, sizeof(*names), name_cmp);	/* reproducible */

	msgs = xcalloc(nnames, sizeof(*msgs));
	for (i = 0; i < nnames; i++) {
		int pl = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		free(names[i]);
		if (pl < 0 || (size_t)pl >= sizeof(path) ||
		    total >= BENCH_LOAD_MAX ||
		    (raw = read_file(path, &len)) == NULL) {
			skipped++;
			continue;
		}
		normalise(&msgs[nloaded], raw, len, &ns);
		free(raw);
		total += msgs[nloaded].len;
		nloaded++;
	}
	free(names);
	if (nloaded == 0)
		die("%s: no readable message files", dir);
	if (!opt.quiet)
		printf("loaded    %zu messages from %s (%.1f KiB average), "
		    "%zu skipped; %zu converted to CRLF, %zu long lines cut, "
		    "%zu NULs replaced\n", nloaded, dir,
		    (double)total / (double)nloaded / 1024.0, skipped,
		    ns.lf_files, ns.folded, ns.nuls);
}

/* Plain text messages of about `size` bytes: headers plus 72-column lines
 * of words, a few variants so not every message is the same. */
static void
generate(size_t size)
{
	static const char *words[] = {
		"moat", "relay", "queue", "filter", "postfix", "gateway",
		"message", "latency", "the", "of", "and", "a", "to", "in",
		"throughput", "benchmark", "envelope", "recipient", "sender",
		".dot", "header", "body", "line", "mail", "server",
	};
	struct norm_stats ns = { 0 };
	struct obuf	 o;
	char		 line[128], hdr[1024];
	size_t		 v, nw = sizeof(words) / sizeof(words[0]);
	unsigned	 seed;
	int		 hl;

	msgs = xcalloc(BENCH_GEN_VARIANTS, sizeof(*msgs));
	for (v = 0; v < BENCH_GEN_VARIANTS; v++) {
		memset(&o, 0, sizeof(o));
		hl = snprintf(hdr, sizeof(hdr),
		    "From: Bench Sender <%s>\n"
		    "To: Bench Recipient <rcpt1@%s>\n"
		    "Subject: bench message %zu of about %zu bytes\n"
		    "Date: Mon, 1 Jan 2024 12:00:00 +0000\n"
		    "Message-ID: <bench-%zu-%zu@bench.example.org>\n"
		    "MIME-Version: 1.0\n"
		    "Content-Type: text/plain; charset=us-ascii\n"
		    "\n", opt.sender, opt.rcpt_domain, v, size, v, size);
		ob_add(&o, hdr, (size_t)hl);
		seed = (unsigned)(v * 2654435761u + 1);
		while (o.len < size) {
			size_t ll = 0;
			while (ll < 72) {
				const char *w;
				seed = seed * 1103515245u + 12345u;
				w = words[(seed >> 16) % nw];
				if (ll + strlen(w) + 1 >= sizeof(line))
					break;
				ll += (size_t)snprintf(line + ll,
				    sizeof(line) - ll, "%s%s", ll ? " " : "",
				    w);
			}
			line[ll++] = '\n';
			ob_add(&o, line, ll);
		}
		normalise(&msgs[v], o.p, o.len, &ns);
		free(o.p);
	}
	nloaded = BENCH_GEN_VARIANTS;
	if (!opt.quiet)
		printf("generated %d messages of about %zu bytes\n",
		    BENCH_GEN_VARIANTS, size);
}

/* --- the SMTP client ---------------------------------------------------- */

static void
sample_error(const char *what, const struct reply *r)
{
	pthread_mutex_lock(&sample_lock);
	if (nsamples < BENCH_SAMPLES) {
		nsamples++;
		if (r == NULL || r->code == 0)
			fprintf(stderr, "bench-smtp: %s: %s\n", what,
			    r ? r->text : strerror(errno));
		else
			fprintf(stderr, "bench-smtp: %s: %s\n", what, r->text);
	}
	pthread_mutex_unlock(&sample_lock);
}

static void
conn_close(struct conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->roff = c->rlen = 0;
	c->sent = 0;
}

/* On failure *r (when given) says why. */
static int
send_all(struct conn *c, const char *p, size_t n, struct reply *r)
{
	ssize_t	w;

	while (n > 0) {
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (r != NULL) {
				r->code = 0;
				snprintf(r->text, sizeof(r->text), "send: %s",
				    w == 0 ? "nothing written" :
				    strerror(errno));
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One reply line into `line` (CRLF stripped, truncated to the buffer).
 * Returns its length, -1 on EOF, timeout or error. */
static ssize_t
read_line(struct conn *c, char *line, size_t max)
{
	size_t	 n = 0;
	ssize_t	 r;
	char	 ch;

	for (;;) {
		if (c->roff == c->rlen) {
			r = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
			if (r == -1 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
			c->roff = 0;
			c->rlen = (size_t)r;
		}
		ch = c->rbuf[c->roff++];
		if (ch == '\n')
			break;
		if (n + 1 < max)
			line[n++] = ch;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return (ssize_t)n;
}

/* A whole (multi-line) reply; the last line's text is kept. With `ehlo`
 * the extensions are noted. */
static int
read_reply(struct conn *c, struct reply *r, bool ehlo)
{
	char	line[BENCH_REPLY_MAX];
	ssize_t	n;
	int	lines = 0;

	for (;;) {
		if ((n = read_line(c, line, sizeof(line))) == -1) {
			r->code = 0;
			snprintf(r->text, sizeof(r->text), "%s",
			    errno == EAGAIN || errno == EWOULDBLOCK ?
			    "timed out waiting for a reply" :
			    "connection lost");
			return -1;
		}
		if (n < 3 || line[0] < '1' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' ||
		    line[2] < '0' || line[2] > '9' ||
		    (n > 3 && line[3] != ' ' && line[3] != '-')) {
			r->code = 0;
			snprintf(r->text, sizeof(r->text),
			    "malformed reply: %.200s", line);
			return -1;
		}
		if (ehlo && lines > 0 && n > 4) {
			const char *kw = line + 4;
			if (strncasecmp(kw, "PIPELINING", 10) == 0)
				c->pipelining = true;
			else if (strncasecmp(kw, "SIZE", 4) == 0)
				c->size_ext = true;
			else if (strncasecmp(kw, "8BITMIME", 8) == 0)
				c->eightbit_ext = true;
		}
		lines++;
		if (n == 3 || line[3] == ' ')
			break;
		if (lines > 1000) {
			r->code = 0;
			snprintf(r->text, sizeof(r->text), "endless reply");
			return -1;
		}
	}
	r->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
	    (line[2] - '0');
	snprintf(r->text, sizeof(r->text), "%s", line);
	return 0;
}

/* Count an answer that is not the expected class. */
static void
count_bad(const char *what, const struct reply *r)
{
	if (r->code == 0)
		atomic_fetch_add(&err_io, 1);
	else if (r->code >= 500)
		atomic_fetch_add(&err_5xx, 1);
	else if (r->code >= 400)
		atomic_fetch_add(&err_4xx, 1);
	else
		atomic_fetch_add(&err_other, 1);
	sample_error(what, r);
}

static int
conn_open(struct conn *c, struct reply *r)
{
	struct timeval	tv = { .tv_sec = opt.timeout };
	int		one = 1;
	char		cmd[128];
	int		l;

	c->pipelining = c->size_ext = c->eightbit_ext = false;
	c->roff = c->rlen = 0;
	c->sent = 0;
	c->fd = socket(srv_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		die("socket: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&srv_addr, srv_addrlen) == -1) {
		r->code = 0;
		snprintf(r->text, sizeof(r->text), "connect %s: %s",
		    opt.server, strerror(errno));
		goto fail;
	}
	atomic_fetch_add(&n_conns, 1);
	if (read_reply(c, r, false) == -1 || r->code != 220)
		goto fail;
	l = snprintf(cmd, sizeof(cmd), "%s bench.example.org\r\n",
	    opt.lmtp ? "LHLO" : "EHLO");
	if (send_all(c, cmd, (size_t)l, r) == -1)
		goto fail;
	if (read_reply(c, r, true) == -1 || r->code != 250)
		goto fail;
	return 0;
fail:
	conn_close(c);
	return -1;
}

/* The next reply of a transaction; -1 also for 421, after which the
 * server closes the connection. */
static int
next_reply(struct conn *c, struct reply *r)
{
	if (read_reply(c, r, false) == -1)
		return -1;
	return r->code == 421 ? -1 : 0;
}

/* One transaction on an open connection. Returns 0 when the message was
 * accepted (for every recipient the server took), -1 otherwise; with
 * *broken set the connection is unusable. */
static int
transact(struct conn *c, const struct bmsg *m, char *cmd, bool *broken)
{
	struct reply	 r;
	size_t		 off = 0;
	int		 i, l, accepted = 0, failed = 0;
	bool		 mail_ok;

	*broken = false;
	r.code = 0;
	r.text[0] = '\0';
	l = snprintf(cmd, BENCH_CMD_MAX, "MAIL FROM:<%s>", opt.sender);
	off = (size_t)l;
	if (c->size_ext)
		off += (size_t)snprintf(cmd + off, BENCH_CMD_MAX - off,
		    " SIZE=%zu", m->size);
	if (c->eightbit_ext && m->eightbit)
		off += (size_t)snprintf(cmd + off, BENCH_CMD_MAX - off,
		    " BODY=8BITMIME");
	off += (size_t)snprintf(cmd + off, BENCH_CMD_MAX - off, "\r\n");

	if (!c->pipelining) {
		/* lock-step: MAIL, each RCPT, DATA */
		if (send_all(c, cmd, off, &r) == -1 ||
		    next_reply(c, &r) == -1)
			goto io;
		if (r.code != 250) {
			count_bad("MAIL", &r);
			goto reset;
		}
		for (i = 1; i <= opt.rcpts; i++) {
			l = snprintf(cmd, BENCH_CMD_MAX,
			    "RCPT TO:<rcpt%d@%s>\r\n", i, opt.rcpt_domain);
			if (send_all(c, cmd, (size_t)l, &r) == -1 ||
			    next_reply(c, &r) == -1)
				goto io;
			if (r.code == 250 || r.code == 251)
				accepted++;
			else
				count_bad("RCPT", &r), failed++;
		}
		if (accepted == 0)
			goto reset;
		if (send_all(c, "DATA\r\n", 6, &r) == -1 ||
		    next_reply(c, &r) == -1)
			goto io;
	} else {
		for (i = 1; i <= opt.rcpts; i++)
			off += (size_t)snprintf(cmd + off, BENCH_CMD_MAX - off,
			    "RCPT TO:<rcpt%d@%s>\r\n", i, opt.rcpt_domain);
		off += (size_t)snprintf(cmd + off, BENCH_CMD_MAX - off,
		    "DATA\r\n");
		if (send_all(c, cmd, off, &r) == -1)
			goto io;
		if (next_reply(c, &r) == -1)
			goto io;
		mail_ok = r.code == 250;
		if (!mail_ok)
			count_bad("MAIL", &r);
		for (i = 1; i <= opt.rcpts; i++) {
			if (next_reply(c, &r) == -1)
				goto io;
			if (r.code == 250 || r.code == 251)
				accepted++;
			else if (mail_ok)	/* else a consequence of MAIL */
				count_bad("RCPT", &r), failed++;
		}
		if (next_reply(c, &r) == -1)
			goto io;
		if (!mail_ok || accepted == 0) {
			/* DATA failed as a consequence; a server that took it
			 * anyway is out of step with us */
			if (r.code == 354) {
				*broken = true;
				return -1;
			}
			if (!mail_ok)
				return -1;
			goto reset;
		}
	}
	if (r.code != 354) {
		count_bad("DATA", &r);
		goto reset;
	}
	if (send_all(c, m->data, m->len, &r) == -1)
		goto io;
	atomic_fetch_add(&bytes_sent, m->len);
	c->sent++;
	/* LMTP: one reply per accepted recipient */
	for (i = 0; i < (opt.lmtp ? accepted : 1); i++) {
		if (next_reply(c, &r) == -1)
			goto io;
		if (r.code < 200 || r.code > 299)
			count_bad("end of DATA", &r), failed++;
	}
	return failed ? -1 : 0;

reset:
	/* after a refused step, start clean; rare, so not pipelined */
	if (send_all(c, "RSET\r\n", 6, &r) == -1 ||
	    next_reply(c, &r) == -1 || r.code != 250)
		*broken = true;
	return -1;
io:
	/* lost connection, timeout, or 421 (the server is closing) */
	count_bad("transaction", &r);
	*broken = true;
	return -1;
}

static void *
worker(void *arg)
{
	struct conn	 c = { .fd = -1 };
	struct reply	 r;
	char		*cmd = xcalloc(1, BENCH_CMD_MAX);
	long		 idx;
	uint64_t	 t0;
	int		 conn_fails = 0;
	bool		 broken;

	(void)arg;
	while (!atomic_load(&stop)) {
		if (t_deadline != 0 && now_us() >= t_deadline) {
			atomic_store(&stop, true);
			break;
		}
		if ((idx = atomic_fetch_add(&next_msg, 1)) >= opt.nmsgs)
			break;
		if (c.fd == -1 && conn_open(&c, &r) == -1) {
			count_bad("connect", &r);
			atomic_fetch_add(&n_failed, 1);
			if (++conn_fails >= BENCH_CONNECT_FAILS) {
				sample_error("giving up", &r);
				atomic_store(&stop, true);
			}
			continue;
		}
		conn_fails = 0;
		t0 = now_us();
		if (transact(&c, &msgs[(size_t)idx % nloaded], cmd,
		    &broken) == 0) {
			uint64_t d = now_us() - t0;
			lat_us[idx] = d >= UINT32_MAX ? UINT32_MAX - 1 :
			    (uint32_t)d;
			atomic_fetch_add(&n_ok, 1);
		} else
			atomic_fetch_add(&n_failed, 1);
		if (broken)
			conn_close(&c);
		else if (c.sent >= opt.per_conn) {
			(void)send_all(&c, "QUIT\r\n", 6, NULL);
			(void)read_reply(&c, &r, false);
			conn_close(&c);
		}
	}
	if (c.fd != -1) {
		(void)send_all(&c, "QUIT\r\n", 6, NULL);
		(void)read_reply(&c, &r, false);
		conn_close(&c);
	}
	free(cmd);
	return NULL;
}

/* --- report --------------------------------------------------------------- */

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in milliseconds. */
static double
pct_ms(const uint32_t *v, size_t n, double p)
{
	size_t	k;

	if (n == 0)
		return 0.0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k == 0)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1] / 1000.0;
}

int
main(int argc, char *argv[])
{
	pthread_t	*th;
	pthread_attr_t	 attr;
	uint32_t	*ok_lat;
	size_t		 nok_lat = 0;
	uint64_t	 t_start, t_end, cpu_start, cpu_end;
	double		 secs, rate;
	long		 i, ok, failed, errors;
	int		 ch;

	while ((ch = getopt(argc, argv, "s:c:n:d:z:r:m:t:T:LAqh")) != -1) {
		switch (ch) {
		case 's':
			opt.server = optarg;
			break;
		case 'c':
			opt.conc = (int)num_arg(optarg, 1, BENCH_CONC_MAX,
			    "-c");
			break;
		case 'n':
			opt.nmsgs = num_arg(optarg, 1, BENCH_MSGS_MAX, "-n");
			break;
		case 'd':
			opt.dir = optarg;
			break;
		case 'z':
			opt.gen_size = (size_t)num_arg(optarg, 1,
			    BENCH_FILE_MAX, "-z");
			break;
		case 'r':
			opt.rcpts = (int)num_arg(optarg, 1, BENCH_RCPTS_MAX,
			    "-r");
			break;
		case 'm':
			opt.per_conn = (int)num_arg(optarg, 1, 1000000, "-m");
			break;
		case 't':
			opt.timeout = (int)num_arg(optarg, 1, 3600, "-t");
			break;
		case 'T':
			opt.deadline = (int)num_arg(optarg, 0, 86400, "-T");
			break;
		case 'L':
			opt.lmtp = true;
			break;
		case 'A':
			opt.allow_remote = true;
			break;
		case 'q':
			opt.quiet = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || opt.server == NULL)
		usage();
	if (opt.dir != NULL && opt.gen_size != 0)
		die("-d and -z exclude each other");
	resolve_server(opt.server);
	if (opt.dir != NULL)
		load_dir(opt.dir);
	else
		generate(opt.gen_size ? opt.gen_size : 4096);

	lat_us = xcalloc((size_t)opt.nmsgs, sizeof(*lat_us));
	for (i = 0; i < opt.nmsgs; i++)
		lat_us[i] = UINT32_MAX;
	if (opt.conc > opt.nmsgs)
		opt.conc = (int)opt.nmsgs;
	th = xcalloc((size_t)opt.conc, sizeof(*th));
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);

	if (!opt.quiet) {
		printf("sending   %ld messages to %s%s, %d connections, "
		    "%d recipient%s each, %d per connection\n", opt.nmsgs,
		    opt.server, opt.lmtp ? " (LMTP)" : "", opt.conc,
		    opt.rcpts, opt.rcpts == 1 ? "" : "s", opt.per_conn);
		fflush(stdout);
	}
	cpu_start = cpu_us();
	t_start = now_us();
	if (opt.deadline > 0)
		t_deadline = t_start + (uint64_t)opt.deadline * 1000000;
	for (i = 0; i < opt.conc; i++)
		if ((errno = pthread_create(&th[i], &attr, worker, NULL)) != 0)
			die("pthread_create: %s", strerror(errno));
	for (i = 0; i < opt.conc; i++)
		pthread_join(th[i], NULL);
	t_end = now_us();
	cpu_end = cpu_us();

	/* the successful messages' latencies, packed and sorted */
	ok_lat = lat_us;
	for (i = 0; i < opt.nmsgs; i++)
		if (lat_us[i] != UINT32_MAX)
			ok_lat[nok_lat++] = lat_us[i];
	qsort(ok_lat, nok_lat, sizeof(*ok_lat), u32_cmp);

	secs = (double)(t_end - t_start) / 1e6;
	ok = atomic_load(&n_ok);
	failed = atomic_load(&n_failed);
	errors = atomic_load(&err_4xx) + atomic_load(&err_5xx) +
	    atomic_load(&err_other) + atomic_load(&err_io);
	rate = secs > 0 ? (double)ok / secs : 0.0;
	if (!opt.quiet) {
		printf("done      %ld accepted, %ld failed, %ld not sent, "
		    "in %.3f s over %ld connections\n", ok, failed,
		    opt.nmsgs - ok - failed, secs, atomic_load(&n_conns));
		printf("rate      %.1f messages/s, %.2f MiB/s\n", rate,
		    secs > 0 ? (double)atomic_load(&bytes_sent) / secs /
		    1048576.0 : 0.0);
		printf("latency   p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, "
		    "max %.3f ms\n", pct_ms(ok_lat, nok_lat, 50),
		    pct_ms(ok_lat, nok_lat, 90), pct_ms(ok_lat, nok_lat, 99),
		    pct_ms(ok_lat, nok_lat, 100));
		printf("errors    %ld (4xx %ld, 5xx %ld, other %ld, "
		    "connection %ld)\n", errors, atomic_load(&err_4xx),
		    atomic_load(&err_5xx), atomic_load(&err_other),
		    atomic_load(&err_io));
	}
	printf("RESULT msgs=%ld ok=%ld failed=%ld secs=%.3f rate=%.1f "
	    "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%ld err4xx=%ld "
	    "err5xx=%ld errother=%ld errio=%ld conns=%ld conc=%d "
	    "cpu_us_per_msg=%.0f\n",
	    opt.nmsgs, ok, failed, secs, rate, pct_ms(ok_lat, nok_lat, 50),
	    pct_ms(ok_lat, nok_lat, 99), pct_ms(ok_lat, nok_lat, 100),
	    errors, atomic_load(&err_4xx), atomic_load(&err_5xx),
	    atomic_load(&err_other), atomic_load(&err_io),
	    atomic_load(&n_conns), opt.conc,
	    (double)(cpu_end - cpu_start) / (double)opt.nmsgs);
	fflush(stdout);
	for (i = 0; i < (long)nloaded; i++)
		free(msgs[i].data);
	free(msgs);
	free(lat_us);
	free(th);
	return failed == 0 && ok == opt.nmsgs ? 0 : 1;
}
