/*
 * The SpamAssassin-syntax rule engine: every rule type and header
 * modifier, metas (boolean, arithmetic, order), tflags, scores, broken and
 * skipped rules with file:line, if/ifplugin/else, include, and the same
 * answers with and without the Hyperscan prefilter.
 */
#include <sys/stat.h>

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

#include "cfg.h"
#include "filter_rules.h"
#include "finding.h"
#include "log.h"
#include "msg.h"
#include "sarule.h"
#include "sarule_int.h"

/* --- messages built by hand ---------------------------------------------- */

struct tmsg {
	struct msg		m;
	struct msg_header	h[32];
	struct msg_part		p[8];
	struct msg_url		u[8];
};

static void
tm_init(struct tmsg *t, const char *subject)
{
	memset(t, 0, sizeof *t);
	t->m.headers = t->h;
	t->m.parts = t->p;
	t->m.urls = t->u;
	t->m.subject = (char *)subject;
	if (subject != NULL) {
		t->h[0].name = (char *)"Subject";
		t->h[0].value = (char *)subject;
		t->h[0].raw = (char *)subject;
		t->m.nheaders = 1;
	}
	t->m.raw = "";
}

static void
tm_header(struct tmsg *t, const char *name, const char *value,
    const char *raw)
{
	struct msg_header	*h = &t->h[t->m.nheaders++];

	h->name = (char *)name;
	h->value = (char *)value;
	h->raw = (char *)(raw != NULL ? raw : value);
}

static void
tm_part(struct tmsg *t, const char *type, const char *text,
    const char *data)
{
	struct msg_part	*p = &t->p[t->m.nparts];

	p->index = (int)t->m.nparts++;
	p->parent = -1;
	p->content_type = (char *)type;
	p->is_text = strncmp(type, "text/", 5) == 0;
	p->is_html = strcmp(type, "text/html") == 0;
	p->text = (char *)text;
	p->text_len = text != NULL ? strlen(text) : 0;
	p->data = (unsigned char *)(data != NULL ? data : text);
	p->len = p->data != NULL ? strlen((const char *)p->data) : 0;
}

static void
tm_url(struct tmsg *t, const char *url, const char *host)
{
	struct msg_url	*u = &t->u[t->m.nurls++];

	u->url = (char *)url;
	u->host = (char *)host;
}

/* --- sets ---------------------------------------------------------------- */

static struct sarule_set *
mkset_opts(const char *text, bool hs, int score_set)
{
	struct sarule_opts	 o = { .score_set = score_set,
				    .hyperscan = hs };
	struct sarule_set	*set = sarule_set_new(&o);
	char			*cause = NULL;

	sarule_set_add_text(set, "t.cf", text);
	assert_int_equal(sarule_set_compile(set, &cause), 0);
	return set;
}

static struct sarule_set *
mkset(const char *text)
{
	return mkset_opts(text, false, 0);
}

static double
value(const struct sarule_set *set, const struct msg *m, const char *name)
{
	struct sarule_input	in = { .msg = m, .now = 1700000000 };
	struct sarule_result	res;
	double			v;

	sarule_eval(set, &in, &res);
	v = sarule_result_value(set, &res, name);
	sarule_result_free(&res);
	return v;
}

static bool
has_broken(const struct sarule_set *set, const char *where,
    const char *rule, const char *reason)
{
	const struct sarule_summary	*s = sarule_set_summary(set);
	size_t				 i;

	for (i = 0; i < s->broken_listed; i++)
		if (strcmp(s->broken[i].where, where) == 0 &&
		    (rule == NULL || (s->broken[i].rule != NULL &&
		    strcmp(s->broken[i].rule, rule) == 0)) &&
		    strstr(s->broken[i].reason, reason) != NULL)
			return true;
	for (i = 0; i < s->broken_listed; i++)
		fprintf(stderr, "broken %s %s: %s\n", s->broken[i].where,
		    s->broken[i].rule ? s->broken[i].rule : "-",
		    s->broken[i].reason);
	return false;
}

static bool
has_skipped(const struct sarule_set *set, const char *rule,
    const char *reason)
{
	const struct sarule_summary	*s = sarule_set_summary(set);
	size_t				 i;

	for (i = 0; i < s->skipped_listed; i++)
		if (s->skipped[i].rule != NULL &&
		    strcmp(s->skipped[i].rule, rule) == 0 &&
		    strstr(s->skipped[i].reason, reason) != NULL)
			return true;
	return false;
}

/* --- header rules -------------------------------------------------------- */

static void
test_header(void **state)
{
	struct sarule_set	*set;
	struct tmsg		 t;

	(void)state;
	set = mkset(
	    "header SUBJ_FREE   Subject =~ /\\bfree\\b/i\n"
	    "header NO_XM       X-Mailer !~ /./\n"
	    "header XM_UNSET    X-Mailer =~ /^none$/ [if-unset: none]\n"
	    "header SUBJ_END    Subject =~ /deal$/\n"
	    "header TWO_RCVD    Received =~ /\\bone\\b.*\\n.*\\btwo\\b/\n"
	    "header HAS_MID     exists:Message-Id\n"
	    "header HAS_XY      exists:X-Y\n"
	    "header CASE_NAME   subject =~ /FREE/\n");
	tm_init(&t, "  Get FREE deal  ");
	tm_header(&t, "Received", "from one", NULL);
	tm_header(&t, "Received", "from two", NULL);
	tm_header(&t, "Message-ID", "<a@b>", NULL);
	assert_true(value(set, &t.m, "SUBJ_FREE") == 1);
	assert_true(value(set, &t.m, "NO_XM") == 1);
	assert_true(value(set, &t.m, "XM_UNSET") == 1);
	assert_true(value(set, &t.m, "SUBJ_END") == 1);	/* trimmed */
	assert_true(value(set, &t.m, "TWO_RCVD") == 1);	/* joined */
	assert_true(value(set, &t.m, "HAS_MID") == 1);
	assert_true(value(set, &t.m, "HAS_XY") == 0);
	assert_true(value(set, &t.m, "CASE_NAME") == 1);
	tm_header(&t, "X-Mailer", "Foo 1.0", NULL);
	assert_true(value(set, &t.m, "NO_XM") == 0);
	assert_true(value(set, &t.m, "XM_UNSET") == 0);
	sarule_set_free(set);
}

static void
test_header_modifiers(void **state)
{
	struct sarule_set	*set;
	struct tmsg		 t;

	(void)state;
	set = mkset(
	    "header FROM_ADDR   From:addr =~ /^joe\\@example\\.com$/\n"
	    "header FROM_NAME   From:name =~ /^Joe Smith$/\n"
	    "header SUBJ_RAW    Subject:raw =~ /=\\?utf-8\\?/\n"
	    "header SUBJ_DEC    Subject =~ /=\\?utf-8\\?/\n"
	    "header TO_ADDRS    To:addr =~ /^a\\@x\\.org\\nb\\@y\\.org$/\n"
	    "header RCVD_FIRST  Received:first =~ /top/\n"
	    "header RCVD_FIRST2 Received:first =~ /bottom/\n"
	    "header RCVD_LAST   Received:last =~ /bottom/\n"
	    "header TOCC        ToCc =~ /c\\@z\\.net/\n"
	    "header MID         MESSAGEID =~ /resent/\n"
	    "header ALLH        ALL =~ /^X-Odd: yes$/m\n"
	    "header ENVF        EnvelopeFrom =~ /^bounce\\@/\n"
	    "header ENVF_SET    exists:EnvelopeFrom\n");
	tm_init(&t, "héllo");
	t.h[0].raw = (char *)"=?utf-8?q?h=C3=A9llo?=";
	tm_header(&t, "From", "\"Joe Smith\" <Joe@Example.com>", NULL);
	tm_header(&t, "To", "a@x.org, B <b@y.org>", NULL);
	tm_header(&t, "Cc", "c@z.net", NULL);
	tm_header(&t, "Received", "from top", NULL);
	tm_header(&t, "Received", "from bottom", NULL);
	tm_header(&t, "Resent-Message-Id", "<resent@x>", NULL);
	tm_header(&t, "X-Odd", "yes", NULL);
	/* :addr keeps case as written; the rule has no /i. */
	assert_true(value(set, &t.m, "FROM_ADDR") == 0);
	t.h[1].value = t.h[1].raw = (char *)"\"Joe Smith\" <joe@example.com>";
	assert_true(value(set, &t.m, "FROM_ADDR") == 1);
	assert_true(value(set, &t.m, "FROM_NAME") == 1);
	assert_true(value(set, &t.m, "SUBJ_RAW") == 1);
	assert_true(value(set, &t.m, "SUBJ_DEC") == 0);
	assert_true(value(set, &t.m, "TO_ADDRS") == 1);
	assert_true(value(set, &t.m, "RCVD_FIRST") == 1);
	assert_true(value(set, &t.m, "RCVD_FIRST2") == 0);
	assert_true(value(set, &t.m, "RCVD_LAST") == 1);
	assert_true(value(set, &t.m, "TOCC") == 1);
	assert_true(value(set, &t.m, "MID") == 1);
	assert_true(value(set, &t.m, "ALLH") == 1);
	assert_true(value(set, &t.m, "ENVF") == 0);
	assert_true(value(set, &t.m, "ENVF_SET") == 0);
	{
		struct sarule_input	in = { .msg = &t.m,
		    .env_from = "bounce@example.com" };
		struct sarule_result	res;

		sarule_eval(set, &in, &res);
		assert_true(sarule_result_value(set, &res, "ENVF") == 1);
		assert_true(sarule_result_value(set, &res, "ENVF_SET") == 1);
		sarule_result_free(&res);
	}
	sarule_set_free(set);
}

/* --- body, rawbody, uri, full -------------------------------------------- */

static const char body_rules[] =
    "body   B_PHRASE   /free money/i\n"
    "body   B_SUBJ     /^Subject line here $/\n"
    "body   B_ACROSS   /first para second/\n"
    "body   B_WS       /tabs and spaces/\n"
    "body   B_TAG      /<b>/\n"
    "rawbody R_TAG     /<b>bold<\\/b>/\n"
    "rawbody R_PLAIN   /plain part/\n"
    "uri    U_IP       m{^https?://\\d+\\.\\d+\\.\\d+\\.\\d+}\n"
    "uri    U_SHORT    m!^https?://(?:bit\\.ly|tinyurl\\.com)/!i\n"
    "full   F_RAW      /^X-Raw-Only: 1$/m\n"
    "body   B_MULTI    /win/\n"
    "tflags B_MULTI    multiple\n"
    "body   B_MAX      /win/\n"
    "tflags B_MAX      multiple maxhits=2\n"
    "body   B_HASH     /100\\# sure/\n"
    "body   B_NBSP     /non breaking/\n";

static void
body_message(struct tmsg *t)
{
	tm_init(t, "Subject line here");
	tm_part(t, "text/plain",
	    "first para\n\nsecond para: get FREE\n  money now\n"
	    "tabs\t\tand   spaces\nwin win win win 100# sure\n"
	    "non\xc2\xa0" "breaking\n", "plain part");
	tm_part(t, "text/html", "bold text", "<b>bold</b> text");
	tm_url(t, "http://192.168.1.2/x", "192.168.1.2");
	tm_url(t, "https://bit.ly/abc", "bit.ly");
	t->m.raw = "Subject: x\nX-Raw-Only: 1\n\nbody\n";
	t->m.raw_len = strlen(t->m.raw);
}

static void
check_body(const struct sarule_set *set, struct tmsg *t)
{
	assert_true(value(set, &t->m, "B_PHRASE") == 1);
	assert_true(value(set, &t->m, "B_SUBJ") == 0);	/* "\n" ends it */
	assert_true(value(set, &t->m, "B_ACROSS") == 0);
	assert_true(value(set, &t->m, "B_WS") == 1);
	assert_true(value(set, &t->m, "B_TAG") == 0);
	assert_true(value(set, &t->m, "R_TAG") == 1);
	assert_true(value(set, &t->m, "R_PLAIN") == 1);
	assert_true(value(set, &t->m, "U_IP") == 1);
	assert_true(value(set, &t->m, "U_SHORT") == 1);
	assert_true(value(set, &t->m, "F_RAW") == 1);
	assert_true(value(set, &t->m, "B_MULTI") == 4);
	assert_true(value(set, &t->m, "B_MAX") == 2);
	assert_true(value(set, &t->m, "B_HASH") == 1);
	assert_true(value(set, &t->m, "B_NBSP") == 1);
}

static void
test_body_types(void **state)
{
	struct sarule_set	*set;
	struct tmsg		 t;

	(void)state;
	body_message(&t);
	set = mkset(body_rules);
	check_body(set, &t);
	sarule_set_free(set);

	/* Subject is its own paragraph: a rule anchored on it. */
	set = mkset("body B_SUBJ2 /^Subject line here\\n/\n");
	assert_true(value(set, &t.m, "B_SUBJ2") == 1);
	sarule_set_free(set);
}

static void
test_hyperscan_same(void **state)
{
	struct sarule_set	*set;
	struct tmsg		 t;

	(void)state;
	body_message(&t);
	set = mkset_opts(body_rules, true, 0);
	assert_true(sarule_set_summary(set)->prefiltered > 5);
	check_body(set, &t);
	/* A message where the literals are absent: nothing hits. */
	tm_init(&t, "nothing");
	tm_part(&t, "text/plain", "quiet text", NULL);
	assert_true(value(set, &t.m, "B_PHRASE") == 0);
	assert_true(value(set, &t.m, "B_MULTI") == 0);
	sarule_set_free(set);
}

/* --- metas --------------------------------------------------------------- */

static void
test_meta(void **state)
{
	struct sarule_set	*set;
	struct tmsg		 t;

	(void)state;
	set = mkset(
	    "body __A /alpha/\n"
	    "body __B /beta/\n"
	    "body __C /gamma/\n"
	    "body __W /w/\n"
	    "tflags __W multiple\n"
	    "meta M_AND   __A && __B\n"
	    "meta M_OR    __A || __C\n"
	    "meta M_NOT   __A && !__C\n"
	    "meta M_PAREN (__A || __C) && (__B || __C)\n"
	    "meta M_SUM   (__A + __B + __C) >= 2\n"
	    "meta M_SUM3  (__A + __B + __C) > 2\n"
	    "meta M_ARITH __W * 2 - 1 == 5\n"
	    "meta M_CMP   __W >= 3 && __W <= 3 && __W != 4 && __W < 4\n"
	    "meta M_DIV   __W / 3 == 1\n"
	    "meta M_NEST  M_AND && !M_SUM3\n"
	    "meta M_FWD   LATER && __A\n"
	    "meta LATER   __B\n"
	    "meta M_GLOB  rules_matching(__?) >= 3\n"
	    "meta M_NUMS  1 + 2 * 3 == 7\n"
	    "meta M_UNARY -__A == -1\n"
	    "priority M_NEST -500\n"
	    "priority __A 900\n"
	    "meta __SUB   __A\n");
	tm_init(&t, "alpha beta w w w");
	assert_true(value(set, &t.m, "M_AND") == 1);
	assert_true(value(set, &t.m, "M_OR") == 1);
	assert_true(value(set, &t.m, "M_NOT") == 1);
	assert_true(value(set, &t.m, "M_PAREN") == 1);
	assert_true(value(set, &t.m, "M_SUM") == 1);
	assert_true(value(set, &t.m, "M_SUM3") == 0);
	assert_true(value(set, &t.m, "M_ARITH") == 1);
	assert_true(value(set, &t.m, "M_CMP") == 1);
	assert_true(value(set, &t.m, "M_DIV") == 1);
	assert_true(value(set, &t.m, "M_NEST") == 1);
	assert_true(value(set, &t.m, "M_FWD") == 1);
	assert_true(value(set, &t.m, "M_GLOB") == 1);
	assert_true(value(set, &t.m, "M_NUMS") == 1);
	assert_true(value(set, &t.m, "M_UNARY") == 1);
	tm_init(&t, "alpha gamma");
	assert_true(value(set, &t.m, "M_AND") == 0);
	assert_true(value(set, &t.m, "M_NOT") == 0);
	assert_true(value(set, &t.m, "M_PAREN") == 1);
	assert_true(value(set, &t.m, "M_NEST") == 0);
	sarule_set_free(set);
}

static void
test_meta_broken(void **state)
{
	struct sarule_set	*set;
	struct tmsg		 t;

	(void)state;
	set = mkset(
	    "body __A /alpha/\n"
	    "meta M_UNKNOWN __A && NO_SUCH_RULE\n"
	    "meta M_SYNTAX  (__A && \n"
	    "meta M_LOOP1   M_LOOP2\n"
	    "meta M_LOOP2   M_LOOP1 || __A\n"
	    "meta M_OK      __A\n"
	    "meta M_OP      __A ? 1 : 0\n"
	    "meta M_USES_BROKEN M_UNKNOWN || __A\n");
	assert_true(has_broken(set, "t.cf:2", "M_UNKNOWN",
	    "unknown rule NO_SUCH_RULE"));
	assert_true(has_broken(set, "t.cf:3", "M_SYNTAX", "meta:"));
	assert_true(has_broken(set, "t.cf:4", "M_LOOP1", "loop") ||
	    has_broken(set, "t.cf:5", "M_LOOP2", "loop"));
	assert_true(has_broken(set, "t.cf:7", "M_OP", "meta:"));
	tm_init(&t, "alpha");
	assert_true(value(set, &t.m, "M_OK") == 1);
	assert_true(value(set, &t.m, "M_UNKNOWN") == 0);
	assert_true(value(set, &t.m, "M_USES_BROKEN") == 1);
	sarule_set_free(set);
}

/* --- problems ------------------------------------------------------------ */

static void
test_broken(void **state)
{
	struct sarule_set		*set;
	const struct sarule_summary	*s;
	struct tmsg			 t;

	(void)state;
	set = mkset(
	    "# a comment\n"
	    "body  GOOD      /fine/\n"
	    "body  BAD_RE    /unclosed(group/\n"
	    "body  NO_DELIM  unclosed\n"
	    "this is garbage\n"
	    "score GOOD 1 2\n"
	    "score GOOD abc\n"
	    "header BAD_HDR  Subject ~= /x/\n"
	    "body  BAD_MOD   /x/q\n"
	    "header BAD_HMOD Subject:nope =~ /x/\n"
	    "body  1BAD      /x/\n"
	    "tflags GOOD maxhits=zero\n"
	    "endif\n"
	    "body  EVAL_NA   eval:no_such_function()\n"
	    "header RELAYS   X-Spam-Relays-External =~ /rdns= /\n"
	    "header HOSTMOD  From:host =~ /x/\n"
	    "body  EVAL_BAD  eval:check_body_length('1', '2', '3')\n"
	    "body  CAPT      /%{GB_TO_ADDR}/\n"
	    "mimeheader MH   Content-Type =~ /x/\n");
	s = sarule_set_summary(set);
	assert_true(has_broken(set, "t.cf:3", "BAD_RE", "PCRE2: missing"));
	assert_true(has_broken(set, "t.cf:4", "NO_DELIM", "delimiters"));
	assert_true(has_broken(set, "t.cf:5", NULL,
	    "unknown directive 'this'"));
	assert_true(has_broken(set, "t.cf:6", "GOOD", "1 or 4"));
	assert_true(has_broken(set, "t.cf:7", "GOOD", "not a number"));
	assert_true(has_broken(set, "t.cf:8", "BAD_HDR", "invalid header"));
	assert_true(has_broken(set, "t.cf:9", "BAD_MOD", "modifier"));
	assert_true(has_broken(set, "t.cf:10", "BAD_HMOD", "modifier"));
	assert_true(has_broken(set, "t.cf:11", NULL, "invalid rule name"));
	assert_true(has_broken(set, "t.cf:12", "GOOD", "maxhits"));
	assert_true(has_broken(set, "t.cf:13", NULL, "endif without if"));
	assert_true(has_broken(set, "t.cf:17", "EVAL_BAD", "arguments"));
	assert_true(has_skipped(set, "EVAL_NA", "not implemented"));
	assert_true(has_skipped(set, "RELAYS", "X-Spam-Relays-External"));
	assert_true(has_skipped(set, "HOSTMOD", ":host"));
	assert_true(has_skipped(set, "CAPT", "capture"));
	assert_true(has_skipped(set, "MH", "mimeheader"));
	assert_int_equal(s->loaded, 1);
	assert_int_equal(s->nskipped, 5);
	assert_int_equal(s->nbroken, 12);
	tm_init(&t, "fine");
	assert_true(value(set, &t.m, "GOOD") == 1);
	sarule_set_free(set);
}

/* --- conditionals and files ---------------------------------------------- */

static void
test_conditionals(void **state)
{
	struct sarule_set	*set;
	struct tmsg		 t;

	(void)state;
	set = mkset(
	    "ifplugin Mail::SpamAssassin::Plugin::NoSuchPlugin\n"
	    "body IN_UNKNOWN /x/\n"
	    "  if (version >= 3.000000)\n"
	    "  body NESTED /x/\n"
	    "  endif\n"
	    "else\n"
	    "body IN_ELSE /x/\n"
	    "endif\n"
	    "ifplugin Mail::SpamAssassin::Plugin::HeaderEval\n"
	    "body IN_KNOWN /x/\n"
	    "endif\n"
	    "if (version >= 3.004000)\n"
	    "body V34 /x/\n"
	    "endif\n"
	    "if version < 3.000000\n"
	    "body V2 /x/\n"
	    "endif\n"
	    "if !plugin(Mail::SpamAssassin::Plugin::ReplaceTags)\n"
	    "body NO_RT /x/\n"
	    "endif\n"
	    "if can(Mail::SpamAssassin::Conf::feature_x)\n"
	    "body CAN /x/\n"
	    "endif\n"
	    "meta M_INACTIVE IN_UNKNOWN || IN_ELSE\n"
	    "meta M_NOT_INACTIVE !IN_UNKNOWN\n");
	tm_init(&t, "x");
	assert_int_equal(sarule_set_find(set, "NESTED") >= 0, true);
	assert_true(value(set, &t.m, "IN_UNKNOWN") == 0);
	assert_true(value(set, &t.m, "NESTED") == 0);
	assert_true(value(set, &t.m, "IN_ELSE") == 1);
	assert_true(value(set, &t.m, "IN_KNOWN") == 1);
	assert_true(value(set, &t.m, "V34") == 1);
	assert_true(value(set, &t.m, "V2") == 0);
	assert_true(value(set, &t.m, "NO_RT") == 1);
	assert_true(value(set, &t.m, "CAN") == 0);
	/* A rule named only in a false block is known: 0, not broken. */
	assert_true(value(set, &t.m, "M_INACTIVE") == 1);
	assert_true(value(set, &t.m, "M_NOT_INACTIVE") == 1);
	assert_int_equal(sarule_set_summary(set)->nbroken, 0);
	sarule_set_free(set);

	set = mkset("if (version >= \n" "body X /x/\n" "endif\n"
	    "ifplugin\n" "endif\n" "if 1\n" "body Y /y/\n");
	assert_true(has_broken(set, "t.cf:1", NULL, "if:"));
	assert_true(has_broken(set, "t.cf:4", NULL, "ifplugin"));
	assert_true(has_broken(set, "t.cf:6", NULL, "if without endif"));
	sarule_set_free(set);
}

static void
test_include(void **state)
{
	struct sarule_opts	 o = { 0 };
	struct sarule_set	*set;
	char			 dir[64], path[128], *cause = NULL;
	FILE			*f;
	struct tmsg		 t;

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/moat-sarule-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/10_main.cf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("body MAIN /main/\ninclude sub/inc.rules\n"
	    "include missing.rules\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/sub/inc.rules", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("body INC /inc/\nscore INC 2.5\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/20_scores.cf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("score MAIN 3\nbody BAD /(/\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/ignored.txt", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("garbage\n", f);
	fclose(f);

	set = sarule_set_new(&o);
	assert_int_equal(sarule_set_add_path(set, dir, &cause), 0);
	assert_int_equal(sarule_set_compile(set, &cause), 0);
	snprintf(path, sizeof path, "%s/10_main.cf:3", dir);
	assert_true(has_broken(set, path, NULL, "missing.rules"));
	snprintf(path, sizeof path, "%s/20_scores.cf:2", dir);
	assert_true(has_broken(set, path, "BAD", "PCRE2"));
	assert_int_equal(sarule_set_summary(set)->nbroken, 2);
	tm_init(&t, "main inc");
	{
		struct sarule_input	in = { .msg = &t.m };
		struct sarule_result	res;

		sarule_eval(set, &in, &res);
		assert_int_equal(res.nhits, 2);
		assert_true(res.score == 5.5);
		sarule_result_free(&res);
	}
	sarule_set_free(set);

	set = sarule_set_new(&o);
	assert_int_equal(sarule_set_add_path(set, "/nonexistent/rules", &cause),
	    -1);
	assert_non_null(strstr(cause, "/nonexistent/rules"));
	free(cause);
	sarule_set_free(set);

	snprintf(path, sizeof path, "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

/* --- scores -------------------------------------------------------------- */

#define SCORE_RULES \
	    "body  PLAIN   /x/\n" \
	    "describe PLAIN Has an x\n" \
	    "body  T_TEST  /x/\n" \
	    "body  NICE    /x/\n" \
	    "tflags NICE   nice\n" \
	    "body  __SUB   /x/\n" \
	    "body  ZERO    /x/\n" \
	    "score ZERO    0\n" \
	    "body  FOUR    /x/\n" \
	    "score FOUR    1 2 3 4\n" \
	    "body  REDEF   /nomatch/\n" \
	    "score REDEF   2\n" \
	    "body  REDEF   /x/\n" \
	    "score NOT_DEFINED 5\n" \
	    "meta  M_ZERO  ZERO\n"

static void
test_scores(void **state)
{
	struct sarule_set	*set;
	struct sarule_input	 in;
	struct sarule_result	 res;
	struct tmsg		 t;
	size_t			 i;
	int			 seen = 0;

	(void)state;
	tm_init(&t, "x");
	memset(&in, 0, sizeof in);
	in.msg = &t.m;
	set = mkset_opts(SCORE_RULES, false, 2);
	sarule_eval(set, &in, &res);
	for (i = 0; i < res.nhits; i++) {
		const struct sarule_hit	*h = &res.hits[i];

		if (strcmp(h->name, "PLAIN") == 0) {
			assert_true(h->score == 1.0);
			assert_string_equal(h->describe, "Has an x");
			seen |= 1;
		} else if (strcmp(h->name, "T_TEST") == 0) {
			assert_true(h->score == 0.01);
			seen |= 2;
		} else if (strcmp(h->name, "NICE") == 0) {
			assert_true(h->score == -1.0);
			seen |= 4;
		} else if (strcmp(h->name, "FOUR") == 0) {
			assert_true(h->score == 3.0);
			seen |= 8;
		} else if (strcmp(h->name, "REDEF") == 0) {
			assert_true(h->score == 2.0);
			seen |= 16;
		} else
			fail_msg("unexpected hit %s", h->name);
	}
	assert_int_equal(seen, 31);
	assert_true(res.score > 1 + 0.01 - 1 + 3 + 2 - 1e-9 &&
	    res.score < 1 + 0.01 - 1 + 3 + 2 + 1e-9);
	/* Sub-rules run (a meta may read them) but are not reported; a
	 * score of 0 switches a rule off. */
	assert_true(sarule_result_value(set, &res, "__SUB") == 0);
	assert_true(sarule_result_value(set, &res, "ZERO") == 0);
	assert_true(sarule_result_value(set, &res, "M_ZERO") == 0);
	sarule_result_free(&res);
	sarule_set_free(set);

	set = mkset_opts(SCORE_RULES "meta M_SUB __SUB\n", false, 0);
	sarule_eval(set, &in, &res);
	assert_true(sarule_result_value(set, &res, "__SUB") == 1);
	assert_true(sarule_result_value(set, &res, "M_SUB") == 1);
	for (i = 0; i < res.nhits; i++)
		if (strcmp(res.hits[i].name, "FOUR") == 0)
			assert_true(res.hits[i].score == 1.0);
	sarule_result_free(&res);
	sarule_set_free(set);
}

/* --- eval: tests --------------------------------------------------------- */

static void
test_evals(void **state)
{
	struct sarule_set	*set;
	struct tmsg		 t;

	(void)state;
	set = mkset(
	    "header DATE_FUTURE eval:check_for_shifted_date('24', 'undef')\n"
	    "header DATE_PAST   eval:check_for_shifted_date('undef', '-24')\n"
	    "header NO_TO       eval:check_for_missing_to_header()\n"
	    "header CAPS        eval:subject_is_all_caps()\n"
	    "header RT_DIFF     eval:moat_replyto_differs()\n"
	    "uri    MANY_DOM    eval:moat_uri_domains('3')\n"
	    "header RCVD_NONE   eval:moat_received_count('0', '0')\n"
	    "body   IMG_ONLY    eval:html_image_only('0', '50')\n"
	    "header TWO_FROM    "
	    "eval:check_header_count_range('From', '2', '9')\n"
	    "header TEMPLATE    eval:check_unresolved_template()\n");
	tm_init(&t, "CHEAP PILLS NOW");
	tm_header(&t, "Date", "Mon, 10 Mar 2003 12:00:00 +0000", NULL);
	tm_header(&t, "Received", "from a by b; Fri, 7 Mar 2003 12:00:00 +0000",
	    NULL);
	tm_header(&t, "From", "Sales <sales@shop.example.com>", NULL);
	tm_header(&t, "Reply-To", "x@other.example.net", NULL);
	tm_header(&t, "X-List", "%RECIPIENT_NAME", NULL);
	tm_part(&t, "text/html", "hi", "<html><img src=x>hi</html>");
	tm_url(&t, "http://a.example.com/", "a.example.com");
	tm_url(&t, "http://b.example.com/", "b.example.com");
	tm_url(&t, "http://c.example.org/", "c.example.org");
	assert_true(value(set, &t.m, "DATE_FUTURE") == 1);
	assert_true(value(set, &t.m, "DATE_PAST") == 0);
	assert_true(value(set, &t.m, "NO_TO") == 1);
	assert_true(value(set, &t.m, "CAPS") == 1);
	assert_true(value(set, &t.m, "RT_DIFF") == 1);
	assert_true(value(set, &t.m, "MANY_DOM") == 0);
	tm_url(&t, "http://d.example.co.uk/", "d.example.co.uk");
	assert_true(value(set, &t.m, "MANY_DOM") == 1);
	assert_true(value(set, &t.m, "RCVD_NONE") == 0);
	assert_true(value(set, &t.m, "IMG_ONLY") == 1);
	assert_true(value(set, &t.m, "TWO_FROM") == 0);
	assert_true(value(set, &t.m, "TEMPLATE") == 1);
	t.h[1].value = (char *)"Mon, 3 Mar 2003 12:00:00 +0000";
	assert_true(value(set, &t.m, "DATE_FUTURE") == 0);
	assert_true(value(set, &t.m, "DATE_PAST") == 1);
	t.m.subject = t.h[0].value = t.h[0].raw = (char *)"Cheap pills now";
	assert_true(value(set, &t.m, "CAPS") == 0);
	sarule_set_free(set);
}

/* Threads share one set; every thread gets the same answers. */
static void *
thread_main(void *arg)
{
	struct sarule_set	*set = arg;
	struct tmsg		 t;
	int			 i;

	body_message(&t);
	for (i = 0; i < 20; i++)
		check_body(set, &t);
	sarule_thread_cleanup();
	return NULL;
}

static void
test_threads(void **state)
{
	struct sarule_set	*set;
	pthread_t		 th[4];
	int			 i;

	(void)state;
	set = mkset_opts(body_rules, true, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thread_main,
		    set), 0);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	sarule_set_free(set);
}

/* --- required literals and eval names ------------------------------------ */

/* The literals joined by "|", or "-" when none can be proven. */
static void
check_lits(const char *re, const char *want)
{
	struct sr_lit	*v;
	size_t		 n, i;
	char		 got[256] = "";

	if (sr_lit_extract(re, 0, &v, &n) == -1)
		snprintf(got, sizeof got, "-");
	else {
		for (i = 0; i < n; i++)
			snprintf(got + strlen(got), sizeof got - strlen(got),
			    "%s%.*s", i ? "|" : "", (int)v[i].len, v[i].s);
		sr_lit_free(v, n);
	}
	if (strcmp(got, want) != 0)
		fail_msg("%s: literals %s, want %s", re, got, want);
}

static void
test_literals(void **state)
{
	(void)state;
	check_lits("foo", "foo");
	check_lits("abc?def", "def");
	check_lits("(?:viagra|cialis)\\b", "viagra|cialis");
	check_lits("fo+bar", "bar");
	check_lits("a(?=bcd)efg", "efg");
	check_lits("[a-z]+@example\\.com", "@example.com");
	check_lits("foo|ba", "-");		/* "ba" is too short */
	check_lits("ab{2,}cdef", "cdef");
	check_lits("\\x41\\x42\\x43", "ABC");
	check_lits("\\012abc", "abc");	/* octal, not "12abc" */
	check_lits("win(?:ner)?s", "win");
	check_lits("(abc)?defg", "defg");
	check_lits("a{,3}bcd", "a{,3}bcd");	/* literal braces in PCRE2 */
	check_lits("zz\\Qabc\\E", "-");
	check_lits("(?x) a b c", "-");
	check_lits("f.o.o.b.a.r", "-");
	check_lits("(?i)lottery", "lottery");
	check_lits("(?<name>hello)", "hello");
	check_lits("x(?:ab|)yz", "-");		/* an empty branch */
	check_lits("\\d+ dollars|\\d+ euros", " dollars| euros");
}

static void
test_eval_names(void **state)
{
	static const char *const names[] = {
		"check_body_length", "check_for_missing_to_header",
		"check_for_shifted_date", "check_header_count_range",
		"check_msg_parse_flags", "check_unresolved_template",
		"html_image_only", "moat_date_weekday_wrong",
		"moat_html_only", "moat_html_text_ratio",
		"moat_msgid_by_relay", "moat_msgid_in_trace",
		"moat_rcpt_count", "moat_rcpt_similar", "moat_rcpt_sorted",
		"moat_received_count", "moat_relay_rdns_none",
		"moat_replyto_differs", "moat_to_is_from", "moat_uri_domains",
		"subject_is_all_caps",
	};
	size_t	i;

	(void)state;
	/* The table is searched by bsearch: each name must be found. */
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (sr_fn_find(names[i]) < 0)
			fail_msg("eval %s not found", names[i]);
	assert_int_equal(sr_fn_find("no_such_eval"), -1);
}

/* --- the filter ---------------------------------------------------------- */

static char	fdir[64];

static void
write_file(const char *name, const char *text)
{
	char	 path[256];
	FILE	*f;

	snprintf(path, sizeof path, "%s/%s", fdir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static struct cfg *
load_conf(const char *text)
{
	struct cfg	*c;
	char		 path[256], *cause = NULL;

	write_file("moat.conf", text);
	snprintf(path, sizeof path, "%s/moat.conf", fdir);
	c = cfg_load(path, &cause);
	if (c == NULL)
		fail_msg("cfg_load: %s", cause);
	return c;
}

static void
test_filter(void **state)
{
	struct cfg		*c;
	struct scan_ctx		 ctx;
	struct findings		 f;
	struct tmsg		 t;
	void			*st = NULL;
	char			 path[256], *cause = NULL;

	(void)state;
	snprintf(fdir, sizeof fdir, "/tmp/moat-frules-XXXXXX");
	assert_non_null(mkdtemp(fdir));
	snprintf(path, sizeof path, "%s/myrules", fdir);
	assert_int_equal(mkdir(path, 0700), 0);
	write_file("myrules/10_test.cf",
	    "body  MOAT_T_CASH  /easy cash/i\n"
	    "describe MOAT_T_CASH Easy cash offer\n"
	    "score MOAT_T_CASH  2.5\n"
	    "body  MOAT_T_WIN   /\\bwin\\b/\n"
	    "tflags MOAT_T_WIN  multiple\n");

	c = load_conf("filters = { rules = { dirs = [ \"myrules\" ]; "
	    "hyperscan = true; }; };\n");
	assert_int_equal(filter_rules.init(c, &st, &cause), 0);
	assert_non_null(st);
	tm_init(&t, "win win");
	tm_part(&t, "text/plain", "Get EASY CASH, win!", NULL);
	findings_init(&f);
	memset(&ctx, 0, sizeof ctx);
	ctx.cfg = c;
	ctx.msg = &t.m;
	ctx.findings = &f;
	filter_rules.run(st, &ctx);
	assert_true(findings_has(&f, "MOAT_T_CASH"));
	assert_true(findings_has(&f, "MOAT_T_WIN"));
	assert_true(f.score == 3.5);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.v[0].symbol, "MOAT_T_CASH");
	assert_string_equal(f.v[0].detail, "Easy cash offer");
	assert_non_null(strstr(f.v[1].detail, "3 times"));
	findings_free(&f);
	filter_rules.free(st);
	cfg_unref(c);

	/* Unknown keys and broken rules fail the load with file:line. */
	c = load_conf("filters = { rules = { dirs = [ \"myrules\" ]; "
	    "colour = 1; }; };\n");
	assert_int_equal(filter_rules.init(c, &st, &cause), -1);
	assert_non_null(strstr(cause, "colour"));
	free(cause);
	cause = NULL;
	cfg_unref(c);
	write_file("myrules/20_bad.cf", "body BAD_ONE /(/\n");
	c = load_conf("filters = { rules = { dirs = [ \"myrules\" ]; }; };\n");
	assert_int_equal(filter_rules.init(c, &st, &cause), -1);
	assert_non_null(strstr(cause, "20_bad.cf:1"));
	free(cause);
	cause = NULL;
	cfg_unref(c);
	c = load_conf("filters = { rules = { dirs = [ \"myrules\" ]; "
	    "allow_broken = true; }; };\n");
	assert_int_equal(filter_rules.init(c, &st, &cause), 0);
	filter_rules.free(st);
	cfg_unref(c);
	c = load_conf("filters = { rules = { dirs = [ \"nosuchdir\" ]; "
	    "}; };\n");
	assert_int_equal(filter_rules.init(c, &st, &cause), -1);
	assert_non_null(strstr(cause, "nosuchdir"));
	free(cause);
	cfg_unref(c);

	snprintf(path, sizeof path, "rm -rf %s", fdir);
	assert_int_equal(system(path), 0);
}

/* Debian's spamassassin package, when installed: loads, reports, runs. */
static void
test_system_rules(void **state)
{
	struct sarule_opts		 o = { .score_set = 0,
					    .hyperscan = true };
	const struct sarule_summary	*s;
	struct sarule_set		*set;
	struct sarule_result		 res;
	struct sarule_input		 in;
	struct tmsg			 t;
	char				*cause = NULL;

	(void)state;
	if (access(FILTER_RULES_SYSTEM_DIR "/50_scores.cf", R_OK) != 0)
		skip();
	set = sarule_set_new(&o);
	assert_int_equal(sarule_set_add_path(set, FILTER_RULES_SYSTEM_DIR,
	    &cause), 0);
	assert_int_equal(sarule_set_compile(set, &cause), 0);
	s = sarule_set_summary(set);
	assert_true(s->loaded > 500);
	assert_true(s->nbroken < s->loaded / 20);
	body_message(&t);
	memset(&in, 0, sizeof in);
	in.msg = &t.m;
	sarule_eval(set, &in, &res);
	sarule_result_free(&res);
	sarule_set_free(set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_header_modifiers),
		cmocka_unit_test(test_body_types),
		cmocka_unit_test(test_hyperscan_same),
		cmocka_unit_test(test_meta),
		cmocka_unit_test(test_meta_broken),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_conditionals),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_scores),
		cmocka_unit_test(test_evals),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_eval_names),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_system_rules),
	};
	int	rc;

	log_init("test_sarule", true, false);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	sarule_thread_cleanup();
	return rc;
}
