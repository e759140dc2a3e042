/*
 * Worker pools with a completion queue back to the loop thread.
 * pool_submit/pool_destroy on the loop thread; work() on pool threads.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "pool.h"
#include "xmalloc.h"

struct pool_job {
	pool_work_fn	 work;
	pool_done_fn	 done;
	void		*arg;
	struct pool_job	*next;
};

struct pool_queue {
	struct pool_job	*head;
	struct pool_job	*tail;
};

struct pool {
	char		 name[32];
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct pool_queue todo;		/* under lock */
	struct pool_queue finished;	/* under lock */
	size_t		 nqueued;	/* under lock */
	size_t		 nbusy;		/* loop thread only */
	bool		 stopping;	/* under lock */
	int		 efd;
	struct event	*ev;
	pthread_t	*threads;
	int		 nthreads;
};

static void
queue_push(struct pool_queue *q, struct pool_job *j)
{
	j->next = NULL;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct pool_job *
queue_pop(struct pool_queue *q)
{
	struct pool_job	*j;

	if ((j = q->head) != NULL) {
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
	}
	return j;
}

static void *
pool_thread(void *arg)
{
	struct pool	*p = arg;
	struct pool_job	*j;
	uint64_t	 one = 1;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->todo.head == NULL && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		if ((j = queue_pop(&p->todo)) == NULL) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->nqueued--;
		pthread_mutex_unlock(&p->lock);

		j->work(j->arg);

		pthread_mutex_lock(&p->lock);
		queue_push(&p->finished, j);
		pthread_mutex_unlock(&p->lock);
		while (write(p->efd, &one, sizeof one) == -1 && errno == EINTR)
			;
	}
}

static void
pool_complete(struct pool *p)
{
	struct pool_queue q;
	struct pool_job	*j;

	pthread_mutex_lock(&p->lock);
	q = p->finished;
	p->finished.head = p->finished.tail = NULL;
	pthread_mutex_unlock(&p->lock);
	while ((j = queue_pop(&q)) != NULL) {
		p->nbusy--;
		if (j->done != NULL)
			j->done(j->arg);
		free(j);
	}
}

static void
pool_wakeup(evutil_socket_t fd, short what, void *arg)
{
	uint64_t	n;

	(void)what;
	if (read(fd, &n, sizeof n) == -1 && errno != EAGAIN)
		log_warn("pool read eventfd");
	pool_complete(arg);
}

struct pool *
pool_create(struct event_base *base, const char *name, int nthreads)
{
	struct pool	*p;
	int		 i, rc;

	p = xcalloc(1, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if ((p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("eventfd");
	p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, pool_wakeup, p);
	if (p->ev == NULL || event_add(p->ev, NULL) == -1)
		fatalx("pool %s: event", name);
	p->nthreads = nthreads < 1 ? 1 : nthreads;
	p->threads = xcalloc((size_t)p->nthreads, sizeof *p->threads);
	for (i = 0; i < p->nthreads; i++) {
		if ((rc = pthread_create(&p->threads[i], NULL, pool_thread,
		    p)) != 0) {
			errno = rc;
			fatal("pool %s: pthread_create", name);
		}
	}
	return p;
}

void
pool_submit(struct pool *p, pool_work_fn work, pool_done_fn done, void *arg)
{
	struct pool_job	*j;

	j = xmalloc(sizeof *j);
	j->work = work;
	j->done = done;
	j->arg = arg;
	p->nbusy++;
	pthread_mutex_lock(&p->lock);
	queue_push(&p->todo, j);
	p->nqueued++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

size_t
pool_queued(struct pool *p)
{
	size_t	n;

	pthread_mutex_lock(&p->lock);
	n = p->nqueued;
	pthread_mutex_unlock(&p->lock);
	return n;
}

size_t
pool_busy(struct pool *p)
{
	return p->nbusy;
}

void
pool_destroy(struct pool *p)
{
	int	i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pool_complete(p);
	event_free(p->ev);
	close(p->efd);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p);
}
