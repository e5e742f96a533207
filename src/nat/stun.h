/* SPDX-License-Identifier: MIT */
/*
 * STUN (RFC 8489) messages: the wire constants, Binding requests and
 * indications with FINGERPRINT, the success response a peer's check gets,
 * and a bounds-checked parser for what comes in. Pure: no
 * sockets, no clock. Part II (TURN, RFC 8656) adds its methods and
 * attributes here; the parser already records MESSAGE-INTEGRITY's offset so
 * long-term credentials can be checked with stun_check_integrity().
 */
#ifndef OVL_NAT_STUN_H
#define OVL_NAT_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"

#define STUN_HEADER_LEN 20
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_TXID_LEN 12
#define STUN_FINGERPRINT_XOR 0x5354554Eu
#define STUN_MAX_MESSAGE 1280 /* what we send and accept; Binding fits easily */

/* Message types (method | class bits). */
#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_INDICATION 0x0011
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_BINDING_ERROR 0x0111

/* Attributes. */
#define STUN_ATTR_MAPPED_ADDRESS 0x0001
#define STUN_ATTR_USERNAME 0x0006
#define STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define STUN_ATTR_ERROR_CODE 0x0009
#define STUN_ATTR_UNKNOWN_ATTRIBUTES 0x000A
#define STUN_ATTR_REALM 0x0014
#define STUN_ATTR_NONCE 0x0015
#define STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define STUN_ATTR_SOFTWARE 0x8022
#define STUN_ATTR_FINGERPRINT 0x8028

#define STUN_FAMILY_IPV4 0x01
#define STUN_FAMILY_IPV6 0x02

struct stun_msg {
	uint16_t type;
	uint8_t txid[STUN_TXID_LEN];
	bool has_mapped;	 /* XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS */
	struct ip_endpoint mapped;
	bool has_fingerprint;	 /* present and correct (a wrong one fails the parse) */
	bool has_integrity;
	size_t integrity_offset; /* of the MESSAGE-INTEGRITY attribute header */
	uint16_t error_code;	 /* 300..699 from ERROR-CODE, else 0 */
	unsigned unknown_required; /* comprehension-required attributes we do not know */
	const uint8_t *username; /* USERNAME's value inside the parsed buffer (not terminated), or NULL */
	size_t username_len;
};

/* CRC-32 (ISO 3309, as zlib), for FINGERPRINT. */
uint32_t stun_crc32(const uint8_t *buf, size_t len);

/*
 * Writes a Binding request with txid and a FINGERPRINT into buf (cap >= 28).
 * Returns its length, or 0 when cap is too small.
 */
size_t stun_write_binding_request(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN]);

/* A Binding indication (a keepalive that gets no answer, RFC 8489 3.1) with FINGERPRINT; as above. */
size_t stun_write_binding_indication(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN]);

/*
 * A Binding request with USERNAME (who asks: a peer's connectivity check)
 * and FINGERPRINT. 0 when cap is too small.
 */
size_t stun_write_binding_request_user(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN],
				       const char *username);

/* A Binding success response to txid: XOR-MAPPED-ADDRESS mapped, FINGERPRINT. 0 when cap is too small. */
size_t stun_write_binding_success(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN],
				  const struct ip_endpoint *mapped);

/*
 * Parses one STUN message: 0, or -EINVAL when it is not a well-formed one
 * (header, lengths, attribute bounds, an address of the wrong size, a
 * FINGERPRINT that is not last or does not match). Attributes after
 * MESSAGE-INTEGRITY other than FINGERPRINT are ignored, as RFC 8489 says.
 */
int stun_parse(const uint8_t *buf, size_t len, struct stun_msg *out);

/*
 * Checks MESSAGE-INTEGRITY (HMAC-SHA1 with key) of a message stun_parse
 * accepted with has_integrity. True when it matches.
 */
bool stun_check_integrity(const uint8_t *buf, size_t len, const struct stun_msg *m, const uint8_t *key,
			  size_t keylen);

#endif
