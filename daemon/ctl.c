/*
 * The control server: listener on a Unix socket, connections with their
 * role from SO_PEERCRED, JSON-lines framing, the command dispatcher, store
 * reads handed to the "ctl" pool, and tracking events to subscribers.
 * Loop thread, except the *_work functions, which run on pool threads and
 * touch only their job. Jobs name their connection by id, never by pointer.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "cfg.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "pool.h"
#include "track.h"
#include "util.h"
#include "xmalloc.h"

#define CTL_NSS_BUF_MAX		(1024 * 1024)	/* getpw/getgr buffers */
#define CTL_GROUPS_MAX		65536		/* groups of one user */
#define CTL_CMD_SHOW_MAX	64		/* command name in messages */

struct ctl_conn {
	uint64_t		 id;
	struct bufferevent	*bev;
	uid_t			 uid;
	pid_t			 pid;
	enum proto_role		 role;
	bool			 role_known;
	bool			 eof;		/* peer is done sending */
	bool			 subscribed;
	char			*sub_outcome;	/* NULL: any */
	char			*sub_direction;	/* NULL: any */
	int			 pending;	/* pool jobs in flight */
	struct proto_frame	 frame;
	TAILQ_ENTRY(ctl_conn)	 entry;
};

struct ctl_db_job {
	uint64_t	 conn;
	json_t		*id;		/* owned */
	json_t		*args;		/* owned; only the job touches it */
	ctl_db_fn	 fn;
	json_t		*result;	/* owned */
	const char	*code;
	char		*cause;		/* owned */
};

struct ctl_role_job {
	uint64_t	 conn;
	uid_t		 uid;
	gid_t		 gid;
	char		*groups[3];	/* owned: admin, qmanager, auditor */
	enum proto_role	 role;
};

static TAILQ_HEAD(, ctl_conn)	 ctl_conns = TAILQ_HEAD_INITIALIZER(ctl_conns);
static size_t			 ctl_nconns;
static uint64_t			 ctl_next_id = 1;
static struct event_base	*ctl_base;
static struct evconnlistener	*ctl_listener;
static struct pool		*ctl_pool;
static char			*ctl_path;	/* the socket we bound */
static dev_t			 ctl_path_dev;
static ino_t			 ctl_path_ino;
static uint64_t			 ctl_mono_start;
static int			(*ctl_reload_fn)(char **);

const struct ctl_cmd *const ctl_cmds[] = {
	&ctl_cmd_bayes_forget,
	&ctl_cmd_bayes_learn,
	&ctl_cmd_bayes_stats,
	&ctl_cmd_config_get,
	&ctl_cmd_config_reload,
	&ctl_cmd_lists_add,
	&ctl_cmd_lists_del,
	&ctl_cmd_lists_list,
	&ctl_cmd_objects_get,
	&ctl_cmd_objects_list,
	&ctl_cmd_objects_set,
	&ctl_cmd_quarantine_blocklist,
	&ctl_cmd_quarantine_delete,
	&ctl_cmd_quarantine_get,
	&ctl_cmd_quarantine_list,
	&ctl_cmd_quarantine_purge,
	&ctl_cmd_quarantine_release,
	&ctl_cmd_quarantine_report,
	&ctl_cmd_quarantine_welcomelist,
	&ctl_cmd_rules_get,
	&ctl_cmd_rules_list,
	&ctl_cmd_rules_reload,
	&ctl_cmd_rules_set_priority,
	&ctl_cmd_rules_toggle,
	&ctl_cmd_scan,
	&ctl_cmd_stats_get,
	&ctl_cmd_status,
	&ctl_cmd_tracking_get,
	&ctl_cmd_tracking_search,
	&ctl_cmd_tracking_subscribe,
	&ctl_cmd_tracking_unsubscribe,
	&ctl_cmd_user_add,
	&ctl_cmd_user_del,
	&ctl_cmd_user_list,
	&ctl_cmd_user_passwd,
};
const size_t ctl_ncmds = sizeof ctl_cmds / sizeof ctl_cmds[0];

static void	ctl_conn_free(struct ctl_conn *);
static void	ctl_conn_resume(struct ctl_conn *);

/* --- the command table and the dispatcher ------------------------------- */

static int
ctl_cmd_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct ctl_cmd *const *)elem)->name);
}

const struct ctl_cmd *
ctl_cmd_find(const char *name)
{
	const struct ctl_cmd *const *c;

	c = bsearch(name, ctl_cmds, ctl_ncmds, sizeof ctl_cmds[0],
	    ctl_cmd_cmp);
	return c != NULL ? *c : NULL;
}

json_t *
ctl_ok(struct ctl_req *req, json_t *result)
{
	return proto_answer_ok(req->id, result);
}

json_t *
ctl_error(struct ctl_req *req, const char *code, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	json_t	*o;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	o = proto_answer_error_key(req->id, code, NULL,
	    msg != NULL ? msg : code);
	free(msg);
	return o;
}

json_t *
ctl_bad_arg(struct ctl_req *req, const char *key, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	json_t	*o;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	o = proto_answer_error_key(req->id, PROTO_E_BAD_ARGS, key,
	    msg != NULL ? msg : PROTO_E_BAD_ARGS);
	free(msg);
	return o;
}

const char *
ctl_arg_str(const json_t *args, const char *key)
{
	return json_string_value(json_object_get(args, key));
}

int64_t
ctl_arg_int(const json_t *args, const char *key, int64_t dflt)
{
	json_t	*v = json_object_get(args, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

json_t *
ctl_dispatch(uint64_t conn, enum proto_role role, const char *line,
    size_t len)
{
	struct proto_request	 r;
	struct ctl_req		 req;
	const struct ctl_cmd	*cmd;
	const char		*code, *key;
	char			*cause;
	json_t			*answer;

	if (proto_request_parse(line, len, &r, &code, &cause) == -1) {
		answer = proto_answer_error(r.id, code, "%s", cause);
		log_debug("ctl: connection %llu: %s", (unsigned long long)conn,
		    cause);
		free(cause);
		proto_request_clear(&r);
		return answer;
	}
	if ((cmd = ctl_cmd_find(r.cmd)) == NULL) {
		answer = proto_answer_error(r.id, PROTO_E_UNKNOWN_COMMAND,
		    "unknown command \"%.*s\"", CTL_CMD_SHOW_MAX, r.cmd);
		proto_request_clear(&r);
		return answer;
	}
	if (!proto_role_allows(role, cmd->role)) {
		log_debug("ctl: connection %llu: role %s may not run %s",
		    (unsigned long long)conn, proto_role_name(role), cmd->name);
		answer = proto_answer_error(r.id, PROTO_E_FORBIDDEN,
		    "role %s may not run %s", proto_role_name(role), cmd->name);
		proto_request_clear(&r);
		return answer;
	}
	if (proto_args_check(cmd->args, r.args, &key, &cause) == -1) {
		answer = proto_answer_error_key(r.id, PROTO_E_BAD_ARGS, key,
		    cause);
		free(cause);
		proto_request_clear(&r);
		return answer;
	}
	log_debug("ctl: connection %llu: %s", (unsigned long long)conn,
	    cmd->name);
	req.conn = conn;
	req.role = role;
	req.id = r.id;
	req.args = r.args;
	req.cmd = cmd;
	free(r.cmd);
	answer = cmd->exec(&req);
	json_decref(req.id);
	json_decref(req.args);
	return answer;
}

/* --- connections -------------------------------------------------------- */

static struct ctl_conn *
ctl_conn_find(uint64_t id)
{
	struct ctl_conn	*c;

	if (id == 0)
		return NULL;
	TAILQ_FOREACH(c, &ctl_conns, entry) {
		if (c->id == id)
			return c;
	}
	return NULL;
}

static size_t
ctl_conn_outlen(struct ctl_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static void
ctl_conn_send(struct ctl_conn *c, json_t *answer)
{
	json_t	*fallback;
	char	*line;
	size_t	 len;

	if ((line = proto_encode(answer, &len)) == NULL) {
		log_warnx("ctl: connection %llu: answer cannot be encoded",
		    (unsigned long long)c->id);
		fallback = proto_answer_error(json_object_get(answer, "id"),
		    PROTO_E_INTERNAL, "answer cannot be encoded");
		if ((line = proto_encode(fallback, &len)) == NULL)
			fatalx("ctl: error answer cannot be encoded");
		json_decref(fallback);
	}
	json_decref(answer);
	if (bufferevent_write(c->bev, line, len) == -1)
		log_warnx("ctl: connection %llu: write failed",
		    (unsigned long long)c->id);
	free(line);
}

static bool
ctl_conn_can_read(struct ctl_conn *c)
{
	return c->role_known && !c->eof && c->pending < CTL_PENDING_MAX &&
	    ctl_conn_outlen(c) < CTL_OUTBUF_MAX;
}

static void
ctl_conn_line(struct ctl_conn *c, const char *line, size_t len)
{
	json_t	*answer;
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t')
			break;
	}
	if (i == len)
		return;		/* blank lines are harmless: skip them */
	if ((answer = ctl_dispatch(c->id, c->role, line, len)) != NULL)
		ctl_conn_send(c, answer);
}

/* Handle the input held so far, as long as the peer may send more. */
static void
ctl_conn_input(struct ctl_conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec	 v;
	size_t			 used;

	while (ctl_conn_can_read(c) && evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		switch (proto_frame_push(&c->frame, v.iov_base, v.iov_len,
		    &used)) {
		case PROTO_FRAME_MORE:
			break;
		case PROTO_FRAME_LINE:
			ctl_conn_line(c, c->frame.line.data, c->frame.line.len);
			break;
		case PROTO_FRAME_TOO_LARGE:
			log_debug("ctl: connection %llu: request too large",
			    (unsigned long long)c->id);
			ctl_conn_send(c, proto_answer_error(NULL,
			    PROTO_E_TOO_LARGE, "request longer than %zu bytes",
			    c->frame.line.max));
			break;
		}
		evbuffer_drain(in, used);
	}
}

/* Read when allowed, stop reading when not; close once a peer that hung up
 * has every answer it asked for. */
static void
ctl_conn_resume(struct ctl_conn *c)
{
	if (c->eof) {
		if (c->pending == 0 && ctl_conn_outlen(c) == 0)
			ctl_conn_free(c);
		return;
	}
	ctl_conn_input(c);
	if (ctl_conn_can_read(c))
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

static void
ctl_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	ctl_conn_resume(arg);
}

static void
ctl_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	ctl_conn_resume(arg);	/* output drained */
}

static void
ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn	*c = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR) {
		log_debug("ctl: connection %llu: %s", (unsigned long long)c->id,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		ctl_conn_free(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		c->eof = true;
		bufferevent_disable(c->bev, EV_READ);
		ctl_conn_resume(c);
	}
}

static void
ctl_conn_free(struct ctl_conn *c)
{
	if (c == NULL)
		return;
	log_debug("ctl: connection %llu closed", (unsigned long long)c->id);
	TAILQ_REMOVE(&ctl_conns, c, entry);
	ctl_nconns--;
	bufferevent_free(c->bev);
	proto_frame_free(&c->frame);
	free(c->sub_outcome);
	free(c->sub_direction);
	free(c);
}

int
ctl_conn_subscribe(uint64_t id, const char *outcome, const char *direction)
{
	struct ctl_conn	*c;

	if ((c = ctl_conn_find(id)) == NULL)
		return -1;
	free(c->sub_outcome);
	free(c->sub_direction);
	c->sub_outcome = outcome != NULL ? xstrdup(outcome) : NULL;
	c->sub_direction = direction != NULL ? xstrdup(direction) : NULL;
	c->subscribed = true;
	log_debug("ctl: connection %llu subscribed to tracking",
	    (unsigned long long)id);
	return 0;
}

int
ctl_conn_unsubscribe(uint64_t id)
{
	struct ctl_conn	*c;

	if ((c = ctl_conn_find(id)) == NULL)
		return -1;
	c->subscribed = false;
	free(c->sub_outcome);
	free(c->sub_direction);
	c->sub_outcome = c->sub_direction = NULL;
	return 0;
}

/* --- events ------------------------------------------------------------- */

static bool
ctl_conn_wants(const struct ctl_conn *c, const struct track_rec *rec)
{
	if (!c->subscribed)
		return false;
	if (c->sub_outcome != NULL &&
	    strcmp(c->sub_outcome, track_outcome_name(rec->outcome)) != 0)
		return false;
	if (c->sub_direction != NULL && strcmp(c->sub_direction,
	    rec->direction != NULL ? rec->direction : "inbound") != 0)
		return false;
	return true;
}

void
ctl_publish_tracking(const struct track_rec *rec)
{
	struct ctl_conn	*c, *next;
	json_t		*data, *ev;
	char		*line = NULL;
	size_t		 len = 0, out;

	for (c = TAILQ_FIRST(&ctl_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!ctl_conn_wants(c, rec))
			continue;
		if (line == NULL) {
			if ((data = track_rec_to_json(rec)) == NULL) {
				log_warnx("ctl: %s: tracking event cannot be "
				    "built", rec->queue_id);
				return;
			}
			ev = proto_event(PROTO_EV_TRACKING, data);
			line = proto_encode(ev, &len);
			json_decref(ev);
			if (line == NULL) {
				log_warnx("ctl: %s: tracking event cannot be "
				    "encoded", rec->queue_id);
				return;
			}
		}
		if ((out = ctl_conn_outlen(c)) + len > CTL_OUTBUF_MAX) {
			log_warnx("ctl: connection %llu uid %u: subscriber "
			    "does not read (%zu bytes waiting), closing",
			    (unsigned long long)c->id, (unsigned)c->uid, out);
			ctl_conn_free(c);
			continue;
		}
		if (bufferevent_write(c->bev, line, len) == -1)
			log_warnx("ctl: connection %llu: write failed",
			    (unsigned long long)c->id);
	}
	free(line);
}

/* --- store reads on the pool -------------------------------------------- */

static void
ctl_db_work(void *arg)
{
	struct ctl_db_job	*j = arg;
	struct db		*db;

	if ((db = db_reader(&j->cause)) == NULL) {
		j->code = PROTO_E_INTERNAL;
		return;
	}
	j->result = j->fn(db, j->args, &j->code, &j->cause);
	if (j->result == NULL && j->code == NULL)
		j->code = PROTO_E_INTERNAL;
}

static void
ctl_db_done(void *arg)
{
	struct ctl_db_job	*j = arg;
	struct ctl_conn		*c;
	json_t			*answer;

	if (j->result == NULL && strcmp(j->code, PROTO_E_INTERNAL) == 0)
		log_warnx("ctl: connection %llu: %s", (unsigned long long)
		    j->conn, j->cause != NULL ? j->cause : j->code);
	else if (j->result == NULL)
		log_debug("ctl: connection %llu: %s", (unsigned long long)
		    j->conn, j->cause != NULL ? j->cause : j->code);
	if ((c = ctl_conn_find(j->conn)) != NULL) {
		if (j->result != NULL) {
			answer = proto_answer_ok(j->id, j->result);
			j->result = NULL;
		} else
			answer = proto_answer_error(j->id, j->code, "%s",
			    j->cause != NULL ? j->cause : "store read failed");
		c->pending--;
		ctl_conn_send(c, answer);
		ctl_conn_resume(c);
	}
	json_decref(j->id);
	json_decref(j->args);
	json_decref(j->result);
	free(j->cause);
	free(j);
}

json_t *
ctl_defer_db(struct ctl_req *req, ctl_db_fn fn)
{
	struct ctl_db_job	*j;
	struct ctl_conn		*c;

	if (ctl_pool == NULL || (c = ctl_conn_find(req->conn)) == NULL)
		return ctl_error(req, PROTO_E_UNAVAILABLE,
		    "the store cannot be read now");
	j = xcalloc(1, sizeof *j);
	j->conn = req->conn;
	j->id = req->id;
	j->args = req->args;
	j->fn = fn;
	req->id = req->args = NULL;
	c->pending++;
	pool_submit(ctl_pool, ctl_db_work, ctl_db_done, j);
	return NULL;
}

/* --- answers that come later ---------------------------------------------- */

struct ctl_later {
	uint64_t	 conn;
	json_t		*id;
};

struct ctl_later *
ctl_later(struct ctl_req *req)
{
	struct ctl_later	*l;
	struct ctl_conn		*c;

	l = xcalloc(1, sizeof *l);
	l->conn = req->conn;
	l->id = req->id;
	req->id = NULL;
	if ((c = ctl_conn_find(l->conn)) != NULL)
		c->pending++;
	return l;
}

void
ctl_later_answer(struct ctl_later *l, json_t *result, const char *code,
    const char *message)
{
	struct ctl_conn	*c;
	json_t		*answer;

	if ((c = ctl_conn_find(l->conn)) != NULL) {
		if (result != NULL) {
			answer = proto_answer_ok(l->id, result);
			result = NULL;
		} else
			answer = proto_answer_error(l->id, code != NULL ? code :
			    PROTO_E_INTERNAL, "%s", message != NULL ? message :
			    "failed");
		c->pending--;
		ctl_conn_send(c, answer);
		ctl_conn_resume(c);
	}
	json_decref(result);
	json_decref(l->id);
	free(l);
}

/* --- roles ---------------------------------------------------------------- */

/* The peer user's groups (getgrouplist) plus the peer's own gid. Pool
 * thread: NSS may block. Caller frees. */
static gid_t *
ctl_user_groups(uid_t uid, gid_t gid, int *ngroups)
{
	struct passwd	 pw, *pwp = NULL;
	char		*pbuf = NULL;
	size_t		 plen = 4096;
	gid_t		*groups;
	int		 n = 64, rc;

	for (;;) {
		pbuf = xreallocarray(pbuf, 1, plen);
		rc = getpwuid_r(uid, &pw, pbuf, plen, &pwp);
		if (rc != ERANGE || plen >= CTL_NSS_BUF_MAX)
			break;
		plen *= 2;
	}
	if (pwp == NULL) {
		free(pbuf);
		groups = xcalloc(1, sizeof *groups);
		groups[0] = gid;
		*ngroups = 1;
		return groups;
	}
	for (;;) {
		groups = xcalloc((size_t)n + 1, sizeof *groups);
		rc = n;
		if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &rc) != -1) {
			n = rc;
			break;
		}
		free(groups);
		if (rc <= n || rc > CTL_GROUPS_MAX) {
			n = 0;		/* lookup broken: only the gid */
			groups = xcalloc(1, sizeof *groups);
			break;
		}
		n = rc;
	}
	free(pbuf);
	groups[n] = gid;
	*ngroups = n + 1;
	return groups;
}

static int
ctl_group_gid(const char *name, gid_t *gid)
{
	struct group	 gr, *grp = NULL;
	char		*gbuf = NULL;
	size_t		 glen = 4096;
	int		 rc;

	for (;;) {
		gbuf = xreallocarray(gbuf, 1, glen);
		rc = getgrnam_r(name, &gr, gbuf, glen, &grp);
		if (rc != ERANGE || glen >= CTL_NSS_BUF_MAX)
			break;
		glen *= 2;
	}
	if (grp != NULL)
		*gid = grp->gr_gid;
	free(gbuf);
	return grp != NULL ? 0 : -1;
}

static void
ctl_role_work(void *arg)
{
	static const enum proto_role roles[3] = {
		PROTO_ROLE_ADMIN, PROTO_ROLE_QMANAGER, PROTO_ROLE_AUDITOR
	};
	struct ctl_role_job	*j = arg;
	gid_t			*groups, g = 0;
	int			 n, i, k;

	j->role = PROTO_ROLE_NONE;
	groups = ctl_user_groups(j->uid, j->gid, &n);
	for (i = 0; i < 3 && j->role == PROTO_ROLE_NONE; i++) {
		if (j->groups[i] == NULL || ctl_group_gid(j->groups[i], &g) ==
		    -1)
			continue;
		for (k = 0; k < n; k++) {
			if (groups[k] == g) {
				j->role = roles[i];
				break;
			}
		}
	}
	free(groups);
}

static void
ctl_role_done(void *arg)
{
	struct ctl_role_job	*j = arg;
	struct ctl_conn		*c;
	int			 i;

	if ((c = ctl_conn_find(j->conn)) != NULL) {
		c->role = j->role;
		c->role_known = true;
		if (c->role == PROTO_ROLE_ADMIN)
			proto_frame_set_max(&c->frame, CTL_REQ_ADMIN_MAX);
		c->pending--;
		log_debug("ctl: connection %llu uid %u pid %ld: role %s",
		    (unsigned long long)c->id, (unsigned)c->uid, (long)c->pid,
		    proto_role_name(c->role));
		ctl_conn_resume(c);
	}
	for (i = 0; i < 3; i++)
		free(j->groups[i]);
	free(j);
}

static void
ctl_role_submit(struct ctl_conn *c, gid_t gid)
{
	struct ctl_role_job	*j;
	struct cfg		*cfg = cfg_current();

	j = xcalloc(1, sizeof *j);
	j->conn = c->id;
	j->uid = c->uid;
	j->gid = gid;
	if (cfg != NULL) {
		j->groups[0] = cfg->admin_group != NULL ?
		    xstrdup(cfg->admin_group) : NULL;
		j->groups[1] = cfg->qmanager_group != NULL ?
		    xstrdup(cfg->qmanager_group) : NULL;
		j->groups[2] = cfg->auditor_group != NULL ?
		    xstrdup(cfg->auditor_group) : NULL;
	}
	c->pending++;
	pool_submit(ctl_pool, ctl_role_work, ctl_role_done, j);
}

/* --- the listener --------------------------------------------------------- */

static void
ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct ctl_conn	*c;
	struct ucred	 cred;
	socklen_t	 len = sizeof cred;

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	if (ctl_nconns >= CTL_CONN_MAX) {
		log_warnx("ctl: %d control connections already, refusing one",
		    CTL_CONN_MAX);
		close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("ctl: SO_PEERCRED");
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->id = ctl_next_id++;
	c->uid = cred.uid;
	c->pid = cred.pid;
	if ((c->bev = bufferevent_socket_new(ctl_base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("ctl: bufferevent_socket_new failed");
		close(fd);
		free(c);
		return;
	}
	proto_frame_init(&c->frame, CTL_REQ_MAX);
	bufferevent_setcb(c->bev, ctl_read_cb, ctl_write_cb, ctl_event_cb, c);
	TAILQ_INSERT_TAIL(&ctl_conns, c, entry);
	ctl_nconns++;
	bufferevent_enable(c->bev, EV_WRITE);
	if (cred.uid == 0 || cred.uid == geteuid()) {
		c->role = PROTO_ROLE_ADMIN;
		c->role_known = true;
		/* Admins send whole messages (bayes.learn). */
		proto_frame_set_max(&c->frame, CTL_REQ_ADMIN_MAX);
		log_debug("ctl: connection %llu uid %u pid %ld: role admin",
		    (unsigned long long)c->id, (unsigned)c->uid, (long)c->pid);
		bufferevent_enable(c->bev, EV_READ);
	} else
		ctl_role_submit(c, cred.gid);	/* reads once it is known */
}

int
ctl_conn_adopt(int fd, enum proto_role role, const char *who)
{
	struct ctl_conn	*c;

	if (ctl_base == NULL || ctl_nconns >= CTL_CONN_MAX) {
		close(fd);
		return -1;
	}
	evutil_make_socket_nonblocking(fd);
	c = xcalloc(1, sizeof *c);
	c->id = ctl_next_id++;
	c->uid = (uid_t)-1;
	if ((c->bev = bufferevent_socket_new(ctl_base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		free(c);
		return -1;
	}
	proto_frame_init(&c->frame, role == PROTO_ROLE_ADMIN ?
	    CTL_REQ_ADMIN_MAX : CTL_REQ_MAX);
	bufferevent_setcb(c->bev, ctl_read_cb, ctl_write_cb, ctl_event_cb, c);
	TAILQ_INSERT_TAIL(&ctl_conns, c, entry);
	ctl_nconns++;
	c->role = role;
	c->role_known = true;
	log_debug("ctl: connection %llu (%s): role %s",
	    (unsigned long long)c->id, who, proto_role_name(role));
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return 0;
}

static void
ctl_accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	log_warnx("ctl: accept: %s",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* mkdir -p for the folders above path. */
static int
ctl_mkdir_parents(const char *path, char **cause)
{
	char	*p, *s;

	p = xstrdup(path);
	for (s = strchr(p + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST) {
			xasprintf(cause, "mkdir %s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	return 0;
}

/* A socket file left by a moatd that died is removed; a live one is not. */
static int
ctl_remove_stale(const struct sockaddr_un *sun, char **cause)
{
	struct stat	st;
	int		fd, rv, saved;

	if (lstat(sun->sun_path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		xasprintf(cause, "%s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		xasprintf(cause, "%s exists and is not a socket",
		    sun->sun_path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return -1;
	}
	rv = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	saved = errno;
	close(fd);
	if (rv == 0) {
		xasprintf(cause, "%s: another process is listening on it",
		    sun->sun_path);
		return -1;
	}
	if (saved != ECONNREFUSED && saved != ENOENT) {
		xasprintf(cause, "%s: %s", sun->sun_path, strerror(saved));
		return -1;
	}
	if (unlink(sun->sun_path) == -1 && errno != ENOENT) {
		xasprintf(cause, "unlink %s: %s", sun->sun_path,
		    strerror(errno));
		return -1;
	}
	log_info("ctl: removed stale socket %s", sun->sun_path);
	return 0;
}

static int
ctl_bind(const char *path, int mode, char **cause)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old;
	int			 fd, saved;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		xasprintf(cause, "control socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (ctl_mkdir_parents(path, cause) == -1 ||
	    ctl_remove_stale(&sun, cause) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return -1;
	}
	/* Born owner-only, then widened: no moment with a looser mode. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		saved = errno;
		umask(old);
		close(fd);
		xasprintf(cause, "bind %s: %s", path, strerror(saved));
		return -1;
	}
	umask(old);
	if (chmod(path, (mode_t)mode) == -1 || stat(path, &st) == -1) {
		saved = errno;
		close(fd);
		unlink(path);
		xasprintf(cause, "chmod %s: %s", path, strerror(saved));
		return -1;
	}
	ctl_path_dev = st.st_dev;
	ctl_path_ino = st.st_ino;
	return fd;
}

static void
ctl_check_table(void)
{
	size_t	i;

	for (i = 1; i < ctl_ncmds; i++) {
		if (strcmp(ctl_cmds[i - 1]->name, ctl_cmds[i]->name) >= 0)
			fatalx("ctl: command table not sorted at %s",
			    ctl_cmds[i]->name);
	}
}

int
ctl_start(struct event_base *base, const struct cfg *cfg, char **cause)
{
	int	fd;

	ctl_check_table();
	if (cfg->control_socket == NULL || *cfg->control_socket == '\0') {
		*cause = xstrdup("no control socket configured");
		return -1;
	}
	if ((fd = ctl_bind(cfg->control_socket, cfg->control_mode, cause)) ==
	    -1)
		return -1;
	ctl_base = base;
	ctl_path = xstrdup(cfg->control_socket);
	ctl_listener = evconnlistener_new(base, ctl_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, CTL_BACKLOG, fd);
	if (ctl_listener == NULL) {
		xasprintf(cause, "listen %s: %s", ctl_path,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		close(fd);
		unlink(ctl_path);
		free(ctl_path);
		ctl_path = NULL;
		return -1;
	}
	evconnlistener_set_error_cb(ctl_listener, ctl_accept_error_cb);
	ctl_pool = pool_create(base, "ctl", CTL_POOL_THREADS);
	if (ctl_mono_start == 0)
		ctl_mono_start = util_mono_ms();
	log_info("ctl: listening on %s (mode %04o)", ctl_path,
	    (unsigned)cfg->control_mode);
	return 0;
}

void
ctl_stop(void)
{
	struct ctl_conn	*c;
	struct stat	 st;

	if (ctl_listener != NULL) {
		evconnlistener_free(ctl_listener);
		ctl_listener = NULL;
	}
	while ((c = TAILQ_FIRST(&ctl_conns)) != NULL)
		ctl_conn_free(c);
	if (ctl_pool != NULL) {
		pool_destroy(ctl_pool);	/* done() finds no connection */
		ctl_pool = NULL;
	}
	/* Unlink only our own socket, not one a successor bound since. */
	if (ctl_path != NULL && stat(ctl_path, &st) == 0 &&
	    st.st_dev == ctl_path_dev && st.st_ino == ctl_path_ino)
		unlink(ctl_path);
	free(ctl_path);
	ctl_path = NULL;
}

/* --- process-wide bits for the commands ----------------------------------- */

struct pool *
ctl_work_pool(void)
{
	return ctl_pool;
}

void
ctl_set_reload(int (*fn)(char **))
{
	ctl_reload_fn = fn;
}

int
ctl_reload(char **cause)
{
	if (ctl_reload_fn == NULL) {
		*cause = xstrdup("reload is not available");
		return -1;
	}
	return ctl_reload_fn(cause);
}

uint64_t
ctl_started_mono(void)
{
	if (ctl_mono_start == 0)
		ctl_mono_start = util_mono_ms();
	return ctl_mono_start;
}
