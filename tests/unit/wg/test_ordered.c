// SPDX-License-Identifier: MIT
/*
 * The ordered batches of parallel cryptography (src/wg/ordered.h): every
 * item's work runs exactly once, on several threads when the pool has
 * workers, and the owner reads each item's result in order, complete.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "wg/ordered.h"

#define ITEMS 1000

struct job {
	atomic_uint runs[ITEMS];
	uint64_t result[ITEMS];
	pthread_t ran_on[ITEMS];
	unsigned slow_every; /* every so many items sleeps 50 us: completions come out of order */
};

static void work(void *ctx, unsigned i)
{
	struct job *j = ctx;
	if (j->slow_every && i % j->slow_every == 0)
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 }, NULL);
	j->result[i] = (uint64_t)i * 2654435761u + 1;
	j->ran_on[i] = pthread_self();
	atomic_fetch_add(&j->runs[i], 1);
}

/* Starts a batch of n items, walks it in order checking each result, ends it. */
static void run_batch(struct wg_pool *p, struct wg_batch *b, struct job *j, unsigned n, unsigned chunk)
{
	for (unsigned i = 0; i < n; i++) {
		atomic_store(&j->runs[i], 0);
		j->result[i] = 0;
	}
	wg_batch_start(p, b, n, chunk, work, j);
	for (unsigned i = 0; i < n; i++) {
		wg_batch_wait(p, b, i);
		/* Complete when its turn comes, whichever thread did it and when. */
		assert_int_equal(j->result[i], (uint64_t)i * 2654435761u + 1);
		assert_int_equal(atomic_load(&j->runs[i]), 1);
	}
	wg_batch_end(p, b);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(atomic_load(&j->runs[i]), 1);
}

static void every_item_once_in_order_without_workers(void **state)
{
	struct wg_pool *p = wg_pool_new(0, "t");
	struct wg_batch b;
	struct job *j = calloc(1, sizeof(*j));
	assert_non_null(p);
	assert_int_equal(wg_pool_workers(p), 0);
	for (unsigned n = 1; n <= ITEMS; n += 97)
		run_batch(p, &b, j, n, 4);
	for (unsigned i = 0; i < ITEMS; i++)
		assert_true(pthread_equal(j->ran_on[i], pthread_self()) || !j->runs[i]);
	wg_pool_free(p);
	free(j);
}

static void every_item_once_in_order_with_workers(void **state)
{
	struct wg_pool *p = wg_pool_new(3, "t");
	struct wg_batch b; /* reused: wg_batch_end hands it back */
	struct job *j = calloc(1, sizeof(*j));
	assert_non_null(p);
	assert_int_equal(wg_pool_workers(p), 3);
	j->slow_every = 7;
	for (unsigned round = 0; round < 50; round++)
		run_batch(p, &b, j, round % 2 ? ITEMS : 1 + round * 13, 1 + round % 8);
	wg_pool_free(p);
	free(j);
}

static void the_workers_share_the_work(void **state)
{
	/* Slow items, one per chunk: the owner alone would do them all only if the pool did nothing. */
	struct wg_pool *p = wg_pool_new(2, "t");
	struct wg_batch b;
	struct job *j = calloc(1, sizeof(*j));
	unsigned others = 0;
	assert_non_null(p);
	j->slow_every = 1;
	/* A batch is shared only with idle workers: the new ones may not be waiting yet. */
	for (int tries = 0; !others && tries < 1000; tries++) {
		run_batch(p, &b, j, 200, 1);
		for (unsigned i = 0; i < 200; i++)
			others += !pthread_equal(j->ran_on[i], pthread_self());
	}
	assert_true(others > 0);
	wg_pool_free(p);
	free(j);
}

struct owner {
	struct wg_pool *p;
	struct job *j;
};

static void *owner_thread(void *arg)
{
	struct owner *o = arg;
	struct wg_batch b;
	for (unsigned round = 0; round < 30; round++)
		run_batch(o->p, &b, o->j, ITEMS, 8);
	return NULL;
}

static void two_owners_share_one_pool(void **state)
{
	/* As the UDP readers of both families and a TUN reader may at once. */
	struct wg_pool *p = wg_pool_new(2, "t");
	struct owner o[2] = { { p, calloc(1, sizeof(struct job)) }, { p, calloc(1, sizeof(struct job)) } };
	pthread_t t[2];
	assert_non_null(p);
	o[0].j->slow_every = 11;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, owner_thread, &o[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	wg_pool_free(p);
	free(o[0].j);
	free(o[1].j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_item_once_in_order_without_workers),
		cmocka_unit_test(every_item_once_in_order_with_workers),
		cmocka_unit_test(the_workers_share_the_work),
		cmocka_unit_test(two_owners_share_one_pool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
