/*
 * The attachments scan filter: attachment facts (attach.h) as findings for
 * the spam score and the policy. init/free on the loop thread, run on any
 * worker.
 *
 * Findings (default scores; filters.attachments.scores overrides them):
 * ATTACH_EXECUTABLE 1.5, ATTACH_DOUBLE_EXT 3, ATTACH_TYPE_MISMATCH 3,
 * ATTACH_BIDI_NAME 3, ARCHIVE_EXECUTABLE 2, ARCHIVE_NESTED 1,
 * ARCHIVE_DAMAGED 0.5, ARCHIVE_ENCRYPTED 0 (ClamAV's ENCRYPTED_ARCHIVE
 * carries the score), ARCHIVE_UNLISTED 0.
 */
#ifndef MOAT_FILTER_ATTACHMENTS_H
#define MOAT_FILTER_ATTACHMENTS_H

#include "archlist.h"
#include "scan.h"

struct attach_facts;
struct msg;

extern const struct scan_filter	filter_attachments;

enum filter_attachments_sym {
	FA_EXECUTABLE = 0,
	FA_DOUBLE_EXT,
	FA_TYPE_MISMATCH,
	FA_BIDI_NAME,
	FA_ARCHIVE_EXECUTABLE,
	FA_ARCHIVE_NESTED,
	FA_ARCHIVE_DAMAGED,
	FA_ARCHIVE_ENCRYPTED,
	FA_ARCHIVE_UNLISTED,
	FA_SYM_MAX
};

struct filter_attachments_state {
	struct archlist_limits	 limits;
	double			 scores[FA_SYM_MAX];
};

/* The facts of m under the filter's limits (state NULL: defaults); caller
 * frees with attach_facts_free. Any thread. */
struct attach_facts *filter_attachments_facts(const void *state,
		    const struct msg *m);
/* Adds the findings facts call for. Any thread. */
void		 filter_attachments_findings(const void *state,
		    const struct attach_facts *, struct findings *);

#endif
