// SPDX-License-Identifier: MIT
/* Adaptive busy-poll policy: exponential backoff over fruitless spins. */
#include "wg/spin.h"

bool wg_spin_wanted(struct wg_spin *s)
{
	if (s->skip) {
		s->skip--;
		return false;
	}
	return true;
}

void wg_spin_done(struct wg_spin *s, bool found)
{
	if (found) {
		s->misses = 0;
		s->skip = 0;
		return;
	}
	if (s->misses < WG_SPIN_MAX_BACKOFF)
		s->misses++;
	s->skip = (1u << s->misses) - 1;
}
