/*
 * The quarantine: durable store and drop (worker threads), and the
 * operations of the control commands and timers: release, delete, sender
 * lists, purge (show: quar_view.c, spam digests: quar_report.c). Operations start on the loop thread, do disk
 * and store work on the "quar" pool and mail through relay_send on the
 * loop; each operation owns its context until its done callback.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <gmime/gmime.h>

#include "body.h"
#include "buf.h"
#include "ctl.h"
#include "db.h"
#include "db_quar.h"
#include "log.h"
#include "pool.h"
#include "quar.h"
#include "relay.h"
#include "track.h"
#include "util.h"
#include "xmalloc.h"

#define QUAR_PURGE_MAX		100000	/* entries one purge run removes */
#define QUAR_READ_CHUNK		(64 * 1024)

static struct {
	struct event_base	*base;
	struct pool		*pool;
	struct event		*purge_ev;
	struct event		*report_ev;
} qs;

/* --- configuration -------------------------------------------------------- */

int
quar_cfg_load(const struct cfg *c, struct quar_cfg *q, char **cause)
{
	static const char *const keys[] = { "dir", "spam_days", "virus_days",
	    "attachment_days", "report", "report_time", "report_from",
	    "report_hours", "preview_max", NULL };
	config_setting_t	*s = cfg_section(c, "quarantine");
	long long		 v;
	char			*t = NULL, *def;
	int			 h, m, n = 0;

	memset(q, 0, sizeof *q);
	if (cfg_check_keys(c, s, keys, cause) == -1 ||
	    cfg_get_path(c, s, "dir", c->quarantine_dir, &q->dir, cause) == -1)
		goto fail;
	if (cfg_get_int(c, s, "spam_days", 7, 0, 36500, &v, cause) == -1)
		goto fail;
	q->days[QUAR_SPAM] = (int)v;
	if (cfg_get_int(c, s, "virus_days", 30, 0, 36500, &v, cause) == -1)
		goto fail;
	q->days[QUAR_VIRUS] = (int)v;
	if (cfg_get_int(c, s, "attachment_days", 30, 0, 36500, &v,
	    cause) == -1)
		goto fail;
	q->days[QUAR_ATTACHMENT] = (int)v;
	if (cfg_get_bool(c, s, "report", false, &q->report, cause) == -1 ||
	    cfg_get_str(c, s, "report_time", "06:00", &t, cause) == -1)
		goto fail;
	if (sscanf(t, "%2d:%2d%n", &h, &m, &n) != 2 || t[n] != '\0' ||
	    h < 0 || h > 23 || m < 0 || m > 59) {
		xasprintf(cause, "%s: quarantine.report_time \"%s\" is not "
		    "hh:mm", c->path, t);
		goto fail;
	}
	q->report_min = h * 60 + m;
	xasprintf(&def, "postmaster@%s", c->hostname != NULL ? c->hostname :
	    "localhost");
	if (cfg_get_str(c, s, "report_from", def, &q->report_from,
	    cause) == -1) {
		free(def);
		goto fail;
	}
	free(def);
	if (cfg_get_int(c, s, "report_hours", 24, 1, 24 * 366, &v,
	    cause) == -1)
		goto fail;
	q->report_hours = (int)v;
	if (cfg_get_int(c, s, "preview_max", QUAR_PREVIEW_DEFAULT, 256,
	    QUAR_PREVIEW_MAX, &v, cause) == -1)
		goto fail;
	q->preview_max = (int)v;
	free(t);
	return 0;
fail:
	free(t);
	quar_cfg_free(q);
	return -1;
}

void
quar_cfg_free(struct quar_cfg *q)
{
	free(q->dir);
	free(q->report_from);
	memset(q, 0, sizeof *q);
}

int
quar_check(const struct cfg *c, char **cause)
{
	struct quar_cfg	q;

	if (quar_cfg_load(c, &q, cause) == -1)
		return -1;
	quar_cfg_free(&q);
	return 0;
}

/* --- durable files -------------------------------------------------------- */

static int
fsync_dir(const char *dir)
{
	int	fd, rv;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rv = fsync(fd);
	close(fd);
	return rv;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The type's folder, made (and made durable) on first use. */
static int
type_dir(const char *top, enum quar_type t, char **out, char **cause)
{
	xasprintf(out, "%s/%s", top, quar_type_name(t));
	if (mkdir(*out, 0750) == 0) {
		if (fsync_dir(top) == -1) {
			xasprintf(cause, "fsync %s: %s", top, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	if (errno == ENOENT && mkdir(top, 0750) == 0 && mkdir(*out, 0750) == 0)
		return 0;
	xasprintf(cause, "mkdir %s: %s", *out, strerror(errno));
	return -1;
}

int
quar_store(const struct cfg *c, const struct quar_meta *m, const char *prepend,
    const char *data, size_t len, char *id, size_t idlen, char **cause)
{
	struct quar_cfg	 q;
	uint32_t	 r;
	char		*dir = NULL, *tmp = NULL, *final = NULL, *rel = NULL;
	size_t		 plen = prepend != NULL ? strlen(prepend) : 0;
	int		 fd = -1, rv = -1, saved;

	if (quar_cfg_load(c, &q, cause) == -1)
		return -1;
	arc4random_buf(&r, sizeof r);
	snprintf(id, idlen, "%.14s-%08x", m->queue_id != NULL ?
	    m->queue_id : "0", r);
	if (type_dir(q.dir, m->type, &dir, cause) == -1)
		goto out;
	xasprintf(&tmp, "%s/.tmp-%s", dir, id);
	xasprintf(&final, "%s/%s.eml", dir, id);
	xasprintf(&rel, "%s/%s.eml", quar_type_name(m->type), id);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0640)) == -1) {
		xasprintf(cause, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, prepend, plen) == -1 ||
	    write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		saved = errno;
		xasprintf(cause, "%s: %s", tmp, strerror(saved));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		xasprintf(cause, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, final) == -1) {
		xasprintf(cause, "rename %s: %s", final, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if (fsync_dir(dir) == -1) {
		xasprintf(cause, "fsync %s: %s", dir, strerror(errno));
		unlink(final);
		goto out;
	}
	/* The file is durable; the index row makes it visible. */
	if (db_quar_insert(m, id, rel, plen + len, cause) == -1) {
		unlink(final);
		goto out;
	}
	rv = 0;
out:
	if (fd != -1)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(final);
	free(rel);
	free(dir);
	quar_cfg_free(&q);
	return rv;
}

static void
unlink_file(const char *top, const char *rel)
{
	char	*path;

	if (rel == NULL || strstr(rel, "..") != NULL)
		return;
	xasprintf(&path, "%s/%s", top, rel);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("quarantine: unlink %s", path);
	free(path);
}

int
quar_drop(const struct cfg *c, const char *id, char **cause)
{
	struct quar_cfg	 q;
	char		*file = NULL;

	if (quar_cfg_load(c, &q, cause) == -1)
		return -1;
	if (db_quar_remove(id, &file, cause) == -1) {
		quar_cfg_free(&q);
		return -1;
	}
	unlink_file(q.dir, file);
	free(file);
	quar_cfg_free(&q);
	return 0;
}

/* Read a stored message into a body (pool thread). */
static struct body *
load_body(const struct cfg *c, const char *top, const char *rel, char **cause)
{
	struct body	*b;
	char		*path, *chunk;
	ssize_t		 n;
	int		 fd;

	if (rel == NULL || strstr(rel, "..") != NULL) {
		*cause = xstrdup("bad file name in the index");
		return NULL;
	}
	xasprintf(&path, "%s/%s", top, rel);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	b = body_new(c->spool_dir);
	chunk = xmalloc(QUAR_READ_CHUNK);
	for (;;) {
		n = read(fd, chunk, QUAR_READ_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (body_append(b, chunk, (size_t)n) == -1) {
			n = -1;
			break;
		}
	}
	if (n == 0 && body_finish(b) == -1)
		n = -1;
	if (n == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno != 0 ? errno :
		    EIO));
		body_free(b);
		b = NULL;
	}
	free(chunk);
	close(fd);
	free(path);
	return b;
}

/* --- mail out ------------------------------------------------------------ */

struct sendctx {
	struct relay_msg	 m;
	struct relay_rcpt	*rr;
	char			**rcpts;
	size_t			 n;
	char			*from;
	struct body		*body;
	struct cfg		*cfg;
	quar_sent_fn		 fn;
	void			*arg;
};

static void
send_done(struct relay_msg *m, void *arg)
{
	struct sendctx	*s = arg;
	size_t		 i;

	(void)m;
	if (s->fn != NULL)
		s->fn(s->rr, s->n, s->arg);
	for (i = 0; i < s->n; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	free(s->rr);
	free(s->from);
	body_free(s->body);
	cfg_unref(s->cfg);
	free(s);
}

void
quar_send(const struct cfg *c, const char *from, char *const *rcpts, size_t n,
    struct body *body, bool smtputf8, enum smtp_body_type bt, quar_sent_fn fn,
    void *arg)
{
	struct sendctx	*s;
	size_t		 i;

	s = xcalloc(1, sizeof *s);
	s->cfg = cfg_ref((struct cfg *)c);
	s->from = xstrdup(from != NULL ? from : "");
	s->n = n;
	s->rcpts = xcalloc(n + 1, sizeof *s->rcpts);
	s->rr = xcalloc(n + 1, sizeof *s->rr);
	for (i = 0; i < n; i++) {
		s->rcpts[i] = xstrdup(rcpts[i]);
		s->rr[i].addr = s->rcpts[i];
		s->rr[i].notify = "";
		s->rr[i].orcpt = "";
	}
	s->body = body;
	s->fn = fn;
	s->arg = arg;
	s->m.mail_from = s->from;
	s->m.smtputf8 = smtputf8;
	s->m.body_type = bt;
	s->m.ret = "";
	s->m.envid = "";
	s->m.rcpts = s->rr;
	s->m.nrcpts = n;
	s->m.body = s->body;
	/* Recipients the next hop takes are delivered even when others are
	 * refused: there is no client waiting for one answer. */
	s->m.all_or_nothing = false;
	relay_send(s->cfg, &s->m, send_done, s);
}

/* --- tracking --------------------------------------------------------------- */

static enum direction
dir_parse(const char *s)
{
	return s != NULL && strcmp(s, "outbound") == 0 ? DIR_OUTBOUND :
	    DIR_INBOUND;
}

/* A record of a change to an entry, with its own queue id: the entry's
 * plus an event suffix, so tracking.search on the queue id finds both. */
static struct track_rec *
make_rec(const struct cfg *c, const struct quar_entry *e,
    enum track_outcome o, char *const *rcpts, const char *const *replies,
    size_t n, const char *reply)
{
	struct track_rec	*r = track_rec_new();
	uint32_t		 rnd;
	size_t			 i;

	arc4random_buf(&rnd, sizeof rnd);
	snprintf(r->queue_id, sizeof r->queue_id, "%.14s.%c%06X", e->queue_id,
	    o == TRACK_RELEASED ? 'R' : 'D', rnd & 0xffffff);
	r->node = xstrdup(c->node_name != NULL ? c->node_name : "");
	r->time_ms = util_wall_ms();
	r->direction = cfg_direction_name(dir_parse(e->direction));
	r->sender = xstrdup(e->sender != NULL ? e->sender : "");
	r->subject = e->subject != NULL ? xstrdup(e->subject) : NULL;
	r->size = e->size;
	r->outcome = o;
	r->reply = xstrdup(reply);
	if ((r->scanned = e->scanned))
		r->score = e->score;
	r->rcpts = xcalloc(n + 1, sizeof *r->rcpts);
	r->nrcpts = n;
	for (i = 0; i < n; i++) {
		r->rcpts[i].addr = xstrdup(rcpts[i]);
		r->rcpts[i].outcome = replies != NULL && replies[i] != NULL ?
		    TRACK_TEMPFAILED : o;
		r->rcpts[i].reply = xstrdup(replies != NULL &&
		    replies[i] != NULL ? replies[i] : reply);
	}
	return r;
}

static void
rec_finish(struct track_rec *r)
{
	if (r == NULL)
		return;
	ctl_publish_tracking(r);
	db_track_submit(r);
}

/* --- lists ------------------------------------------------------------- */

int
quar_lists_load(char **cause)
{
	struct policy_list_entry	*v;
	size_t				 n;

	if (db_quar_lists_load(&v, &n, cause) == -1)
		return -1;
	policy_lists_set(policy_lists_new(v, n));
	return 0;
}

static void
lists_work(void *arg)
{
	char	*cause = NULL;

	(void)arg;
	if (quar_lists_load(&cause) == -1) {
		log_warnx("quarantine: sender lists not reloaded: %s", cause);
		free(cause);
	}
}

void
quar_lists_reload(void)
{
	if (qs.pool != NULL)
		pool_submit(qs.pool, lists_work, NULL, NULL);
}

struct pool *
quar_pool(void)
{
	return qs.pool;
}

/* --- release / delete / lists from the quarantine ------------------------- */

struct op {
	struct quar_req		*req;
	struct cfg		*cfg;
	struct quar_cfg		 q;
	quar_done_fn		 done;
	void			*arg;
	size_t			 i;		/* current id */
	json_t			*results;
	size_t			 nok, nfailed;
	bool			 lists_changed;
	/* The current id. */
	int			 rv;		/* 0, 1 unknown id, -1 */
	char			*cause;
	struct quar_entry	 e;
	struct body		*body;
	char			**back;		/* refused by the next hop */
	char			**back_reply;
	size_t			 nback;
	char			**sent;
	size_t			 nsent;
	char			*last_reply;
	struct track_rec	*rec;
};

static void	op_next(struct op *);

static void
op_item_reset(struct op *op)
{
	size_t	i;

	free(op->cause);
	op->cause = NULL;
	quar_entry_clear(&op->e);
	body_free(op->body);
	op->body = NULL;
	for (i = 0; i < op->nback; i++) {
		free(op->back[i]);
		free(op->back_reply[i]);
	}
	free(op->back);
	free(op->back_reply);
	op->back = op->back_reply = NULL;
	op->nback = 0;
	for (i = 0; i < op->nsent; i++)
		free(op->sent[i]);
	free(op->sent);
	op->sent = NULL;
	op->nsent = 0;
	free(op->last_reply);
	op->last_reply = NULL;
	track_rec_free(op->rec);
	op->rec = NULL;
	op->rv = 0;
}

static void
req_free(struct quar_req *r)
{
	size_t	i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nids; i++)
		free(r->ids[i]);
	free(r->ids);
	free(r->rcpt);
	free(r->actor);
	free(r);
}

static void
op_result(struct op *op, bool ok, const char *error)
{
	const char	*id = op->req->ids[op->i];
	json_t		*o, *a;
	size_t		 i;

	o = json_pack("{s:s, s:b}", "id", id, "ok", ok);
	if (error != NULL)
		json_object_set_new(o, "error", json_string(error));
	if (op->e.nrcpts > 0 && (op->req->op == QUAR_OP_DELETE ||
	    op->req->op == QUAR_OP_BLOCKLIST)) {
		a = json_array();
		for (i = 0; i < op->e.nrcpts; i++)
			json_array_append_new(a, json_string(op->e.rcpts[i]));
		json_object_set_new(o, "deleted", a);
	}
	if (op->nsent > 0 || op->nback > 0) {
		a = json_array();
		for (i = 0; i < op->nsent; i++)
			json_array_append_new(a, json_string(op->sent[i]));
		json_object_set_new(o, "released", a);
		a = json_array();
		for (i = 0; i < op->nback; i++)
			json_array_append_new(a, json_pack("{s:s, s:s}", "rcpt",
			    op->back[i], "reply", op->back_reply[i]));
		json_object_set_new(o, "refused", a);
	}
	json_array_append_new(op->results, o);
	if (ok)
		op->nok++;
	else
		op->nfailed++;
}

/* Pool: the sender goes on the list of each recipient (or the global). */
static void
op_add_lists(struct op *op, bool block)
{
	const char	*sender = op->e.sender;
	char		*cause = NULL;
	size_t		 i;
	bool		 added;

	if (sender == NULL || *sender == '\0')
		return;		/* <> is no sender to list */
	for (i = 0; i < (op->req->global ? 1 : op->e.nrcpts); i++) {
		if (db_quar_list_add(op->req->global ? "" : op->e.rcpts[i],
		    block, sender, "from the quarantine", &added,
		    &cause) == -1) {
			log_warnx("quarantine: %s: list: %s", op->e.id, cause);
			free(cause);
			cause = NULL;
			continue;
		}
		if (added)
			op->lists_changed = true;
	}
	/* Before the answer: the next message sees the new lists. */
	if (op->lists_changed && quar_lists_load(&cause) == -1) {
		log_warnx("quarantine: sender lists not reloaded: %s", cause);
		free(cause);
	}
}

static void
op_claim_work(void *arg)
{
	struct op	*op = arg;
	char		*file = NULL, *why = NULL;

	op->rv = db_quar_claim(op->req->ids[op->i], op->req->rcpt, &op->e,
	    &op->cause);
	if (op->rv != 0 || op->e.nrcpts == 0)
		return;
	if (op->req->op == QUAR_OP_WELCOMELIST)
		op_add_lists(op, false);
	if ((op->body = load_body(op->cfg, op->q.dir, op->e.file,
	    &op->cause)) != NULL)
		return;
	/* The file is gone: nothing to send; hold the recipients again. */
	if (db_quar_settle(op->e.id, NULL, 0, op->e.rcpts, op->e.nrcpts,
	    &file, &why) == -1) {
		log_warnx("quarantine: %s: %s", op->e.id, why);
		free(why);
	}
	free(file);
	op->rv = -1;
}

static void
op_settle_work(void *arg)
{
	struct op	*op = arg;
	char		*file = NULL, *reply;
	const char	**replies;
	char		**all;
	size_t		 i, n;

	if (db_quar_settle(op->e.id, op->sent, op->nsent, op->back, op->nback,
	    &file, &op->cause) == -1) {
		op->rv = -1;
		return;
	}
	unlink_file(op->q.dir, file);
	free(file);
	n = op->nsent + op->nback;
	all = xcalloc(n + 1, sizeof *all);
	replies = xcalloc(n + 1, sizeof *replies);
	for (i = 0; i < op->nsent; i++)
		all[i] = op->sent[i];
	for (i = 0; i < op->nback; i++) {
		all[op->nsent + i] = op->back[i];
		replies[op->nsent + i] = op->back_reply[i];
	}
	xasprintf(&reply, "released from quarantine %s by %s%s%s", op->e.id,
	    op->req->actor != NULL ? op->req->actor : "admin",
	    op->last_reply != NULL ? "; next hop: " : "",
	    op->last_reply != NULL ? op->last_reply : "");
	op->rec = make_rec(op->cfg, &op->e, TRACK_RELEASED, all, replies, n,
	    reply);
	free(reply);
	free(all);
	free(replies);
}

static void
op_settle_done(void *arg)
{
	struct op	*op = arg;

	if (op->rv == -1) {
		log_warnx("quarantine: %s: after release: %s", op->e.id,
		    op->cause);
		op_result(op, false, op->cause);
	} else {
		log_info("quarantine: %s released to %zu recipient(s), %zu "
		    "refused", op->e.id, op->nsent, op->nback);
		rec_finish(op->rec);
		op->rec = NULL;
		op_result(op, op->nsent > 0, op->nsent > 0 ? NULL :
		    "the next hop refused every recipient");
	}
	op->i++;
	op_next(op);
}

static void
op_sent(const struct relay_rcpt *rr, size_t n, void *arg)
{
	struct op	*op = arg;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (rr[i].code / 100 == 2) {
			op->sent = xreallocarray(op->sent, op->nsent + 1,
			    sizeof *op->sent);
			op->sent[op->nsent++] = xstrdup(rr[i].addr);
		} else {
			op->back = xreallocarray(op->back, op->nback + 1,
			    sizeof *op->back);
			op->back_reply = xreallocarray(op->back_reply,
			    op->nback + 1, sizeof *op->back_reply);
			op->back[op->nback] = xstrdup(rr[i].addr);
			op->back_reply[op->nback++] = xstrdup(rr[i].code == 0 ?
			    "next hop unreachable" : rr[i].reply);
		}
		free(op->last_reply);
		op->last_reply = xstrdup(rr[i].reply);
	}
	pool_submit(qs.pool, op_settle_work, op_settle_done, op);
}

static void
op_claim_done(void *arg)
{
	struct op	*op = arg;
	struct body	*b;

	if (op->rv == 1 || (op->rv == 0 && op->e.nrcpts == 0)) {
		op_result(op, false, op->rv == 1 ? "no such quarantine entry" :
		    "nothing held for this request (released or being "
		    "released already)");
		op->i++;
		op_next(op);
		return;
	}
	if (op->rv == -1) {
		log_warnx("quarantine: %s: %s", op->req->ids[op->i],
		    op->cause);
		op_result(op, false, op->cause);
		op->i++;
		op_next(op);
		return;
	}
	b = op->body;
	op->body = NULL;
	quar_send(op->cfg, op->e.sender, op->e.rcpts, op->e.nrcpts, b,
	    op->e.smtputf8, op->e.body_type, op_sent, op);
}

static void
op_delete_work(void *arg)
{
	struct op	*op = arg;
	char		*file = NULL, *reply;

	op->rv = db_quar_delete(op->req->ids[op->i], op->req->rcpt, &op->e,
	    &file, &op->cause);
	if (op->rv != 0 || op->e.nrcpts == 0)
		return;
	if (op->req->op == QUAR_OP_BLOCKLIST)
		op_add_lists(op, true);
	unlink_file(op->q.dir, file);
	free(file);
	xasprintf(&reply, "deleted from quarantine %s by %s", op->e.id,
	    op->req->actor != NULL ? op->req->actor : "admin");
	op->rec = make_rec(op->cfg, &op->e, TRACK_DELETED, op->e.rcpts, NULL,
	    op->e.nrcpts, reply);
	free(reply);
}

static void
op_delete_done(void *arg)
{
	struct op	*op = arg;

	if (op->rv == 0 && op->e.nrcpts > 0) {
		log_info("quarantine: %s deleted for %zu recipient(s)",
		    op->e.id, op->e.nrcpts);
		rec_finish(op->rec);
		op->rec = NULL;
		op_result(op, true, NULL);
	} else
		op_result(op, false, op->rv == 1 ? "no such quarantine entry" :
		    op->rv == -1 ? op->cause : "nothing held for this request");
	op->i++;
	op_next(op);
}

static void
op_next(struct op *op)
{
	json_t	*res;

	op_item_reset(op);
	if (op->i < op->req->nids) {
		if (op->req->op == QUAR_OP_RELEASE ||
		    op->req->op == QUAR_OP_WELCOMELIST)
			pool_submit(qs.pool, op_claim_work, op_claim_done, op);
		else
			pool_submit(qs.pool, op_delete_work, op_delete_done,
			    op);
		return;
	}
	res = json_pack("{s:o, s:I, s:I}", "results", op->results, "done",
	    (json_int_t)op->nok, "failed", (json_int_t)op->nfailed);
	op->results = NULL;
	op->done(res, NULL, NULL, op->arg);
	req_free(op->req);
	cfg_unref(op->cfg);
	quar_cfg_free(&op->q);
	free(op);
}

void
quar_run(struct quar_req *req, quar_done_fn done, void *arg)
{
	struct op	*op;
	char		*cause = NULL;

	if (qs.pool == NULL) {
		req_free(req);
		done(NULL, "unavailable", "the quarantine is not running",
		    arg);
		return;
	}
	op = xcalloc(1, sizeof *op);
	op->cfg = cfg_ref(cfg_current());
	if (quar_cfg_load(op->cfg, &op->q, &cause) == -1) {
		done(NULL, "internal", cause, arg);
		free(cause);
		cfg_unref(op->cfg);
		req_free(req);
		free(op);
		return;
	}
	op->req = req;
	op->done = done;
	op->arg = arg;
	op->results = json_array();
	op_next(op);
}

/* --- purge ------------------------------------------------------------ */

struct purge {
	struct cfg		*cfg;
	quar_done_fn		 done;
	void			*arg;
	size_t			 n[QUAR_TYPE_MAX];
	struct track_rec	**recs;
	size_t			 nrecs;
	char			*cause;
};

static void
purge_work(void *arg)
{
	struct purge		*pg = arg;
	struct quar_cfg		 q;
	struct quar_entry	 e;
	char			**ids, *file, *reply;
	size_t			 n, i, total = 0;
	int			 t;
	int64_t			 before;

	if (quar_cfg_load(pg->cfg, &q, &pg->cause) == -1)
		return;
	for (t = 0; t < QUAR_TYPE_MAX; t++) {
		if (q.days[t] == 0)
			continue;
		before = util_wall_ms() - (int64_t)q.days[t] * 86400 * 1000;
		do {
			if (db_quar_expired((enum quar_type)t, before,
			    QUAR_PURGE_BATCH, &ids, &n, &pg->cause) == -1)
				goto out;
			for (i = 0; i < n; i++) {
				file = NULL;
				if (db_quar_delete(ids[i], NULL, &e, &file,
				    &pg->cause) != 0) {
					free(ids[i]);
					continue;
				}
				if (file == NULL) {
					/* A release holds some recipients:
					 * the next run removes it. */
					quar_entry_clear(&e);
					free(ids[i]);
					continue;
				}
				unlink_file(q.dir, file);
				free(file);
				pg->n[t]++;
				if (e.nrcpts > 0) {
					xasprintf(&reply, "purged from "
					    "quarantine %s after %d days",
					    e.id, q.days[t]);
					pg->recs = xreallocarray(pg->recs,
					    pg->nrecs + 1, sizeof *pg->recs);
					pg->recs[pg->nrecs++] = make_rec(pg->cfg,
					    &e, TRACK_DELETED, e.rcpts, NULL,
					    e.nrcpts, reply);
					free(reply);
				}
				quar_entry_clear(&e);
				free(ids[i]);
			}
			free(ids);
			total += n;
			/* Entries a release holds come back: stop then. */
		} while (n == QUAR_PURGE_BATCH && total < QUAR_PURGE_MAX &&
		    pg->n[t] > 0);
	}
out:
	quar_cfg_free(&q);
}

static void
purge_done(void *arg)
{
	struct purge	*pg = arg;
	json_t		*res = NULL;
	size_t		 i;

	for (i = 0; i < pg->nrecs; i++)
		rec_finish(pg->recs[i]);
	free(pg->recs);
	if (pg->n[QUAR_SPAM] + pg->n[QUAR_VIRUS] + pg->n[QUAR_ATTACHMENT] > 0)
		log_info("quarantine: purged %zu spam, %zu virus, %zu "
		    "attachment entries", pg->n[QUAR_SPAM], pg->n[QUAR_VIRUS],
		    pg->n[QUAR_ATTACHMENT]);
	if (pg->cause != NULL)
		log_warnx("quarantine: purge: %s", pg->cause);
	else
		res = json_pack("{s:{s:I, s:I, s:I}}", "purged",
		    "spam", (json_int_t)pg->n[QUAR_SPAM],
		    "virus", (json_int_t)pg->n[QUAR_VIRUS],
		    "attachment", (json_int_t)pg->n[QUAR_ATTACHMENT]);
	if (pg->done != NULL)
		pg->done(res, "internal", pg->cause, pg->arg);
	else
		json_decref(res);
	free(pg->cause);
	cfg_unref(pg->cfg);
	free(pg);
}

void
quar_purge(quar_done_fn done, void *arg)
{
	struct purge	*pg;

	if (qs.pool == NULL) {
		if (done != NULL)
			done(NULL, "unavailable", "the quarantine is not "
			    "running", arg);
		return;
	}
	pg = xcalloc(1, sizeof *pg);
	pg->cfg = cfg_ref(cfg_current());
	pg->done = done;
	pg->arg = arg;
	pool_submit(qs.pool, purge_work, purge_done, pg);
}

/* --- timers, start, stop ----------------------------------------------- */

static void
report_arm(void)
{
	struct quar_cfg	 q;
	struct timeval	 tv = { 3600, 0 };
	struct tm	 tm;
	time_t		 now = time(NULL);
	char		*cause = NULL;
	int		 min, wait;

	if (quar_cfg_load(cfg_current(), &q, &cause) == -1) {
		free(cause);
		evtimer_add(qs.report_ev, &tv);
		return;
	}
	localtime_r(&now, &tm);
	min = tm.tm_hour * 60 + tm.tm_min;
	wait = q.report_min - min;
	if (wait <= 0)
		wait += 24 * 60;
	tv.tv_sec = (time_t)wait * 60 - tm.tm_sec;
	if (tv.tv_sec <= 0)
		tv.tv_sec = 60;
	/* A reload may change the time: look again within the hour. */
	if (tv.tv_sec > 3600)
		tv.tv_sec = 3600;
	quar_cfg_free(&q);
	evtimer_add(qs.report_ev, &tv);
}

static void
on_report(evutil_socket_t fd, short what, void *arg)
{
	struct quar_cfg	 q;
	struct tm	 tm;
	time_t		 now = time(NULL);
	char		*cause = NULL;

	(void)fd;
	(void)what;
	(void)arg;
	if (quar_cfg_load(cfg_current(), &q, &cause) == 0) {
		localtime_r(&now, &tm);
		if (q.report && tm.tm_hour * 60 + tm.tm_min == q.report_min)
			quar_report(NULL, NULL, NULL);
		quar_cfg_free(&q);
	} else
		free(cause);
	report_arm();
}

static void
on_purge(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	quar_purge(NULL, NULL);
}

int
quar_start(struct event_base *base, const struct cfg *c, char **cause)
{
	struct policy_list_entry	*v;
	struct quar_cfg			 q;
	struct timeval			 tv = { QUAR_PURGE_EVERY_S, 0 };
	size_t				 n;
	int				 reset;

	if (quar_cfg_load(c, &q, cause) == -1)
		return -1;
	if (mkdir(q.dir, 0750) == -1 && errno != EEXIST) {
		xasprintf(cause, "mkdir %s: %s", q.dir, strerror(errno));
		quar_cfg_free(&q);
		return -1;
	}
	quar_cfg_free(&q);
	/* Start-up, before serving: these store calls may block here. */
	if (db_quar_open(c->db_path, cause) == -1 ||
	    db_quar_reset_releasing(&reset, cause) == -1 ||
	    db_quar_lists_load(&v, &n, cause) == -1)
		return -1;
	if (reset > 0)
		log_warnx("quarantine: %d recipient(s) of interrupted releases "
		    "are held again", reset);
	policy_lists_set(policy_lists_new(v, n));
	qs.base = base;
	qs.pool = pool_create(base, "quar", QUAR_POOL_THREADS);
	qs.purge_ev = event_new(base, -1, EV_PERSIST, on_purge, NULL);
	qs.report_ev = evtimer_new(base, on_report, NULL);
	evtimer_add(qs.purge_ev, &tv);
	report_arm();
	return 0;
}

void
quar_stop(void)
{
	if (qs.pool == NULL)
		return;
	pool_destroy(qs.pool);
	qs.pool = NULL;
	event_free(qs.purge_ev);
	event_free(qs.report_ev);
	qs.purge_ev = qs.report_ev = NULL;
	policy_lists_set(NULL);
	db_quar_close();
}

struct dropctx {
	struct cfg	*cfg;
	char		**ids;
	size_t		 n;
};

static void
drop_work(void *arg)
{
	struct dropctx	*d = arg;
	char		*cause = NULL;
	size_t		 i;

	for (i = 0; i < d->n; i++) {
		if (quar_drop(d->cfg, d->ids[i], &cause) == -1) {
			log_warnx("quarantine: %s: not dropped: %s", d->ids[i],
			    cause);
			free(cause);
			cause = NULL;
		} else
			log_debug("quarantine: %s dropped (message deferred)",
			    d->ids[i]);
		free(d->ids[i]);
	}
	free(d->ids);
	cfg_unref(d->cfg);
	free(d);
}

void
quar_drop_async(const struct cfg *c, const struct policy_result *res)
{
	struct dropctx	*d;
	size_t		 i;

	if (res == NULL || qs.pool == NULL)
		return;
	d = xcalloc(1, sizeof *d);
	for (i = 0; i < res->ngroups; i++) {
		d->ids = xreallocarray(d->ids, d->n + 2, sizeof *d->ids);
		if (res->groups[i].quar_id[0] != '\0')
			d->ids[d->n++] = xstrdup(res->groups[i].quar_id);
		if (res->groups[i].orig_quar_id[0] != '\0')
			d->ids[d->n++] = xstrdup(res->groups[i].orig_quar_id);
	}
	if (d->n == 0) {
		free(d->ids);
		free(d);
		return;
	}
	d->cfg = cfg_ref((struct cfg *)c);
	pool_submit(qs.pool, drop_work, NULL, d);
}
