/*
 * SMTP syntax: verbs, paths and parameters, XFORWARD, and the DATA scanner
 * that closes SMTP smuggling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "smtp_parse.h"

static void
test_verbs(void **state)
{
	const char	*arg;

	(void)state;
	assert_int_equal(smtp_parse_verb("EHLO mx.example", &arg), SMTP_EHLO);
	assert_string_equal(arg, "mx.example");
	assert_int_equal(smtp_parse_verb("mail FROM:<a@b>", &arg), SMTP_MAIL);
	assert_string_equal(arg, "FROM:<a@b>");
	assert_int_equal(smtp_parse_verb("LHLO x", &arg), SMTP_LHLO);
	assert_int_equal(smtp_parse_verb("QUIT", &arg), SMTP_QUIT);
	assert_string_equal(arg, "");
	assert_int_equal(smtp_parse_verb("DATAX", &arg), SMTP_UNKNOWN);
	assert_int_equal(smtp_parse_verb("", &arg), SMTP_UNKNOWN);
	assert_int_equal(smtp_parse_verb("XFORWARD ADDR=1.2.3.4", &arg),
	    SMTP_XFORWARD);
}

static void
test_mail(void **state)
{
	struct smtp_mail_args	m;
	char			r[256];

	(void)state;
	assert_int_equal(smtp_parse_mail("FROM:<a@example.com> SIZE=1000 "
	    "BODY=8BITMIME RET=HDRS ENVID=QQ+2Bx", &m, r, sizeof r), 0);
	assert_string_equal(m.addr, "a@example.com");
	assert_true(m.have_size);
	assert_int_equal(m.size, 1000);
	assert_int_equal(m.body, SMTP_BODY_8BITMIME);
	assert_string_equal(m.ret, "HDRS");
	assert_string_equal(m.envid, "QQ+2Bx");

	assert_int_equal(smtp_parse_mail("FROM:<>", &m, r, sizeof r), 0);
	assert_string_equal(m.addr, "");
	assert_int_equal(smtp_parse_mail("FROM: <a@b.c>", &m, r, sizeof r), 0);
	assert_int_equal(smtp_parse_mail("FROM:<@relay.x:a@b.c>", &m, r,
	    sizeof r), 0);
	assert_string_equal(m.addr, "a@b.c");
	assert_int_equal(smtp_parse_mail("FROM:<\"john doe\"@b.c>", &m, r,
	    sizeof r), 0);

	assert_int_equal(smtp_parse_mail("FROM:a@b.c", &m, r, sizeof r), -1);
	assert_memory_equal(r, "501 5.1.7", 9);
	assert_int_equal(smtp_parse_mail("TO:<a@b.c>", &m, r, sizeof r), -1);
	assert_int_equal(smtp_parse_mail("FROM:<a@b.c> FOO=1", &m, r,
	    sizeof r), -1);
	assert_memory_equal(r, "555 5.5.4", 9);
	assert_int_equal(smtp_parse_mail("FROM:<a@b.c> SIZE=-1", &m, r,
	    sizeof r), -1);
	assert_int_equal(smtp_parse_mail("FROM:<a@b.c> BODY=BINARYMIME", &m,
	    r, sizeof r), -1);
	assert_int_equal(smtp_parse_mail("FROM:<a b@c.d>", &m, r, sizeof r),
	    -1);
	assert_int_equal(smtp_parse_mail("FROM:<a@b.c", &m, r, sizeof r), -1);
	assert_int_equal(smtp_parse_mail("FROM:<no-domain>", &m, r, sizeof r),
	    -1);
	/* Non-ASCII needs SMTPUTF8. */
	assert_int_equal(smtp_parse_mail("FROM:<j\xc3\xb6rg@b.c>", &m, r,
	    sizeof r), -1);
	assert_memory_equal(r, "553 5.6.7", 9);
	assert_int_equal(smtp_parse_mail("FROM:<j\xc3\xb6rg@b.c> SMTPUTF8",
	    &m, r, sizeof r), 0);
	assert_true(m.smtputf8);
}

static void
test_path_limits(void **state)
{
	struct smtp_mail_args	 m;
	char			 r[256], line[600];
	char			 local[70];

	(void)state;
	memset(local, 'a', 65);
	local[65] = '\0';
	snprintf(line, sizeof line, "FROM:<%s@b.c>", local);
	assert_int_equal(smtp_parse_mail(line, &m, r, sizeof r), -1);
	local[64] = '\0';
	snprintf(line, sizeof line, "FROM:<%s@b.c>", local);
	assert_int_equal(smtp_parse_mail(line, &m, r, sizeof r), 0);
	memset(line, 'x', sizeof line - 1);
	memcpy(line, "FROM:<a@", 8);
	line[400] = '>';
	line[401] = '\0';
	assert_int_equal(smtp_parse_mail(line, &m, r, sizeof r), -1);
}

static void
test_rcpt(void **state)
{
	struct smtp_rcpt_args	rc;
	char			r[256];

	(void)state;
	assert_int_equal(smtp_parse_rcpt("TO:<b@example.com> "
	    "NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@example.com", &rc, r,
	    sizeof r), 0);
	assert_string_equal(rc.addr, "b@example.com");
	assert_string_equal(rc.notify, "SUCCESS,DELAY");
	assert_string_equal(rc.orcpt, "rfc822;b@example.com");
	assert_int_equal(smtp_parse_rcpt("TO:<postmaster>", &rc, r, sizeof r),
	    0);
	assert_int_equal(smtp_parse_rcpt("TO:<>", &rc, r, sizeof r), -1);
	assert_int_equal(smtp_parse_rcpt("TO:<a@b.c> NOTIFY=bogus!", &rc, r,
	    sizeof r), -1);
	assert_int_equal(smtp_parse_rcpt("FROM:<a@b.c>", &rc, r, sizeof r),
	    -1);
	assert_int_equal(smtp_parse_rcpt("TO:<nobody@@bad>", &rc, r, sizeof r),
	    -1);
	assert_int_equal(smtp_parse_rcpt("TO:<a@b..c>", &rc, r, sizeof r), -1);
	assert_int_equal(smtp_parse_rcpt("TO:<a@b_c.d>", &rc, r, sizeof r),
	    -1);
	assert_int_equal(smtp_parse_rcpt("TO:<a@.b>", &rc, r, sizeof r), -1);
	assert_int_equal(smtp_parse_rcpt("TO:<a@b.c.>", &rc, r, sizeof r), -1);
	assert_int_equal(smtp_parse_rcpt("TO:<a@[192.0.2.1]>", &rc, r,
	    sizeof r), 0);
	assert_int_equal(smtp_parse_rcpt("TO:<\"a@b\"@c.d>", &rc, r,
	    sizeof r), 0);
}

static void
test_xforward(void **state)
{
	struct smtp_xforward	x;
	char			r[256];

	(void)state;
	memset(&x, 0, sizeof x);
	assert_int_equal(smtp_parse_xforward("NAME=mx.example ADDR=192.0.2.7 "
	    "PORT=25 HELO=mx+2Eexample PROTO=ESMTP SOURCE=REMOTE", &x, r,
	    sizeof r), 0);
	assert_string_equal(x.name, "mx.example");
	assert_string_equal(x.addr, "192.0.2.7");
	assert_string_equal(x.helo, "mx.example");
	assert_string_equal(x.source, "REMOTE");
	assert_int_equal(smtp_parse_xforward("ADDR=IPV6:2001:db8::1 "
	    "NAME=[UNAVAILABLE]", &x, r, sizeof r), 0);
	assert_string_equal(x.addr, "2001:db8::1");
	assert_string_equal(x.name, "");
	assert_int_equal(smtp_parse_xforward("BOGUS=1", &x, r, sizeof r), -1);
	assert_int_equal(smtp_parse_xforward("", &x, r, sizeof r), -1);
}

static int
collect(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n);
}

/* Feed in one go, then byte by byte: both must agree. */
static size_t
scan(const char *wire, size_t len, struct smtp_data *d, struct buf *out)
{
	struct smtp_data	d2;
	struct buf		out2;
	size_t			used, used2 = 0;

	buf_init(out, 1 << 20);
	smtp_data_init(d, 1 << 20);
	used = smtp_data_feed(d, wire, len, collect, out);

	buf_init(&out2, 1 << 20);
	smtp_data_init(&d2, 1 << 20);
	while (used2 < len && !d2.done)
		used2 += smtp_data_feed(&d2, wire + used2, 1, collect, &out2);
	assert_int_equal(used, used2);
	assert_int_equal(d->flags, d2.flags);
	assert_int_equal(d->done, d2.done);
	/* After an error nothing is kept, so only clean data must agree. */
	if (d->flags == 0) {
		assert_int_equal(out->len, out2.len);
		if (out->len > 0)
			assert_memory_equal(out->data, out2.data, out->len);
	}
	buf_free(&out2);
	return used;
}

static void
test_data_plain(void **state)
{
	static const char	 wire[] = "Subject: x\r\n\r\nline\r\n..dot\r\n"
				    ".\r\nQUIT\r\n";
	struct smtp_data	 d;
	struct buf		 out;
	size_t			 used;

	(void)state;
	used = scan(wire, sizeof wire - 1, &d, &out);
	assert_true(d.done);
	assert_int_equal(d.flags, 0);
	assert_int_equal(used, sizeof wire - 1 - strlen("QUIT\r\n"));
	assert_string_equal(out.data, "Subject: x\r\n\r\nline\r\n.dot\r\n");
	assert_null(smtp_data_reply(&d));
	buf_free(&out);
}

static void
test_data_empty(void **state)
{
	struct smtp_data	d;
	struct buf		out;

	(void)state;
	assert_int_equal(scan(".\r\n", 3, &d, &out), 3);
	assert_true(d.done);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

static void
test_data_smuggling(void **state)
{
	/* Each must not end DATA early, and must be refused. */
	static const struct {
		const char	*wire;
		unsigned	 flag;
	} cases[] = {
		{ "a\n.\nMAIL FROM:<x@y.z>\r\n.\r\n", SMTP_DATA_BARE_LF },
		{ "a\r\n.\nMAIL FROM:<x@y.z>\r\n.\r\n", SMTP_DATA_BARE_LF },
		{ "a\n.\r\nMAIL FROM:<x@y.z>\r\n.\r\n", SMTP_DATA_BARE_LF },
		{ "a\r.\rMAIL FROM:<x@y.z>\r\n.\r\n", SMTP_DATA_BARE_CR },
		{ "a\r\n.\rMAIL FROM:<x@y.z>\r\n.\r\n", SMTP_DATA_BARE_CR },
		{ "a\0" "b\r\n.\r\n", SMTP_DATA_NUL },
	};
	struct smtp_data	d;
	struct buf		out;
	size_t			i, len;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		len = i == 5 ? 8 : strlen(cases[i].wire);
		assert_int_equal(scan(cases[i].wire, len, &d, &out), len);
		assert_true(d.done);
		assert_true(d.flags & cases[i].flag);
		assert_non_null(smtp_data_reply(&d));
		assert_memory_equal(smtp_data_reply(&d), "550 5.6.0", 9);
		buf_free(&out);
	}
}

static void
test_data_long_line(void **state)
{
	char			*wire;
	struct smtp_data	 d;
	struct buf		 out;

	(void)state;
	wire = malloc(1200);
	memset(wire, 'x', 998);
	memcpy(wire + 998, "\r\n.\r\n", 5);
	scan(wire, 1003, &d, &out);
	assert_int_equal(d.flags, 0);
	buf_free(&out);
	memset(wire, 'x', 999);
	memcpy(wire + 999, "\r\n.\r\n", 5);
	scan(wire, 1004, &d, &out);
	assert_true(d.flags & SMTP_DATA_LONG_LINE);
	buf_free(&out);
	free(wire);
}

static void
test_data_too_big(void **state)
{
	struct smtp_data	d;
	struct buf		out;
	static const char	wire[] = "0123456789\r\n0123456789\r\n.\r\n";

	(void)state;
	buf_init(&out, 1 << 20);
	smtp_data_init(&d, 15);
	assert_int_equal(smtp_data_feed(&d, wire, sizeof wire - 1, collect,
	    &out), sizeof wire - 1);
	assert_true(d.done);
	assert_true(d.flags & SMTP_DATA_TOO_BIG);
	assert_memory_equal(smtp_data_reply(&d), "552 5.3.4", 9);
	assert_true(out.len <= 15);
	buf_free(&out);
}

static void
test_data_eight_bit(void **state)
{
	struct smtp_data	d;
	struct buf		out;
	static const char	wire[] = "Gr\xc3\xbc\xc3\x9f\x65\r\n.\r\n";

	(void)state;
	scan(wire, sizeof wire - 1, &d, &out);
	assert_true(d.eight_bit);
	assert_int_equal(d.flags, 0);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_xforward),
		cmocka_unit_test(test_data_plain),
		cmocka_unit_test(test_data_empty),
		cmocka_unit_test(test_data_smuggling),
		cmocka_unit_test(test_data_long_line),
		cmocka_unit_test(test_data_too_big),
		cmocka_unit_test(test_data_eight_bit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
