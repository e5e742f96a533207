/* SPDX-License-Identifier: MIT */
/*
 * Sliding-window replay protection for data messages (RFC 6479's bitmap
 * layout): 8192 bits, of which the newest 8128 counters are accepted once.
 * Not locked: the keypair that owns a window serialises access to it.
 */
#ifndef OVL_WG_REPLAY_H
#define OVL_WG_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define WG_REPLAY_BITS 8192
#define WG_REPLAY_WORDS (WG_REPLAY_BITS / 64)
/* One word is always being recycled, so the usable window is one word less. */
#define WG_REPLAY_WINDOW (WG_REPLAY_BITS - 64)

struct wg_replay {
	uint64_t greatest;
	uint64_t bitmap[WG_REPLAY_WORDS];
};

void wg_replay_init(struct wg_replay *r);
/*
 * Accept counter (and remember it) or reject it as replayed, too old, or at
 * or beyond the reject-after-messages limit. Call only after the packet
 * authenticated, so forged counters cannot move the window.
 */
bool wg_replay_check(struct wg_replay *r, uint64_t counter);

#endif
