/* SPDX-License-Identifier: MIT */
/*
 * Parallel work with the order kept: the cryptography of a batch of
 * packets runs on a device's worker threads and on the thread that owns
 * the batch, and that thread consumes the results in the batch's order.
 *
 * The kernel module and wireguard-go keep a peer's packets in order with a
 * per-peer queue of jobs that any worker completes and that is drained in
 * order. Here the batch is that queue: the owner (a UDP or TUN reader)
 * submits its batch, the workers claim chunks of it in order and mark each
 * done, and the owner walks it from the start, waiting only for a chunk
 * that is not done yet and claiming unclaimed chunks itself instead of
 * waiting idle. Packets are handed on in the order they were read, which
 * for one peer's data socket is the order they arrived: no flow is
 * reordered by the parallelism. A pool without workers (one CPU), or whose
 * workers are all busy with other batches, leaves every chunk to the owner.
 *
 * A batch lives in its owner's memory; after wg_batch_end no worker
 * touches it, so it may be reused.
 */
#ifndef OVL_WG_ORDERED_H
#define OVL_WG_ORDERED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/queue.h>

/* Chunks per batch at most; a batch of more items gets bigger chunks. */
#define WG_BATCH_MAX_CHUNKS 256

struct wg_pool;

struct wg_batch {
	void (*work)(void *ctx, unsigned item); /* one item's parallel part */
	void *ctx;
	unsigned n, chunk, n_chunks;
	atomic_uint next_chunk;	     /* the first chunk nobody claimed */
	atomic_bool waiting;	     /* the owner may sleep: signal completions */
	atomic_bool done[WG_BATCH_MAX_CHUNKS];
	unsigned users;		     /* workers inside the batch; under the pool's lock */
	bool shared;		     /* in the pool's list (else the owner does it all) */
	TAILQ_ENTRY(wg_batch) link;  /* in the pool's list while submitted */
};

/*
 * A pool of workers threads named "crypt<i>:<ifname>"; 0 workers is a
 * valid pool (the owners do everything). NULL when out of memory or
 * threads.
 */
struct wg_pool *wg_pool_new(unsigned workers, const char *ifname);
/* Stops and joins the workers; no batch may be submitted. */
void wg_pool_free(struct wg_pool *p);
unsigned wg_pool_workers(const struct wg_pool *p);

/*
 * Submits n items (n > 0) in chunks of at least min_chunk items: work(ctx,
 * i) will run once for each, on any thread.
 */
void wg_batch_start(struct wg_pool *p, struct wg_batch *b, unsigned n, unsigned min_chunk,
		    void (*work)(void *ctx, unsigned item), void *ctx);
/* Returns once item's work is done (its results may be read), helping meanwhile. */
void wg_batch_wait(struct wg_pool *p, struct wg_batch *b, unsigned item);
/* Waits for every item and takes the batch back from the workers. */
void wg_batch_end(struct wg_pool *p, struct wg_batch *b);

#endif
