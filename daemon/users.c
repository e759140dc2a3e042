/*
 * Local users: hashing, verification and the login lockout.
 */
#include <crypt.h>
#include <ctype.h>
#include <libgen.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "db_users.h"
#include "log.h"
#include "users.h"
#include "util.h"
#include "xmalloc.h"

/* Verified against for unknown users, so that they cost the same time
 * (a real hash: crypt fails fast on a malformed one). */
static pthread_once_t	 users_dummy_once = PTHREAD_ONCE_INIT;
static char		*users_dummy_hash;

static void
users_dummy_init(void)
{
	char	*cause = NULL;

	if ((users_dummy_hash = users_hash("no such user, no password",
	    &cause)) == NULL) {
		log_warnx("users: %s", cause);
		free(cause);
		users_dummy_hash = xstrdup("*");
	}
}

struct throttle {
	char		 key[USERS_NAME_MAX + 64];	/* "a:ADDR" or "u:NAME" */
	unsigned	 fails;
	uint64_t	 first_ms;
	uint64_t	 locked_until;
	uint64_t	 last_ms;
};

static pthread_mutex_t	 th_lock = PTHREAD_MUTEX_INITIALIZER;
static struct throttle	 th[USERS_THROTTLE_MAX];
static size_t		 nth;

void
users_configure(const struct cfg *c)
{
	char	*copy, *path;

	copy = xstrdup(c->db_path);
	xasprintf(&path, "%s/%s", dirname(copy), DB_USERS_FILE);
	db_users_set_path(path);
	free(path);
	free(copy);
}

int
users_name_check(const char *s, char **cause)
{
	size_t	i, len = strlen(s);

	if (len == 0 || len > USERS_NAME_MAX) {
		xasprintf(cause, "user name must be 1 to %d characters",
		    USERS_NAME_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (islower((unsigned char)s[i]) || s[i] == '_' ||
		    (i > 0 && (isdigit((unsigned char)s[i]) || s[i] == '.' ||
		    s[i] == '-')))
			continue;
		xasprintf(cause, "user name must match [a-z_][a-z0-9_.-]*");
		return -1;
	}
	return 0;
}

int
users_password_check(const char *s, char **cause)
{
	size_t	len = strlen(s);

	if (len < USERS_PASSWORD_MIN || len > USERS_PASSWORD_MAX) {
		xasprintf(cause, "password must be %d to %d characters",
		    USERS_PASSWORD_MIN, USERS_PASSWORD_MAX);
		return -1;
	}
	return 0;
}

int
users_role_parse(const char *s, enum proto_role *role, char **cause)
{
	if (proto_role_parse(s, role) == -1 || *role == PROTO_ROLE_NONE) {
		xasprintf(cause, "role must be admin, qmanager, auditor or "
		    "user");
		return -1;
	}
	return 0;
}

char *
users_hash(const char *password, char **cause)
{
	struct crypt_data	*cd;
	char			 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	char			*h = NULL;

	if (crypt_gensalt_rn(USERS_HASH_PREFIX, 0, NULL, 0, salt,
	    sizeof salt) == NULL) {
		xasprintf(cause, "crypt_gensalt failed");
		return NULL;
	}
	cd = xcalloc(1, sizeof *cd);
	if (crypt_r(password, salt, cd) == NULL || cd->output[0] == '*')
		xasprintf(cause, "crypt failed");
	else
		h = xstrdup(cd->output);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return h;
}

bool
users_hash_verify(const char *hash, const char *password)
{
	struct crypt_data	*cd;
	size_t			 i, n;
	unsigned char		 d = 0;
	bool			 ok = false;

	cd = xcalloc(1, sizeof *cd);
	if (crypt_r(password, hash, cd) != NULL && cd->output[0] != '*') {
		n = strlen(hash);
		if (strlen(cd->output) == n) {
			for (i = 0; i < n; i++)
				d |= (unsigned char)(cd->output[i] ^ hash[i]);
			ok = d == 0;
		}
	}
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}

/* th_lock held: the entry for key, created (evicting the least recently
 * used when full) if create. */
static struct throttle *
th_find(char kind, const char *s, bool create, uint64_t now)
{
	char	 key[sizeof th[0].key];
	size_t	 i, old = 0;

	snprintf(key, sizeof key, "%c:%s", kind, s);
	for (i = 0; i < nth; i++) {
		if (strcmp(th[i].key, key) == 0)
			return &th[i];
		if (th[i].last_ms < th[old].last_ms)
			old = i;
	}
	if (!create)
		return NULL;
	if (nth < USERS_THROTTLE_MAX)
		i = nth++;
	else
		i = old;
	memset(&th[i], 0, sizeof th[i]);
	memcpy(th[i].key, key, sizeof th[i].key);
	th[i].first_ms = now;
	th[i].last_ms = now;
	return &th[i];
}

static bool
th_locked(struct throttle *t, uint64_t now)
{
	return t != NULL && t->locked_until > now;
}

static void
th_fail(struct throttle *t, uint64_t now)
{
	if (now - t->first_ms > USERS_FAIL_WINDOW_MS ||
	    (t->locked_until != 0 && t->locked_until <= now)) {
		t->fails = 0;
		t->first_ms = now;
		t->locked_until = 0;
	}
	t->last_ms = now;
	if (++t->fails >= USERS_FAIL_MAX)
		t->locked_until = now + USERS_LOCK_MS;
}

bool
users_throttled(const char *name, const char *addr, uint64_t now_ms)
{
	bool	locked;

	pthread_mutex_lock(&th_lock);
	locked = th_locked(th_find('a', addr, false, now_ms), now_ms) ||
	    th_locked(th_find('u', name, false, now_ms), now_ms);
	pthread_mutex_unlock(&th_lock);
	return locked;
}

void
users_throttle_fail(const char *name, const char *addr, uint64_t now_ms)
{
	pthread_mutex_lock(&th_lock);
	th_fail(th_find('a', addr, true, now_ms), now_ms);
	th_fail(th_find('u', name, true, now_ms), now_ms);
	pthread_mutex_unlock(&th_lock);
}

void
users_throttle_ok(const char *name, const char *addr)
{
	struct throttle	*t;

	(void)addr;	/* an address stays suspect for other names */
	pthread_mutex_lock(&th_lock);
	if ((t = th_find('u', name, false, 0)) != NULL) {
		t->fails = 0;
		t->locked_until = 0;
	}
	pthread_mutex_unlock(&th_lock);
}

void
users_throttle_reset(void)
{
	pthread_mutex_lock(&th_lock);
	nth = 0;
	pthread_mutex_unlock(&th_lock);
}

enum users_auth
users_login_result(const char *name, const char *addr, const char *method,
    bool ok)
{
	char		*cause = NULL;
	uint64_t	 now = util_mono_ms();

	if (users_throttled(name, addr, now)) {
		log_warnx("ssh: login of %s from %s (%s) refused: locked out "
		    "after repeated failures", name, addr, method);
		return USERS_AUTH_LOCKED;
	}
	if (!ok) {
		users_throttle_fail(name, addr, now);
		log_warnx("ssh: login of %s from %s (%s) failed", name, addr,
		    method);
		return USERS_AUTH_FAIL;
	}
	users_throttle_ok(name, addr);
	log_info("ssh: login of %s from %s (%s)", name, addr, method);
	if (db_users_touch(name, addr, &cause) == -1) {
		log_warnx("ssh: %s", cause);
		free(cause);
	}
	return USERS_AUTH_OK;
}

enum users_auth
users_login(const char *name, const char *password, const char *addr,
    enum proto_role *role)
{
	char		*hash = NULL, *cause = NULL, *safe;
	bool		 found, ok;
	enum users_auth	 rv;

	safe = util_sanitize(name, strlen(name), USERS_NAME_MAX + 8);
	if (users_throttled(safe, addr, util_mono_ms())) {
		log_warnx("ssh: login of %s from %s (password) refused: "
		    "locked out after repeated failures", safe, addr);
		free(safe);
		return USERS_AUTH_LOCKED;
	}
	if (db_users_get(name, role, &hash, &found, &cause) == -1) {
		log_warnx("ssh: login of %s from %s: %s", safe, addr, cause);
		free(cause);
		free(safe);
		return USERS_AUTH_ERROR;
	}
	if (!found)
		pthread_once(&users_dummy_once, users_dummy_init);
	ok = users_hash_verify(found ? hash : users_dummy_hash, password) &&
	    found && *role != PROTO_ROLE_NONE;
	free(hash);
	rv = users_login_result(safe, addr, "password", ok);
	free(safe);
	return rv;
}
