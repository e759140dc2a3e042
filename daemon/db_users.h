/*
 * The local users store (SSH console logins): its own sqlite file,
 * users.db beside the main store, one connection behind a mutex. Any
 * thread but the loop thread (the ctl pool, the SSH thread). Password
 * hashes stay in here and in users.c: nothing returns them to clients.
 */
#ifndef MOAT_DB_USERS_H
#define MOAT_DB_USERS_H

#include <stdbool.h>

#include <jansson.h>

#include "proto.h"

#define DB_USERS_FILE		"users.db"
#define DB_USERS_BUSY_MS	5000

/* Where the store lives; opened (created) on first use. Changing the
 * path closes the open connection. */
void	db_users_set_path(const char *path);
void	db_users_close(void);

/* 0, or -1 with *cause; *exists / *found say whether the name was there
 * (add refuses an existing name). */
int	db_users_add(const char *name, enum proto_role, const char *hash,
	    bool *exists, char **cause);
int	db_users_passwd(const char *name, const char *hash, bool *found,
	    char **cause);
int	db_users_del(const char *name, bool *found, char **cause);
/* *hash is the caller's (NULL when not found). */
int	db_users_get(const char *name, enum proto_role *, char **hash,
	    bool *found, char **cause);
/* Record a successful login (time and address). */
int	db_users_touch(const char *name, const char *addr, char **cause);
/* {"users":[{"name","role","created_ms","changed_ms","last_login_ms",
 * "last_login_addr"}]} sorted by name, or NULL with *cause. */
json_t	*db_users_list(char **cause);

#endif
