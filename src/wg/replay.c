// SPDX-License-Identifier: MIT
#include "wg/replay.h"

#include <string.h>

#include "wg/messages.h"

void wg_replay_init(struct wg_replay *r)
{
	memset(r, 0, sizeof(*r));
}

bool wg_replay_check(struct wg_replay *r, uint64_t counter)
{
	uint64_t index = counter / 64, bit = 1ULL << (counter % 64);
	uint64_t *word;

	if (counter >= WG_REJECT_AFTER_MESSAGES)
		return false;
	if (counter > r->greatest) {
		/* Advance: clear every word between the old head and the new one. */
		uint64_t current = r->greatest / 64, diff = index - current;
		if (diff > WG_REPLAY_WORDS)
			diff = WG_REPLAY_WORDS;
		for (uint64_t i = 1; i <= diff; i++)
			r->bitmap[(current + i) % WG_REPLAY_WORDS] = 0;
		r->greatest = counter;
	} else if (r->greatest - counter >= WG_REPLAY_WINDOW) {
		return false;
	}
	word = &r->bitmap[index % WG_REPLAY_WORDS];
	if (*word & bit)
		return false;
	*word |= bit;
	return true;
}
