/* SPDX-License-Identifier: MIT */
/*
 * The STUN Binding client of one device port: one transaction per
 * (configured server, address family), retransmitted as RFC 8489 6.2.1 says
 * (RTO 500 ms doubling, Rc = 7 sends, then Rm = 16 RTOs of waiting), never
 * blocking: the caller's timer calls stun_client_tick() and sends what it is
 * handed from the device's own port, so each mapping learned is the one of
 * the port peers use. Answers are matched by server address and transaction
 * id; anything else is counted and dropped. Pure: the caller supplies the
 * clock and the transport; not thread-safe (the caller locks).
 */
#ifndef OVL_NAT_STUN_CLIENT_H
#define OVL_NAT_STUN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nat/stun.h"
#include "util/inet.h"

#define STUN_RTO_MS 500
#define STUN_RC 7
#define STUN_RM 16
#define STUN_MAX_SERVERS 8
/*
 * Between refreshes, a Binding indication to every server with a mapping
 * this often: the NAT must not forget the mapping (Linux conntrack forgets
 * a UDP flow of one request and one answer after 30 s, as many home
 * routers do). A forgotten mapping is not merely re-learned at the next
 * refresh: Linux gives a new flow the port of any live flow from the same
 * source, so after the NAT hazard (see nat/punch.h) the refresh inherits the
 * hazard's port and the candidate the peer holds is stale from then on.
 * 15 s is RFC 8445's Tr.
 */
#define STUN_KEEPALIVE_MS 15000

/*
 * RFC 8489 6.2.1's schedule, shared by the STUN and TURN clients: after
 * send number `sent` (1-based) at now_ms, when the next one is due - one RTO
 * later, the RTO then doubling - or, after the last of Rc sends, when the
 * transaction is given up (Rm RTOs later).
 */
static inline uint64_t stun_next_send_ms(unsigned sent, uint64_t now_ms, uint64_t *rto_ms)
{
	uint64_t next;
	if (sent == STUN_RC)
		return now_ms + (uint64_t)STUN_RM * STUN_RTO_MS;
	next = now_ms + *rto_ms;
	*rto_ms *= 2;
	return next;
}

enum stun_mapping_behaviour {
	STUN_MAPPING_UNKNOWN,		   /* fewer than two servers answered */
	STUN_MAPPING_ENDPOINT_INDEPENDENT, /* the same mapping towards every server: hole punching works */
	STUN_MAPPING_ENDPOINT_DEPENDENT,   /* a new mapping per destination ("symmetric"): needs a relay */
};

struct stun_txn {
	bool active;
	uint8_t txid[STUN_TXID_LEN];
	uint64_t next_send_ms; /* the next retransmission, or the give-up time after the last */
	uint64_t rto_ms;
	unsigned sent;
};

struct stun_server {
	struct ip_endpoint addr; /* resolved by the caller */
	struct stun_txn txn;
	bool has_mapped;
	struct ip_endpoint mapped;
	uint64_t mapped_ms;
	uint64_t next_keepalive_ms; /* with has_mapped and no transaction open */
};

struct stun_client {
	struct stun_server servers[STUN_MAX_SERVERS];
	size_t n_servers;
	/* Counters: what was dropped and why. */
	uint64_t rx_malformed, rx_unknown_server, rx_unknown_txn, rx_errors, sent, timeouts;
};

/* Something to send: a Binding request of len bytes to `to`. */
struct stun_send {
	struct ip_endpoint to;
	uint8_t buf[32];
	size_t len;
};

/* A server (resolved address); false when full or already there. */
bool stun_client_add_server(struct stun_client *c, const struct ip_endpoint *addr);

/* Whether addr is one of the servers (what else reaches the port is a peer's). */
bool stun_client_has_server(const struct stun_client *c, const struct ip_endpoint *addr);

/* Starts a new transaction towards every server (a refresh), with fresh ids from rand(). */
void stun_client_refresh(struct stun_client *c, uint64_t now_ms, void (*rand)(uint8_t *, size_t));

/*
 * The sends due at now_ms (at most cap, into out): requests, and keepalive
 * indications to servers with a mapping; gives up transactions whose time
 * is over, forgetting their server's mapping. Returns the count.
 */
size_t stun_client_tick(struct stun_client *c, uint64_t now_ms, struct stun_send *out, size_t cap);

/*
 * A STUN datagram from `from`. True when it answered one of our
 * transactions with a mapping (then stored); false otherwise (counted).
 */
bool stun_client_on_datagram(struct stun_client *c, const uint8_t *buf, size_t len, const struct ip_endpoint *from,
			     uint64_t now_ms);

/* The earliest time tick has work, or UINT64_MAX when idle. */
uint64_t stun_client_next_ms(const struct stun_client *c);

/* From the servers of one family that answered. */
enum stun_mapping_behaviour stun_client_mapping(const struct stun_client *c, int family);
const char *stun_mapping_name(enum stun_mapping_behaviour b);

#endif
