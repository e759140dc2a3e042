/*
 * scan: run the filters on a message sent by the client and answer with
 * its verdict, score and findings; nothing is delivered (moatctl scan,
 * like rspamc or spamc). Loop thread; the scan runs on the scan pool.
 */
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "cfg.h"
#include "ctl.h"
#include "scan.h"
#include "xmalloc.h"

static const struct proto_arg scan_args[] = {
	{ .key = "message", .type = PROTO_T_STRING, .required = true },
	{ .key = NULL },
};

struct scan_cmd {
	struct ctl_later	*later;
	struct scan_job		*job;
};

static void
scan_done(void *arg)
{
	struct scan_cmd	*sc = arg;
	struct scan_job	*j = sc->job;
	json_t		*o;

	scan_verdict(j);
	o = json_pack("{s:b, s:b, s:f, s:f, s:o, s:s?, s:s?, s:I}",
	    "scanned", j->scanned, "spam", j->spam,
	    "score", j->findings.score, "threshold", j->cfg->spam_threshold,
	    "findings", findings_to_json(&j->findings),
	    "subject", j->subject, "message_id", j->message_id,
	    "scan_ms", (json_int_t)j->scan_ms);
	json_object_set_new(o, "verdict", json_string(j->findings.virus != NULL ?
	    "virus" : j->spam ? "spam" : "clean"));
	if (j->findings.virus != NULL)
		json_object_set_new(o, "virus", json_string(j->findings.virus));
	ctl_later_answer(sc->later, o, NULL, NULL);
	scan_job_free(j);
	free(sc);
}

static json_t *
scan_exec(struct ctl_req *req)
{
	json_t		*m = json_object_get(req->args, "message");
	struct cfg	*c = cfg_current();
	struct scan_cmd	*sc;
	struct scan_job	*j;

	j = xcalloc(1, sizeof *j);
	j->cfg = cfg_ref(c);
	j->engine = scan_engine_ref(scan_engine_current());
	findings_init(&j->findings);
	j->body = body_new(c->spool_dir);
	if (body_append(j->body, json_string_value(m),
	    json_string_length(m)) == -1 || body_finish(j->body) == -1) {
		scan_job_free(j);
		return ctl_error(req, PROTO_E_INTERNAL,
		    "cannot hold the message");
	}
	sc = xcalloc(1, sizeof *sc);
	sc->job = j;
	sc->later = ctl_later(req);
	scan_submit(j, scan_done, sc);
	return NULL;
}

const struct ctl_cmd ctl_cmd_scan = {
	.name = PROTO_CMD_SCAN,
	.role = PROTO_ROLE_AUDITOR,
	.args = scan_args,
	.exec = scan_exec,
};
