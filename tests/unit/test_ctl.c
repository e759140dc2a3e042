/*
 * Unit tests for the control server (daemon/ctl.c) on a real Unix socket:
 * binding (stale sockets, refusals, mode), pipelined requests through the
 * store pool, oversize and bad requests on the wire, half-closed peers,
 * tracking events and the cut-off of a subscriber that does not read, and
 * the role of a peer that is not root.
 * The event loop runs on its own thread; the tests are its clients, and
 * loop-thread calls (ctl_publish_tracking) are sent to it with
 * event_base_once.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "cfg.h"
#include "client.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "proto.h"
#include "track.h"
#include "util.h"
#include "xmalloc.h"

#define WAIT_MS		10000

static char		 dir[] = "/tmp/moat-test-ctl.XXXXXX";
static char		 sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct event_base *base;
static pthread_t	 loop_thread;

/* --- a raw line client -------------------------------------------------- */

struct raw {
	int	 fd;
	char	 buf[256 * 1024];
	size_t	 len;
};

static struct raw *
raw_connect(void)
{
	struct sockaddr_un	 sun;
	struct raw		*r;

	r = xcalloc(1, sizeof *r);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	r->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(r->fd >= 0);
	assert_int_equal(connect(r->fd, (struct sockaddr *)&sun, sizeof sun),
	    0);
	return r;
}

static void
raw_close(struct raw *r)
{
	close(r->fd);
	free(r);
}

static void
raw_send(struct raw *r, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = send(r->fd, p, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void
raw_sends(struct raw *r, const char *s)
{
	raw_send(r, s, strlen(s));
}

/* The next line as JSON; NULL at EOF. Fails the test on timeout. */
static json_t *
raw_read(struct raw *r)
{
	struct pollfd	 pfd = { .fd = r->fd, .events = POLLIN };
	uint64_t	 deadline = util_mono_ms() + WAIT_MS;
	char		*nl;
	json_t		*o;
	ssize_t		 n;

	for (;;) {
		if ((nl = memchr(r->buf, '\n', r->len)) != NULL) {
			o = json_loadb(r->buf, (size_t)(nl - r->buf), 0, NULL);
			assert_non_null(o);
			r->len -= (size_t)(nl + 1 - r->buf);
			memmove(r->buf, nl + 1, r->len);
			return o;
		}
		assert_true(r->len < sizeof r->buf);
		if (util_mono_ms() >= deadline)
			fail_msg("no answer within %d ms", WAIT_MS);
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
		if (n == 0)
			return NULL;
		assert_true(n > 0);
		r->len += (size_t)n;
	}
}

static void
assert_answer(json_t *a, json_int_t id, const char *code)
{
	json_t	*e;

	assert_non_null(a);
	if (id >= 0)
		assert_int_equal(json_integer_value(json_object_get(a, "id")),
		    id);
	else
		assert_true(json_is_null(json_object_get(a, "id")));
	if (code == NULL) {
		assert_true(json_is_true(json_object_get(a, "ok")));
		return;
	}
	e = json_object_get(a, "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")),
	    code);
}

/* --- the loop thread ---------------------------------------------------- */

static void *
loop_main(void *arg)
{
	(void)arg;
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

struct publish {
	struct track_rec	*rec;
	int			 count;
	int			 done;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
};

static void
publish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct publish	*p = arg;
	int		 i;

	(void)fd;
	(void)what;
	for (i = 0; i < p->count; i++)
		ctl_publish_tracking(p->rec);
	pthread_mutex_lock(&p->lock);
	p->done = 1;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* Run ctl_publish_tracking(rec) count times on the loop thread. */
static void
publish(struct track_rec *rec, int count)
{
	struct publish	p = { .rec = rec, .count = count };
	struct timeval	tv = { 0, 0 };

	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, publish_cb, &p,
	    &tv), 0);
	pthread_mutex_lock(&p.lock);
	while (!p.done)
		pthread_cond_wait(&p.cond, &p.lock);
	pthread_mutex_unlock(&p.lock);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.cond);
}

static struct track_rec *
mkrec(const char *qid, enum track_outcome o, size_t subject_len)
{
	struct track_rec	*r = track_rec_new();

	snprintf(r->queue_id, sizeof r->queue_id, "%s", qid);
	r->node = xstrdup("unit");
	r->time_ms = util_wall_ms();
	r->direction = "inbound";
	r->sender = xstrdup("alice@example.org");
	r->rcpts = xcalloc(1, sizeof *r->rcpts);
	r->rcpts[0].addr = xstrdup("bob@example.com");
	r->rcpts[0].outcome = o;
	r->nrcpts = 1;
	r->size = 1234;
	r->subject = xmalloc(subject_len + 1);
	memset(r->subject, 's', subject_len);
	r->subject[subject_len] = '\0';
	r->outcome = o;
	r->reply = xstrdup("250 2.0.0 Ok");
	return r;
}

/* --- set-up --------------------------------------------------------------- */

/* A socket file nobody listens on, as a killed moatd leaves it. */
static void
make_stale_socket(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		fatal("stale socket %s", path);
	close(fd);
}

static int
group_setup(void **state)
{
	char		 path[PATH_MAX], sub[PATH_MAX];
	char		*cause = NULL;
	struct cfg	*c;
	FILE		*f;

	(void)state;
	if (mkdtemp(dir) == NULL || chmod(dir, 0755) == -1)
		fatal("mkdtemp");
	snprintf(path, sizeof path, "%s/moat.conf", dir);
	if ((f = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fputs("node = { name = \"unit\"; };\n"
	    "control = { socket = \"run/ctl/control.sock\"; mode = \"0666\"; "
	    "admin_group = \"moat-unit-no-such-group\"; };\n"
	    "storage = { path = \"moat.db\"; quarantine_dir = \"q\"; };\n", f);
	fclose(f);
	if ((c = cfg_load(path, &cause)) == NULL)
		fatalx("cfg_load: %s", cause);
	cfg_set_current(c);
	if (strlen(c->control_socket) >= sizeof sock)
		fatalx("socket path too long: %s", c->control_socket);
	memcpy(sock, c->control_socket, strlen(c->control_socket) + 1);

	/* A stale socket where ours goes: ctl_start replaces it. */
	snprintf(sub, sizeof sub, "%s/run", dir);
	mkdir(sub, 0755);
	snprintf(sub, sizeof sub, "%s/run/ctl", dir);
	mkdir(sub, 0755);
	make_stale_socket(sock);

	if (db_open(c->db_path, &cause) == -1)
		fatalx("db_open: %s", cause);
	evthread_use_pthreads();
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (ctl_start(base, c, &cause) == -1)
		fatalx("ctl_start: %s", cause);
	if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0)
		fatalx("pthread_create");
	return 0;
}

static int
group_teardown(void **state)
{
	char	cmd[PATH_MAX + 16];
	struct stat st;

	(void)state;
	event_base_loopbreak(base);
	pthread_join(loop_thread, NULL);
	ctl_stop();
	if (stat(sock, &st) == 0)
		fatalx("ctl_stop left %s behind", sock);
	event_base_free(base);
	db_close();
	cfg_set_current(NULL);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		log_warnx("%s failed", cmd);
	return 0;
}

/* --- tests ---------------------------------------------------------------- */

static void
test_bind(void **state)
{
	struct cfg	 c;
	struct stat	 st;
	char		 other[PATH_MAX];
	char		*cause = NULL;
	int		 fd;

	(void)state;
	/* The stale file was replaced, the mode is the configured one. */
	assert_int_equal(lstat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0666);

	/* A live socket is not taken over. */
	memset(&c, 0, sizeof c);
	c.control_socket = sock;
	c.control_mode = 0600;
	assert_int_equal(ctl_start(base, &c, &cause), -1);
	assert_non_null(strstr(cause, "listening"));
	free(cause);

	/* Nor is a file that is not a socket. */
	snprintf(other, sizeof other, "%s/plain", dir);
	fd = open(other, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	c.control_socket = other;
	assert_int_equal(ctl_start(base, &c, &cause), -1);
	assert_non_null(strstr(cause, "not a socket"));
	free(cause);
	assert_int_equal(unlink(other), 0);
}

static void
test_client_calls(void **state)
{
	struct client	*c;
	json_t		*res, *args;
	char		*code, *cause;

	(void)state;
	c = client_connect(sock, &cause);
	assert_non_null(c);
	client_set_timeout(c, WAIT_MS);
	assert_int_equal(client_call(c, "status", NULL, &res, &code, &cause),
	    0);
	assert_string_equal(json_string_value(json_object_get(res, "node")),
	    "unit");
	assert_string_equal(json_string_value(json_object_get(res, "role")),
	    "admin");
	json_decref(res);

	assert_int_equal(client_call(c, "nope", NULL, &res, &code, &cause), 1);
	assert_string_equal(code, "unknown_command");
	free(code);
	free(cause);

	args = json_pack("{s:s}", "queue_id", "NOSUCHID");
	assert_int_equal(client_call(c, "tracking.get", args, &res, &code,
	    &cause), 1);
	assert_string_equal(code, "not_found");
	free(code);
	free(cause);
	json_decref(args);

	assert_int_equal(client_call(c, "stats.get", NULL, &res, &code,
	    &cause), 0);
	assert_true(json_is_object(res));
	json_decref(res);
	client_close(c);

	assert_null(client_connect("/nonexistent/moat.sock", &cause));
	assert_non_null(strstr(cause, "connect"));
	free(cause);
}

static void
test_store_reads(void **state)
{
	struct client	*c;
	json_t		*res, *args, *items;
	char		*code, *cause;

	(void)state;
	db_track_submit(mkrec("UNITQ1", TRACK_RELAYED, 10));
	db_flush();
	c = client_connect(sock, &cause);
	assert_non_null(c);
	args = json_pack("{s:s}", "sender", "alice");
	assert_int_equal(client_call(c, "tracking.search", args, &res, &code,
	    &cause), 0);
	items = json_object_get(res, "items");
	assert_true(json_array_size(items) >= 1);
	json_decref(res);
	json_decref(args);

	args = json_pack("{s:s}", "queue_id", "UNITQ1");
	assert_int_equal(client_call(c, "tracking.get", args, &res, &code,
	    &cause), 0);
	assert_string_equal(json_string_value(json_object_get(res,
	    "queue_id")), "UNITQ1");
	json_decref(res);
	json_decref(args);
	client_close(c);
}

static void
test_pipelined(void **state)
{
	struct raw	*r = raw_connect();
	struct buf	 b;
	json_t		*a;
	int		 i, seen[41] = { 0 }, id;

	(void)state;
	/* More store reads at once than CTL_PENDING_MAX, with bad lines in
	 * between: every request gets its answer. */
	buf_init(&b, 1 << 20);
	for (i = 1; i <= 40; i++) {
		if (i % 10 == 0)
			assert_int_equal(buf_appendf(&b, "{\"id\":%d,\"cmd\":"
			    "\"nope\"}\n", i), 0);
		else
			assert_int_equal(buf_appendf(&b, "{\"id\":%d,\"cmd\":"
			    "\"tracking.search\",\"args\":{\"limit\":1}}\n",
			    i), 0);
	}
	assert_int_equal(buf_appendf(&b, "garbage\n\n"), 0);
	raw_send(r, b.data, b.len);
	buf_free(&b);
	for (i = 0; i < 41; i++) {
		a = raw_read(r);
		assert_non_null(a);
		if (json_is_null(json_object_get(a, "id"))) {
			assert_answer(a, -1, "bad_request");
			seen[0]++;
		} else {
			id = (int)json_integer_value(json_object_get(a, "id"));
			assert_true(id >= 1 && id <= 40);
			assert_answer(a, id, id % 10 == 0 ?
			    "unknown_command" : NULL);
			seen[id]++;
		}
		json_decref(a);
	}
	for (i = 0; i <= 40; i++)
		assert_int_equal(seen[i], 1);
	raw_close(r);
}

static void
test_oversize(void **state)
{
	struct raw	*r = raw_connect();
	char		*big;
	size_t		 n = CTL_REQ_ADMIN_MAX + 5000;
	json_t		*a;

	(void)state;
	/* This peer runs as moatd's user: admin, with the admin limit. */
	big = xmalloc(n);
	memset(big, 'x', n);
	memcpy(big, "{\"id\":1,\"cmd\":\"status\",\"args\":{\"pad\":\"", 39);
	raw_send(r, big, n);		/* no newline yet */
	a = raw_read(r);
	assert_answer(a, -1, "too_large");
	json_decref(a);
	raw_send(r, big, n);		/* more of the same line */
	raw_sends(r, "\"}}\n{\"id\":2,\"cmd\":\"status\"}\n");
	a = raw_read(r);
	assert_answer(a, 2, NULL);	/* the rest was discarded quietly */
	json_decref(a);

	/* Exactly at the limit is read and judged on its content. */
	memset(big, ' ', CTL_REQ_ADMIN_MAX);
	memcpy(big, "{\"id\":3,\"cmd\":\"status\"}", 23);
	raw_send(r, big, CTL_REQ_ADMIN_MAX);
	raw_sends(r, "\n");
	a = raw_read(r);
	assert_answer(a, 3, NULL);
	json_decref(a);
	free(big);
	raw_close(r);
}

static void
test_half_close(void **state)
{
	struct raw	*r = raw_connect();
	json_t		*a;
	int		 got = 0;

	(void)state;
	raw_sends(r, "{\"id\":1,\"cmd\":\"tracking.search\"}\n"
	    "{\"id\":2,\"cmd\":\"status\"}\n");
	assert_int_equal(shutdown(r->fd, SHUT_WR), 0);
	while ((a = raw_read(r)) != NULL) {
		assert_true(json_is_true(json_object_get(a, "ok")));
		got++;
		json_decref(a);
	}
	assert_int_equal(got, 2);	/* both answers, then the close */
	raw_close(r);
}

static void
test_subscribe(void **state)
{
	struct client		*all, *rej;
	struct track_rec	*relayed, *rejected;
	json_t			*res, *ev, *args;
	char			*code, *cause;

	(void)state;
	all = client_connect(sock, &cause);
	rej = client_connect(sock, &cause);
	assert_non_null(all);
	assert_non_null(rej);
	assert_int_equal(client_call(all, "tracking.subscribe", NULL, &res,
	    &code, &cause), 0);
	json_decref(res);
	args = json_pack("{s:s}", "outcome", "rejected");
	assert_int_equal(client_call(rej, "tracking.subscribe", args, &res,
	    &code, &cause), 0);
	json_decref(res);
	json_decref(args);

	relayed = mkrec("UNITEV1", TRACK_RELAYED, 20);
	rejected = mkrec("UNITEV2", TRACK_REJECTED, 20);
	publish(relayed, 1);
	publish(rejected, 1);

	assert_int_equal(client_next_event(all, WAIT_MS, &ev, &cause), 1);
	assert_string_equal(json_string_value(json_object_get(ev, "event")),
	    "tracking");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    ev, "data"), "queue_id")), "UNITEV1");
	json_decref(ev);
	assert_int_equal(client_next_event(all, WAIT_MS, &ev, &cause), 1);
	json_decref(ev);
	/* The filtered subscriber sees only the rejected one. */
	assert_int_equal(client_next_event(rej, WAIT_MS, &ev, &cause), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    ev, "data"), "queue_id")), "UNITEV2");
	json_decref(ev);

	/* Events in the middle of a call are kept for later. */
	assert_int_equal(client_call(rej, "tracking.unsubscribe", NULL, &res,
	    &code, &cause), 0);
	json_decref(res);
	publish(rejected, 1);
	assert_int_equal(client_call(all, "status", NULL, &res, &code,
	    &cause), 0);
	json_decref(res);
	assert_int_equal(client_next_event(all, 0, &ev, &cause), 1);
	json_decref(ev);
	assert_int_equal(client_next_event(rej, 200, &ev, &cause), 0);

	track_rec_free(relayed);
	track_rec_free(rejected);
	client_close(all);
	client_close(rej);
}

static void
test_slow_subscriber(void **state)
{
	struct raw		*r = raw_connect();
	struct track_rec	*rec;
	struct client		*c;
	struct pollfd		 pfd;
	json_t			*a, *res;
	char			*code, *cause, chunk[65536];
	int			 small = 4096, events;
	size_t			 total = 0;
	ssize_t			 n;
	uint64_t		 deadline;

	(void)state;
	assert_int_equal(setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof small), 0);
	raw_sends(r, "{\"id\":1,\"cmd\":\"tracking.subscribe\"}\n");
	a = raw_read(r);
	assert_answer(a, 1, NULL);
	json_decref(a);

	/* About twice CTL_OUTBUF_MAX of events that nobody reads. */
	rec = mkrec("UNITSLOW", TRACK_RELAYED, TRACK_TEXT_MAX);
	events = (int)(2 * CTL_OUTBUF_MAX / (TRACK_TEXT_MAX + 200));
	publish(rec, events);
	track_rec_free(rec);

	/* The server gave up on it: what was sent, then end of file. */
	pfd.fd = r->fd;
	pfd.events = POLLIN;
	deadline = util_mono_ms() + WAIT_MS;
	for (;;) {
		assert_true(util_mono_ms() < deadline);
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(r->fd, chunk, sizeof chunk);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	assert_true(total < (size_t)events * (TRACK_TEXT_MAX + 200));
	raw_close(r);

	/* Everyone else is fine. */
	c = client_connect(sock, &cause);
	assert_non_null(c);
	assert_int_equal(client_call(c, "status", NULL, &res, &code, &cause),
	    0);
	json_decref(res);
	client_close(c);
}

/* In a child running as another user: a request over CTL_REQ_MAX is too
 * large for anyone but an admin. 0 when it is. */
static int
oversize_as_other(void)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	char			*big, ans[4096];
	size_t			 n = CTL_REQ_MAX + 100, off = 0;
	ssize_t			 w;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		return 20;
	big = malloc(n + 1);
	memset(big, 'x', n);
	memcpy(big, "{\"id\":1,\"cmd\":\"status\",\"args\":{\"p\":\"", 36);
	big[n] = '\n';
	while (off < n + 1) {
		if ((w = send(fd, big + off, n + 1 - off, MSG_NOSIGNAL)) <= 0)
			return 21;
		off += (size_t)w;
	}
	free(big);
	pfd.fd = fd;
	pfd.events = POLLIN;
	off = 0;
	while (memchr(ans, '\n', off) == NULL && off < sizeof ans - 1) {
		if (poll(&pfd, 1, WAIT_MS) != 1 ||
		    (w = read(fd, ans + off, sizeof ans - 1 - off)) <= 0)
			return 22;
		off += (size_t)w;
	}
	ans[off] = '\0';
	close(fd);
	return strstr(ans, "too_large") != NULL ? 0 : 23;
}

/* A peer that is neither root nor moatd's user nor in a configured group
 * has no role: run a client as "nobody" in a child. */
static void
test_peer_without_role(void **state)
{
	struct passwd	*pw;
	struct client	*c;
	json_t		*res;
	char		*code, *cause;
	pid_t		 pid;
	int		 status, rv;

	(void)state;
	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		skip();
		return;
	}
	if ((pid = fork()) == 0) {
		if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
		    setuid(pw->pw_uid) == -1)
			_exit(10);
		if ((c = client_connect(sock, &cause)) == NULL)
			_exit(11);
		client_set_timeout(c, WAIT_MS);
		rv = client_call(c, "status", NULL, &res, &code, &cause);
		if (rv != 1)
			_exit(12);
		if (strcmp(code, "forbidden") != 0 ||
		    strstr(cause, "role none") == NULL)
			_exit(13);
		_exit(oversize_as_other());
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind),
		cmocka_unit_test(test_client_calls),
		cmocka_unit_test(test_store_reads),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_subscribe),
		cmocka_unit_test(test_slow_subscriber),
		cmocka_unit_test(test_peer_without_role),
	};

	signal(SIGPIPE, SIG_IGN);	/* as moatd: peers may go away */
	log_init("test_ctl", true, false);
	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
