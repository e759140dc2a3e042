/*
 * Changes to the rule files from the control protocol: a rule's active
 * flag or priority, a group's objects. The file holding the item is
 * changed in memory, the whole policy is loaded with the new text, and
 * only then is the file replaced (temp file, fsync, rename, folder fsync).
 * Scalar changes patch the one line and keep the file's comments; other
 * changes rewrite the file with libconfig (keeping its leading comments).
 * Runs on the "rules" pool (one thread: edits apply in order).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libconfig.h>

#include "buf.h"
#include "log.h"
#include "policy.h"
#include "pool.h"
#include "xmalloc.h"

static struct pool	*rules_pool;

void
policy_start(struct event_base *base)
{
	if (rules_pool == NULL)
		rules_pool = pool_create(base, "rules", 1);
}

void
policy_stop(void)
{
	if (rules_pool != NULL)
		pool_destroy(rules_pool);
	rules_pool = NULL;
}

struct pool *
policy_pool(void)
{
	return rules_pool;
}

int
policy_write_file(const char *path, const char *data, size_t len,
    char **cause)
{
	struct stat	 sb;
	char		*copy, *dir, *tmp;
	ssize_t		 n;
	size_t		 off = 0;
	mode_t		 mode = 0644;
	int		 fd, dfd;

	if (stat(path, &sb) == 0)
		mode = sb.st_mode & 07777;
	copy = xstrdup(path);
	dir = dirname(copy);
	xasprintf(&tmp, "%s/.%s.XXXXXX", dir, strrchr(path, '/') != NULL ?
	    strrchr(path, '/') + 1 : path);
	if ((fd = mkstemp(tmp)) == -1) {
		xasprintf(cause, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off < len || fchmod(fd, mode) == -1 || fsync(fd) == -1) {
		xasprintf(cause, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto fail;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto fail;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) == -1) {
		xasprintf(cause, "fsync %s: %s", dir, strerror(errno));
		if (dfd != -1)
			close(dfd);
		goto fail;
	}
	close(dfd);
	free(tmp);
	free(copy);
	return 0;
fail:
	free(tmp);
	free(copy);
	return -1;
}

static char *
read_text(const char *path, char **cause)
{
	struct stat	 sb;
	char		*data;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1 || sb.st_size > POLICY_FILE_MAX) {
		xasprintf(cause, "%s: %s", path, fd != -1 &&
		    sb.st_size > POLICY_FILE_MAX ? "file too large" :
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	data = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		n = read(fd, data + got, (size_t)sb.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	data[got] = '\0';
	return data;
}

/* The start of line n (1-based) in text, or NULL. */
static char *
line_start(char *text, int n)
{
	char	*p = text;

	while (--n > 0) {
		if ((p = strchr(p, '\n')) == NULL)
			return NULL;
		p++;
	}
	return p;
}

/*
 * On line n, replace the value of "key = value" (or "key: value") with
 * repl. Only when the key appears once on the line and no quote comes
 * before it: otherwise -1 and the caller rewrites the file instead.
 */
static char *
patch_line(char *text, int n, const char *key, const char *repl)
{
	char		*ls, *le, *p, *k = NULL, *v, *ve, *out;
	size_t		 klen = strlen(key);

	if ((ls = line_start(text, n)) == NULL)
		return NULL;
	if ((le = strchr(ls, '\n')) == NULL)
		le = ls + strlen(ls);
	for (p = ls; p + klen <= le; p++) {
		if (*p == '"' || *p == '#')
			break;
		if (strncmp(p, key, klen) != 0 ||
		    (p > ls && (isalnum((unsigned char)p[-1]) ||
		    p[-1] == '_')) ||
		    isalnum((unsigned char)p[klen]) || p[klen] == '_')
			continue;
		if (k != NULL)
			return NULL;		/* twice: ambiguous */
		k = p;
	}
	if (k == NULL)
		return NULL;
	v = k + klen;
	while (v < le && (*v == ' ' || *v == '\t'))
		v++;
	if (v >= le || (*v != '=' && *v != ':'))
		return NULL;
	v++;
	while (v < le && (*v == ' ' || *v == '\t'))
		v++;
	for (ve = v; ve < le && (isalnum((unsigned char)*ve) || *ve == '-' ||
	    *ve == '+'); ve++)
		;
	if (ve == v)
		return NULL;
	xasprintf(&out, "%.*s%s%s", (int)(v - text), text, repl, ve);
	return out;
}

/* Leading comment and blank lines of the original, kept on a rewrite. */
static char *
leading_comments(const char *text)
{
	const char	*p = text, *nl;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '#' && *p != '\n' && strncmp(p, "//", 2) != 0)
			break;
		if ((nl = strchr(p, '\n')) == NULL) {
			p += strlen(p);
			break;
		}
		p = nl + 1;
	}
	return xstrndup(text, (size_t)(p - text));
}

static char *
conf_to_text(config_t *conf, const char *orig)
{
	char	*mem = NULL, *lead, *out;
	size_t	 len = 0;
	FILE	*f;

	if ((f = open_memstream(&mem, &len)) == NULL)
		fatal("open_memstream");
	config_write(conf, f);
	fclose(f);
	lead = leading_comments(orig);
	xasprintf(&out, "%s%s# Rewritten by moatd (rules/objects commands): "
	    "keep notes in comment keys.\n%s", lead, *lead != '\0' &&
	    lead[strlen(lead) - 1] != '\n' ? "\n" : "", mem);
	free(lead);
	free(mem);
	return out;
}

/* A JSON object → members of a new libconfig group. */
static int
object_to_conf(config_setting_t *g, const json_t *o, char **cause)
{
	config_setting_t	*m;
	const char		*k;
	json_t			*v;

	if (!json_is_object(o) || json_object_size(o) == 0) {
		*cause = xstrdup("each object is a non-empty JSON object");
		return -1;
	}
	json_object_foreach((json_t *)o, k, v) {
		if (config_setting_get_member(g, k) != NULL || *k == '\0') {
			xasprintf(cause, "bad key \"%.32s\"", k);
			return -1;
		}
		switch (json_typeof(v)) {
		case JSON_STRING:
			m = config_setting_add(g, k, CONFIG_TYPE_STRING);
			if (m != NULL)
				config_setting_set_string(m,
				    json_string_value(v));
			break;
		case JSON_INTEGER:
			m = config_setting_add(g, k, CONFIG_TYPE_INT);
			if (m != NULL)
				config_setting_set_int(m,
				    (int)json_integer_value(v));
			break;
		case JSON_REAL:
			m = config_setting_add(g, k, CONFIG_TYPE_FLOAT);
			if (m != NULL)
				config_setting_set_float(m, json_real_value(v));
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			m = config_setting_add(g, k, CONFIG_TYPE_BOOL);
			if (m != NULL)
				config_setting_set_bool(m, json_is_true(v));
			break;
		default:
			xasprintf(cause, "\"%.32s\" must be a string, number or "
			    "boolean", k);
			return -1;
		}
		if (m == NULL) {
			xasprintf(cause, "bad key \"%.32s\"", k);
			return -1;
		}
	}
	return 0;
}

/* Apply the edit to the parsed file; the new text, or NULL. */
static char *
rewrite(const struct policy_edit *ed, const char *text, const char *path,
    char **cause)
{
	config_t		 conf;
	config_setting_t	*s, *list, *o;
	const json_t		*it;
	char			*out = NULL, spath[POLICY_NAME_MAX + 32];
	size_t			 i;

	config_init(&conf);
	if (config_read_string(&conf, text) != CONFIG_TRUE) {
		xasprintf(cause, "%s:%d: %s", path, config_error_line(&conf),
		    config_error_text(&conf));
		goto out;
	}
	if (ed->op == POLICY_EDIT_OBJECTS) {
		snprintf(spath, sizeof spath, "%s.%s",
		    policy_cat_name(ed->cat), ed->name);
		if ((s = config_lookup(&conf, spath)) == NULL) {
			xasprintf(cause, "%s: no group %s", path, spath);
			goto out;
		}
		if (config_setting_get_member(s, "objects") != NULL)
			config_setting_remove(s, "objects");
		list = config_setting_add(s, "objects", CONFIG_TYPE_LIST);
		json_array_foreach(ed->objects, i, it) {
			o = config_setting_add(list, NULL, CONFIG_TYPE_GROUP);
			if (o == NULL || object_to_conf(o, it, cause) == -1) {
				if (*cause == NULL)
					*cause = xstrdup("bad object");
				goto out;
			}
		}
	} else {
		snprintf(spath, sizeof spath, "rules.%s", ed->name);
		if ((s = config_lookup(&conf, spath)) == NULL) {
			xasprintf(cause, "%s: no rule %s", path, ed->name);
			goto out;
		}
		if (ed->op == POLICY_EDIT_ACTIVE) {
			if (config_setting_get_member(s, "active") != NULL)
				config_setting_remove(s, "active");
			o = config_setting_add(s, "active", CONFIG_TYPE_BOOL);
			config_setting_set_bool(o, ed->active);
		} else {
			if (config_setting_get_member(s, "priority") != NULL)
				config_setting_remove(s, "priority");
			o = config_setting_add(s, "priority", CONFIG_TYPE_INT);
			config_setting_set_int(o, ed->priority);
		}
	}
	out = conf_to_text(&conf, text);
out:
	config_destroy(&conf);
	return out;
}

/* A scalar change on its own line, comments kept; NULL when not
 * possible. */
static char *
patch(const struct policy_edit *ed, char *text)
{
	config_t		 conf;
	config_setting_t	*s;
	char			 spath[POLICY_NAME_MAX + 32], val[16];
	const char		*key;
	char			*out = NULL;

	if (ed->op == POLICY_EDIT_OBJECTS)
		return NULL;
	key = ed->op == POLICY_EDIT_ACTIVE ? "active" : "priority";
	config_init(&conf);
	if (config_read_string(&conf, text) != CONFIG_TRUE)
		goto out;
	snprintf(spath, sizeof spath, "rules.%s.%s", ed->name, key);
	if ((s = config_lookup(&conf, spath)) == NULL ||
	    config_setting_source_line(s) == 0)
		goto out;
	if (ed->op == POLICY_EDIT_ACTIVE)
		snprintf(val, sizeof val, "%s", ed->active ? "true" : "false");
	else
		snprintf(val, sizeof val, "%d", ed->priority);
	out = patch_line(text, (int)config_setting_source_line(s), key, val);
out:
	config_destroy(&conf);
	return out;
}

struct policy *
policy_edit(const struct cfg *c, const struct policy_edit *ed,
    const char **code, char **cause)
{
	struct policy			*cur, *p = NULL;
	const struct policy_rule	*r;
	const struct policy_objgroup	*g;
	char				*path, *text = NULL, *next = NULL;

	*code = "config_error";
	if ((cur = policy_load(c, cause)) == NULL)
		return NULL;
	if (ed->op == POLICY_EDIT_OBJECTS) {
		if ((g = policy_group_find(cur, ed->cat, ed->name)) == NULL) {
			*code = "not_found";
			xasprintf(cause, "no %s group %s",
			    policy_cat_name(ed->cat), ed->name);
			goto out;
		}
		if (!json_is_array(ed->objects) ||
		    json_array_size(ed->objects) > POLICY_ITEMS_MAX) {
			*code = "bad_args";
			xasprintf(cause, "objects must be a JSON array of at "
			    "most %d objects", POLICY_ITEMS_MAX);
			goto out;
		}
		path = g->file->path;
	} else {
		if ((r = policy_rule_find(cur, ed->name)) == NULL) {
			*code = "not_found";
			xasprintf(cause, "no rule %s", ed->name);
			goto out;
		}
		if (ed->op == POLICY_EDIT_PRIORITY &&
		    (ed->priority < 0 || ed->priority > 100)) {
			*code = "bad_args";
			xasprintf(cause, "priority must be 0 to 100");
			goto out;
		}
		path = r->file->path;
	}
	if ((text = read_text(path, cause)) == NULL) {
		*code = "internal";
		goto out;
	}
	if ((next = patch(ed, text)) == NULL &&
	    (next = rewrite(ed, text, path, cause)) == NULL) {
		if (ed->op == POLICY_EDIT_OBJECTS)
			*code = "bad_args";
		goto out;
	}
	/* The whole policy must load with the change before it is kept. */
	if ((p = policy_load_override(c, path, next, cause)) == NULL) {
		if (ed->op == POLICY_EDIT_OBJECTS)
			*code = "bad_args";
		goto out;
	}
	if (policy_write_file(path, next, strlen(next), cause) == -1) {
		*code = "internal";
		policy_unref(p);
		p = NULL;
		goto out;
	}
	log_info("policy: %s changed (%s %s)", path, ed->op ==
	    POLICY_EDIT_OBJECTS ? "objects of" : ed->op ==
	    POLICY_EDIT_ACTIVE ? "active of" : "priority of", ed->name);
out:
	free(text);
	free(next);
	policy_unref(cur);
	return p;
}
