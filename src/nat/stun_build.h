/* SPDX-License-Identifier: MIT */
/*
 * Building STUN and TURN messages of any shape: a header, attributes
 * appended in order (each padded to 4 bytes, the header's length kept
 * current), then optionally MESSAGE-INTEGRITY (HMAC-SHA1 with a short- or
 * long-term key, RFC 8489 14.5) and FINGERPRINT (14.7), which must come
 * last in that order. Writing never runs past the buffer: once something
 * does not fit the builder is marked overflowed and stun_build_finish()
 * returns 0, so callers check once at the end. Pure: no sockets, no clock.
 */
#ifndef OVL_NAT_STUN_BUILD_H
#define OVL_NAT_STUN_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nat/stun.h"
#include "util/inet.h"

struct stun_builder {
	uint8_t *buf;
	size_t cap, len;
	bool overflow;
};

/* A message of type (stun_type(method, class)) with txid, no attributes yet. */
void stun_build_start(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t type,
		      const uint8_t txid[STUN_TXID_LEN]);

/* An attribute with an opaque value of len bytes (zero padding added). */
void stun_build_attr(struct stun_builder *b, uint16_t type, const void *value, size_t len);

/* A 4-byte value in network order: LIFETIME, for instance. */
void stun_build_u32(struct stun_builder *b, uint16_t type, uint32_t value);

/* REQUESTED-TRANSPORT / CHANNEL-NUMBER / REQUESTED-ADDRESS-FAMILY shapes. */
void stun_build_transport(struct stun_builder *b, uint8_t protocol);
void stun_build_channel(struct stun_builder *b, uint16_t channel);
void stun_build_family(struct stun_builder *b, uint16_t type, int family);

/* An XOR-*-ADDRESS attribute (XOR-MAPPED, XOR-PEER, XOR-RELAYED) for ep. */
void stun_build_xor_address(struct stun_builder *b, uint16_t type, const struct ip_endpoint *ep);

/* ERROR-CODE: code 300..699 and a short reason phrase. */
void stun_build_error(struct stun_builder *b, uint16_t code, const char *reason);

/* UNKNOWN-ATTRIBUTES listing n types (for a 420 answer). */
void stun_build_unknown(struct stun_builder *b, const uint16_t *types, size_t n);

/* MESSAGE-INTEGRITY over everything so far, with key (HMAC-SHA1). */
void stun_build_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen);

/* FINGERPRINT over everything so far; the last attribute. */
void stun_build_fingerprint(struct stun_builder *b);

/* The message's length, or 0 when anything did not fit. */
size_t stun_build_finish(const struct stun_builder *b);

#endif
