/*
 * In-memory counters since start, for `status` and the dashboard. The hourly
 * counters that survive restarts live in the store (db_).
 * Loop thread only.
 */
#ifndef MOAT_STATS_H
#define MOAT_STATS_H

#include <stdint.h>

#include <jansson.h>

#include "track.h"

struct stats {
	int64_t		 started_ms;	/* wall clock at start */
	uint64_t	 connections;	/* accepted SMTP sessions */
	uint64_t	 refused;	/* over max_connections */
	uint64_t	 messages;
	uint64_t	 bytes;
	uint64_t	 outcomes[TRACK_OUTCOME_MAX];
};

extern struct stats	stats;

void	 stats_count_message(const struct track_rec *);
json_t	*stats_to_json(void);	/* new ref: counters and outcomes */

#endif
