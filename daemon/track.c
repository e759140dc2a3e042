/*
 * Tracking records: construction, names and their JSON shape (the same
 * shape tracking.get answers and tracking events carry).
 * Any thread; a record belongs to one thread at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "track.h"
#include "xmalloc.h"

static const char *const outcome_names[TRACK_OUTCOME_MAX] = {
	[TRACK_RELAYED] = "relayed",
	[TRACK_TEMPFAILED] = "tempfailed",
	[TRACK_REJECTED] = "rejected",
	[TRACK_QUARANTINED] = "quarantined",
	[TRACK_BLOCKED] = "blocked",
	[TRACK_RELEASED] = "released",
	[TRACK_DELETED] = "deleted",
};

const char *
track_outcome_name(enum track_outcome o)
{
	if ((unsigned)o >= TRACK_OUTCOME_MAX)
		return "unknown";
	return outcome_names[o];
}

int
track_outcome_parse(const char *s, enum track_outcome *out)
{
	int	i;

	for (i = 0; i < TRACK_OUTCOME_MAX; i++) {
		if (strcmp(s, outcome_names[i]) == 0) {
			*out = (enum track_outcome)i;
			return 0;
		}
	}
	return -1;
}

struct track_rec *
track_rec_new(void)
{
	return xcalloc(1, sizeof(struct track_rec));
}

void
track_rec_free(struct track_rec *r)
{
	size_t	i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nrcpts; i++) {
		free(r->rcpts[i].addr);
		free(r->rcpts[i].reply);
	}
	free(r->rcpts);
	free(r->node);
	free(r->client_addr);
	free(r->client_name);
	free(r->helo);
	free(r->sender);
	free(r->message_id);
	free(r->subject);
	free(r->reply);
	free(r->relay_reply);
	json_decref(r->findings);
	free(r);
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
track_rec_to_json(const struct track_rec *r)
{
	json_t	*o, *rcpts, *rc;
	size_t	 i;

	rcpts = json_array();
	for (i = 0; i < r->nrcpts; i++) {
		rc = json_pack("{s:s, s:s, s:o}", "address", r->rcpts[i].addr,
		    "outcome", track_outcome_name(r->rcpts[i].outcome),
		    "reply", str_or_null(r->rcpts[i].reply));
		json_array_append_new(rcpts, rc);
	}
	o = json_pack("{s:s, s:o, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:I, "
	    "s:o, s:o, s:s, s:o, s:o, s:I, s:I}",
	    "queue_id", r->queue_id,
	    "node", str_or_null(r->node),
	    "time_ms", (json_int_t)r->time_ms,
	    "direction", r->direction != NULL ? r->direction : "inbound",
	    "client_addr", str_or_null(r->client_addr),
	    "client_name", str_or_null(r->client_name),
	    "helo", str_or_null(r->helo),
	    "sender", str_or_null(r->sender),
	    "rcpts", rcpts,
	    "size", (json_int_t)r->size,
	    "message_id", str_or_null(r->message_id),
	    "subject", str_or_null(r->subject),
	    "outcome", track_outcome_name(r->outcome),
	    "reply", str_or_null(r->reply),
	    "relay_reply", str_or_null(r->relay_reply),
	    "duration_ms", (json_int_t)r->duration_ms,
	    "relay_ms", (json_int_t)r->relay_ms);
	json_object_set_new(o, "score", r->scanned ? json_real(r->score) :
	    json_null());
	json_object_set_new(o, "verdict", r->verdict != NULL ?
	    json_string(r->verdict) : json_null());
	json_object_set(o, "findings", r->findings != NULL ? r->findings :
	    json_null());
	return o;
}
