/*
 * Unit tests for the network checks (daemon/netcheck.c and its checks),
 * the stub resolver (daemon/dnsq.c) and the public-suffix heuristic
 * (daemon/psl.c). The runner tests start a DNS server inside the test
 * (libevent's evdns server API on a loopback UDP port, answering from a
 * table), sign messages with libopendkim and a key openssl generates,
 * and run netcheck_run on a real event loop.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <opendkim/dkim.h>

#include "cfg.h"
#include "dnsq.h"
#include "finding.h"
#include "log.h"
#include "msg.h"
#include "netcheck.h"
#include "psl.h"
#include "util.h"
#include "xmalloc.h"

/* --- the test DNS server ---------------------------------------------------- */

struct zrec {
	const char	*name;
	int		 type;
	const char	*data;		/* text; MX "10 host" */
};

#define ZONE_MAX	64

static struct zrec	 zone[ZONE_MAX];
static size_t		 nzone;
static char		*dkim_txt;	/* the generated key record */
static unsigned		 queries;	/* served */
static bool		 server_mute;	/* drop everything: timeouts */

static void
zone_add(const char *name, int type, const char *data)
{
	assert_true(nzone < ZONE_MAX);
	zone[nzone].name = name;
	zone[nzone].type = type;
	zone[nzone].data = data;
	nzone++;
}

static void
add_name_rdata(uint8_t *buf, size_t *len, const char *name)
{
	const char	*p = name, *dot;
	size_t		 l;

	while (*p != '\0') {
		dot = strchr(p, '.');
		l = dot != NULL ? (size_t)(dot - p) : strlen(p);
		buf[(*len)++] = (uint8_t)l;
		memcpy(buf + *len, p, l);
		*len += l;
		p += l + (dot != NULL);
	}
	buf[(*len)++] = 0;
}

static void
serve(struct evdns_server_request *req, void *arg)
{
	struct evdns_server_question	*q;
	struct in_addr			 a;
	uint8_t				 rd[2048];
	size_t				 i, len, off, n;
	bool				 exists = false;

	(void)arg;
	queries++;
	if (server_mute) {
		evdns_server_request_drop(req);
		return;
	}
	if (req->nquestions != 1) {
		evdns_server_request_respond(req, DNS_ERR_FORMAT);
		return;
	}
	q = req->questions[0];
	for (i = 0; i < nzone; i++) {
		if (strcasecmp(zone[i].name, q->name) != 0)
			continue;
		exists = true;
		if (zone[i].type != q->type)
			continue;
		switch (q->type) {
		case EVDNS_TYPE_A:
			inet_pton(AF_INET, zone[i].data, &a);
			evdns_server_request_add_a_reply(req, q->name, 1, &a,
			    60);
			break;
		case EVDNS_TYPE_TXT:
			/* Split into strings of at most 255 bytes. */
			len = 0;
			for (off = 0; off < strlen(zone[i].data); off += n) {
				n = strlen(zone[i].data) - off;
				if (n > 255)
					n = 255;
				rd[len++] = (uint8_t)n;
				memcpy(rd + len, zone[i].data + off, n);
				len += n;
			}
			evdns_server_request_add_reply(req,
			    EVDNS_ANSWER_SECTION, q->name, EVDNS_TYPE_TXT,
			    EVDNS_CLASS_INET, 60, (int)len, 0, (char *)rd);
			break;
		case EVDNS_TYPE_MX:
			n = strtoul(zone[i].data, NULL, 10);
			rd[0] = (uint8_t)(n >> 8);
			rd[1] = (uint8_t)n;
			len = 2;
			add_name_rdata(rd, &len, strchr(zone[i].data, ' ') + 1);
			evdns_server_request_add_reply(req,
			    EVDNS_ANSWER_SECTION, q->name, EVDNS_TYPE_MX,
			    EVDNS_CLASS_INET, 60, (int)len, 0, (char *)rd);
			break;
		}
	}
	evdns_server_request_respond(req, exists ? 0 : DNS_ERR_NOTEXIST);
}

/* --- fixtures --------------------------------------------------------------- */

struct fix {
	char			 dir[PATH_MAX];
	struct event_base	*base;
	struct evdns_server_port *port;
	evutil_socket_t		 fd;
	int			 dnsport;
	struct cfg		*cfg;
	char			*key_pem;
};

static struct fix	*F;

static char *
slurp(const char *path)
{
	FILE	*f;
	char	*s;
	long	 n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = xcalloc(1, (size_t)n + 1);
	if (fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	fclose(f);
	return s;
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f;

	assert_non_null(f = fopen(path, "w"));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static struct cfg *
load_cfg(struct fix *fx, const char *extra)
{
	char		 path[PATH_MAX + 32], *text, *cause = NULL;
	struct cfg	*c;

	snprintf(path, sizeof path, "%s/moat.conf", fx->dir);
	xasprintf(&text, "smtp = { hostname = \"moat.test\"; local_domains = "
	    "[ \"local.test\" ]; };\nstorage = { path = \"moat.db\"; };\n"
	    "dns = { servers = [ \"127.0.0.1:%d\" ]; timeout_ms = 400; };\n"
	    "%s\n", fx->dnsport, extra);
	write_file(path, text);
	free(text);
	c = cfg_load(path, &cause);
	if (c == NULL)
		fail_msg("cfg_load: %s", cause);
	return c;
}

static const char *const FILTERS =
    "filters = {\n"
    "  dnsbl = { zones = ( { zone = \"rbl.test\"; score = 3.0; "
    "symbol = \"RBL_TEST\"; },\n"
    "     { zone = \"pbl.test\"; score = 1.0; match = [ \"127.0.0.10\" ]; "
    "} ); };\n"
    "  surbl = { zones = ( { zone = \"uribl.test\"; score = 4.0; "
    "symbol = \"URIBL_TEST\"; bitmask = 4; } ); max_domains = 10;\n"
    "     skip_domains = [ \"skip.test\" ]; };\n"
    "  spf = { scores = { SPF_FAIL = 2.5; }; };\n"
    "};\n";

static int
setup(void **state)
{
	struct fix		*fx;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	char			 cmd[PATH_MAX * 2 + 200], path[PATH_MAX + 32];
	char			*pub, *p, *q;

	fx = xcalloc(1, sizeof *fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/moat-nc-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->base = event_base_new();
	fx->fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fx->fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fx->fd, (struct sockaddr *)&sin, &len),
	    0);
	evutil_make_socket_nonblocking(fx->fd);
	fx->dnsport = ntohs(sin.sin_port);
	fx->port = evdns_add_server_port_with_base(fx->base, fx->fd, 0, serve,
	    NULL);

	/* A DKIM key pair, as a signer would publish it. */
	snprintf(cmd, sizeof cmd, "cd %s && openssl genrsa -out key.pem 2048 "
	    ">/dev/null 2>&1 && openssl rsa -in key.pem -pubout -outform DER "
	    "2>/dev/null | base64 -w0 > pub.b64", fx->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof path, "%s/key.pem", fx->dir);
	assert_non_null(fx->key_pem = slurp(path));
	snprintf(path, sizeof path, "%s/pub.b64", fx->dir);
	assert_non_null(pub = slurp(path));
	for (p = q = pub; *p != '\0'; p++)
		if (*p != '\n')
			*q++ = *p;
	*q = '\0';
	free(dkim_txt);
	xasprintf(&dkim_txt, "v=DKIM1; k=rsa; p=%s", pub);
	free(pub);

	nzone = 0;
	zone_add("2.2.0.192.rbl.test", EVDNS_TYPE_A, "127.0.0.2");
	zone_add("2.2.0.192.pbl.test", EVDNS_TYPE_A, "127.0.0.11");
	zone_add("3.2.0.192.rbl.test", EVDNS_TYPE_A, "127.255.255.254");
	zone_add("evil.test.uribl.test", EVDNS_TYPE_A, "127.0.0.4");
	zone_add("other.test.uribl.test", EVDNS_TYPE_A, "127.0.0.2");
	zone_add("skip.test.uribl.test", EVDNS_TYPE_A, "127.0.0.4");
	zone_add("sender.test", EVDNS_TYPE_TXT,
	    "v=spf1 ip4:192.0.2.0/24 include:inc.test -all");
	zone_add("inc.test", EVDNS_TYPE_TXT, "v=spf1 a:mail.inc.test mx -all");
	zone_add("mail.inc.test", EVDNS_TYPE_A, "198.51.100.7");
	zone_add("inc.test", EVDNS_TYPE_MX, "10 mx1.inc.test");
	zone_add("mx1.inc.test", EVDNS_TYPE_A, "203.0.113.5");
	zone_add("soft.test", EVDNS_TYPE_TXT, "v=spf1 ~all");
	zone_add("sign.test", EVDNS_TYPE_TXT, "v=spf1 -all");
	zone_add("sel._domainkey.sign.test", EVDNS_TYPE_TXT, dkim_txt);
	zone_add("_dmarc.sign.test", EVDNS_TYPE_TXT,
	    "v=DMARC1; p=reject; sp=quarantine");
	zone_add("sign.test", EVDNS_TYPE_A, "192.0.2.99");
	fx->cfg = load_cfg(fx, FILTERS);
	netcheck_init(fx->base, fx->cfg);
	F = fx;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*fx = *state;
	char		 cmd[PATH_MAX + 16];

	netcheck_shutdown();
	evdns_close_server_port(fx->port);
	evutil_closesocket(fx->fd);
	cfg_unref(fx->cfg);
	event_base_free(fx->base);
	snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx->key_pem);
	free(fx);
	free(dkim_txt);
	dkim_txt = NULL;
	server_mute = false;
	return 0;
}

/* --- messages ------------------------------------------------------------- */

struct tmsg {
	struct msg	 m;
	char		*raw;
};

/* A msg from a CRLF message text: headers unfolded, From address, and
 * the given URL hosts. */
static void
tmsg_init(struct tmsg *t, const char *raw, const char *from,
    const char *const *hosts)
{
	const char	*p, *eol, *colon;
	char		*line = NULL;
	size_t		 n, i;

	memset(t, 0, sizeof *t);
	t->raw = xstrdup(raw);
	t->m.raw = t->raw;
	t->m.raw_len = strlen(raw);
	t->m.headers = xcalloc(64, sizeof *t->m.headers);
	for (p = raw; *p != '\0' && strncmp(p, "\r\n", 2) != 0; p = eol) {
		/* One field with its continuation lines. */
		eol = p;
		do {
			eol = strstr(eol, "\r\n") + 2;
		} while (*eol == ' ' || *eol == '\t');
		n = (size_t)(eol - p) - 2;
		line = xstrndup(p, n);
		colon = strchr(line, ':');
		assert_non_null(colon);
		assert_true(t->m.nheaders < 64);
		t->m.headers[t->m.nheaders].name = xstrndup(line,
		    (size_t)(colon - line));
		t->m.headers[t->m.nheaders].raw = xstrdup(colon + 1);
		t->m.headers[t->m.nheaders].value = xstrdup(colon + 1);
		t->m.nheaders++;
		free(line);
	}
	t->m.from_addr = from != NULL ? xstrdup(from) : NULL;
	for (n = 0; hosts != NULL && hosts[n] != NULL; n++)
		;
	t->m.urls = xcalloc(n + 1, sizeof *t->m.urls);
	for (i = 0; i < n; i++) {
		xasprintf(&t->m.urls[i].url, "http://%s/", hosts[i]);
		t->m.urls[i].host = xstrdup(hosts[i]);
	}
	t->m.nurls = n;
}

static void
tmsg_free(struct tmsg *t)
{
	size_t	i;

	for (i = 0; i < t->m.nheaders; i++) {
		free(t->m.headers[i].name);
		free(t->m.headers[i].raw);
		free(t->m.headers[i].value);
	}
	free(t->m.headers);
	for (i = 0; i < t->m.nurls; i++) {
		free(t->m.urls[i].url);
		free(t->m.urls[i].host);
	}
	free(t->m.urls);
	free(t->m.from_addr);
	free(t->raw);
}

/* The message signed by sign.test with selector sel (relaxed/relaxed). */
static char *
dkim_signed(const char *msg, const char *domain)
{
	DKIM_LIB	*lib;
	DKIM		*d;
	DKIM_STAT	 st;
	unsigned char	*hdr;
	size_t		 len, i, o = 0;
	char		*out, *v;

	lib = dkim_init(NULL, NULL);
	d = dkim_sign(lib, (const u_char *)"test", NULL,
	    (dkim_sigkey_t)F->key_pem, (const u_char *)"sel",
	    (const u_char *)domain, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
	    DKIM_SIGN_RSASHA256, -1, &st);
	assert_non_null(d);
	assert_int_equal(dkim_chunk(d, (u_char *)(uintptr_t)msg, strlen(msg)),
	    DKIM_STAT_OK);
	assert_int_equal(dkim_chunk(d, NULL, 0), DKIM_STAT_OK);
	assert_int_equal(dkim_eom(d, NULL), DKIM_STAT_OK);
	assert_int_equal(dkim_getsighdr_d(d, strlen(DKIM_SIGNHEADER) + 2,
	    &hdr, &len), DKIM_STAT_OK);
	/* Folded with bare LF: make it CRLF. */
	v = xcalloc(1, len * 2 + 1);
	for (i = 0; i < len; i++) {
		if (hdr[i] == '\n')
			v[o++] = '\r';
		v[o++] = (char)hdr[i];
	}
	xasprintf(&out, "DKIM-Signature: %s\r\n%s", v, msg);
	free(v);
	dkim_free(d);
	dkim_close(lib);
	return out;
}

/* --- running the checks ------------------------------------------------------ */

static bool	run_done;

static void
on_done(struct netcheck_ctx *ctx)
{
	assert_null(ctx->run);
	assert_false(run_done);
	run_done = true;
	event_base_loopbreak(F->base);
}

static void
run(struct findings *f, const char *ip, const char *helo, const char *sender,
    const struct msg *m)
{
	struct netcheck_ctx	ctx;

	memset(&ctx, 0, sizeof ctx);
	findings_init(f);
	ctx.cfg = F->cfg;
	ctx.queue_id = "TEST";
	ctx.client_addr = ip;
	ctx.helo = helo;
	ctx.sender = sender;
	ctx.msg = m;
	ctx.findings = f;
	run_done = false;
	netcheck_run(&ctx, on_done);
	assert_false(run_done);		/* never inside netcheck_run */
	while (!run_done)
		assert_int_equal(event_base_loop(F->base, EVLOOP_ONCE), 0);
	assert_int_equal(netcheck_running(), 0);
}

static const struct finding *
get(const struct findings *f, const char *sym)
{
	size_t	i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].symbol, sym) == 0)
			return &f->v[i];
	return NULL;
}

static void
dump(const struct findings *f)
{
	size_t	i;

	for (i = 0; i < f->n; i++)
		print_message("  %s %.2f %s\n", f->v[i].symbol, f->v[i].score,
		    f->v[i].detail != NULL ? f->v[i].detail : "");
}

static const char PLAIN[] =
    "From: Alice <alice@sign.test>\r\n"
    "To: bob@local.test\r\n"
    "Subject: hello\r\n"
    "Message-ID: <1@sign.test>\r\n"
    "\r\n"
    "Hello Bob,\r\n"
    "see http://evil.test/x\r\n";

/* --- tests: runner ---------------------------------------------------------- */

static void
test_dnsbl(void **state)
{
	struct findings		 f;
	const struct finding	*x;

	(void)state;
	run(&f, "192.0.2.2", "client.test", "", NULL);
	dump(&f);
	assert_non_null(x = get(&f, "RBL_TEST"));
	assert_true(x->score == 3.0);
	assert_non_null(strstr(x->detail, "192.0.2.2 listed in rbl.test"));
	/* pbl.test answers 127.0.0.11, but only .10 counts there. */
	assert_null(get(&f, "RBL_PBL_TEST"));
	findings_free(&f);

	run(&f, "192.0.2.1", NULL, "", NULL);
	assert_null(get(&f, "RBL_TEST"));
	findings_free(&f);
	/* 127.255.255.x are error codes, not listings. */
	run(&f, "192.0.2.3", NULL, "", NULL);
	assert_null(get(&f, "RBL_TEST"));
	findings_free(&f);
	/* XFORWARD's form of IPv6 and private addresses: no look-up. */
	queries = 0;
	run(&f, "IPv6:fd00::1", NULL, "", NULL);
	run(&f, "10.1.2.3", NULL, "", NULL);
	assert_int_equal(queries, 0);
	findings_free(&f);
}

static void
test_surbl(void **state)
{
	static const char *const hosts[] = { "www.evil.test", "a.b.other.test",
	    "evil.test", "www.skip.test", "mail.local.test", NULL };
	struct tmsg		 t;
	struct findings		 f;
	const struct finding	*x;

	(void)state;
	tmsg_init(&t, PLAIN, "alice@sign.test", hosts);
	run(&f, "192.0.2.1", NULL, "", &t.m);
	dump(&f);
	assert_non_null(x = get(&f, "URIBL_TEST"));
	assert_non_null(strstr(x->detail, "evil.test listed in uribl.test"));
	assert_true(x->score == 4.0);
	/* other.test answers 127.0.0.2: outside bitmask 4. */
	assert_null(strstr(x->detail, "other.test"));
	findings_free(&f);
	tmsg_free(&t);
}

static void
test_spf(void **state)
{
	struct findings		 f;
	const struct finding	*x;

	(void)state;
	/* ip4 in the record itself. */
	run(&f, "192.0.2.1", "h.test", "someone@sender.test", NULL);
	dump(&f);
	assert_non_null(get(&f, "SPF_PASS"));
	findings_free(&f);
	/* Through include:, a: and mx: the evaluation needs more rounds. */
	run(&f, "198.51.100.7", "h.test", "someone@sender.test", NULL);
	assert_non_null(get(&f, "SPF_PASS"));
	findings_free(&f);
	run(&f, "203.0.113.5", "h.test", "someone@sender.test", NULL);
	dump(&f);
	assert_non_null(get(&f, "SPF_PASS"));
	findings_free(&f);
	run(&f, "198.51.100.8", "h.test", "someone@sender.test", NULL);
	dump(&f);
	assert_non_null(x = get(&f, "SPF_FAIL"));
	assert_true(x->score == 2.5);		/* filters.spf.scores */
	findings_free(&f);
	run(&f, "198.51.100.8", "h.test", "someone@soft.test", NULL);
	assert_non_null(get(&f, "SPF_SOFTFAIL"));
	findings_free(&f);
	run(&f, "198.51.100.8", "h.test", "someone@nospf.test", NULL);
	assert_non_null(get(&f, "SPF_NONE"));
	findings_free(&f);
	/* The null sender: the HELO name is checked. */
	run(&f, "198.51.100.8", "soft.test", "", NULL);
	assert_non_null(x = get(&f, "SPF_SOFTFAIL"));
	assert_non_null(strstr(x->detail, "helo soft.test"));
	findings_free(&f);
	/* Loopback: not checked. */
	run(&f, "127.0.0.1", "soft.test", "a@soft.test", NULL);
	assert_int_equal(f.n, 0);
	findings_free(&f);
}

static void
test_dkim_dmarc(void **state)
{
	struct tmsg		 t;
	struct findings		 f;
	const struct finding	*x;
	char			*signed_msg, *tampered, *p;

	(void)state;
	signed_msg = dkim_signed(PLAIN, "sign.test");
	tmsg_init(&t, signed_msg, "alice@sign.test", NULL);
	/* SPF fails (sign.test: -all) but DKIM passes aligned. */
	run(&f, "198.51.100.8", "h.test", "alice@sign.test", &t.m);
	dump(&f);
	assert_non_null(get(&f, "DKIM_VALID"));
	assert_non_null(get(&f, "DKIM_VALID_AU"));
	assert_null(get(&f, "DKIM_INVALID"));
	assert_non_null(get(&f, "SPF_FAIL"));
	assert_non_null(x = get(&f, "DMARC_PASS"));
	findings_free(&f);
	tmsg_free(&t);

	/* The body changed after signing. */
	tampered = xstrdup(signed_msg);
	p = strstr(tampered, "Hello Bob");
	p[0] = 'J';
	tmsg_init(&t, tampered, "alice@sign.test", NULL);
	run(&f, "198.51.100.8", "h.test", "alice@sign.test", &t.m);
	dump(&f);
	assert_non_null(x = get(&f, "DKIM_INVALID"));
	assert_non_null(strstr(x->detail, "body hash mismatch"));
	assert_null(get(&f, "DKIM_VALID"));
	assert_non_null(x = get(&f, "DMARC_REJECT"));
	assert_true(x->score > 0);
	findings_free(&f);
	tmsg_free(&t);
	free(tampered);

	/* Unsigned, From a subdomain: the organizational record's sp=. */
	tmsg_init(&t, PLAIN, "news@news.sign.test", NULL);
	run(&f, "198.51.100.8", "h.test", "news@news.sign.test", &t.m);
	dump(&f);
	assert_non_null(get(&f, "DMARC_QUARANTINE"));
	findings_free(&f);
	tmsg_free(&t);

	/* No record at all. */
	tmsg_init(&t, PLAIN, "x@nospf.test", NULL);
	run(&f, "198.51.100.8", "h.test", "x@nospf.test", &t.m);
	assert_non_null(get(&f, "DMARC_NA"));
	findings_free(&f);
	tmsg_free(&t);
	free(signed_msg);
}

static void
test_deadline(void **state)
{
	struct tmsg		 t;
	struct findings		 f;
	uint64_t		 t0;
	char			*signed_msg;

	(void)state;
	signed_msg = dkim_signed(PLAIN, "sign.test");
	tmsg_init(&t, signed_msg, "alice@sign.test", NULL);
	server_mute = true;
	t0 = util_mono_ms();
	run(&f, "192.0.2.2", "h.test", "alice@sign.test", &t.m);
	dump(&f);
	/* timeout_ms 400: the whole run ends after 800 ms. */
	assert_true(util_mono_ms() - t0 < 3000);
	assert_non_null(get(&f, "SPF_TEMPERROR"));
	assert_non_null(get(&f, "DKIM_TEMPFAIL"));
	assert_non_null(get(&f, "DMARC_TEMPERROR"));
	assert_null(get(&f, "RBL_TEST"));
	server_mute = false;
	findings_free(&f);
	tmsg_free(&t);
	free(signed_msg);
}

static void
test_conf_errors(void **state)
{
	struct cfg	*c;
	char		*cause = NULL;

	(void)state;
	c = load_cfg(F, "filters = { dnsbl = { zones = ( { zone = \"a..b\"; "
	    "} ); }; };");
	assert_int_equal(netcheck_conf_check(c, &cause), -1);
	assert_non_null(strstr(cause, "moat.conf:"));
	assert_non_null(strstr(cause, "zone"));
	free(cause);
	cfg_unref(c);
	c = load_cfg(F, "filters = { surbl = { zonez = 1; }; };");
	assert_int_equal(netcheck_conf_check(c, &cause), -1);
	assert_non_null(strstr(cause, "zonez"));
	free(cause);
	cfg_unref(c);
	c = load_cfg(F, "filters = { spf = { scores = { spf_pass = 1; }; }; };");
	assert_int_equal(netcheck_conf_check(c, &cause), -1);
	free(cause);
	cfg_unref(c);
	c = load_cfg(F, FILTERS);
	assert_int_equal(netcheck_conf_check(c, &cause), 0);
	cfg_unref(c);
}

/* --- tests: dnsq wire format and psl ---------------------------------------- */

static void
test_dnsq_wire(void **state)
{
	uint8_t			 q[300], r[600], junk[300];
	struct dnsq_answer	 a;
	bool			 tc;
	int			 n;
	size_t			 len;

	(void)state;
	n = dnsq_build(q, sizeof q, 0x1234, "Example.TEST.", DNSQ_T_TXT);
	assert_true(n > 12);
	assert_int_equal(dnsq_build(junk, sizeof junk, 1, "a..b", DNSQ_T_A),
	    -1);
	assert_int_equal(dnsq_build(junk, sizeof junk, 1, "", DNSQ_T_A), -1);

	/* An answer: the question, then CNAME example.test -> t.test and
	 * a TXT record of t.test in two strings, names compressed. */
	memcpy(r, q, (size_t)n - 11);	/* header and question, no OPT */
	len = (size_t)n - 11;
	r[2] = 0x81;
	r[3] = 0x80;
	r[7] = 2;			/* ANCOUNT */
	r[11] = 0;			/* ARCOUNT */
	memcpy(r + len, "\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x04"
	    "\x01t\xc0\x14", 16);	/* CNAME t.<test> */
	len += 16;
	memcpy(r + len, "\xc0\x2a\x00\x10\x00\x01\x00\x00\x00\x3c\x00\x08"
	    "\x03" "abc" "\x03" "def", 20);
	len += 20;
	assert_int_equal(dnsq_parse(r, len, 0x1234, "example.test",
	    DNSQ_T_TXT, &a, &tc), 0);
	assert_false(tc);
	assert_int_equal(a.status, DNSQ_OK);
	assert_int_equal(a.nrr, 1);
	assert_string_equal(a.rr[0].data, "abcdef");
	dnsq_answer_clear(&a);
	/* Wrong id, wrong question: not ours. */
	assert_int_equal(dnsq_parse(r, len, 0x1235, "example.test",
	    DNSQ_T_TXT, &a, &tc), -1);
	assert_int_equal(dnsq_parse(r, len, 0x1234, "other.test",
	    DNSQ_T_TXT, &a, &tc), -1);
	/* A compression pointer to itself. */
	r[len - 20] = 0xc0;
	r[len - 19] = (uint8_t)(len - 20);
	assert_int_equal(dnsq_parse(r, len, 0x1234, "example.test",
	    DNSQ_T_TXT, &a, &tc), -1);
	/* Truncated packets never parse. */
	for (n = 0; n < 40; n++)
		(void)dnsq_parse(r, (size_t)n, 0x1234, "example.test",
		    DNSQ_T_TXT, &a, &tc);
	/* Random damage to a good answer: parsed or refused, never worse. */
	{
		uint8_t	 m[600];
		int	 k, j;

		srandom(7);
		for (k = 0; k < 20000; k++) {
			memcpy(m, r, len);
			for (j = 0; j < 1 + k % 4; j++)
				m[random() % len] = (uint8_t)random();
			if (dnsq_parse(m, len - (size_t)(k % 3), 0x1234,
			    "example.test", DNSQ_T_TXT, &a, &tc) == 0)
				dnsq_answer_clear(&a);
		}
	}
	/* NXDOMAIN. */
	r[3] = 0x83;
	r[7] = 0;
	assert_int_equal(dnsq_parse(r, len, 0x1234, "example.test",
	    DNSQ_T_TXT, &a, &tc), 0);
	assert_int_equal(a.status, DNSQ_NXDOMAIN);
	/* TC bit. */
	r[2] = 0x83;
	assert_int_equal(dnsq_parse(r, len, 0x1234, "example.test",
	    DNSQ_T_TXT, &a, &tc), 0);
	assert_true(tc);
}

static void
test_psl(void **state)
{
	(void)state;
	assert_string_equal(psl_registrable("www.example.com"), "example.com");
	assert_string_equal(psl_registrable("example.com"), "example.com");
	assert_string_equal(psl_registrable("a.b.example.co.uk"),
	    "example.co.uk");
	assert_string_equal(psl_registrable("shop.example.com.au"),
	    "example.com.au");
	assert_string_equal(psl_registrable("x.y.blogspot.com"),
	    "y.blogspot.com");
	assert_string_equal(psl_registrable("www.example.de"), "example.de");
	assert_string_equal(psl_registrable("192.0.2.1"), "192.0.2.1");
	assert_null(psl_registrable("co.uk"));
	assert_null(psl_registrable("com"));
	assert_null(psl_registrable("a..b.com"));
	assert_null(psl_registrable(""));
	assert_true(psl_is_suffix("co.uk"));
	assert_true(psl_is_suffix("github.io"));
	assert_false(psl_is_suffix("example.com"));
	assert_true(psl_is_ip("[2001:db8::1]"));
	assert_false(psl_is_ip("2001.db8"));
	assert_true(psl_in_domain("a.example.com", "example.com"));
	assert_true(psl_in_domain("EXAMPLE.com", "example.com"));
	assert_false(psl_in_domain("badexample.com", "example.com"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_psl),
		cmocka_unit_test(test_dnsq_wire),
		cmocka_unit_test_setup_teardown(test_conf_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_surbl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dkim_dmarc, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup,
		    teardown),
	};

	log_init("test_netcheck", true, false);
	log_set_level(getenv("MOAT_TEST_DEBUG") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_WARN);
	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
