// SPDX-License-Identifier: MIT
/*
 * STUN message codec (RFC 8489): Binding requests out, responses in. Every
 * length is checked against the buffer before it is read; a message is
 * accepted whole or not at all.
 */
#include "nat/stun.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "util/crc32.h"

#define ATTR_HEADER_LEN 4
#define FINGERPRINT_ATTR_LEN 8
#define INTEGRITY_ATTR_LEN 24 /* header + HMAC-SHA1 */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

uint32_t stun_crc32(const uint8_t *buf, size_t len)
{
	return crc32_update(0, buf, len);
}

size_t stun_write_binding_request(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN])
{
	size_t len = STUN_HEADER_LEN + FINGERPRINT_ATTR_LEN;
	if (cap < len)
		return 0;
	put16(buf, STUN_BINDING_REQUEST);
	put16(buf + 2, FINGERPRINT_ATTR_LEN);
	put32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, txid, STUN_TXID_LEN);
	put16(buf + 20, STUN_ATTR_FINGERPRINT);
	put16(buf + 22, 4);
	put32(buf + 24, stun_crc32(buf, STUN_HEADER_LEN) ^ STUN_FINGERPRINT_XOR);
	return len;
}

/* (XOR-)MAPPED-ADDRESS value: reserved, family, port, address. */
static int parse_address(const uint8_t *v, size_t vlen, bool xored, const uint8_t *header,
			 struct ip_endpoint *out)
{
	size_t alen;
	memset(out, 0, sizeof(*out));
	if (vlen < 4)
		return -EINVAL;
	switch (v[1]) {
	case STUN_FAMILY_IPV4:
		alen = 4;
		out->addr.family = AF_INET;
		break;
	case STUN_FAMILY_IPV6:
		alen = 16;
		out->addr.family = AF_INET6;
		break;
	default:
		return -EINVAL;
	}
	if (vlen != 4 + alen)
		return -EINVAL;
	out->port = get16(v + 2);
	memcpy(out->addr.bytes, v + 4, alen);
	if (xored) {
		/* Port with the cookie's top half; address with cookie || transaction id. */
		out->port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
		for (size_t i = 0; i < alen; i++)
			out->addr.bytes[i] ^= header[4 + i];
	}
	return 0;
}

int stun_parse(const uint8_t *buf, size_t len, struct stun_msg *out)
{
	bool have_xor = false, after_integrity = false;
	size_t off = STUN_HEADER_LEN;

	memset(out, 0, sizeof(*out));
	if (len < STUN_HEADER_LEN || len % 4 || (buf[0] & 0xc0) || get32(buf + 4) != STUN_MAGIC_COOKIE ||
	    get16(buf + 2) != len - STUN_HEADER_LEN)
		return -EINVAL;
	out->type = get16(buf);
	memcpy(out->txid, buf + 8, STUN_TXID_LEN);
	while (off < len) {
		uint16_t type, alen;
		const uint8_t *v;
		if (len - off < ATTR_HEADER_LEN)
			return -EINVAL;
		type = get16(buf + off);
		alen = get16(buf + off + 2);
		if (len - off - ATTR_HEADER_LEN < alen)
			return -EINVAL;
		v = buf + off + ATTR_HEADER_LEN;
		if (type == STUN_ATTR_FINGERPRINT) {
			/* Last, and over everything before it. */
			if (alen != 4 || off + FINGERPRINT_ATTR_LEN != len ||
			    get32(v) != (stun_crc32(buf, off) ^ STUN_FINGERPRINT_XOR))
				return -EINVAL;
			out->has_fingerprint = true;
		} else if (after_integrity) {
			/* Not covered by the integrity check: ignored (RFC 8489 14.5). */
		} else if (type == STUN_ATTR_MESSAGE_INTEGRITY) {
			if (alen != 20)
				return -EINVAL;
			out->has_integrity = true;
			out->integrity_offset = off;
			after_integrity = true;
		} else if (type == STUN_ATTR_XOR_MAPPED_ADDRESS) {
			if (parse_address(v, alen, true, buf, &out->mapped) < 0)
				return -EINVAL;
			out->has_mapped = have_xor = true;
		} else if (type == STUN_ATTR_MAPPED_ADDRESS) {
			struct ip_endpoint plain;
			if (parse_address(v, alen, false, buf, &plain) < 0)
				return -EINVAL;
			if (!have_xor) {
				out->mapped = plain;
				out->has_mapped = true;
			}
		} else if (type == STUN_ATTR_ERROR_CODE) {
			if (alen < 4 || v[2] < 3 || v[2] > 6 || v[3] > 99)
				return -EINVAL;
			out->error_code = (uint16_t)(v[2] * 100 + v[3]);
		} else if (type < 0x8000 && type != STUN_ATTR_USERNAME && type != STUN_ATTR_REALM &&
			   type != STUN_ATTR_NONCE && type != STUN_ATTR_UNKNOWN_ATTRIBUTES) {
			out->unknown_required++;
		}
		/* Values are padded to a multiple of 4; the padding may be absent only at the end. */
		off += ATTR_HEADER_LEN + (((size_t)alen + 3) & ~(size_t)3);
		if (off > len)
			return -EINVAL;
	}
	return 0;
}

bool stun_check_integrity(const uint8_t *buf, size_t len, const struct stun_msg *m, const uint8_t *key,
			  size_t keylen)
{
	uint8_t copy[STUN_MAX_MESSAGE], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	size_t off = m->integrity_offset;

	if (!m->has_integrity || off + INTEGRITY_ATTR_LEN > len || off > sizeof(copy) || keylen > INT32_MAX)
		return false;
	/* The length field counts up to the end of MESSAGE-INTEGRITY (RFC 8489 14.5). */
	memcpy(copy, buf, off);
	put16(copy + 2, (uint16_t)(off + INTEGRITY_ATTR_LEN - STUN_HEADER_LEN));
	if (!HMAC(EVP_sha1(), key, (int)keylen, copy, off, mac, &maclen) || maclen != 20)
		return false;
	return CRYPTO_memcmp(mac, buf + off + ATTR_HEADER_LEN, 20) == 0;
}
