/*
 * Run the SpamAssassin-syntax rule engine over mail files, for tuning and
 * measuring (tests/quality/rules_eval.py builds and drives it).
 *
 *   sarule_run [-l] [-H] [-S set] [-j threads] -r RULES [-r RULES...]
 *              [FILE|DIR...]
 *
 * -l prints the rule set summary (loaded, skipped, broken with reasons).
 * -d prints each message as the rules see it (headers, body lines, URLs).
 * With -l, SARULE_UNFILTERED=1 in the environment also lists the
 * body/rawbody/uri/full rules the Hyperscan prefilter cannot skip.
 * Per message prints "path<TAB>score<TAB>RULE RULE ...". On stderr, the
 * CPU time spent parsing (mime_parse) and in the rules (thread CPU
 * clocks, so other load on the machine does not count), and msg/s.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "log.h"
#include "mime.h"
#include "msg.h"
#include "sarule.h"
#include "sarule_int.h"
#include "xmalloc.h"

struct mail {
	char		*path;
	char		*data;
	size_t		 len;
	char		*out;		/* result line */
};

static struct mail		*mails;
static size_t			 nmails;
static struct sarule_set	*set;
static atomic_size_t		 next;
static atomic_uint_fast64_t	 parse_ns, rules_ns;

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec	ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
load_file(const char *path)
{
	struct stat	 st;
	struct mail	*m;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
	mails = xreallocarray(mails, nmails + 1, sizeof *mails);
	m = &mails[nmails++];
	m->path = xstrdup(path);
	m->data = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size &&
	    (n = read(fd, m->data + off, (size_t)st.st_size - off)) > 0)
		off += (size_t)n;
	m->len = off;
	m->out = NULL;
	close(fd);
}

static int
name_sort(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void
load_path(const char *path)
{
	struct dirent	**list;
	struct stat	  st;
	char		 *p;
	int		  n, i;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (!S_ISDIR(st.st_mode)) {
		load_file(path);
		return;
	}
	if ((n = scandir(path, &list, NULL, name_sort)) == -1)
		exit(1);
	for (i = 0; i < n; i++) {
		if (list[i]->d_name[0] != '.') {
			xasprintf(&p, "%s/%s", path, list[i]->d_name);
			load_file(p);
			free(p);
		}
		free(list[i]);
	}
	free(list);
}

/* The message as rules see it. */
static void
dump(const char *path, const struct msg *m)
{
	struct sr_ctx	c;
	size_t		i;

	memset(&c, 0, sizeof c);
	c.msg = m;
	printf("=== %s (flags %#x)\n", path, m->flags);
	for (i = 0; i < m->nheaders; i++)
		printf("H %s: [%s] raw [%s]\n", m->headers[i].name,
		    m->headers[i].value, m->headers[i].raw);
	sr_ctx_body(&c);
	for (i = 0; i < c.nlines; i++)
		printf("B [%.*s]\n", (int)c.lines[i].len, c.lines[i].p);
	for (i = 0; i < m->nparts; i++)
		printf("P %zu %s parent %d text %zu data %zu%s%s\n", i,
		    m->parts[i].content_type, m->parts[i].parent,
		    m->parts[i].text_len, m->parts[i].len,
		    m->parts[i].is_html ? " html" : "",
		    m->parts[i].is_attachment ? " attachment" : "");
	for (i = 0; i < m->nurls; i++)
		printf("U %s host %s text [%s]\n", m->urls[i].url,
		    m->urls[i].host, m->urls[i].text ? m->urls[i].text : "");
	free(c.body);
	free(c.lines);
}

static int	dump_only;

static void *
worker(void *arg)
{
	struct sarule_input	 in;
	struct sarule_result	 res;
	struct msg		*msg;
	uint64_t		 t0, t1, t2;
	size_t			 i, k, len;
	char			*s;

	(void)arg;
	while ((i = atomic_fetch_add(&next, 1)) < nmails) {
		t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		msg = mime_parse(mails[i].data, mails[i].len);
		t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		if (dump_only) {
			dump(mails[i].path, msg);
			msg_free(msg);
			continue;
		}
		memset(&in, 0, sizeof in);
		in.msg = msg;
		in.now = 0;
		sarule_eval(set, &in, &res);
		t2 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		atomic_fetch_add(&parse_ns, t1 - t0);
		atomic_fetch_add(&rules_ns, t2 - t1);
		len = strlen(mails[i].path) + 64;
		for (k = 0; k < res.nhits; k++)
			len += strlen(res.hits[k].name) + 1;
		s = xmalloc(len);
		k = (size_t)snprintf(s, len, "%s\t%.3f\t", mails[i].path,
		    res.score);
		for (size_t h = 0; h < res.nhits; h++)
			k += (size_t)snprintf(s + k, len - k, "%s%s",
			    h ? " " : "", res.hits[h].name);
		mails[i].out = s;
		sarule_result_free(&res);
		msg_free(msg);
	}
	sarule_thread_cleanup();
	return NULL;
}

static void
print_summary(void)
{
	const struct sarule_summary	*s = sarule_set_summary(set);
	size_t				 i;

	printf("loaded %zu active %zu prefiltered %zu skipped %zu "
	    "broken %zu compile_ms %u\n", s->loaded, s->active,
	    s->prefiltered, s->nskipped, s->nbroken, s->compile_ms);
	for (int t = 0; t < SR_NTYPES; t++) {
		size_t	pf = 0;

		for (i = 0; i < set->nrun[t]; i++)
			pf += set->in_hs[set->run[t][i]];
		printf("type %d: %zu run, %zu prefiltered\n", t,
		    set->nrun[t], pf);
	}
	if (getenv("SARULE_UNFILTERED") != NULL)
		for (int t = SR_BODY; t <= SR_FULL; t++)
			for (i = 0; i < set->nrun[t]; i++)
				if (!set->in_hs[set->run[t][i]])
					printf("unfiltered %d %s %s\n", t,
					    set->rules[set->run[t][i]].name,
					    set->rules[set->run[t][i]].re_body ?
					    set->rules[set->run[t][i]].re_body :
					    "(eval)");
	for (i = 0; i < s->broken_listed; i++)
		printf("broken %s %s: %s\n", s->broken[i].where,
		    s->broken[i].rule ? s->broken[i].rule : "-",
		    s->broken[i].reason);
	for (i = 0; i < s->skipped_listed; i++)
		printf("skipped %s %s: %s\n", s->skipped[i].where,
		    s->skipped[i].rule ? s->skipped[i].rule : "-",
		    s->skipped[i].reason);
}

int
main(int argc, char **argv)
{
	struct sarule_opts	 opts = { .score_set = 0, .hyperscan = false };
	pthread_t		 th[64];
	char			*cause = NULL;
	uint64_t		 t0, wall;
	int			 ch, nthreads = 1, i, lint = 0;

	log_init("sarule_run", true, false);
	set = NULL;
	while ((ch = getopt(argc, argv, "dlHS:j:r:")) != -1) {
		switch (ch) {
		case 'd': dump_only = 1; break;
		case 'l': lint = 1; break;
		case 'H': opts.hyperscan = true; break;
		case 'S': opts.score_set = atoi(optarg); break;
		case 'j': nthreads = atoi(optarg); break;
		case 'r':
			if (set == NULL)
				set = sarule_set_new(&opts);
			if (sarule_set_add_path(set, optarg, &cause) == -1) {
				fprintf(stderr, "%s\n", cause);
				return 1;
			}
			break;
		default:
			fprintf(stderr, "usage: sarule_run [-l] [-H] [-S set] "
			    "[-j n] -r rules... [file|dir...]\n");
			return 2;
		}
	}
	if (set == NULL)
		set = sarule_set_new(&opts);
	if (sarule_set_compile(set, &cause) == -1) {
		fprintf(stderr, "%s\n", cause);
		return 1;
	}
	if (lint)
		print_summary();
	g_mime_init();
	mime_init();
	for (i = optind; i < argc; i++)
		load_path(argv[i]);
	if (nthreads < 1 || nthreads > 64)
		nthreads = 1;
	t0 = clock_ns(CLOCK_MONOTONIC);
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	wall = clock_ns(CLOCK_MONOTONIC) - t0;
	for (size_t k = 0; k < nmails; k++) {
		if (mails[k].out != NULL)
			printf("%s\n", mails[k].out);
		free(mails[k].out);
		free(mails[k].path);
		free(mails[k].data);
	}
	if (nmails > 0)
		fprintf(stderr, "messages %zu threads %d wall %.3fs "
		    "(%.0f msg/s); cpu parse %.3fs, rules %.3fs "
		    "(rules alone %.0f msg/s per core)\n", nmails, nthreads,
		    (double)wall / 1e9, (double)nmails / ((double)wall / 1e9),
		    (double)parse_ns / 1e9, (double)rules_ns / 1e9,
		    (double)nmails / ((double)rules_ns / 1e9));
	free(mails);
	sarule_set_free(set);
	mime_shutdown();
	return 0;
}
