/*
 * The SSH front (see ssh.h). Sessions accept one "session" channel with
 * pty-req and shell; exec, subsystems, env, forwarding and everything
 * else are refused (libssh refuses what has no callback).
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <event2/event.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "cfg.h"
#include "ctl.h"
#include "db_users.h"
#include "ldapdir.h"
#include "log.h"
#include "ssh.h"
#include "users.h"
#include "util.h"
#include "xmalloc.h"

struct ssh_listener {
	ssh_bind	 bind;
	pthread_t	 thread;
	bool		 started;
	char		*name;		/* address:port, for logs */
};

struct ssh_sess {
	ssh_session			 session;
	char				 addr[64];
	char				 user[USERS_NAME_MAX + 1];
	enum proto_role			 role;
	bool				 authed;
	int				 tries;
	ssh_channel			 channel;
	struct ssh_channel_callbacks_struct ccb;
	bool				 pty;
	char				 term[64];
	struct winsize			 ws;
	int				 ptyfd;
	pid_t				 child;
	bool				 done;
	uint64_t			 start_ms;
};

/* A socketpair end for the loop thread to adopt. */
struct ssh_handoff {
	int		 fd;
	enum proto_role	 role;
	char		 who[USERS_NAME_MAX + 80];
};

static struct ssh_listener	*ssh_listeners;
static size_t			 ssh_nlisteners;
static volatile int		 ssh_stopping;
static pthread_mutex_t		 ssh_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 ssh_cond = PTHREAD_COND_INITIALIZER;
static int			 ssh_nsessions;
static int			 ssh_pipe[2] = { -1, -1 };
static struct event		*ssh_pipe_ev;
static char			*ssh_console;	/* the moat binary */

/* --- host keys ------------------------------------------------------------ */

static int
ssh_host_key(const char *dir, const char *file, enum ssh_keytypes_e type,
    int bits, char **path, char **cause)
{
	ssh_key	key = NULL;

	xasprintf(path, "%s/%s", dir, file);
	if (access(*path, R_OK) == 0)
		return 0;
	if (ssh_pki_generate(type, bits, &key) != SSH_OK ||
	    ssh_pki_export_privkey_file(key, NULL, NULL, NULL, *path) !=
	    SSH_OK) {
		xasprintf(cause, "%s: cannot generate host key", *path);
		ssh_key_free(key);
		return -1;
	}
	ssh_key_free(key);
	if (chmod(*path, 0600) == -1) {
		xasprintf(cause, "%s: %s", *path, strerror(errno));
		return -1;
	}
	log_info("ssh: generated host key %s", *path);
	return 0;
}

/* --- authentication ---------------------------------------------------- */

static int
ssh_auth_password(ssh_session session, const char *user, const char *pass,
    void *arg)
{
	struct ssh_sess	*s = arg;
	enum proto_role	 role;
	enum users_auth	 rv;
	char		 ldaprole[16], *cause = NULL;

	(void)session;
	if (++s->tries > SSH_AUTH_TRIES_MAX) {
		ssh_disconnect(s->session);
		return SSH_AUTH_DENIED;
	}
	rv = users_login(user, pass, s->addr, &role);
	/* Not a local user (or not this password): the directory, if any. */
	if (rv == USERS_AUTH_FAIL && ldapdir_login(user, pass, ldaprole,
	    sizeof ldaprole, &cause) == 0 &&
	    proto_role_parse(ldaprole, &role) == 0) {
		log_info("ssh: %s from %s: LDAP login, role %s", user,
		    s->addr, ldaprole);
		/* Clears the failure the local attempt counted. */
		rv = users_login_result(user, s->addr, "ldap", true);
	}
	free(cause);
	if (rv != USERS_AUTH_OK)
		return SSH_AUTH_DENIED;
	snprintf(s->user, sizeof s->user, "%s", user);
	s->role = role;
	s->authed = true;
	return SSH_AUTH_SUCCESS;
}

/* Whether pubkey is in <host_key_dir>/users/NAME.keys. */
static bool
ssh_key_allowed(const char *dir, const char *user, ssh_key pubkey)
{
	char		*path, *line = NULL, *p, *type, *b64;
	size_t		 cap = 0;
	FILE		*f;
	ssh_key		 k;
	bool		 ok = false;

	if (users_name_check(user, &p) == -1) {
		free(p);
		return false;
	}
	xasprintf(&path, "%s/users/%s.keys", dir, user);
	f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return false;
	while (!ok && getline(&line, &cap, f) != -1) {
		p = line;
		if ((type = strsep(&p, " \t\n")) == NULL || *type == '#' ||
		    (b64 = strsep(&p, " \t\n")) == NULL)
			continue;
		if (ssh_pki_import_pubkey_base64(b64,
		    ssh_key_type_from_name(type), &k) != SSH_OK)
			continue;
		ok = ssh_key_cmp(k, pubkey, SSH_KEY_CMP_PUBLIC) == 0;
		ssh_key_free(k);
	}
	free(line);
	fclose(f);
	return ok;
}

static char	*ssh_key_dir;

static int
ssh_auth_pubkey(ssh_session session, const char *user, ssh_key pubkey,
    char state, void *arg)
{
	struct ssh_sess	*s = arg;
	char		*hash = NULL, *cause = NULL;
	bool		 found, ok;
	enum proto_role	 role = PROTO_ROLE_NONE;

	(void)session;
	if (state != SSH_PUBLICKEY_STATE_NONE &&
	    state != SSH_PUBLICKEY_STATE_VALID)
		return SSH_AUTH_DENIED;
	ok = ssh_key_allowed(ssh_key_dir, user, pubkey);
	if (state == SSH_PUBLICKEY_STATE_NONE)	/* a probe */
		return ok ? SSH_AUTH_SUCCESS : SSH_AUTH_DENIED;
	/* The user must still exist, and gives the role. */
	if (ok && (db_users_get(user, &role, &hash, &found, &cause) == -1 ||
	    !found || role == PROTO_ROLE_NONE)) {
		free(cause);
		ok = false;
	}
	free(hash);
	if (users_login_result(user, s->addr, "publickey", ok) !=
	    USERS_AUTH_OK)
		return SSH_AUTH_DENIED;
	snprintf(s->user, sizeof s->user, "%s", user);
	s->role = role;
	s->authed = true;
	return SSH_AUTH_SUCCESS;
}

/* --- the channel -------------------------------------------------------- */

static int
ssh_ch_pty(ssh_session session, ssh_channel ch, const char *term, int w,
    int h, int pw, int ph, void *arg)
{
	struct ssh_sess	*s = arg;

	(void)session;
	(void)ch;
	if (s->pty || s->child != -1)
		return -1;
	snprintf(s->term, sizeof s->term, "%s", term);
	if (strspn(s->term, "abcdefghijklmnopqrstuvwxyz0123456789-+._") !=
	    strlen(s->term) || *s->term == '\0')
		snprintf(s->term, sizeof s->term, "xterm");
	s->ws.ws_col = (unsigned short)(w > 0 && w < 10000 ? w : 80);
	s->ws.ws_row = (unsigned short)(h > 0 && h < 10000 ? h : 24);
	s->ws.ws_xpixel = (unsigned short)(pw > 0 && pw < 65536 ? pw : 0);
	s->ws.ws_ypixel = (unsigned short)(ph > 0 && ph < 65536 ? ph : 0);
	s->pty = true;
	return 0;
}

static int
ssh_ch_winch(ssh_session session, ssh_channel ch, int w, int h, int pw,
    int ph, void *arg)
{
	struct ssh_sess	*s = arg;

	(void)session;
	(void)ch;
	if (!s->pty || w <= 0 || h <= 0 || w >= 10000 || h >= 10000)
		return -1;
	s->ws.ws_col = (unsigned short)w;
	s->ws.ws_row = (unsigned short)h;
	s->ws.ws_xpixel = (unsigned short)(pw > 0 && pw < 65536 ? pw : 0);
	s->ws.ws_ypixel = (unsigned short)(ph > 0 && ph < 65536 ? ph : 0);
	if (s->ptyfd != -1)
		ioctl(s->ptyfd, TIOCSWINSZ, &s->ws);
	return 0;
}

/* Hand the daemon's end of the console's control connection to the loop
 * thread (through a pipe: libevent is not told about threads). */
static int
ssh_handoff(struct ssh_sess *s, int fd)
{
	struct ssh_handoff	*h;

	h = xcalloc(1, sizeof *h);
	h->fd = fd;
	h->role = s->role;
	snprintf(h->who, sizeof h->who, "ssh %s from %s", s->user, s->addr);
	if (write(ssh_pipe[1], &h, sizeof h) != sizeof h) {
		close(fd);
		free(h);
		return -1;
	}
	return 0;
}

static void
ssh_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ssh_handoff	*h;

	(void)what;
	(void)arg;
	while (read(fd, &h, sizeof h) == sizeof h) {
		if (ctl_conn_adopt(h->fd, h->role, h->who) == -1)
			log_warnx("ssh: %s: control server refused", h->who);
		free(h);
	}
}

static int
ssh_ch_shell(ssh_session session, ssh_channel ch, void *arg)
{
	struct ssh_sess	*s = arg;
	char		*argv[4], *envp[5], fdarg[16];
	int		 sv[2], i;
	pid_t		 pid;

	(void)session;
	(void)ch;
	if (!s->pty || s->child != -1 || !s->authed)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("ssh: socketpair");
		return -1;
	}
	/* Everything the child needs is made before the fork. */
	snprintf(fdarg, sizeof fdarg, "%d", 3);
	argv[0] = ssh_console;
	argv[1] = (char *)"-F";
	argv[2] = fdarg;
	argv[3] = NULL;
	xasprintf(&envp[0], "TERM=%s", s->term);
	envp[1] = xstrdup("LANG=C.UTF-8");
	envp[2] = xstrdup("PATH=/usr/bin:/bin");
	xasprintf(&envp[3], "USER=%s", s->user);
	envp[4] = NULL;
	pid = forkpty(&s->ptyfd, NULL, NULL, &s->ws);
	if (pid == 0) {
		if (dup2(sv[1], 3) == -1)
			_exit(127);
		close_range(4, ~0U, 0);
		execve(ssh_console, argv, envp);
		_exit(127);
	}
	for (i = 0; i < 4; i++)
		free(envp[i]);
	close(sv[1]);
	if (pid == -1) {
		log_warn("ssh: forkpty");
		close(sv[0]);
		s->ptyfd = -1;
		return -1;
	}
	s->child = pid;
	fcntl(s->ptyfd, F_SETFL, fcntl(s->ptyfd, F_GETFL) | O_NONBLOCK);
	if (ssh_handoff(s, sv[0]) == -1) {
		log_warnx("ssh: cannot hand the console to the control server");
		kill(pid, SIGHUP);
		return -1;
	}
	log_info("ssh: console for %s (%s) from %s, pid %ld", s->user,
	    proto_role_name(s->role), s->addr, (long)pid);
	return 0;
}

static int
ssh_ch_data(ssh_session session, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *arg)
{
	struct ssh_sess	*s = arg;
	ssize_t		 n;

	(void)session;
	(void)ch;
	(void)is_stderr;
	if (s->ptyfd == -1)
		return (int)len;	/* nothing to type into: drop */
	n = write(s->ptyfd, data, len);
	if (n == -1)
		return errno == EAGAIN ? 0 : (int)len;
	return (int)n;
}

static void
ssh_ch_eof(ssh_session session, ssh_channel ch, void *arg)
{
	(void)session;
	(void)ch;
	((struct ssh_sess *)arg)->done = true;
}

static void
ssh_ch_close(ssh_session session, ssh_channel ch, void *arg)
{
	(void)session;
	(void)ch;
	((struct ssh_sess *)arg)->done = true;
}

static ssh_channel
ssh_channel_open(ssh_session session, void *arg)
{
	struct ssh_sess	*s = arg;

	if (s->channel != NULL || !s->authed)
		return NULL;	/* one session channel */
	if ((s->channel = ssh_channel_new(session)) == NULL)
		return NULL;
	memset(&s->ccb, 0, sizeof s->ccb);
	s->ccb.userdata = s;
	s->ccb.channel_pty_request_function = ssh_ch_pty;
	s->ccb.channel_shell_request_function = ssh_ch_shell;
	s->ccb.channel_pty_window_change_function = ssh_ch_winch;
	s->ccb.channel_data_function = ssh_ch_data;
	s->ccb.channel_eof_function = ssh_ch_eof;
	s->ccb.channel_close_function = ssh_ch_close;
	ssh_callbacks_init(&s->ccb);
	ssh_set_channel_callbacks(s->channel, &s->ccb);
	return s->channel;
}

/* --- a session ------------------------------------------------------------ */

/* Copy what the console drew to the channel. */
static int
ssh_pty_cb(socket_t fd, int revents, void *arg)
{
	struct ssh_sess	*s = arg;
	char		 buf[16384];
	ssize_t		 n;

	if ((revents & POLLIN) != 0) {
		n = read(fd, buf, sizeof buf);
		if (n > 0) {
			if (ssh_channel_write(s->channel, buf, (uint32_t)n) ==
			    SSH_ERROR)
				s->done = true;
			return 0;
		}
		if (n == -1 && errno == EAGAIN)
			return 0;
		s->done = true;		/* EIO: the console exited */
		return 0;
	}
	if ((revents & (POLLHUP | POLLERR | POLLNVAL)) != 0)
		s->done = true;
	return 0;
}

static void
ssh_session_end(struct ssh_sess *s)
{
	int	status, i;

	if (s->child != -1) {
		kill(s->child, SIGHUP);
		for (i = 0; i < 40; i++) {
			if (waitpid(s->child, &status, WNOHANG) != 0)
				break;
			usleep(25000);
		}
		if (i == 40) {
			kill(s->child, SIGKILL);
			waitpid(s->child, &status, 0);
		}
	}
	if (s->ptyfd != -1)
		close(s->ptyfd);
	if (s->channel != NULL) {
		ssh_channel_send_eof(s->channel);
		ssh_channel_close(s->channel);
		ssh_channel_free(s->channel);
	}
	if (s->authed)
		log_info("ssh: session of %s from %s ended", s->user, s->addr);
	ssh_disconnect(s->session);
	ssh_free(s->session);
}

static void *
ssh_session_thread(void *arg)
{
	struct ssh_sess				*s = arg;
	struct ssh_server_callbacks_struct	 cb;
	ssh_event				 ev;
	bool					 pty_added = false;
	uint64_t				 t0;

	memset(&cb, 0, sizeof cb);
	cb.userdata = s;
	cb.auth_password_function = ssh_auth_password;
	cb.auth_pubkey_function = ssh_auth_pubkey;
	cb.channel_open_request_session_function = ssh_channel_open;
	ssh_callbacks_init(&cb);
	ssh_set_server_callbacks(s->session, &cb);
	ssh_set_auth_methods(s->session, SSH_AUTH_METHOD_PASSWORD |
	    SSH_AUTH_METHOD_PUBLICKEY);
	if (ssh_handle_key_exchange(s->session) != SSH_OK) {
		log_warnx("ssh: %s: key exchange: %s", s->addr,
		    ssh_get_error(s->session));
		goto out;
	}
	ev = ssh_event_new();
	ssh_event_add_session(ev, s->session);
	t0 = util_mono_ms();
	while (!ssh_stopping && !s->done) {
		if (ssh_event_dopoll(ev, SSH_POLL_MS) == SSH_ERROR)
			break;
		if (s->child == -1 && util_mono_ms() - t0 >
		    SSH_AUTH_TIMEOUT_S * 1000ULL)
			break;	/* no console by now: a lingering client */
		if (s->ptyfd != -1 && !pty_added) {
			ssh_event_add_fd(ev, s->ptyfd, POLLIN, ssh_pty_cb, s);
			pty_added = true;
		}
		if ((ssh_get_status(s->session) & (SSH_CLOSED |
		    SSH_CLOSED_ERROR)) != 0)
			break;
	}
	if (pty_added)
		ssh_event_remove_fd(ev, s->ptyfd);
	ssh_event_remove_session(ev, s->session);
	ssh_event_free(ev);
out:
	ssh_session_end(s);
	free(s);
	pthread_mutex_lock(&ssh_lock);
	ssh_nsessions--;
	pthread_cond_broadcast(&ssh_cond);
	pthread_mutex_unlock(&ssh_lock);
	return NULL;
}

static void
ssh_peer(ssh_session session, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof ss;
	char			 host[INET6_ADDRSTRLEN];

	snprintf(buf, len, "?");
	if (getpeername(ssh_get_fd(session), (struct sockaddr *)&ss, &sl) ==
	    -1)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    host, sizeof host);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    host, sizeof host);
	else
		return;
	snprintf(buf, len, "%s", host);
}

static void *
ssh_accept_thread(void *arg)
{
	struct ssh_listener	*l = arg;
	struct ssh_sess		*s;
	ssh_session		 session;
	pthread_t		 t;
	pthread_attr_t		 attr;
	long			 timeout = SSH_AUTH_TIMEOUT_S;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!ssh_stopping) {
		if ((session = ssh_new()) == NULL)
			break;
		if (ssh_bind_accept(l->bind, session) != SSH_OK) {
			ssh_free(session);
			if (ssh_stopping)
				break;
			log_warnx("ssh: %s: accept: %s", l->name,
			    ssh_get_error(l->bind));
			usleep(100000);
			continue;
		}
		ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout);
		pthread_mutex_lock(&ssh_lock);
		if (ssh_nsessions >= SSH_SESSIONS_MAX) {
			pthread_mutex_unlock(&ssh_lock);
			log_warnx("ssh: %d sessions already, refusing one",
			    SSH_SESSIONS_MAX);
			ssh_disconnect(session);
			ssh_free(session);
			continue;
		}
		ssh_nsessions++;
		pthread_mutex_unlock(&ssh_lock);
		s = xcalloc(1, sizeof *s);
		s->session = session;
		s->ptyfd = -1;
		s->child = -1;
		s->start_ms = util_mono_ms();
		ssh_peer(session, s->addr, sizeof s->addr);
		if (pthread_create(&t, &attr, ssh_session_thread, s) != 0) {
			log_warnx("ssh: cannot start a session thread");
			ssh_disconnect(session);
			ssh_free(session);
			free(s);
			pthread_mutex_lock(&ssh_lock);
			ssh_nsessions--;
			pthread_mutex_unlock(&ssh_lock);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

/* --- start and stop -------------------------------------------------------- */

int
ssh_start(struct event_base *base, const struct cfg *c, char **cause)
{
	char		*ed = NULL, *rsa = NULL, *self, *copy, *env;
	struct ssh_listener *l;
	size_t		 i;
	int		 port;

	if (!c->ssh_enabled)
		return 0;
	if (mkdir(c->ssh_host_key_dir, 0700) == -1 && errno != EEXIST) {
		xasprintf(cause, "%s: %s", c->ssh_host_key_dir,
		    strerror(errno));
		return -1;
	}
	if (ssh_host_key(c->ssh_host_key_dir, "ssh_host_ed25519_key",
	    SSH_KEYTYPE_ED25519, 0, &ed, cause) == -1 ||
	    ssh_host_key(c->ssh_host_key_dir, "ssh_host_rsa_key",
	    SSH_KEYTYPE_RSA, SSH_RSA_BITS, &rsa, cause) == -1)
		goto fail;
	ssh_key_dir = xstrdup(c->ssh_host_key_dir);
	users_configure(c);
	if ((env = getenv(SSH_CONSOLE_ENV)) != NULL && *env != '\0')
		ssh_console = xstrdup(env);
	else {
		/* The moat binary next to moatd. */
		if ((self = realpath("/proc/self/exe", NULL)) == NULL)
			self = xstrdup("/usr/sbin/moatd");
		copy = xstrdup(self);
		xasprintf(&ssh_console, "%s/moat", dirname(copy));
		free(copy);
		free(self);
	}
	if (pipe2(ssh_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		xasprintf(cause, "ssh: pipe: %s", strerror(errno));
		goto fail;
	}
	ssh_pipe_ev = event_new(base, ssh_pipe[0], EV_READ | EV_PERSIST,
	    ssh_pipe_cb, NULL);
	event_add(ssh_pipe_ev, NULL);

	ssh_listeners = xcalloc(c->nssh_listen, sizeof *ssh_listeners);
	ssh_nlisteners = c->nssh_listen;
	for (i = 0; i < c->nssh_listen; i++) {
		l = &ssh_listeners[i];
		port = c->ssh_listen[i].port;
		xasprintf(&l->name, "%s:%d", c->ssh_listen[i].address, port);
		if ((l->bind = ssh_bind_new()) == NULL ||
		    ssh_bind_options_set(l->bind, SSH_BIND_OPTIONS_BINDADDR,
		    c->ssh_listen[i].address) != SSH_OK ||
		    ssh_bind_options_set(l->bind, SSH_BIND_OPTIONS_BINDPORT,
		    &port) != SSH_OK ||
		    ssh_bind_options_set(l->bind, SSH_BIND_OPTIONS_HOSTKEY,
		    ed) != SSH_OK ||
		    ssh_bind_options_set(l->bind, SSH_BIND_OPTIONS_HOSTKEY,
		    rsa) != SSH_OK ||
		    ssh_bind_listen(l->bind) != SSH_OK) {
			xasprintf(cause, "ssh: %s: %s", l->name, l->bind !=
			    NULL ? ssh_get_error(l->bind) : "out of memory");
			goto fail;
		}
		if (pthread_create(&l->thread, NULL, ssh_accept_thread, l) !=
		    0) {
			xasprintf(cause, "ssh: cannot start a thread");
			goto fail;
		}
		l->started = true;
		log_info("ssh: listening on %s, console %s", l->name,
		    ssh_console);
	}
	free(ed);
	free(rsa);
	return 0;
fail:
	free(ed);
	free(rsa);
	ssh_stop();
	return -1;
}

void
ssh_stop(void)
{
	size_t		i;
	struct timespec	ts;

	ssh_stopping = 1;
	for (i = 0; i < ssh_nlisteners; i++) {
		if (ssh_listeners[i].started) {
			/* Wakes the blocked accept. */
			shutdown(ssh_bind_get_fd(ssh_listeners[i].bind),
			    SHUT_RDWR);
			pthread_join(ssh_listeners[i].thread, NULL);
		}
		if (ssh_listeners[i].bind != NULL)
			ssh_bind_free(ssh_listeners[i].bind);
		free(ssh_listeners[i].name);
	}
	free(ssh_listeners);
	ssh_listeners = NULL;
	ssh_nlisteners = 0;
	/* Sessions see the flag within SSH_POLL_MS. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&ssh_lock);
	while (ssh_nsessions > 0)
		if (pthread_cond_timedwait(&ssh_cond, &ssh_lock, &ts) != 0)
			break;
	pthread_mutex_unlock(&ssh_lock);
	if (ssh_pipe_ev != NULL) {
		ssh_pipe_cb(ssh_pipe[0], 0, NULL);	/* adopt, then closed */
		event_free(ssh_pipe_ev);
		ssh_pipe_ev = NULL;
	}
	if (ssh_pipe[0] != -1) {
		close(ssh_pipe[0]);
		close(ssh_pipe[1]);
		ssh_pipe[0] = ssh_pipe[1] = -1;
	}
	free(ssh_console);
	ssh_console = NULL;
	free(ssh_key_dir);
	ssh_key_dir = NULL;
}
