// SPDX-License-Identifier: MIT
/* The relay's allocation table, permissions and channel bindings (alloc.h). */
#include "relay/alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool endpoint_equal(const struct ip_endpoint *a, const struct ip_endpoint *b)
{
	return a->port == b->port && ip_addr_equal(&a->addr, &b->addr);
}

/* FNV-1a over the address and port. */
static uint32_t endpoint_hash(const struct ip_endpoint *e)
{
	uint32_t h = 2166136261u;
	size_t n = e->addr.family == AF_INET6 ? 16 : 4;
	for (size_t i = 0; i < n; i++)
		h = (h ^ e->addr.bytes[i]) * 16777619u;
	h = (h ^ (e->port & 0xff)) * 16777619u;
	return (h ^ (e->port >> 8)) * 16777619u;
}

static uint32_t *port_bucket(const struct relay_alloc_table *t, uint16_t port)
{
	return &t->port_buckets[(port * 2654435761u >> 16) & (t->nbuckets - 1)];
}

int relay_alloc_table_init(struct relay_alloc_table *t, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = 16;
	while (t->nbuckets < 2 * cap)
		t->nbuckets <<= 1;
	t->slots = calloc(cap ? cap : 1, sizeof(*t->slots));
	t->buckets = malloc(t->nbuckets * sizeof(*t->buckets));
	t->port_buckets = malloc(t->nbuckets * sizeof(*t->port_buckets));
	if (!t->slots || !t->buckets || !t->port_buckets) {
		relay_alloc_table_free(t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->nbuckets; i++)
		t->buckets[i] = t->port_buckets[i] = RELAY_NO_SLOT;
	t->cap = cap;
	return 0;
}

void relay_alloc_table_free(struct relay_alloc_table *t)
{
	free(t->slots);
	free(t->buckets);
	free(t->port_buckets);
	memset(t, 0, sizeof(*t));
}

struct relay_alloc *relay_alloc_find(const struct relay_alloc_table *t, const struct ip_endpoint *client)
{
	uint32_t i = t->buckets[endpoint_hash(client) & (t->nbuckets - 1)];
	while (i != RELAY_NO_SLOT) {
		struct relay_alloc *a = &t->slots[i];
		if (endpoint_equal(&a->client, client))
			return a;
		i = a->next;
	}
	return NULL;
}

struct relay_alloc *relay_alloc_insert(struct relay_alloc_table *t, const struct ip_endpoint *client)
{
	uint32_t *bucket = &t->buckets[endpoint_hash(client) & (t->nbuckets - 1)];
	for (size_t i = 0; i < t->cap; i++) {
		struct relay_alloc *a = &t->slots[i];
		if (a->used)
			continue;
		memset(a, 0, sizeof(*a));
		a->used = true;
		a->client = *client;
		a->fd = -1;
		a->next = *bucket;
		*bucket = (uint32_t)i;
		t->used++;
		return a;
	}
	return NULL;
}

void relay_alloc_remove(struct relay_alloc_table *t, struct relay_alloc *a)
{
	uint32_t self = (uint32_t)(a - t->slots);
	uint32_t *link = &t->buckets[endpoint_hash(&a->client) & (t->nbuckets - 1)];
	while (*link != RELAY_NO_SLOT && *link != self)
		link = &t->slots[*link].next;
	if (*link == self)
		*link = a->next;
	if (a->has_port) {
		link = port_bucket(t, a->relayed_port);
		while (*link != RELAY_NO_SLOT && *link != self)
			link = &t->slots[*link].next_by_port;
		if (*link == self)
			*link = a->next_by_port;
	}
	a->used = false;
	t->used--;
}

void relay_alloc_set_port(struct relay_alloc_table *t, struct relay_alloc *a)
{
	uint32_t *bucket = port_bucket(t, a->relayed_port);
	a->next_by_port = *bucket;
	*bucket = (uint32_t)(a - t->slots);
	a->has_port = true;
}

struct relay_alloc *relay_alloc_by_port(const struct relay_alloc_table *t, uint16_t port)
{
	for (uint32_t i = *port_bucket(t, port); i != RELAY_NO_SLOT; i = t->slots[i].next_by_port)
		if (t->slots[i].relayed_port == port)
			return &t->slots[i];
	return NULL;
}

int relay_perm_add(struct relay_alloc *a, const struct ip_addr *peer, uint64_t now_ms)
{
	uint64_t until = now_ms + (uint64_t)TURN_PERMISSION_LIFETIME_S * 1000;
	for (size_t i = 0; i < a->n_perms; i++)
		if (ip_addr_equal(&a->perms[i].peer, peer)) {
			a->perms[i].expires_ms = until;
			return 0;
		}
	relay_alloc_expire_parts(a, now_ms);
	if (a->n_perms == RELAY_MAX_PERMISSIONS)
		return -ENOSPC;
	a->perms[a->n_perms].peer = *peer;
	a->perms[a->n_perms++].expires_ms = until;
	return 0;
}

bool relay_perm_check(const struct relay_alloc *a, const struct ip_addr *peer, uint64_t now_ms)
{
	for (size_t i = 0; i < a->n_perms; i++)
		if (ip_addr_equal(&a->perms[i].peer, peer))
			return a->perms[i].expires_ms > now_ms;
	return false;
}

int relay_chan_bind(struct relay_alloc *a, uint16_t channel, const struct ip_endpoint *peer, uint64_t now_ms)
{
	uint64_t until = now_ms + (uint64_t)TURN_CHANNEL_LIFETIME_S * 1000;
	relay_alloc_expire_parts(a, now_ms);
	for (size_t i = 0; i < a->n_chans; i++) {
		struct relay_channel *c = &a->chans[i];
		bool same_number = c->number == channel, same_peer = endpoint_equal(&c->peer, peer);
		if (same_number && same_peer) {
			c->expires_ms = until;
			return 0;
		}
		if (same_number || same_peer)
			return -EEXIST;
	}
	if (a->n_chans == RELAY_MAX_CHANNELS)
		return -ENOSPC;
	a->chans[a->n_chans].number = channel;
	a->chans[a->n_chans].peer = *peer;
	a->chans[a->n_chans++].expires_ms = until;
	return 0;
}

const struct relay_channel *relay_chan_by_number(const struct relay_alloc *a, uint16_t channel, uint64_t now_ms)
{
	for (size_t i = 0; i < a->n_chans; i++)
		if (a->chans[i].number == channel)
			return a->chans[i].expires_ms > now_ms ? &a->chans[i] : NULL;
	return NULL;
}

const struct relay_channel *relay_chan_by_peer(const struct relay_alloc *a, const struct ip_endpoint *peer,
					       uint64_t now_ms)
{
	for (size_t i = 0; i < a->n_chans; i++)
		if (endpoint_equal(&a->chans[i].peer, peer))
			return a->chans[i].expires_ms > now_ms ? &a->chans[i] : NULL;
	return NULL;
}

/*
 * RFC 8656 12: a channel number stays bound for 5 minutes after its
 * binding expired, so no stray ChannelData of the old peer reaches a new
 * one. Expired bindings are kept until then, and only the lookups treat
 * them as gone.
 */
#define CHANNEL_QUARANTINE_MS (300 * 1000)

void relay_alloc_expire_parts(struct relay_alloc *a, uint64_t now_ms)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n_perms; i++)
		if (a->perms[i].expires_ms > now_ms)
			a->perms[n++] = a->perms[i];
	a->n_perms = n;
	n = 0;
	for (size_t i = 0; i < a->n_chans; i++)
		if (a->chans[i].expires_ms + CHANNEL_QUARANTINE_MS > now_ms)
			a->chans[n++] = a->chans[i];
	a->n_chans = n;
}
