/*
 * Unit tests for the LDAP directory module (daemon/ldapdir.c): RFC 4515
 * filter escaping, snapshot building (nested groups, memberOf, cycles),
 * the staleness rule of ldapdir_rcpt_known with a fake clock, and
 * configuration errors. With MOAT_TEST_LDAP_URI set (tests/e2e/test_ldap.py
 * starts a real slapd and runs this binary), also the directory load and
 * ldapdir_login against that server.
 */
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

#include "cfg.h"
#include "ldapdir.h"
#include "log.h"
#include "xmalloc.h"

static int64_t	 fake_now;

static int64_t
fake_clock(void)
{
	return fake_now;
}

static void
test_escape(void **state)
{
	char	 out[128];

	(void)state;
	assert_int_equal(ldapdir_filter_escape("a*b(c)d\\e", out, sizeof out),
	    0);
	assert_string_equal(out, "a\\2ab\\28c\\29d\\5ce");
	assert_int_equal(ldapdir_filter_escape("", out, sizeof out), 0);
	assert_string_equal(out, "");
	assert_int_equal(ldapdir_filter_escape("abcd", out, 5), 0);
	assert_int_equal(ldapdir_filter_escape("abcde", out, 5), -1);
	assert_int_equal(ldapdir_filter_escape("ab*", out, 5), -1);

	assert_int_equal(ldapdir_filter_build(
	    "(|(mail=%s)(proxyAddresses=smtp:%s))", "x*)(uid=*", out,
	    sizeof out), 0);
	assert_string_equal(out, "(|(mail=x\\2a\\29\\28uid=\\2a)"
	    "(proxyAddresses=smtp:x\\2a\\29\\28uid=\\2a))");
	assert_int_equal(ldapdir_filter_build("(mail=%s)", "0123456789",
	    out, 16), -1);
	assert_int_equal(ldapdir_filter_build("(%d=%s)", "v", out,
	    sizeof out), 0);
	assert_string_equal(out, "(%d=v)");
}

static char **
sv(const char *a, const char *b, const char *c)
{
	char	**v = xcalloc(4, sizeof *v);
	size_t	  n = 0;

	if (a != NULL)
		v[n++] = xstrdup(a);
	if (b != NULL)
		v[n++] = xstrdup(b);
	if (c != NULL)
		v[n++] = xstrdup(c);
	return v;
}

static void
sv_free(char **v)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

#define NENT	8

static struct ldapdir_snap *
sample(void)
{
	struct ldapdir_entry	 e[NENT];
	struct ldapdir_snap	*s;
	size_t			 i;

	memset(e, 0, sizeof e);
	e[0].dn = xstrdup("uid=alice,ou=people,dc=example,dc=com");
	e[0].addrs = sv("alice@example.com", "a.smith@example.com", NULL);
	e[1].dn = xstrdup("uid=bob,ou=people,dc=example,dc=com");
	e[1].addrs = sv("Bob@Example.com", NULL, NULL);
	e[1].member_of = sv("CN=Auditors, OU=Groups,DC=example,DC=com",
	    NULL, NULL);
	e[2].dn = xstrdup("uid=carol,ou=people,dc=example,dc=com");
	e[2].addrs = sv("carol@example.com", NULL, NULL);
	e[3].dn = xstrdup("cn=staff,ou=groups,dc=example,dc=com");
	e[3].members = sv("uid=alice,ou=people,dc=example,dc=com",
	    "cn=admins,ou=groups,dc=example,dc=com", NULL);
	e[4].dn = xstrdup("cn=admins,ou=groups,dc=example,dc=com");
	e[4].members = sv("cn=inner,ou=groups,dc=example,dc=com",
	    "uid=gone,ou=people,dc=example,dc=com", NULL);
	e[5].dn = xstrdup("cn=inner,ou=groups,dc=example,dc=com");
	/* A cycle back to admins must not loop. */
	e[5].members = sv("uid=carol,ou=people,dc=example,dc=com",
	    "cn=admins,ou=groups,dc=example,dc=com", NULL);
	e[6].dn = xstrdup("cn=auditors,ou=groups,dc=example,dc=com");
	e[6].members = sv("uid=svc,ou=people,dc=example,dc=com", NULL, NULL);
	e[7].dn = xstrdup("cn=sales,ou=groups,dc=example,dc=com");
	e[7].addrs = sv("sales@example.com", "alice@example.com", NULL);
	e[7].members = sv("uid=alice,ou=people,dc=example,dc=com", NULL,
	    NULL);
	s = ldapdir_snap_build(e, NENT);
	for (i = 0; i < NENT; i++) {
		free(e[i].dn);
		sv_free(e[i].addrs);
		sv_free(e[i].members);
		sv_free(e[i].member_of);
	}
	return s;
}

static void
test_snapshot(void **state)
{
	struct ldapdir_snap	*s = sample();

	(void)state;
	assert_int_equal(ldapdir_snap_count(s), 5);
	assert_true(ldapdir_snap_has(s, "alice@example.com"));
	assert_true(ldapdir_snap_has(s, "A.Smith@EXAMPLE.com"));
	assert_true(ldapdir_snap_has(s, "<bob@example.com>"));
	assert_true(ldapdir_snap_has(s, "sales@example.com"));
	assert_false(ldapdir_snap_has(s, "nobody@example.com"));
	assert_false(ldapdir_snap_has(s, ""));
	assert_false(ldapdir_snap_has(s, "alice@example.co"));

	/* Nested: staff > admins > inner > carol. */
	assert_true(ldapdir_snap_in_group(s, "cn=staff,ou=groups,"
	    "dc=example,dc=com", "carol@example.com"));
	assert_true(ldapdir_snap_in_group(s, "staff", "a.smith@example.com"));
	assert_true(ldapdir_snap_in_group(s, "CN=Admins, OU=Groups, "
	    "DC=Example, DC=Com", "carol@example.com"));
	assert_false(ldapdir_snap_in_group(s, "admins", "alice@example.com"));
	assert_true(ldapdir_snap_in_group(s, "inner", "carol@example.com"));
	/* memberOf (AD) adds bob to auditors. */
	assert_true(ldapdir_snap_in_group(s, "auditors", "bob@example.com"));
	assert_false(ldapdir_snap_in_group(s, "auditors",
	    "carol@example.com"));
	assert_false(ldapdir_snap_in_group(s, "nosuch", "carol@example.com"));
	/* DNs, including members not in the load. */
	assert_true(ldapdir_snap_dn_in_group(s, "admins",
	    "UID=carol,ou=people,dc=example,dc=com"));
	assert_true(ldapdir_snap_dn_in_group(s, "staff",
	    "uid=gone,ou=people,dc=example,dc=com"));
	assert_false(ldapdir_snap_dn_in_group(s, "admins",
	    "uid=alice,ou=people,dc=example,dc=com"));
	ldapdir_snap_free(s);

	s = ldapdir_snap_build(NULL, 0);
	assert_int_equal(ldapdir_snap_count(s), 0);
	assert_false(ldapdir_snap_has(s, "a@b"));
	ldapdir_snap_free(s);
}

static void
test_staleness(void **state)
{
	(void)state;
	ldapdir_set_clock(fake_clock);
	assert_int_equal(ldapdir_rcpt_known("alice@example.com"), -2);
	fake_now = 1000000;
	ldapdir_test_install("corp", sample(), fake_now, 10000);
	assert_int_equal(ldapdir_rcpt_known("alice@example.com"), 1);
	assert_int_equal(ldapdir_rcpt_known("nobody@example.com"), 0);
	assert_true(ldapdir_in_group("corp", "admins", "carol@example.com"));
	assert_false(ldapdir_in_group("other", "admins",
	    "carol@example.com"));
	fake_now += 10000;
	assert_int_equal(ldapdir_rcpt_known("alice@example.com"), 1);
	fake_now += 1;
	assert_int_equal(ldapdir_rcpt_known("alice@example.com"), -1);
	assert_int_equal(ldapdir_rcpt_known("nobody@example.com"), -1);
	assert_false(ldapdir_in_group("corp", "admins", "carol@example.com"));
	ldapdir_test_install("corp", NULL, fake_now, 10000);
	assert_int_equal(ldapdir_rcpt_known("alice@example.com"), -1);
	ldapdir_stop();
	ldapdir_set_clock(NULL);
}

static struct cfg *
load(const char *text, char **cause)
{
	char		 path[] = "/tmp/test_ldapdir.XXXXXX";
	struct cfg	*c;
	FILE		*f;
	int		 fd;

	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		fail_msg("mkstemp");
	fputs(text, f);
	fclose(f);
	c = cfg_load(path, cause);
	unlink(path);
	return c;
}

static void
conf_bad(const char *text, const char *want)
{
	struct cfg	*c;
	char		*cause = NULL;

	if ((c = load(text, &cause)) == NULL)
		fail_msg("cfg_load: %s", cause);
	assert_int_equal(ldapdir_conf_check(c, &cause), -1);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\" lacks \"%s\"", cause, want);
	free(cause);
	cfg_unref(c);
}

static void
test_conf(void **state)
{
	struct cfg	*c;
	char		*cause = NULL;

	(void)state;
	c = load("ldap = { profiles = ( { name = \"corp\"; "
	    "uri = \"ldap://127.0.0.1:1\"; base = \"dc=example,dc=com\"; "
	    "refresh = 60; } ); verify_recipients = \"corp\"; "
	    "login = \"corp\"; };\n", &cause);
	if (c == NULL)
		fail_msg("cfg_load: %s", cause);
	assert_int_equal(ldapdir_conf_check(c, &cause), 0);
	cfg_unref(c);
	c = load("node = { name = \"x\"; };\n", &cause);
	assert_non_null(c);
	assert_int_equal(ldapdir_conf_check(c, &cause), 0);
	cfg_unref(c);

	conf_bad("ldap = { bogus = 1; };\n", "bogus");
	conf_bad("ldap = { profiles = ( { name = \"a\"; uri = \"http://x\"; "
	    "base = \"dc=x\"; } ); };\n", "uri must be");
	conf_bad("ldap = { profiles = ( { name = \"a\"; uri = \"ldap://x\"; "
	    "base = \"dc=x\"; colour = 1; } ); };\n", "colour");
	conf_bad("ldap = { profiles = ( { uri = \"ldap://x\"; "
	    "base = \"dc=x\"; } ); };\n", "without a name");
	conf_bad("ldap = { profiles = ( { name = \"a\"; uri = \"ldap://x\"; "
	    "} ); };\n", "without a base");
	conf_bad("ldap = { profiles = ( { name = \"a\"; uri = \"ldap://x\"; "
	    "base = \"dc=x\"; user_filter = \"(mail=x)\"; } ); };\n",
	    "need a %s");
	conf_bad("ldap = { profiles = ( { name = \"a\"; uri = \"ldap://x\"; "
	    "base = \"dc=x\"; }, { name = \"a\"; uri = \"ldap://y\"; "
	    "base = \"dc=x\"; } ); };\n", "duplicate profile");
	conf_bad("ldap = { profiles = ( { name = \"a\"; uri = \"ldap://x\"; "
	    "base = \"dc=x\"; refresh = 0; } ); };\n", "refresh");
	conf_bad("ldap = { profiles = ( { name = \"a\"; uri = \"ldap://x\"; "
	    "base = \"dc=x\"; } ); verify_recipients = \"b\"; };\n",
	    "names no profile");
	conf_bad("ldap = { profiles = ( { name = \"a\"; uri = \"ldap://x\"; "
	    "base = \"dc=x\"; } ); login = \"b\"; };\n", "names no profile");
}

/* --- against a real slapd (MOAT_TEST_LDAP_URI) ----------------------- */

static void
wait_loaded(void)
{
	struct timespec	 ts = { 0, 50 * 1000000L };
	int		 i;

	for (i = 0; i < 200; i++) {
		if (ldapdir_rcpt_known("alice@example.com") != -1)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("directory never loaded");
}

static void
login_is(const char *user, const char *pw, int want, const char *role)
{
	char	 r[LDAPDIR_ROLE_MAX];
	char	*cause = NULL;
	int	 rc;

	rc = ldapdir_login(user, pw, r, sizeof r, &cause);
	if (rc != want)
		fail_msg("login %s: %d (%s), want %d", user, rc,
		    cause != NULL ? cause : "-", want);
	if (want == 0)
		assert_string_equal(r, role);
	free(cause);
}

static void
test_live(void **state)
{
	const char	*uri = getenv("MOAT_TEST_LDAP_URI");
	struct cfg	*c;
	char		*text, *cause = NULL;

	(void)state;
	if (uri == NULL || *uri == '\0')
		skip();
	xasprintf(&text, "ldap = { profiles = ( { name = \"corp\"; "
	    "uri = \"%s\"; base = \"dc=example,dc=com\"; "
	    "bind_dn = \"uid=svc,ou=people,dc=example,dc=com\"; "
	    "bind_password = \"svcpw\"; refresh = 300; timeout_ms = 2000; page_size = 4; "
	    "admin_group = \"cn=admins,ou=groups,dc=example,dc=com\"; "
	    "qmanager_group = \"cn=qmanagers,ou=groups,dc=example,dc=com\"; "
	    "auditor_group = \"cn=auditors,ou=groups,dc=example,dc=com\"; "
	    "} ); verify_recipients = \"corp\"; login = \"corp\"; };\n", uri);
	if ((c = load(text, &cause)) == NULL)
		fail_msg("cfg_load: %s", cause);
	free(text);
	if (ldapdir_start(c, &cause) == -1)
		fail_msg("ldapdir_start: %s", cause);
	wait_loaded();

	/* The load: mail, proxyAddresses smtp: only, groups' addresses. */
	assert_int_equal(ldapdir_rcpt_known("alice@example.com"), 1);
	assert_int_equal(ldapdir_rcpt_known("A.Smith@Example.COM"), 1);
	assert_int_equal(ldapdir_rcpt_known("sales@example.com"), 1);
	assert_int_equal(ldapdir_rcpt_known("carol@example.com"), 1);
	assert_int_equal(ldapdir_rcpt_known("nobody@example.com"), 0);
	/* Loaded over several pages of 4. */
	assert_int_equal(ldapdir_rcpt_known("filler0@example.com"), 1);
	assert_int_equal(ldapdir_rcpt_known("filler19@example.com"), 1);
	assert_int_equal(ldapdir_rcpt_known("/o=corp/cn=alice"), 0);
	assert_int_equal(ldapdir_rcpt_known("sip@example.com"), 0);
	assert_true(ldapdir_in_group("corp", "staff", "carol@example.com"));
	assert_true(ldapdir_in_group("corp", "auditors", "bob@example.com"));
	assert_false(ldapdir_in_group("corp", "admins", "alice@example.com"));

	/* Login: nested admin, memberOf auditor, direct qmanager, user. */
	login_is("carol", "carolpw", 0, "admin");
	login_is("bob", "bobpw", 0, "auditor");
	login_is("dave", "davepw", 0, "qmanager");
	login_is("alice", "alicepw", 0, "user");
	login_is("alice@example.com", "alicepw", 0, "user");
	login_is("alice", "wrong", -1, NULL);
	login_is("alice", "", -1, NULL);
	login_is("", "x", -1, NULL);
	login_is("nobody", "x", -1, NULL);
	login_is("*", "alicepw", -1, NULL);
	login_is("alice)(uid=*", "alicepw", -1, NULL);
	ldapdir_stop();
	cfg_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_staleness),
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_live),
	};

	log_init("test_ldapdir", true, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
