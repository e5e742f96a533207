// SPDX-License-Identifier: MIT
/* Parallel work with the order kept (see ordered.h). */
#include "wg/ordered.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "wg/placement.h"

TAILQ_HEAD(wg_batch_list, wg_batch);

struct wg_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;  /* a batch was submitted, or stop */
	pthread_cond_t done;  /* a chunk of a batch whose owner waits is done */
	pthread_cond_t left;  /* a worker left a batch */
	struct wg_batch_list batches; /* submitted, not yet ended */
	bool stop;
	unsigned idle; /* workers waiting for a batch */
	unsigned workers;
	pthread_t threads[];
};

/* Claims and runs one chunk of b; false when none was left. */
static bool run_chunk(struct wg_pool *p, struct wg_batch *b)
{
	unsigned c = atomic_fetch_add(&b->next_chunk, 1), end;
	if (c >= b->n_chunks)
		return false;
	end = (c + 1) * b->chunk < b->n ? (c + 1) * b->chunk : b->n;
	for (unsigned i = c * b->chunk; i < end; i++)
		b->work(b->ctx, i);
	/*
	 * Sequentially consistent with the owner's store of waiting and its
	 * load of done: either it sees this chunk done, or this sees it
	 * waiting and wakes it (under the lock it holds until it sleeps).
	 */
	atomic_store(&b->done[c], true);
	if (atomic_load(&b->waiting)) {
		pthread_mutex_lock(&p->lock);
		pthread_cond_broadcast(&p->done);
		pthread_mutex_unlock(&p->lock);
	}
	return true;
}

/* The first submitted batch with chunks left to claim, or NULL; with the lock held. */
static struct wg_batch *claimable(struct wg_pool *p)
{
	struct wg_batch *b;
	TAILQ_FOREACH(b, &p->batches, link)
		if (atomic_load_explicit(&b->next_chunk, memory_order_relaxed) < b->n_chunks)
			return b;
	return NULL;
}

static void *worker(void *arg)
{
	struct wg_pool *p = arg;
	/* Data-path work: wake-ups preempt busy tasks, as the readers' do. */
	(void)wg_thread_set_policy(WG_THREAD_SHORT_SLICE);
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct wg_batch *b = claimable(p);
		if (!b) {
			p->idle++;
			pthread_cond_wait(&p->work, &p->lock);
			p->idle--;
			continue;
		}
		b->users++;
		pthread_mutex_unlock(&p->lock);
		while (run_chunk(p, b))
			;
		pthread_mutex_lock(&p->lock);
		if (--b->users == 0)
			pthread_cond_broadcast(&p->left);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct wg_pool *wg_pool_new(unsigned workers, const char *ifname)
{
	struct wg_pool *p = calloc(1, sizeof(*p) + workers * sizeof(p->threads[0]));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	pthread_cond_init(&p->left, NULL);
	TAILQ_INIT(&p->batches);
	for (; p->workers < workers; p->workers++) {
		char name[16];
		if (pthread_create(&p->threads[p->workers], NULL, worker, p)) {
			wg_pool_free(p);
			return NULL;
		}
		snprintf(name, sizeof(name), "crypt%u:%s", p->workers, ifname);
		pthread_setname_np(p->threads[p->workers], name);
	}
	return p;
}

void wg_pool_free(struct wg_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->workers; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->left);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

unsigned wg_pool_workers(const struct wg_pool *p)
{
	return p ? p->workers : 0;
}

void wg_batch_start(struct wg_pool *p, struct wg_batch *b, unsigned n, unsigned min_chunk,
		    void (*work)(void *ctx, unsigned item), void *ctx)
{
	unsigned chunk = (n + WG_BATCH_MAX_CHUNKS - 1) / WG_BATCH_MAX_CHUNKS;
	b->work = work;
	b->ctx = ctx;
	b->n = n;
	b->chunk = chunk > min_chunk ? chunk : (min_chunk ? min_chunk : 1);
	b->n_chunks = (n + b->chunk - 1) / b->chunk;
	b->users = 0;
	atomic_store(&b->next_chunk, 0);
	atomic_store(&b->waiting, false);
	for (unsigned c = 0; c < b->n_chunks; c++)
		atomic_store_explicit(&b->done[c], false, memory_order_relaxed);
	b->shared = false;
	if (!p->workers || b->n_chunks < 2)
		return; /* nobody to share with: the owner claims every chunk */
	pthread_mutex_lock(&p->lock);
	/*
	 * Every worker busy (other readers' batches): the owner does its own
	 * rather than queue behind them, or wait for a chunk that a worker
	 * claimed and was then preempted on an overloaded machine.
	 */
	if (!p->idle) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	b->shared = true;
	TAILQ_INSERT_TAIL(&p->batches, b, link);
	/* One chunk is the owner's, as it starts walking the batch at once. */
	if (b->n_chunks > 2)
		pthread_cond_broadcast(&p->work);
	else if (b->n_chunks == 2)
		pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

void wg_batch_wait(struct wg_pool *p, struct wg_batch *b, unsigned item)
{
	unsigned c = item / b->chunk;
	while (!atomic_load(&b->done[c])) {
		if (run_chunk(p, b))
			continue;
		/* Every chunk is claimed: c is being worked on by a worker. */
		atomic_store(&b->waiting, true);
		pthread_mutex_lock(&p->lock);
		while (!atomic_load(&b->done[c]))
			pthread_cond_wait(&p->done, &p->lock);
		pthread_mutex_unlock(&p->lock);
	}
}

void wg_batch_end(struct wg_pool *p, struct wg_batch *b)
{
	for (unsigned c = 0; c < b->n_chunks; c++)
		wg_batch_wait(p, b, c * b->chunk);
	if (!b->shared)
		return;
	pthread_mutex_lock(&p->lock);
	TAILQ_REMOVE(&p->batches, b, link);
	while (b->users)
		pthread_cond_wait(&p->left, &p->lock);
	pthread_mutex_unlock(&p->lock);
}
