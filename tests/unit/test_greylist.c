/*
 * Unit tests for greylisting (daemon/greylist.c, daemon/db_greylist.c):
 * the decision over time with a fake clock, client networks, whitelists,
 * the bound on the table, persistence across a restart through the real
 * sqlite store in a temporary folder, and configuration errors.
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
#include <event2/event.h>

#include "cfg.h"
#include "greylist.h"
#include "log.h"
#include "xmalloc.h"

#define S	INT64_C(1000)

struct fix {
	char			 dir[PATH_MAX];
	struct event_base	*base;
	struct cfg		*cfg;
};

static int64_t	clock_ms;

static int64_t
fake_now(void)
{
	return clock_ms;
}

static struct cfg *
load(struct fix *fx, const char *greylist)
{
	char		 path[PATH_MAX + 16], *text, *cause = NULL;
	struct cfg	*c;
	FILE		*f;

	snprintf(path, sizeof path, "%s/moat.conf", fx->dir);
	xasprintf(&text, "storage = { path = \"moat.db\"; };\n"
	    "filters = { greylist = { %s }; };\n", greylist);
	assert_non_null(f = fopen(path, "w"));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	free(text);
	if ((c = cfg_load(path, &cause)) == NULL)
		fail_msg("cfg_load: %s", cause);
	return c;
}

static const char *const CONF =
    "delay = 300; retry_window = 14400; lifetime = 86400;\n"
    "whitelist_networks = [ \"198.51.100.0/24\", \"2001:db8:ffff::/48\" ];\n"
    "whitelist_senders = [ \"friend.test\", \"boss@partner.test\" ];\n"
    "whitelist_recipients = [ \"postmaster@local.test\" ];\n"
    "max_entries = 100;";

static void
start(struct fix *fx)
{
	char	*cause = NULL;

	if (greylist_start(fx->base, fx->cfg, &cause) == -1)
		fail_msg("greylist_start: %s", cause);
}

static int
setup(void **state)
{
	struct fix	*fx;

	fx = xcalloc(1, sizeof *fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/moat-gl-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->base = event_base_new();
	fx->cfg = load(fx, CONF);
	clock_ms = INT64_C(1700000000000);
	greylist_set_clock(fake_now);
	start(fx);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*fx = *state;
	char		 cmd[PATH_MAX + 16];

	greylist_stop();
	greylist_set_clock(NULL);
	cfg_unref(fx->cfg);
	event_base_free(fx->base);
	snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static int
check(struct fix *fx, const char *ip, const char *from, const char *to,
    char *reply)
{
	char	buf[256];

	return greylist_check(fx->cfg, ip, from, to, reply != NULL ? reply :
	    buf, 256);
}

static void
test_delay_and_retry(void **state)
{
	struct fix	*fx = *state;
	char		 r[256];

	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", r), 1);
	assert_string_equal(r, "451 4.7.1 Greylisted, try again in 300 "
	    "seconds");
	clock_ms += 100 * S;
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", r), 1);
	assert_string_equal(r, "451 4.7.1 Greylisted, try again in 200 "
	    "seconds");
	/* Another recipient is another triplet. */
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "c@l.test", r), 1);
	clock_ms += 200 * S;
	/* Same /24, addresses in any case and with <>. */
	assert_int_equal(check(fx, "192.0.2.77", "<A@S.test>", "b@l.test", r),
	    0);
	assert_string_equal(r, "");
	/* A passed triplet passes at once for its lifetime... */
	clock_ms += 80000 * S;
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", r), 0);
	/* ...renewed by each use. */
	clock_ms += 80000 * S;
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", r), 0);
	clock_ms += 86401 * S;
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", r), 1);
	/* Another network, the null sender. */
	assert_int_equal(check(fx, "192.0.3.1", "a@s.test", "b@l.test", r), 1);
	assert_int_equal(check(fx, "192.0.3.1", "", "b@l.test", r), 1);
	clock_ms += 300 * S;
	assert_int_equal(check(fx, "192.0.3.1", "", "b@l.test", r), 0);
}

static void
test_retry_too_late(void **state)
{
	struct fix	*fx = *state;
	char		 r[256];

	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", r), 1);
	clock_ms += 14401 * S;
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", r), 1);
	assert_non_null(strstr(r, "300 seconds"));
	clock_ms += 299 * S;
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", r), 1);
	assert_non_null(strstr(r, "in 1 second"));
	clock_ms += 1 * S;
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", r), 0);
}

static void
test_ipv6_networks(void **state)
{
	struct fix	*fx = *state;

	assert_int_equal(check(fx, "IPv6:2001:db8:1:2::5", "a@s.test",
	    "b@l.test", NULL), 1);
	clock_ms += 300 * S;
	/* Same /64. */
	assert_int_equal(check(fx, "2001:db8:1:2:ffff::1", "a@s.test",
	    "b@l.test", NULL), 0);
	assert_int_equal(check(fx, "2001:db8:1:3::1", "a@s.test", "b@l.test",
	    NULL), 1);
	/* An IPv4-mapped address is its IPv4 network. */
	assert_int_equal(check(fx, "::ffff:192.0.2.9", "x@s.test",
	    "b@l.test", NULL), 1);
	clock_ms += 300 * S;
	assert_int_equal(check(fx, "192.0.2.10", "x@s.test", "b@l.test", NULL),
	    0);
	/* Not an address: no greylisting. */
	assert_int_equal(check(fx, "[UNAVAILABLE]", "x@s.test", "b@l.test",
	    NULL), 0);
}

static void
test_whitelists(void **state)
{
	struct fix	*fx = *state;

	assert_int_equal(check(fx, "198.51.100.9", "a@s.test", "b@l.test",
	    NULL), 0);
	assert_int_equal(check(fx, "2001:db8:ffff:1::1", "a@s.test",
	    "b@l.test", NULL), 0);
	assert_int_equal(check(fx, "192.0.2.1", "a@mail.friend.test",
	    "b@l.test", NULL), 0);
	assert_int_equal(check(fx, "192.0.2.1", "BOSS@partner.test",
	    "b@l.test", NULL), 0);
	assert_int_equal(check(fx, "192.0.2.1", "other@partner.test",
	    "b@l.test", NULL), 1);
	assert_int_equal(check(fx, "192.0.2.1", "a@notfriend.test",
	    "b@l.test", NULL), 1);
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test",
	    "postmaster@local.test", NULL), 0);
	assert_int_equal(greylist_count(), 2);
}

static void
test_bounded(void **state)
{
	struct fix	*fx = *state;
	char		 to[64];
	int		 i, refused = 0;

	for (i = 0; i < 150; i++) {
		snprintf(to, sizeof to, "u%d@l.test", i);
		refused += check(fx, "192.0.2.1", "a@s.test", to, NULL);
	}
	/* max_entries 100: beyond, mail passes rather than growing. */
	assert_int_equal(refused, 100);
	assert_int_equal(greylist_count(), 100);
	/* Expired entries make room again. */
	clock_ms += 14401 * S;
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "new@l.test",
	    NULL), 1);
	assert_int_equal(greylist_count(), 1);
}

static void
test_persistence(void **state)
{
	struct fix	*fx = *state;

	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", NULL),
	    1);
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "c@l.test", NULL),
	    1);
	clock_ms += 300 * S;
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", NULL),
	    0);
	/* A restart: the store brings both triplets back. */
	greylist_stop();
	start(fx);
	assert_int_equal(greylist_count(), 2);
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "b@l.test", NULL),
	    0);
	assert_int_equal(check(fx, "192.0.2.1", "a@s.test", "c@l.test", NULL),
	    0);
	/* Expired rows are not loaded. */
	greylist_stop();
	clock_ms += 86401 * S;
	start(fx);
	assert_int_equal(greylist_count(), 0);
}

static void
test_disabled(void **state)
{
	struct fix	*fx = *state;
	struct cfg	*c;

	c = load(fx, "enabled = false;");
	assert_int_equal(greylist_check(c, "192.0.2.1", "a@s.test",
	    "b@l.test", NULL, 0), 0);
	cfg_unref(c);
}

static void
test_conf_errors(void **state)
{
	struct fix	*fx = *state;
	struct cfg	*c;
	char		*cause = NULL;
	const char	*bad[] = {
		"delay = 600; retry_window = 300;",
		"whitelist_networks = [ \"192.0.2.0/33\" ];",
		"dealy = 5;",
		"ipv4_prefix = 4;",
		"whitelist_senders = [ \"\" ];",
	};
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		c = load(fx, bad[i]);
		assert_int_equal(greylist_conf_check(c, &cause), -1);
		assert_non_null(strstr(cause, "moat.conf"));
		free(cause);
		cause = NULL;
		cfg_unref(c);
	}
	c = load(fx, CONF);
	assert_int_equal(greylist_conf_check(c, &cause), 0);
	cfg_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_delay_and_retry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retry_too_late, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_networks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_whitelists, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_disabled, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_conf_errors, setup,
		    teardown),
	};

	log_init("test_greylist", true, false);
	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
