/*
 * The "rules" scan filter: loads the rule folders into one compiled
 * SpamAssassin-syntax rule set at start and reload (loop thread), prints
 * what it loaded, skipped and found broken, and runs the set on each
 * message (worker threads; the set is read-only there).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_rules.h"
#include "log.h"
#include "msg.h"
#include "sarule.h"
#include "xmalloc.h"

struct rules_state {
	struct sarule_set	*set;
};

static const char *const rules_keys[] = {
	"enabled", "dirs", "system_rules", "system_dir", "score_set",
	"hyperscan", "allow_broken", NULL
};

static bool
is_dir(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
setting_line(const struct cfg *c, const char *path)
{
	config_setting_t	*s = cfg_section(c, path);

	return s != NULL ? config_setting_source_line(s) : 0;
}

/* One log line per distinct reason, most frequent first, with a count
 * and an example. */
static void
log_skipped(const struct sarule_summary *s)
{
	size_t	*first, *count, i, k, n = 0, best, shown;

	first = xcalloc(s->skipped_listed + 1, sizeof *first);
	count = xcalloc(s->skipped_listed + 1, sizeof *count);
	for (i = 0; i < s->skipped_listed; i++) {
		for (k = 0; k < n; k++)
			if (strcmp(s->skipped[first[k]].reason,
			    s->skipped[i].reason) == 0)
				break;
		if (k == n)
			first[n++] = i;
		count[k]++;
	}
	for (shown = 0; shown < n && shown < FILTER_RULES_LOG_MAX; shown++) {
		for (best = 0, k = 1; k < n; k++)
			if (count[k] > count[best])
				best = k;
		if (count[best] == 0)
			break;
		i = first[best];
		log_info("rules: skipped %zu: %s (e.g. %s at %s)", count[best],
		    s->skipped[i].reason, s->skipped[i].rule != NULL ?
		    s->skipped[i].rule : "-", s->skipped[i].where);
		count[best] = 0;
	}
	if (n > shown)
		log_info("rules: ... and %zu more reasons to skip", n - shown);
	free(first);
	free(count);
}

static size_t
log_broken(const struct sarule_summary *s, const char *system_dir,
    size_t *first)
{
	size_t	i, ours = 0;

	*first = 0;
	for (i = 0; i < s->broken_listed; i++) {
		bool	sys = system_dir != NULL && strncmp(s->broken[i].where,
		    system_dir, strlen(system_dir)) == 0;

		if (!sys && ours++ == 0)
			*first = i;
		if (i < FILTER_RULES_LOG_MAX)
			log_info("rules: broken: %s: %s%s%s",
			    s->broken[i].where, s->broken[i].rule != NULL ?
			    s->broken[i].rule : "",
			    s->broken[i].rule != NULL ? ": " : "",
			    s->broken[i].reason);
	}
	if (s->broken_listed > FILTER_RULES_LOG_MAX)
		log_info("rules: ... and %zu more broken",
		    s->nbroken - FILTER_RULES_LOG_MAX);
	/* Past the listed ones we cannot tell whose they are. */
	return ours + (s->nbroken - s->broken_listed);
}

static int
load_dirs(const struct cfg *c, config_setting_t *sec, struct sarule_set *set,
    char **cause)
{
	char	**dirs = NULL, *path, *err = NULL;
	size_t	  n = 0, i;
	int	  rc = 0;

	if (cfg_get_strlist(c, sec, "dirs", &dirs, &n, cause) == -1) {
		cfg_strlist_free(dirs);
		return -1;
	}
	if (dirs == NULL) {
		/* Default: the spam folder of the rules directory, if any. */
		xasprintf(&path, "%s/spam", c->rules_dir);
		if (is_dir(path))
			rc = sarule_set_add_path(set, path, cause);
		else
			log_info("rules: no rule folder %s", path);
		free(path);
		return rc;
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (dirs[i][0] == '/')
			path = xstrdup(dirs[i]);
		else
			xasprintf(&path, "%s/%s", c->dir, dirs[i]);
		if (sarule_set_add_path(set, path, &err) == -1) {
			xasprintf(cause, "%s:%d: filters.rules.dirs: %s",
			    c->path, setting_line(c, "filters.rules.dirs"),
			    err);
			free(err);
			rc = -1;
		}
		free(path);
	}
	cfg_strlist_free(dirs);
	return rc;
}

static int
rules_init(const struct cfg *c, void **statep, char **cause)
{
	config_setting_t		*sec = cfg_section(c, "filters.rules");
	const struct sarule_summary	*s;
	struct sarule_opts		 o;
	struct rules_state		*st;
	char				*sysdir = NULL;
	long long			 score_set;
	bool				 system_rules, allow_broken;
	size_t				 ours, first;

	*statep = NULL;
	memset(&o, 0, sizeof o);
	if (cfg_check_keys(c, sec, rules_keys, cause) == -1 ||
	    cfg_get_bool(c, sec, "system_rules", false, &system_rules,
	    cause) == -1 ||
	    cfg_get_path(c, sec, "system_dir", FILTER_RULES_SYSTEM_DIR,
	    &sysdir, cause) == -1 ||
	    cfg_get_int(c, sec, "score_set", -1, -1, SARULE_SCORE_SETS - 1,
	    &score_set, cause) == -1 ||
	    cfg_get_bool(c, sec, "hyperscan", true, &o.hyperscan, cause) ==
	    -1 ||
	    cfg_get_bool(c, sec, "allow_broken", false, &allow_broken,
	    cause) == -1) {
		free(sysdir);
		return -1;
	}
	/* SpamAssassin's score sets: Bayes on +2, network tests on +1. */
	if (score_set == -1)
		score_set = (cfg_filter_enabled(c, "bayes") ? 2 : 0) +
		    (cfg_filter_enabled(c, "dnsbl") ||
		    cfg_filter_enabled(c, "surbl") ? 1 : 0);
	o.score_set = (int)score_set;

	st = xcalloc(1, sizeof *st);
	st->set = sarule_set_new(&o);
	if (load_dirs(c, sec, st->set, cause) == -1)
		goto fail;
	if (system_rules) {
		if (is_dir(sysdir)) {
			if (sarule_set_add_path(st->set, sysdir, cause) == -1)
				goto fail;
		} else
			log_info("rules: no system rules in %s", sysdir);
	}
	if (sarule_set_compile(st->set, cause) == -1)
		goto fail;
	s = sarule_set_summary(st->set);
	log_info("rules: %zu loaded (%zu active, %zu prefiltered), %zu "
	    "skipped, %zu broken; score set %d; %u ms", s->loaded, s->active,
	    s->prefiltered, s->nskipped, s->nbroken, o.score_set,
	    s->compile_ms);
	log_skipped(s);
	ours = log_broken(s, system_rules ? sysdir : NULL, &first);
	if (ours > 0 && !allow_broken) {
		xasprintf(cause, "rules: %zu broken rule%s (first: %s: %s)",
		    ours, ours > 1 ? "s" : "", s->broken_listed > 0 ?
		    s->broken[first].where : "?", s->broken_listed > 0 ?
		    s->broken[first].reason : "?");
		goto fail;
	}
	free(sysdir);
	*statep = st;
	return 0;
fail:
	free(sysdir);
	sarule_set_free(st->set);
	free(st);
	return -1;
}

static void
rules_run(void *state, struct scan_ctx *ctx)
{
	struct rules_state	*st = state;
	struct sarule_input	 in;
	struct sarule_result	 res;
	size_t			 i;

	if (st == NULL || ctx->msg == NULL)
		return;
	memset(&in, 0, sizeof in);
	in.msg = ctx->msg;
	if (ctx->job != NULL) {
		in.env_from = ctx->job->mail.addr;
		in.now = ctx->job->time_ms / 1000;
	}
	sarule_eval(st->set, &in, &res);
	for (i = 0; i < res.nhits; i++) {
		const struct sarule_hit	*h = &res.hits[i];

		if (h->count > 1)
			findings_add(ctx->findings, h->name, h->score,
			    "%s (%u times)", h->describe != NULL ?
			    h->describe : "", h->count);
		else
			findings_add(ctx->findings, h->name, h->score, "%s",
			    h->describe != NULL ? h->describe : "");
	}
	sarule_result_free(&res);
}

static void
rules_free(void *state)
{
	struct rules_state	*st = state;

	if (st == NULL)
		return;
	sarule_set_free(st->set);
	free(st);
}

const struct scan_filter filter_rules = {
	.name = "rules",
	.init = rules_init,
	.run = rules_run,
	.free = rules_free,
};
