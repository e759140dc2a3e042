/*
 * Bayes: the tokenizer, the classifier math (chi-square against known
 * values), the findings bands, the token store (learn, relearn, forget,
 * expiry, persistence, autolearn queue, concurrent readers) and the scan
 * filter's configuration and run.
 */
#include <sys/stat.h>

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "bayes.h"
#include "cfg.h"
#include "db_bayes.h"
#include "filter_bayes.h"
#include "finding.h"
#include "msg.h"
#include "scan.h"

static char	dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/moat-bayes-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* --- tokenizer ------------------------------------------------------------ */

static void
tokenize(struct bayes_tokens *t, const char *text)
{
	bayes_tokens_init(t, true);
	bayes_tokenize_text(t, "", text, strlen(text));
}

static void
assert_token(const struct bayes_tokens *t, const char *tok)
{
	if (!bayes_tokens_has(t, tok))
		fail_msg("token \"%s\" missing; have:\n%s", tok,
		    t->text.data != NULL ? t->text.data : "");
}

static void
assert_no_token(const struct bayes_tokens *t, const char *tok)
{
	if (bayes_tokens_has(t, tok))
		fail_msg("token \"%s\" unexpected; have:\n%s", tok,
		    t->text.data != NULL ? t->text.data : "");
}

static void
test_hash(void **state)
{
	(void)state;
	/* Stored in files: the value must never change. */
	assert_true(bayes_hash("free", 4) == 0xa709eff8626a4857ULL);
	assert_true(bayes_hash("Hsubject:viagra now!", 20) ==
	    0xc4b05549199b14b3ULL);
	assert_true(bayes_hash("free", 4) != bayes_hash("Free", 4));
	assert_true(bayes_hash("", 0) != 0);
	assert_true(bayes_hash("abcdefghijk", 11) !=
	    bayes_hash("abcdefghijj", 11));
}

static void
test_words(void **state)
{
	struct bayes_tokens	t;

	(void)state;
	tokenize(&t, "Hello WORLD, free!!! $1,000,000 it is ok. "
	    "Visit www.Example.COM or write to Sales@Mail.Example.org now");
	assert_token(&t, "hello");
	assert_token(&t, "world");
	assert_token(&t, "AC:world");
	assert_token(&t, "free!!!");
	assert_token(&t, "free");
	assert_token(&t, "$1,000,000");
	assert_token(&t, "1000000");
	assert_token(&t, "visit");
	assert_token(&t, "D:www.example.com");
	assert_token(&t, "D:example.com");
	assert_no_token(&t, "D:com");
	assert_token(&t, "sales@mail.example.org");
	assert_token(&t, "D:@mail.example.org");
	assert_token(&t, "D:@example.org");
	assert_token(&t, "write");
	assert_token(&t, "now");
	/* Short words and stop words are left out. */
	assert_no_token(&t, "it");
	assert_no_token(&t, "is");
	assert_no_token(&t, "ok");
	assert_no_token(&t, "the");
	assert_no_token(&t, "Hello");
	bayes_tokens_free(&t);

	tokenize(&t, "the and for with this that");
	assert_int_equal(t.n, 0);
	bayes_tokens_free(&t);

	/* Trimmed punctuation, quotes. */
	tokenize(&t, "'quoted' ...dots... --dash-- \"word\"");
	assert_token(&t, "quoted");
	assert_token(&t, "dots");
	assert_token(&t, "dash");
	assert_token(&t, "word");
	bayes_tokens_free(&t);
}

static void
test_dedup(void **state)
{
	struct bayes_tokens	t;

	(void)state;
	tokenize(&t, "spam Spam SPAM spam spam");
	assert_int_equal(t.n, 2);	/* spam, AC:spam */
	assert_token(&t, "spam");
	assert_token(&t, "AC:spam");
	bayes_tokens_free(&t);
}

static void
test_utf8(void **state)
{
	struct bayes_tokens	t;

	(void)state;
	/* Accents, Cyrillic and Greek fold; full-width letters are ASCII;
	 * invisible characters do not split a word. */
	tokenize(&t, "\xc3\x89" "COLE \xc3\xa9" "cole "
	    "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2 "
	    "\xce\x94\xce\x9f\xce\xa1\xce\x9f "
	    "\xef\xbc\xa6\xef\xbc\xb2\xef\xbc\xa5\xef\xbc\xa5 "
	    "vi\xe2\x80\x8b" "agra ca\xc2\xad" "sino "
	    "it\xe2\x80\x99s");
	assert_token(&t, "\xc3\xa9" "cole");
	assert_token(&t, "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	assert_token(&t, "\xce\xb4\xce\xbf\xcf\x81\xce\xbf");
	assert_token(&t, "free");
	assert_token(&t, "viagra");
	assert_token(&t, "casino");
	assert_token(&t, "it's");
	bayes_tokens_free(&t);

	/* CJK: character pairs. */
	tokenize(&t, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	assert_token(&t, "\xe6\x97\xa5\xe6\x9c\xac");
	assert_token(&t, "\xe6\x9c\xac\xe8\xaa\x9e");
	assert_int_equal(t.n, 2);
	bayes_tokens_free(&t);

	/* Invalid UTF-8 separates, never crashes. */
	tokenize(&t, "abc\xff\xfe" "def\xc3");
	assert_token(&t, "abc");
	assert_token(&t, "def");
	bayes_tokens_free(&t);
}

static void
test_long_words(void **state)
{
	struct bayes_tokens	t;

	(void)state;
	tokenize(&t, "supercalifragilisticexpialidocious "
	    "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ= "
	    "some.very.long.subdomain.example.com");
	assert_token(&t, "sk:superca");
	assert_token(&t, "sk:agvsbg8");
	assert_no_token(&t, "supercalifragilisticexpialidocious");
	/* Domains stay whole, however long. */
	assert_token(&t, "D:some.very.long.subdomain.example.com");
	assert_token(&t, "D:example.com");
	bayes_tokens_free(&t);

	/* A word past the word buffer is cut safely. */
	{
		char	big[2000];

		memset(big, 'x', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		tokenize(&t, big);
		assert_token(&t, "sk:xxxxxxx");
		assert_int_equal(t.n, 1);
		bayes_tokens_free(&t);
	}
}

static void
test_token_limit(void **state)
{
	struct bayes_tokens	t;
	char			w[16];
	size_t			i;

	(void)state;
	bayes_tokens_init(&t, false);
	for (i = 0; i < BAYES_TOKENS_MAX + 100; i++) {
		snprintf(w, sizeof w, "w%zu", i);
		bayes_tokens_add(&t, w, strlen(w));
	}
	assert_int_equal(t.n, BAYES_TOKENS_MAX);
	assert_int_equal(t.dropped, 100);
	bayes_tokens_free(&t);
}

/* A message as mime_parse would build it. */
static struct msg_header test_headers[] = {
	{ "Received", "from mail.spammer.example (dsl-1-2-3-4.isp.example "
	  "[192.0.2.44]) by mx.example.com (Postfix 3.7) with ESMTP id "
	  "4AB12C34D5; Thu, 22 Aug 2002 07:35:02 -0400", NULL },
	{ "From", "\"Cheap Pills\" <offers@pills.example>", NULL },
	{ "To", "victim@example.com", NULL },
	{ "Subject", "Cheap PILLS now", NULL },
	{ "Message-ID", "<20020822.ABCDEF123@pills.example>", NULL },
	{ "Date", "Thu, 22 Aug 2002 07:35:02 -0400", NULL },
	{ "Content-Type", "multipart/mixed; boundary=\"----=_NextPart_000_"
	  "0000_01C2CA26.8E5C6140\"", NULL },
	{ "X-Mailer", "Microsoft Outlook Express 6.00.2600.0000", NULL },
	{ "X-Spam-Status", "Yes, score=20", NULL },
	{ "X-Moat-Spam-Score", "12.00", NULL },
};

static struct msg_url test_urls[] = {
	{ "http://www.pills.example/buy/now.html?id=12345", "www.pills.example",
	  "click", true, 1 },
	{ "http://192.0.2.7/x", "192.0.2.7", NULL, false, 1 },
};

static struct msg_part test_parts[] = {
	{ .index = 0, .parent = -1, .content_type = "multipart/mixed" },
	{ .index = 1, .depth = 1, .parent = 0, .content_type = "text/plain",
	  .charset = "us-ascii", .is_text = true },
	{ .index = 2, .depth = 1, .parent = 0,
	  .content_type = "application/octet-stream",
	  .disposition = "attachment", .filename = "invoice.pdf.exe",
	  .sniffed_type = "application/x-dosexec", .is_attachment = true },
};

static const char test_raw[] = "Subject: Cheap PILLS now\r\n\r\n"
    "Buy cheap pills now\r\nat www.pills.example\r\n";

static void
test_msg_init(struct msg *m)
{
	memset(m, 0, sizeof *m);
	m->raw = test_raw;
	m->raw_len = sizeof test_raw - 1;
	m->header_len = strstr(test_raw, "\r\n\r\n") + 4 - test_raw;
	m->headers = test_headers;
	m->nheaders = sizeof test_headers / sizeof test_headers[0];
	m->subject = "Cheap PILLS now";
	m->from_addr = "offers@pills.example";
	m->message_id = "<20020822.ABCDEF123@pills.example>";
	m->body_text = "Cheap PILLS now\nBuy cheap pills now\n"
	    "at www.pills.example\n";
	m->body_text_len = strlen(m->body_text);
	m->urls = test_urls;
	m->nurls = sizeof test_urls / sizeof test_urls[0];
	m->parts = test_parts;
	m->nparts = sizeof test_parts / sizeof test_parts[0];
}

static void
test_tokenize_msg(void **state)
{
	struct bayes_tokens	t;
	struct msg		m;

	(void)state;
	test_msg_init(&m);
	bayes_tokens_init(&t, true);
	bayes_tokenize(&m, &t);
	/* Received: hosts with parents, the network, the MTA; not the
	 * queue id or the date. */
	assert_token(&t, "HN:received");
	assert_token(&t, "Hr:mail.spammer.example");
	assert_token(&t, "Hr:spammer.example");
	assert_token(&t, "Hr:dsl-1-2-3-4.isp.example");
	assert_token(&t, "Hr:isp.example");
	assert_token(&t, "Hr:ip:192.0.2.44");
	assert_token(&t, "Hr:ip:192.0.2");
	assert_token(&t, "Hr:ip:192.0");
	assert_token(&t, "Hr:postfix");
	assert_token(&t, "Hr:esmtp");
	assert_no_token(&t, "Hr:4ab12c34d5");
	assert_no_token(&t, "Hr:aug");
	/* Addresses, subject, ids, dates, types, mailer. */
	assert_token(&t, "Hfrom:cheap");
	assert_token(&t, "Hfrom:offers@pills.example");
	assert_token(&t, "Hfrom:D:@pills.example");
	assert_token(&t, "Hto:D:@example.com");
	assert_token(&t, "Hsubject:pills");
	assert_token(&t, "Hsubject:AC:pills");
	assert_token(&t, "Hmid:pills.example");
	assert_token(&t, "Hmid:s:9.x");
	assert_token(&t, "Hdate:tz:-0400");
	assert_token(&t, "Hdate:s:L, 9 L 9 9:9:9 -9");
	assert_token(&t, "Hct:multipart/mixed");
	assert_token(&t, "Hct:b:----=_L_9_9_x.x");
	assert_token(&t, "Hx-mailer:=microsoft outlook express 6.00.2600.0000");
	assert_token(&t, "Hx-mailer:outlook");
	/* Our own and other filters' verdicts teach nothing. */
	assert_no_token(&t, "HN:x-spam-status");
	assert_no_token(&t, "HN:x-moat-spam-score");
	/* Body words. */
	assert_token(&t, "cheap");
	assert_token(&t, "pills");
	assert_token(&t, "buy");
	assert_token(&t, "D:www.pills.example");
	/* URLs: hosts and parents, scheme, path pieces, IP hosts. */
	assert_token(&t, "U:www.pills.example");
	assert_token(&t, "U:pills.example");
	assert_token(&t, "US:http");
	assert_token(&t, "UP:buy");
	assert_token(&t, "UP:now");
	assert_token(&t, "UP:html");
	assert_token(&t, "UP:12345");
	assert_token(&t, "U:ip");
	assert_token(&t, "U:192.0.2.7");
	assert_no_token(&t, "U:0.2.7");
	assert_token(&t, "U:n:2");
	/* Parts. */
	assert_token(&t, "P:multipart/mixed");
	assert_token(&t, "P:text/plain");
	assert_token(&t, "P:cs:us-ascii");
	assert_token(&t, "P:d:attachment");
	assert_token(&t, "P:ext:exe");
	assert_token(&t, "P:fn:invoice.pdf.exe");
	assert_token(&t, "P:fn:invoice");
	assert_token(&t, "P:st:application/x-dosexec");
	assert_token(&t, "P:mismatch");
	assert_token(&t, "P:n:3");
	bayes_tokens_free(&t);
}

static void
test_msg_key(void **state)
{
	static const char lf_raw[] = "Subject: Cheap PILLS now\n"
	    "X-Moat-Spam-Score: 9.0\n\nBuy cheap pills now\n"
	    "at www.pills.example\n\n";
	struct msg	a, b;
	uint64_t	k;

	(void)state;
	test_msg_init(&a);
	test_msg_init(&b);
	k = bayes_msg_key(&a);
	/* LF line ends and an added header field: the same message. */
	b.raw = lf_raw;
	b.raw_len = sizeof lf_raw - 1;
	b.header_len = strstr(lf_raw, "\n\n") + 2 - lf_raw;
	assert_true(bayes_msg_key(&b) == k);
	/* Another Message-ID or body: another message. */
	b.message_id = "<other@pills.example>";
	assert_true(bayes_msg_key(&b) != k);
	test_msg_init(&b);
	b.raw_len -= 3;
	assert_true(bayes_msg_key(&b) != k);
}

/* --- classifier math ------------------------------------------------------ */

static void
test_chi2q(void **state)
{
	(void)state;
	assert_true(fabs(bayes_chi2q(0, 2) - 1.0) < 1e-12);
	assert_true(fabs(bayes_chi2q(2, 2) - exp(-1)) < 1e-12);
	assert_true(fabs(bayes_chi2q(4, 4) - 3 * exp(-2)) < 1e-12);
	/* Q(10, 10) = e^-5 (1 + 5 + 25/2 + 125/6 + 625/24) */
	assert_true(fabs(bayes_chi2q(10, 10) - 0.4404932850652124) < 1e-12);
	/* Tables: Q(3.84, 1 dof) is 0.05 only for odd v; for v = 2,
	 * Q(5.991) = 0.05 and for v = 10, Q(18.307) = 0.05. */
	assert_true(fabs(bayes_chi2q(5.991464547107979, 2) - 0.05) < 1e-9);
	assert_true(fabs(bayes_chi2q(18.307038053275146, 10) - 0.05) < 1e-9);
	/* Huge values: no underflow trouble, no NaN. */
	assert_true(bayes_chi2q(5000, 300) >= 0);
	assert_true(bayes_chi2q(5000, 300) < 1e-100);
	assert_true(fabs(bayes_chi2q(1500, 3000) - 1.0) < 1e-9);
}

static void
test_token_prob(void **state)
{
	/* SpamAssassin's constants. */
	const struct bayes_params	 sa = { 0.030, 0.538, 0.346, 150 };
	const struct bayes_params	*p = &sa;
	double				 f;

	(void)state;
	f = bayes_token_prob(&bayes_params_default, 1, 0, 100, 100);
	assert_true(fabs(f - (0.3 * 0.538 + 1) / 1.3) < 1e-12);
	assert_true(bayes_token_prob(p, 0, 0, 100, 100) < 0);
	assert_true(bayes_token_prob(p, 1, 0, 0, 100) < 0);
	/* A spam-only hapax: (s x + 1) / (s + 1). */
	f = bayes_token_prob(p, 1, 0, 100, 100);
	assert_true(fabs(f - (0.03 * 0.538 + 1) / 1.03) < 1e-12);
	f = bayes_token_prob(p, 0, 1, 100, 100);
	assert_true(fabs(f - (0.03 * 0.538) / 1.03) < 1e-12);
	/* Ratios, not raw counts: 10 of 100 spam vs 10 of 1000 ham. */
	f = bayes_token_prob(p, 10, 10, 100, 1000);
	assert_true(fabs(f - (0.03 * 0.538 + 20 * (0.1 / 0.11)) / 20.03) <
	    1e-12);
	/* Robinson with s = 1, x = 0.5 (the textbook choice). */
	{
		struct bayes_params	rb = { 1.0, 0.5, 0.0, 150 };

		f = bayes_token_prob(&rb, 3, 1, 10, 10);
		assert_true(fabs(f - (0.5 + 4 * 0.75) / 5) < 1e-12);
	}
}

static void
test_combine(void **state)
{
	double	p[150], r;
	size_t	i;

	(void)state;
	assert_true(bayes_combine(NULL, 0) == 0.5);
	for (i = 0; i < 10; i++)
		p[i] = 0.99;
	assert_true(bayes_combine(p, 10) > 0.99);
	for (i = 0; i < 10; i++)
		p[i] = 0.01;
	assert_true(bayes_combine(p, 10) < 0.01);
	p[0] = 0.99;
	p[1] = 0.01;
	assert_true(fabs(bayes_combine(p, 2) - 0.5) < 1e-12);
	/* One token: S = 1 - Q(-2 ln(1-p), 2) = p, H = 1 - p. */
	p[0] = 0.8;
	r = bayes_combine(p, 1);
	assert_true(fabs(r - ((0.8 - 0.2) + 1) / 2) < 1e-12);
	/* 150 extreme tokens: no underflow. */
	for (i = 0; i < 150; i++)
		p[i] = 1e-6;
	r = bayes_combine(p, 150);
	assert_true(r >= 0 && r < 1e-6);
	for (i = 0; i < 150; i++)
		p[i] = 1 - 1e-6;
	r = bayes_combine(p, 150);
	assert_true(r <= 1 && r > 1 - 1e-6);
}

static void
test_classify(void **state)
{
	struct bayes_count	c[400];
	size_t			i, used;
	double			r;

	(void)state;
	/* Middle tokens are ignored; unknown ones too. */
	for (i = 0; i < 10; i++) {
		c[i].spam = 5;
		c[i].ham = 5;
	}
	c[10].spam = c[10].ham = 0;
	r = bayes_classify(&bayes_params_default, c, 11, 100, 100, &used);
	assert_int_equal(used, 0);
	assert_true(r == 0.5);
	/* Mostly spam tokens, a few weaker ham ones. */
	for (i = 0; i < 300; i++) {
		c[i].spam = i % 10 == 0 ? 0 : 20;
		c[i].ham = i % 10 == 0 ? 2 : 0;
	}
	r = bayes_classify(&bayes_params_default, c, 300, 100, 100, &used);
	assert_int_equal(used, 300);
	assert_true(r > 0.99);
	/* Only the most significant count. */
	for (i = 300; i < 400; i++) {
		c[i].spam = 30;
		c[i].ham = 0;
	}
	r = bayes_classify(&bayes_params_default, c, 400, 100, 100, &used);
	assert_int_equal(used, bayes_params_default.significant);
	/* Mostly ham tokens, the spam ones weaker (SpamAssassin's x leans
	 * to spam: equally strong evidence favours spam). */
	for (i = 0; i < 300; i++) {
		c[i].spam = i % 4 == 0 ? 2 : 0;
		c[i].ham = i % 4 == 0 ? 0 : 20;
	}
	r = bayes_classify(&bayes_params_default, c, 300, 100, 100, &used);
	assert_true(r < 0.01);
}

static void
test_findings(void **state)
{
	struct findings	f;

	(void)state;
	findings_init(&f);
	bayes_add_findings(&f, 0.9995, 150);
	assert_true(findings_has(&f, "BAYES_99"));
	assert_true(findings_has(&f, "BAYES_999"));
	assert_int_equal(f.n, 2);
	assert_true(fabs(bayes_points_in(&f) - bayes_points(0.9995)) < 1e-12);
	assert_true(fabs(f.score - bayes_points(0.9995)) < 1e-12);
	findings_free(&f);

	findings_init(&f);
	bayes_add_findings(&f, 1.0, 1);
	assert_true(findings_has(&f, "BAYES_999"));
	findings_free(&f);

	findings_init(&f);
	findings_add(&f, "OTHER_RULE", 2.5, NULL);
	bayes_add_findings(&f, 0.0, 20);
	assert_true(findings_has(&f, "BAYES_00"));
	assert_int_equal(f.n, 2);
	assert_true(bayes_points_in(&f) < 0);
	findings_free(&f);

	/* Every probability falls in exactly one band (BAYES_999 aside). */
	{
		double	p;
		size_t	i, hits;

		for (p = 0; p <= 1.0; p += 0.0005) {
			for (i = 0, hits = 0; i < bayes_nbands; i++)
				if (p >= bayes_bands[i].lo &&
				    p < bayes_bands[i].hi &&
				    strcmp(bayes_bands[i].symbol,
				    "BAYES_999") != 0)
					hits++;
			assert_int_equal(hits, 1);
		}
	}
}

/* --- the store ------------------------------------------------------------ */

static void
store_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void
learn1(struct db_bayes *s, uint64_t key, enum db_bayes_op op,
    const uint64_t *tok, size_t n, enum db_bayes_result want)
{
	struct db_bayes_item	it = { .key = key, .op = op, .tokens = tok,
	    .ntokens = n };
	char			*cause = NULL;

	if (db_bayes_learn(s, &it, 1, &cause) == -1)
		fail_msg("learn: %s", cause);
	assert_int_equal(it.result, want);
}

static void
counts(struct db_bayes *s, uint64_t h, uint32_t *spam, uint32_t *ham,
    uint32_t *nspam, uint32_t *nham)
{
	struct bayes_count	c;

	assert_int_equal(db_bayes_lookup(s, &h, 1, &c, nspam, nham), 0);
	*spam = c.spam;
	*ham = c.ham;
}

static void
test_store_learn(void **state)
{
	struct db_bayes	*s;
	uint64_t	 tok[3] = { 11, 22, 33 }, tok2[2] = { 22, 44 };
	uint32_t	 sp, hm, ns, nh;
	char		 path[128];
	struct db_bayes_stats st;
	char		*cause = NULL;

	(void)state;
	store_path(path, sizeof path, "bayes.db");
	s = db_bayes_get(path);
	/* Nothing is opened before the first use. */
	assert_int_equal(access(path, F_OK), -1);
	counts(s, 11, &sp, &hm, &ns, &nh);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(ns + nh + sp + hm, 0);

	learn1(s, 1, DB_BAYES_SPAM, tok, 3, DB_BAYES_LEARNED);
	learn1(s, 2, DB_BAYES_HAM, tok2, 2, DB_BAYES_LEARNED);
	counts(s, 22, &sp, &hm, &ns, &nh);
	assert_int_equal(sp, 1);
	assert_int_equal(hm, 1);
	assert_int_equal(ns, 1);
	assert_int_equal(nh, 1);
	/* Twice the same: idempotent. */
	learn1(s, 1, DB_BAYES_SPAM, tok, 3, DB_BAYES_ALREADY);
	counts(s, 11, &sp, &hm, &ns, &nh);
	assert_int_equal(sp, 1);
	assert_int_equal(ns, 1);
	/* Autolearn leaves a message someone learned alone. */
	{
		struct db_bayes_item it = { .key = 1, .op = DB_BAYES_HAM,
		    .autolearn = true, .tokens = tok, .ntokens = 3 };

		assert_int_equal(db_bayes_learn(s, &it, 1, &cause), 0);
		assert_int_equal(it.result, DB_BAYES_SKIPPED);
	}
	/* Relearn as the other class: moved. */
	learn1(s, 1, DB_BAYES_HAM, tok, 3, DB_BAYES_RELEARNED);
	counts(s, 11, &sp, &hm, &ns, &nh);
	assert_int_equal(sp, 0);
	assert_int_equal(hm, 1);
	assert_int_equal(ns, 0);
	assert_int_equal(nh, 2);
	counts(s, 22, &sp, &hm, &ns, &nh);
	assert_int_equal(sp, 0);
	assert_int_equal(hm, 2);
	/* Forget: counts go back; tokens at zero disappear. */
	learn1(s, 1, DB_BAYES_FORGET, tok, 3, DB_BAYES_FORGOTTEN);
	learn1(s, 1, DB_BAYES_FORGET, tok, 3, DB_BAYES_UNKNOWN);
	counts(s, 11, &sp, &hm, &ns, &nh);
	assert_int_equal(sp + hm, 0);
	assert_int_equal(ns, 0);
	assert_int_equal(nh, 1);
	assert_int_equal(db_bayes_stats(s, &st, &cause), 0);
	assert_int_equal(st.tokens, 2);		/* 22 and 44 */
	assert_int_equal(st.learned, 1);

	/* The same file is the same store; a new start reads it back. */
	assert_ptr_equal(db_bayes_get(path), s);
	db_bayes_unref(s);
	db_bayes_unref(s);
	s = db_bayes_get(path);
	counts(s, 44, &sp, &hm, &ns, &nh);
	assert_int_equal(hm, 1);
	assert_int_equal(nh, 1);
	assert_int_equal(db_bayes_stats(s, &st, &cause), 0);
	assert_int_equal(st.tokens, 2);
	assert_int_equal(st.learned, 1);
	db_bayes_unref(s);
}

/* Learning is in memory at once and in the file after a batch write. */
static void
test_store_write_behind(void **state)
{
	struct db_bayes		*s;
	struct db_bayes_stats	 st;
	sqlite3			*db;
	sqlite3_stmt		*q;
	uint64_t		 tok[2] = { 5, 6 };
	uint32_t		 sp, hm, ns, nh;
	char			 path[128], *cause = NULL;
	int			 i;

	(void)state;
	store_path(path, sizeof path, "behind.db");
	s = db_bayes_get(path);
	for (i = 0; i < 10; i++)
		learn1(s, 1 + (uint64_t)i, DB_BAYES_SPAM, tok, 2,
		    DB_BAYES_LEARNED);
	/* Forget and learn again within one batch. */
	learn1(s, 1, DB_BAYES_FORGET, tok, 2, DB_BAYES_FORGOTTEN);
	learn1(s, 1, DB_BAYES_HAM, tok, 2, DB_BAYES_LEARNED);
	counts(s, 5, &sp, &hm, &ns, &nh);
	assert_int_equal(sp, 9);
	assert_int_equal(hm, 1);
	assert_int_equal(db_bayes_stats(s, &st, &cause), 0);
	assert_true(st.pending > 0);
	db_bayes_sync(s);
	assert_int_equal(db_bayes_stats(s, &st, &cause), 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.learned, 10);

	/* What another reader of the file sees. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) "
	    "FROM learned), (SELECT spam FROM tokens WHERE h = 5), "
	    "(SELECT ham FROM tokens WHERE h = 5), (SELECT value FROM meta "
	    "WHERE key = 'nspam'), (SELECT value FROM meta WHERE key = "
	    "'nham')", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 10);
	assert_int_equal(sqlite3_column_int(q, 1), 9);
	assert_int_equal(sqlite3_column_int(q, 2), 1);
	assert_int_equal(sqlite3_column_int(q, 3), 9);
	assert_int_equal(sqlite3_column_int(q, 4), 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
	db_bayes_unref(s);
}

static void
test_store_batch(void **state)
{
	struct db_bayes		*s;
	struct db_bayes_item	 items[300];
	uint64_t		 tok[300][50];
	uint32_t		 sp, hm, ns, nh;
	char			 path[128], *cause = NULL;
	size_t			 i, k;

	(void)state;
	store_path(path, sizeof path, "batch.db");
	s = db_bayes_get(path);
	for (i = 0; i < 300; i++) {
		for (k = 0; k < 50; k++)
			tok[i][k] = 1000 + (i % 2) * 100000 + k + i % 7;
		items[i] = (struct db_bayes_item){ .key = 5000 + i,
		    .op = i % 2 ? DB_BAYES_SPAM : DB_BAYES_HAM,
		    .tokens = tok[i], .ntokens = 50 };
	}
	/* The same message twice in a batch counts once. */
	items[299].key = items[297].key;
	assert_int_equal(db_bayes_learn(s, items, 300, &cause), 0);
	assert_int_equal(items[299].result, DB_BAYES_ALREADY);
	counts(s, 100000 + 1000 + 10, &sp, &hm, &ns, &nh);
	assert_int_equal(ns, 149);
	assert_int_equal(nh, 150);
	assert_true(sp > 0);
	assert_int_equal(hm, 0);
	db_bayes_unref(s);
}

static void
test_store_expiry(void **state)
{
	struct db_bayes		*s;
	struct db_bayes_stats	 st;
	uint64_t		 a[2] = { 7, 8 }, b[1] = { 9 }, c = 10;
	uint32_t		 sp, hm, ns, nh;
	char			 path[128], *cause = NULL;
	size_t			 expired;
	uint32_t		 day = 20000, i;

	(void)state;
	store_path(path, sizeof path, "expire.db");
	s = db_bayes_get(path);
	db_bayes_set_today(s, day);
	db_bayes_set_expiry(s, 60, 3);
	learn1(s, 1, DB_BAYES_SPAM, a, 2, DB_BAYES_LEARNED);
	/* Token 9 is common: kept however old. */
	for (i = 0; i < 3; i++)
		learn1(s, 100 + i, DB_BAYES_HAM, b, 1, DB_BAYES_LEARNED);
	/* Not old yet. */
	db_bayes_set_today(s, day + 50);
	assert_int_equal(db_bayes_maintain(s, true, &expired, &cause), 0);
	assert_int_equal(expired, 0);
	counts(s, 7, &sp, &hm, &ns, &nh);	/* 7 seen on day + 50 */
	db_bayes_set_today(s, day + 100);
	assert_int_equal(db_bayes_maintain(s, true, &expired, &cause), 0);
	assert_int_equal(expired, 1);		/* 8 only */
	counts(s, 8, &sp, &hm, &ns, &nh);
	assert_int_equal(sp, 0);
	counts(s, 7, &sp, &hm, &ns, &nh);
	assert_int_equal(sp, 1);
	counts(s, 9, &sp, &hm, &ns, &nh);
	assert_int_equal(hm, 3);
	counts(s, c, &sp, &hm, &ns, &nh);
	assert_int_equal(db_bayes_stats(s, &st, &cause), 0);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.expired_day, day + 100);
	assert_int_equal(st.tokens, 2);
	db_bayes_unref(s);

	/* The access times and the expiry were written. */
	s = db_bayes_get(path);
	db_bayes_set_today(s, day + 100);
	assert_int_equal(db_bayes_stats(s, &st, &cause), 0);
	assert_int_equal(st.tokens, 2);
	db_bayes_set_expiry(s, 60, 3);
	db_bayes_set_today(s, day + 155);
	assert_int_equal(db_bayes_maintain(s, true, &expired, &cause), 0);
	assert_int_equal(expired, 0);		/* 7 was seen on day + 100 */
	db_bayes_set_today(s, day + 170);
	assert_int_equal(db_bayes_maintain(s, true, &expired, &cause), 0);
	assert_int_equal(expired, 1);
	db_bayes_unref(s);
}

static void
test_store_async(void **state)
{
	struct db_bayes		*s;
	struct db_bayes_stats	 st;
	uint64_t		*tok;
	uint32_t		 sp, hm, ns, nh;
	char			 path[128], *cause = NULL;
	int			 i;

	(void)state;
	store_path(path, sizeof path, "async.db");
	s = db_bayes_get(path);
	/* Not loaded yet: autolearn never opens the store itself. */
	tok = calloc(1, sizeof *tok);
	assert_false(db_bayes_learn_async(s, 1, DB_BAYES_SPAM, tok, 1));
	assert_int_equal(db_bayes_load(s, &cause), 0);
	for (i = 0; i < 50; i++) {
		tok = calloc(2, sizeof *tok);
		tok[0] = 77;
		tok[1] = 1000 + (uint64_t)i;
		assert_true(db_bayes_learn_async(s, 10 + (uint64_t)i,
		    i < 20 ? DB_BAYES_SPAM : DB_BAYES_HAM, tok, 2));
	}
	db_bayes_sync(s);
	counts(s, 77, &sp, &hm, &ns, &nh);
	assert_int_equal(sp, 20);
	assert_int_equal(hm, 30);
	assert_int_equal(db_bayes_stats(s, &st, &cause), 0);
	assert_int_equal(st.autolearned, 50);
	assert_int_equal(st.queue_dropped, 1);
	/* Queued work is done before the last reference goes. */
	tok = calloc(1, sizeof *tok);
	tok[0] = 78;
	assert_true(db_bayes_learn_async(s, 999, DB_BAYES_SPAM, tok, 1));
	db_bayes_unref(s);
	s = db_bayes_get(path);
	counts(s, 78, &sp, &hm, &ns, &nh);
	assert_int_equal(sp, 1);
	db_bayes_unref(s);
}

static void
test_store_broken(void **state)
{
	struct db_bayes		*s;
	struct bayes_count	 c;
	uint64_t		 h = 1;
	uint32_t		 ns, nh;
	char			 path[128], *cause = NULL;

	(void)state;
	/* Its folders are made, but not through a file. */
	store_path(path, sizeof path, "a/b/bayes.db");
	s = db_bayes_get(path);
	assert_int_equal(db_bayes_load(s, &cause), 0);
	db_bayes_unref(s);
	store_path(path, sizeof path, "a/b/bayes.db/c/bayes.db");
	s = db_bayes_get(path);
	assert_int_equal(db_bayes_lookup(s, &h, 1, &c, &ns, &nh), -1);
	assert_int_equal(db_bayes_load(s, &cause), -1);
	assert_non_null(strstr(cause, path));
	free(cause);
	db_bayes_unref(s);

	/* Not a database. */
	store_path(path, sizeof path, "junk.db");
	{
		FILE	*f = fopen(path, "w");

		assert_non_null(f);
		fputs("this is not sqlite, not at all, really not\n", f);
		fclose(f);
	}
	s = db_bayes_get(path);
	assert_int_equal(db_bayes_lookup(s, &h, 1, &c, &ns, &nh), -1);
	db_bayes_unref(s);
}

struct reader {
	struct db_bayes	*s;
	volatile int	*stop;
	int		 lookups;
	int		 bad;
};

static void *
reader_main(void *arg)
{
	struct reader		*r = arg;
	struct bayes_count	 c[64];
	uint64_t		 tok[64];
	uint32_t		 ns, nh;
	size_t			 i;

	for (i = 0; i < 64; i++)
		tok[i] = 500 + i;
	while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
		if (db_bayes_lookup(r->s, tok, 64, c, &ns, &nh) == -1) {
			r->bad++;
			break;
		}
		/* A token in every message never counts more than the
		 * messages learned. */
		if (c[0].spam > ns || c[0].ham > nh)
			r->bad++;
		r->lookups++;
	}
	return NULL;
}

static void
test_store_concurrent(void **state)
{
	struct db_bayes	*s;
	struct reader	 r[4];
	pthread_t	 t[4];
	uint64_t	 tok[64];
	uint32_t	 sp, hm, ns, nh;
	char		 path[128], *cause = NULL;
	volatile int	 stop = 0;
	int		 i, k;

	(void)state;
	store_path(path, sizeof path, "concurrent.db");
	s = db_bayes_get(path);
	assert_int_equal(db_bayes_load(s, &cause), 0);
	for (i = 0; i < 4; i++) {
		r[i] = (struct reader){ .s = s, .stop = &stop };
		assert_int_equal(pthread_create(&t[i], NULL, reader_main,
		    &r[i]), 0);
	}
	for (i = 0; i < 200; i++) {
		for (k = 0; k < 64; k++)
			tok[k] = k == 0 ? 500 : 500 + (uint64_t)((i * 7 + k) %
			    64) + (uint64_t)i * 1000;
		learn1(s, 1 + (uint64_t)i, i % 3 ? DB_BAYES_HAM :
		    DB_BAYES_SPAM, tok, 64, DB_BAYES_LEARNED);
		if (i % 50 == 49)	/* relearn some meanwhile */
			learn1(s, 1 + (uint64_t)i, DB_BAYES_SPAM, tok, 64,
			    i % 3 ? DB_BAYES_RELEARNED : DB_BAYES_ALREADY);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].bad, 0);
		assert_true(r[i].lookups > 0);
	}
	counts(s, 500, &sp, &hm, &ns, &nh);
	assert_int_equal(sp + hm, 200);
	assert_int_equal(sp, ns);
	assert_int_equal(hm, nh);
	db_bayes_unref(s);
}

/* --- the filter ----------------------------------------------------------- */

static struct cfg *
load_conf(const char *bayes, char **cause)
{
	char	path[128];
	FILE	*f;

	snprintf(path, sizeof path, "%s/moat.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "storage = { path = \"state/moat.db\"; };\n"
	    "filters = { bayes = { %s }; };\n", bayes);
	fclose(f);
	return cfg_load(path, cause);
}

static void
test_filter_config(void **state)
{
	struct filter_bayes_state	*st;
	struct cfg			*c;
	void				*vs = NULL;
	char				*cause = NULL, want[256];

	(void)state;
	c = load_conf("enabled = true;", &cause);
	assert_non_null(c);
	assert_int_equal(filter_bayes.init(c, &vs, &cause), 0);
	st = vs;
	snprintf(want, sizeof want, "%s/state/bayes.db", dir);
	assert_string_equal(db_bayes_path(st->store), want);
	assert_int_equal(st->min_learned, 200);
	assert_true(st->autolearn);
	/* moatd -t: nothing is created. */
	assert_int_equal(access(want, F_OK), -1);
	filter_bayes.free(vs);
	cfg_unref(c);

	c = load_conf("path = \"b/tokens.db\"; min_learned = 5; "
	    "autolearn = false; autolearn_spam = 8.5; autolearn_ham = -2; "
	    "expire_days = 30; expire_keep_count = 2;", &cause);
	assert_non_null(c);
	assert_int_equal(filter_bayes.init(c, &vs, &cause), 0);
	st = vs;
	snprintf(want, sizeof want, "%s/b/tokens.db", dir);
	assert_string_equal(db_bayes_path(st->store), want);
	assert_int_equal(st->min_learned, 5);
	assert_false(st->autolearn);
	assert_true(st->autolearn_spam == 8.5);
	assert_true(st->autolearn_ham == -2);
	filter_bayes.free(vs);
	cfg_unref(c);

	c = load_conf("colour = \"red\";", &cause);
	assert_non_null(c);
	assert_int_equal(filter_bayes.init(c, &vs, &cause), -1);
	assert_non_null(strstr(cause, "moat.conf:2:"));
	assert_non_null(strstr(cause, "colour"));
	free(cause);
	cfg_unref(c);

	c = load_conf("autolearn_spam = 1.0; autolearn_ham = 2.0;", &cause);
	assert_non_null(c);
	assert_int_equal(filter_bayes.init(c, &vs, &cause), -1);
	assert_non_null(strstr(cause, "autolearn_ham"));
	free(cause);
	cfg_unref(c);

	c = load_conf("min_learned = 0;", &cause);
	assert_non_null(c);
	assert_int_equal(filter_bayes.init(c, &vs, &cause), -1);
	free(cause);
	cfg_unref(c);
}

static void
test_filter_run(void **state)
{
	struct filter_bayes_state	*st;
	struct findings			 f;
	struct scan_ctx			 ctx;
	struct bayes_tokens		 t;
	struct cfg			*c;
	struct msg			 m;
	struct db_bayes_item		 it;
	uint64_t			 ham_tok[3];
	void				*vs = NULL;
	char				*cause = NULL, sub[128];
	size_t				 i;

	(void)state;
	snprintf(sub, sizeof sub, "%s/state", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	c = load_conf("min_learned = 3; autolearn_spam = 6.0; "
	    "autolearn_ham = -1.0;", &cause);
	assert_non_null(c);
	assert_int_equal(filter_bayes.init(c, &vs, &cause), 0);
	st = vs;
	test_msg_init(&m);
	memset(&ctx, 0, sizeof ctx);
	ctx.cfg = c;
	ctx.msg = &m;
	ctx.findings = &f;

	/* Too little learned: no finding. */
	findings_init(&f);
	filter_bayes.run(vs, &ctx);
	assert_int_equal(f.n, 0);
	findings_free(&f);

	/* Learn the message as spam three times (three copies) and three
	 * unrelated hams. */
	bayes_tokens_init(&t, false);
	bayes_tokenize(&m, &t);
	for (i = 0; i < 3; i++) {
		it = (struct db_bayes_item){ .key = 100 + i,
		    .op = DB_BAYES_SPAM, .tokens = t.v, .ntokens = t.n };
		assert_int_equal(db_bayes_learn(st->store, &it, 1, &cause), 0);
		ham_tok[0] = 1 + i;
		ham_tok[1] = bayes_hash("meeting", 7);
		ham_tok[2] = bayes_hash("agenda", 6);
		it = (struct db_bayes_item){ .key = 200 + i,
		    .op = DB_BAYES_HAM, .tokens = ham_tok, .ntokens = 3 };
		assert_int_equal(db_bayes_learn(st->store, &it, 1, &cause), 0);
	}
	bayes_tokens_free(&t);
	findings_init(&f);
	filter_bayes.run(vs, &ctx);
	assert_true(findings_has(&f, "BAYES_99"));
	assert_true(findings_has(&f, "BAYES_999"));
	assert_non_null(strstr(f.v[0].detail, "probability"));

	/* Autolearn judges on the score without Bayes' points. */
	assert_false(filter_bayes_autolearn(vs, &m, &f));
	findings_add(&f, "SOME_RULE", 6.5, NULL);
	assert_true(filter_bayes_autolearn(vs, &m, &f));
	db_bayes_sync(st->store);
	{
		struct db_bayes_stats	s;

		assert_int_equal(db_bayes_stats(st->store, &s, &cause), 0);
		assert_int_equal(s.nspam, 4);
		assert_int_equal(s.autolearned, 1);
	}
	findings_free(&f);
	findings_init(&f);
	findings_add(&f, "GOOD_RULE", -2.0, NULL);
	assert_true(filter_bayes_autolearn(vs, &m, &f));
	db_bayes_sync(st->store);
	{
		struct db_bayes_stats	s;

		/* Learned before (as spam): autolearn leaves it. */
		assert_int_equal(db_bayes_stats(st->store, &s, &cause), 0);
		assert_int_equal(s.nspam, 4);
		assert_int_equal(s.nham, 3);
	}
	findings_free(&f);
	assert_false(filter_bayes_autolearn(NULL, &m, &f));
	filter_bayes.free(vs);
	cfg_unref(c);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_dedup),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_long_words),
		cmocka_unit_test(test_token_limit),
		cmocka_unit_test(test_tokenize_msg),
		cmocka_unit_test(test_msg_key),
		cmocka_unit_test(test_chi2q),
		cmocka_unit_test(test_token_prob),
		cmocka_unit_test(test_combine),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_findings),
		T(test_store_learn),
		T(test_store_write_behind),
		T(test_store_batch),
		T(test_store_expiry),
		T(test_store_async),
		T(test_store_broken),
		T(test_store_concurrent),
		T(test_filter_config),
		T(test_filter_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
