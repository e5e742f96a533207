// SPDX-License-Identifier: MIT
#include "wg/ratelimit.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "wg/crypto.h"
#include "wg/messages.h"

#define PACKET_COST_NS (NSEC_PER_SEC / WG_RATELIMIT_PACKETS_PER_SECOND)
#define BUCKET_MAX_NS (PACKET_COST_NS * WG_RATELIMIT_BURST)
#define PROBES 8

int wg_ratelimit_init(struct wg_ratelimit *rl, uint32_t load_threshold)
{
	memset(rl, 0, sizeof(*rl));
	if (pthread_mutex_init(&rl->lock, NULL))
		return -ENOMEM;
	wg_random(rl->hash_key, sizeof(rl->hash_key));
	rl->load_threshold = load_threshold;
	return 0;
}

void wg_ratelimit_destroy(struct wg_ratelimit *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

bool wg_ratelimit_allow(struct wg_ratelimit *rl, const struct ip_addr *src, uint64_t now_ns)
{
	uint8_t key[16] = { 0 };
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t slot;
	bool allow = false;

	/* An IPv6 host usually owns its whole /64, so that is the unit. */
	memcpy(key, src->bytes, src->family == AF_INET6 ? 8 : 4);
	key[15] = (uint8_t)src->family;
	crypto_shorthash(h, key, sizeof(key), rl->hash_key);
	memcpy(&slot, h, sizeof(slot));

	pthread_mutex_lock(&rl->lock);
	for (int i = 0; i < PROBES; i++) {
		struct wg_ratelimit_entry *e = &rl->slots[(slot + (uint64_t)i) % WG_RATELIMIT_SLOTS];
		bool stale = e->used && now_ns - e->last_ns > NSEC_PER_SEC;
		if (!e->used || stale) {
			/* A new (or forgotten) source starts with a full bucket minus this packet. */
			memcpy(e->key, key, sizeof(key));
			e->used = true;
			e->last_ns = now_ns;
			e->tokens = BUCKET_MAX_NS - PACKET_COST_NS;
			allow = true;
			break;
		}
		if (memcmp(e->key, key, sizeof(key)) == 0) {
			e->tokens += now_ns - e->last_ns;
			if (e->tokens > BUCKET_MAX_NS)
				e->tokens = BUCKET_MAX_NS;
			e->last_ns = now_ns;
			if (e->tokens >= PACKET_COST_NS) {
				e->tokens -= PACKET_COST_NS;
				allow = true;
			}
			break;
		}
		/* Every probed slot busy with other live sources: refuse (flood). */
	}
	pthread_mutex_unlock(&rl->lock);
	return allow;
}

bool wg_ratelimit_under_load(struct wg_ratelimit *rl, uint64_t now_ns)
{
	bool loaded;
	pthread_mutex_lock(&rl->lock);
	if (now_ns - rl->window_start_ns >= NSEC_PER_SEC) {
		rl->window_start_ns = now_ns;
		rl->window_count = 0;
	}
	if (++rl->window_count > rl->load_threshold)
		rl->under_load_until_ns = now_ns + WG_UNDER_LOAD_AFTER_TIME * NSEC_PER_SEC;
	loaded = now_ns < rl->under_load_until_ns;
	pthread_mutex_unlock(&rl->lock);
	return loaded;
}
