/* SPDX-License-Identifier: MIT */
/*
 * The connect policy for one peer, as a pure state machine over a clock the
 * caller supplies (wall-clock milliseconds: both nodes of a pair must agree
 * on it to the second, as NTP gives). The glue (engine/nat.c) feeds it
 * whether the peer is alive (authenticated packets lately) and carries out
 * what it answers: probe every candidate at once, go quiet, or nothing.
 *
 *   IDLE ----kick----> PROBING --alive--> UP --dead--> PROBING
 *                         |                              ^
 *              hole_punch_timeout                        |
 *                         v                              |
 *                       QUIET ---aligned slot, quiet over-+
 *
 * QUIET exists for the Linux (and common home router) NAT hazard: when a
 * peer's packet reaches our NAT before we have sent towards the peer, the
 * NAT records that flow and then maps our own packets to the peer to
 * another port; as long as the peer keeps sending, the stale entry lives on
 * and both sides' probes miss. So after a failed round a node sends nothing
 * to the peer for at least NAT_PUNCH_QUIET_MS (longer than conntrack's 30 s
 * for unanswered UDP), and starts the next round on a grid of the shared
 * clock whose period is one round plus the quiet time: both nodes' first
 * packets then leave together and each NAT sees its own node's packet
 * first. Two nodes that failed at different times may pick neighbouring
 * grid points; the earlier one's lone round then ends a full quiet time
 * before the next point, where both meet with every stale entry expired.
 */
#ifndef OVL_NAT_PUNCH_H
#define OVL_NAT_PUNCH_H

#include <stdbool.h>
#include <stdint.h>

#define NAT_PUNCH_PROBE_INTERVAL_MS 250
#define NAT_PUNCH_QUIET_MS 32000

enum nat_punch_state { NAT_PUNCH_IDLE, NAT_PUNCH_PROBING, NAT_PUNCH_UP, NAT_PUNCH_QUIET };

enum nat_punch_action {
	NAT_PUNCH_NOTHING,
	NAT_PUNCH_PROBE,    /* send a handshake initiation to every candidate now */
	NAT_PUNCH_SILENCE,  /* stop every packet to the peer (clear its endpoint) */
	NAT_PUNCH_CONNECTED, /* the peer became alive: report its path */
};

struct nat_punch {
	enum nat_punch_state state;
	uint64_t round_start_ms; /* PROBING: when the round began */
	uint64_t next_probe_ms;  /* PROBING */
	uint64_t retry_ms;	 /* QUIET: the next round */
	unsigned rounds_failed;
};

struct nat_punch_params {
	uint64_t timeout_ms;	    /* hole_punch_timeout_secs */
	uint64_t probe_interval_ms; /* NAT_PUNCH_PROBE_INTERVAL_MS */
	uint64_t quiet_ms;	    /* NAT_PUNCH_QUIET_MS */
	uint64_t slot_ms;	    /* the retry grid: timeout_ms + quiet_ms */
};

void nat_punch_params_default(struct nat_punch_params *p, uint64_t timeout_secs);

/* A peer to connect (add_peer, nat_tick): IDLE starts a round now; other states are left alone. */
void nat_punch_kick(struct nat_punch *p, uint64_t now_ms);

/* One step: what to do at now_ms, given whether the peer is alive. */
enum nat_punch_action nat_punch_step(struct nat_punch *p, const struct nat_punch_params *pp, uint64_t now_ms,
				     bool alive);

/*
 * The earliest time at which a step may act without news of the peer: the
 * next probe or the round's end (PROBING), the retry (QUIET); UINT64_MAX
 * otherwise. The caller wakes then, not on its next tick: at a retry both
 * nodes' first packets must leave within the one-way delay of each other,
 * or the later node's NAT meets the earlier one's packet first (the hazard
 * again). A 50 ms tick measured 35 ms apart against 20 ms of delay.
 */
uint64_t nat_punch_next_ms(const struct nat_punch *p, const struct nat_punch_params *pp);

/* The first slot boundary at or after t. */
uint64_t nat_punch_slot_at_or_after(uint64_t t, uint64_t slot_ms);

#endif
