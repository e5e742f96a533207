/* SPDX-License-Identifier: MIT */
/*
 * Adaptive busy-polling for the data path. On small VMs a thread wakeup
 * (an idle vCPU halted, then kicked) costs far more than handling a packet,
 * and a ping or a request/response crosses several of them. A thread that
 * has just sent a burst therefore keeps polling its sockets for a short
 * while, so the answer is handled without anyone sleeping. When such spins
 * keep finding nothing (one-way traffic, a peer that answers slowly) the
 * thread skips more and more of them, so an idle or unlucky device costs
 * no CPU. Not locked: each thread owns its state.
 */
#ifndef OVL_WG_SPIN_H
#define OVL_WG_SPIN_H

#include <stdbool.h>
#include <stdint.h>

/* How long a spin waits for an answer. */
#define WG_SPIN_NS (500 * 1000ull)
/* After n misses in a row, skip 2^n - 1 chances, capped at this exponent. */
#define WG_SPIN_MAX_BACKOFF 6

struct wg_spin {
	unsigned misses; /* spins in a row that found nothing */
	unsigned skip;	 /* chances still to pass up before the next spin */
};

/* Whether to spin now (a burst was just sent); counts a skipped chance. */
bool wg_spin_wanted(struct wg_spin *s);
/* Record how the spin went: found is true when it handled any packet. */
void wg_spin_done(struct wg_spin *s, bool found);

#endif
