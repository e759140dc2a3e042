/*
 * The ClamAV scan filter (see filter_clamav.h): settings from
 * filters.clamav, the shared engine from av.c, findings on the workers.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av.h"
#include "cfg.h"
#include "filter_clamav.h"
#include "finding.h"
#include "log.h"
#include "msg.h"
#include "util.h"
#include "xmalloc.h"

static const char *const clamav_keys[] = {
	"enabled", "signatures", "system_db", "tmpdir", "max_scan_size",
	"max_file_size", "max_recursion", "max_files", "max_scan_time",
	"check_interval", "scan_parts", "virus_score", "encrypted_score",
	"unscannable_score", "heuristic_score", NULL
};

#define SIZE_MAX_BYTES	(2LL * 1024 * 1024 * 1024 - 1)

static int
setting_line(config_setting_t *s, const char *key)
{
	config_setting_t	*m;

	if (s == NULL)
		return 0;
	m = config_setting_get_member(s, key);
	return config_setting_source_line(m != NULL ? m : s);
}

static char *
resolve(const struct cfg *c, const char *p)
{
	char	*out;

	if (p[0] == '/')
		return xstrdup(p);
	xasprintf(&out, "%s/%s", c->dir, p);
	return out;
}

/* signatures and system_db: absolute paths, the signatures existing. */
static int
get_paths(const struct cfg *c, config_setting_t *s, struct av_conf *ac,
    char **cause)
{
	char		**list = NULL, *sys = NULL;
	size_t		  n = 0, i;
	struct stat	  st;

	if (cfg_get_strlist(c, s, "signatures", &list, &n, cause) == -1 ||
	    cfg_get_str(c, s, "system_db", FILTER_CLAMAV_SYSTEM_DB, &sys,
	    cause) == -1)
		goto fail;
	if (list == NULL) {
		/* The default folder may be missing when the system database
		 * has signatures; av.c fails when neither has any. */
		ac->sigs = xcalloc(2, sizeof *ac->sigs);
		xasprintf(&ac->sigs[0], "%s/%s", c->rules_dir,
		    FILTER_CLAMAV_SIG_DIR);
		if (stat(ac->sigs[0], &st) == 0)
			ac->nsigs = 1;
		else {
			free(ac->sigs[0]);
			ac->sigs[0] = NULL;
		}
	} else {
		if (n > AV_SIG_PATHS_MAX) {
			xasprintf(cause, "%s:%d: signatures: more than %d "
			    "paths", c->path, setting_line(s, "signatures"),
			    AV_SIG_PATHS_MAX);
			goto fail;
		}
		ac->sigs = xcalloc(n + 1, sizeof *ac->sigs);
		for (i = 0; i < n; i++)
			ac->sigs[ac->nsigs++] = resolve(c, list[i]);
	}
	for (i = 0; i < ac->nsigs; i++) {
		if (stat(ac->sigs[i], &st) == -1) {
			xasprintf(cause, "%s:%d: signatures: %s: %s", c->path,
			    setting_line(s, "signatures"), ac->sigs[i],
			    strerror(errno));
			goto fail;
		}
	}
	/* "" turns the system database off; a missing folder is no error
	 * (ClamAV may not be installed), av.c says so at load. */
	if (sys != NULL && sys[0] != '\0')
		ac->system_db = resolve(c, sys);
	cfg_strlist_free(list);
	free(sys);
	return 0;
fail:
	cfg_strlist_free(list);
	free(sys);
	return -1;
}

static int
get_conf(const struct cfg *c, config_setting_t *s, struct av_conf *ac,
    struct filter_clamav_state *st, char **cause)
{
	long long	scan_size, file_size, rec, files, ms, interval;

	if (cfg_check_keys(c, s, clamav_keys, cause) == -1 ||
	    get_paths(c, s, ac, cause) == -1 ||
	    cfg_get_str(c, s, "tmpdir", NULL, &ac->tmpdir, cause) == -1 ||
	    cfg_get_int(c, s, "max_scan_size", (long long)AV_MAX_SCAN_SIZE,
	    1024 * 1024, SIZE_MAX_BYTES, &scan_size, cause) == -1 ||
	    cfg_get_int(c, s, "max_file_size", (long long)AV_MAX_FILE_SIZE,
	    1024 * 1024, SIZE_MAX_BYTES, &file_size, cause) == -1 ||
	    cfg_get_int(c, s, "max_recursion", AV_MAX_RECURSION, 1, 64, &rec,
	    cause) == -1 ||
	    cfg_get_int(c, s, "max_files", AV_MAX_FILES, 1, 1000000, &files,
	    cause) == -1 ||
	    cfg_get_int(c, s, "max_scan_time", AV_MAX_SCAN_TIME_MS, 1000,
	    3600000, &ms, cause) == -1 ||
	    cfg_get_int(c, s, "check_interval", AV_CHECK_INTERVAL, 0, 86400,
	    &interval, cause) == -1 ||
	    cfg_get_bool(c, s, "scan_parts", true, &st->scan_parts, cause) ==
	    -1 ||
	    cfg_get_float(c, s, "virus_score", FILTER_CLAMAV_VIRUS_SCORE,
	    &st->virus_score, cause) == -1 ||
	    cfg_get_float(c, s, "encrypted_score",
	    FILTER_CLAMAV_ENCRYPTED_SCORE, &st->encrypted_score, cause) == -1 ||
	    cfg_get_float(c, s, "unscannable_score",
	    FILTER_CLAMAV_UNSCANNABLE_SCORE, &st->unscannable_score, cause) ==
	    -1 ||
	    cfg_get_float(c, s, "heuristic_score",
	    FILTER_CLAMAV_HEURISTIC_SCORE, &st->heuristic_score, cause) == -1)
		return -1;
	if (ac->tmpdir != NULL && ac->tmpdir[0] != '/') {
		char *t = resolve(c, ac->tmpdir);

		free(ac->tmpdir);
		ac->tmpdir = t;
	}
	ac->max_scan_size = (uint64_t)scan_size;
	ac->max_file_size = (uint64_t)file_size;
	ac->max_recursion = (uint32_t)rec;
	ac->max_files = (uint32_t)files;
	ac->max_scan_time_ms = (uint32_t)ms;
	ac->check_interval = (int)interval;
	return 0;
}

static int
clamav_init(const struct cfg *c, void **statep, char **cause)
{
	struct filter_clamav_state	*st;
	struct av_conf			 ac;
	config_setting_t		*s = cfg_section(c, "filters.clamav");
	char				*why;

	*statep = NULL;
	memset(&ac, 0, sizeof ac);
	st = xcalloc(1, sizeof *st);
	if (get_conf(c, s, &ac, st, cause) == -1)
		goto fail;
	if ((st->av = av_open(&ac, cause)) == NULL) {
		if (ac.nsigs == 0) {	/* say which folder was missing */
			xasprintf(&why, "%s (%s/%s does not exist)", *cause,
			    c->rules_dir, FILTER_CLAMAV_SIG_DIR);
			free(*cause);
			*cause = why;
		}
		goto fail;
	}
	av_conf_free(&ac);
	*statep = st;
	return 0;
fail:
	av_conf_free(&ac);
	free(st);
	return -1;
}

static void
clamav_free(void *arg)
{
	struct filter_clamav_state	*st = arg;

	if (st == NULL)
		return;
	av_close(st->av);
	free(st);
}

static void
fail(struct scan_ctx *ctx, const char *why)
{
	ctx->findings->av_failed = true;
	if (!findings_has(ctx->findings, "AV_FAILED"))
		findings_add(ctx->findings, "AV_FAILED", 0, "%s", why);
	log_warnx("clamav: %s: scan failed: %s", ctx->job != NULL ?
	    ctx->job->queue_id : "-", why);
}

static void
add_once(struct findings *f, const char *symbol, double score,
    const char *name, const char *where)
{
	if (!findings_has(f, symbol))
		findings_add(f, symbol, score, "%s in %s", name, where);
}

static bool
is_document(const char *name)
{
	return strstr(name, "PDF") != NULL || strstr(name, "Doc") != NULL ||
	    strstr(name, "OLE2") != NULL || strstr(name, "XML") != NULL;
}

/* Adds r's finding; true when scanning should stop (virus or failure). */
static bool
report(const struct filter_clamav_state *st, struct scan_ctx *ctx,
    const struct av_result *r, const char *where)
{
	struct findings	*f = ctx->findings;
	char		 why[AV_NAME_MAX + 64];

	switch (r->status) {
	case AV_CLEAN:
		return false;
	case AV_VIRUS:
		if (f->virus == NULL)
			f->virus = xstrdup(r->name);
		findings_add(f, "VIRUS", st->virus_score, "%s in %s", r->name,
		    where);
		log_info("clamav: %s: virus %s in %s", ctx->job != NULL ?
		    ctx->job->queue_id : "-", r->name, where);
		return true;
	case AV_ENCRYPTED:
		add_once(f, is_document(r->name) ? "ENCRYPTED_DOCUMENT" :
		    "ENCRYPTED_ARCHIVE", st->encrypted_score, r->name, where);
		return false;
	case AV_LIMITS:
		add_once(f, "AV_UNSCANNABLE", st->unscannable_score, r->name,
		    where);
		return false;
	case AV_HEURISTIC:
		add_once(f, "AV_HEURISTIC", st->heuristic_score, r->name,
		    where);
		return false;
	case AV_ERROR:
		snprintf(why, sizeof why, "%s in %s", r->name, where);
		fail(ctx, why);
		return true;
	}
	return false;
}

static void
clamav_run(void *arg, struct scan_ctx *ctx)
{
	struct filter_clamav_state	*st = arg;
	const struct msg		*m = ctx->msg;
	const struct msg_part		*p;
	struct av_engine		*e;
	struct av_result		 r;
	char				 where[96], *name;
	size_t				 i;

	if (st == NULL)
		return;
	if (m == NULL || m->raw == NULL ||
	    findings_has(ctx->findings, "LOCAL_READ_ERROR")) {
		fail(ctx, "the message could not be read");
		return;
	}
	if ((e = av_acquire(st->av)) == NULL) {
		fail(ctx, "no engine loaded");
		return;
	}
	av_scan(e, m->raw, m->raw_len, "message", &r);
	if (report(st, ctx, &r, "the message"))
		goto done;
	/* Attachments as our MIME parser decoded them: a message libclamav's
	 * parser reads differently is still scanned as the client will see
	 * it. Body text is left to the raw scan: each scan costs a temporary
	 * folder, and unchanged parts only hit libclamav's clean cache. */
	for (i = 0; st->scan_parts && i < m->nparts; i++) {
		p = &m->parts[i];
		if (p->data == NULL || p->len == 0 || (p->is_text &&
		    !p->is_attachment))
			continue;
		name = p->filename != NULL ? util_sanitize(p->filename,
		    strlen(p->filename), 60) : NULL;
		snprintf(where, sizeof where, "part %zu%s%s%s", i,
		    name != NULL ? " (" : "", name != NULL ? name : "",
		    name != NULL ? ")" : "");
		free(name);
		av_scan(e, p->data, p->len, "part", &r);
		if (report(st, ctx, &r, where))
			break;
	}
done:
	av_release(e);
}

const struct scan_filter filter_clamav = {
	.name = "clamav",
	.init = clamav_init,
	.run = clamav_run,
	.free = clamav_free,
};
