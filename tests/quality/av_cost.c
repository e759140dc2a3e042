/*
 * What anti-virus and attachment facts cost per message on a corpus: each
 * message is parsed once (mime_parse), then timed through filter_clamav
 * (raw message only, then raw message and every decoded part) and
 * filter_attachments. Prints per-message milliseconds (mean, median, p95,
 * max), the findings seen, and the throughput of T threads sharing one
 * engine. Measurement only: never part of the tests.
 *   sh tests/quality/av_cost.sh [-s SIGS] [-y SYSTEM_DB] [-T TMPDIR]
 *       [-t THREADS] [-n MAX_FILES] CORPUS...
 * Each measured configuration gets its own engine, so libclamav's cache of
 * clean results does not carry over from one to the next.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "attach.h"
#include "av.h"
#include "filter_attachments.h"
#include "filter_clamav.h"
#include "finding.h"
#include "mime.h"
#include "msg.h"
#include "scan.h"

struct item {
	char		*data;
	size_t		 len;
	struct msg	*msg;
};

static struct item	*items;
static size_t		 nitems, capitems, maxitems = SIZE_MAX;

static void
load(const char *path)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	FILE		*f;
	char		 sub[4096];

	if (nitems >= maxitems || stat(path, &st) == -1)
		return;
	if (S_ISDIR(st.st_mode)) {
		if ((d = opendir(path)) == NULL)
			return;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
			load(sub);
		}
		closedir(d);
		return;
	}
	if (!S_ISREG(st.st_mode) || strstr(path, "README") != NULL)
		return;
	if (nitems == capitems) {
		capitems = capitems ? capitems * 2 : 256;
		items = realloc(items, capitems * sizeof *items);
	}
	items[nitems].len = (size_t)st.st_size;
	items[nitems].data = malloc(items[nitems].len + 1);
	if ((f = fopen(path, "rb")) == NULL)
		return;
	if (fread(items[nitems].data, 1, items[nitems].len, f) !=
	    items[nitems].len) {
		fclose(f);
		return;
	}
	fclose(f);
	nitems++;
}

static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
report(const char *what, double *v, size_t n)
{
	double	sum = 0;
	size_t	i;

	for (i = 0; i < n; i++)
		sum += v[i];
	qsort(v, n, sizeof *v, cmp_double);
	printf("%-28s mean %7.3f  median %7.3f  p95 %7.3f  max %8.3f ms"
	    "  (total %.0f ms)\n", what, sum / (double)n, v[n / 2],
	    v[(size_t)((double)n * 0.95)], v[n - 1], sum);
}

/* Symbol counts over the corpus. */
#define NSYMS	64
static char	sym_name[NSYMS][FINDING_SYMBOL_MAX];
static size_t	sym_count[NSYMS];
static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;

static void
count(const struct findings *f)
{
	size_t	i, j;

	pthread_mutex_lock(&sym_lock);
	for (i = 0; i < f->n; i++) {
		for (j = 0; j < NSYMS && sym_name[j][0] != '\0'; j++)
			if (strcmp(sym_name[j], f->v[i].symbol) == 0)
				break;
		if (j == NSYMS)
			continue;
		if (sym_name[j][0] == '\0')
			snprintf(sym_name[j], sizeof sym_name[j], "%s",
			    f->v[i].symbol);
		sym_count[j]++;
	}
	pthread_mutex_unlock(&sym_lock);
}

static struct filter_clamav_state	 st_raw, st_parts, st_threads;
static struct filter_attachments_state	 st_att;

static double
run_one(const struct scan_filter *flt, void *st, struct item *it,
    bool tally)
{
	struct scan_ctx	ctx;
	struct findings	f;
	double		t0;

	memset(&ctx, 0, sizeof ctx);
	findings_init(&f);
	ctx.msg = it->msg;
	ctx.findings = &f;
	t0 = now_ms();
	flt->run(st, &ctx);
	t0 = now_ms() - t0;
	if (tally)
		count(&f);
	findings_free(&f);
	return t0;
}

struct worker {
	size_t	first, step;
};

static void *
work(void *arg)
{
	struct worker	*w = arg;
	size_t		 i;

	for (i = w->first; i < nitems; i += w->step) {
		run_one(&filter_attachments, &st_att, &items[i], false);
		run_one(&filter_clamav, &st_threads, &items[i], false);
	}
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: av_cost [-s SIGS] [-y SYSTEM_DB] [-T TMPDIR] "
	    "[-t THREADS] [-n MAX_FILES] CORPUS...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct av_conf	 c;
	struct av	*a, *b, *d;
	struct av_engine *e;
	struct av_info	 info;
	pthread_t	*th;
	struct worker	*ws;
	const char	*sigs = "rules.d/clamav", *sysdb = NULL, *tmpdir = NULL;
	double		*t_parse, *t_raw, *t_parts, *t_att, t0, wall;
	char		*cause = NULL;
	size_t		 i, bytes = 0;
	int		 ch, threads = 2;

	while ((ch = getopt(argc, argv, "s:y:T:t:n:")) != -1) {
		switch (ch) {
		case 's': sigs = optarg; break;
		case 'y': sysdb = optarg; break;
		case 'T': tmpdir = optarg; break;
		case 't': threads = atoi(optarg); break;
		case 'n': maxitems = (size_t)atol(optarg); break;
		default: usage();
		}
	}
	if (optind == argc || threads < 1)
		usage();
	for (; optind < argc; optind++)
		load(argv[optind]);
	if (nitems == 0)
		usage();
	g_mime_init();
	mime_init();

	memset(&c, 0, sizeof c);
	c.sigs = (char *[]){ (char *)sigs, NULL };
	c.nsigs = 1;
	c.system_db = (char *)sysdb;
	c.max_scan_size = AV_MAX_SCAN_SIZE;
	c.max_file_size = AV_MAX_FILE_SIZE;
	c.max_recursion = AV_MAX_RECURSION;
	c.max_files = AV_MAX_FILES;
	c.max_scan_time_ms = AV_MAX_SCAN_TIME_MS;
	c.tmpdir = (char *)tmpdir;
	/* Three engines (av_open shares equal configurations: the scan time
	 * limits differ by a millisecond), three cold caches. */
	if ((a = av_open(&c, &cause)) == NULL) {
		fprintf(stderr, "av_cost: %s\n", cause);
		return 1;
	}
	c.max_scan_time_ms++;
	b = av_open(&c, &cause);
	c.max_scan_time_ms++;
	d = av_open(&c, &cause);
	if (b == NULL || d == NULL) {
		fprintf(stderr, "av_cost: %s\n", cause);
		return 1;
	}
	e = av_acquire(a);
	av_engine_info(e, &info);
	av_release(e);
	st_raw.av = a;
	st_parts.av = b;
	st_threads.av = d;
	st_parts.scan_parts = st_threads.scan_parts = true;
	st_raw.encrypted_score = st_parts.encrypted_score = 1.0;
	archlist_limits_default(&st_att.limits);
	printf("libclamav, %u signatures%s, engine built in %u ms, "
	    "temporary files in %s\n", info.sigs, info.system_db ?
	    " (with the system database)" : "", info.build_ms,
	    tmpdir != NULL ? tmpdir : "libclamav's default");

	t_parse = calloc(nitems, sizeof *t_parse);
	t_raw = calloc(nitems, sizeof *t_raw);
	t_parts = calloc(nitems, sizeof *t_parts);
	t_att = calloc(nitems, sizeof *t_att);
	for (i = 0; i < nitems; i++) {
		bytes += items[i].len;
		t0 = now_ms();
		items[i].msg = mime_parse(items[i].data, items[i].len);
		t_parse[i] = now_ms() - t0;
	}
	/* libmagic's first load is not the message's cost. */
	run_one(&filter_attachments, &st_att, &items[0], false);
	for (i = 0; i < nitems; i++) {
		t_raw[i] = run_one(&filter_clamav, &st_raw, &items[i], false);
		t_parts[i] = run_one(&filter_clamav, &st_parts, &items[i],
		    true);
		t_att[i] = run_one(&filter_attachments, &st_att, &items[i],
		    true);
	}
	printf("%zu messages, %.1f MB, mean %.1f KB\n", nitems,
	    (double)bytes / 1e6, (double)bytes / 1e3 / (double)nitems);
	report("mime_parse (for scale)", t_parse, nitems);
	report("clamav: raw message", t_raw, nitems);
	report("clamav: raw + attachments", t_parts, nitems);
	report("attachments: facts", t_att, nitems);
	for (i = 0; i < NSYMS && sym_name[i][0] != '\0'; i++)
		printf("  %-24s %zu\n", sym_name[i], sym_count[i]);

	ws = calloc((size_t)threads, sizeof *ws);
	th = calloc((size_t)threads, sizeof *th);
	wall = now_ms();
	for (ch = 0; ch < threads; ch++) {
		ws[ch].first = (size_t)ch;
		ws[ch].step = (size_t)threads;
		pthread_create(&th[ch], NULL, work, &ws[ch]);
	}
	for (ch = 0; ch < threads; ch++)
		pthread_join(th[ch], NULL);
	wall = now_ms() - wall;
	printf("%d threads, one shared engine: %.0f messages/s "
	    "(attachments + clamav raw and attachments, parsing excluded)\n",
	    threads, (double)nitems / (wall / 1e3));

	for (i = 0; i < nitems; i++) {
		msg_free(items[i].msg);
		free(items[i].data);
	}
	av_close(a);
	av_close(b);
	av_close(d);
	return 0;
}
