/*
 * Local users for the SSH console: names, crypt(3) password hashes
 * (yescrypt, libxcrypt), roles, and the login check with its lockout.
 * The store is db_users.c. Any thread but the loop thread: hashing is
 * slow on purpose.
 */
#ifndef MOAT_USERS_H
#define MOAT_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

#define USERS_NAME_MAX		32	/* [a-z_][a-z0-9_.-]* */
#define USERS_PASSWORD_MIN	8
#define USERS_PASSWORD_MAX	256
#define USERS_FAIL_MAX		5	/* failures within the window ... */
#define USERS_FAIL_WINDOW_MS	(10 * 60 * 1000)
#define USERS_LOCK_MS		(60 * 1000)	/* ... lock for this long */
#define USERS_THROTTLE_MAX	4096	/* addresses and names tracked */
#define USERS_HASH_PREFIX	"$y$"	/* yescrypt */

struct cfg;

/* Point the store at users.db beside the main store (any thread that
 * holds the cfg). */
void	users_configure(const struct cfg *);

/* 0 valid, -1 with *cause. */
int	users_name_check(const char *, char **cause);
int	users_password_check(const char *, char **cause);
/* A role a user may have (not "none"): 0, or -1 with *cause. */
int	users_role_parse(const char *, enum proto_role *, char **cause);

/* A new salted hash of password, or NULL with *cause. */
char	*users_hash(const char *password, char **cause);
/* Whether password matches hash (constant-time compare). */
bool	 users_hash_verify(const char *hash, const char *password);

/* Lockout, per address and per user name, on the monotonic clock:
 * users_throttled says whether either is locked now; users_throttle_fail
 * counts a failure (locking after USERS_FAIL_MAX in the window);
 * users_throttle_ok clears the user's count after a success. */
bool	users_throttled(const char *name, const char *addr, uint64_t now_ms);
void	users_throttle_fail(const char *name, const char *addr,
	    uint64_t now_ms);
void	users_throttle_ok(const char *name, const char *addr);
void	users_throttle_reset(void);

enum users_auth {
	USERS_AUTH_OK = 0,
	USERS_AUTH_FAIL,	/* unknown user or wrong password */
	USERS_AUTH_LOCKED,	/* too many failures: not even checked */
	USERS_AUTH_ERROR,	/* the store failed */
};

/* Check a password login from addr (for the log), with lockout, logging
 * every success and failure. On USERS_AUTH_OK *role is the user's. */
enum users_auth users_login(const char *name, const char *password,
	    const char *addr, enum proto_role *role);
/* The same bookkeeping for another method (public key): the caller says
 * whether it succeeded; returns USERS_AUTH_LOCKED when locked. */
enum users_auth users_login_result(const char *name, const char *addr,
	    const char *method, bool ok);

#endif
