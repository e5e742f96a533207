/* SPDX-License-Identifier: MIT */
/*
 * Path selection for one peer: which path the data plane uses (a TURN
 * relay, or the direct / hole-punched UDP path), as a pure state machine
 * over a clock the caller supplies (the same wall-clock milliseconds as
 * nat/punch.h, whose connect rounds it runs for the direct path).
 *
 * The rules:
 *  - Relay first: as soon as one relay can carry traffic to the peer it is
 *    used, while the direct path's probe rounds (nat/punch.h) run beside it.
 *  - Upgrade only on proof both ways (see direct_proven_ms below): a path
 *    that carries the peer's packets to us but not ours to the peer never
 *    completes a handshake on it, so it is never chosen.
 *  - Make-before-break: the relay is chosen away from only once the direct
 *    path is proven, and it stays a standby (the glue keeps its permission
 *    and channel, and keeps accepting what arrives through it) while the
 *    direct path is used, so packets in flight on it still arrive and a
 *    fall back costs no setup.
 *  - Hysteresis: a direct path that dies after it was chosen (a flap) is
 *    not tried again before a backoff that doubles with every flap
 *    (NAT_PATH_BACKOFF_MIN_MS up to NAT_PATH_BACKOFF_MAX_MS), forgiven once
 *    the direct path stayed up NAT_PATH_STABLE_MS. Only when a relay can
 *    carry the traffic meanwhile: with no relay, the direct path is the only
 *    one and the punch rounds alone decide (as before relays existed).
 *  - A relay dies when it cannot carry (its allocation or permission is
 *    lost) or, in use, when nothing came through it for
 *    NAT_PATH_DEAD_MS (three keepalives): the next relay that can carry is
 *    used (in configuration order, wrapping), and the dead one is held back
 *    for a backoff of its own.
 *  - Two nodes on different relays (each used whichever channel was bound
 *    first) hear each other through the other's choice: the one on the
 *    later relay follows the peer to the earlier one it hears through.
 *  - A direct path in use dies the same way (nothing for NAT_PATH_DEAD_MS):
 *    back to a relay at once.
 *
 * What the glue reports (struct nat_path_obs), times in the caller's clock,
 * 0 for never:
 *  - direct_proven_ms: when a WireGuard handshake with the peer completed
 *    whose two messages both crossed the direct path: we sent the initiation
 *    directly and its response arrived directly, or the peer's initiation
 *    arrived directly, our response left directly and then the first
 *    transport packet of that session arrived directly (the peer uses a
 *    session only once our response reached it). Either proves both
 *    directions. A handshake that crossed a relay proves nothing here.
 *  - direct_rx_ms: the last authenticated packet from the peer that arrived
 *    directly (not through a relay).
 *  - relay[i].ready: relay i can carry datagrams to the peer now (its
 *    allocation is live and the peer's permission is in place: with its
 *    channel bound as ChannelData, without as Send indications).
 *  - relay[i].rx_ms: the last authenticated packet from the peer that came
 *    through relay i.
 * The direct path is alive while its proof is fresher than
 * NAT_PATH_PROOF_FRESH_MS (WireGuard rekeys every 120 s on a used session)
 * and direct_rx_ms is within NAT_PATH_DEAD_MS: with a persistent keepalive
 * of 5 s, a live path is never quiet that long.
 */
#ifndef OVL_NAT_PATH_H
#define OVL_NAT_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nat/punch.h"

#define NAT_PATH_MAX_RELAYS 4
#define NAT_PATH_DEAD_MS 15000
#define NAT_PATH_PROOF_FRESH_MS 180000
#define NAT_PATH_BACKOFF_MIN_MS 60000
#define NAT_PATH_BACKOFF_MAX_MS (30 * 60000)
#define NAT_PATH_RELAY_BACKOFF_MIN_MS 30000
#define NAT_PATH_RELAY_BACKOFF_MAX_MS (10 * 60000)
#define NAT_PATH_STABLE_MS (10 * 60000)

enum nat_path_kind { NAT_PATH_NONE, NAT_PATH_RELAY, NAT_PATH_DIRECT };

struct nat_path_choice {
	enum nat_path_kind kind;
	unsigned relay; /* NAT_PATH_RELAY: its index in the observations */
};

struct nat_path_relay_obs {
	bool ready;
	uint64_t rx_ms;
};

struct nat_path_obs {
	uint64_t direct_proven_ms;
	uint64_t direct_rx_ms;
	size_t n_relays; /* at most NAT_PATH_MAX_RELAYS */
	struct nat_path_relay_obs relay[NAT_PATH_MAX_RELAYS];
};

struct nat_path_relay_state {
	uint64_t hold_until_ms; /* died: not chosen before */
	unsigned deaths;	/* the next hold grows with it */
};

struct nat_path {
	struct nat_punch punch; /* the direct path's rounds */
	struct nat_path_choice cur;
	uint64_t cur_since_ms;
	uint64_t direct_hold_until_ms; /* hysteresis: no direct round before */
	unsigned flaps;		       /* direct paths that died after they were chosen */
	bool resume_after_hold;	       /* a round starts when the hold ends */
	uint64_t proof_floor_ms;       /* only a proof newer than the last flap counts */
	unsigned last_relay;	       /* the relay used last: the standby beside a direct path */
	struct nat_path_relay_state relay[NAT_PATH_MAX_RELAYS];
	uint64_t moves; /* changes of cur, for status and tests */
};

struct nat_path_step {
	/* The direct path's punch action: PROBE the candidates, or SILENCE
	 * (nothing more towards the peer's direct candidates until the next
	 * round; the relay, if one is used, carries on). */
	enum nat_punch_action direct;
	/* cur changed: apply it to the data plane, report nat_endpoint_changed. */
	bool moved;
	struct nat_path_choice prev; /* moved: what was used before */
	/* The relay kept ready beside a direct path (make-before-break, quick
	 * fall back); has_standby false when none can carry. */
	bool has_standby;
	unsigned standby;
};

/* A peer to connect (add_peer, nat_tick): starts a direct round unless one runs or the backoff holds it. */
void nat_path_kick(struct nat_path *p, uint64_t now_ms);

/* One step at now_ms over what the glue observed. */
void nat_path_step(struct nat_path *p, const struct nat_punch_params *pp, uint64_t now_ms,
		   const struct nat_path_obs *obs, struct nat_path_step *out);

/* Whether the direct path is alive by obs at now_ms (the rule above). */
bool nat_path_direct_alive(const struct nat_path_obs *obs, uint64_t now_ms);

const char *nat_path_kind_name(enum nat_path_kind k); /* "none", "relay", "direct" */

#endif
