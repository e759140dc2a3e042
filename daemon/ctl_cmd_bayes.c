/*
 * bayes.learn, bayes.forget, bayes.stats: train the Bayes filter with a
 * message sent by the client (moatctl learn) and show its store.
 * Handlers on the loop thread; parsing, tokenizing and the store on the
 * ctl pool. A job holds a reference to the engine, so the filter state it
 * uses outlives a reload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db_bayes.h"
#include "filter_bayes.h"
#include "mime.h"
#include "msg.h"
#include "pool.h"
#include "scan.h"
#include "xmalloc.h"

#define CTL_BAYES_SHOW_MAX	32	/* client text in messages */

static const struct proto_arg bayes_learn_args[] = {
	{ .key = "class", .type = PROTO_T_STRING, .required = true },
	{ .key = "message", .type = PROTO_T_STRING },
	{ .key = "message_base64", .type = PROTO_T_STRING },
	{ .key = NULL },
};

static const struct proto_arg bayes_forget_args[] = {
	{ .key = "message", .type = PROTO_T_STRING },
	{ .key = "message_base64", .type = PROTO_T_STRING },
	{ .key = NULL },
};

static const struct proto_arg bayes_stats_args[] = {
	{ .key = NULL },
};

enum bayes_job_kind {
	BAYES_JOB_LEARN,
	BAYES_JOB_STATS,
};

struct bayes_job {
	enum bayes_job_kind		 kind;
	struct ctl_later		*later;
	struct scan_engine		*engine;	/* reference */
	struct filter_bayes_state	*st;		/* engine's */
	char				*raw;		/* owned */
	size_t				 len;
	enum db_bayes_op		 op;
	json_t				*result;	/* owned */
	const char			*code;
	char				*cause;		/* owned */
};

static const char *const result_names[] = {
	[DB_BAYES_LEARNED] = "learned",
	[DB_BAYES_RELEARNED] = "relearned",
	[DB_BAYES_ALREADY] = "already_learned",
	[DB_BAYES_FORGOTTEN] = "forgotten",
	[DB_BAYES_UNKNOWN] = "not_learned",
	[DB_BAYES_SKIPPED] = "skipped",
};

static const char *const op_names[] = {
	[DB_BAYES_HAM] = "ham",
	[DB_BAYES_SPAM] = "spam",
	[DB_BAYES_FORGET] = "forget",
};

/* Strict base64 (white space allowed between groups). Caller frees. */
static char *
base64_decode(const char *s, size_t *len)
{
	static const char	 abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*p;
	unsigned char		*out;
	uint32_t		 acc = 0;
	size_t			 n = 0, bits = 0, pad = 0;

	out = xmalloc(strlen(s) / 4 * 3 + 3);
	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			continue;
		if (*s == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (p = strchr(abc, *s)) == NULL)
			goto bad;
		acc = (acc << 6) | (uint32_t)(p - abc);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	*len = n;
	return (char *)out;
bad:
	free(out);
	return NULL;
}

static struct filter_bayes_state *
bayes_state(void)
{
	struct scan_engine	*e = scan_engine_current();

	return e != NULL ? scan_engine_state(e, "bayes") : NULL;
}

/* Pool thread. */
static void
bayes_learn_work(struct bayes_job *j)
{
	struct db_bayes_item	 item;
	struct bayes_tokens	 t;
	struct msg		*m;
	char			 key[20];

	m = mime_parse(j->raw, j->len);
	if (m->flags & MSG_NO_HEADERS) {
		msg_free(m);
		j->code = PROTO_E_BAD_ARGS;
		j->cause = xstrdup("not a message: it has no header fields");
		return;
	}
	bayes_tokens_init(&t, false);
	bayes_tokenize(m, &t);
	memset(&item, 0, sizeof item);
	item.key = bayes_msg_key(m);
	item.op = j->op;
	item.tokens = t.v;
	item.ntokens = t.n;
	snprintf(key, sizeof key, "%016llx", (unsigned long long)item.key);
	if (db_bayes_learn(j->st->store, &item, 1, &j->cause) == -1)
		j->code = PROTO_E_INTERNAL;
	else
		j->result = json_pack("{s:s, s:s, s:I, s:s}",
		    "result", result_names[item.result],
		    "class", op_names[j->op], "tokens", (json_int_t)t.n,
		    "key", key);
	bayes_tokens_free(&t);
	msg_free(m);
}

/* Pool thread. */
static void
bayes_stats_work(struct bayes_job *j)
{
	struct filter_bayes_state	*st = j->st;
	struct db_bayes_stats		 s;

	if (db_bayes_stats(st->store, &s, &j->cause) == -1) {
		j->code = PROTO_E_INTERNAL;
		return;
	}
	j->result = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:b, s:b, s:f, s:f}",
	    "path", db_bayes_path(st->store),
	    "ready", s.nspam >= st->min_learned && s.nham >= st->min_learned,
	    "nspam", (json_int_t)s.nspam, "nham", (json_int_t)s.nham,
	    "tokens", (json_int_t)s.tokens,
	    "learned", (json_int_t)s.learned,
	    "autolearned", (json_int_t)s.autolearned,
	    "autolearn_dropped", (json_int_t)s.queue_dropped,
	    "expired", (json_int_t)s.expired,
	    "memory_bytes", (json_int_t)s.memory,
	    "min_learned", (json_int_t)st->min_learned,
	    "loaded", s.loaded, "autolearn", st->autolearn,
	    "autolearn_spam", st->autolearn_spam,
	    "autolearn_ham", st->autolearn_ham);
	if (j->result != NULL)
		json_object_set_new(j->result, "expired_day_ms",
		    json_integer((json_int_t)s.expired_day * 86400 * 1000));
}

static void
bayes_work(void *arg)
{
	struct bayes_job	*j = arg;

	if (j->kind == BAYES_JOB_LEARN)
		bayes_learn_work(j);
	else
		bayes_stats_work(j);
	if (j->result == NULL && j->code == NULL)
		j->code = PROTO_E_INTERNAL;
}

/* Loop thread. */
static void
bayes_done(void *arg)
{
	struct bayes_job	*j = arg;

	ctl_later_answer(j->later, j->result, j->code, j->cause);
	scan_engine_unref(j->engine);
	free(j->raw);
	free(j->cause);
	free(j);
}

static json_t *
bayes_submit(struct ctl_req *req, struct bayes_job *j)
{
	struct pool	*p = ctl_work_pool();

	if (p == NULL) {
		free(j->raw);
		free(j);
		return ctl_error(req, PROTO_E_UNAVAILABLE,
		    "no worker for the command now");
	}
	j->engine = scan_engine_ref(scan_engine_current());
	j->later = ctl_later(req);
	pool_submit(p, bayes_work, bayes_done, j);
	return NULL;
}

/* The message of a learn or forget request: copied (or decoded). */
static json_t *
bayes_message(struct ctl_req *req, struct bayes_job *j)
{
	json_t		*m = json_object_get(req->args, "message");
	const char	*b64 = ctl_arg_str(req->args, "message_base64");

	if (json_is_string(m) == (b64 != NULL))
		return ctl_bad_arg(req, "message", "give message or "
		    "message_base64, not both");
	if (b64 != NULL) {
		if ((j->raw = base64_decode(b64, &j->len)) == NULL)
			return ctl_bad_arg(req, "message_base64",
			    "not valid base64");
	} else {
		j->len = json_string_length(m);
		j->raw = xmalloc(j->len + 1);
		memcpy(j->raw, json_string_value(m), j->len + 1);
	}
	if (j->len == 0) {
		free(j->raw);
		j->raw = NULL;
		return ctl_bad_arg(req, "message", "the message is empty");
	}
	return NULL;
}

static json_t *
bayes_learn_op(struct ctl_req *req, enum db_bayes_op op)
{
	struct filter_bayes_state	*st = bayes_state();
	struct bayes_job		*j;
	json_t				*err;

	if (st == NULL)
		return ctl_error(req, PROTO_E_UNAVAILABLE,
		    "the bayes filter is not enabled");
	j = xcalloc(1, sizeof *j);
	j->kind = BAYES_JOB_LEARN;
	j->st = st;
	j->op = op;
	if ((err = bayes_message(req, j)) != NULL) {
		free(j);
		return err;
	}
	return bayes_submit(req, j);
}

static json_t *
bayes_learn_exec(struct ctl_req *req)
{
	const char	*class = ctl_arg_str(req->args, "class");

	if (strcmp(class, "spam") == 0)
		return bayes_learn_op(req, DB_BAYES_SPAM);
	if (strcmp(class, "ham") == 0)
		return bayes_learn_op(req, DB_BAYES_HAM);
	return ctl_bad_arg(req, "class", "class must be spam or ham, not "
	    "\"%.*s\"", CTL_BAYES_SHOW_MAX, class);
}

static json_t *
bayes_forget_exec(struct ctl_req *req)
{
	return bayes_learn_op(req, DB_BAYES_FORGET);
}

static json_t *
bayes_stats_exec(struct ctl_req *req)
{
	struct filter_bayes_state	*st = bayes_state();
	struct bayes_job		*j;

	if (st == NULL)
		return ctl_error(req, PROTO_E_UNAVAILABLE,
		    "the bayes filter is not enabled");
	j = xcalloc(1, sizeof *j);
	j->kind = BAYES_JOB_STATS;
	j->st = st;
	return bayes_submit(req, j);
}

const struct ctl_cmd ctl_cmd_bayes_forget = {
	.name = PROTO_CMD_BAYES_FORGET,
	.role = PROTO_ROLE_ADMIN,
	.args = bayes_forget_args,
	.exec = bayes_forget_exec,
};

const struct ctl_cmd ctl_cmd_bayes_learn = {
	.name = PROTO_CMD_BAYES_LEARN,
	.role = PROTO_ROLE_ADMIN,
	.args = bayes_learn_args,
	.exec = bayes_learn_exec,
};

const struct ctl_cmd ctl_cmd_bayes_stats = {
	.name = PROTO_CMD_BAYES_STATS,
	.role = PROTO_ROLE_AUDITOR,
	.args = bayes_stats_args,
	.exec = bayes_stats_exec,
};
