/* SPDX-License-Identifier: MIT */
/*
 * The TURN server's logic (RFC 8656 over UDP), one datagram at a time:
 * from a client on the listening socket (STUN requests and indications,
 * ChannelData) or from a peer on an allocation's relayed socket. Each
 * datagram yields at most one to send, described by a struct relay_tx
 * whose body points into the datagram received (relayed data is never
 * copied, except into a Data indication). Sockets are opened and closed
 * through relay_sock_ops, so the unit tests and the fuzz harness run this
 * file against fake ones; io.c runs it on real sockets in its own thread.
 * Not thread-safe: one thread owns a server.
 *
 * Authentication is the long-term credential mechanism (RFC 8489 9.2)
 * with realm RELAY_REALM and the cluster's auth_credential as everyone's
 * password; the username is free-form (it names the client in logs and
 * binds the allocation: later requests on it must use the same one, 441).
 * The server never relays for a client that has not authenticated, nor
 * to or from a peer without a permission.
 */
#ifndef OVL_RELAY_SERVER_H
#define OVL_RELAY_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/alloc.h"
#include "relay/fair.h"
#include "relay/nonce.h"
#include "util/inet.h"

#define RELAY_REALM "overlayd"
#define RELAY_MAX_LIFETIME_S 3600
/* Channels of RFC 5766 too (0x4000-0x7FFF): clients written to it use the whole range. */
#define RELAY_CHANNEL_MAX TURN_CHANNEL_MAX_RFC5766
#define RELAY_MAX_DATAGRAM 2048 /* received; larger ones are dropped */
#define RELAY_TX_SCRATCH (RELAY_MAX_DATAGRAM + 128) /* an answer, a ChannelData header or a Data indication */

struct relay_sock_ops {
	/*
	 * Opens a's relayed UDP socket (family of the external address), on an
	 * even port when even (EVEN-PORT), sending with the DF bit set (and
	 * never fragmenting) when dont_fragment (DONT-FRAGMENT): sets a->fd,
	 * a->relayed_port. 0 or -errno.
	 */
	int (*open)(void *ctx, struct relay_alloc *a, int family, bool even, bool dont_fragment);
	void (*close)(void *ctx, struct relay_alloc *a);
	void *ctx;
};

struct relay_config {
	struct ip_addr external; /* the relayed addresses' IP (external_addr) */
	uint16_t listen_port;	 /* no allocation may name external:listen_port as a peer */
	size_t max_sessions;	 /* allocations in all */
	uint32_t allocs_per_client;
	const char *password; /* auth_credential; copied */
};

struct relay_stats {
	uint64_t allocations, refused_quota, refused_capacity, auth_failures, stale_nonces;
	uint64_t to_peer, to_client, dropped_no_permission, dropped_fair_share;
};

struct relay_server {
	struct ip_addr external;
	size_t max_sessions;
	char *password;
	struct relay_nonce_key nonce_key;
	struct relay_alloc_table table;
	struct relay_fair fair;
	struct relay_sock_ops ops;
	int listen_fd;
	uint16_t listen_port;
	struct relay_stats stats;
	uint64_t last_quota_log_ms, last_capacity_log_ms, last_auth_log_ms; /* one line a second per kind */
};

/* One datagram to send: head (scratch) then body (the received datagram), either may be empty. */
struct relay_tx {
	int fd;
	struct ip_endpoint to;
	const uint8_t *head, *body;
	size_t head_len, body_len;
};

/* 0, or -ENOMEM. listen_fd is the socket answers and ChannelData to clients leave from. */
int relay_server_init(struct relay_server *s, const struct relay_config *c, const struct relay_sock_ops *ops,
		      int listen_fd);
/* Closes every allocation's socket and frees the server. */
void relay_server_free(struct relay_server *s);

/* A datagram from client `from`; true when *tx is to be sent (its head is in scratch). */
bool relay_server_from_client(struct relay_server *s, const struct ip_endpoint *from, const uint8_t *buf,
			      size_t len, uint64_t now_ms, uint8_t scratch[RELAY_TX_SCRATCH], struct relay_tx *tx);

/* A datagram from `from` on a's relayed socket; the same contract. */
bool relay_server_from_peer(struct relay_server *s, struct relay_alloc *a, const struct ip_endpoint *from,
			    const uint8_t *buf, size_t len, uint64_t now_ms, uint8_t scratch[RELAY_TX_SCRATCH],
			    struct relay_tx *tx);

/* Deletes expired allocations (closing their sockets) and expired permissions and channels. */
void relay_server_expire(struct relay_server *s, uint64_t now_ms);

/* allocs_per_client for max_sessions: a quarter of them, at least one. */
uint32_t relay_allocs_per_client(size_t max_sessions);

#endif
