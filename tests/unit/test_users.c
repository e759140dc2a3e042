/*
 * Unit tests for local users (daemon/users.c, daemon/db_users.c):
 * names, roles, hashing and verification, the lockout on a fake clock,
 * the store in a temporary folder (never a hash in the list), and the
 * login check with its lockout.
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
#include <jansson.h>

#include "db_users.h"
#include "log.h"
#include "users.h"
#include "xmalloc.h"

static char	tmpdir[PATH_MAX];

static int
setup(void **state)
{
	char	*path;

	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_users.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	xasprintf(&path, "%s/%s", tmpdir, DB_USERS_FILE);
	db_users_set_path(path);
	free(path);
	users_throttle_reset();
	return 0;
}

static int
teardown(void **state)
{
	char	*cmd;

	(void)state;
	db_users_close();
	xasprintf(&cmd, "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

static void
test_names_roles(void **state)
{
	char		*cause = NULL;
	enum proto_role	 r;

	(void)state;
	assert_int_equal(users_name_check("alice", &cause), 0);
	assert_int_equal(users_name_check("_svc-1.x", &cause), 0);
	assert_int_equal(users_name_check("", &cause), -1);
	free(cause);
	assert_int_equal(users_name_check("Alice", &cause), -1);
	free(cause);
	assert_int_equal(users_name_check("1abc", &cause), -1);
	free(cause);
	assert_int_equal(users_name_check("a b", &cause), -1);
	free(cause);
	assert_int_equal(users_name_check("a\n", &cause), -1);
	free(cause);
	assert_int_equal(users_name_check(
	    "abcdefghijklmnopqrstuvwxyzabcdefg", &cause), -1);	/* 33 */
	free(cause);
	assert_int_equal(users_password_check("short", &cause), -1);
	free(cause);
	assert_int_equal(users_password_check("longenough", &cause), 0);
	assert_int_equal(users_role_parse("admin", &r, &cause), 0);
	assert_int_equal(r, PROTO_ROLE_ADMIN);
	assert_int_equal(users_role_parse("auditor", &r, &cause), 0);
	assert_int_equal(r, PROTO_ROLE_AUDITOR);
	assert_int_equal(users_role_parse("none", &r, &cause), -1);
	free(cause);
	assert_int_equal(users_role_parse("root", &r, &cause), -1);
	free(cause);
}

static void
test_hash_verify(void **state)
{
	char	*cause = NULL, *h1, *h2;

	(void)state;
	h1 = users_hash("correct horse", &cause);
	assert_non_null(h1);
	h2 = users_hash("correct horse", &cause);
	assert_non_null(h2);
	assert_true(strncmp(h1, USERS_HASH_PREFIX,
	    strlen(USERS_HASH_PREFIX)) == 0);
	assert_string_not_equal(h1, h2);	/* salted */
	assert_true(users_hash_verify(h1, "correct horse"));
	assert_true(users_hash_verify(h2, "correct horse"));
	assert_false(users_hash_verify(h1, "correct hors"));
	assert_false(users_hash_verify(h1, "correct horse "));
	assert_false(users_hash_verify(h1, ""));
	assert_false(users_hash_verify("", "correct horse"));
	assert_false(users_hash_verify("*", "correct horse"));
	assert_false(users_hash_verify("garbage", "correct horse"));
	free(h1);
	free(h2);
}

static void
test_lockout(void **state)
{
	uint64_t	now = 1000000;
	int		i;

	(void)state;
	for (i = 0; i < USERS_FAIL_MAX - 1; i++) {
		assert_false(users_throttled("bob", "192.0.2.1", now));
		users_throttle_fail("bob", "192.0.2.1", now);
	}
	assert_false(users_throttled("bob", "192.0.2.1", now));
	users_throttle_fail("bob", "192.0.2.1", now);
	/* Locked by name (from anywhere) and by address (any name). */
	assert_true(users_throttled("bob", "192.0.2.1", now));
	assert_true(users_throttled("bob", "192.0.2.99", now + 1));
	assert_true(users_throttled("carol", "192.0.2.1", now + 1));
	assert_false(users_throttled("carol", "192.0.2.99", now + 1));
	assert_true(users_throttled("bob", "192.0.2.1",
	    now + USERS_LOCK_MS - 1));
	assert_false(users_throttled("bob", "192.0.2.1", now + USERS_LOCK_MS));

	/* Failures spread out beyond the window do not add up. */
	users_throttle_reset();
	for (i = 0; i < 3 * USERS_FAIL_MAX; i++) {
		users_throttle_fail("dave", "198.51.100.1", now);
		now += USERS_FAIL_WINDOW_MS / (USERS_FAIL_MAX - 1) + 1;
		if (i % USERS_FAIL_MAX == USERS_FAIL_MAX - 2)
			now += USERS_FAIL_WINDOW_MS;
		assert_false(users_throttled("dave", "198.51.100.1", now));
	}

	/* A success clears the name's count. */
	users_throttle_reset();
	for (i = 0; i < USERS_FAIL_MAX - 1; i++)
		users_throttle_fail("erin", "203.0.113.1", now);
	users_throttle_ok("erin", "203.0.113.1");
	users_throttle_fail("erin", "203.0.113.2", now);
	assert_false(users_throttled("erin", "203.0.113.2", now));

	/* The table is bounded. */
	users_throttle_reset();
	for (i = 0; i < USERS_THROTTLE_MAX + 100; i++) {
		char	a[64];

		snprintf(a, sizeof a, "10.0.%d.%d", i / 256, i % 256);
		users_throttle_fail("frank", a, now + (uint64_t)i);
	}
	assert_true(users_throttled("frank", "10.99.0.1", now + 200));
}

static void
test_store(void **state)
{
	char		*cause = NULL, *h, *got;
	bool		 exists, found;
	enum proto_role	 r;
	json_t		*l, *u;
	const char	*dump;

	(void)state;
	h = users_hash("password-one", &cause);
	assert_non_null(h);
	assert_int_equal(db_users_add("bob", PROTO_ROLE_AUDITOR, h, &exists,
	    &cause), 0);
	assert_false(exists);
	assert_int_equal(db_users_add("bob", PROTO_ROLE_ADMIN, h, &exists,
	    &cause), 0);
	assert_true(exists);
	assert_int_equal(db_users_add("alice", PROTO_ROLE_ADMIN, h, &exists,
	    &cause), 0);
	assert_int_equal(db_users_get("bob", &r, &got, &found, &cause), 0);
	assert_true(found);
	assert_int_equal(r, PROTO_ROLE_AUDITOR);	/* not overwritten */
	assert_string_equal(got, h);
	free(got);
	assert_int_equal(db_users_get("nobody", &r, &got, &found, &cause), 0);
	assert_false(found);
	assert_null(got);

	l = db_users_list(&cause);
	assert_non_null(l);
	assert_int_equal(json_array_size(json_object_get(l, "users")), 2);
	u = json_array_get(json_object_get(l, "users"), 0);
	assert_string_equal(json_string_value(json_object_get(u, "name")),
	    "alice");
	assert_string_equal(json_string_value(json_object_get(u, "role")),
	    "admin");
	dump = json_dumps(l, 0);
	assert_null(strstr(dump, "$y$"));
	assert_null(strstr(dump, "hash"));
	free((char *)dump);
	json_decref(l);

	/* Login: success, wrong password, unknown user, lockout. */
	assert_int_equal(users_login("bob", "password-one", "127.0.0.1", &r),
	    USERS_AUTH_OK);
	assert_int_equal(r, PROTO_ROLE_AUDITOR);
	l = db_users_list(&cause);
	u = json_array_get(json_object_get(l, "users"), 1);
	assert_string_equal(json_string_value(json_object_get(u,
	    "last_login_addr")), "127.0.0.1");
	json_decref(l);
	assert_int_equal(users_login("bob", "wrong-pass", "127.0.0.2", &r),
	    USERS_AUTH_FAIL);
	assert_int_equal(users_login("ghost", "password-one", "127.0.0.3",
	    &r), USERS_AUTH_FAIL);

	free(h);
	h = users_hash("password-two", &cause);
	assert_int_equal(db_users_passwd("bob", h, &found, &cause), 0);
	assert_true(found);
	assert_int_equal(db_users_passwd("ghost", h, &found, &cause), 0);
	assert_false(found);
	assert_int_equal(users_login("bob", "password-one", "127.0.0.4", &r),
	    USERS_AUTH_FAIL);
	assert_int_equal(users_login("bob", "password-two", "127.0.0.4", &r),
	    USERS_AUTH_OK);

	/* Five failures lock the name: even the right password is refused. */
	users_throttle_reset();
	for (int i = 0; i < USERS_FAIL_MAX; i++)
		assert_int_equal(users_login("alice", "nope-nope", "10.1.1.1",
		    &r), USERS_AUTH_FAIL);
	assert_int_equal(users_login("alice", "password-one", "10.1.1.2",
	    &r), USERS_AUTH_LOCKED);
	assert_int_equal(users_login("bob", "password-two", "10.1.1.1",
	    &r), USERS_AUTH_LOCKED);
	assert_int_equal(users_login("bob", "password-two", "10.1.1.3",
	    &r), USERS_AUTH_OK);

	assert_int_equal(db_users_del("bob", &found, &cause), 0);
	assert_true(found);
	assert_int_equal(db_users_del("bob", &found, &cause), 0);
	assert_false(found);
	assert_int_equal(users_login("bob", "password-two", "10.1.1.3", &r),
	    USERS_AUTH_FAIL);
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_roles),
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
	};

	log_init("test_users", true, false);
	log_set_level(LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
