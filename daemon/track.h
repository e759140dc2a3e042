/*
 * A tracking record: the story of one message, built by the loop thread when
 * the message is finished, then handed (owned) to the db writer and turned
 * into a live event for subscribed control clients.
 */
#ifndef MOAT_TRACK_H
#define MOAT_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define TRACK_TEXT_MAX	998	/* longest stored subject or reply */

enum track_outcome {
	TRACK_RELAYED = 0,
	TRACK_TEMPFAILED,
	TRACK_REJECTED,
	TRACK_QUARANTINED,
	TRACK_BLOCKED,
	TRACK_RELEASED,		/* from the quarantine to the next hop */
	TRACK_DELETED,		/* from the quarantine, or purged */
	TRACK_OUTCOME_MAX
};

struct track_rcpt {
	char			*addr;		/* owned */
	enum track_outcome	 outcome;
	char			*reply;		/* owned: answer given for it */
};

struct track_rec {
	char			 queue_id[24];
	char			*node;		/* all char * owned */
	int64_t			 time_ms;	/* wall clock at DATA end */
	const char		*direction;	/* static string */
	char			*client_addr;
	char			*client_name;
	char			*helo;
	char			*sender;
	struct track_rcpt	*rcpts;
	size_t			 nrcpts;
	uint64_t		 size;
	char			*message_id;	/* sanitised */
	char			*subject;	/* sanitised, UTF-8 */
	enum track_outcome	 outcome;
	char			*reply;		/* answer moatd gave */
	char			*relay_reply;	/* next hop's answer, or NULL */
	bool			 scanned;	/* filters ran: score valid */
	const char		*verdict;	/* static: clean, spam, virus,
						 * or NULL when not scanned */
	double			 score;
	json_t			*findings;	/* reference: [{symbol,score,
						 * detail}], or NULL */
	uint32_t		 duration_ms;	/* DATA end to answer */
	uint32_t		 relay_ms;	/* time talking to next hop */
};

const char	*track_outcome_name(enum track_outcome);
int		 track_outcome_parse(const char *, enum track_outcome *);
struct track_rec *track_rec_new(void);
void		 track_rec_free(struct track_rec *);	/* accepts NULL */
json_t		*track_rec_to_json(const struct track_rec *);	/* new ref */

#endif
