// SPDX-License-Identifier: MIT
/*
 * STUN/TURN message builder (stun_build.h). Each attribute is written
 * whole or not at all: a builder that overflowed writes nothing more.
 */
#include "nat/stun_build.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "util/be.h"

#define ATTR_HEADER_LEN 4
#define HMAC_SHA1_LEN 20

static void set_length(struct stun_builder *b)
{
	be16_put(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
}

void stun_build_start(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t type,
		      const uint8_t txid[STUN_TXID_LEN])
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->overflow = cap < STUN_HEADER_LEN;
	if (b->overflow)
		return;
	be16_put(buf, type);
	be32_put(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, txid, STUN_TXID_LEN);
	b->len = STUN_HEADER_LEN;
	set_length(b);
}

/* Reserves an attribute of vlen value bytes (padded); NULL when it does not fit. */
static uint8_t *reserve(struct stun_builder *b, uint16_t type, size_t vlen)
{
	size_t padded = (vlen + 3) & ~(size_t)3;
	uint8_t *p;

	if (b->overflow || vlen > UINT16_MAX || b->cap - b->len < ATTR_HEADER_LEN + padded ||
	    b->len + ATTR_HEADER_LEN + padded - STUN_HEADER_LEN > UINT16_MAX) {
		b->overflow = true;
		return NULL;
	}
	p = b->buf + b->len;
	be16_put(p, type);
	be16_put(p + 2, (uint16_t)vlen);
	memset(p + ATTR_HEADER_LEN + vlen, 0, padded - vlen);
	b->len += ATTR_HEADER_LEN + padded;
	set_length(b);
	return p + ATTR_HEADER_LEN;
}

void stun_build_attr(struct stun_builder *b, uint16_t type, const void *value, size_t len)
{
	uint8_t *v = reserve(b, type, len);
	if (v && len)
		memcpy(v, value, len);
}

void stun_build_u32(struct stun_builder *b, uint16_t type, uint32_t value)
{
	uint8_t *v = reserve(b, type, 4);
	if (v)
		be32_put(v, value);
}

void stun_build_transport(struct stun_builder *b, uint8_t protocol)
{
	stun_build_u32(b, TURN_ATTR_REQUESTED_TRANSPORT, (uint32_t)protocol << 24);
}

void stun_build_channel(struct stun_builder *b, uint16_t channel)
{
	stun_build_u32(b, TURN_ATTR_CHANNEL_NUMBER, (uint32_t)channel << 16);
}

void stun_build_family(struct stun_builder *b, uint16_t type, int family)
{
	uint32_t f = family == AF_INET6 ? STUN_FAMILY_IPV6 : STUN_FAMILY_IPV4;
	stun_build_u32(b, type, f << 24);
}

void stun_build_xor_address(struct stun_builder *b, uint16_t type, const struct ip_endpoint *ep)
{
	size_t alen = ep->addr.family == AF_INET6 ? 16 : 4;
	uint8_t *v = reserve(b, type, 4 + alen);

	if (!v)
		return;
	v[0] = 0;
	v[1] = alen == 16 ? STUN_FAMILY_IPV6 : STUN_FAMILY_IPV4;
	be16_put(v + 2, (uint16_t)(ep->port ^ (STUN_MAGIC_COOKIE >> 16)));
	/* Address XOR cookie || transaction id: the header's bytes 4..19. */
	for (size_t i = 0; i < alen; i++)
		v[4 + i] = ep->addr.bytes[i] ^ b->buf[4 + i];
}

void stun_build_error(struct stun_builder *b, uint16_t code, const char *reason)
{
	size_t rlen = strlen(reason);
	uint8_t *v = reserve(b, STUN_ATTR_ERROR_CODE, 4 + rlen);

	if (!v)
		return;
	v[0] = v[1] = 0;
	v[2] = (uint8_t)(code / 100);
	v[3] = (uint8_t)(code % 100);
	memcpy(v + 4, reason, rlen);
}

void stun_build_unknown(struct stun_builder *b, const uint16_t *types, size_t n)
{
	uint8_t *v = reserve(b, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
	for (size_t i = 0; v && i < n; i++)
		be16_put(v + 2 * i, types[i]);
}

void stun_build_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	size_t covered = b->len;
	unsigned maclen = 0;
	/* The length field already counts MESSAGE-INTEGRITY itself when the HMAC is taken. */
	uint8_t *v = reserve(b, STUN_ATTR_MESSAGE_INTEGRITY, HMAC_SHA1_LEN);

	if (!v)
		return;
	if (keylen > INT32_MAX || !HMAC(EVP_sha1(), key, (int)keylen, b->buf, covered, v, &maclen) ||
	    maclen != HMAC_SHA1_LEN)
		b->overflow = true; /* cannot happen with OpenSSL's SHA-1; never send a bad MAC */
}

void stun_build_fingerprint(struct stun_builder *b)
{
	size_t covered = b->len;
	uint8_t *v = reserve(b, STUN_ATTR_FINGERPRINT, 4);
	if (v)
		be32_put(v, stun_crc32(b->buf, covered) ^ STUN_FINGERPRINT_XOR);
}

size_t stun_build_finish(const struct stun_builder *b)
{
	return b->overflow ? 0 : b->len;
}
