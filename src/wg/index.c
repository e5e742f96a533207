// SPDX-License-Identifier: MIT
#include "wg/index.h"

#include <errno.h>
#include <stdlib.h>

#include "wg/crypto.h"
#include "wg/noise.h"

static unsigned bucket_of(uint32_t index)
{
	/* Indices are random, so their low bits spread evenly already. */
	return index % WG_INDEX_BUCKETS;
}

static struct wg_index_entry *find(struct wg_index_table *t, uint32_t index)
{
	struct wg_index_entry *e;
	LIST_FOREACH(e, &t->buckets[bucket_of(index)], link)
		if (e->index == index)
			return e;
	return NULL;
}

int wg_index_init(struct wg_index_table *t)
{
	for (unsigned i = 0; i < WG_INDEX_BUCKETS; i++)
		LIST_INIT(&t->buckets[i]);
	return pthread_mutex_init(&t->lock, NULL) ? -ENOMEM : 0;
}

void wg_index_destroy(struct wg_index_table *t)
{
	for (unsigned i = 0; i < WG_INDEX_BUCKETS; i++) {
		struct wg_index_entry *e;
		while ((e = LIST_FIRST(&t->buckets[i]))) {
			LIST_REMOVE(e, link);
			noise_keypair_put(e->keypair);
			free(e);
		}
	}
	pthread_mutex_destroy(&t->lock);
}

uint32_t wg_index_add_handshake(struct wg_index_table *t, struct wg_peer *peer)
{
	struct wg_index_entry *e = calloc(1, sizeof(*e));
	uint32_t index;
	if (!e)
		return 0;
	pthread_mutex_lock(&t->lock);
	do
		wg_random(&index, sizeof(index));
	while (index == 0 || find(t, index));
	e->index = index;
	e->kind = WG_INDEX_HANDSHAKE;
	e->peer = peer;
	LIST_INSERT_HEAD(&t->buckets[bucket_of(index)], e, link);
	pthread_mutex_unlock(&t->lock);
	return index;
}

int wg_index_promote(struct wg_index_table *t, uint32_t index, struct noise_keypair *kp)
{
	struct wg_index_entry *e;
	int ret = -ENOENT;
	pthread_mutex_lock(&t->lock);
	e = find(t, index);
	if (e && e->kind == WG_INDEX_HANDSHAKE) {
		e->kind = WG_INDEX_KEYPAIR;
		e->keypair = noise_keypair_get(kp);
		ret = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void wg_index_remove(struct wg_index_table *t, uint32_t index)
{
	struct wg_index_entry *e;
	if (!index)
		return;
	pthread_mutex_lock(&t->lock);
	e = find(t, index);
	if (e)
		LIST_REMOVE(e, link);
	pthread_mutex_unlock(&t->lock);
	if (e) {
		noise_keypair_put(e->keypair);
		free(e);
	}
}

int wg_index_lookup(struct wg_index_table *t, uint32_t index, unsigned kinds,
		    struct wg_peer **peer, struct noise_keypair **kp)
{
	struct wg_index_entry *e;
	int ret = -ENOENT;
	pthread_mutex_lock(&t->lock);
	e = find(t, index);
	if (e && (e->kind & kinds)) {
		*peer = e->peer;
		if (kp)
			*kp = noise_keypair_get(e->keypair);
		ret = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}
