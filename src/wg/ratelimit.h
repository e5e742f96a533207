/* SPDX-License-Identifier: MIT */
/*
 * Handshake admission under load: a per-source token bucket (IPv4 address,
 * or IPv6 /64) and the detector that decides when the device is under load
 * and must demand cookies (MAC2) before doing Diffie-Hellman work.
 * Thread-safe.
 */
#ifndef OVL_WG_RATELIMIT_H
#define OVL_WG_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/inet.h"

#define WG_RATELIMIT_SLOTS 4096

struct wg_ratelimit_entry {
	uint8_t key[16];
	uint64_t last_ns;
	uint64_t tokens; /* nanoseconds of credit */
	bool used;
};

struct wg_ratelimit {
	pthread_mutex_t lock;
	uint8_t hash_key[16]; /* keyed hash: sources cannot aim at one slot */
	struct wg_ratelimit_entry slots[WG_RATELIMIT_SLOTS];
	/* Load detection: handshake messages seen in the current second. */
	uint64_t window_start_ns;
	uint32_t window_count;
	uint64_t under_load_until_ns;
	uint32_t load_threshold;
};

/* load_threshold: handshake messages per second above which we are under load. */
int wg_ratelimit_init(struct wg_ratelimit *rl, uint32_t load_threshold);
void wg_ratelimit_destroy(struct wg_ratelimit *rl);
/* True when a handshake from src may be processed now. */
bool wg_ratelimit_allow(struct wg_ratelimit *rl, const struct ip_addr *src, uint64_t now_ns);
/*
 * Count one incoming handshake message and report whether the device is
 * under load (stays so for a second after the rate drops).
 */
bool wg_ratelimit_under_load(struct wg_ratelimit *rl, uint64_t now_ns);

#endif
