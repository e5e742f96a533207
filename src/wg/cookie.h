/* SPDX-License-Identifier: MIT */
/*
 * MAC1/MAC2 and cookie replies (paper section 5.4.4 and 5.4.7): the
 * checker is the device's side (verifies MACs, issues cookies bound to the
 * sender's address), the maker is one peer's side (adds MACs, consumes
 * cookie replies). Not locked: callers serialise a checker or maker.
 */
#ifndef OVL_WG_COOKIE_H
#define OVL_WG_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"
#include "wg/messages.h"

struct wg_cookie_checker {
	uint8_t mac1_key[WG_HASH_LEN];
	uint8_t encryption_key[WG_HASH_LEN];
	uint8_t secret[WG_HASH_LEN];
	uint64_t secret_birth_ns; /* monotonic; 0 = never generated */
};

struct wg_cookie_maker {
	uint8_t mac1_key[WG_HASH_LEN];
	uint8_t decryption_key[WG_HASH_LEN];
	uint8_t cookie[WG_MAC_LEN];
	uint64_t cookie_birth_ns; /* 0 = no cookie */
	uint8_t last_mac1[WG_MAC_LEN];
	bool have_sent_mac1;
};

enum wg_cookie_result {
	WG_COOKIE_INVALID,    /* bad MAC1: drop silently */
	WG_COOKIE_VALID_MAC1, /* good MAC1; MAC2 absent or wrong */
	WG_COOKIE_VALID_MAC2, /* good MAC1 and MAC2 */
};

/* Keys derive from the device's public key (all-zero when it has none). */
int wg_cookie_checker_init(struct wg_cookie_checker *c, const uint8_t public_key[WG_X25519_LEN]);
/* msg is a whole initiation or response; its MACs are the last 32 bytes. */
enum wg_cookie_result wg_cookie_validate(struct wg_cookie_checker *c, const uint8_t *msg, size_t len,
					 const struct ip_endpoint *src, bool check_mac2,
					 uint64_t now_ns);
int wg_cookie_create_reply(struct wg_cookie_checker *c, struct wg_msg_cookie *reply,
			   const uint8_t *msg, size_t len, uint32_t receiver_index,
			   const struct ip_endpoint *src, uint64_t now_ns);

int wg_cookie_maker_init(struct wg_cookie_maker *m, const uint8_t peer_public[WG_X25519_LEN]);
/* Fill the MACs of an initiation or response about to be sent. */
int wg_cookie_add_macs(struct wg_cookie_maker *m, uint8_t *msg, size_t len, uint64_t now_ns);
/* Decrypt a cookie reply for our last message. -EBADMSG when forged. */
int wg_cookie_consume_reply(struct wg_cookie_maker *m, const struct wg_msg_cookie *reply,
			    uint64_t now_ns);

#endif
