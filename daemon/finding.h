/*
 * Findings: what analysers conclude about a message, each a symbol with a
 * score and a short detail. One list per message, filled on the worker that
 * runs the message's filters, then read by policy, tracking and headers.
 */
#ifndef MOAT_FINDING_H
#define MOAT_FINDING_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define FINDING_SYMBOL_MAX	48
#define FINDING_DETAIL_MAX	200
#define FINDINGS_MAX		500	/* more are counted, not kept */

struct finding {
	char	 symbol[FINDING_SYMBOL_MAX];	/* e.g. "BAYES_99" */
	double	 score;
	char	*detail;			/* owned, sanitised, may be NULL */
};

struct findings {
	struct finding	*v;
	size_t		 n;
	size_t		 cap;
	size_t		 dropped;
	double		 score;		/* sum of scores */
	/* Facts some filters set for policy to read. */
	char		*virus;		/* owned: signature name, or NULL */
	bool		 av_failed;	/* scanner could not scan: tempfail */
};

void	findings_init(struct findings *);
void	findings_free(struct findings *);
void	findings_add(struct findings *, const char *symbol, double score,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool	findings_has(const struct findings *, const char *symbol);
/* [{"symbol":..,"score":..,"detail":..}...]; new reference. */
json_t	*findings_to_json(const struct findings *);
/* "SYMBOL(score) SYMBOL(score)", for headers; caller frees. */
char	*findings_summary(const struct findings *, size_t max);

#endif
