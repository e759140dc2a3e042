/*
 * The filter pipeline. A message job carries everything a worker needs to
 * analyse one message (envelope, body, the engine snapshot) and what it
 * found. The loop thread builds the job at the end of DATA; scan_job_run
 * parses the message once and runs every enabled filter on a worker; the
 * loop thread then delivers it (daemon/deliver.c) and answers.
 *
 * Filters are a table (scan_filters[] in scan.c): one file per analyser
 * exporting one const struct scan_filter. Their shared state lives in an
 * engine snapshot, built at start and at reload, reference-counted; a job
 * keeps the snapshot it started with.
 */
#ifndef MOAT_SCAN_H
#define MOAT_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "finding.h"
#include "relay.h"
#include "smtp_parse.h"

#define SCAN_HEADER_MAX		998	/* longest header value kept */
#define SCAN_FILTERS_MAX	16
#define SCAN_PREPEND_MAX	8192	/* X-Moat-* header block */

struct attach_facts;
struct body;
struct msg;
struct policy;
struct policy_result;
struct pool;
struct scan_job;

struct scan_ctx {
	const struct cfg	*cfg;
	struct scan_job		*job;		/* envelope: mail, rcpts, client */
	struct msg		*msg;		/* parsed message, read-only */
	struct findings		*findings;
};

struct scan_filter {
	const char	*name;		/* its filters.NAME block */
	/* Build shared state (rules, signatures, stores). Loop thread, at
	 * start, at reload and for moatd -t. 0, or -1 with *cause. */
	int		(*init)(const struct cfg *, void **state, char **cause);
	/* Worker thread, many messages at once: add findings. */
	void		(*run)(void *state, struct scan_ctx *);
	void		(*free)(void *state);
};

struct scan_engine {
	int		 refs;		/* atomic */
	struct cfg	*cfg;		/* reference */
	void		*state[SCAN_FILTERS_MAX];
	bool		 on[SCAN_FILTERS_MAX];
	size_t		 non;		/* filters enabled */
};

/* Build every enabled filter's state. Loop thread. */
struct scan_engine *scan_engine_load(struct cfg *, char **cause);
struct scan_engine *scan_engine_ref(struct scan_engine *);
void		 scan_engine_unref(struct scan_engine *);	/* accepts NULL */
/* The current engine: loop thread only; swapped at reload. */
struct scan_engine *scan_engine_current(void);
void		 scan_engine_set_current(struct scan_engine *); /* takes ref */
/* The state of a filter in an engine, or NULL when off. */
void		*scan_engine_state(const struct scan_engine *, const char *name);

/* What moatd finally answers for one recipient. */
struct scan_answer {
	int		 code;		/* SMTP code */
	char		 reply[RELAY_REPLY_MAX + 128];
	int		 outcome;	/* enum track_outcome */
};

struct scan_job {
	uint64_t		 session_id;	/* not a pointer: may be gone */
	struct cfg		*cfg;		/* reference */
	struct scan_engine	*engine;	/* reference */
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

	struct policy		*policy;	/* reference, NULL: none */
	char			**rcpt_ptrs;	/* owned array of borrowed
						 * rcpts[i].addr, for policy */

	/* Written by the workers. */
	struct msg		*msg;		/* owned, NULL when not parsed */
	struct attach_facts	*attach;	/* owned, NULL: not built */
	struct policy_result	*pres;		/* owned: the decision */
	bool			 prep_failed;	/* policy_prepare failed */
	struct findings		 findings;
	bool			 scanned;	/* filters ran */
	bool			 spam;		/* score >= threshold */
	char			*prepend;	/* owned: header lines to add */
	char			*message_id;	/* owned, sanitised */
	char			*subject;	/* owned, decoded, sanitised */
	uint32_t		 scan_ms;

	/* Written by delivery (loop thread). */
	struct relay_rcpt	*relay_rcpts;	/* owned, one per rcpt */
	struct relay_msg	 relay;
	struct scan_answer	*answers;	/* owned, one per rcpt */
	int			 outcome;	/* enum track_outcome */
	char			 reply[RELAY_REPLY_MAX + 128]; /* SMTP answer */
};

/* The pool scan_submit uses (moatd sets it at start). */
void	 scan_set_pool(struct pool *);
/* Analyse the job, then call done(arg) on the loop thread: on a worker when
 * the enabled filters are worth the hand-over, else inline before return. */
void	 scan_submit(struct scan_job *, void (*done)(void *), void *arg);
void	 scan_job_run(void *job);	/* the analysis itself */
/* Run work on the scan pool (inline without one), then done on the loop. */
void	 scan_run_on_worker(struct scan_job *, void (*work)(void *),
	    void (*done)(void *), void *arg);
/* The spam verdict and the X-Moat-Spam-* lines from every finding so far
 * (after the network checks). Any thread. */
void	 scan_verdict(struct scan_job *);
bool	 scan_wants_worker(const struct scan_job *);
void	 scan_job_free(struct scan_job *);	/* accepts NULL */
/* Unfolded value of the first header called name in a header block, or
 * NULL. Caller frees. */
char	*scan_header_value(const char *head, size_t len, const char *name);

#endif
