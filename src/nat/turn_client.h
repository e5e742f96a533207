/* SPDX-License-Identifier: MIT */
/*
 * The TURN client (RFC 8656 over UDP) of one configured server: an
 * allocation with the long-term credential mechanism (Allocate, 401 with
 * REALM and NONCE, Allocate again with USERNAME, REALM, NONCE and
 * MESSAGE-INTEGRITY; 438 Stale Nonce: again with the new nonce), refreshed
 * before it expires; per peer address a permission (CreatePermission,
 * refreshed before its 300 s) and a channel (ChannelBind, 0x4000 up,
 * refreshed before its 600 s) for the ChannelData data path - until the
 * channel is bound, or when the server refuses it or the channel numbers
 * are used up, the permission alone lets the data path fall back to Send
 * indications (turn_client_carry); Deallocate
 * (Refresh with LIFETIME 0) at teardown. An Allocate answered 437
 * (Allocation Mismatch) finds an allocation on our 5-tuple: after a crash,
 * our own earlier run's, which the server would keep for up to its whole
 * lifetime (coturn: 10 min) while we wait without a relay. It is released
 * with a Refresh with LIFETIME 0 under our credentials (RFC 8656 7: the
 * server deletes the allocation of the request's 5-tuple) and the Allocate
 * sent again at once, then up to TURN_RECLAIM_RETRIES more times
 * TURN_RECLAIM_WAIT_MS apart while the server still answers 437 (coturn
 * deletes the released allocation on its next one-second timer, not before
 * it answers); an allocation made with other credentials is not ours
 * to release and the server refuses (441), which is a failure like the
 * others. A failure (wrong credentials, quota, mismatch, no answer) leaves
 * a clear reason and is retried later with a growing backoff.
 *
 * Pure, like stun_client.h: the caller supplies the clock (monotonic ms),
 * random transaction ids and the transport - turn_client_tick() hands it
 * the requests due, to send from the device's own WireGuard port, and
 * turn_client_on_message() takes what the server sent there. Requests are
 * retransmitted as RFC 8489 6.2.1 says (RTO 500 ms doubling, 7 sends, then
 * 16 RTOs). Answers are matched by transaction id and, when we sent
 * credentials, accepted only with a MESSAGE-INTEGRITY made with the
 * long-term key. The password is kept here and used only for that key:
 * nothing here formats it, and the reasons never contain it. Not
 * thread-safe (the caller locks).
 */
#ifndef OVL_NAT_TURN_CLIENT_H
#define OVL_NAT_TURN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nat/stun.h"
#include "util/inet.h"

#define TURN_MAX_BINDINGS 32   /* peer addresses with a permission and a channel */
#define TURN_MAX_TEXT 256      /* username, password, realm, nonce: longer ones are refused */
#define TURN_MAX_REQUEST 1024  /* our largest request, with every attribute at its largest */
#define TURN_RETRY_MIN_MS 5000 /* the first retry after a failure; doubles up to the max */
#define TURN_RETRY_MAX_MS 300000
#define TURN_MAX_STALE_RETRIES 3 /* 438s in a row on one request before it counts as a failure */
#define TURN_RECLAIM_RETRIES 3	 /* Allocates after a release still answered 437, before a failure */
#define TURN_RECLAIM_WAIT_MS 1000 /* between those */
/* Refresh a permission / channel this long before it would expire. */
#define TURN_PERMISSION_REFRESH_MS ((TURN_PERMISSION_LIFETIME_S - 60) * 1000u)
#define TURN_CHANNEL_REFRESH_MS ((TURN_CHANNEL_LIFETIME_S - 120) * 1000u)

enum turn_state {
	TURN_STATE_IDLE,	 /* not started */
	TURN_STATE_ALLOCATING,	 /* Allocate in flight (with or without credentials yet) */
	TURN_STATE_ALLOCATED,	 /* a relayed address: the data path may use it */
	TURN_STATE_FAILED,	 /* error holds why; retried at retry_at_ms */
	TURN_STATE_DEALLOCATING, /* Refresh LIFETIME 0 in flight */
	TURN_STATE_CLOSED,	 /* deallocated (or never allocated): nothing more is sent */
};

enum turn_request {
	TURN_REQ_ALLOCATE,
	TURN_REQ_REFRESH,
	TURN_REQ_DEALLOCATE,
	TURN_REQ_RECLAIM, /* while allocating: release what an Allocate's 437 found (a Refresh with LIFETIME 0) */
	TURN_REQ_PERMISSION,
	TURN_REQ_CHANNEL,
};

struct turn_txn {
	bool active;
	enum turn_request kind;
	bool with_credentials;
	uint8_t txid[STUN_TXID_LEN];
	uint64_t next_send_ms; /* the next retransmission, or the give-up time after the last */
	uint64_t rto_ms;
	unsigned sent;
	unsigned stale_retries;
};

struct turn_binding {
	struct ip_endpoint peer;
	uint16_t channel; /* 0: none (the numbers were used up): Send indications only */
	bool permitted;	 /* CreatePermission succeeded (refresh due at permission_refresh_ms) */
	bool bound;	 /* ChannelBind succeeded: ChannelData may flow on channel */
	uint16_t error_code; /* of the last failed request for this peer; 0: none */
	uint64_t permission_refresh_ms, channel_refresh_ms;
	struct turn_txn permission_txn, channel_txn;
};

struct turn_client {
	struct ip_endpoint server;
	char username[TURN_MAX_TEXT], password[TURN_MAX_TEXT];
	void (*rand)(uint8_t *, size_t);

	enum turn_state state;
	char error[160]; /* why the last failure happened; "" when none. Never holds a secret. */
	uint16_t error_code; /* the server's, 0 for a local reason (timeout, bad answer) */
	unsigned failures;   /* in a row: the backoff's exponent */
	/* This allocation attempt's release of what a 437 found: sent (once per
	 * attempt), answered, and the Allocates answered 437 since. Zeroed when
	 * an attempt ends (allocated, or failed). */
	struct {
		bool tried, released;
		unsigned retries;
	} reclaim;
	uint64_t retry_at_ms;

	/* The server's long-term credential parameters; key = MD5(user:realm:pass). */
	char realm[TURN_MAX_TEXT];
	uint8_t nonce[TURN_MAX_TEXT];
	size_t realm_len, nonce_len;
	bool has_key;
	uint8_t key[16];

	struct turn_txn txn; /* Allocate, Refresh or Deallocate: the allocation's own request */
	struct ip_endpoint relayed, mapped;
	uint32_t lifetime_s;
	uint64_t refresh_at_ms, expires_ms;

	struct turn_binding bindings[TURN_MAX_BINDINGS];
	size_t n_bindings;
	uint16_t next_channel;

	/* Counters: what was dropped and why. */
	uint64_t rx_malformed, rx_unknown_txn, rx_bad_integrity, rx_data_unpermitted, sent, timeouts;
	uint64_t stale_nonces; /* 438 answers taken (the request sent again with the new nonce) */
	uint64_t reclaims;     /* allocations found on our 5-tuple (437) and released */
};

/* A request to send to c->server. */
struct turn_send {
	uint8_t buf[TURN_MAX_REQUEST];
	size_t len;
};

/* What an incoming message was. */
enum turn_rx {
	TURN_RX_DROPPED,  /* malformed, unmatched, or failed its integrity check (counted) */
	TURN_RX_ANSWER,	  /* an answer to one of our requests: the state may have moved */
	TURN_RX_DATA,	  /* a Data indication from a permitted peer: *peer and *data */
};

/*
 * Sets up the client for server with the credentials (copied). -EINVAL
 * when either is empty or longer than TURN_MAX_TEXT - 1 bytes.
 */
int turn_client_init(struct turn_client *c, const struct ip_endpoint *server, const char *username,
		     const char *password, void (*rand)(uint8_t *, size_t));

/* Starts allocating at now_ms (IDLE, FAILED or CLOSED; otherwise nothing). */
void turn_client_start(struct turn_client *c, uint64_t now_ms);

/*
 * The requests due at now_ms (at most cap, into out): first sends,
 * retransmissions, refreshes, retries after a failure. Returns the count.
 */
size_t turn_client_tick(struct turn_client *c, uint64_t now_ms, struct turn_send *out, size_t cap);

/*
 * A STUN message from the server (the caller checked the source). For a
 * Data indication from a peer with a permission, *peer, *data and *data_len
 * (pointing into buf) get its contents.
 */
enum turn_rx turn_client_on_message(struct turn_client *c, const uint8_t *buf, size_t len, uint64_t now_ms,
				    struct ip_endpoint *peer, const uint8_t **data, size_t *data_len);

/*
 * A permission and a channel for peer (created by the next ticks once
 * allocated, and kept refreshed). Returns the channel number (the existing
 * one when peer already has it), or 0 when peer has no channel: the table
 * is full (no binding at all), or every channel number was given out (a
 * binding with a permission only, for Send indications).
 */
uint16_t turn_client_bind(struct turn_client *c, const struct ip_endpoint *peer, uint64_t now_ms);

/*
 * Forgets peer's binding: no more CreatePermission or ChannelBind for it
 * (the server lets both expire). Its channel number is not used again:
 * the server keeps a channel bound to its address until it expires.
 */
void turn_client_unbind(struct turn_client *c, const struct ip_endpoint *peer);

/* The binding of peer / of channel, or NULL. */
const struct turn_binding *turn_client_binding(const struct turn_client *c, const struct ip_endpoint *peer);
const struct turn_binding *turn_client_channel(const struct turn_client *c, uint16_t channel);

/* True when ChannelData may be sent on channel: allocated, and the channel bound. */
bool turn_client_channel_ready(const struct turn_client *c, uint16_t channel);

/* How the data path may reach a peer through the relay now. */
enum turn_carry {
	TURN_CARRY_NONE,	/* not allocated, or no permission for the peer (yet) */
	TURN_CARRY_INDICATION,	/* a permission but no bound channel: Send indications */
	TURN_CARRY_CHANNEL,	/* the channel is bound: ChannelData on *channel */
};
/*
 * How peer (turn_client_bind'ed) can be reached: ChannelData once its
 * channel is bound, Send indications with the permission alone (before the
 * ChannelBind is answered, or when it failed: a server refusing channels,
 * the channel numbers used up), else not at all. *channel: the bound
 * channel for TURN_CARRY_CHANNEL, else 0.
 */
enum turn_carry turn_client_carry(const struct turn_client *c, const struct ip_endpoint *peer, uint16_t *channel);

/*
 * Teardown: a Deallocate (Refresh with LIFETIME 0) when allocated; CLOSED
 * when it is answered or given up, or at once when there is nothing to
 * release. Ticks keep sending its retransmissions meanwhile.
 */
void turn_client_close(struct turn_client *c, uint64_t now_ms);

const char *turn_state_name(enum turn_state s); /* "idle", "allocating", "allocated", ... */

#endif
