/*
 * Delivery: carries out what the pipeline decided for each recipient of an
 * analysed message (for now: relay to the next hop) and fills the job's
 * answers (per recipient, and the one SMTP answer). Loop thread.
 */
#ifndef MOAT_DELIVER_H
#define MOAT_DELIVER_H

struct scan_job;

typedef void	(*deliver_done_fn)(struct scan_job *);

/* done runs later from the loop with j->answers, j->reply, j->outcome set. */
void	deliver_start(struct scan_job *, deliver_done_fn done);

#endif
