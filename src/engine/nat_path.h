/* SPDX-License-Identifier: MIT */
/*
 * The NAT agent's path selection glue (nat_path.c): for one peer, what the
 * device and the TURN relays observed (wg/pathobs.c, engine/nat_turn.h)
 * into nat/path.h's policy, and its choice back onto the device (the
 * relayed path through a relay's channel - or Send indications while none
 * is bound -, or the direct path). nat.c calls
 * nat_pathsel_step() with its lock held and nat_pathsel_apply() after.
 */
#ifndef OVL_ENGINE_NAT_PATH_H
#define OVL_ENGINE_NAT_PATH_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/nat_turn.h"
#include "nat/path.h"
#include "state/model.h"
#include "wg/wg.h"

/* One peer's path selection state in the agent. */
struct nat_pathsel {
	struct nat_path path;
	/* The relayed path the device was told to use (relayed false: the direct path). */
	bool relayed;
	struct ip_endpoint relay_server;
	uint16_t relay_channel; /* 0: Send indications to relay_target (no channel bound) */
	struct ip_endpoint relay_target;
	/* Per relay: the peer address our channel there was asked towards (released when it changes). */
	bool asked[NAT_PATH_MAX_RELAYS];
	struct ip_endpoint target[NAT_PATH_MAX_RELAYS];
};

/* What one step asks of the device and the agent. */
struct nat_pathsel_step {
	enum nat_punch_action direct; /* the direct path's punch action */
	enum { NAT_PATHSEL_KEEP, NAT_PATHSEL_TO_RELAY, NAT_PATHSEL_TO_DIRECT } change;
	struct ip_endpoint server; /* TO_RELAY: through server on channel */
	uint16_t channel;	   /* 0: no channel bound, Send indications to target */
	struct ip_endpoint target;
	bool reframed; /* TO_RELAY on the relay already used: only the framing changed (no new handshake) */
	bool moved;		     /* report nat_endpoint_changed with endpoint */
	struct ip_endpoint endpoint; /* moved: the relay server, or the peer's direct endpoint */
};

/* The peer as the agent knows it: its candidates (sorted) and configured endpoint (unset: none). */
struct nat_pathsel_peer {
	const struct ovl_candidate *cands;
	size_t n_cands;
	const struct ip_endpoint *configured;
};

/*
 * One step at now_ms (wall clock; mono_ms: the TURN clients' monotonic
 * clock) from the device's status of the peer, ps; turn NULL when no relay
 * is configured. Channels towards the peer are requested on every relay
 * (the standbys stay bound).
 */
void nat_pathsel_step(struct nat_pathsel *sel, struct nat_turn *turn, const struct nat_punch_params *pp,
		      uint64_t now_ms, uint64_t mono_ms, const struct wg_peer_status *ps,
		      const struct nat_pathsel_peer *peer, struct nat_pathsel_step *out);

/* The peer is forgotten: its channels are released (no more refreshes; they expire on the relays). */
void nat_pathsel_forget(struct nat_pathsel *sel, struct nat_turn *turn);

/* Carries out out->change on dev (no agent lock held). initiator: this node starts handshakes with the peer. */
void nat_pathsel_apply(struct wg_device *dev, const uint8_t key[WG_KEY_LEN], bool initiator,
		       const struct nat_pathsel_step *out);

/*
 * The peer's connection_type and remote endpoint for nat_status, given the
 * device's endpoint for it (has_endpoint false: none). Relayed: through a
 * relay of ours (remote: the relay server), or directly to one of the
 * peer's relay candidates. Direct: the configured endpoint or a host
 * candidate. Hole-punched: any other. Returns whether *remote is set.
 */
bool nat_pathsel_describe(const struct nat_pathsel *sel, const struct nat_pathsel_peer *peer, bool has_endpoint,
			  const struct ip_endpoint *endpoint, enum ovl_connection_type *type,
			  struct ip_endpoint *remote);

#endif
