// SPDX-License-Identifier: MIT
/* The NAT agent's path selection glue (nat_path.h). */
#include "engine/nat_path.h"

#include <string.h>

#include "util/log.h"

static const struct ovl_candidate *find_candidate(const struct nat_pathsel_peer *peer, enum ovl_candidate_type type,
						  const struct ip_addr *on_ip)
{
	for (size_t i = 0; i < peer->n_cands; i++) /* sorted by priority */
		if (peer->cands[i].type == type && (!on_ip || ip_addr_equal(&peer->cands[i].address.addr, on_ip)))
			return &peer->cands[i];
	return NULL;
}

/*
 * Where our channel on relay r leads: the peer's relay candidate on the
 * same relay (a datagram then crosses one server, from our allocation to
 * the peer's, and dies with it alone), else its first relay candidate (each
 * node only ever talks to its own relay, whatever its NAT does), else its
 * reflexive, host or configured address.
 */
static bool relay_target(const struct nat_turn_relay *r, const struct nat_pathsel_peer *peer,
			 struct ip_endpoint *target)
{
	static const enum ovl_candidate_type order[] = { OVL_CAND_RELAY, OVL_CAND_SERVER_REFLEXIVE, OVL_CAND_HOST };
	const struct ovl_candidate *c = find_candidate(peer, OVL_CAND_RELAY, &r->relayed.addr);
	for (size_t k = 0; !c && k < sizeof(order) / sizeof(order[0]); k++)
		c = find_candidate(peer, order[k], NULL);
	if (c) {
		*target = c->address;
		return true;
	}
	if (ip_endpoint_is_unset(peer->configured))
		return false;
	*target = *peer->configured;
	return true;
}

void nat_pathsel_step(struct nat_pathsel *sel, struct nat_turn *turn, const struct nat_punch_params *pp,
		      uint64_t now_ms, uint64_t mono_ms, const struct wg_peer_status *ps,
		      const struct nat_pathsel_peer *peer, struct nat_pathsel_step *out)
{
	struct nat_path_obs obs = {
		.direct_proven_ms = ps->direct_proven_ms > 0 ? (uint64_t)ps->direct_proven_ms : 0,
		.direct_rx_ms = ps->direct_rx_ms > 0 ? (uint64_t)ps->direct_rx_ms : 0,
		.n_relays = turn ? nat_turn_count(turn) : 0,
	};
	struct ip_endpoint servers[NAT_PATH_MAX_RELAYS];
	uint16_t channels[NAT_PATH_MAX_RELAYS] = { 0 };
	for (size_t i = 0; i < obs.n_relays; i++) {
		struct nat_turn_relay r;
		struct ip_endpoint target;
		nat_turn_relay(turn, i, &r);
		servers[i] = r.server;
		bool has_target = r.allocated && relay_target(&r, peer, &target);
		if (sel->asked[i] && (!has_target || !ip_endpoint_equal(&target, &sel->target[i]))) {
			nat_turn_unbind(turn, i, &sel->target[i]); /* no more refreshes of a channel nobody uses */
			sel->asked[i] = false;
		}
		if (has_target) {
			sel->asked[i] = true;
			sel->target[i] = target;
			obs.relay[i].ready = nat_turn_carry(turn, i, &target, mono_ms, &channels[i]);
		}
		if (r.device_slot >= 0 && ps->relay_rx_ms[r.device_slot] > 0)
			obs.relay[i].rx_ms = (uint64_t)ps->relay_rx_ms[r.device_slot];
	}

	struct nat_path_step st;
	nat_path_step(&sel->path, pp, now_ms, &obs, &st);
	memset(out, 0, sizeof(*out));
	out->direct = st.direct;
	const struct nat_path_choice *cur = &sel->path.cur;
	if (cur->kind == NAT_PATH_RELAY) {
		unsigned i = cur->relay;
		bool same_relay = sel->relayed && ip_endpoint_equal(&sel->relay_server, &servers[i]);
		/* A channel bound (or lost) changes the framing: ChannelData, or Send indications. */
		if (!same_relay || sel->relay_channel != channels[i] ||
		    (!channels[i] && !ip_endpoint_equal(&sel->relay_target, &sel->target[i]))) {
			out->change = NAT_PATHSEL_TO_RELAY;
			out->reframed = same_relay;
			out->server = sel->relay_server = servers[i];
			out->channel = sel->relay_channel = channels[i];
			out->target = sel->relay_target = sel->target[i];
			sel->relayed = true;
		}
	} else if (sel->relayed) {
		out->change = NAT_PATHSEL_TO_DIRECT; /* the direct path, or none: off the relay either way */
		sel->relayed = false;
	}
	if (st.moved && cur->kind != NAT_PATH_NONE && (cur->kind == NAT_PATH_RELAY || ps->has_endpoint)) {
		out->moved = true;
		out->endpoint = cur->kind == NAT_PATH_RELAY ? servers[cur->relay] : ps->endpoint;
	}
}

void nat_pathsel_forget(struct nat_pathsel *sel, struct nat_turn *turn)
{
	for (size_t i = 0; turn && i < NAT_PATH_MAX_RELAYS; i++)
		if (sel->asked[i])
			nat_turn_unbind(turn, i, &sel->target[i]);
}

void nat_pathsel_apply(struct wg_device *dev, const uint8_t key[WG_KEY_LEN], bool initiator,
		       const struct nat_pathsel_step *out)
{
	int r = 0;
	if (out->change == NAT_PATHSEL_TO_RELAY) {
		r = out->channel ? wg_peer_set_relay_path(dev, key, &out->server, out->channel)
				 : wg_peer_set_relay_send(dev, key, &out->server, &out->target);
		if (!r && initiator && !out->reframed)
			r = wg_peer_initiate_handshake(dev, key);
	} else if (out->change == NAT_PATHSEL_TO_DIRECT) {
		r = wg_peer_set_relay_path(dev, key, NULL, 0);
	}
	if (r < 0)
		log_warn("nat: relayed path not changed: %s", strerror(-r));
}

bool nat_pathsel_describe(const struct nat_pathsel *sel, const struct nat_pathsel_peer *peer, bool has_endpoint,
			  const struct ip_endpoint *endpoint, enum ovl_connection_type *type,
			  struct ip_endpoint *remote)
{
	*type = OVL_CONN_HOLE_PUNCHED;
	switch (sel->path.cur.kind) {
	case NAT_PATH_RELAY:
		*type = OVL_CONN_RELAYED;
		*remote = sel->relay_server;
		return true;
	case NAT_PATH_DIRECT:
		break;
	case NAT_PATH_NONE:
	default:
		return false;
	}
	if (!has_endpoint)
		return false;
	*remote = *endpoint;
	for (size_t i = 0; i < peer->n_cands; i++) {
		if (!ip_endpoint_equal(&peer->cands[i].address, endpoint))
			continue;
		if (peer->cands[i].type == OVL_CAND_RELAY)
			*type = OVL_CONN_RELAYED;
		else if (peer->cands[i].type == OVL_CAND_HOST)
			*type = OVL_CONN_DIRECT;
	}
	if (!ip_endpoint_is_unset(peer->configured) && ip_endpoint_equal(peer->configured, endpoint))
		*type = OVL_CONN_DIRECT;
	return true;
}
