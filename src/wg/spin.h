/* SPDX-License-Identifier: MIT */
/*
 * Adaptive busy-polling for the data path. On small VMs a thread wakeup
 * (an idle vCPU halted, then kicked) costs far more than handling a packet,
 * and a ping or a request/response crosses several of them. A thread that
 * has just sent a burst therefore keeps polling its sockets for a short
 * while, so the answer is handled without anyone sleeping. When such spins
 * keep finding nothing (one-way traffic, a peer that answers slowly) the
 * thread waits longer and longer (in time, not in chances: a burst of
 * unanswered sends must not switch spinning off for the traffic that
 * follows) before it spins again, so an idle or unlucky device costs at
 * most WG_SPIN_NS of CPU per WG_SPIN_BACKOFF_NS << (WG_SPIN_MAX_BACKOFF - 1). Not
 * locked: each thread owns its state.
 */
#ifndef OVL_WG_SPIN_H
#define OVL_WG_SPIN_H

#include <stdbool.h>
#include <stdint.h>

/* How long a spin waits for an answer. */
#define WG_SPIN_NS (500 * 1000ull)
/* After n misses in a row, no spin for WG_SPIN_BACKOFF_NS << (n - 1)... */
#define WG_SPIN_BACKOFF_NS (1000 * 1000ull)
/* ...with n capped here (32 ms). */
#define WG_SPIN_MAX_BACKOFF 6

struct wg_spin {
	unsigned misses;    /* spins in a row that found nothing */
	uint64_t resume_ns; /* no spin before this time */
};

/* Whether to spin at time now (a burst was just sent). */
bool wg_spin_wanted(const struct wg_spin *s, uint64_t now);
/* Record how the spin that ended at now went: found is true when it handled any packet. */
void wg_spin_done(struct wg_spin *s, bool found, uint64_t now);

#endif
