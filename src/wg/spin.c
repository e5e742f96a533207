// SPDX-License-Identifier: MIT
/* Adaptive busy-poll policy: exponential backoff in time over fruitless spins. */
#include "wg/spin.h"

bool wg_spin_wanted(const struct wg_spin *s, uint64_t now)
{
	return now >= s->resume_ns;
}

void wg_spin_done(struct wg_spin *s, bool found, uint64_t now)
{
	if (found) {
		s->misses = 0;
		s->resume_ns = 0;
		return;
	}
	if (s->misses < WG_SPIN_MAX_BACKOFF)
		s->misses++;
	s->resume_ns = now + (WG_SPIN_BACKOFF_NS << (s->misses - 1));
}
