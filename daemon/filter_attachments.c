/*
 * The attachments scan filter (see filter_attachments.h): settings from
 * filters.attachments, facts from attach.c, findings on the workers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "cfg.h"
#include "filter_attachments.h"
#include "finding.h"
#include "msg.h"
#include "xmalloc.h"

static const char *const attachments_keys[] = {
	"enabled", "max_depth", "max_members", "max_unpack", "scores", NULL
};

static const struct {
	const char	*symbol;
	double		 score;
} syms[FA_SYM_MAX] = {
	[FA_EXECUTABLE] = { "ATTACH_EXECUTABLE", 1.5 },
	[FA_DOUBLE_EXT] = { "ATTACH_DOUBLE_EXT", 3.0 },
	[FA_TYPE_MISMATCH] = { "ATTACH_TYPE_MISMATCH", 3.0 },
	[FA_BIDI_NAME] = { "ATTACH_BIDI_NAME", 3.0 },
	[FA_ARCHIVE_EXECUTABLE] = { "ARCHIVE_EXECUTABLE", 2.0 },
	[FA_ARCHIVE_NESTED] = { "ARCHIVE_NESTED", 1.0 },
	[FA_ARCHIVE_DAMAGED] = { "ARCHIVE_DAMAGED", 0.5 },
	[FA_ARCHIVE_ENCRYPTED] = { "ARCHIVE_ENCRYPTED", 0.0 },
	[FA_ARCHIVE_UNLISTED] = { "ARCHIVE_UNLISTED", 0.0 },
};

static int
get_scores(const struct cfg *c, struct filter_attachments_state *st,
    char **cause)
{
	config_setting_t	*s;
	const char		*keys[FA_SYM_MAX + 1];
	size_t			 i;

	s = cfg_section(c, "filters.attachments.scores");
	for (i = 0; i < FA_SYM_MAX; i++)
		keys[i] = syms[i].symbol;
	keys[FA_SYM_MAX] = NULL;
	if (cfg_check_keys(c, s, keys, cause) == -1)
		return -1;
	for (i = 0; i < FA_SYM_MAX; i++)
		if (cfg_get_float(c, s, syms[i].symbol, syms[i].score,
		    &st->scores[i], cause) == -1)
			return -1;
	return 0;
}

static int
attachments_init(const struct cfg *c, void **statep, char **cause)
{
	struct filter_attachments_state	*st;
	config_setting_t		*s;
	long long			 depth, members, unpack;

	*statep = NULL;
	s = cfg_section(c, "filters.attachments");
	st = xcalloc(1, sizeof *st);
	archlist_limits_default(&st->limits);
	if (cfg_check_keys(c, s, attachments_keys, cause) == -1 ||
	    cfg_get_int(c, s, "max_depth", ARCHLIST_DEPTH_DEFAULT, 1,
	    ARCHLIST_DEPTH_LIMIT, &depth, cause) == -1 ||
	    cfg_get_int(c, s, "max_members", ARCHLIST_MEMBERS_DEFAULT, 1,
	    ATTACH_MEMBERS_MAX, &members, cause) == -1 ||
	    cfg_get_int(c, s, "max_unpack", ARCHLIST_UNPACK_DEFAULT,
	    1024 * 1024, ATTACH_UNPACK_MAX, &unpack, cause) == -1 ||
	    get_scores(c, st, cause) == -1) {
		free(st);
		return -1;
	}
	st->limits.max_depth = (int)depth;
	st->limits.max_members = (size_t)members;
	st->limits.unpack_max = (size_t)unpack;
	*statep = st;
	return 0;
}

static void
attachments_free(void *st)
{
	free(st);
}

/* One symbol's hits: the first described, the rest counted. */
struct hit {
	size_t	 n;
	char	 what[160];
};

static void
hit(struct hit *h, const char *fmt, const char *a, const char *b)
{
	if (h->n++ == 0)
		snprintf(h->what, sizeof h->what, fmt, a, b);
}

static const char *
part_label(const struct attach_part *ap, char *buf, size_t len)
{
	if (ap->name != NULL)
		return ap->name;
	snprintf(buf, len, "part %d", ap->part);
	return buf;
}

void
filter_attachments_findings(const void *arg, const struct attach_facts *f,
    struct findings *out)
{
	const struct filter_attachments_state	*st = arg;
	const struct attach_part		*ap;
	const struct attach_member		*m;
	struct hit				 h[FA_SYM_MAX];
	char					 label[32];
	const char				*pl, *t;
	double					 score;
	size_t					 i, j;

	memset(h, 0, sizeof h);
	for (i = 0; f != NULL && i < f->nparts; i++) {
		ap = &f->parts[i];
		pl = part_label(ap, label, sizeof label);
		t = ap->sniffed != NULL ? ap->sniffed : ap->declared != NULL ?
		    ap->declared : "?";
		if (ap->flags & ATTACH_EXECUTABLE)
			hit(&h[FA_EXECUTABLE], "%s (%s)", pl, t);
		if (ap->flags & ATTACH_DOUBLE_EXT)
			hit(&h[FA_DOUBLE_EXT], "%s%s", pl, "");
		if (ap->flags & ATTACH_TYPE_MISMATCH)
			hit(&h[FA_TYPE_MISMATCH], "%s is %s", pl, t);
		if (ap->flags & ATTACH_BIDI_NAME)
			hit(&h[FA_BIDI_NAME], "%s%s", pl, "");
		if (ap->flags & ATTACH_NESTED)
			hit(&h[FA_ARCHIVE_NESTED], "%s%s", pl, "");
		if (ap->flags & ATTACH_DAMAGED)
			hit(&h[FA_ARCHIVE_DAMAGED], "%s (%s)", pl,
			    ap->format != NULL ? ap->format : "?");
		if (ap->flags & ATTACH_ENCRYPTED)
			hit(&h[FA_ARCHIVE_ENCRYPTED], "%s (%s)", pl,
			    ap->format != NULL ? ap->format : "?");
		if (ap->flags & ATTACH_UNLISTED)
			hit(&h[FA_ARCHIVE_UNLISTED], "%s%s", pl, "");
		for (j = 0; j < ap->nmembers; j++) {
			m = &f->members[ap->first_member + j];
			if (m->flags & ATTACH_EXECUTABLE)
				hit(&h[FA_ARCHIVE_EXECUTABLE], "%s in %s",
				    m->name, pl);
			if (m->flags & ATTACH_DOUBLE_EXT)
				hit(&h[FA_DOUBLE_EXT], "%s in %s", m->name,
				    pl);
			if (m->flags & ATTACH_TYPE_MISMATCH)
				hit(&h[FA_TYPE_MISMATCH], "%s in %s",
				    m->name, pl);
			if (m->flags & ATTACH_BIDI_NAME)
				hit(&h[FA_BIDI_NAME], "%s in %s", m->name, pl);
		}
	}
	for (i = 0; i < FA_SYM_MAX; i++) {
		if (h[i].n == 0 || findings_has(out, syms[i].symbol))
			continue;
		score = st != NULL ? st->scores[i] : syms[i].score;
		if (h[i].n == 1)
			findings_add(out, syms[i].symbol, score, "%s",
			    h[i].what);
		else
			findings_add(out, syms[i].symbol, score,
			    "%s and %zu more", h[i].what, h[i].n - 1);
	}
}

struct attach_facts *
filter_attachments_facts(const void *arg, const struct msg *m)
{
	const struct filter_attachments_state	*st = arg;

	return attach_facts_build(m, st != NULL ? &st->limits : NULL);
}

static void
attachments_run(void *arg, struct scan_ctx *ctx)
{
	struct attach_facts	*f;

	if (arg == NULL || ctx->msg == NULL)
		return;
	f = filter_attachments_facts(arg, ctx->msg);
	filter_attachments_findings(arg, f, ctx->findings);
	/* The policy's What objects read the same facts. */
	if (ctx->job != NULL && ctx->job->attach == NULL)
		ctx->job->attach = f;
	else
		attach_facts_free(f);
}

const struct scan_filter filter_attachments = {
	.name = "attachments",
	.init = attachments_init,
	.run = attachments_run,
	.free = attachments_free,
};
