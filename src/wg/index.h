/* SPDX-License-Identifier: MIT */
/*
 * The device's receiver-index table: the random 32-bit indices we hand out
 * in handshakes, mapped to the pending handshake or the keypair they name,
 * so an incoming response, cookie reply or data message finds its session
 * in O(1) without trusting anything else in the packet. Thread-safe.
 */
#ifndef OVL_WG_INDEX_H
#define OVL_WG_INDEX_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>

struct wg_peer;
struct noise_keypair;

#define WG_INDEX_BUCKETS 4096

enum wg_index_kind {
	WG_INDEX_HANDSHAKE = 1,
	WG_INDEX_KEYPAIR = 2,
};

struct wg_index_entry {
	LIST_ENTRY(wg_index_entry) link;
	uint32_t index;
	enum wg_index_kind kind;
	struct wg_peer *peer;
	struct noise_keypair *keypair; /* holds a reference while in the table */
};

struct wg_index_table {
	pthread_mutex_t lock;
	LIST_HEAD(, wg_index_entry) buckets[WG_INDEX_BUCKETS];
};

int wg_index_init(struct wg_index_table *t);
void wg_index_destroy(struct wg_index_table *t);
/* Allocate a fresh random index for a handshake; 0 on failure (0 is never handed out). */
uint32_t wg_index_add_handshake(struct wg_index_table *t, struct wg_peer *peer);
/* Turn a handshake's index into its keypair's (takes a keypair reference). */
int wg_index_promote(struct wg_index_table *t, uint32_t index, struct noise_keypair *kp);
void wg_index_remove(struct wg_index_table *t, uint32_t index);
/*
 * Find an index of the given kinds (a mask). On success *peer is set and,
 * for keypairs, *kp gets a new reference the caller must put.
 */
int wg_index_lookup(struct wg_index_table *t, uint32_t index, unsigned kinds,
		    struct wg_peer **peer, struct noise_keypair **kp);

#endif
