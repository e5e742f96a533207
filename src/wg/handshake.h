/* SPDX-License-Identifier: MIT */
/*
 * The handshake queue: initiations and responses that passed the cheap
 * checks on the receive path (MAC1, under load MAC2 and the per-source rate
 * limit) wait here for the device's handshake worker, which does their
 * Diffie-Hellman work. The receive threads therefore never spend more than
 * a MAC on a handshake message, and data decryption never waits behind one.
 *
 * Bounded: a message that finds the queue full is dropped and counted.
 * A queue more than 1/8 full makes the device "under load" (as the kernel
 * module does) for WG_UNDER_LOAD_AFTER_TIME: it then demands cookies.
 * Thread-safe.
 */
#ifndef OVL_WG_HANDSHAKE_H
#define OVL_WG_HANDSHAKE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"
#include "wg/messages.h"

#define WG_HANDSHAKE_QUEUE_LEN 1024
/* A worker takes up to this many messages per turn. */
#define WG_HANDSHAKE_BATCH 16

struct wg_handshake_item {
	uint8_t buf[WG_MSG_INITIATION_LEN]; /* the larger of the two messages */
	uint8_t len;
	struct ip_endpoint src;
	struct ip_addr local; /* the address it arrived on; family 0: unknown */
};

struct wg_handshake_queue {
	pthread_mutex_t lock;
	pthread_cond_t nonempty;
	struct wg_handshake_item *items; /* ring of cap */
	unsigned head, len, cap;
	bool stopping;
	atomic_uint_fast64_t busy_until_ns; /* under load (queue over cap/8) until then */
	atomic_uint_fast64_t dropped; /* found the queue full */
};

int wg_handshake_queue_init(struct wg_handshake_queue *q, unsigned cap);
void wg_handshake_queue_destroy(struct wg_handshake_queue *q);
/* Copies the message; false (and counted) when the queue is full. */
bool wg_handshake_queue_push(struct wg_handshake_queue *q, const uint8_t *buf, size_t len,
			     const struct ip_endpoint *src, const struct ip_addr *local, uint64_t now_ns);
/*
 * Moves up to max messages to out, waiting while the queue is empty.
 * Returns how many, 0 once wg_handshake_queue_stop was called.
 */
unsigned wg_handshake_queue_pop(struct wg_handshake_queue *q, struct wg_handshake_item *out,
				unsigned max);
/* Wakes the worker for good: pop returns 0 from now on. */
void wg_handshake_queue_stop(struct wg_handshake_queue *q);
/* Whether the queue was more than 1/8 full within WG_UNDER_LOAD_AFTER_TIME before now. */
bool wg_handshake_queue_busy(struct wg_handshake_queue *q, uint64_t now_ns);

struct wg_device;
/* The worker thread's body (arg: the device); dev->lock taken inside. */
void *wg_handshake_worker(void *arg);

#endif
