/* SPDX-License-Identifier: MIT */
/*
 * STUN from peers on the WireGuard port (not from a configured server):
 * connectivity checks in the manner of RFC 8445 7.3. A node that does not
 * initiate WireGuard handshakes probes its peer with Binding requests whose
 * USERNAME is its public key (base64); the peer answers each with a Binding
 * success carrying the source it saw (XOR-MAPPED-ADDRESS), learns that
 * source as a peer-reflexive candidate when it is new, and sends its
 * handshake initiation there at once. USERNAME is not authenticated: a
 * check only ever makes us answer and probe, never changes an endpoint
 * (only an authenticated WireGuard packet does). Everything else is counted
 * and dropped. Pure: the caller looks peers up and sends.
 */
#ifndef OVL_NAT_STUN_PEER_H
#define OVL_NAT_STUN_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "nat/stun.h"
#include "util/inet.h"

#define STUN_PEER_REPLY_MAX 64 /* a Binding success with an IPv6 XOR-MAPPED-ADDRESS: 52 */

struct stun_peer_lookup {
	/* The peer whose USERNAME (public key, base64) this is: its index, or -1. */
	long (*by_username)(void *ctx, const char *name, size_t len);
	/* The peer our check with this transaction id went to: its index, or -1. */
	long (*by_txid)(void *ctx, const uint8_t txid[STUN_TXID_LEN]);
	void *ctx;
};

struct stun_peer_counters {
	uint64_t malformed; /* not well-formed STUN (stun_parse) */
	uint64_t unknown;   /* well-formed, but no check of a known peer nor an answer to ours */
	uint64_t checks;    /* Binding requests of known peers, answered */
	uint64_t answers;   /* answers to our checks */
};

enum stun_peer_verdict {
	STUN_PEER_DROPPED, /* counted */
	STUN_PEER_CHECK,   /* a known peer's check: send out->reply back to from */
	STUN_PEER_ANSWER,  /* an answer to our check: out->mapped is our address as the peer saw it */
};

struct stun_peer_rx {
	long peer; /* CHECK, ANSWER: the peer's index from the lookup */
	struct ip_endpoint mapped;
	uint8_t reply[STUN_PEER_REPLY_MAX];
	size_t reply_len;
};

/* One STUN datagram from `from`, which is no configured STUN server. */
enum stun_peer_verdict stun_peer_on_datagram(const uint8_t *buf, size_t len, const struct ip_endpoint *from,
					     const struct stun_peer_lookup *lk, struct stun_peer_counters *cnt,
					     struct stun_peer_rx *out);

#endif
