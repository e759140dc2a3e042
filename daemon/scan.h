/*
 * A message job: everything a worker needs to process one message (the
 * envelope, the body, the configuration snapshot) and what it found. The
 * loop thread builds it at the end of DATA, scan_job_run analyses it
 * (filters plug in here), then the loop thread relays it and answers.
 */
#ifndef MOAT_SCAN_H
#define MOAT_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "relay.h"
#include "smtp_parse.h"

#define SCAN_HEADER_MAX	998	/* longest header value kept for tracking */

struct body;

struct scan_job {
	uint64_t		 session_id;	/* not a pointer: may be gone */
	struct cfg		*cfg;		/* reference */
	char			 queue_id[24];
	enum direction		 direction;
	bool			 lmtp;
	int64_t			 time_ms;	/* wall clock at end of DATA */
	uint64_t		 start_mono;

	char			*helo;		/* owned */
	char			*client_addr;	/* owned */
	char			*client_name;	/* owned, may be NULL */
	bool			 have_xforward;
	struct smtp_xforward	 xforward;
	struct smtp_mail_args	 mail;
	struct smtp_rcpt_args	*rcpts;		/* owned */
	size_t			 nrcpts;
	struct body		*body;		/* owned */

	/* Results, written by the worker. */
	char			*message_id;	/* owned, sanitised */
	char			*subject;	/* owned, decoded, sanitised */
	struct relay_rcpt	*relay_rcpts;	/* owned, one per rcpt */
	struct relay_msg	 relay;
};

/* Analyse the message and prepare its relay: on a worker thread when
 * scan_wants_worker says the enabled filters are worth the hand-over,
 * else inline on the loop thread. */
void	scan_job_run(void *job);
bool	scan_wants_worker(const struct cfg *);
void	scan_job_free(struct scan_job *);	/* accepts NULL */
/* Unfolded value of the first header called name in a header block, or
 * NULL. Caller frees. Exposed for tests. */
char	*scan_header_value(const char *head, size_t len, const char *name);

#endif
