/*
 * The local users store: one table in its own sqlite file. Low traffic
 * (logins and admin commands), so one connection under a mutex is enough.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db_users.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

static pthread_mutex_t	 du_lock = PTHREAD_MUTEX_INITIALIZER;
static char		*du_path;
static sqlite3		*du_db;

static const char du_schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS users ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " role TEXT NOT NULL,"
    " hash TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " changed_ms INTEGER NOT NULL,"
    " last_login_ms INTEGER,"
    " last_login_addr TEXT);";

void
db_users_set_path(const char *path)
{
	pthread_mutex_lock(&du_lock);
	if (du_path == NULL || strcmp(du_path, path) != 0) {
		if (du_db != NULL)
			sqlite3_close(du_db);
		du_db = NULL;
		free(du_path);
		du_path = xstrdup(path);
	}
	pthread_mutex_unlock(&du_lock);
}

void
db_users_close(void)
{
	pthread_mutex_lock(&du_lock);
	if (du_db != NULL)
		sqlite3_close(du_db);
	du_db = NULL;
	free(du_path);
	du_path = NULL;
	pthread_mutex_unlock(&du_lock);
}

/* Lock held. */
static int
du_open(char **cause)
{
	char	*err = NULL;

	if (du_db != NULL)
		return 0;
	if (du_path == NULL) {
		*cause = xstrdup("users store not configured");
		return -1;
	}
	if (sqlite3_open_v2(du_path, &du_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", du_path, du_db != NULL ?
		    sqlite3_errmsg(du_db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(du_db, DB_USERS_BUSY_MS);
	if (sqlite3_exec(du_db, du_schema, NULL, NULL, &err) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", du_path, err != NULL ? err : "?");
		sqlite3_free(err);
		goto fail;
	}
	return 0;
fail:
	if (du_db != NULL)
		sqlite3_close(du_db);
	du_db = NULL;
	return -1;
}

/* Lock held: open and prepare. */
static sqlite3_stmt *
du_prepare(const char *sql, char **cause)
{
	sqlite3_stmt	*st;

	if (du_open(cause) == -1)
		return NULL;
	if (sqlite3_prepare_v2(du_db, sql, -1, &st, NULL) != SQLITE_OK) {
		xasprintf(cause, "users store: %s", sqlite3_errmsg(du_db));
		return NULL;
	}
	return st;
}

/* Lock held: run a statement without rows; *changes as sqlite counts. */
static int
du_step(sqlite3_stmt *st, int *changes, char **cause)
{
	int	rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		xasprintf(cause, "users store: %s", sqlite3_errmsg(du_db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	if (changes != NULL)
		*changes = sqlite3_changes(du_db);
	return 0;
}

int
db_users_add(const char *name, enum proto_role role, const char *hash,
    bool *exists, char **cause)
{
	sqlite3_stmt	*st;
	int		 rv = -1, n = 0;
	int64_t		 now = util_wall_ms();

	pthread_mutex_lock(&du_lock);
	st = du_prepare("INSERT OR IGNORE INTO users (name, role, hash, "
	    "created_ms, changed_ms) VALUES (?, ?, ?, ?, ?)", cause);
	if (st != NULL) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, proto_role_name(role), -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now);
		sqlite3_bind_int64(st, 5, now);
		rv = du_step(st, &n, cause);
		*exists = n == 0;
	}
	pthread_mutex_unlock(&du_lock);
	return rv;
}

int
db_users_passwd(const char *name, const char *hash, bool *found,
    char **cause)
{
	sqlite3_stmt	*st;
	int		 rv = -1, n = 0;

	pthread_mutex_lock(&du_lock);
	st = du_prepare("UPDATE users SET hash = ?, changed_ms = ? "
	    "WHERE name = ?", cause);
	if (st != NULL) {
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, util_wall_ms());
		sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
		rv = du_step(st, &n, cause);
		*found = n > 0;
	}
	pthread_mutex_unlock(&du_lock);
	return rv;
}

int
db_users_del(const char *name, bool *found, char **cause)
{
	sqlite3_stmt	*st;
	int		 rv = -1, n = 0;

	pthread_mutex_lock(&du_lock);
	st = du_prepare("DELETE FROM users WHERE name = ?", cause);
	if (st != NULL) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		rv = du_step(st, &n, cause);
		*found = n > 0;
	}
	pthread_mutex_unlock(&du_lock);
	return rv;
}

int
db_users_touch(const char *name, const char *addr, char **cause)
{
	sqlite3_stmt	*st;
	int		 rv = -1;

	pthread_mutex_lock(&du_lock);
	st = du_prepare("UPDATE users SET last_login_ms = ?, "
	    "last_login_addr = ? WHERE name = ?", cause);
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, util_wall_ms());
		sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
		rv = du_step(st, NULL, cause);
	}
	pthread_mutex_unlock(&du_lock);
	return rv;
}

int
db_users_get(const char *name, enum proto_role *role, char **hash,
    bool *found, char **cause)
{
	sqlite3_stmt	*st;
	int		 rv = -1, rc;

	*hash = NULL;
	*found = false;
	pthread_mutex_lock(&du_lock);
	st = du_prepare("SELECT role, hash FROM users WHERE name = ?", cause);
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (proto_role_parse((const char *)sqlite3_column_text(st, 0),
		    role) == -1)
			*role = PROTO_ROLE_NONE;
		*hash = xstrdup((const char *)sqlite3_column_text(st, 1));
		*found = true;
		rv = 0;
	} else if (rc == SQLITE_DONE)
		rv = 0;
	else
		xasprintf(cause, "users store: %s", sqlite3_errmsg(du_db));
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&du_lock);
	return rv;
}

json_t *
db_users_list(char **cause)
{
	sqlite3_stmt	*st;
	json_t		*a = NULL, *u;
	int		 rc;

	pthread_mutex_lock(&du_lock);
	st = du_prepare("SELECT name, role, created_ms, changed_ms, "
	    "last_login_ms, last_login_addr FROM users ORDER BY name", cause);
	if (st == NULL)
		goto out;
	a = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		u = json_pack("{s:s, s:s, s:I, s:I}",
		    "name", (const char *)sqlite3_column_text(st, 0),
		    "role", (const char *)sqlite3_column_text(st, 1),
		    "created_ms", (json_int_t)sqlite3_column_int64(st, 2),
		    "changed_ms", (json_int_t)sqlite3_column_int64(st, 3));
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			json_object_set_new(u, "last_login_ms", json_integer(
			    sqlite3_column_int64(st, 4)));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			json_object_set_new(u, "last_login_addr",
			    json_string((const char *)
			    sqlite3_column_text(st, 5)));
		json_array_append_new(a, u);
	}
	if (rc != SQLITE_DONE) {
		xasprintf(cause, "users store: %s", sqlite3_errmsg(du_db));
		json_decref(a);
		a = NULL;
	}
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&du_lock);
	if (a == NULL)
		return NULL;
	return json_pack("{s:o}", "users", a);
}
