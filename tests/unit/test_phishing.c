/*
 * Unit tests for the phishing filter (daemon/filter_phishing.c): link
 * text against target, IP links, look-alike and punycode domains,
 * display-name spoofing, and the helpers (punycode, skeletons, one-edit
 * distance). Messages are struct msg built by hand.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "filter_phishing.h"
#include "finding.h"
#include "log.h"
#include "msg.h"
#include "scan.h"
#include "xmalloc.h"

struct fix {
	char		 dir[PATH_MAX];
	struct cfg	*cfg;
	void		*state;
};

static struct cfg *
load(struct fix *fx, const char *phishing)
{
	char		 path[PATH_MAX + 16], *text, *cause = NULL;
	struct cfg	*c;
	FILE		*f;

	snprintf(path, sizeof path, "%s/moat.conf", fx->dir);
	xasprintf(&text, "smtp = { local_domains = [ \"moat-corp.com\" ]; };\n"
	    "filters = { phishing = { %s }; };\n", phishing);
	assert_non_null(f = fopen(path, "w"));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	free(text);
	if ((c = cfg_load(path, &cause)) == NULL)
		fail_msg("cfg_load: %s", cause);
	return c;
}

static int
setup(void **state)
{
	struct fix	*fx;
	char		*cause = NULL;

	fx = xcalloc(1, sizeof *fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/moat-ph-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->cfg = load(fx, "protected = [ \"paypal.com\", \"www.bank.co.uk\" "
	    "]; scores = { URI_IP = 0.5; };");
	if (filter_phishing.init(fx->cfg, &fx->state, &cause) == -1)
		fail_msg("init: %s", cause);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*fx = *state;
	char		 cmd[PATH_MAX + 16];

	filter_phishing.free(fx->state);
	cfg_unref(fx->cfg);
	snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* A message with links {url, host, text} and a From. */
struct link {
	const char	*url;
	const char	*host;
	const char	*text;
};

static void
scan(struct fix *fx, const struct link *links, size_t n, const char *from,
    const char *name, struct findings *f)
{
	struct msg	 m;
	struct scan_ctx	 ctx;
	size_t		 i;

	memset(&m, 0, sizeof m);
	m.urls = xcalloc(n + 1, sizeof *m.urls);
	for (i = 0; i < n; i++) {
		m.urls[i].url = (char *)(uintptr_t)links[i].url;
		m.urls[i].host = (char *)(uintptr_t)links[i].host;
		m.urls[i].text = (char *)(uintptr_t)links[i].text;
		m.urls[i].from_html = links[i].text != NULL;
	}
	m.nurls = n;
	m.from_addr = (char *)(uintptr_t)from;
	m.from_name = (char *)(uintptr_t)name;
	memset(&ctx, 0, sizeof ctx);
	ctx.cfg = fx->cfg;
	ctx.msg = &m;
	ctx.findings = f;
	findings_init(f);
	filter_phishing.run(fx->state, &ctx);
	free(m.urls);
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

/* One link: the symbols it raises, space separated ("" for none). */
static void
expect_link(struct fix *fx, const char *url, const char *host,
    const char *text, const char *symbols)
{
	struct link	 l = { url, host, text };
	struct findings	 f;
	char		 got[512] = "";
	size_t		 i;

	scan(fx, &l, 1, "someone@sender.example", NULL, &f);
	for (i = 0; i < f.n; i++) {
		if (i > 0)
			strncat(got, " ", sizeof got - strlen(got) - 1);
		strncat(got, f.v[i].symbol, sizeof got - strlen(got) - 1);
	}
	if (strcmp(got, symbols) != 0)
		fail_msg("%s (text %s): got '%s', want '%s'", url,
		    text != NULL ? text : "-", got, symbols);
	findings_free(&f);
}

static void
expect_from(struct fix *fx, const char *from, const char *name,
    const char *symbols)
{
	struct findings	 f;
	char		 got[512] = "";
	size_t		 i;

	scan(fx, NULL, 0, from, name, &f);
	for (i = 0; i < f.n; i++) {
		if (i > 0)
			strncat(got, " ", sizeof got - strlen(got) - 1);
		strncat(got, f.v[i].symbol, sizeof got - strlen(got) - 1);
	}
	if (strcmp(got, symbols) != 0)
		fail_msg("From %s <%s>: got '%s', want '%s'",
		    name != NULL ? name : "", from, got, symbols);
	findings_free(&f);
}

static void
test_link_mismatch(void **state)
{
	struct fix	*fx = *state;

	expect_link(fx, "http://evil.example.net/login", "evil.example.net",
	    "www.paypal.com", "PHISH_LINK_PROTECTED");
	expect_link(fx, "https://evil.example.net/", "evil.example.net",
	    "Log in at https://www.paypal.com/signin now",
	    "PHISH_LINK_PROTECTED");
	expect_link(fx, "http://evil.example.net/", "evil.example.net",
	    "support@moat-corp.com", "PHISH_LINK_PROTECTED");
	expect_link(fx, "http://other.example/", "other.example",
	    "shop.example.org", "PHISH_LINK_MISMATCH");
	/* Same registrable domain, plain words, file names: fine. */
	expect_link(fx, "https://www.paypal.com/x", "www.paypal.com",
	    "paypal.com", "");
	expect_link(fx, "http://a.shop.example.org/", "a.shop.example.org",
	    "https://shop.example.org/", "");
	expect_link(fx, "http://other.example/", "other.example",
	    "Click here", "");
	expect_link(fx, "http://other.example/r.pdf", "other.example",
	    "report.pdf", "");
	expect_link(fx, "mailto:x@other.example", "other.example",
	    "paypal.com", "");
}

static void
test_uri_ip(void **state)
{
	struct fix		*fx = *state;
	struct link		 l = { "http://192.0.2.1/x", "192.0.2.1", NULL };
	struct findings		 f;
	const struct finding	*x;

	scan(fx, &l, 1, NULL, NULL, &f);
	assert_non_null(x = get(&f, "URI_IP"));
	assert_true(x->score == 0.5);		/* filters.phishing.scores */
	findings_free(&f);
	expect_link(fx, "http://3232235777/", "3232235777", NULL, "URI_IP");
	expect_link(fx, "http://0xc0.0xa8.0.1/", "0xc0.0xa8.0.1", NULL,
	    "URI_IP");
	expect_link(fx, "http://[2001:db8::1]/", "[2001:db8::1]", NULL,
	    "URI_IP");
	expect_link(fx, "http://example.com/", "example.com", NULL, "");
	expect_link(fx, "http://1.example.com/", "1.example.com", NULL, "");
}

static void
test_lookalike(void **state)
{
	struct fix	*fx = *state;

	/* Cyrillic a in p-a-ypal. */
	expect_link(fx, "http://xn--pypal-4ve.com/", "xn--pypal-4ve.com", NULL,
	    "PHISH_LOOKALIKE PHISH_PUNYCODE");
	expect_link(fx, "http://www.paypa1.com/", "www.paypa1.com", NULL,
	    "PHISH_LOOKALIKE");
	expect_link(fx, "http://paypall.com/", "paypall.com", NULL,
	    "PHISH_LOOKALIKE");
	expect_link(fx, "http://payapl.net/", "payapl.net", NULL,
	    "PHISH_LOOKALIKE");
	expect_link(fx, "http://rnoat-corp.com/", "rnoat-corp.com", NULL,
	    "PHISH_LOOKALIKE");
	expect_link(fx, "http://login.bamk.co.uk/", "login.bamk.co.uk", NULL,
	    "");				/* "bank": too short for edits */
	expect_link(fx, "http://login.barnk.co.uk/", "login.barnk.co.uk", NULL,
	    "");
	expect_link(fx, "http://paypal.com.secure.example.net/",
	    "paypal.com.secure.example.net", NULL, "PHISH_BRAND_SUBDOMAIN");
	/* The real ones, and the brand under another suffix. */
	expect_link(fx, "http://www.paypal.com/", "www.paypal.com", NULL, "");
	expect_link(fx, "http://www.bank.co.uk/", "www.bank.co.uk", NULL, "");
	expect_link(fx, "http://paypal.de/", "paypal.de", NULL, "");
	expect_link(fx, "http://example.org/", "example.org", NULL, "");
	/* Cyrillic a, Latin pple: mixed scripts. */
	expect_link(fx, "http://xn--pple-43d.com/", "xn--pple-43d.com", NULL,
	    "PHISH_PUNYCODE");
	/* An all-Cyrillic IDN that imitates nothing protected. */
	expect_link(fx, "http://xn--e1afmkfd.com/", "xn--e1afmkfd.com", NULL,
	    "");
}

static void
test_from(void **state)
{
	struct fix	*fx = *state;

	expect_from(fx, "ceo@moat-c0rp.com", "The CEO",
	    "PHISH_FROM_LOOKALIKE");
	expect_from(fx, "x@mail.example", "ceo@moat-corp.com",
	    "PHISH_DISPLAY_SPOOF");
	expect_from(fx, "x@mail.example", "IT Desk (moat-corp.com)",
	    "PHISH_DISPLAY_SPOOF");
	expect_from(fx, "it@moat-corp.com", "moat-corp.com IT", "");
	expect_from(fx, "it@eu.moat-corp.com", "it@moat-corp.com", "");
	expect_from(fx, "x@mail.example", "PayPal Service",
	    "PHISH_BRAND_DISPLAY");
	expect_from(fx, "service@paypal.de", "PayPal Service", "");
	expect_from(fx, "service@mail.paypal.com", "PayPal", "");
	expect_from(fx, "x@mail.example", "Paypalooza Party", "");
	expect_from(fx, "x@mail.example", "Alice", "");
}

static void
test_helpers(void **state)
{
	unsigned	cps[64];
	size_t		n = 64;
	char		sk[64];

	(void)state;
	assert_int_equal(phish_punycode_decode("bcher-kva", 9, cps, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(cps[0], 'b');
	assert_int_equal(cps[1], 0xfc);
	assert_int_equal(cps[5], 'r');
	n = 64;
	assert_int_equal(phish_punycode_decode("a!", 2, cps, &n), -1);
	n = 2;
	assert_int_equal(phish_punycode_decode("bcher-kva", 9, cps, &n), -1);
	n = 64;
	assert_int_equal(phish_punycode_decode("99999999999999", 14, cps, &n),
	    -1);
	/* Random labels: decoded or refused, within bounds. */
	{
		char	lab[40];
		int	k, j;

		srandom(11);
		for (k = 0; k < 20000; k++) {
			for (j = 0; j < 39; j++)
				lab[j] = "abcxyz0189-A"[random() % 12];
			lab[39] = '\0';
			if (k % 2 == 1)
				memcpy(lab, "xn--", 4);
			n = 1 + (size_t)(k % 64);
			(void)phish_punycode_decode(lab, (size_t)(k % 40), cps,
			    &n);
			phish_skeleton(lab, sk, sizeof sk);
		}
	}
	phish_skeleton("xn--pypal-4ve", sk, sizeof sk);
	assert_string_equal(sk, "paypal");
	phish_skeleton("rnicr0soft", sk, sizeof sk);
	assert_string_equal(sk, "microsoft");
	phish_skeleton("xn--bcher-kva", sk, sizeof sk);
	assert_string_equal(sk, "bucher");
	assert_true(phish_one_edit("paypal", "paypal"));
	assert_true(phish_one_edit("paypal", "paypall"));
	assert_true(phish_one_edit("paypall", "paypal"));
	assert_true(phish_one_edit("paypal", "paypai"));
	assert_true(phish_one_edit("paypal", "payapl"));
	assert_true(phish_one_edit("paypal", "aypal"));
	assert_false(phish_one_edit("paypal", "pyapla"));
	assert_false(phish_one_edit("paypal", "paypallll"));
	assert_false(phish_one_edit("paypal", "apyapl"));
	assert_true(phish_host_is_ip("010.0.0.1"));
	assert_false(phish_host_is_ip("1.2.3.4.5"));
	assert_false(phish_host_is_ip("0x"));
}

static void
test_config(void **state)
{
	struct fix	*fx = *state;
	struct cfg	*c;
	void		*st = NULL;
	char		*cause = NULL;
	const char	*bad[] = {
		"protectd = [ \"a.com\" ];",
		"protected = [ \"localhost\" ];",
		"scores = { NOT_OURS = 1.0; };",
		"scores = { URI_IP = \"high\"; };",
	};
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		c = load(fx, bad[i]);
		assert_int_equal(filter_phishing.init(c, &st, &cause), -1);
		assert_non_null(strstr(cause, "moat.conf"));
		free(cause);
		cause = NULL;
		cfg_unref(c);
	}
	/* Without a phishing block: local domains are protected anyway. */
	c = load(fx, "");
	assert_int_equal(filter_phishing.init(c, &st, &cause), 0);
	filter_phishing.free(st);
	cfg_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helpers),
		cmocka_unit_test_setup_teardown(test_link_mismatch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_uri_ip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookalike, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_from, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
	};

	log_init("test_phishing", true, false);
	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
