/* SPDX-License-Identifier: MIT */
/*
 * The relay's allocations (RFC 8656 2.2): one per client 5-tuple, each
 * with its relayed socket, its expiry, the username and key it was made
 * with, its permissions (peer IPs, RFC 8656 9) and channel bindings
 * (channel number <-> peer address, RFC 8656 12). Slots are preallocated
 * (max_sessions of them) and found by client address in a hash table, so
 * nothing is allocated per packet and an allocation's address never
 * changes while it lives. Pure: no sockets, the caller passes the clock.
 */
#ifndef OVL_RELAY_ALLOC_H
#define OVL_RELAY_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nat/stun.h"
#include "relay/fair.h"
#include "util/inet.h"

#define RELAY_MAX_PERMISSIONS 16 /* per allocation; more: 508 */
#define RELAY_MAX_CHANNELS 16
#define RELAY_MAX_USERNAME 256 /* bytes; a longer USERNAME is a bad request */
#define RELAY_NO_SLOT UINT32_MAX

struct relay_permission {
	struct ip_addr peer;
	uint64_t expires_ms;
};

struct relay_channel {
	uint16_t number;
	struct ip_endpoint peer;
	uint64_t expires_ms;
};

struct relay_alloc {
	bool used;
	struct ip_endpoint client;
	struct relay_client *owner; /* its client IP's quota and fair share */
	int fd;			    /* the relayed socket */
	uint16_t relayed_port;
	uint64_t expires_ms;
	uint8_t txid[STUN_TXID_LEN]; /* of the Allocate: a retransmission gets the same answer */
	char username[RELAY_MAX_USERNAME];
	size_t username_len;
	uint8_t key[16]; /* the long-term key it authenticates with */
	struct relay_permission perms[RELAY_MAX_PERMISSIONS];
	size_t n_perms;
	struct relay_channel chans[RELAY_MAX_CHANNELS];
	size_t n_chans;
	uint32_t next;	       /* hash chain by client address */
	uint32_t next_by_port; /* hash chain by relayed port, once relay_alloc_set_port() put it there */
	bool has_port;
	uint64_t rx_packets, tx_packets;
	uint32_t kernel_drops; /* the relayed socket's SO_RXQ_OVFL count when last read (relay.c) */
};

struct relay_alloc_table {
	struct relay_alloc *slots;
	size_t cap, used;
	uint32_t *buckets;
	size_t nbuckets; /* power of two */
	uint32_t *port_buckets; /* nbuckets too: allocations by relayed port */
};

int relay_alloc_table_init(struct relay_alloc_table *t, size_t cap);
void relay_alloc_table_free(struct relay_alloc_table *t);

struct relay_alloc *relay_alloc_find(const struct relay_alloc_table *t, const struct ip_endpoint *client);
/* A fresh slot for client (fields zeroed, fd -1), or NULL when all are in use. */
struct relay_alloc *relay_alloc_insert(struct relay_alloc_table *t, const struct ip_endpoint *client);
void relay_alloc_remove(struct relay_alloc_table *t, struct relay_alloc *a);

/* Records a->relayed_port (once its socket is open), so datagrams to it can be found without the kernel. */
void relay_alloc_set_port(struct relay_alloc_table *t, struct relay_alloc *a);
struct relay_alloc *relay_alloc_by_port(const struct relay_alloc_table *t, uint16_t port);

/* Installs or refreshes the permission for peer's IP. 0, or -ENOSPC. */
int relay_perm_add(struct relay_alloc *a, const struct ip_addr *peer, uint64_t now_ms);
bool relay_perm_check(const struct relay_alloc *a, const struct ip_addr *peer, uint64_t now_ms);

/*
 * Binds channel to peer or refreshes the binding (RFC 8656 12.1): 0,
 * -EEXIST when the channel is bound to another peer or the peer to another
 * channel, -ENOSPC when the allocation has no room for another.
 */
int relay_chan_bind(struct relay_alloc *a, uint16_t channel, const struct ip_endpoint *peer, uint64_t now_ms);
const struct relay_channel *relay_chan_by_number(const struct relay_alloc *a, uint16_t channel, uint64_t now_ms);
const struct relay_channel *relay_chan_by_peer(const struct relay_alloc *a, const struct ip_endpoint *peer,
					       uint64_t now_ms);

/* Drops a's expired permissions and channels. */
void relay_alloc_expire_parts(struct relay_alloc *a, uint64_t now_ms);

#endif
