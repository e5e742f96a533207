/* SPDX-License-Identifier: MIT */
/*
 * WireGuard's wire format and protocol constants (the paper's section 5 and
 * 6). Multi-byte integers on the wire are little-endian; the structs below are
 * packed byte layouts, read and written with le32/le64 helpers so the code is
 * right on any host.
 */
#ifndef OVL_WG_MESSAGES_H
#define OVL_WG_MESSAGES_H

#include <endian.h>
#include <stdint.h>

#include "util/le32.h"
#include "wg/crypto.h"

#define WG_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define WG_IDENTIFIER "WireGuard v1 zx2c4 Jason@zx2c4.com"
#define WG_LABEL_MAC1 "mac1----"
#define WG_LABEL_COOKIE "cookie--"

#define NSEC_PER_SEC 1000000000ULL
/* Timers and limits, in seconds unless noted. */
#define WG_REKEY_AFTER_MESSAGES (1ULL << 60)
#define WG_REJECT_AFTER_MESSAGES (UINT64_MAX - (1ULL << 13))
#define WG_REKEY_AFTER_TIME 120
#define WG_REJECT_AFTER_TIME 180
#define WG_REKEY_ATTEMPT_TIME 90
#define WG_REKEY_TIMEOUT 5
#define WG_REKEY_TIMEOUT_JITTER_MS 333
#define WG_KEEPALIVE_TIMEOUT 10
#define WG_COOKIE_SECRET_MAX_AGE 120
#define WG_COOKIE_SECRET_LATENCY 5
#define WG_MAX_TIMER_HANDSHAKES (WG_REKEY_ATTEMPT_TIME / WG_REKEY_TIMEOUT)
#define WG_INITIATIONS_PER_SECOND 50
/* Per-source handshake budget under load (token bucket). */
#define WG_RATELIMIT_PACKETS_PER_SECOND 20
#define WG_RATELIMIT_BURST 5
/*
 * Handshake messages per second above which a device counts as under load
 * (and demands cookies), and for how long after the rate drops it stays so.
 * The kernel measures its handshake queue instead; we handle handshakes
 * inline, so we measure their rate.
 */
#define WG_UNDER_LOAD_HANDSHAKES_PER_SECOND 1000
#define WG_UNDER_LOAD_AFTER_TIME 1

#define WG_DEFAULT_MTU 1420
#define WG_MAX_PACKET 65535

enum wg_message_type {
	WG_MSG_INITIATION = 1,
	WG_MSG_RESPONSE = 2,
	WG_MSG_COOKIE = 3,
	WG_MSG_DATA = 4,
};

struct wg_msg_macs {
	uint8_t mac1[WG_MAC_LEN];
	uint8_t mac2[WG_MAC_LEN];
} __attribute__((packed));

struct wg_msg_initiation {
	uint32_t type; /* le32 */
	uint32_t sender_index;
	uint8_t ephemeral[WG_X25519_LEN];
	uint8_t encrypted_static[WG_X25519_LEN + WG_AEAD_TAG_LEN];
	uint8_t encrypted_timestamp[12 + WG_AEAD_TAG_LEN];
	struct wg_msg_macs macs;
} __attribute__((packed));

struct wg_msg_response {
	uint32_t type;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t ephemeral[WG_X25519_LEN];
	uint8_t encrypted_nothing[WG_AEAD_TAG_LEN];
	struct wg_msg_macs macs;
} __attribute__((packed));

struct wg_msg_cookie {
	uint32_t type;
	uint32_t receiver_index;
	uint8_t nonce[WG_XNONCE_LEN];
	uint8_t encrypted_cookie[WG_MAC_LEN + WG_AEAD_TAG_LEN];
} __attribute__((packed));

struct wg_msg_data {
	uint32_t type;
	uint32_t receiver_index;
	uint64_t counter; /* le64 */
	uint8_t encrypted[];
} __attribute__((packed));

#define WG_MSG_INITIATION_LEN 148
#define WG_MSG_RESPONSE_LEN 92
#define WG_MSG_COOKIE_LEN 64
#define WG_MSG_DATA_MIN_LEN 32 /* header + tag: a keepalive */
#define WG_DATA_HEADER_LEN 16

_Static_assert(sizeof(struct wg_msg_initiation) == WG_MSG_INITIATION_LEN, "initiation size");
_Static_assert(sizeof(struct wg_msg_response) == WG_MSG_RESPONSE_LEN, "response size");
_Static_assert(sizeof(struct wg_msg_cookie) == WG_MSG_COOKIE_LEN, "cookie size");
_Static_assert(sizeof(struct wg_msg_data) == WG_DATA_HEADER_LEN, "data header size");

/* Data payloads are padded to a multiple of this (the paper's 5.4.6). */
#define WG_PADDING_MULTIPLE 16

/*
 * Classify a datagram: the message type when its length is valid for that
 * type, else 0 (not WireGuard, e.g. STUN).
 */
static inline enum wg_message_type wg_message_classify(const uint8_t *buf, size_t len)
{
	uint32_t type;
	if (len < 4)
		return 0;
	type = le32_get(buf);
	switch (type) {
	case WG_MSG_INITIATION:
		return len == WG_MSG_INITIATION_LEN ? WG_MSG_INITIATION : 0;
	case WG_MSG_RESPONSE:
		return len == WG_MSG_RESPONSE_LEN ? WG_MSG_RESPONSE : 0;
	case WG_MSG_COOKIE:
		return len == WG_MSG_COOKIE_LEN ? WG_MSG_COOKIE : 0;
	case WG_MSG_DATA:
		return len >= WG_MSG_DATA_MIN_LEN ? WG_MSG_DATA : 0;
	default:
		return 0;
	}
}

#endif
