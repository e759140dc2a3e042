/*
 * Configuration: load moat.conf (libconfig) into an immutable snapshot,
 * check every key against the known set, resolve relative paths against the
 * file's folder. Loaded on the loop thread; snapshots are shared read-only.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libconfig.h>

#include "cfg.h"
#include "util.h"
#include "xmalloc.h"

/* Every key moatd knows; "[]" stands for any element of a list or array. */
static const char *const known_keys[] = {
	"node", "node.name", "node.user",
	"smtp", "smtp.listen", "smtp.listen.[]", "smtp.listen.[].address",
	"smtp.listen.[].port", "smtp.listen.[].direction", "smtp.next_hop",
	"smtp.hostname", "smtp.local_domains", "smtp.local_domains.[]",
	"smtp.max_message_size", "smtp.max_recipients", "smtp.max_connections",
	"smtp.idle_timeout", "smtp.session_timeout",
	"smtp.relay_connect_timeout", "smtp.relay_timeout", "smtp.workers",
	"smtp.xforward_hosts", "smtp.xforward_hosts.[]",
	"control", "control.socket", "control.mode", "control.admin_group",
	"control.qmanager_group", "control.auditor_group",
	"storage", "storage.backend", "storage.path", "storage.quarantine_dir",
	"storage.tracking_days",
	"rules", "rules.dir",
	"log", "log.syslog", "log.level",
	"filters",
	"spam", "spam.threshold", "spam.add_headers",
	"dns", "dns.servers", "dns.servers.[]", "dns.timeout_ms",
	"ssh", "ssh.listen", "ssh.listen.[]", "ssh.listen.[].address",
	"ssh.listen.[].port", "ssh.host_key_dir", "ssh.enabled",
};

/* One line per filter: its block under filters holds "enabled" and the
 * filter's own keys, which the filter checks. */
static const char *const filter_names[] = {
	"greylist", "dnsbl", "surbl", "spf", "dkim", "dmarc", "rules",
	"bayes", "phishing", "clamav", "attachments",
};

/* Top-level sections whose keys their module checks. */
static const char *const module_sections[] = {
	"quarantine", "policy", "ldap", "cluster", "report",
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define CFG_PATH_MAX	256

struct loader {
	const char	*file;
	const char	*dir;
	char		*cause;		/* first error */
};

static int
fail(struct loader *l, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];

	if (l->cause != NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (s != NULL && config_setting_source_line(s) > 0)
		xasprintf(&l->cause, "%s:%u: %s",
		    config_setting_source_file(s) != NULL ?
		    config_setting_source_file(s) : l->file,
		    config_setting_source_line(s), msg);
	else
		xasprintf(&l->cause, "%s: %s", l->file, msg);
	return -1;
}

static bool
is_known(const char *path)
{
	size_t	i, len;
	char	name[CFG_PATH_MAX];

	for (i = 0; i < NITEMS(module_sections); i++) {
		len = strlen(module_sections[i]);
		if (strncmp(path, module_sections[i], len) == 0 &&
		    (path[len] == '\0' || path[len] == '.'))
			return true;
	}
	for (i = 0; i < NITEMS(filter_names); i++) {
		snprintf(name, sizeof name, "filters.%s.", filter_names[i]);
		if (strncmp(path, name, strlen(name)) == 0)
			return true;
	}
	for (i = 0; i < NITEMS(known_keys); i++)
		if (strcmp(path, known_keys[i]) == 0)
			return true;
	for (i = 0; i < NITEMS(filter_names); i++) {
		snprintf(name, sizeof name, "filters.%s", filter_names[i]);
		if (strcmp(path, name) == 0)
			return true;
		snprintf(name, sizeof name, "filters.%s.enabled",
		    filter_names[i]);
		if (strcmp(path, name) == 0)
			return true;
	}
	return false;
}

static int
check_keys(struct loader *l, config_setting_t *s, const char *prefix)
{
	config_setting_t	*c;
	char			 path[CFG_PATH_MAX];
	const char		*name;
	int			 i, n;

	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		c = config_setting_get_elem(s, (unsigned)i);
		name = config_setting_name(c);
		if (name == NULL)
			name = "[]";
		if ((size_t)snprintf(path, sizeof path, "%s%s%s", prefix,
		    *prefix ? "." : "", name) >= sizeof path)
			return fail(l, c, "key path too long");
		if (!is_known(path))
			return fail(l, c, "unknown key '%s'", path);
		if (config_setting_is_aggregate(c) &&
		    check_keys(l, c, path) == -1)
			return -1;
	}
	return 0;
}

/* Typed getters: absent keys keep the default; a wrong type is an error. */
static int
get_str(struct loader *l, config_setting_t *parent, const char *key,
    const char *def, char **out)
{
	config_setting_t	*s;

	s = parent != NULL ? config_setting_get_member(parent, key) : NULL;
	if (s == NULL) {
		*out = def != NULL ? xstrdup(def) : NULL;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(l, s, "'%s' must be a string", key);
	*out = xstrdup(config_setting_get_string(s));
	return 0;
}

static int
get_int(struct loader *l, config_setting_t *parent, const char *key,
    long long def, long long min, long long max, long long *out)
{
	config_setting_t	*s;
	long long		 v;

	s = parent != NULL ? config_setting_get_member(parent, key) : NULL;
	if (s == NULL) {
		*out = def;
		return 0;
	}
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return fail(l, s, "'%s' must be an integer", key);
	if (v < min || v > max)
		return fail(l, s, "'%s' must be between %lld and %lld", key,
		    min, max);
	*out = v;
	return 0;
}

static int
get_bool(struct loader *l, config_setting_t *parent, const char *key,
    bool def, bool *out)
{
	config_setting_t	*s;

	s = parent != NULL ? config_setting_get_member(parent, key) : NULL;
	if (s == NULL) {
		*out = def;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(l, s, "'%s' must be true or false", key);
	*out = config_setting_get_bool(s);
	return 0;
}

static int
get_float(struct loader *l, config_setting_t *parent, const char *key,
    double def, double *out)
{
	config_setting_t	*s;

	s = parent != NULL ? config_setting_get_member(parent, key) : NULL;
	if (s == NULL) {
		*out = def;
		return 0;
	}
	if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		*out = config_setting_get_float(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT)
		*out = config_setting_get_int(s);
	else
		return fail(l, s, "'%s' must be a number", key);
	return 0;
}

/* A path: relative ones resolve against the configuration's folder. */
static int
get_path(struct loader *l, config_setting_t *parent, const char *key,
    const char *def, char **out)
{
	char	*p;

	if (get_str(l, parent, key, def, &p) == -1)
		return -1;
	if (p != NULL && p[0] != '/') {
		if (p[0] == '\0') {
			free(p);
			return fail(l, config_setting_get_member(parent, key),
			    "'%s' must not be empty", key);
		}
		xasprintf(out, "%s/%s", l->dir, p);
		free(p);
	} else
		*out = p;
	return 0;
}

static int
get_strlist(struct loader *l, config_setting_t *parent, const char *key,
    char ***out, size_t *nout)
{
	config_setting_t	*s, *e;
	int			 i, n;

	*out = NULL;
	*nout = 0;
	s = parent != NULL ? config_setting_get_member(parent, key) : NULL;
	if (s == NULL)
		return 0;
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return fail(l, s, "'%s' must be a list of strings", key);
	n = config_setting_length(s);
	*out = xcalloc((size_t)n + 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(l, e, "'%s' must hold strings", key);
		(*out)[i] = xstrdup(config_setting_get_string(e));
		(*nout)++;
	}
	return 0;
}

int
cfg_net_parse(const char *s, struct cfg_net *net)
{
	char		 addr[INET6_ADDRSTRLEN + 1];
	const char	*slash;
	char		*end;
	size_t		 len;
	long		 prefix;

	slash = strchr(s, '/');
	len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof addr)
		return -1;
	memcpy(addr, s, len);
	addr[len] = '\0';
	memset(net, 0, sizeof *net);
	if (inet_pton(AF_INET, addr, net->addr) == 1) {
		net->family = AF_INET;
		net->prefix = 32;
	} else if (inet_pton(AF_INET6, addr, net->addr) == 1) {
		net->family = AF_INET6;
		net->prefix = 128;
	} else
		return -1;
	if (slash != NULL) {
		prefix = strtol(slash + 1, &end, 10);
		if (*end != '\0' || end == slash + 1 || prefix < 0 ||
		    prefix > net->prefix)
			return -1;
		net->prefix = (int)prefix;
	}
	return 0;
}

static int
parse_direction(const char *s, enum direction *out)
{
	if (strcmp(s, "inbound") == 0)
		*out = DIR_INBOUND;
	else if (strcmp(s, "outbound") == 0)
		*out = DIR_OUTBOUND;
	else
		return -1;
	return 0;
}

static int
load_listen(struct loader *l, config_setting_t *parent, const char *key,
    bool with_direction, const char *defaddr, int defport,
    struct cfg_listen **out, size_t *nout)
{
	config_setting_t	*s, *e;
	struct cfg_listen	*ls;
	char			*dir;
	long long		 port;
	int			 i, n;

	s = parent != NULL ? config_setting_get_member(parent, key) : NULL;
	if (s == NULL) {
		*out = xcalloc(1, sizeof **out);
		(*out)->address = xstrdup(defaddr);
		(*out)->port = defport;
		*nout = 1;
		return 0;
	}
	if (!config_setting_is_list(s))
		return fail(l, s, "'%s' must be a list of groups", key);
	n = config_setting_length(s);
	*out = xcalloc((size_t)n + 1, sizeof **out);
	*nout = 0;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		ls = &(*out)[i];
		(*nout)++;
		if (!config_setting_is_group(e))
			return fail(l, e, "'%s' entries must be groups", key);
		if (get_str(l, e, "address", defaddr, &ls->address) == -1 ||
		    get_int(l, e, "port", defport, 1, 65535, &port) == -1)
			return -1;
		ls->port = (int)port;
		if (!with_direction)
			continue;
		if (get_str(l, e, "direction", "inbound", &dir) == -1)
			return -1;
		if (parse_direction(dir, &ls->direction) == -1) {
			free(dir);
			return fail(l, config_setting_get_member(e,
			    "direction"), "direction must be inbound or "
			    "outbound");
		}
		free(dir);
	}
	if (n == 0)
		return fail(l, s, "'%s' is empty", key);
	return 0;
}

static int
load_smtp(struct loader *l, config_setting_t *root, struct cfg *c)
{
	config_setting_t	*smtp = config_setting_get_member(root, "smtp");
	char			*hop, **nets = NULL, host[256];
	size_t			 nnets = 0, i;
	long long		 v;
	int			 rv = -1;

	if (load_listen(l, smtp, "listen", true, "127.0.0.1", 10024,
	    &c->listen, &c->nlisten) == -1)
		return -1;
	if (get_str(l, smtp, "next_hop", "127.0.0.1:10025", &hop) == -1)
		return -1;
	if (util_split_hostport(hop, &c->next_hop_host,
	    &c->next_hop_port) == -1) {
		free(hop);
		return fail(l, config_setting_get_member(smtp, "next_hop"),
		    "next_hop must be host:port");
	}
	free(hop);
	if (gethostname(host, sizeof host) == -1)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	if (get_str(l, smtp, "hostname", host, &c->hostname) == -1 ||
	    get_strlist(l, smtp, "local_domains", &c->local_domains,
	    &c->nlocal_domains) == -1)
		return -1;
	if (get_int(l, smtp, "max_message_size", 52428800, 1024,
	    (long long)1 << 40, &v) == -1)
		return -1;
	c->max_message_size = (size_t)v;
	if (get_int(l, smtp, "max_recipients", 1000, 1, 100000, &v) == -1)
		return -1;
	c->max_recipients = (int)v;
	if (get_int(l, smtp, "max_connections", 500, 1, 100000, &v) == -1)
		return -1;
	c->max_connections = (int)v;
	if (get_int(l, smtp, "idle_timeout", 300, 1, 86400, &v) == -1)
		return -1;
	c->idle_timeout = (int)v;
	if (get_int(l, smtp, "session_timeout", 3600, 1, 86400, &v) == -1)
		return -1;
	c->session_timeout = (int)v;
	if (get_int(l, smtp, "relay_connect_timeout", 30, 1, 3600, &v) == -1)
		return -1;
	c->relay_connect_timeout = (int)v;
	if (get_int(l, smtp, "relay_timeout", 300, 1, 3600, &v) == -1)
		return -1;
	c->relay_timeout = (int)v;
	/* Workers run the CPU-bound filters: one per core by default. */
	if (get_int(l, smtp, "workers", 0, 0, 1024, &v) == -1)
		return -1;
	if (v == 0)
		v = sysconf(_SC_NPROCESSORS_ONLN) > 0 ?
		    sysconf(_SC_NPROCESSORS_ONLN) : 2;
	c->workers = (int)v;

	if (smtp == NULL ||
	    config_setting_get_member(smtp, "xforward_hosts") == NULL) {
		c->xforward_hosts = xcalloc(2, sizeof *c->xforward_hosts);
		cfg_net_parse("127.0.0.0/8", &c->xforward_hosts[0]);
		cfg_net_parse("::1/128", &c->xforward_hosts[1]);
		c->nxforward_hosts = 2;
		return 0;
	}
	if (get_strlist(l, smtp, "xforward_hosts", &nets, &nnets) == -1)
		goto out;
	c->xforward_hosts = xcalloc(nnets + 1, sizeof *c->xforward_hosts);
	for (i = 0; i < nnets; i++) {
		if (cfg_net_parse(nets[i], &c->xforward_hosts[i]) == -1) {
			fail(l, config_setting_get_member(smtp,
			    "xforward_hosts"), "bad network '%s'", nets[i]);
			goto out;
		}
		c->nxforward_hosts++;
	}
	rv = 0;
out:
	for (i = 0; nets != NULL && nets[i] != NULL; i++)
		free(nets[i]);
	free(nets);
	return rv;
}

static int
load_control(struct loader *l, config_setting_t *root, struct cfg *c)
{
	config_setting_t	*s = config_setting_get_member(root, "control");
	char			*mode, *end;
	long			 m;

	if (get_path(l, s, "socket", "/run/moat/control.sock",
	    &c->control_socket) == -1 ||
	    get_str(l, s, "mode", "0660", &mode) == -1)
		return -1;
	m = strtol(mode, &end, 8);
	if (*end != '\0' || end == mode || m < 0 || m > 0777) {
		free(mode);
		return fail(l, config_setting_get_member(s, "mode"),
		    "mode must be an octal string such as \"0660\"");
	}
	free(mode);
	c->control_mode = (int)m;
	if (get_str(l, s, "admin_group", "moat-admin", &c->admin_group) ==
	    -1 || get_str(l, s, "qmanager_group", "moat-qmanager",
	    &c->qmanager_group) == -1 ||
	    get_str(l, s, "auditor_group", "moat-auditor",
	    &c->auditor_group) == -1)
		return -1;
	return 0;
}

static int
load_storage(struct loader *l, config_setting_t *root, struct cfg *c)
{
	config_setting_t	*s = config_setting_get_member(root, "storage");
	char			*copy;
	long long		 v;

	if (get_str(l, s, "backend", "sqlite", &c->storage_backend) == -1)
		return -1;
	if (strcmp(c->storage_backend, "sqlite") != 0)
		return fail(l, config_setting_get_member(s, "backend"),
		    "backend '%s' is not supported (sqlite)",
		    c->storage_backend);
	if (get_path(l, s, "path", "/var/lib/moat/moat.db", &c->db_path) ==
	    -1 || get_path(l, s, "quarantine_dir", "/var/lib/moat/quarantine",
	    &c->quarantine_dir) == -1 ||
	    get_int(l, s, "tracking_days", 30, 1, 3650, &v) == -1)
		return -1;
	c->tracking_days = (int)v;
	copy = xstrdup(c->db_path);
	xasprintf(&c->spool_dir, "%s/spool", dirname(copy));
	free(copy);
	return 0;
}

static int
load_misc(struct loader *l, config_setting_t *root, struct cfg *c)
{
	config_setting_t	*s, *f;
	char			*level;
	long long		 v;
	size_t			 i;

	s = config_setting_get_member(root, "node");
	if (get_str(l, s, "name", c->hostname, &c->node_name) == -1 ||
	    get_str(l, s, "user", "moat", &c->user) == -1)
		return -1;
	s = config_setting_get_member(root, "rules");
	if (get_path(l, s, "dir", "/etc/moat/rules.d", &c->rules_dir) == -1)
		return -1;
	s = config_setting_get_member(root, "log");
	if (get_bool(l, s, "syslog", true, &c->log_syslog) == -1 ||
	    get_str(l, s, "level", "info", &level) == -1)
		return -1;
	if (log_level_parse(level, &c->log_level) == -1) {
		free(level);
		return fail(l, config_setting_get_member(s, "level"),
		    "level must be err, warning, info or debug");
	}
	free(level);

	s = config_setting_get_member(root, "filters");
	for (i = 0; i < NITEMS(filter_names); i++) {
		f = s != NULL ? config_setting_get_member(s, filter_names[i]) :
		    NULL;
		if (f != NULL && !config_setting_is_group(f))
			return fail(l, f, "filter '%s' must be a group",
			    filter_names[i]);
		c->filters[i].name = filter_names[i];
		if (get_bool(l, f, "enabled", true, &c->filters[i].enabled) ==
		    -1)
			return -1;
	}
	c->nfilters = NITEMS(filter_names);

	s = config_setting_get_member(root, "spam");
	if (get_float(l, s, "threshold", 5.0, &c->spam_threshold) == -1 ||
	    get_bool(l, s, "add_headers", true, &c->spam_headers) == -1)
		return -1;
	s = config_setting_get_member(root, "dns");
	if (get_strlist(l, s, "servers", &c->dns_servers,
	    &c->ndns_servers) == -1 ||
	    get_int(l, s, "timeout_ms", 1500, 10, 60000, &v) == -1)
		return -1;
	c->dns_timeout_ms = (int)v;
	s = config_setting_get_member(root, "ssh");
	if (load_listen(l, s, "listen", false, "0.0.0.0", 8022,
	    &c->ssh_listen, &c->nssh_listen) == -1 ||
	    get_path(l, s, "host_key_dir", "/var/lib/moat/ssh",
	    &c->ssh_host_key_dir) == -1 ||
	    get_bool(l, s, "enabled", false, &c->ssh_enabled) == -1)
		return -1;
	return 0;
}

struct cfg *
cfg_load(const char *path, char **cause)
{
	config_t	*conf;
	struct loader	 l;
	struct cfg	*c;
	char		*copy, abspath[PATH_MAX];

	*cause = NULL;
	if (realpath(path, abspath) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->refs = 1;
	c->path = xstrdup(abspath);
	copy = xstrdup(abspath);
	c->dir = xstrdup(dirname(copy));
	free(copy);

	memset(&l, 0, sizeof l);
	l.file = c->path;
	l.dir = c->dir;
	c->conf = conf = xcalloc(1, sizeof *conf);
	config_init(conf);
	config_set_include_dir(conf, c->dir);
	if (config_read_file(conf, c->path) != CONFIG_TRUE) {
		xasprintf(cause, "%s:%d: %s", config_error_file(conf) != NULL ?
		    config_error_file(conf) : c->path,
		    config_error_line(conf), config_error_text(conf));
		goto fail;
	}
	if (check_keys(&l, config_root_setting(conf), "") == -1 ||
	    load_smtp(&l, config_root_setting(conf), c) == -1 ||
	    load_control(&l, config_root_setting(conf), c) == -1 ||
	    load_storage(&l, config_root_setting(conf), c) == -1 ||
	    load_misc(&l, config_root_setting(conf), c) == -1) {
		*cause = l.cause;
		goto fail;
	}
	return c;
fail:
	c->refs = 1;
	cfg_unref(c);
	return NULL;
}

struct cfg *
cfg_ref(struct cfg *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

static void
free_strlist(char **l, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static void
free_listen(struct cfg_listen *ls, size_t n)
{
	size_t	i;

	for (i = 0; ls != NULL && i < n; i++)
		free(ls[i].address);
	free(ls);
}

void
cfg_unref(struct cfg *c)
{
	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (c->conf != NULL) {
		config_destroy(c->conf);
		free(c->conf);
	}
	free(c->path);
	free(c->dir);
	free(c->node_name);
	free(c->user);
	free(c->hostname);
	free_listen(c->listen, c->nlisten);
	free(c->next_hop_host);
	free_strlist(c->local_domains, c->nlocal_domains);
	free(c->xforward_hosts);
	free(c->control_socket);
	free(c->admin_group);
	free(c->qmanager_group);
	free(c->auditor_group);
	free(c->storage_backend);
	free(c->db_path);
	free(c->quarantine_dir);
	free(c->spool_dir);
	free(c->rules_dir);
	free_strlist(c->dns_servers, c->ndns_servers);
	free_listen(c->ssh_listen, c->nssh_listen);
	free(c->ssh_host_key_dir);
	free(c);
}

bool
cfg_filter_enabled(const struct cfg *c, const char *name)
{
	size_t	i;

	for (i = 0; i < c->nfilters; i++)
		if (strcmp(c->filters[i].name, name) == 0)
			return c->filters[i].enabled;
	return false;
}

bool
cfg_net_match(const struct cfg_net *nets, size_t n, const char *addr)
{
	unsigned char	a[16];
	int		family, bits, full, rest;
	size_t		i;

	if (inet_pton(AF_INET, addr, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		family = AF_INET6;
	else
		return false;
	for (i = 0; i < n; i++) {
		if (nets[i].family != family)
			continue;
		bits = nets[i].prefix;
		full = bits / 8;
		rest = bits % 8;
		if (memcmp(a, nets[i].addr, (size_t)full) != 0)
			continue;
		if (rest != 0 && ((a[full] ^ nets[i].addr[full]) &
		    (0xff << (8 - rest))) != 0)
			continue;
		return true;
	}
	return false;
}

const char *
cfg_direction_name(enum direction d)
{
	return d == DIR_OUTBOUND ? "outbound" : "inbound";
}

static json_t *
listen_json(const struct cfg_listen *ls, size_t n, bool dir)
{
	json_t	*a = json_array(), *o;
	size_t	 i;

	for (i = 0; i < n; i++) {
		o = json_pack("{s:s, s:i}", "address", ls[i].address, "port",
		    ls[i].port);
		if (dir)
			json_object_set_new(o, "direction", json_string(
			    cfg_direction_name(ls[i].direction)));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
strlist_json(char **l, size_t n)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(l[i]));
	return a;
}

static json_t *
nets_json(const struct cfg_net *nets, size_t n)
{
	json_t	*a = json_array();
	char	 s[INET6_ADDRSTRLEN], t[INET6_ADDRSTRLEN + 8];
	size_t	 i;

	for (i = 0; i < n; i++) {
		inet_ntop(nets[i].family, nets[i].addr, s, sizeof s);
		snprintf(t, sizeof t, "%s/%d", s, nets[i].prefix);
		json_array_append_new(a, json_string(t));
	}
	return a;
}

json_t *
cfg_to_json(const struct cfg *c)
{
	json_t	*o, *filters;
	char	 hop[300], mode[8];
	size_t	 i;

	snprintf(hop, sizeof hop, strchr(c->next_hop_host, ':') != NULL ?
	    "[%s]:%d" : "%s:%d", c->next_hop_host, c->next_hop_port);
	snprintf(mode, sizeof mode, "%04o", (unsigned)c->control_mode);
	filters = json_object();
	for (i = 0; i < c->nfilters; i++)
		json_object_set_new(filters, c->filters[i].name,
		    json_pack("{s:b}", "enabled", c->filters[i].enabled));
	o = json_pack("{s:s, s:{s:s, s:s}, s:{s:o, s:s, s:s, s:o, s:I, s:i, s:i, "
	    "s:i, s:i, s:i, s:i, s:i, s:o}, s:{s:s, s:s, s:s, s:s, s:s}, "
	    "s:{s:s, s:s, s:s, s:i}, s:{s:s}, s:{s:b, s:s}, s:o, s:{s:f}, "
	    "s:{s:o, s:i}, s:{s:o, s:s}}",
	    "file", c->path,
	    "node", "name", c->node_name, "user", c->user,
	    "smtp", "listen", listen_json(c->listen, c->nlisten, true),
	    "next_hop", hop, "hostname", c->hostname,
	    "local_domains", strlist_json(c->local_domains, c->nlocal_domains),
	    "max_message_size", (json_int_t)c->max_message_size,
	    "max_recipients", c->max_recipients,
	    "max_connections", c->max_connections,
	    "idle_timeout", c->idle_timeout,
	    "session_timeout", c->session_timeout,
	    "relay_connect_timeout", c->relay_connect_timeout,
	    "relay_timeout", c->relay_timeout, "workers", c->workers,
	    "xforward_hosts", nets_json(c->xforward_hosts, c->nxforward_hosts),
	    "control", "socket", c->control_socket, "mode", mode,
	    "admin_group", c->admin_group, "qmanager_group", c->qmanager_group,
	    "auditor_group", c->auditor_group,
	    "storage", "backend", c->storage_backend, "path", c->db_path,
	    "quarantine_dir", c->quarantine_dir,
	    "tracking_days", c->tracking_days,
	    "rules", "dir", c->rules_dir,
	    "log", "syslog", c->log_syslog, "level",
	    c->log_level == LOG_LEVEL_DEBUG ? "debug" :
	    c->log_level == LOG_LEVEL_INFO ? "info" :
	    c->log_level == LOG_LEVEL_WARN ? "warning" : "err",
	    "filters", filters,
	    "spam", "threshold", c->spam_threshold,
	    "dns", "servers", strlist_json(c->dns_servers, c->ndns_servers),
	    "timeout_ms", c->dns_timeout_ms,
	    "ssh", "listen", listen_json(c->ssh_listen, c->nssh_listen, false),
	    "host_key_dir", c->ssh_host_key_dir);
	return o;
}

/* --- module sections ---------------------------------------------------- */

config_setting_t *
cfg_section(const struct cfg *c, const char *path)
{
	if (c->conf == NULL)
		return NULL;
	return config_lookup(c->conf, path);
}

int
cfg_check_keys(const struct cfg *c, config_setting_t *section,
    const char *const *allowed, char **cause)
{
	struct loader		 l = { .file = c->path, .dir = c->dir };
	config_setting_t	*e;
	const char		*name;
	int			 i, n, k;

	if (section == NULL)
		return 0;
	n = config_setting_length(section);
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(section, (unsigned)i);
		if ((name = config_setting_name(e)) == NULL)
			continue;
		for (k = 0; allowed[k] != NULL; k++)
			if (strcmp(allowed[k], name) == 0)
				break;
		if (allowed[k] == NULL) {
			fail(&l, e, "unknown key '%s' in '%s'", name,
			    config_setting_name(section) != NULL ?
			    config_setting_name(section) : "(root)");
			*cause = l.cause;
			return -1;
		}
	}
	return 0;
}

#define CFG_WRAP(call) do {						\
	struct loader	l = { .file = c->path, .dir = c->dir };		\
	if ((call) == -1) {						\
		*cause = l.cause;					\
		return -1;						\
	}								\
	return 0;							\
} while (0)

int
cfg_get_str(const struct cfg *c, config_setting_t *s, const char *key,
    const char *def, char **out, char **cause)
{
	CFG_WRAP(get_str(&l, s, key, def, out));
}

int
cfg_get_path(const struct cfg *c, config_setting_t *s, const char *key,
    const char *def, char **out, char **cause)
{
	CFG_WRAP(get_path(&l, s, key, def, out));
}

int
cfg_get_int(const struct cfg *c, config_setting_t *s, const char *key,
    long long def, long long min, long long max, long long *out, char **cause)
{
	CFG_WRAP(get_int(&l, s, key, def, min, max, out));
}

int
cfg_get_bool(const struct cfg *c, config_setting_t *s, const char *key,
    bool def, bool *out, char **cause)
{
	CFG_WRAP(get_bool(&l, s, key, def, out));
}

int
cfg_get_float(const struct cfg *c, config_setting_t *s, const char *key,
    double def, double *out, char **cause)
{
	CFG_WRAP(get_float(&l, s, key, def, out));
}

int
cfg_get_strlist(const struct cfg *c, config_setting_t *s, const char *key,
    char ***out, size_t *n, char **cause)
{
	CFG_WRAP(get_strlist(&l, s, key, out, n));
}

void
cfg_strlist_free(char **v)
{
	size_t	i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static struct cfg	*current;

struct cfg *
cfg_current(void)
{
	return current;
}

void
cfg_set_current(struct cfg *c)
{
	struct cfg	*old = current;

	current = c;
	cfg_unref(old);
}
