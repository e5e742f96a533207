/* SPDX-License-Identifier: MIT */
/*
 * Stateless nonces for the relay's long-term credential mechanism
 * (RFC 8489 9.2). A nonce is the time it was issued and a MAC over that
 * time and the client's address and port, keyed by a secret the server
 * draws at start: the server keeps nothing per client before it has
 * authenticated, a nonce is worthless from any other address, and it goes
 * stale (438) RELAY_NONCE_LIFETIME_S after it was issued. Pure: the
 * caller passes the clock.
 */
#ifndef OVL_RELAY_NONCE_H
#define OVL_RELAY_NONCE_H

#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"

#define RELAY_NONCE_LIFETIME_S 600
#define RELAY_NONCE_SECRET_LEN 32
#define RELAY_NONCE_LEN 32 /* 8 hex digits of time, 24 of MAC */

struct relay_nonce_key {
	uint8_t secret[RELAY_NONCE_SECRET_LEN];
};

enum relay_nonce_verdict {
	RELAY_NONCE_VALID,
	RELAY_NONCE_STALE, /* ours, for this client, but too old */
	RELAY_NONCE_FORGED, /* not one we issued to this client */
};

/* Writes the nonce for client at now_s (seconds on the server's clock). */
void relay_nonce_make(const struct relay_nonce_key *k, const struct ip_endpoint *client, uint64_t now_s,
		      char out[RELAY_NONCE_LEN]);

enum relay_nonce_verdict relay_nonce_check(const struct relay_nonce_key *k, const struct ip_endpoint *client,
					   const uint8_t *nonce, size_t len, uint64_t now_s);

#endif
