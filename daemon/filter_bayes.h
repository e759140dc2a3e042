/*
 * The Bayes scan filter: classifies each message against the token store
 * and adds a BAYES_* finding; learns confident verdicts (autolearn).
 * init/free on the loop thread, run and autolearn on any thread.
 */
#ifndef MOAT_FILTER_BAYES_H
#define MOAT_FILTER_BAYES_H

#include <stdbool.h>
#include <stdint.h>

#include "bayes.h"
#include "scan.h"

#define FILTER_BAYES_DB_DEFAULT		"bayes.db"	/* beside the store */
#define FILTER_BAYES_MIN_LEARNED	200	/* each of spam and ham */
#define FILTER_BAYES_AUTOLEARN_SPAM	12.0
#define FILTER_BAYES_AUTOLEARN_HAM	0.1
#define FILTER_BAYES_EXPIRE_DAYS	90
#define FILTER_BAYES_EXPIRE_KEEP	5	/* spam + ham: kept anyway */

struct db_bayes;
struct findings;
struct msg;

extern const struct scan_filter	filter_bayes;

/* The settings and store of an engine's Bayes filter. */
struct filter_bayes_state {
	struct db_bayes		*store;		/* reference */
	struct bayes_params	 params;
	uint32_t		 min_learned;
	bool			 autolearn;
	double			 autolearn_spam;
	double			 autolearn_ham;
};

/*
 * Call once the message's final score is known (every filter and network
 * check done): when autolearn is on and the score without Bayes' own
 * points is >= autolearn_spam (or <= autolearn_ham), the message is queued
 * for learning. Never blocks on the store: it tokenizes the message (CPU
 * only, about as long as classifying it) and queues. Any thread; state is
 * scan_engine_state(engine, "bayes") and may be NULL (Bayes off). Returns
 * true when the message was queued.
 */
bool	filter_bayes_autolearn(void *state, const struct msg *,
	    const struct findings *);

#endif
