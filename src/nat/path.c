// SPDX-License-Identifier: MIT
/* Path selection for one peer (see path.h). Pure. */
#include "nat/path.h"

static uint64_t age(uint64_t now_ms, uint64_t t)
{
	return now_ms >= t ? now_ms - t : 0;
}

static uint64_t backoff(uint64_t min_ms, uint64_t max_ms, unsigned count)
{
	uint64_t b = min_ms;
	for (unsigned i = 0; i < count && b < max_ms; i++)
		b *= 2;
	return b < max_ms ? b : max_ms;
}

bool nat_path_direct_alive(const struct nat_path_obs *obs, uint64_t now_ms)
{
	return obs->direct_proven_ms && age(now_ms, obs->direct_proven_ms) <= NAT_PATH_PROOF_FRESH_MS &&
	       obs->direct_rx_ms && age(now_ms, obs->direct_rx_ms) < NAT_PATH_DEAD_MS;
}

const char *nat_path_kind_name(enum nat_path_kind k)
{
	switch (k) {
	case NAT_PATH_RELAY:
		return "relay";
	case NAT_PATH_DIRECT:
		return "direct";
	case NAT_PATH_NONE:
	default:
		return "none";
	}
}

static size_t relay_count(const struct nat_path_obs *obs)
{
	return obs->n_relays < NAT_PATH_MAX_RELAYS ? obs->n_relays : NAT_PATH_MAX_RELAYS;
}

static bool relay_usable(const struct nat_path *p, const struct nat_path_obs *obs, unsigned i, uint64_t now_ms)
{
	return i < relay_count(obs) && obs->relay[i].ready && now_ms >= p->relay[i].hold_until_ms;
}

/* The first relay that can carry, in configuration order; -1 when none. */
static int first_usable_relay(const struct nat_path *p, const struct nat_path_obs *obs, uint64_t now_ms)
{
	for (unsigned i = 0; i < relay_count(obs); i++)
		if (relay_usable(p, obs, i, now_ms))
			return (int)i;
	return -1;
}

static void choose(struct nat_path *p, enum nat_path_kind kind, unsigned relay, uint64_t now_ms)
{
	if (p->cur.kind == kind && (kind != NAT_PATH_RELAY || p->cur.relay == relay))
		return;
	p->cur.kind = kind;
	p->cur.relay = kind == NAT_PATH_RELAY ? relay : 0;
	p->cur_since_ms = now_ms;
	if (kind == NAT_PATH_RELAY)
		p->last_relay = relay;
}

/* The relay in use: held back when it cannot carry or carried nothing for NAT_PATH_DEAD_MS. */
static void check_relay_in_use(struct nat_path *p, const struct nat_path_obs *obs, uint64_t now_ms)
{
	unsigned i = p->cur.relay;
	uint64_t last = p->cur_since_ms;
	if (i < relay_count(obs) && obs->relay[i].rx_ms > last)
		last = obs->relay[i].rx_ms;
	if (i < relay_count(obs) && obs->relay[i].ready && age(now_ms, last) < NAT_PATH_DEAD_MS) {
		if (age(now_ms, p->cur_since_ms) >= NAT_PATH_STABLE_MS)
			p->relay[i].deaths = 0;
		return;
	}
	if (i < NAT_PATH_MAX_RELAYS) {
		p->relay[i].hold_until_ms = now_ms + backoff(NAT_PATH_RELAY_BACKOFF_MIN_MS,
							     NAT_PATH_RELAY_BACKOFF_MAX_MS, p->relay[i].deaths);
		p->relay[i].deaths++;
	}
	choose(p, NAT_PATH_NONE, 0, now_ms);
}

/*
 * The direct path in use died. With a relay to carry the traffic meanwhile
 * it is a flap: no round before a growing backoff, and only a proof newer
 * than now counts. Without one the punch rounds go on at once.
 */
static void direct_died(struct nat_path *p, bool relay_available, uint64_t now_ms)
{
	choose(p, NAT_PATH_NONE, 0, now_ms);
	if (!relay_available)
		return;
	p->direct_hold_until_ms = now_ms + backoff(NAT_PATH_BACKOFF_MIN_MS, NAT_PATH_BACKOFF_MAX_MS, p->flaps);
	p->flaps++;
	p->proof_floor_ms = now_ms;
	p->punch.state = NAT_PUNCH_IDLE;
	p->resume_after_hold = true;
}

/*
 * Two nodes may pick different relays (whichever channel was bound first):
 * each then receives through the other's choice, and neither's relay in use
 * would ever see the peer's packets. The node on the later relay follows
 * the peer to an earlier one it hears through; the other stays: both end on
 * the earlier relay, with no back and forth.
 */
static void follow_peer_to_earlier_relay(struct nat_path *p, const struct nat_path_obs *obs, uint64_t now_ms)
{
	for (unsigned j = 0; j < p->cur.relay && j < relay_count(obs); j++)
		if (relay_usable(p, obs, j, now_ms) && obs->relay[j].rx_ms > p->cur_since_ms &&
		    age(now_ms, obs->relay[j].rx_ms) < NAT_PATH_DEAD_MS) {
			choose(p, NAT_PATH_RELAY, j, now_ms);
			return;
		}
}

void nat_path_kick(struct nat_path *p, uint64_t now_ms)
{
	if (now_ms < p->direct_hold_until_ms)
		return; /* the round starts when the hold ends */
	nat_punch_kick(&p->punch, now_ms);
}

void nat_path_step(struct nat_path *p, const struct nat_punch_params *pp, uint64_t now_ms,
		   const struct nat_path_obs *obs, struct nat_path_step *out)
{
	*out = (struct nat_path_step){ .direct = NAT_PUNCH_NOTHING, .prev = p->cur };

	if (p->cur.kind == NAT_PATH_RELAY)
		follow_peer_to_earlier_relay(p, obs, now_ms);
	if (p->cur.kind == NAT_PATH_RELAY)
		check_relay_in_use(p, obs, now_ms);

	bool alive = nat_path_direct_alive(obs, now_ms) && obs->direct_proven_ms > p->proof_floor_ms;
	if (p->cur.kind == NAT_PATH_DIRECT) {
		if (!alive)
			direct_died(p, first_usable_relay(p, obs, now_ms) >= 0, now_ms);
		else if (age(now_ms, p->cur_since_ms) >= NAT_PATH_STABLE_MS)
			p->flaps = 0;
	}

	bool held = now_ms < p->direct_hold_until_ms;
	if (!held) {
		if (p->resume_after_hold) {
			p->resume_after_hold = false;
			nat_punch_kick(&p->punch, now_ms);
		}
		out->direct = nat_punch_step(&p->punch, pp, now_ms, alive);
	}

	int relay = first_usable_relay(p, obs, now_ms);
	if (!held && alive && p->punch.state == NAT_PUNCH_UP)
		choose(p, NAT_PATH_DIRECT, 0, now_ms); /* proven both ways: the upgrade */
	else if (p->cur.kind == NAT_PATH_NONE && relay >= 0)
		choose(p, NAT_PATH_RELAY, (unsigned)relay, now_ms);

	out->moved = out->prev.kind != p->cur.kind ||
		     (p->cur.kind == NAT_PATH_RELAY && out->prev.relay != p->cur.relay);
	p->moves += out->moved;
	if (p->cur.kind == NAT_PATH_DIRECT && relay >= 0) {
		out->has_standby = true;
		out->standby = relay_usable(p, obs, p->last_relay, now_ms) ? p->last_relay : (unsigned)relay;
	}
}
