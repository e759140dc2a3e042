/*
 * In-memory counters since start. Loop thread only.
 */
#include "stats.h"

struct stats	stats;

void
stats_count_message(const struct track_rec *r)
{
	stats.messages++;
	stats.bytes += r->size;
	if ((unsigned)r->outcome < TRACK_OUTCOME_MAX)
		stats.outcomes[r->outcome]++;
}

json_t *
stats_to_json(void)
{
	json_t	*o, *out;
	int	 i;

	out = json_object();
	for (i = 0; i < TRACK_OUTCOME_MAX; i++)
		json_object_set_new(out, track_outcome_name((enum track_outcome)i),
		    json_integer((json_int_t)stats.outcomes[i]));
	o = json_pack("{s:I, s:I, s:I, s:I, s:o}",
	    "connections", (json_int_t)stats.connections,
	    "refused", (json_int_t)stats.refused,
	    "messages", (json_int_t)stats.messages,
	    "bytes", (json_int_t)stats.bytes,
	    "outcomes", out);
	return o;
}
