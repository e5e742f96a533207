// SPDX-License-Identifier: MIT
/* Per-client quota and fair share of the relay (fair.h). */
#include "relay/fair.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The learned capacity loses 1/64 per epoch, so a peak from long ago fades in seconds. */
#define CAPACITY_DECAY_SHIFT 6

int relay_fair_init(struct relay_fair *f, size_t cap, uint32_t allocs_per_client)
{
	memset(f, 0, sizeof(*f));
	f->clients = calloc(cap ? cap : 1, sizeof(*f->clients));
	if (!f->clients)
		return -ENOMEM;
	f->cap = cap;
	f->allocs_per_client = allocs_per_client;
	return 0;
}

void relay_fair_free(struct relay_fair *f)
{
	free(f->clients);
	f->clients = NULL;
}

/* Control path only (allocate, delete): a scan of at most max_sessions entries. */
struct relay_client *relay_fair_acquire(struct relay_fair *f, const struct ip_addr *ip)
{
	struct relay_client *spare = NULL;
	for (size_t i = 0; i < f->cap; i++) {
		struct relay_client *c = &f->clients[i];
		if (!c->used) {
			if (!spare)
				spare = c;
			continue;
		}
		if (ip_addr_equal(&c->ip, ip)) {
			if (c->allocs >= f->allocs_per_client)
				return NULL;
			c->allocs++;
			return c;
		}
	}
	if (!spare || f->allocs_per_client == 0)
		return NULL;
	memset(spare, 0, sizeof(*spare));
	spare->used = true;
	spare->ip = *ip;
	spare->allocs = 1;
	return spare;
}

void relay_fair_release(struct relay_fair *f, struct relay_client *c)
{
	if (c->allocs > 0 && --c->allocs == 0)
		c->used = false;
}

static void next_epoch(struct relay_fair *f, uint64_t now_ms)
{
	uint32_t active = 0;
	/* An idle gap of more than one epoch means nobody was active in the last one. */
	bool gap = now_ms - f->epoch_start_ms >= 2 * RELAY_FAIR_EPOCH_MS;

	for (size_t i = 0; i < f->cap; i++) {
		struct relay_client *c = &f->clients[i];
		if (!c->used)
			continue;
		c->last_bytes = gap ? 0 : c->bytes;
		active += c->last_bytes > 0;
		c->bytes = 0;
	}
	f->last_epoch_bytes = gap ? 0 : f->epoch_bytes;
	/* When the share held someone back, less was forwarded by choice: not a sign of less capacity. */
	if (!f->limited)
		f->capacity -= f->capacity >> CAPACITY_DECAY_SHIFT;
	f->limited = false;
	if (f->last_epoch_bytes > f->capacity)
		f->capacity = f->last_epoch_bytes;
	f->active = active;
	f->enforce = f->congested && !gap;
	f->congested = false;
	f->equal = active ? f->capacity / active : f->capacity;
	f->reserved = 0;
	for (size_t i = 0; i < f->cap; i++) {
		struct relay_client *c = &f->clients[i];
		if (!c->used)
			continue;
		c->reserve = 2 * c->last_bytes < f->equal ? 2 * c->last_bytes : f->equal;
		f->reserved += c->reserve;
	}
	f->epoch_bytes = 0;
	f->epoch_start_ms = now_ms;
}

void relay_fair_congested(struct relay_fair *f)
{
	f->congested = true;
}

bool relay_fair_admit(struct relay_fair *f, struct relay_client *c, size_t len, uint64_t now_ms)
{
	if (now_ms - f->epoch_start_ms >= RELAY_FAIR_EPOCH_MS)
		next_epoch(f, now_ms);
	if (f->enforce && f->active > 1) {
		uint64_t others = f->reserved - c->reserve;
		uint64_t rest = f->capacity > others ? f->capacity - others : 0;
		uint64_t share = rest > f->equal ? rest : f->equal;
		if (c->bytes + len > share) {
			c->dropped++;
			f->limited = true;
			return false;
		}
	}
	c->bytes += len;
	f->epoch_bytes += len;
	return true;
}
