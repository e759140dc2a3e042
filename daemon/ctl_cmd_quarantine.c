/*
 * quarantine.list, quarantine.get, quarantine.release, quarantine.delete,
 * quarantine.welcomelist, quarantine.blocklist, quarantine.purge,
 * quarantine.report. Handlers on the loop thread; the index reads run on
 * the ctl pool, everything else in quar.c (quar pool, relay).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db_quar.h"
#include "quar.h"
#include "xmalloc.h"

#define CTL_QUAR_LIMIT_DEFAULT	50
#define CTL_QUAR_SHOW_MAX	64
#define CTL_QUAR_ID_CHARS	"0123456789ABCDEFabcdef-"

static const struct proto_arg quar_list_args[] = {
	{ .key = "type", .type = PROTO_T_STRING },
	{ .key = "rcpt", .type = PROTO_T_STRING },
	{ .key = "sender", .type = PROTO_T_STRING },
	{ .key = "text", .type = PROTO_T_STRING },
	{ .key = "from_ms", .type = PROTO_T_INTEGER },
	{ .key = "to_ms", .type = PROTO_T_INTEGER },
	{ .key = "cursor", .type = PROTO_T_STRING },
	{ .key = "limit", .type = PROTO_T_INTEGER },
	{ .key = NULL },
};

static const struct proto_arg quar_get_args[] = {
	{ .key = "id", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

static const struct proto_arg quar_op_args[] = {
	{ .key = "id", .type = PROTO_T_STRING },
	{ .key = "ids", .type = PROTO_T_STRING },
	{ .key = "rcpt", .type = PROTO_T_STRING },
	{ .key = NULL },
};

static const struct proto_arg quar_list_op_args[] = {
	{ .key = "id", .type = PROTO_T_STRING },
	{ .key = "ids", .type = PROTO_T_STRING },
	{ .key = "scope", .type = PROTO_T_STRING },
	{ .key = NULL },
};

static const struct proto_arg quar_none_args[] = {
	{ .key = NULL },
};

static const struct proto_arg quar_report_args[] = {
	{ .key = "rcpt", .type = PROTO_T_STRING },
	{ .key = NULL },
};

static void
answer_later(json_t *result, const char *code, const char *message,
    void *arg)
{
	ctl_later_answer(arg, result, code, message);
}

static bool
good_id(const char *s)
{
	size_t	len = strlen(s);

	return len > 0 && len < QUAR_ID_MAX &&
	    strspn(s, CTL_QUAR_ID_CHARS) == len;
}

/* Pool thread (ctl). The ctl pool hands a tracking reader: unused. */
static json_t *
quar_list_db(struct db *db, const json_t *args, const char **code,
    char **cause)
{
	struct quar_query	 q;
	json_t			*r;

	(void)db;
	memset(&q, 0, sizeof q);
	q.type = ctl_arg_str(args, "type");
	q.rcpt = ctl_arg_str(args, "rcpt");
	q.sender = ctl_arg_str(args, "sender");
	q.text = ctl_arg_str(args, "text");
	q.from_ms = ctl_arg_int(args, "from_ms", 0);
	q.to_ms = ctl_arg_int(args, "to_ms", 0);
	q.cursor = ctl_arg_str(args, "cursor");
	q.limit = (int)ctl_arg_int(args, "limit", CTL_QUAR_LIMIT_DEFAULT);
	if ((r = db_quar_search(&q, cause)) == NULL)
		*code = PROTO_E_INTERNAL;
	return r;
}

static json_t *
quar_list_exec(struct ctl_req *req)
{
	const char	*type = ctl_arg_str(req->args, "type");
	enum quar_type	 t;
	int64_t		 limit, from, to;

	if (type != NULL && quar_type_parse(type, &t) == -1)
		return ctl_bad_arg(req, "type", "type must be spam, virus or "
		    "attachment");
	limit = ctl_arg_int(req->args, "limit", CTL_QUAR_LIMIT_DEFAULT);
	if (limit < 1 || limit > DB_QUAR_PAGE_MAX)
		return ctl_bad_arg(req, "limit", "limit must be 1 to %d",
		    DB_QUAR_PAGE_MAX);
	from = ctl_arg_int(req->args, "from_ms", 0);
	to = ctl_arg_int(req->args, "to_ms", 0);
	if (from < 0)
		return ctl_bad_arg(req, "from_ms", "from_ms must not be "
		    "negative");
	if (to < 0 || (to != 0 && to <= from))
		return ctl_bad_arg(req, "to_ms", "to_ms must be after from_ms");
	return ctl_defer_db(req, quar_list_db);
}

static json_t *
quar_get_exec(struct ctl_req *req)
{
	const char	*id = ctl_arg_str(req->args, "id");

	if (!good_id(id))
		return ctl_error(req, PROTO_E_NOT_FOUND, "no quarantine entry "
		    "%.*s", CTL_QUAR_SHOW_MAX, id);
	quar_show(id, answer_later, ctl_later(req));
	return NULL;
}

/* "id" and/or "ids" (separated by commas or white space). */
static json_t *
collect_ids(struct ctl_req *req, struct quar_req *q)
{
	const char	*one = ctl_arg_str(req->args, "id");
	const char	*many = ctl_arg_str(req->args, "ids");
	const char	*p, *e;
	char		*id;

	if (one != NULL) {
		if (!good_id(one))
			return ctl_bad_arg(req, "id", "bad id \"%.*s\"",
			    CTL_QUAR_SHOW_MAX, one);
		q->ids = xreallocarray(q->ids, q->nids + 1, sizeof *q->ids);
		q->ids[q->nids++] = xstrdup(one);
	}
	for (p = many; p != NULL && *p != '\0'; p = e) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ',' &&
		    !isspace((unsigned char)*e); e++)
			;
		id = xstrndup(p, (size_t)(e - p));
		if (q->nids >= QUAR_BULK_MAX) {
			free(id);
			return ctl_bad_arg(req, "ids", "more than %d ids",
			    QUAR_BULK_MAX);
		}
		if (!good_id(id)) {
			free(id);
			return ctl_bad_arg(req, "ids", "bad id in ids");
		}
		q->ids = xreallocarray(q->ids, q->nids + 1, sizeof *q->ids);
		q->ids[q->nids++] = id;
	}
	if (q->nids == 0)
		return ctl_bad_arg(req, "id", "give id or ids");
	return NULL;
}

static void
quar_req_free(struct quar_req *q)
{
	size_t	i;

	for (i = 0; i < q->nids; i++)
		free(q->ids[i]);
	free(q->ids);
	free(q->rcpt);
	free(q->actor);
	free(q);
}

static json_t *
quar_op_start(struct ctl_req *req, enum quar_op op)
{
	struct quar_req	*q;
	const char	*s;
	json_t		*err;

	q = xcalloc(1, sizeof *q);
	q->op = op;
	if ((err = collect_ids(req, q)) != NULL) {
		quar_req_free(q);
		return err;
	}
	if ((s = ctl_arg_str(req->args, "rcpt")) != NULL && *s != '\0')
		q->rcpt = xstrdup(s);
	if ((s = ctl_arg_str(req->args, "scope")) != NULL) {
		if (strcmp(s, "global") == 0)
			q->global = true;
		else if (strcmp(s, "user") != 0) {
			quar_req_free(q);
			return ctl_bad_arg(req, "scope", "scope must be user or "
			    "global");
		}
	}
	q->actor = xstrdup(proto_role_name(req->role));
	quar_run(q, answer_later, ctl_later(req));
	return NULL;
}

static json_t *
quar_release_exec(struct ctl_req *req)
{
	return quar_op_start(req, QUAR_OP_RELEASE);
}

static json_t *
quar_delete_exec(struct ctl_req *req)
{
	return quar_op_start(req, QUAR_OP_DELETE);
}

static json_t *
quar_welcomelist_exec(struct ctl_req *req)
{
	return quar_op_start(req, QUAR_OP_WELCOMELIST);
}

static json_t *
quar_blocklist_exec(struct ctl_req *req)
{
	return quar_op_start(req, QUAR_OP_BLOCKLIST);
}

static json_t *
quar_purge_exec(struct ctl_req *req)
{
	quar_purge(answer_later, ctl_later(req));
	return NULL;
}

static json_t *
quar_report_exec(struct ctl_req *req)
{
	const char	*rcpt = ctl_arg_str(req->args, "rcpt");

	if (rcpt != NULL && (strchr(rcpt, '@') == NULL ||
	    strlen(rcpt) > POLICY_PATTERN_MAX))
		return ctl_bad_arg(req, "rcpt", "rcpt must be an address");
	quar_report(rcpt, answer_later, ctl_later(req));
	return NULL;
}

const struct ctl_cmd ctl_cmd_quarantine_blocklist = {
	.name = PROTO_CMD_QUARANTINE_BLOCKLIST,
	.role = PROTO_ROLE_QMANAGER,
	.args = quar_list_op_args,
	.exec = quar_blocklist_exec,
};

const struct ctl_cmd ctl_cmd_quarantine_delete = {
	.name = PROTO_CMD_QUARANTINE_DELETE,
	.role = PROTO_ROLE_QMANAGER,
	.args = quar_op_args,
	.exec = quar_delete_exec,
};

const struct ctl_cmd ctl_cmd_quarantine_get = {
	.name = PROTO_CMD_QUARANTINE_GET,
	.role = PROTO_ROLE_AUDITOR,
	.args = quar_get_args,
	.exec = quar_get_exec,
};

const struct ctl_cmd ctl_cmd_quarantine_list = {
	.name = PROTO_CMD_QUARANTINE_LIST,
	.role = PROTO_ROLE_AUDITOR,
	.args = quar_list_args,
	.exec = quar_list_exec,
};

const struct ctl_cmd ctl_cmd_quarantine_purge = {
	.name = PROTO_CMD_QUARANTINE_PURGE,
	.role = PROTO_ROLE_ADMIN,
	.args = quar_none_args,
	.exec = quar_purge_exec,
};

const struct ctl_cmd ctl_cmd_quarantine_release = {
	.name = PROTO_CMD_QUARANTINE_RELEASE,
	.role = PROTO_ROLE_QMANAGER,
	.args = quar_op_args,
	.exec = quar_release_exec,
};

const struct ctl_cmd ctl_cmd_quarantine_report = {
	.name = PROTO_CMD_QUARANTINE_REPORT,
	.role = PROTO_ROLE_ADMIN,
	.args = quar_report_args,
	.exec = quar_report_exec,
};

const struct ctl_cmd ctl_cmd_quarantine_welcomelist = {
	.name = PROTO_CMD_QUARANTINE_WELCOMELIST,
	.role = PROTO_ROLE_QMANAGER,
	.args = quar_list_op_args,
	.exec = quar_welcomelist_exec,
};
