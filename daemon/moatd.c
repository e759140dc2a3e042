/*
 * moatd: start-up, signals, reload and drain. The main thread runs the
 * libevent loop; workers live in the scan pool.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <gmime/gmime.h>

#include "cfg.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "greylist.h"
#include "ldapdir.h"
#include "mime.h"
#include "netcheck.h"
#include "policy.h"
#include "quar.h"
#include "moatd.h"
#include "pool.h"
#include "relay.h"
#include "scan.h"
#include "smtp.h"
#include "ssh.h"
#include "stats.h"
#include "util.h"
#include "xmalloc.h"

#define MOATD_DRAIN_MAX_S	60	/* SIGTERM: longest wait for messages */
#define MOATD_PURGE_EVERY_S	3600

struct event_base	*moatd_base;

static struct pool	*scan_pool;
static struct event	*drain_timer;
static uint64_t		 drain_started;
static bool		 foreground;

/* What moatd -t and a reload check besides the filters. */
static int
check_modules(const struct cfg *c, char **cause)
{
	struct policy	*p;

	if (netcheck_conf_check(c, cause) == -1 ||
	    greylist_conf_check(c, cause) == -1 || quar_check(c, cause) == -1 ||
	    ldapdir_conf_check(c, cause) == -1)
		return -1;
	if ((p = policy_load(c, cause)) == NULL)
		return -1;
	policy_unref(p);
	return 0;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: moatd [-ft] [-c file]\n");
	exit(2);
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char	*copy, *parent;
	int	 rv;

	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	copy = xstrdup(path);
	parent = dirname(copy);
	rv = strcmp(parent, path) != 0 ? mkdir_p(parent, 0755) : -1;
	free(copy);
	if (rv == -1 || (mkdir(path, mode) == -1 && errno != EEXIST))
		return -1;
	return 0;
}

static int
make_dirs(const struct cfg *c, char **cause)
{
	char	*copy;
	int	 rv;

	copy = xstrdup(c->db_path);
	rv = mkdir_p(dirname(copy), 0750);
	free(copy);
	if (rv == -1 || mkdir_p(c->spool_dir, 0700) == -1 ||
	    mkdir_p(c->quarantine_dir, 0750) == -1) {
		xasprintf(cause, "creating the storage folders of %s: %s",
		    c->db_path, strerror(errno));
		return -1;
	}
	return 0;
}

int
moatd_reload(char **cause)
{
	struct cfg		*c, *old = cfg_current();
	struct scan_engine	*e;
	struct policy		*p;

	if ((c = cfg_load(old->path, cause)) == NULL) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", *cause);
		return -1;
	}
	if (c->nlisten != old->nlisten || strcmp(c->control_socket,
	    old->control_socket) != 0 || strcmp(c->db_path, old->db_path) != 0)
		log_warnx("reload: listeners, control socket and storage "
		    "changes take effect at the next restart");
	if (check_modules(c, cause) == -1 ||
	    (p = policy_load(c, cause)) == NULL) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", *cause);
		cfg_unref(c);
		return -1;
	}
	if ((e = scan_engine_load(c, cause)) == NULL) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", *cause);
		policy_unref(p);
		cfg_unref(c);
		return -1;
	}
	log_set_level(c->log_level);
	cfg_set_current(c);
	scan_engine_set_current(e);
	policy_set_current(p);
	log_info("configuration reloaded from %s", c->path);
	return 0;
}

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	char	*cause = NULL;

	(void)sig;
	(void)what;
	(void)arg;
	if (moatd_reload(&cause) == -1)
		free(cause);
}

static void
drain_check(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	tv = { 0, 100000 };

	(void)fd;
	(void)what;
	(void)arg;
	if (smtp_drained() && pool_busy(scan_pool) == 0) {
		log_info("drained; exiting");
		event_base_loopexit(moatd_base, NULL);
		return;
	}
	if (util_mono_ms() - drain_started > MOATD_DRAIN_MAX_S * 1000) {
		log_warnx("drain: %zu sessions still open after %ds; exiting",
		    smtp_session_count(), MOATD_DRAIN_MAX_S);
		event_base_loopexit(moatd_base, NULL);
		return;
	}
	evtimer_add(drain_timer, &tv);
}

static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (drain_started != 0) {
		log_warnx("second signal %d: exiting now", (int)sig);
		event_base_loopexit(moatd_base, NULL);
		return;
	}
	log_info("signal %d: finishing %zu messages in flight, then exiting",
	    (int)sig, smtp_inflight_count());
	drain_started = util_mono_ms();
	smtp_drain();
	drain_check(-1, 0, NULL);
}

static void
on_purge(evutil_socket_t fd, short what, void *arg)
{
	const struct cfg	*c = cfg_current();

	(void)fd;
	(void)what;
	(void)arg;
	db_track_purge_submit(util_wall_ms() -
	    (int64_t)c->tracking_days * 86400 * 1000);
}

static void
chown_one(const char *path, uid_t uid, gid_t gid)
{
	if (chown(path, uid, gid) == -1 && errno != ENOENT)
		log_warn("chown %s", path);
}

/* The store was opened as root: hand its files to the daemon's user. */
static void
chown_state(const struct cfg *c, uid_t uid, gid_t gid)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char	*copy, *p;
	size_t	 i;

	copy = xstrdup(c->db_path);
	chown_one(dirname(copy), uid, gid);
	free(copy);
	for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		xasprintf(&p, "%s%s", c->db_path, suffixes[i]);
		chown_one(p, uid, gid);
		free(p);
	}
	chown_one(c->spool_dir, uid, gid);
	chown_one(c->quarantine_dir, uid, gid);
}

/* Run as the configured unprivileged user once everything is bound. */
static void
drop_privileges(const struct cfg *c)
{
	struct passwd	*pw;

	if (geteuid() != 0 || c->user[0] == '\0' ||
	    strcmp(c->user, "root") == 0)
		return;
	if ((pw = getpwnam(c->user)) == NULL) {
		log_warnx("user %s does not exist: running as root", c->user);
		return;
	}
	/* The socket goes to moat:moat (0660): members of group moat reach
	 * it, and the daemon decides each one's role. */
	if (chown(c->control_socket, pw->pw_uid, pw->pw_gid) == -1)
		log_warn("chown %s", c->control_socket);
	chown_state(c, pw->pw_uid, pw->pw_gid);
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("dropping privileges to %s", c->user);
	log_info("running as %s", c->user);
}

int
main(int argc, char **argv)
{
	const char	*path = CFG_DEFAULT_PATH;
	struct cfg		*c;
	struct scan_engine	*e;
	struct policy		*pol;
	struct event	*ev_hup, *ev_term, *ev_int, *ev_purge;
	struct timeval	 purge_tv = { MOATD_PURGE_EVERY_S, 0 };
	char		*cause = NULL;
	bool		 check = false;
	int		 ch;

	while ((ch = getopt(argc, argv, "c:ft")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 't':
			check = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_init("moatd", true, false);
	if ((c = cfg_load(path, &cause)) == NULL) {
		fprintf(stderr, "moatd: %s\n", cause);
		free(cause);
		return 1;
	}
	g_mime_init();
	mime_init();
	if (check) {
		/* The filters and rules load as they would at start. */
		if ((e = scan_engine_load(c, &cause)) == NULL) {
			fprintf(stderr, "moatd: %s\n", cause);
			free(cause);
			cfg_unref(c);
			return 1;
		}
		scan_engine_unref(e);
		if (check_modules(c, &cause) == -1) {
			fprintf(stderr, "moatd: %s\n", cause);
			free(cause);
			cfg_unref(c);
			return 1;
		}
		printf("moatd: configuration %s OK\n", c->path);
		cfg_unref(c);
		return 0;
	}
	/* Under systemd stderr already goes to the journal: log once. */
	log_init("moatd", foreground && !(c->log_syslog &&
	    getenv("JOURNAL_STREAM") != NULL), c->log_syslog);
	log_set_level(c->log_level);
	cfg_set_current(c);
	signal(SIGPIPE, SIG_IGN);
	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");

	if ((e = scan_engine_load(c, &cause)) == NULL)
		fatalx("%s", cause);
	scan_engine_set_current(e);
	stats.started_ms = util_wall_ms();
	if ((moatd_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (make_dirs(c, &cause) == -1 || db_open(c->db_path, &cause) == -1)
		fatalx("%s", cause);
	relay_init(moatd_base);
	if (check_modules(c, &cause) == -1 ||
	    (pol = policy_load(c, &cause)) == NULL)
		fatalx("%s", cause);
	policy_set_current(pol);
	policy_start(moatd_base);
	netcheck_init(moatd_base, c);
	if (quar_start(moatd_base, c, &cause) == -1 ||
	    greylist_start(moatd_base, c, &cause) == -1 ||
	    ldapdir_start(c, &cause) == -1)
		fatalx("%s", cause);
	scan_pool = pool_create(moatd_base, "scan", c->workers);
	scan_set_pool(scan_pool);
	if (smtp_start(moatd_base, &cause) == -1 ||
	    ctl_start(moatd_base, c, &cause) == -1 ||
	    ssh_start(moatd_base, c, &cause) == -1)
		fatalx("%s", cause);
	ctl_set_reload(moatd_reload);
	drop_privileges(c);

	ev_hup = evsignal_new(moatd_base, SIGHUP, on_sighup, NULL);
	ev_term = evsignal_new(moatd_base, SIGTERM, on_sigterm, NULL);
	ev_int = evsignal_new(moatd_base, SIGINT, on_sigterm, NULL);
	ev_purge = event_new(moatd_base, -1, EV_PERSIST, on_purge, NULL);
	drain_timer = evtimer_new(moatd_base, drain_check, NULL);
	evsignal_add(ev_hup, NULL);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evtimer_add(ev_purge, &purge_tv);
	on_purge(-1, 0, NULL);

	log_info("moatd %s started: node %s, next hop %s:%d, %d workers",
	    MOAT_VERSION, c->node_name, c->next_hop_host, c->next_hop_port,
	    c->workers);
	event_base_dispatch(moatd_base);

	ssh_stop();
	ctl_stop();
	pool_destroy(scan_pool);
	smtp_free();
	greylist_stop();
	ldapdir_stop();
	quar_stop();
	policy_stop();
	netcheck_shutdown();
	relay_shutdown();
	policy_set_current(NULL);
	db_close();
	event_free(ev_hup);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_purge);
	event_free(drain_timer);
	scan_engine_set_current(NULL);
	cfg_set_current(NULL);
	event_base_free(moatd_base);
	mime_shutdown();
	g_mime_shutdown();
	log_info("moatd stopped");
	return 0;
}
