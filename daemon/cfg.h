/*
 * The running configuration: one immutable, reference-counted snapshot.
 * Loaded on the loop thread; read from any thread that holds a reference.
 */
#ifndef MOAT_CFG_H
#define MOAT_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include <libconfig.h>

#include "log.h"

#define CFG_DEFAULT_PATH	"/etc/moat/moat.conf"

enum direction {
	DIR_INBOUND = 0,
	DIR_OUTBOUND,
};

struct cfg_listen {
	char		*address;
	int		 port;
	enum direction	 direction;
};

struct cfg_net {		/* an address with a prefix length */
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];
	int		 prefix;
};

struct cfg_filter {
	const char	*name;
	bool		 enabled;
};

#define CFG_FILTERS_MAX	16

struct cfg {
	int		 refs;		/* atomic */
	config_t	*conf;		/* the parsed file: modules read their
					 * own sections through cfg_section */
	char		*path;		/* the file it came from */
	char		*dir;		/* its folder: relative paths base */

	char		*node_name;
	char		*user;		/* run as, after binding; "" stay */

	/* smtp */
	char		*hostname;	/* banner and EHLO name */
	struct cfg_listen *listen;
	size_t		 nlisten;
	char		*next_hop_host;
	int		 next_hop_port;
	char		**local_domains;
	size_t		 nlocal_domains;
	size_t		 max_message_size;
	int		 max_recipients;
	int		 max_connections;
	int		 idle_timeout;		/* seconds */
	int		 session_timeout;	/* seconds */
	int		 relay_connect_timeout;	/* seconds */
	int		 relay_timeout;		/* seconds, per command */
	int		 workers;
	struct cfg_net	*xforward_hosts;
	size_t		 nxforward_hosts;

	/* control */
	char		*control_socket;
	int		 control_mode;
	char		*admin_group;
	char		*qmanager_group;
	char		*auditor_group;

	/* storage */
	char		*storage_backend;
	char		*db_path;
	char		*quarantine_dir;
	char		*spool_dir;	/* derived: large bodies, beside the db */
	int		 tracking_days;		/* retention */

	/* rules */
	char		*rules_dir;

	/* log */
	bool		 log_syslog;
	enum log_level	 log_level;

	/* filters */
	struct cfg_filter filters[CFG_FILTERS_MAX];
	size_t		 nfilters;

	double		 spam_threshold;
	bool		 spam_headers;	/* add X-Moat-Spam-* headers */

	char		**dns_servers;
	size_t		 ndns_servers;
	int		 dns_timeout_ms;

	struct cfg_listen *ssh_listen;
	size_t		 nssh_listen;
	char		*ssh_host_key_dir;
	bool		 ssh_enabled;
};

/* Load and check a file. On error returns NULL and sets *cause to
 * "file:line: reason" (caller frees). */
struct cfg	*cfg_load(const char *path, char **cause);
struct cfg	*cfg_ref(struct cfg *);
void		 cfg_unref(struct cfg *);	/* accepts NULL */
bool		 cfg_filter_enabled(const struct cfg *, const char *name);
/* "addr" or "addr/prefix", IPv4 or IPv6: 0, or -1 when malformed. */
int		 cfg_net_parse(const char *, struct cfg_net *);
bool		 cfg_net_match(const struct cfg_net *, size_t n,
		     const char *addr);
const char	*cfg_direction_name(enum direction);
/* The whole snapshot as JSON (config.get). New reference. */
struct json_t	*cfg_to_json(const struct cfg *);

/*
 * Sections owned by modules (each filter's block under filters.NAME, and
 * the top-level sections in CFG_MODULE_SECTIONS) are not checked key by key
 * here: the module checks them at load with the helpers below, which give
 * "file:line: reason" causes. Paths are dotted ("filters.bayes").
 */
config_setting_t *cfg_section(const struct cfg *, const char *path);
int	cfg_check_keys(const struct cfg *, config_setting_t *section,
	    const char *const *allowed, char **cause);
int	cfg_get_str(const struct cfg *, config_setting_t *section,
	    const char *key, const char *def, char **out, char **cause);
int	cfg_get_path(const struct cfg *, config_setting_t *section,
	    const char *key, const char *def, char **out, char **cause);
int	cfg_get_int(const struct cfg *, config_setting_t *section,
	    const char *key, long long def, long long min, long long max,
	    long long *out, char **cause);
int	cfg_get_bool(const struct cfg *, config_setting_t *section,
	    const char *key, bool def, bool *out, char **cause);
int	cfg_get_float(const struct cfg *, config_setting_t *section,
	    const char *key, double def, double *out, char **cause);
/* NULL-terminated, caller frees with cfg_strlist_free. */
int	cfg_get_strlist(const struct cfg *, config_setting_t *section,
	    const char *key, char ***out, size_t *n, char **cause);
void	cfg_strlist_free(char **);

/* The current snapshot: loop thread only. Jobs take a reference when they
 * start and keep it; a reload swaps it. */
struct cfg	*cfg_current(void);
void		 cfg_set_current(struct cfg *);	/* takes the reference */

#endif
