/*
 * Worker pools: the loop thread submits jobs; a worker thread runs work(),
 * then the loop thread runs done() from the completion queue, woken by an
 * eventfd. Workers never call libevent. Jobs are run in submission order
 * per pool, done() in completion order.
 */
#ifndef MOAT_POOL_H
#define MOAT_POOL_H

#include <stddef.h>

struct event_base;
struct pool;

typedef void	(*pool_work_fn)(void *arg);	/* on a worker thread */
typedef void	(*pool_done_fn)(void *arg);	/* on the loop thread */

struct pool	*pool_create(struct event_base *, const char *name,
		    int nthreads);
/* Loop thread. done may be NULL. */
void		 pool_submit(struct pool *, pool_work_fn, pool_done_fn,
		    void *arg);
size_t		 pool_queued(struct pool *);	/* waiting, not running */
size_t		 pool_busy(struct pool *);	/* queued + running */
/* Loop thread: finish every job (running done() for each), then free. */
void		 pool_destroy(struct pool *);

#endif
