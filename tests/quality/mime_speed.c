/*
 * mime_parse() alone over a corpus: messages per second, single thread.
 * Also dumps what it parsed (-d) for eyeballing. Built ad hoc, not by make:
 *   cc -O2 -g -std=c11 -D_GNU_SOURCE -Ishared -Idaemon \
 *     $(pkg-config --cflags gmime-3.0 libmagic) -o build/mime_speed \
 *     tests/quality/mime_speed.c daemon/mime.c daemon/msg.c shared/[a-z]*.c \
 *     $(pkg-config --libs gmime-3.0 libmagic jansson) -pthread
 *   build/mime_speed [-n ROUNDS] [-d] [-g] PATH...   (files or folders)
 * -g times GMime's parse alone (the floor under mime_parse()). CPU time is
 * reported beside wall time: the machine is shared.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "mime.h"

struct file {
	char	*name;
	char	*data;
	size_t	 len;
};

static struct file	*files;
static size_t		 nfiles, capfiles;

static void
load(const char *path)
{
	struct stat	 st;
	DIR		*d;
	struct dirent	*de;
	char		 sub[4096];
	FILE		*f;

	if (stat(path, &st) == -1)
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
	if (nfiles == capfiles) {
		capfiles = capfiles ? capfiles * 2 : 256;
		files = realloc(files, capfiles * sizeof *files);
	}
	files[nfiles].name = strdup(path);
	files[nfiles].data = malloc(st.st_size + 1);
	f = fopen(path, "rb");
	files[nfiles].len = fread(files[nfiles].data, 1, st.st_size, f);
	fclose(f);
	nfiles++;
}

/* GMime alone, as mime_parse() drives it (the message as one part). */
static void
gmime_only(const char *raw, size_t len)
{
	GByteArray		*a;
	GMimeStream		*s;
	GMimeParser		*p;
	GMimeObject		*o;

	a = g_byte_array_new_take((guint8 *)(uintptr_t)raw, len);
	s = g_mime_stream_mem_new_with_byte_array(a);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
	p = g_mime_parser_new_with_stream(s);
	o = g_mime_parser_construct_part(p, NULL);
	if (o != NULL)
		g_object_unref(o);
	g_object_unref(p);
	g_object_unref(s);
	g_byte_array_free(a, FALSE);
}

static void
dump(const struct file *fl, const struct msg *m)
{
	size_t	i;

	printf("== %s flags=%#x warnings=%#x headers=%zu parts=%zu urls=%zu "
	    "header_len=%zu\n", fl->name, m->flags, m->mime_warnings,
	    m->nheaders, m->nparts, m->nurls, m->header_len);
	for (i = 0; i < m->nheaders; i++)
		printf("H %s: %s\n", m->headers[i].name, m->headers[i].value);
	printf("subject=%s from=%s <%s> reply_to=%s to=%s msgid=%s date=%s "
	    "(%lld)\n", m->subject, m->from_name, m->from_addr,
	    m->reply_to_addr, m->to_addrs, m->message_id, m->date,
	    (long long)m->date_time);
	for (i = 0; i < m->nparts; i++) {
		const struct msg_part *p = &m->parts[i];

		printf("P%d d=%d parent=%d %s cs=%s disp=%s fn=%s te=%s "
		    "sniff=%s text=%d html=%d att=%d len=%zu raw=%zu+%zu\n",
		    p->index, p->depth, p->parent, p->content_type,
		    p->charset, p->disposition, p->filename,
		    p->transfer_encoding, p->sniffed_type, p->is_text,
		    p->is_html, p->is_attachment, p->len, p->raw_offset,
		    p->raw_len);
	}
	for (i = 0; i < m->nurls; i++)
		printf("U part=%d html=%d host=%s url=%s text=%s\n",
		    m->urls[i].part, m->urls[i].from_html, m->urls[i].host,
		    m->urls[i].url, m->urls[i].text);
	printf("--- body_text (%zu)\n%s\n---\n", m->body_text_len,
	    m->body_text);
}

int
main(int argc, char **argv)
{
	struct timespec	 a, b, ca, cb;
	size_t		 i, bytes = 0, nmal = 0, ntrunc = 0;
	int		 ch, rounds = 1, r, dflag = 0, gflag = 0;
	double		 s, cpu, best = 0;
	unsigned	 w = 0;

	while ((ch = getopt(argc, argv, "dgn:")) != -1) {
		if (ch == 'n')
			rounds = atoi(optarg);
		else if (ch == 'd')
			dflag = 1;
		else if (ch == 'g')
			gflag = 1;
	}
	for (r = optind; r < argc; r++)
		load(argv[r]);
	for (i = 0; i < nfiles; i++)
		bytes += files[i].len;
	g_mime_init();
	mime_init();
	clock_gettime(CLOCK_MONOTONIC, &a);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
	for (r = 0; r < rounds; r++) {
		struct timespec	 ra, rb;
		double		 rs;

		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ra);
		for (i = 0; i < nfiles; i++) {
			struct msg *m;

			if (gflag) {
				gmime_only(files[i].data, files[i].len);
				continue;
			}
			m = mime_parse(files[i].data, files[i].len);

			if (r == 0) {
				nmal += (m->flags & MSG_MALFORMED) != 0;
				ntrunc += (m->flags & MSG_TRUNCATED) != 0;
				w |= m->mime_warnings;
				if (dflag)
					dump(&files[i], m);
			}
			msg_free(m);
		}
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &rb);
		rs = (rb.tv_sec - ra.tv_sec) + (rb.tv_nsec - ra.tv_nsec) / 1e9;
		if (best == 0 || rs < best)
			best = rs;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
	s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	cpu = (cb.tv_sec - ca.tv_sec) + (cb.tv_nsec - ca.tv_nsec) / 1e9;
	fprintf(stderr, "%s: %zu messages x %d rounds (%.1f MB): wall %.3f s "
	    "= %.0f msg/s; cpu %.3f s = %.0f msg/s, %.1f MB/s; malformed %zu, "
	    "truncated %zu, warnings seen %#x\n", gflag ? "GMime alone" :
	    "mime_parse", nfiles, rounds, bytes / 1e6, s, nfiles * rounds / s,
	    cpu, nfiles * rounds / cpu, bytes * rounds / cpu / 1e6, nmal,
	    ntrunc, w);
	if (best > 0)
		fprintf(stderr, "best round: cpu %.3f s = %.0f msg/s (%.1f us "
		    "per message)\n", best, nfiles / best, best * 1e6 / nfiles);
	mime_shutdown();
	return 0;
}
