/*
 * Unit tests for the rule system (daemon/policy_*.c): rule files and their
 * errors with file:line, every object kind, inversion, priorities, final
 * and accumulating actions, per-recipient outcomes and sender lists, the
 * message modifications (headers, attachment removal, disclaimers) and the
 * write-back of rule changes. Each test works in its own temporary folder.
 */
#include <sys/stat.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "attach.h"
#include "buf.h"
#include "cfg.h"
#include "finding.h"
#include "log.h"
#include "mime.h"
#include "msg.h"
#include "policy.h"
#include "xmalloc.h"

struct fix {
	char		 dir[128];
	char		 rules[256];
	struct cfg	*cfg;
	struct policy	*p;
};

static struct fix	*F;

/* --- helpers ----------------------------------------------------------- */

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *
read_all(const char *path)
{
	FILE	*f = fopen(path, "r");
	char	*buf;
	long	 n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int
setup(void **state)
{
	char	path[PATH_MAX + 64], *cause = NULL;

	F = xcalloc(1, sizeof *F);
	snprintf(F->dir, sizeof F->dir, "/tmp/moat-policy-XXXXXX");
	assert_non_null(mkdtemp(F->dir));
	snprintf(F->rules, sizeof F->rules, "%s/rules.d/policy", F->dir);
	snprintf(path, sizeof path, "%s/rules.d", F->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(mkdir(F->rules, 0755), 0);
	snprintf(path, sizeof path, "%s/moat.conf", F->dir);
	write_file(path, "rules = { dir = \"rules.d\"; };\n"
	    "smtp = { hostname = \"moat.test\"; local_domains = "
	    "[ \"example.com\" ]; };\n"
	    "storage = { path = \"moat.db\"; quarantine_dir = \"q\"; };\n"
	    "policy = { admin = \"admin@example.com\"; blocklist_score = 50.0;"
	    " };\n");
	F->cfg = cfg_load(path, &cause);
	if (F->cfg == NULL)
		fail_msg("cfg_load: %s", cause);
	*state = F;
	return 0;
}

static int
teardown(void **state)
{
	char	cmd[PATH_MAX + 32];

	(void)state;
	policy_unref(F->p);
	cfg_unref(F->cfg);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", F->dir);
	assert_int_equal(system(cmd), 0);
	free(F);
	F = NULL;
	return 0;
}

/* Load one rule file with this text; fail the test on error. */
static struct policy *
load(const char *text)
{
	char	path[PATH_MAX + 64], *cause = NULL;

	snprintf(path, sizeof path, "%s/50-test.conf", F->rules);
	write_file(path, text);
	policy_unref(F->p);
	F->p = policy_load(F->cfg, &cause);
	if (F->p == NULL)
		fail_msg("policy_load: %s", cause);
	return F->p;
}

/* Load and expect an error that contains want (and the file:line). */
static void
load_error(const char *text, const char *where, const char *want)
{
	char	path[PATH_MAX + 64], *cause = NULL;
	struct policy *p;

	snprintf(path, sizeof path, "%s/50-test.conf", F->rules);
	write_file(path, text);
	p = policy_load(F->cfg, &cause);
	if (p != NULL) {
		policy_unref(p);
		fail_msg("loaded, expected \"%s\"", want);
	}
	if (strstr(cause, want) == NULL || strstr(cause, where) == NULL)
		fail_msg("cause \"%s\" lacks \"%s\" or \"%s\"", cause, where,
		    want);
	free(cause);
}

/* A message with two leaves: text and an attachment. */
struct tmsg {
	struct msg		 m;
	struct msg_header	 h[3];
	struct msg_part		 parts[3];
};

static void
tmsg_init(struct tmsg *t)
{
	memset(t, 0, sizeof *t);
	t->h[0].name = "Subject";
	t->h[0].value = "Cheap pills";
	t->h[1].name = "X-Mailer";
	t->h[1].value = "SpamBot 3000";
	t->h[2].name = "From";
	t->h[2].value = "Bob <bob@evil.test>";
	t->m.headers = t->h;
	t->m.nheaders = 3;
	t->m.subject = "Cheap pills";
	t->m.from_addr = "bob@evil.test";
	t->parts[0].index = 0;
	t->parts[0].parent = -1;
	t->parts[0].content_type = "multipart/mixed";
	t->parts[1].index = 1;
	t->parts[1].content_type = "text/plain";
	t->parts[1].is_text = true;
	t->parts[2].index = 2;
	t->parts[2].content_type = "application/pdf";
	t->parts[2].sniffed_type = "application/x-dosexec";
	t->parts[2].filename = "invoice.pdf";
	t->parts[2].is_attachment = true;
	t->m.parts = t->parts;
	t->m.nparts = 3;
}

struct tin {
	struct policy_input	 in;
	struct findings		 f;
	const char		*rcpts[4];
	struct tmsg		 tm;
};

/* Wednesday 2024-01-10 12:00 local time. */
static int64_t
noon_wednesday(void)
{
	struct tm	tm;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = 124;
	tm.tm_mon = 0;
	tm.tm_mday = 10;
	tm.tm_hour = 12;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm) * 1000;
}

static void
tin_init(struct tin *t, const char *sender, const char *r1, const char *r2)
{
	memset(t, 0, sizeof *t);
	tmsg_init(&t->tm);
	findings_init(&t->f);
	t->rcpts[0] = r1;
	t->rcpts[1] = r2;
	t->in.direction = DIR_INBOUND;
	t->in.sender = sender;
	t->in.rcpts = t->rcpts;
	t->in.nrcpts = r2 != NULL ? 2 : 1;
	t->in.client_addr = "192.0.2.7";
	t->in.msg = &t->tm.m;
	t->in.findings = &t->f;
	t->in.time_ms = noon_wednesday();
	t->in.queue_id = "0000000AB00001";
}

static struct policy_lists *
no_lists(void)
{
	return policy_lists_new(NULL, 0);
}

/* The final action name of recipient i. */
static const char *
fin(const struct policy_result *r, size_t i)
{
	switch (r->groups[r->rcpts[i].group].final) {
	case POLICY_BLOCK:
		return "block";
	case POLICY_QUARANTINE:
		return "quarantine";
	default:
		return "accept";
	}
}

static bool
matched(const struct policy_result *r, size_t i, const char *rule)
{
	size_t	k;

	for (k = 0; k < r->rcpts[i].nrules; k++)
		if (strcmp(r->rcpts[i].rules[k], rule) == 0)
			return true;
	return false;
}

/* Evaluate t against the loaded policy; does rule match recipient 0? */
static bool
rule_hits(struct tin *t, const char *rule)
{
	struct policy_lists	*l = no_lists();
	struct policy_result	*r;
	bool			 m;

	if (t->in.lists == NULL)
		t->in.lists = l;
	r = policy_eval(F->p, &t->in);
	m = matched(r, 0, rule);
	policy_result_free(r);
	policy_lists_unref(l);
	if (t->in.lists == l)
		t->in.lists = NULL;
	return m;
}

#define ACTIONS								\
	"actions = { block = { type = \"block\"; };\n"			\
	"  accept = { type = \"accept\"; };\n"				\
	"  quar = { type = \"quarantine\"; };\n"			\
	"  tag = { type = \"add_header\"; field = \"X-Tag\"; "		\
	"value = \"${rule} ${score}\"; };\n"				\
	"  strip = { type = \"remove_attachments\"; };\n"		\
	"  note = { type = \"notify\"; to = \"admin\"; };\n"		\
	"};\n"

/* --- parsing ------------------------------------------------------------- */

static void
test_empty_folder(void **state)
{
	struct policy	*p;
	char		 cmd[PATH_MAX + 32], *cause = NULL;

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", F->rules);
	assert_int_equal(system(cmd), 0);
	p = policy_load(F->cfg, &cause);
	assert_non_null(p);
	assert_int_equal(p->nrules, 0);
	assert_string_equal(p->admin, "admin@example.com");
	assert_true(p->blocklist_score == 50.0);
	policy_unref(p);
}

static void
test_parse_ok(void **state)
{
	struct policy			*p;
	const struct policy_rule	*r;

	(void)state;
	p = load("who = { bad = { comment = \"x\"; objects = ( "
	    "{ email = \"*@spam.test\"; }, { domain = \"evil.test\"; }, "
	    "{ regex = \"^x.*@y\\\\.test$\"; }, { ip = \"192.0.2.0/24\"; }, "
	    "{ list = \"block\"; } ); }; };\n"
	    "what = { w = { objects = ( { spam_score = 5; }, { virus = true; },"
	    " { content_type = \"^application/x-dosexec$\"; source = "
	    "\"sniffed\"; }, { filename = \"\\\\.exe$\"; }, "
	    "{ archive_name = \"\\\\.js$\"; }, { archive_type = \"exe\"; }, "
	    "{ header = \"X-Mailer\"; value = \"bot\"; } ); }; };\n"
	    "when = { office = { objects = ( { days = \"mon-fri\"; start = "
	    "\"08:00\"; end = \"18:00\"; } ); }; };\n"
	    ACTIONS
	    "rules = {\n"
	    "  low = { priority = 10; from = [ \"!bad\" ]; action = "
	    "[ \"tag\" ]; };\n"
	    "  high = { priority = 90; direction = \"in\"; from = \"bad\"; "
	    "what = [ \"w\" ]; when = [ \"office\" ]; action = [ \"note\", "
	    "\"block\" ]; };\n"
	    "  off = { active = false; action = [ \"accept\" ]; };\n"
	    "};\n");
	assert_int_equal(p->nrules, 3);
	assert_int_equal(p->ngroups, 3);
	assert_int_equal(p->nactions, 6);
	/* Priority order, higher first. */
	assert_string_equal(p->rules[0]->name, "high");
	assert_string_equal(p->rules[1]->name, "off");
	assert_string_equal(p->rules[2]->name, "low");
	r = policy_rule_find(p, "low");
	assert_non_null(r);
	assert_true(r->refs[POLICY_F_FROM][0].invert);
	assert_int_equal(r->dirs, POLICY_DIR_IN | POLICY_DIR_OUT);
	r = policy_rule_find(p, "high");
	assert_int_equal(r->dirs, POLICY_DIR_IN);
	assert_int_equal(r->nactions, 2);
	assert_int_equal(r->line, 13);
	assert_false(policy_rule_find(p, "off")->active);
	assert_int_equal(policy_group_find(p, POLICY_WHAT, "w")->nobjs, 7);
}

static void
test_parse_errors(void **state)
{
	(void)state;
	load_error("rules = { r = { action = [ \"nope\" ]; }; };\n",
	    "50-test.conf:1:", "no action 'nope'");
	load_error(ACTIONS "rules = {\n  r = { from = [ \"nobody\" ]; "
	    "action = [ \"block\" ]; };\n};\n", "50-test.conf:9:",
	    "no who group 'nobody'");
	load_error(ACTIONS "rules = { r = { priority = 101; action = "
	    "\"block\"; }; };\n", "50-test.conf:8:", "priority must be 0 to "
	    "100");
	load_error("who = { g = { objects = (\n { regex = \"(\"; }\n ); }; };\n",
	    "50-test.conf:2:", "bad regular expression");
	load_error("who = { g = { objects = ( { emial = \"a@b\"; } ); }; };\n",
	    "50-test.conf:1:", "who object without a kind");
	load_error("when = { g = { objects = ( { days = \"mon-fry\"; } ); };"
	    " };\n", "50-test.conf:1:", "bad days");
	load_error("when = { g = { objects = ( { start = \"25:00\"; } ); };"
	    " };\n", "50-test.conf:1:", "bad start");
	load_error("actions = {\n a = { type = \"explode\"; };\n};\n",
	    "50-test.conf:2:", "unknown action type");
	load_error("actions = { a = { type = \"add_header\"; field = \"X\"; "
	    "value = \"${nope}\"; }; };\n", "50-test.conf:1:",
	    "unknown template variable");
	load_error(ACTIONS "rules = { r = { priority = 5; }; };\n",
	    "50-test.conf:8:", "has no action");
	load_error(ACTIONS "rules = { r = { action = [ \"block\", \"accept\" ];"
	    " }; };\n", "50-test.conf:8:", "more than one final action");
	load_error(ACTIONS "rules = { r = { action = \"block\"; colour = 1; };"
	    " };\n", "50-test.conf:8:", "unknown key 'colour'");
	load_error("rules = { r = { action = ; }; };\n",
	    "50-test.conf:1:", "syntax error");
	load_error("who = { g = { objects = ( { ip = \"10.0.0.0/33\"; } ); }; "
	    "};\n", "50-test.conf:1:", "bad address");
	load_error("banana = 1;\n", "50-test.conf:1:", "unknown key 'banana'");
}

static void
test_parse_duplicates_across_files(void **state)
{
	char	path[PATH_MAX + 64], *cause = NULL;
	struct policy *p;

	(void)state;
	snprintf(path, sizeof path, "%s/10-a.conf", F->rules);
	write_file(path, ACTIONS);
	snprintf(path, sizeof path, "%s/20-b.conf", F->rules);
	write_file(path, "\nactions = { block = { type = \"block\"; }; };\n");
	p = policy_load(F->cfg, &cause);
	assert_null(p);
	assert_non_null(strstr(cause, "20-b.conf:2: action 'block' is "
	    "defined twice"));
	free(cause);
	/* A rule in one file uses the actions of another. */
	write_file(path, "rules = { r = { action = \"block\"; }; };\n");
	p = policy_load(F->cfg, &cause);
	assert_non_null(p);
	assert_int_equal(p->nrules, 1);
	policy_unref(p);
}

/* --- objects ------------------------------------------------------------ */

#define ONE_RULE(who_or_what, field)					\
	ACTIONS "rules = { r = { " field " = [ \"g\" ]; action = "	\
	"[ \"tag\" ]; }; };\n" who_or_what

static void
test_who_objects(void **state)
{
	struct tin	t;

	(void)state;
	tin_init(&t, "alice@spam.test", "u@example.com", NULL);
	load(ONE_RULE("who = { g = { objects = ( { email = \"*@SPAM.test\"; }"
	    " ); }; };\n", "from"));
	assert_true(rule_hits(&t, "r"));
	t.in.sender = "alice@ham.test";
	assert_false(rule_hits(&t, "r"));
	/* The From: header address counts too. */
	t.tm.m.from_addr = "x@spam.test";
	assert_true(rule_hits(&t, "r"));
	t.tm.m.from_addr = NULL;

	load(ONE_RULE("who = { g = { objects = ( { domain = \"*.evil.test\"; }"
	    " ); }; };\n", "from"));
	t.in.sender = "a@mx.evil.test";
	assert_true(rule_hits(&t, "r"));
	t.in.sender = "a@evil.test";
	assert_false(rule_hits(&t, "r"));
	load(ONE_RULE("who = { g = { objects = ( { domain = \"evil.test\"; }"
	    " ); }; };\n", "from"));
	assert_true(rule_hits(&t, "r"));

	load(ONE_RULE("who = { g = { objects = ( { regex = \"^a@.*\\\\.test$\";"
	    " } ); }; };\n", "from"));
	assert_true(rule_hits(&t, "r"));
	t.in.sender = "b@evil.test";
	assert_false(rule_hits(&t, "r"));

	load(ONE_RULE("who = { g = { objects = ( { ip = \"192.0.2.0/28\"; }"
	    " ); }; };\n", "from"));
	assert_true(rule_hits(&t, "r"));
	t.in.client_addr = "192.0.2.77";
	assert_false(rule_hits(&t, "r"));
	t.in.client_addr = "192.0.2.7";

	/* Recipients: one address each. */
	load(ONE_RULE("who = { g = { objects = ( { email = "
	    "\"u@example.com\"; } ); }; };\n", "to"));
	assert_true(rule_hits(&t, "r"));
	t.rcpts[0] = "v@example.com";
	assert_false(rule_hits(&t, "r"));
}

static void
test_who_list_object(void **state)
{
	struct policy_list_entry	*v;
	struct policy_lists		*l;
	struct tin			 t;

	(void)state;
	load(ONE_RULE("who = { g = { objects = ( { list = \"block\"; } ); };"
	    " };\n", "from"));
	v = xcalloc(2, sizeof *v);
	v[0].owner = xstrdup("");
	v[0].block = true;
	v[0].pattern = xstrdup("*@Spam.TEST");
	v[1].owner = xstrdup("");
	v[1].block = false;
	v[1].pattern = xstrdup("good.test");
	l = policy_lists_new(v, 2);
	tin_init(&t, "x@spam.test", "u@example.com", NULL);
	t.in.lists = l;
	assert_true(rule_hits(&t, "r"));
	t.in.sender = "x@good.test";
	assert_false(rule_hits(&t, "r"));
	policy_lists_unref(l);
}

static void
test_what_objects(void **state)
{
	struct tin	t;

	(void)state;
	tin_init(&t, "a@b.test", "u@example.com", NULL);
	load(ONE_RULE("what = { g = { objects = ( { spam_score = 5.0; } ); };"
	    " };\n", "what"));
	t.f.score = 4.9;
	assert_false(rule_hits(&t, "r"));
	t.f.score = 5.0;
	assert_true(rule_hits(&t, "r"));

	load(ONE_RULE("what = { g = { objects = ( { virus = true; } ); }; };\n",
	    "what"));
	assert_false(rule_hits(&t, "r"));
	t.f.virus = xstrdup("Eicar-Test-Signature");
	assert_true(rule_hits(&t, "r"));
	free(t.f.virus);
	t.f.virus = NULL;

	/* Declared application/pdf, sniffed an executable. */
	load(ONE_RULE("what = { g = { objects = ( { content_type = "
	    "\"x-dosexec\"; source = \"declared\"; } ); }; };\n", "what"));
	assert_false(rule_hits(&t, "r"));
	load(ONE_RULE("what = { g = { objects = ( { content_type = "
	    "\"x-dosexec\"; } ); }; };\n", "what"));
	assert_true(rule_hits(&t, "r"));
	load(ONE_RULE("what = { g = { objects = ( { content_type = "
	    "\"^application/pdf$\"; source = \"sniffed\"; } ); }; };\n", "what"));
	assert_false(rule_hits(&t, "r"));

	load(ONE_RULE("what = { g = { objects = ( { filename = "
	    "\"\\\\.PDF$\"; } ); }; };\n", "what"));
	assert_true(rule_hits(&t, "r"));
	load(ONE_RULE("what = { g = { objects = ( { filename = "
	    "\"\\\\.exe$\"; } ); }; };\n", "what"));
	assert_false(rule_hits(&t, "r"));

	load(ONE_RULE("what = { g = { objects = ( { header = \"x-mailer\"; "
	    "value = \"^spambot\"; } ); }; };\n", "what"));
	assert_true(rule_hits(&t, "r"));
	load(ONE_RULE("what = { g = { objects = ( { header = \"Subject\"; "
	    "value = \"^spambot\"; } ); }; };\n", "what"));
	assert_false(rule_hits(&t, "r"));
}

static void
test_what_archive_objects(void **state)
{
	struct attach_member	 mem[2] = {
		{ .part = 2, .name = "docs/readme.txt", .type = "text/plain" },
		{ .part = 2, .name = "docs/run.js",
		  .type = "application/javascript" },
	};
	struct attach_facts	 facts;
	struct tin		 t;

	(void)state;
	memset(&facts, 0, sizeof facts);
	facts.members = mem;
	facts.nmembers = 2;
	tin_init(&t, "a@b.test", "u@example.com", NULL);
	t.in.attach = &facts;
	load(ONE_RULE("what = { g = { objects = ( { archive_name = "
	    "\"\\\\.js$\"; } ); }; };\n", "what"));
	assert_true(rule_hits(&t, "r"));
	load(ONE_RULE("what = { g = { objects = ( { archive_type = "
	    "\"dosexec\"; } ); }; };\n", "what"));
	assert_false(rule_hits(&t, "r"));
	load(ONE_RULE("what = { g = { objects = ( { archive_type = "
	    "\"javascript\"; } ); }; };\n", "what"));
	assert_true(rule_hits(&t, "r"));
}

static void
test_when_objects(void **state)
{
	struct tin	t;

	(void)state;
	tin_init(&t, "a@b.test", "u@example.com", NULL);
	load(ONE_RULE("when = { g = { objects = ( { days = \"mon-fri\"; "
	    "start = \"08:00\"; end = \"18:00\"; } ); }; };\n", "when"));
	assert_true(rule_hits(&t, "r"));		/* Wednesday noon */
	t.in.time_ms += 7 * 3600 * 1000;		/* 19:00 */
	assert_false(rule_hits(&t, "r"));
	load(ONE_RULE("when = { g = { objects = ( { days = \"sat,sun\"; } ); "
	    "}; };\n", "when"));
	assert_false(rule_hits(&t, "r"));
	/* Overnight frames: from the evening of a listed day. */
	load(ONE_RULE("when = { g = { objects = ( { days = \"wed\"; start = "
	    "\"18:00\"; end = \"06:00\"; } ); }; };\n", "when"));
	assert_true(rule_hits(&t, "r"));		/* Wed 19:00 */
	t.in.time_ms += 10 * 3600 * 1000;		/* Thu 05:00 */
	assert_true(rule_hits(&t, "r"));
	t.in.time_ms += 2 * 3600 * 1000;		/* Thu 07:00 */
	assert_false(rule_hits(&t, "r"));
}

/* --- rules --------------------------------------------------------------- */

static void
test_inversion_and_categories(void **state)
{
	struct tin	t;

	(void)state;
	load("who = { bad = { objects = ( { domain = \"evil.test\"; } ); }; "
	    "staff = { objects = ( { domain = \"example.com\"; } ); }; };\n"
	    "what = { spam = { objects = ( { spam_score = 5; } ); }; "
	    "exe = { objects = ( { filename = \"\\\\.exe$\"; } ); }; };\n"
	    ACTIONS
	    "rules = {\n"
	    "  not_bad = { from = [ \"!bad\" ]; action = \"tag\"; };\n"
	    "  both = { from = [ \"bad\" ]; to = [ \"staff\" ]; what = "
	    "[ \"exe\", \"spam\" ]; action = \"tag\"; };\n"
	    "  never = { what = [ \"!spam\", \"exe\" ]; from = [ \"!staff\" ];"
	    " to = [ \"bad\" ]; action = \"tag\"; };\n"
	    "};\n");
	tin_init(&t, "x@evil.test", "u@example.com", NULL);
	assert_false(rule_hits(&t, "not_bad"));
	/* AND across categories, OR within: no exe, but spam. */
	t.f.score = 6;
	assert_true(rule_hits(&t, "both"));
	t.f.score = 1;
	assert_false(rule_hits(&t, "both"));
	assert_false(rule_hits(&t, "never"));
	t.in.sender = "x@good.test";
	t.tm.m.from_addr = "bob@good.test";	/* From: counts too */
	assert_true(rule_hits(&t, "not_bad"));
	assert_false(rule_hits(&t, "both"));
}

static void
test_priorities_final_and_accumulating(void **state)
{
	struct policy_lists	*l = no_lists();
	struct policy_result	*r;
	struct policy_group	*g;
	struct tin		 t;

	(void)state;
	load("what = { spam = { objects = ( { spam_score = 5; } ); }; };\n"
	    ACTIONS
	    "rules = {\n"
	    "  tag_all = { priority = 95; action = \"tag\"; };\n"
	    "  notify = { priority = 90; what = \"spam\"; action = \"note\"; };\n"
	    "  quarantine = { priority = 80; what = \"spam\"; action = "
	    "\"quar\"; };\n"
	    "  late_tag = { priority = 50; action = \"tag\"; };\n"
	    "  late_block = { priority = 40; action = \"block\"; };\n"
	    "  disabled = { priority = 99; active = false; action = "
	    "\"block\"; };\n"
	    "  outbound = { priority = 98; direction = \"out\"; action = "
	    "\"block\"; };\n"
	    "};\n");
	tin_init(&t, "a@b.test", "u@example.com", NULL);
	t.in.lists = l;
	t.f.score = 7;
	r = policy_eval(F->p, &t.in);
	assert_string_equal(fin(r, 0), "quarantine");
	g = &r->groups[r->rcpts[0].group];
	assert_int_equal(g->quar_type, QUAR_SPAM);
	assert_string_equal(g->final_rule->name, "quarantine");
	/* Accumulated before the final one, nothing after it. */
	assert_int_equal(g->nhits, 2);
	assert_string_equal(g->hits[0].action->name, "tag");
	assert_string_equal(g->hits[1].action->name, "note");
	assert_true(g->modifies);
	assert_int_equal(r->rcpts[0].nrules, 3);
	assert_false(matched(r, 0, "late_tag"));
	assert_false(matched(r, 0, "disabled"));
	assert_false(matched(r, 0, "outbound"));
	policy_result_free(r);

	/* Not spam: the late rules run, late_block decides. */
	t.f.score = 1;
	r = policy_eval(F->p, &t.in);
	assert_string_equal(fin(r, 0), "block");
	assert_true(r->all_blocked);
	assert_string_equal(r->rule_text, "late_block");
	g = &r->groups[r->rcpts[0].group];
	assert_int_equal(g->nhits, 2);		/* tag_all, late_tag */
	assert_false(g->modifies);		/* blocked: nothing to rewrite */
	policy_result_free(r);

	/* Outbound mail meets the outbound rule first. */
	t.in.direction = DIR_OUTBOUND;
	r = policy_eval(F->p, &t.in);
	assert_true(matched(r, 0, "outbound"));
	assert_int_equal(r->rcpts[0].nrules, 1);
	policy_result_free(r);
	policy_lists_unref(l);
}

static void
test_per_recipient_outcomes(void **state)
{
	struct policy_list_entry	*v;
	struct policy_lists		*l;
	struct policy_result		*r;
	struct tin			 t;

	(void)state;
	load("who = { sales = { objects = ( { email = \"sales@example.com\"; }"
	    " ); }; boss = { objects = ( { email = \"boss@example.com\"; } ); };"
	    " };\n"
	    "what = { spam = { objects = ( { spam_score = 5; } ); }; };\n"
	    ACTIONS
	    "rules = {\n"
	    "  boss_block = { priority = 90; to = \"boss\"; action = "
	    "\"block\"; };\n"
	    "  spam = { priority = 80; what = \"spam\"; action = \"quar\"; };\n"
	    "  sales_tag = { priority = 70; to = \"sales\"; action = \"tag\"; "
	    "};\n"
	    "};\n");
	tin_init(&t, "a@b.test", "sales@example.com", "boss@example.com");
	t.rcpts[2] = "other@example.com";
	t.rcpts[3] = "friend@example.com";
	t.in.nrcpts = 4;
	/* friend@ welcomes a@b.test; other@ blocks it (score +50). */
	v = xcalloc(2, sizeof *v);
	v[0].owner = xstrdup("friend@example.com");
	v[0].pattern = xstrdup("a@b.test");
	v[1].owner = xstrdup("OTHER@example.com");
	v[1].block = true;
	v[1].pattern = xstrdup("*@b.test");
	l = policy_lists_new(v, 2);
	t.in.lists = l;
	t.f.score = 6;
	r = policy_eval(F->p, &t.in);
	assert_string_equal(fin(r, 0), "quarantine");	/* sales: spam */
	assert_string_equal(fin(r, 1), "block");	/* boss */
	assert_string_equal(fin(r, 2), "quarantine");	/* other */
	assert_string_equal(fin(r, 3), "accept");	/* welcomelisted */
	assert_true(r->rcpts[3].welcomelisted);
	assert_true(r->rcpts[2].blocklisted);
	assert_true(r->rcpts[2].score == 56.0);
	assert_false(r->all_blocked);
	/* sales and other share a group: same decision, same actions. */
	assert_int_equal(r->rcpts[0].group, r->rcpts[2].group);
	assert_int_equal(r->ngroups, 3);
	assert_int_equal(r->groups[r->rcpts[0].group].nrcpts, 2);
	policy_result_free(r);

	/* Not spam: sales gets the tag, the others nothing; other is
	 * blocklisted into the spam rule. */
	t.f.score = 0;
	r = policy_eval(F->p, &t.in);
	assert_string_equal(fin(r, 0), "accept");
	assert_int_equal(r->groups[r->rcpts[0].group].nhits, 1);
	assert_string_equal(fin(r, 2), "quarantine");
	assert_string_equal(fin(r, 3), "accept");
	assert_true(r->rcpts[0].group != r->rcpts[3].group);
	policy_result_free(r);

	/* Every recipient blocked: the SMTP answer is a 554. */
	t.in.nrcpts = 1;
	t.rcpts[0] = "boss@example.com";
	r = policy_eval(F->p, &t.in);
	assert_true(r->all_blocked);
	assert_string_equal(r->rule_text, "boss_block");
	policy_result_free(r);
	policy_lists_unref(l);
}

static void
test_parts_marked_and_quarantine_types(void **state)
{
	struct policy_lists	*l = no_lists();
	struct policy_result	*r;
	struct policy_group	*g;
	struct tin		 t;

	(void)state;
	load("what = { exe = { objects = ( { content_type = \"dosexec\"; "
	    "source = \"sniffed\"; }, { filename = \"\\\\.scr$\"; } ); }; "
	    "virus = { objects = ( { virus = true; } ); }; };\n"
	    ACTIONS
	    "rules = {\n"
	    "  v = { priority = 96; what = \"virus\"; action = \"quar\"; };\n"
	    "  strip = { priority = 93; what = \"exe\"; action = \"strip\"; };\n"
	    "  q = { priority = 10; what = \"exe\"; action = \"quar\"; };\n"
	    "};\n");
	tin_init(&t, "a@b.test", "u@example.com", NULL);
	t.in.lists = l;
	r = policy_eval(F->p, &t.in);
	g = &r->groups[0];
	assert_int_equal(g->final, POLICY_QUARANTINE);
	assert_int_equal(g->quar_type, QUAR_ATTACHMENT);
	assert_int_equal(g->nhits, 1);
	/* Only the executable is marked, not the text or the container. */
	assert_int_equal(g->hits[0].parts.bits[0], UINT64_C(1) << 2);
	assert_false(g->quarantine_original);
	policy_result_free(r);
	t.f.virus = xstrdup("Eicar");
	r = policy_eval(F->p, &t.in);
	assert_int_equal(r->groups[0].quar_type, QUAR_VIRUS);
	policy_result_free(r);
	free(t.f.virus);
	t.f.virus = NULL;
	/* The scanner failed: nothing is decided on it. */
	t.f.av_failed = true;
	r = policy_eval(F->p, &t.in);
	assert_true(r->tempfail);
	policy_result_free(r);
	policy_lists_unref(l);
}

/* --- templates and modifications ---------------------------------------- */

static void
test_templates(void **state)
{
	struct policy_vars	 v;
	char			*s, *cause = NULL;

	(void)state;
	assert_int_equal(policy_template_check("${sender} ${score}", &cause),
	    0);
	assert_int_equal(policy_template_check("${bogus}", &cause), -1);
	free(cause);
	memset(&v, 0, sizeof v);
	v.sender = "a@b.test";
	v.subject = "hi\r\nBcc: evil@x";
	v.score = 7.25;
	s = policy_template_expand("${sender}|${subject}|${score}|"
	    "${spam_level}|${virus}|${spam}", &v, 200);
	assert_string_equal(s, "a@b.test|hi Bcc: evil@x|7.25|*******||NO");
	free(s);
	v.sender = "";
	s = policy_template_expand("<${sender}>", &v, 4);
	assert_string_equal(s, "<<>>");		/* cut at 4 bytes */
	free(s);
}

#define MULTI								\
	"From: Bob <bob@b.test>\r\n"					\
	"To: u@example.com\r\n"						\
	"Subject: Invoice\r\n"						\
	"X-Spam-Old: yes\r\n"						\
	"X-Spam-Old: again\r\n"						\
	"MIME-Version: 1.0\r\n"						\
	"Content-Type: multipart/mixed; boundary=\"BB\"\r\n"		\
	"\r\n"								\
	"--BB\r\n"							\
	"Content-Type: multipart/alternative; boundary=\"AA\"\r\n"	\
	"\r\n"								\
	"--AA\r\n"							\
	"Content-Type: text/plain; charset=us-ascii\r\n"		\
	"\r\n"								\
	"Hello plain.\r\n"						\
	"--AA\r\n"							\
	"Content-Type: text/html; charset=us-ascii\r\n"			\
	"\r\n"								\
	"<html><body><p>Hello html.</p></body></html>\r\n"		\
	"--AA--\r\n"							\
	"--BB\r\n"							\
	"Content-Type: application/octet-stream; name=\"run.exe\"\r\n"	\
	"Content-Disposition: attachment; filename=\"run.exe\"\r\n"	\
	"Content-Transfer-Encoding: base64\r\n"				\
	"\r\n"								\
	"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n" \
	"--BB\r\n"							\
	"Content-Type: text/csv; name=\"data.csv\"\r\n"			\
	"Content-Disposition: attachment; filename=\"data.csv\"\r\n"	\
	"\r\n"								\
	"a,b\r\n1,2\r\n"						\
	"--BB--\r\n"

static bool
has_bare_lf(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) ||
		    (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n')))
			return true;
	return false;
}

/* Evaluate MULTI with the loaded policy and apply group 0. */
static char *
apply_multi(char **removed)
{
	struct policy_lists	*l = no_lists();
	struct policy_result	*r;
	struct policy_vars	 v;
	struct policy_input	 in;
	struct findings		 f;
	struct msg		*m;
	struct buf		 out;
	const char		*rcpt = "u@example.com";
	char			*cause = NULL;

	m = mime_parse(MULTI, strlen(MULTI));
	assert_non_null(m);
	findings_init(&f);
	f.score = 3.5;
	memset(&in, 0, sizeof in);
	in.sender = "bob@b.test";
	in.rcpts = &rcpt;
	in.nrcpts = 1;
	in.msg = m;
	in.findings = &f;
	in.lists = l;
	in.time_ms = noon_wednesday();
	r = policy_eval(F->p, &in);
	assert_true(r->groups[0].modifies);
	memset(&v, 0, sizeof v);
	v.sender = in.sender;
	v.score = f.score;
	v.rule = "r";
	buf_init(&out, 1024 * 1024);
	if (policy_apply(&r->groups[0], m, MULTI, strlen(MULTI), &v, &out,
	    removed, &cause) == -1)
		fail_msg("policy_apply: %s", cause);
	assert_false(has_bare_lf(out.data, out.len));
	policy_result_free(r);
	policy_lists_unref(l);
	msg_free(m);
	return buf_steal(&out);
}

static void
test_modify_headers(void **state)
{
	char	*s, *removed = NULL;

	(void)state;
	load("actions = {\n"
	    "  add = { type = \"add_header\"; field = \"X-Moat-Rule\"; value = "
	    "\"score ${score} ${spam_level}\"; };\n"
	    "  mod = { type = \"modify_header\"; field = \"Subject\"; value = "
	    "\"[SPAM] Invoice\"; };\n"
	    "  rm = { type = \"remove_header\"; field = \"X-Spam-Old\"; };\n"
	    "};\n"
	    "rules = { r = { action = [ \"add\", \"mod\", \"rm\" ]; }; };\n");
	s = apply_multi(&removed);
	assert_null(removed);
	assert_non_null(strstr(s, "X-Moat-Rule: score 3.50 ***\r\n"));
	assert_non_null(strstr(s, "Subject: [SPAM] Invoice\r\n"));
	assert_null(strstr(s, "Subject: Invoice"));
	assert_null(strstr(s, "X-Spam-Old"));
	/* The body is untouched. */
	assert_non_null(strstr(s, "Hello plain.\r\n"));
	assert_non_null(strstr(s, "filename=\"run.exe\""));
	free(s);
}

static void
test_remove_attachment_keeps_rest(void **state)
{
	char	*s, *removed = NULL;

	(void)state;
	load("what = { exe = { objects = ( { filename = \"\\\\.exe$\"; } ); };"
	    " };\n"
	    "actions = { strip = { type = \"remove_attachments\"; text = "
	    "\"Removed ${filenames} (rule ${rule}).\"; }; };\n"
	    "rules = { r = { what = \"exe\"; action = \"strip\"; }; };\n");
	s = apply_multi(&removed);
	assert_string_equal(removed, "run.exe");
	assert_null(strstr(s, "TVqQAAMAAAAEAAAA"));
	assert_null(strstr(s, "filename=\"run.exe\""));
	assert_non_null(strstr(s, "Removed run.exe (rule r)."));
	/* Everything else stays. */
	assert_non_null(strstr(s, "Hello plain."));
	assert_non_null(strstr(s, "Hello html."));
	assert_non_null(strstr(s, "filename=\"data.csv\""));
	assert_non_null(strstr(s, "a,b\r\n1,2"));
	free(s);
	free(removed);

	/* all = true: every attachment goes, the text stays. */
	load("actions = { strip = { type = \"remove_attachments\"; all = true;"
	    " }; };\nrules = { r = { action = \"strip\"; }; };\n");
	s = apply_multi(&removed);
	assert_string_equal(removed, "run.exe, data.csv");
	assert_null(strstr(s, "a,b\r\n1,2"));
	assert_non_null(strstr(s, "Hello plain."));
	free(s);
	free(removed);
}

static void
test_disclaimer_text_and_html(void **state)
{
	char	*s, *removed = NULL;

	(void)state;
	load("actions = { d = { type = \"disclaimer\"; text = "
	    "\"-- \\nConfidential: for the addressee only.\"; html = "
	    "\"<p class=\\\"disc\\\">Confidential</p>\"; }; };\n"
	    "rules = { r = { action = \"d\"; }; };\n");
	s = apply_multi(&removed);
	if (getenv("SHOW") != NULL)
		fprintf(stderr, "%s\n", s);
	assert_non_null(strstr(s, "Hello plain.\r\n-- \r\nConfidential: for "
	    "the addressee only."));
	assert_non_null(strstr(s, "<p class=\"disc\">Confidential</p>\r\n"
	    "</body>"));
	/* Attachments are not touched. */
	assert_null(strstr(s, "a,b\r\n1,2\r\n-- "));
	free(s);
}

static void
test_disclaimer_signed_goes_beside(void **state)
{
	static const char signed_msg[] =
	    "From: a@b.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/signed; protocol=\"application/"
	    "pgp-signature\"; boundary=\"SS\"\r\n\r\n"
	    "--SS\r\nContent-Type: text/plain\r\n\r\nSigned text.\r\n"
	    "--SS\r\nContent-Type: application/pgp-signature\r\n\r\nSIG\r\n"
	    "--SS--\r\n";
	struct policy_lists	*l = no_lists();
	struct policy_result	*r;
	struct policy_vars	 v;
	struct policy_input	 in;
	struct buf		 out;
	const char		*rcpt = "u@example.com";
	char			*cause = NULL;

	(void)state;
	load("actions = { d = { type = \"disclaimer\"; text = \"DISC\"; }; };\n"
	    "rules = { r = { action = \"d\"; }; };\n");
	memset(&in, 0, sizeof in);
	in.sender = "a@b.test";
	in.rcpts = &rcpt;
	in.nrcpts = 1;
	in.lists = l;
	r = policy_eval(F->p, &in);
	memset(&v, 0, sizeof v);
	buf_init(&out, 1024 * 1024);
	assert_int_equal(policy_apply(&r->groups[0], NULL, signed_msg,
	    strlen(signed_msg), &v, &out, NULL, &cause), 0);
	/* The signed text is unchanged; the disclaimer is a new part. */
	assert_non_null(strstr(out.data, "multipart/mixed"));
	assert_non_null(strstr(out.data, "Signed text.\r\n--SS"));
	assert_non_null(strstr(out.data, "DISC"));
	buf_free(&out);
	policy_result_free(r);
	policy_lists_unref(l);
}

/* --- rule file edits --------------------------------------------------- */

static void
test_edit_toggle_keeps_comments(void **state)
{
	struct policy_edit	 ed;
	struct policy		*p;
	const char		*code = NULL;
	char			 path[PATH_MAX + 64], *cause = NULL, *text;

	(void)state;
	load("# Our rules.\n" ACTIONS
	    "rules = {\n"
	    "  r = { # blocks everything\n"
	    "    priority = 10;\n"
	    "    active = true;\n"
	    "    action = \"block\";\n"
	    "  };\n"
	    "};\n");
	memset(&ed, 0, sizeof ed);
	ed.op = POLICY_EDIT_ACTIVE;
	ed.name = "r";
	ed.active = false;
	p = policy_edit(F->cfg, &ed, &code, &cause);
	if (p == NULL)
		fail_msg("policy_edit: %s", cause);
	assert_false(policy_rule_find(p, "r")->active);
	policy_unref(p);
	snprintf(path, sizeof path, "%s/50-test.conf", F->rules);
	text = read_all(path);
	assert_non_null(strstr(text, "    active = false;\n"));
	assert_non_null(strstr(text, "# blocks everything"));
	free(text);

	ed.op = POLICY_EDIT_PRIORITY;
	ed.priority = 77;
	p = policy_edit(F->cfg, &ed, &code, &cause);
	assert_non_null(p);
	assert_int_equal(policy_rule_find(p, "r")->priority, 77);
	policy_unref(p);
	text = read_all(path);
	assert_non_null(strstr(text, "    priority = 77;\n"));
	free(text);

	/* A priority out of range changes nothing. */
	ed.priority = 200;
	assert_null(policy_edit(F->cfg, &ed, &code, &cause));
	assert_string_equal(code, "bad_args");
	free(cause);
	cause = NULL;
	ed.name = "nope";
	assert_null(policy_edit(F->cfg, &ed, &code, &cause));
	assert_string_equal(code, "not_found");
	free(cause);
}

static void
test_edit_adds_missing_setting(void **state)
{
	struct policy_edit	 ed;
	struct policy		*p;
	const char		*code = NULL;
	char			*cause = NULL;

	(void)state;
	load(ACTIONS "rules = { r = { action = \"block\"; }; };\n");
	memset(&ed, 0, sizeof ed);
	ed.op = POLICY_EDIT_ACTIVE;
	ed.name = "r";
	ed.active = false;
	p = policy_edit(F->cfg, &ed, &code, &cause);
	if (p == NULL)
		fail_msg("policy_edit: %s", cause);
	assert_false(policy_rule_find(p, "r")->active);
	policy_unref(p);
	/* It survives a fresh load (a restart). */
	p = policy_load(F->cfg, &cause);
	assert_non_null(p);
	assert_false(policy_rule_find(p, "r")->active);
	policy_unref(p);
}

static void
test_edit_objects(void **state)
{
	struct policy_edit		 ed;
	struct policy			*p;
	const struct policy_objgroup	*g;
	const char			*code = NULL;
	char				*cause = NULL;
	json_t				*objs;

	(void)state;
	load("who = { bl = { objects = ( { email = \"a@b.test\"; } ); }; };\n"
	    ACTIONS "rules = { r = { from = \"bl\"; action = \"block\"; }; };\n");
	objs = json_loads("[{\"email\":\"x@y.test\"},{\"domain\":\"spam.test\"},"
	    "{\"ip\":\"198.51.100.0/24\"}]", 0, NULL);
	memset(&ed, 0, sizeof ed);
	ed.op = POLICY_EDIT_OBJECTS;
	ed.cat = POLICY_WHO;
	ed.name = "bl";
	ed.objects = objs;
	p = policy_edit(F->cfg, &ed, &code, &cause);
	if (p == NULL)
		fail_msg("policy_edit: %s", cause);
	g = policy_group_find(p, POLICY_WHO, "bl");
	assert_int_equal(g->nobjs, 3);
	assert_string_equal(g->objs[1].value, "spam.test");
	policy_unref(p);
	json_decref(objs);
	/* A bad object is refused and the file stays as it was. */
	objs = json_loads("[{\"regex\":\"(\"}]", 0, NULL);
	ed.objects = objs;
	assert_null(policy_edit(F->cfg, &ed, &code, &cause));
	assert_string_equal(code, "bad_args");
	assert_non_null(strstr(cause, "bad regular expression"));
	free(cause);
	json_decref(objs);
	p = policy_load(F->cfg, &cause);
	assert_int_equal(policy_group_find(p, POLICY_WHO, "bl")->nobjs, 3);
	policy_unref(p);
}

static void
test_shipped_defaults_load(void **state)
{
	struct policy	*p;
	char		 cmd[2 * PATH_MAX + 64], *cause = NULL;

	(void)state;
	/* The defaults of the source tree, as installed. */
	snprintf(cmd, sizeof cmd, "cp rules.d/policy/*.conf '%s'/", F->rules);
	if (system(cmd) != 0)
		skip();
	p = policy_load(F->cfg, &cause);
	if (p == NULL)
		fail_msg("shipped rules: %s", cause);
	assert_non_null(policy_rule_find(p, "block_viruses"));
	assert_non_null(policy_rule_find(p, "quarantine_spam"));
	assert_false(policy_rule_find(p, "disclaimer")->active);
	policy_unref(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_folder, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_parse_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_parse_duplicates_across_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_who_objects, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_who_list_object, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_what_objects, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_what_archive_objects,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_when_objects, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_inversion_and_categories,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_priorities_final_and_accumulating, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_recipient_outcomes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_parts_marked_and_quarantine_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_templates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_modify_headers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_remove_attachment_keeps_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disclaimer_text_and_html,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_disclaimer_signed_goes_beside, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_edit_toggle_keeps_comments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_adds_missing_setting,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_objects, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_shipped_defaults_load,
		    setup, teardown),
	};

	log_init("test_policy", true, false);
	g_mime_init();
	mime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
