// SPDX-License-Identifier: MIT
/* The bounded handshake queue and the worker that drains it (see handshake.h). */
#include "wg/handshake.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wg/device.h"

int wg_handshake_queue_init(struct wg_handshake_queue *q, unsigned cap)
{
	memset(q, 0, sizeof(*q));
	q->items = calloc(cap, sizeof(*q->items));
	if (!q->items)
		return -ENOMEM;
	if (pthread_mutex_init(&q->lock, NULL)) {
		free(q->items);
		return -ENOMEM;
	}
	if (pthread_cond_init(&q->nonempty, NULL)) {
		pthread_mutex_destroy(&q->lock);
		free(q->items);
		return -ENOMEM;
	}
	q->cap = cap;
	return 0;
}

void wg_handshake_queue_destroy(struct wg_handshake_queue *q)
{
	pthread_cond_destroy(&q->nonempty);
	pthread_mutex_destroy(&q->lock);
	free(q->items);
	q->items = NULL;
}

bool wg_handshake_queue_push(struct wg_handshake_queue *q, const uint8_t *buf, size_t len,
			     const struct ip_endpoint *src, const struct ip_addr *local, uint64_t now_ns)
{
	struct wg_handshake_item *it;
	bool was_empty;

	if (len > sizeof(it->buf))
		return false;
	pthread_mutex_lock(&q->lock);
	if (q->len == q->cap) {
		pthread_mutex_unlock(&q->lock);
		atomic_fetch_add(&q->dropped, 1);
		return false;
	}
	it = &q->items[(q->head + q->len) % q->cap];
	memcpy(it->buf, buf, len);
	it->len = (uint8_t)len;
	it->src = *src;
	if (local)
		it->local = *local;
	else
		memset(&it->local, 0, sizeof(it->local));
	was_empty = q->len++ == 0;
	if (q->len > q->cap / 8)
		atomic_store(&q->busy_until_ns, now_ns + WG_UNDER_LOAD_AFTER_TIME * NSEC_PER_SEC);
	pthread_mutex_unlock(&q->lock);
	/* Only an empty queue can have a waiting worker. */
	if (was_empty)
		pthread_cond_signal(&q->nonempty);
	return true;
}

unsigned wg_handshake_queue_pop(struct wg_handshake_queue *q, struct wg_handshake_item *out,
				unsigned max)
{
	unsigned n = 0;
	pthread_mutex_lock(&q->lock);
	while (!q->len && !q->stopping)
		pthread_cond_wait(&q->nonempty, &q->lock);
	while (!q->stopping && n < max && q->len) {
		out[n++] = q->items[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

void wg_handshake_queue_stop(struct wg_handshake_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_mutex_unlock(&q->lock);
	pthread_cond_broadcast(&q->nonempty);
}

bool wg_handshake_queue_busy(struct wg_handshake_queue *q, uint64_t now_ns)
{
	/* Read on every handshake message by the receive threads: no lock. */
	return now_ns < atomic_load(&q->busy_until_ns);
}

void *wg_handshake_worker(void *arg)
{
	struct wg_device *dev = arg;
	struct wg_handshake_item batch[WG_HANDSHAKE_BATCH];
	unsigned n;

	while ((n = wg_handshake_queue_pop(dev->handshakes, batch, WG_HANDSHAKE_BATCH)) > 0) {
		pthread_rwlock_rdlock(&dev->lock);
		for (unsigned i = 0; i < n; i++)
			wg_receive_handshake(dev, batch[i].buf, batch[i].len, &batch[i].src, &batch[i].local);
		pthread_rwlock_unlock(&dev->lock);
		wg_memzero(batch, sizeof(batch[0]) * n);
	}
	return NULL;
}
