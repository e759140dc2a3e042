/*
 * bayes_cv: k-fold cross-validation of the Bayes filter (and, when built
 * with the rule engine, of the rules and of both together) on a corpus
 * folder with ham/ and spam/ holding one raw message per file.
 *
 *   bayes_cv [-d lo:hi] [-k folds] [-p s,x,min,n] [-t threshold]
 *            [-r rules.cf|dir]... [-sSv] CORPUS
 *
 * Each class is split into k folds by file name order (file i goes to fold
 * i mod k); for every fold a fresh token store (a temporary sqlite file,
 * the daemon's own code) learns the other folds and the fold is scored.
 * Prints recall on spam and false positives on ham at the threshold for
 * Bayes alone (its BAYES_* points only), rules alone and both, and where
 * the time goes. -p sets the classifier's parameters (Robinson's s and
 * x, the ignored middle band, tokens combined), -s sweeps them, -S
 * sweeps the scores of the upper BAYES_* bands, -d the
 * strongest tokens of messages scored between lo and hi, -v lists the
 * misses. Built and run by tests/quality/bayes_cv.sh.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "bayes.h"
#include "db_bayes.h"
#include "finding.h"
#include "log.h"
#include "mime.h"
#include "msg.h"
#include "util.h"
#include "xmalloc.h"
#ifdef HAVE_SARULE
#include "sarule.h"
#endif

#define CV_FILE_MAX	(64 * 1024 * 1024)
#define CV_RULES_MAX	16

struct sample {
	char			*name;		/* class/file */
	bool			 spam;
	int			 fold;
	char			*raw;
	size_t			 len;
	uint64_t		 key;
	uint64_t		*tokens;
	size_t			 ntokens;
	struct bayes_count	*counts;	/* when it was tested */
	uint32_t		 nspam, nham;	/* totals then */
	double			 prob;
	double			 rules;		/* rules' score (with Bayes) */
	double			 rules0;	/* score set without Bayes */
	char			*hits;		/* rules that hit */
	char			*text;		/* -d: the tokens, one a line */
};

static struct sample	*samples;
static size_t		 nsamples;
static bool		 verbose;
static double		 dump_lo = 2, dump_hi = -1;	/* -d lo:hi */
static struct bayes_params params;			/* -p s,x,min,n */

/* CPU time of the process: the machine is shared, wall time is not a
 * measure of this code. */
static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE	*f;
	char	*b;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    n > CV_FILE_MAX || fseek(f, 0, SEEK_SET) == -1) {
		fclose(f);
		return NULL;
	}
	b = xmalloc((size_t)n + 1);
	if (fread(b, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(b);
		return NULL;
	}
	b[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Every file of corpus/class in name order. */
static void
load_class(const char *corpus, const char *class, bool spam, int k)
{
	DIR		*d;
	struct dirent	*e;
	char		**names = NULL, path[4096];
	size_t		 n = 0, cap = 0, i;
	struct sample	*s;

	snprintf(path, sizeof path, "%s/%s", corpus, class);
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "bayes_cv: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			names = xreallocarray(names, cap, sizeof *names);
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s/%s", corpus, class,
		    names[i]);
		samples = xreallocarray(samples, nsamples + 1,
		    sizeof *samples);
		s = &samples[nsamples];
		memset(s, 0, sizeof *s);
		if ((s->raw = read_file(path, &s->len)) == NULL) {
			fprintf(stderr, "bayes_cv: %s: cannot read\n", path);
			free(names[i]);
			continue;
		}
		xasprintf(&s->name, "%s/%s", class, names[i]);
		s->spam = spam;
		s->fold = (int)(i % (size_t)k);
		nsamples++;
		free(names[i]);
	}
	free(names);
}

#ifdef HAVE_SARULE
static struct sarule_set *
load_rules(char **paths, size_t n, int score_set)
{
	struct sarule_opts		 o = { .score_set = score_set,
	    .hyperscan = true };
	const struct sarule_summary	*sum;
	struct sarule_set		*set;
	char				*cause = NULL;
	size_t				 i;

	set = sarule_set_new(&o);
	for (i = 0; i < n; i++)
		if (sarule_set_add_path(set, paths[i], &cause) == -1) {
			fprintf(stderr, "bayes_cv: %s\n", cause);
			exit(2);
		}
	if (sarule_set_compile(set, &cause) == -1) {
		fprintf(stderr, "bayes_cv: %s\n", cause);
		exit(2);
	}
	sum = sarule_set_summary(set);
	printf("rules (score set %d): %zu loaded, %zu active, %zu skipped, "
	    "%zu broken\n", score_set, sum->loaded, sum->active,
	    sum->nskipped, sum->nbroken);
	return set;
}

/* set: the score set used with Bayes (2), set0: without (0). */
static void
run_rules(struct sarule_set *set, struct sarule_set *set0, struct sample *s,
    const struct msg *m)
{
	struct sarule_input	 in = { .msg = m, .now = 0 };
	struct sarule_result	 r;
	struct buf		 b;
	size_t			 i;

	memset(&r, 0, sizeof r);
	sarule_eval(set0, &in, &r);
	s->rules0 = r.score;
	sarule_result_free(&r);
	memset(&r, 0, sizeof r);
	sarule_eval(set, &in, &r);
	s->rules = r.score;
	buf_init(&b, 4096);
	for (i = 0; i < r.nhits; i++)
		if (buf_appendf(&b, "%s%s(%.1f)", i ? " " : "", r.hits[i].name,
		    r.hits[i].score) == -1)
			break;
	s->hits = buf_steal(&b);
	sarule_result_free(&r);
}
#endif

struct tally {
	size_t	spam, ham, tp, fp;
};

static void
tally_add(struct tally *t, bool spam, bool flagged)
{
	if (spam) {
		t->spam++;
		t->tp += flagged;
	} else {
		t->ham++;
		t->fp += flagged;
	}
}

static void
tally_print(const char *what, const struct tally *t)
{
	printf("%-28s recall %6.2f %% (%zu/%zu spam)   false positives "
	    "%5.2f %% (%zu/%zu ham)\n", what,
	    t->spam ? 100.0 * t->tp / t->spam : 0, t->tp, t->spam,
	    t->ham ? 100.0 * t->fp / t->ham : 0, t->fp, t->ham);
}

/* Learn every sample outside fold f, in batches as sa-learn would. */
static double
learn_fold(struct db_bayes *st, int f, size_t *nlearned)
{
	struct db_bayes_item	*items;
	size_t			 i, n = 0, start;
	char			*cause = NULL;
	double			 t0 = now_s();

	items = xcalloc(nsamples, sizeof *items);
	for (i = 0; i < nsamples; i++) {
		if (samples[i].fold == f)
			continue;
		items[n].key = samples[i].key;
		items[n].op = samples[i].spam ? DB_BAYES_SPAM : DB_BAYES_HAM;
		items[n].tokens = samples[i].tokens;
		items[n].ntokens = samples[i].ntokens;
		n++;
	}
	for (start = 0; start < n; start += DB_BAYES_BATCH_MAX) {
		if (db_bayes_learn(st, items + start, n - start <
		    DB_BAYES_BATCH_MAX ? n - start : DB_BAYES_BATCH_MAX,
		    &cause) == -1) {
			fprintf(stderr, "bayes_cv: learn: %s\n", cause);
			exit(2);
		}
	}
	db_bayes_sync(st);	/* the time to write it counts */
	free(items);
	*nlearned = n;
	return now_s() - t0;
}

static double
test_fold(struct db_bayes *st, int f, const struct bayes_params *bp,
    size_t *ntested)
{
	struct sample	*s;
	size_t		 i, used;
	double		 t0 = now_s();

	*ntested = 0;
	for (i = 0; i < nsamples; i++) {
		s = &samples[i];
		if (s->fold != f)
			continue;
		s->counts = xreallocarray(NULL, s->ntokens ? s->ntokens : 1,
		    sizeof *s->counts);
		if (db_bayes_lookup(st, s->tokens, s->ntokens, s->counts,
		    &s->nspam, &s->nham) == -1) {
			fprintf(stderr, "bayes_cv: lookup failed\n");
			exit(2);
		}
		s->prob = bayes_classify(bp, s->counts, s->ntokens, s->nspam,
		    s->nham, &used);
		(*ntested)++;
	}
	return now_s() - t0;
}

struct clue {
	const char	*tok;
	size_t		 len;
	double		 p;
	uint32_t	 spam, ham;
};

static int
clue_cmp(const void *a, const void *b)
{
	double	x = fabs(((const struct clue *)a)->p - 0.5);
	double	y = fabs(((const struct clue *)b)->p - 0.5);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* -d: why messages in a probability range scored as they did. */
static void
dump(const struct sample *s)
{
	struct clue	*c;
	const char	*p = s->text, *nl;
	size_t		 i, n = 0;

	printf("\n%s %s p=%.4f tokens=%zu\n", s->spam ? "SPAM" : "HAM ",
	    s->name, s->prob, s->ntokens);
	if (p == NULL)
		return;
	c = xcalloc(s->ntokens + 1, sizeof *c);
	for (i = 0; i < s->ntokens && (nl = strchr(p, '\n')) != NULL; i++) {
		c[n].tok = p;
		c[n].len = (size_t)(nl - p);
		c[n].spam = s->counts[i].spam;
		c[n].ham = s->counts[i].ham;
		c[n].p = bayes_token_prob(&params, c[n].spam,
		    c[n].ham, s->nspam, s->nham);
		if (c[n].p >= 0)
			n++;
		p = nl + 1;
	}
	qsort(c, n, sizeof *c, clue_cmp);
	for (i = 0; i < n && i < 40; i++)
		printf("  %.4f %5u %5u  %.*s\n", c[i].p, c[i].spam, c[i].ham,
		    (int)c[i].len, c[i].tok);
	free(c);
}

/* Bayes alone over a grid of parameters (tuning), from the counts kept. */
static void
sweep(void)
{
	static const double	ss[] = { 0.03, 0.1, 0.3, 1.0 };
	static const double	xs[] = { 0.5, 0.538 };
	static const double	ms[] = { 0.0, 0.1, 0.25, 0.346, 0.4 };
	static const size_t	ns[] = { 50, 150, 300 };
	struct bayes_params	bp;
	size_t			a, b, c, d, i, fn, fp, fp99, tp99;
	double			p;

	printf("\nsweep: s x min_strength significant -> misses at p>=0.5 "
	    "(fn fp), p>=0.99 (recall, fp)\n");
	for (a = 0; a < sizeof ss / sizeof ss[0]; a++)
	for (b = 0; b < sizeof xs / sizeof xs[0]; b++)
	for (c = 0; c < sizeof ms / sizeof ms[0]; c++)
	for (d = 0; d < sizeof ns / sizeof ns[0]; d++) {
		bp = (struct bayes_params){ ss[a], xs[b], ms[c], ns[d] };
		fn = fp = fp99 = tp99 = 0;
		for (i = 0; i < nsamples; i++) {
			p = bayes_classify(&bp, samples[i].counts,
			    samples[i].ntokens, samples[i].nspam,
			    samples[i].nham, NULL);
			if (samples[i].spam) {
				fn += p < 0.5;
				tp99 += p >= 0.99;
			} else {
				fp += p >= 0.5;
				fp99 += p >= 0.99;
			}
		}
		printf("  s=%.3f x=%.3f min=%.3f n=%3zu  fn=%3zu fp=%3zu  "
		    "99: tp=%3zu fp=%zu\n", bp.s, bp.x, bp.min_strength,
		    bp.significant, fn, fp, tp99, fp99);
	}
}

/* The combined figures for other BAYES_* scores (-S): the points of the
 * bands from BAYES_80 up, everything else as in bayes.c. */
static void
sweep_scores(double thr)
{
	static const double	s80[] = { 2.0, 2.5 };
	static const double	s95[] = { 3.0, 3.5, 4.0 };
	static const double	s99[] = { 3.5, 4.0, 4.5, 5.0 };
	static const double	s999[] = { 0.2, 0.5, 1.0, 1.5, 2.0 };
	size_t			a, b, c, d, i, tp, fp, btp, bfp;
	double			pts, p;

	printf("\nscores: BAYES_80 BAYES_95 BAYES_99 +BAYES_999 -> rules+bayes "
	    "(tp fp)  bayes alone (tp fp)\n");
	for (a = 0; a < sizeof s80 / sizeof s80[0]; a++)
	for (b = 0; b < sizeof s95 / sizeof s95[0]; b++)
	for (c = 0; c < sizeof s99 / sizeof s99[0]; c++)
	for (d = 0; d < sizeof s999 / sizeof s999[0]; d++) {
		if (s95[b] > s99[c])
			continue;
		tp = fp = btp = bfp = 0;
		for (i = 0; i < nsamples; i++) {
			p = samples[i].prob;
			if (p >= 0.999)
				pts = s99[c] + s999[d];
			else if (p >= 0.99)
				pts = s99[c];
			else if (p >= 0.95)
				pts = s95[b];
			else if (p >= 0.80)
				pts = s80[a];
			else
				pts = bayes_points(p);
			if (samples[i].spam) {
				tp += samples[i].rules + pts >= thr;
				btp += pts >= thr;
			} else {
				fp += samples[i].rules + pts >= thr;
				bfp += pts >= thr;
			}
		}
		printf("  %.1f %.1f %.1f +%.1f -> %3zu %zu   %3zu %zu\n",
		    s80[a], s95[b], s99[c], s999[d], tp, fp, btp, bfp);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: bayes_cv [-d lo:hi] [-k folds] "
	    "[-p s,x,min,n] [-t threshold] [-r rules]... [-sSv] "
	    "corpus\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct tally		 tb = { 0 }, tr = { 0 }, tc = { 0 };
	struct bayes_tokens	 t;
	struct db_bayes		*st;
	struct msg		*m;
	char			*rules[CV_RULES_MAX], dir[64], path[128];
	size_t			 nrules = 0, i, k2, nl, nt, ntok = 0;
	size_t			 band[2][16];
	double			 thr = 5.0, tparse = 0, ttok = 0, trules = 0;
	double			 tlearn = 0, ttest = 0, t0, bp;
	size_t			 learned = 0, tested = 0;
	bool			 do_sweep = false, do_scores = false;
	int			 ch, k = 5, f;

	params = bayes_params_default;
	while ((ch = getopt(argc, argv, "d:k:p:r:sSt:v")) != -1) {
		switch (ch) {
		case 'S':
			do_scores = true;
			break;
		case 'p':
			if (sscanf(optarg, "%lf,%lf,%lf,%zu", &params.s,
			    &params.x, &params.min_strength,
			    &params.significant) != 4)
				usage();
			break;
		case 'd':
			if (sscanf(optarg, "%lf:%lf", &dump_lo, &dump_hi) != 2)
				usage();
			break;
		case 'k':
			k = atoi(optarg);
			break;
		case 'r':
			if (nrules < CV_RULES_MAX)
				rules[nrules++] = optarg;
			break;
		case 's':
			do_sweep = true;
			break;
		case 't':
			thr = atof(optarg);
			break;
		case 'v':
			verbose = true;
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc || k < 2)
		usage();
	log_init("bayes_cv", true, false);
	log_set_level(LOG_LEVEL_WARN);
	g_mime_init();
	mime_init();

	load_class(argv[optind], "ham", false, k);
	load_class(argv[optind], "spam", true, k);
	printf("corpus %s: %zu messages, %d folds, threshold %.1f\n",
	    argv[optind], nsamples, k, thr);
#ifdef HAVE_SARULE
	struct sarule_set	*set = NULL, *set0 = NULL;

	if (nrules > 0) {
		set = load_rules(rules, nrules, 2);
		set0 = load_rules(rules, nrules, 0);
	}
#else
	(void)rules;
	if (nrules > 0)
		fprintf(stderr, "bayes_cv: built without the rule engine: "
		    "-r ignored\n");
#endif

	/* Parse and tokenize once: the tokens do not depend on the fold. */
	for (i = 0; i < nsamples; i++) {
		t0 = now_s();
		m = mime_parse(samples[i].raw, samples[i].len);
		tparse += now_s() - t0;
		t0 = now_s();
		bayes_tokens_init(&t, dump_hi >= dump_lo);
		bayes_tokenize(m, &t);
		if (t.keep_text)
			samples[i].text = buf_steal(&t.text);
		samples[i].key = bayes_msg_key(m);
		samples[i].tokens = bayes_tokens_steal(&t, &samples[i].ntokens);
		bayes_tokens_free(&t);
		ttok += now_s() - t0;
		ntok += samples[i].ntokens;
#ifdef HAVE_SARULE
		if (set != NULL) {
			t0 = now_s();
			run_rules(set, set0, &samples[i], m);
			trules += now_s() - t0;
		}
#endif
		msg_free(m);
	}

	snprintf(dir, sizeof dir, "/tmp/bayes-cv-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	for (f = 0; f < k; f++) {
		snprintf(path, sizeof path, "%s/fold%d.db", dir, f);
		st = db_bayes_get(path);
		tlearn += learn_fold(st, f, &nl);
		learned += nl;
		if (f == 0) {
			struct db_bayes_stats	 bs;
			struct stat		 sb, sw;
			char			*cause = NULL, wal[160];

			snprintf(wal, sizeof wal, "%s-wal", path);
			if (stat(wal, &sw) == -1)
				sw.st_size = 0;
			if (db_bayes_stats(st, &bs, &cause) == 0 &&
			    stat(path, &sb) == 0)
				printf("store after learning %zu messages: %zu "
				    "tokens, %zu KiB in memory, %lld KiB on "
				    "disk (with the WAL)\n", nl, bs.tokens,
				    bs.memory / 1024, (long long)(sb.st_size +
				    sw.st_size) / 1024);
			free(cause);
		}
		ttest += test_fold(st, f, &params, &nt);
		tested += nt;
		db_bayes_unref(st);
		unlink(path);
		snprintf(path, sizeof path, "%s/fold%d.db-wal", dir, f);
		unlink(path);
		snprintf(path, sizeof path, "%s/fold%d.db-shm", dir, f);
		unlink(path);
	}
	rmdir(dir);

	memset(band, 0, sizeof band);
	for (i = 0; i < nsamples; i++) {
		struct sample	*s = &samples[i];

		bp = bayes_points(s->prob);
		for (k2 = 0; k2 < bayes_nbands; k2++)
			if (s->prob >= bayes_bands[k2].lo &&
			    s->prob < bayes_bands[k2].hi)
				band[s->spam][k2]++;
		tally_add(&tb, s->spam, bp >= thr);
		tally_add(&tr, s->spam, s->rules0 >= thr);
		tally_add(&tc, s->spam, s->rules + bp >= thr);
		if (s->prob >= dump_lo && s->prob <= dump_hi)
			dump(s);
		if (verbose && ((s->spam && s->rules + bp < thr) ||
		    (!s->spam && s->rules + bp >= thr)))
			printf("%s %s: p=%.5f bayes %+.2f rules %+.2f [%s]\n",
			    s->spam ? "MISSED" : "FALSE+", s->name, s->prob,
			    bp, s->rules, s->hits != NULL ? s->hits : "");
	}
	if (verbose) {
		/* The ham closest to the threshold: the margin left. */
		size_t	top[10], ntop = 0, j, w;

		for (i = 0; i < nsamples; i++) {
			if (samples[i].spam)
				continue;
			bp = samples[i].rules + bayes_points(samples[i].prob);
			if (ntop < 10)
				top[ntop++] = i;
			else {
				for (j = 1, w = 0; j < ntop; j++)
					if (samples[top[j]].rules +
					    bayes_points(samples[top[j]].prob) <
					    samples[top[w]].rules +
					    bayes_points(samples[top[w]].prob))
						w = j;
				if (bp > samples[top[w]].rules +
				    bayes_points(samples[top[w]].prob))
					top[w] = i;
			}
		}
		printf("\nhighest ham:\n");
		for (j = 0; j < ntop; j++)
			printf("  %s p=%.4f bayes %+.2f rules %+.2f [%s]\n",
			    samples[top[j]].name, samples[top[j]].prob,
			    bayes_points(samples[top[j]].prob),
			    samples[top[j]].rules,
			    samples[top[j]].hits != NULL ?
			    samples[top[j]].hits : "");
	}
	printf("\nBAYES_* bands    ham   spam\n");
	for (k2 = 0; k2 < bayes_nbands; k2++)
		printf("  %-11s %6zu %6zu\n", bayes_bands[k2].symbol,
		    band[0][k2], band[1][k2]);
	printf("\n");
	tally_print("bayes alone (points)", &tb);
	{
		struct tally	 t50 = { 0 }, t90 = { 0 }, t99 = { 0 };
		struct sample	*s;

		for (i = 0; i < nsamples; i++) {
			s = &samples[i];
			tally_add(&t50, s->spam, s->prob >= 0.5);
			tally_add(&t90, s->spam, s->prob >= 0.9);
			tally_add(&t99, s->spam, s->prob >= 0.99);
		}
		tally_print("bayes alone, p >= 0.50", &t50);
		tally_print("bayes alone, p >= 0.90", &t90);
		tally_print("bayes alone, p >= 0.99", &t99);
	}
	if (nrules > 0) {
		tally_print("rules alone (score set 0)", &tr);
		tally_print("rules (set 2) + bayes", &tc);
	}
	printf("\nspeed (one thread, CPU time):\n"
	    "  parse (GMime)     %8.0f msg/s\n"
	    "  tokenize          %8.0f msg/s  (%.0f tokens/msg)\n"
	    "  learn (sqlite)    %8.0f msg/s  (%zu learned in %.2f s, "
	    "batches of %d)\n"
	    "  classify          %8.0f msg/s  (lookup + chi-square)\n",
	    nsamples / tparse, nsamples / ttok, (double)ntok / nsamples,
	    learned / tlearn, learned, tlearn, DB_BAYES_BATCH_MAX,
	    tested / ttest);
	if (nrules > 0)
		printf("  rules             %8.0f msg/s  (two score sets: "
		    "twice the work)\n", nsamples / trules);
	if (do_sweep)
		sweep();
	if (do_scores)
		sweep_scores(thr);
	for (i = 0; i < nsamples; i++) {
		free(samples[i].name);
		free(samples[i].raw);
		free(samples[i].tokens);
		free(samples[i].counts);
		free(samples[i].hits);
		free(samples[i].text);
	}
	free(samples);
#ifdef HAVE_SARULE
	sarule_set_free(set);
	sarule_set_free(set0);
#endif
	mime_shutdown();
	g_mime_shutdown();
	return 0;
}
