/*
 * The Bayes scan filter (see filter_bayes.h): settings from filters.bayes,
 * classification on the workers, autolearn. init/free run on the loop
 * thread and never open the store (moatd -t must not create files; the
 * first message opens it on a worker, after privileges were dropped).
 */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "cfg.h"
#include "db_bayes.h"
#include "filter_bayes.h"
#include "finding.h"
#include "log.h"
#include "msg.h"
#include "xmalloc.h"

static const char *const bayes_keys[] = {
	"enabled", "path", "autolearn", "autolearn_spam", "autolearn_ham",
	"min_learned", "expire_days", "expire_keep_count", NULL
};

static int
bayes_init(const struct cfg *c, void **statep, char **cause)
{
	struct filter_bayes_state	*st;
	config_setting_t		*s = cfg_section(c, "filters.bayes");
	char				*path = NULL, *copy;
	long long			 min, days, keep;

	*statep = NULL;
	st = xcalloc(1, sizeof *st);
	st->params = bayes_params_default;
	if (cfg_check_keys(c, s, bayes_keys, cause) == -1 ||
	    cfg_get_path(c, s, "path", NULL, &path, cause) == -1 ||
	    cfg_get_bool(c, s, "autolearn", true, &st->autolearn, cause) ==
	    -1 ||
	    cfg_get_float(c, s, "autolearn_spam", FILTER_BAYES_AUTOLEARN_SPAM,
	    &st->autolearn_spam, cause) == -1 ||
	    cfg_get_float(c, s, "autolearn_ham", FILTER_BAYES_AUTOLEARN_HAM,
	    &st->autolearn_ham, cause) == -1 ||
	    cfg_get_int(c, s, "min_learned", FILTER_BAYES_MIN_LEARNED, 1,
	    1000000000, &min, cause) == -1 ||
	    cfg_get_int(c, s, "expire_days", FILTER_BAYES_EXPIRE_DAYS, 0,
	    3650, &days, cause) == -1 ||
	    cfg_get_int(c, s, "expire_keep_count", FILTER_BAYES_EXPIRE_KEEP,
	    0, 1000000, &keep, cause) == -1)
		goto fail;
	if (st->autolearn_ham >= st->autolearn_spam) {
		xasprintf(cause, "%s:%d: autolearn_ham (%g) must be below "
		    "autolearn_spam (%g)", c->path, s != NULL ?
		    config_setting_source_line(s) : 0, st->autolearn_ham,
		    st->autolearn_spam);
		goto fail;
	}
	st->min_learned = (uint32_t)min;
	if (path == NULL) {
		/* Beside the main store, which moatd hands to its user. */
		copy = xstrdup(c->db_path);
		xasprintf(&path, "%s/%s", dirname(copy),
		    FILTER_BAYES_DB_DEFAULT);
		free(copy);
	}
	st->store = db_bayes_get(path);
	db_bayes_set_expiry(st->store, (int)days, (uint32_t)keep);
	log_debug("bayes: %s, autolearn %s (spam >= %g, ham <= %g), "
	    "min_learned %u", path, st->autolearn ? "on" : "off",
	    st->autolearn_spam, st->autolearn_ham, st->min_learned);
	free(path);
	*statep = st;
	return 0;
fail:
	free(path);
	free(st);
	return -1;
}

static void
bayes_free(void *arg)
{
	struct filter_bayes_state	*st = arg;

	if (st == NULL)
		return;
	db_bayes_unref(st->store);
	free(st);
}

static void
bayes_run(void *arg, struct scan_ctx *ctx)
{
	struct filter_bayes_state	*st = arg;
	struct bayes_tokens		 t;
	struct bayes_count		*counts;
	uint32_t			 nspam, nham;
	size_t				 used;
	double				 p;

	if (st == NULL || ctx->msg == NULL)
		return;
	bayes_tokens_init(&t, false);
	bayes_tokenize(ctx->msg, &t);
	counts = xreallocarray(NULL, t.n > 0 ? t.n : 1, sizeof *counts);
	if (db_bayes_lookup(st->store, t.v, t.n, counts, &nspam, &nham) == 0 &&
	    nspam >= st->min_learned && nham >= st->min_learned) {
		p = bayes_classify(&st->params, counts, t.n, nspam, nham,
		    &used);
		bayes_add_findings(ctx->findings, p, used);
	}
	free(counts);
	bayes_tokens_free(&t);
}

bool
filter_bayes_autolearn(void *arg, const struct msg *m,
    const struct findings *f)
{
	struct filter_bayes_state	*st = arg;
	struct bayes_tokens		 t;
	enum db_bayes_op		 op;
	uint64_t			*tokens;
	size_t				 n;
	double				 score;

	if (st == NULL || m == NULL || !st->autolearn)
		return false;
	/* Judge on the other filters' evidence: Bayes must not teach
	 * itself what it already believes. */
	score = f->score - bayes_points_in(f);
	if (score >= st->autolearn_spam)
		op = DB_BAYES_SPAM;
	else if (score <= st->autolearn_ham)
		op = DB_BAYES_HAM;
	else
		return false;
	bayes_tokens_init(&t, false);
	bayes_tokenize(m, &t);
	tokens = bayes_tokens_steal(&t, &n);
	bayes_tokens_free(&t);
	return db_bayes_learn_async(st->store, bayes_msg_key(m), op, tokens,
	    n);
}

const struct scan_filter filter_bayes = {
	.name = "bayes",
	.init = bayes_init,
	.run = bayes_run,
	.free = bayes_free,
};
