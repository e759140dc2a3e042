/*
 * MIME analysis: headers, parts, transfer decoding, charsets, HTML to text,
 * URLs with link texts, sniffed types, and malformed input that must stay
 * bounded (missing boundaries, bad base64, deep nesting, NUL bytes, empty
 * and header-only messages). Fixtures: tests/fixtures/mime/ (run from the
 * top of the tree, as run-tests.sh does).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "buf.h"
#include "mime.h"
#include "msg.h"
#include "xmalloc.h"

#define FIXTURES	"tests/fixtures/mime/"

struct loaded {
	char		*raw;
	struct msg	*m;
};

static struct msg *
parse_file(struct loaded *l, const char *name)
{
	char	 path[256];
	FILE	*f;
	long	 n;

	snprintf(path, sizeof path, "%s%s", FIXTURES, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	l->raw = xmalloc((size_t)n + 1);
	assert_int_equal(fread(l->raw, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	l->m = mime_parse(l->raw, (size_t)n);
	assert_non_null(l->m);
	return l->m;
}

static void
loaded_free(struct loaded *l)
{
	msg_free(l->m);
	free(l->raw);
}

/* The URL whose url is s (and link text t unless NULL), or NULL. */
static const struct msg_url *
find_url(const struct msg *m, const char *s, const char *t)
{
	size_t	i;

	for (i = 0; i < m->nurls; i++)
		if (strcmp(m->urls[i].url, s) == 0 && (t == NULL ||
		    (m->urls[i].text != NULL && strcmp(m->urls[i].text, t) ==
		    0)))
			return &m->urls[i];
	return NULL;
}

static bool
has_host(const struct msg *m, const char *h)
{
	size_t	i;

	for (i = 0; i < m->nurls; i++)
		if (strcmp(m->urls[i].host, h) == 0)
			return true;
	return false;
}

/* Every string of a msg is a C string of its stated length. */
static void
check_invariants(const struct msg *m)
{
	size_t	i;

	assert_non_null(m->body_text);
	assert_int_equal(strlen(m->body_text), m->body_text_len);
	assert_true(m->body_text_len <= MSG_TEXT_MAX);
	assert_true(g_utf8_validate(m->body_text, -1, NULL));
	assert_true(m->nparts <= MSG_PARTS_MAX);
	assert_true(m->nheaders <= MSG_HEADERS_MAX);
	assert_true(m->nurls <= MSG_URLS_MAX);
	assert_true(m->header_len <= m->raw_len);
	for (i = 0; i < m->nheaders; i++)
		assert_true(g_utf8_validate(m->headers[i].value, -1, NULL));
	for (i = 0; i < m->nparts; i++) {
		const struct msg_part *p = &m->parts[i];

		assert_int_equal(p->index, (int)i);
		assert_true(p->parent < (int)i);
		assert_true(p->depth < MSG_DEPTH_MAX);
		if (p->parent >= 0)
			assert_int_equal(p->depth, m->parts[p->parent].depth +
			    1);
		assert_non_null(p->content_type);
		assert_true(p->raw_offset + p->raw_len <= m->raw_len);
		assert_true(p->len <= MSG_PART_DATA_MAX);
		if (p->text != NULL) {
			assert_int_equal(strlen(p->text), p->text_len);
			assert_true(g_utf8_validate(p->text, -1, NULL));
		}
	}
	for (i = 0; i < m->nurls; i++) {
		assert_non_null(m->urls[i].url);
		assert_non_null(m->urls[i].host);
		assert_true(m->urls[i].part >= 0 &&
		    (size_t)m->urls[i].part < m->nparts);
	}
}

static void
test_plain(void **state)
{
	struct loaded		 l;
	struct msg		*m = parse_file(&l, "plain.eml");
	const struct msg_header	*h;

	(void)state;
	check_invariants(m);
	assert_int_equal(m->flags, 0);
	assert_int_equal(m->nheaders, 10);
	assert_string_equal(m->headers[0].name, "Return-Path");
	assert_string_equal(m->subject, "Lunch plans for Friday");
	assert_string_equal(m->from_addr, "alice@example.org");
	assert_string_equal(m->from_name, "Alice Example");
	assert_string_equal(m->reply_to_addr, "replies@example.net");
	assert_string_equal(m->to_addrs, "bob@example.com,carol@example.com");
	assert_string_equal(m->message_id, "<plain.1@example.org>");
	assert_string_equal(m->date, "Tue, 24 Nov 2026 10:00:00 +0000");
	assert_int_equal(m->date_time, 1795514400);
	h = msg_header(m, "RECEIVED");
	assert_non_null(h);
	assert_non_null(strstr(h->raw, "[192.0.2.1])\tby moat.test"));
	assert_null(strchr(h->raw, '\n'));
	assert_null(msg_header(m, "X-None"));
	assert_true(m->raw[m->header_len] == '\r');
	assert_int_equal(m->nparts, 1);
	assert_string_equal(m->parts[0].content_type, "text/plain");
	assert_string_equal(m->parts[0].charset, "us-ascii");
	assert_true(m->parts[0].is_text);
	assert_false(m->parts[0].is_attachment);
	assert_int_equal(m->parts[0].parent, -1);
	assert_null(strchr(m->parts[0].text, '\r'));
	assert_int_equal(strncmp(m->body_text, "Lunch plans for Friday\nHi "
	    "Bob,\n", 30), 0);
	/* Plain-text URLs: www. and schemes, trailing punctuation cut. */
	assert_int_equal(m->nurls, 2);
	assert_non_null(find_url(m, "http://www.lunch.example/menu", NULL));
	assert_non_null(find_url(m,
	    "https://lunch.example:8443/Menu?day=fri", NULL));
	assert_true(has_host(m, "lunch.example"));
	assert_false(m->urls[0].from_html);
	assert_null(m->urls[0].text);
	loaded_free(&l);
}

static void
test_mixed_attachments(void **state)
{
	struct loaded	 l;
	struct msg	*m = parse_file(&l, "mixed.eml");

	(void)state;
	check_invariants(m);
	assert_int_equal(m->flags, 0);
	assert_string_equal(m->subject, "Report über Äpfel");
	assert_string_equal(m->from_name, "Jürgen Müller");
	assert_string_equal(m->from_addr, "jm@example.de");
	/* raw keeps the encoded-word */
	assert_non_null(strstr(msg_header(m, "subject")->raw, "=?UTF-8?B?"));
	assert_int_equal(m->nparts, 4);
	assert_string_equal(m->parts[0].content_type, "multipart/mixed");
	assert_null(m->parts[0].data);
	assert_string_equal(m->parts[1].text, "Anbei der Bericht über Äpfel.\n");
	/* RFC 2231 file name in UTF-8 */
	assert_string_equal(m->parts[2].filename, "Résumé 2026.pdf");
	assert_string_equal(m->parts[2].disposition, "attachment");
	assert_string_equal(m->parts[2].transfer_encoding, "base64");
	assert_true(m->parts[2].is_attachment);
	assert_false(m->parts[2].is_text);
	assert_null(m->parts[2].text);
	assert_int_equal(memcmp(m->parts[2].data, "%PDF-1.4\n", 9), 0);
	assert_string_equal(m->parts[2].sniffed_type, "application/pdf");
	/* RFC 2047 file name; quoted-printable with a soft break */
	assert_string_equal(m->parts[3].filename, "Äpfel.txt");
	assert_true(m->parts[3].is_attachment);
	assert_true(m->parts[3].is_text);
	assert_string_equal(m->parts[3].text,
	    "Apfel=Pomme, line one\nsoft break and ä");
	assert_non_null(strstr(m->body_text, "soft break and ä"));
	/* raw offsets point at each part's headers */
	assert_int_equal(strncmp(m->raw + m->parts[2].raw_offset,
	    "Content-Type: application/pdf", 29), 0);
	loaded_free(&l);
}

static void
test_alternative_html(void **state)
{
	struct loaded		 l;
	struct msg		*m = parse_file(&l, "alternative.eml");
	const struct msg_url	*u;
	const char		*t;
	size_t			 i;

	(void)state;
	check_invariants(m);
	assert_int_equal(m->nparts, 3);
	assert_true(m->parts[2].is_html);
	assert_string_equal(m->parts[2].sniffed_type, "text/html");
	t = m->parts[2].text;
	/* link text against the real target */
	u = find_url(m, "http://evil.example/login?x=1&y=2", "www.paypal.com");
	assert_non_null(u);
	assert_true(u->from_html);
	assert_string_equal(u->host, "evil.example");
	assert_int_equal(u->part, 2);
	/* IDN host as punycode; link text across inline tags */
	u = find_url(m, "https://bücher.example/p", "Shop now");
	assert_non_null(u);
	assert_string_equal(u->host, "xn--bcher-kva.example");
	assert_non_null(find_url(m, "http://img.example/pixel.gif", NULL));
	assert_non_null(find_url(m, "https://form.example/post", NULL));
	assert_non_null(find_url(m, "http://area.example/", NULL));
	assert_non_null(find_url(m, "http://unquoted.example/path",
	    "unquoted"));
	/* the plain part's copy of the same URL, without link text */
	u = find_url(m, "http://evil.example/login?x=1&y=2", NULL);
	assert_non_null(u);
	/* what the user sees in the link text is a URL too */
	assert_true(has_host(m, "www.paypal.com"));
	/* nothing from script, comments, javascript: or fragments */
	assert_false(has_host(m, "script.example"));
	assert_false(has_host(m, "comment.example"));
	for (i = 0; i < m->nurls; i++) {
		assert_null(strstr(m->urls[i].url, "javascript"));
		assert_null(strstr(m->urls[i].url, "#top"));
	}
	/* visible text only, entities decoded, blocks on their own lines */
	assert_null(strstr(t, "Secret title"));
	assert_null(strstr(t, "color"));
	assert_null(strstr(t, "var x"));
	assert_null(strstr(t, "hidden"));
	assert_null(strstr(t, "<b>"));
	assert_non_null(strstr(t, "Dear customer,\nYour account & card are "
	    "suspended.\n"));
	assert_non_null(strstr(t, "Café €5 — ☺ <tag> 5 < 6"));
	/* body_text: subject, then both alternatives (as SpamAssassin) */
	assert_int_equal(strncmp(m->body_text, "Account suspended\nDear "
	    "customer, visit", 34), 0);
	assert_non_null(strstr(m->body_text, "Shop now"));
	loaded_free(&l);
}

static void
test_charsets(void **state)
{
	struct loaded	 l;
	struct msg	*m = parse_file(&l, "charsets.eml");

	(void)state;
	check_invariants(m);
	assert_string_equal(m->subject, "café");
	assert_int_equal(m->nparts, 6);
	assert_string_equal(m->parts[1].charset, "iso-8859-1");
	assert_string_equal(m->parts[1].text, "Café déjà vu");
	assert_string_equal(m->parts[2].charset, "windows-1252");
	assert_string_equal(m->parts[2].text,
	    "€ \xe2\x80\x9cquoted\xe2\x80\x9d – dash");
	assert_string_equal(m->parts[3].charset, "utf-8");
	assert_string_equal(m->parts[3].text, "Grüße aus Köln");
	assert_string_equal(m->parts[4].charset, "koi8-r");
	assert_string_equal(m->parts[4].text, "Привет, мир");
	/* unknown charset: UTF-8 where valid, else windows-1252 */
	assert_string_equal(m->parts[5].text, "Naïve bytes");
	loaded_free(&l);
}

static void
test_nested_rfc822(void **state)
{
	struct loaded	 l;
	struct msg	*m = parse_file(&l, "nested.eml");

	(void)state;
	check_invariants(m);
	assert_int_equal(m->nparts, 6);
	assert_string_equal(m->parts[2].content_type, "message/rfc822");
	assert_true(m->parts[2].is_attachment);
	assert_string_equal(m->parts[3].content_type, "multipart/alternative");
	assert_int_equal(m->parts[3].parent, 2);
	assert_int_equal(m->parts[3].depth, 2);
	assert_int_equal(m->parts[4].parent, 3);
	assert_int_equal(m->parts[5].depth, 3);
	assert_true(m->parts[5].is_html);
	/* the inner message's headers are not the outer's */
	assert_string_equal(m->subject, "Fwd: inner");
	assert_int_equal(strncmp(m->raw + m->parts[3].raw_offset,
	    "From: inner@example.net", 23), 0);
	assert_non_null(find_url(m, "https://inner.example/x", NULL));
	assert_non_null(find_url(m, "https://inner.example/html", "html"));
	assert_non_null(strstr(m->body_text, "Inner text with"));
	loaded_free(&l);
}

static void
test_exe_named_pdf(void **state)
{
	struct loaded	 l;
	struct msg	*m = parse_file(&l, "exe_as_pdf.eml");
	const char	*st;

	(void)state;
	check_invariants(m);
	assert_int_equal(m->nparts, 3);
	assert_string_equal(m->parts[2].filename, "invoice.pdf");
	assert_string_equal(m->parts[2].content_type, "application/pdf");
	st = m->parts[2].sniffed_type;
	assert_non_null(st);
	assert_string_not_equal(st, "application/pdf");
	assert_true(strstr(st, "executable") != NULL ||
	    strstr(st, "dosexec") != NULL);
	assert_int_equal(memcmp(m->parts[2].data, "MZ", 2), 0);
	loaded_free(&l);
}

static void
test_missing_end_boundary(void **state)
{
	struct loaded	 l;
	struct msg	*m = parse_file(&l, "no_end_boundary.eml");

	(void)state;
	check_invariants(m);
	assert_true(m->flags & MSG_MALFORMED);
	assert_true(m->mime_warnings & MSG_W_TRUNCATED);
	assert_int_equal(m->nparts, 3);
	assert_non_null(strstr(m->parts[2].text, "never comes"));
	loaded_free(&l);
}

static void
test_bad_base64(void **state)
{
	struct loaded	 l;
	struct msg	*m = parse_file(&l, "bad_base64.eml");

	(void)state;
	check_invariants(m);
	assert_true(m->flags & MSG_MALFORMED);
	assert_true(m->mime_warnings & MSG_W_BAD_BASE64);
	assert_int_equal(m->parts[0].len, 16);
	assert_memory_equal(m->parts[0].data, "Hello worldextra", 16);
	loaded_free(&l);
}

static void
test_header_without_colon(void **state)
{
	struct loaded	 l;
	struct msg	*m = parse_file(&l, "header_no_colon.eml");

	(void)state;
	check_invariants(m);
	assert_true(m->mime_warnings & MSG_W_BAD_HEADER);
	assert_true(m->flags & MSG_MALFORMED);
	assert_int_equal(m->nheaders, 3);
	assert_string_equal(m->subject, "still parsed");
	assert_non_null(strstr(m->body_text, "body after a broken header"));
	loaded_free(&l);
}

static void
test_headers_only(void **state)
{
	struct loaded	 l;
	struct msg	*m = parse_file(&l, "headers_only.eml");

	(void)state;
	check_invariants(m);
	assert_int_equal(m->flags & MSG_MALFORMED, 0);
	assert_int_equal(m->nheaders, 3);
	assert_int_equal(m->header_len, m->raw_len);
	assert_int_equal(m->nparts, 1);
	assert_int_equal(m->parts[0].len, 0);
	assert_string_equal(m->body_text, "nothing else\n");
	loaded_free(&l);
}

static void
test_empty(void **state)
{
	struct msg	*m = mime_parse("", 0);

	(void)state;
	check_invariants(m);
	assert_true(m->flags & MSG_NO_HEADERS);
	assert_int_equal(m->nparts, 0);
	assert_int_equal(m->nheaders, 0);
	assert_null(m->subject);
	assert_int_equal(m->date_time, -1);
	msg_free(m);
	msg_free(NULL);
}

static void
test_no_headers(void **state)
{
	static const char	 raw[] =
	    "just a body line, see www.x.example\r\n";
	struct msg		*m = mime_parse(raw, sizeof raw - 1);

	(void)state;
	check_invariants(m);
	assert_true(m->flags & MSG_NO_HEADERS);
	assert_true(m->mime_warnings & MSG_W_NO_MESSAGE);
	/* still analysed: the whole input as one text part */
	assert_int_equal(m->nparts, 1);
	assert_non_null(strstr(m->body_text, "just a body line"));
	assert_true(has_host(m, "www.x.example"));
	msg_free(m);
}

static void
test_mbox_line(void **state)
{
	static const char	 raw[] = "From sender@example.org Tue Nov 24 "
	    "10:00:00 2026\r\nFrom: sender@example.org\r\nSubject: mbox\r\n"
	    "\r\nbody\r\n";
	struct msg		*m = mime_parse(raw, sizeof raw - 1);

	(void)state;
	check_invariants(m);
	assert_int_equal(m->flags, 0);
	assert_int_equal(m->nheaders, 2);
	assert_string_equal(m->from_addr, "sender@example.org");
	assert_string_equal(m->body_text, "mbox\nbody\n");
	msg_free(m);
}

static void
test_header_checks(void **state)
{
	static const char	 raw[] = "From: a@example.org\r\n"
	    "Received: one\r\nReceived: two\r\n"
	    "Subject: one\r\nSubject: two\r\nTo: ,,,\r\n"
	    "X-Raw: caf\xe9 =?utf-8?q?broken\r\n"
	    "Content-Type: textplain\r\n\r\nbody\r\n";
	struct msg		*m = mime_parse(raw, sizeof raw - 1);
	const struct msg_header	*h;

	(void)state;
	check_invariants(m);
	assert_true(m->mime_warnings & MSG_W_CONFLICT);	/* Subject */
	assert_false(m->mime_warnings & MSG_W_DUP_HEADER);	/* Received */
	assert_true(m->mime_warnings & MSG_W_BAD_ADDRESS);
	assert_true(m->mime_warnings & MSG_W_8BIT_HEADER);
	assert_true(m->mime_warnings & MSG_W_BAD_CONTENT_TYPE);
	assert_true(m->flags & MSG_MALFORMED);
	assert_string_equal(m->subject, "one");
	h = msg_header(m, "x-raw");
	assert_string_equal(h->value, "café =?utf-8?q?broken");
	assert_string_equal(h->raw, "caf\xe9 =?utf-8?q?broken");
	msg_free(m);
}

static void
test_nul_bytes(void **state)
{
	static const char	 raw[] =
	    "From: a@example.org\r\nSubject: a\0b\r\n"
	    "Content-Type: text/html\r\n\r\n<p>one\0two</p>"
	    "<a href=\"http://x.example/\0y\">t\0t</a>\r\n";
	struct msg		*m = mime_parse(raw, sizeof raw - 1);

	(void)state;
	check_invariants(m);
	assert_int_equal(m->nparts, 1);
	assert_int_equal(m->parts[0].len, 53);
	assert_non_null(strstr(m->parts[0].text, "one two"));
	msg_free(m);
}

/* --- transfer decoding edge cases, built in memory --------------------- */

static struct msg *
parse_body(const char *cte, const char *body)
{
	char	*raw;

	xasprintf(&raw, "From: a@example.org\r\nContent-Type: application/"
	    "octet-stream\r\nContent-Transfer-Encoding: %s\r\n\r\n%s", cte,
	    body);
	return mime_parse(raw, strlen(raw));
}

static void
parse_body_free(struct msg *m)
{
	free((char *)(uintptr_t)m->raw);
	msg_free(m);
}

static void
test_decoding(void **state)
{
	struct msg	*m;

	(void)state;
	/* base64 without padding, split over lines */
	m = parse_body("base64", "SGVs\r\nbG8\r\n");
	assert_int_equal(m->parts[0].len, 5);
	assert_memory_equal(m->parts[0].data, "Hello", 5);
	assert_int_equal(m->flags & MSG_MALFORMED, 0);
	parse_body_free(m);
	/* base64 with padding and binary output */
	m = parse_body("BASE64", "AP8A/w==\r\n");
	assert_int_equal(m->parts[0].len, 4);
	assert_memory_equal(m->parts[0].data, "\0\xff\0\xff", 4);
	parse_body_free(m);
	/* one dangling character is an error */
	m = parse_body("base64", "QUJD\r\nR\r\n");
	assert_true(m->mime_warnings & MSG_W_BAD_BASE64);
	assert_memory_equal(m->parts[0].data, "ABC", 3);
	parse_body_free(m);
	/* quoted-printable: hex (either case), soft breaks with trailing
	 * blanks, a stray '=' kept */
	m = parse_body("quoted-printable", "a=3Db=3db=\r\nc= \r\nd=ZZ=\r\n");
	assert_int_equal(m->parts[0].len, 10);
	assert_memory_equal(m->parts[0].data, "a=b=bcd=ZZ", 10);
	assert_true(m->mime_warnings & MSG_W_BAD_QP);
	parse_body_free(m);
	/* 8bit and unknown encodings pass through */
	m = parse_body("x-unknown", "as is\r\n");
	assert_memory_equal(m->parts[0].data, "as is\r\n", 7);
	parse_body_free(m);
}

/* --- bounds ------------------------------------------------------------- */

static void
test_deep_nesting(void **state)
{
	struct buf	 b;
	struct msg	*m;
	int		 i, n = 10000;

	(void)state;
	buf_init(&b, 64 * 1024 * 1024);
	assert_int_equal(buf_appendf(&b, "From: a@example.org\r\nSubject: "
	    "deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n"),
	    0);
	for (i = 1; i < n; i++)
		assert_int_equal(buf_appendf(&b, "--b%d\r\nContent-Type: "
		    "multipart/mixed; boundary=\"b%d\"\r\n\r\n", i - 1, i), 0);
	assert_int_equal(buf_appendf(&b, "--b%d\r\nContent-Type: text/plain"
	    "\r\n\r\ndeep text\r\n", n - 1), 0);
	for (i = n - 1; i >= 0; i--)
		assert_int_equal(buf_appendf(&b, "--b%d--\r\n", i), 0);
	m = mime_parse(b.data, b.len);
	check_invariants(m);
	assert_true(m->flags & MSG_TRUNCATED);
	assert_true(m->mime_warnings & MSG_W_NESTING);
	assert_int_equal(m->nparts, MSG_DEPTH_MAX);
	assert_int_equal(m->parts[MSG_DEPTH_MAX - 1].depth, MSG_DEPTH_MAX - 1);
	msg_free(m);
	buf_free(&b);
}

static void
test_many_parts(void **state)
{
	struct buf	 b;
	struct msg	*m;
	int		 i;

	(void)state;
	buf_init(&b, 64 * 1024 * 1024);
	assert_int_equal(buf_appendf(&b, "From: a@example.org\r\nContent-Type: "
	    "multipart/mixed; boundary=\"x\"\r\n\r\n"), 0);
	for (i = 0; i < MSG_PARTS_MAX + 50; i++)
		assert_int_equal(buf_appendf(&b, "--x\r\nContent-Type: text/"
		    "plain\r\n\r\npart %d http://h%d.example/\r\n", i, i), 0);
	assert_int_equal(buf_appendf(&b, "--x--\r\n"), 0);
	m = mime_parse(b.data, b.len);
	check_invariants(m);
	assert_true(m->flags & MSG_TRUNCATED);
	assert_int_equal(m->nparts, MSG_PARTS_MAX);
	assert_int_equal(m->nurls, MSG_PARTS_MAX - 1);
	msg_free(m);
	buf_free(&b);
}

/* Input that would make GMime build millions of objects is cut first. */
static void
test_absurd_structure(void **state)
{
	struct buf	 b;
	struct msg	*m;
	int		 i;

	(void)state;
	/* 100,000 empty parts */
	buf_init(&b, 64 * 1024 * 1024);
	assert_int_equal(buf_appendf(&b, "From: a@example.org\r\nContent-Type: "
	    "multipart/mixed;\r\n boundary=\"x\"\r\n\r\n"), 0);
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_append(&b, "--x\r\n\r\n", 7), 0);
	assert_int_equal(buf_appendf(&b, "--x--\r\n"), 0);
	m = mime_parse(b.data, b.len);
	check_invariants(m);
	assert_true(m->mime_warnings & MSG_W_CUT);
	assert_true(m->flags & MSG_TRUNCATED);
	assert_true(m->flags & MSG_MALFORMED);
	assert_int_equal(m->nparts, MSG_PARTS_MAX);
	msg_free(m);
	buf_free(&b);

	/* 100,000 header fields */
	buf_init(&b, 64 * 1024 * 1024);
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_appendf(&b, "X-H%d: v\r\n", i), 0);
	assert_int_equal(buf_appendf(&b, "\r\nbody\r\n"), 0);
	m = mime_parse(b.data, b.len);
	check_invariants(m);
	assert_true(m->mime_warnings & MSG_W_CUT);
	assert_int_equal(m->nheaders, MSG_HEADERS_MAX);
	msg_free(m);
	buf_free(&b);

	/* a 2 MB folded header */
	buf_init(&b, 64 * 1024 * 1024);
	assert_int_equal(buf_appendf(&b, "From: a@example.org\r\nSubject: x"),
	    0);
	for (i = 0; i < 200000; i++)
		assert_int_equal(buf_append(&b, "\r\n word wo", 11), 0);
	assert_int_equal(buf_appendf(&b, "\r\n\r\nbody\r\n"), 0);
	m = mime_parse(b.data, b.len);
	check_invariants(m);
	assert_true(m->mime_warnings & MSG_W_CUT);
	assert_true(m->parsed_len < m->raw_len);
	assert_true(strlen(m->subject) <= 1024 * 1024);
	msg_free(m);
	buf_free(&b);

	/* but long ordinary text is left whole */
	buf_init(&b, 64 * 1024 * 1024);
	assert_int_equal(buf_appendf(&b, "From: a@example.org\r\nContent-Type: "
	    "multipart/mixed; boundary=\"y\"\r\n\r\n--y\r\n\r\n"), 0);
	for (i = 0; i < 30000; i++)
		assert_int_equal(buf_appendf(&b, "-- line %d, see: it\r\n", i),
		    0);
	assert_int_equal(buf_appendf(&b, "--y\r\n\r\nlast\r\n--y--\r\n"),
	    0);
	m = mime_parse(b.data, b.len);
	check_invariants(m);
	assert_int_equal(m->flags, 0);
	assert_int_equal(m->parsed_len, m->raw_len);
	assert_int_equal(m->nparts, 3);
	assert_string_equal(m->parts[2].text, "last");
	msg_free(m);
	buf_free(&b);
}

static void
test_many_urls(void **state)
{
	struct buf	 b;
	struct msg	*m;
	int		 i;

	(void)state;
	buf_init(&b, 64 * 1024 * 1024);
	assert_int_equal(buf_appendf(&b, "From: a@example.org\r\nContent-Type: "
	    "text/html\r\n\r\n"), 0);
	for (i = 0; i < MSG_URLS_MAX + 100; i++)
		assert_int_equal(buf_appendf(&b, "<a href=\"http://h%d.example/"
		    "\">x</a> <a href=\"http://h%d.example/\">x</a>\r\n", i, i),
		    0);
	m = mime_parse(b.data, b.len);
	check_invariants(m);
	assert_true(m->flags & MSG_TRUNCATED);
	assert_int_equal(m->nurls, MSG_URLS_MAX);
	/* duplicates (same target, same text) are kept once */
	assert_string_equal(m->urls[1].url, "http://h1.example/");
	msg_free(m);
	buf_free(&b);
}

static void
test_html_edges(void **state)
{
	static const char *const docs[] = {
		"<!-- never closed <a href=\"http://c.example/\">x</a>",
		"<a href=\"http://q.example/ never closed quote>text",
		"<script>never closed <a href=\"http://s.example/\">",
		"a < b and c <5 &#99999999999; &#x110000; &#0; &unknown; &amp",
		"<a href=http://open.example/>open link, no close",
		"<<<>>><a<a<a href=>><img src><form action=\"\">",
		"<a href=\"http://x.example/\">one"
		    "<a href=\"http://y.example/\">two</a>",
		"<p>A&nbsp;&nbsp;B</p><br/><div>C</div>\t\r\n  D",
	};
	char		*raw;
	struct msg	*m;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		xasprintf(&raw, "Content-Type: text/html\r\n\r\n%s", docs[i]);
		m = mime_parse(raw, strlen(raw));
		check_invariants(m);
		switch (i) {
		case 0:
			assert_int_equal(m->nurls, 0);
			break;
		case 2:
			assert_int_equal(m->nurls, 0);
			assert_string_equal(m->parts[0].text, "");
			break;
		case 3:
			assert_string_equal(m->parts[0].text,
			    "a < b and c <5 \xef\xbf\xbd \xef\xbf\xbd "
			    "\xef\xbf\xbd &unknown; &");
			break;
		case 4:
			assert_non_null(find_url(m, "http://open.example/",
			    "open link, no close"));
			break;
		case 6:
			assert_non_null(find_url(m, "http://x.example/",
			    "one"));
			assert_non_null(find_url(m, "http://y.example/",
			    "two"));
			break;
		case 7:
			assert_string_equal(m->parts[0].text, "A B\nC\nD");
			break;
		}
		msg_free(m);
		free(raw);
	}
}

static void
test_url_normalise(void **state)
{
	static const char raw[] = "Content-Type: text/html\r\n\r\n"
	    "<a href=\"HTTP://User:Pw@WWW.Example.COM.:80/Path?Q=A\">a</a>"
	    "<a href=\"//cdn.example/x\">b</a>"
	    "<a href=\"www.bare.example\">c</a>"
	    "<a href=\"mailto:Someone@Mail.Example?subject=hi\">d</a>"
	    "<a href=\"http://%65vil.example/\">e</a>"
	    "<a href=\" https://sp.example/\n  x \">f</a>"
	    "<a href=\"http:\\\\back.example\\\">g</a>"
	    "<a href=\"relative/path\">h</a><a href=\"cid:123\">i</a>"
	    "<a href=\"http://[2001:db8::1]:8080/\">j</a>"
	    "<a href=\"https://пример.рф/\">k</a>"
	    "<a href=\"WWW.Port.Example:8080/x\">l</a>";
	struct msg	*m = mime_parse(raw, sizeof raw - 1);

	(void)state;
	check_invariants(m);
	assert_non_null(find_url(m,
	    "http://User:Pw@www.example.com.:80/Path?Q=A", "a"));
	assert_true(has_host(m, "www.example.com"));
	assert_non_null(find_url(m, "http://cdn.example/x", "b"));
	assert_non_null(find_url(m, "http://www.bare.example", "c"));
	assert_true(has_host(m, "mail.example"));
	assert_true(has_host(m, "evil.example"));
	/* outer blanks trimmed, tab and newline dropped (as browsers) */
	assert_non_null(find_url(m, "https://sp.example/  x", "f"));
	assert_true(has_host(m, "back.example"));
	assert_true(has_host(m, "[2001:db8::1]"));
	assert_true(has_host(m, "xn--e1afmkfd.xn--p1ai"));
	assert_false(has_host(m, "relative"));
	assert_non_null(find_url(m, "http://www.port.example:8080/x", "l"));
	assert_int_equal(m->nurls, 10);
	msg_free(m);
}

/* Workers parse at once: each thread gets its own libmagic cookie. */
struct thr {
	const char	*raw;
	size_t		 len;
	int		 ok;
};

static void *
thr_run(void *arg)
{
	struct thr	*t = arg;
	struct msg	*m;
	int		 i;

	for (i = 0; i < 30; i++) {
		m = mime_parse(t->raw, t->len);
		if (m->nparts == 3 && m->parts[2].sniffed_type != NULL &&
		    strcmp(m->parts[2].sniffed_type, "application/pdf") != 0)
			t->ok++;
		msg_free(m);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct loaded	 l;
	struct thr	 t[4];
	pthread_t	 tid[4];
	int		 i;

	(void)state;
	parse_file(&l, "exe_as_pdf.eml");
	for (i = 0; i < 4; i++) {
		t[i].raw = l.raw;
		t[i].len = l.m->raw_len;
		t[i].ok = 0;
		assert_int_equal(pthread_create(&tid[i], NULL, thr_run, &t[i]),
		    0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(t[i].ok, 30);
	}
	loaded_free(&l);
}

static int
group_setup(void **state)
{
	(void)state;
	g_mime_init();
	mime_init();
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	mime_shutdown();
	g_mime_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_mixed_attachments),
		cmocka_unit_test(test_alternative_html),
		cmocka_unit_test(test_charsets),
		cmocka_unit_test(test_nested_rfc822),
		cmocka_unit_test(test_exe_named_pdf),
		cmocka_unit_test(test_missing_end_boundary),
		cmocka_unit_test(test_bad_base64),
		cmocka_unit_test(test_header_without_colon),
		cmocka_unit_test(test_headers_only),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_no_headers),
		cmocka_unit_test(test_mbox_line),
		cmocka_unit_test(test_header_checks),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_decoding),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_many_parts),
		cmocka_unit_test(test_absurd_structure),
		cmocka_unit_test(test_many_urls),
		cmocka_unit_test(test_html_edges),
		cmocka_unit_test(test_url_normalise),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
