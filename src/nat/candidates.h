/* SPDX-License-Identifier: MIT */
/*
 * ICE-style candidates of this node (RFC 8445 terms): host candidates from
 * the interfaces' addresses, server-reflexive ones from STUN, relay ones
 * (part II) from TURN; a peer's peer-reflexive ones learned from its
 * packets; priorities by RFC 8445 5.1.2.1, de-duplicated.
 */
#ifndef OVL_NAT_CANDIDATES_H
#define OVL_NAT_CANDIDATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/model.h"

/* RFC 8445 5.1.2.2 recommended type preferences. */
#define NAT_TYPE_PREF_HOST 126
#define NAT_TYPE_PREF_PEER_REFLEXIVE 110
#define NAT_TYPE_PREF_SERVER_REFLEXIVE 100
#define NAT_TYPE_PREF_RELAY 0
#define NAT_COMPONENT_ID 1 /* one component: the WireGuard socket */
#define NAT_MAX_CANDIDATES 64

/* (2^24) * type preference + (2^8) * local preference + (256 - component id). */
uint32_t nat_priority(unsigned type_pref, unsigned local_pref, unsigned component);
unsigned nat_type_preference(enum ovl_candidate_type t);
/*
 * Local preference: IPv6 above IPv4 (RFC 8421), then the interface order
 * (index: earlier interfaces rank higher).
 */
unsigned nat_local_preference(int family, unsigned index);

/*
 * Whether an interface's addresses become host candidates: not loopback,
 * not point-to-point or a TUN (our own WireGuard devices and VPNs), not a
 * bridge, not one of the daemon's own links ("zl-*", container veths
 * "veth-<pid>-*"). Other veths stay: in a container or network namespace
 * the uplink is a veth. sysfs_root is "/sys/class/net" (tests pass another).
 */
bool nat_interface_eligible(const char *ifname, unsigned flags, const char *sysfs_root);

/*
 * Appends c to list (*n entries, cap NAT_MAX_CANDIDATES) unless an entry
 * with the same address exists: the one with the higher priority stays.
 * False when the list is full.
 */
bool nat_candidate_add(struct ovl_candidate *list, size_t *n, const struct ovl_candidate *c);

/* Sorts by priority, highest first (stable for equal priorities). */
void nat_candidates_sort(struct ovl_candidate *list, size_t n);

/*
 * Peer-reflexive candidates of one peer (RFC 8445 7.3.1.3): addresses it
 * reached us from that are none of the candidates we were handed, e.g. a
 * port its NAT moved. At most NAT_MAX_PEER_REFLEXIVE; a new one replaces
 * the oldest (a check's USERNAME is not authenticated: no one fills memory).
 */
#define NAT_MAX_PEER_REFLEXIVE 4

struct nat_prflx {
	struct ovl_candidate cands[NAT_MAX_PEER_REFLEXIVE];
	size_t n, oldest;
};

/* Learns from unless known (n_known handed-on candidates) or learned already lists it. True when new. */
bool nat_prflx_learn(struct nat_prflx *r, const struct ovl_candidate *known, size_t n_known,
		     const struct ip_endpoint *from);
/* Forgets the learned ones that known now lists (the orchestrator handed them on). */
void nat_prflx_prune(struct nat_prflx *r, const struct ovl_candidate *known, size_t n_known);

/*
 * Where a round probes a peer: configured (unless unset), then its
 * handed-on and learned candidates by priority, no address twice; at most
 * cap (max_candidate_pairs). skip_relay leaves out the peer's relay
 * candidates: with relays of our own, those are reached through our
 * channels, so a path to them is never taken for a punched one. Returns
 * the count written to out.
 */
size_t nat_probe_targets(const struct ip_endpoint *configured, const struct ovl_candidate *cands, size_t n_cands,
			 bool skip_relay,
			 const struct nat_prflx *prflx, struct ip_endpoint *out, size_t cap);

/*
 * Host candidates of every eligible interface's global and unique-local
 * addresses (no link-local: a peer cannot reach fe80:: without a scope), on
 * port. Returns the count written (at most cap) or -errno.
 */
int nat_gather_host(uint16_t port, struct ovl_candidate *out, size_t cap);

#endif
