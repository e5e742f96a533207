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
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		crc ^= buf[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* The header of a message of `type`; attributes follow at STUN_HEADER_LEN. */
static void write_header(uint8_t *buf, uint16_t type, const uint8_t txid[STUN_TXID_LEN])
{
	put16(buf, type);
	put16(buf + 2, 0);
	put32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, txid, STUN_TXID_LEN);
}

/* Appends an attribute at *off (value padded to 4); false when it does not fit in cap. */
static bool put_attr(uint8_t *buf, size_t cap, size_t *off, uint16_t type, const void *val, size_t vlen)
{
	size_t padded = (vlen + 3) & ~(size_t)3;
	if (vlen > 0xffff || cap - *off < ATTR_HEADER_LEN + padded)
		return false;
	put16(buf + *off, type);
	put16(buf + *off + 2, (uint16_t)vlen);
	memcpy(buf + *off + ATTR_HEADER_LEN, val, vlen);
	memset(buf + *off + ATTR_HEADER_LEN + vlen, 0, padded - vlen);
	*off += ATTR_HEADER_LEN + padded;
	return true;
}

/* FINGERPRINT last, over everything before it; the total length. 0 when it does not fit. */
static size_t finish(uint8_t *buf, size_t cap, size_t off)
{
	if (cap - off < FINGERPRINT_ATTR_LEN)
		return 0;
	put16(buf + 2, (uint16_t)(off + FINGERPRINT_ATTR_LEN - STUN_HEADER_LEN));
	put16(buf + off, STUN_ATTR_FINGERPRINT);
	put16(buf + off + 2, 4);
	put32(buf + off + 4, stun_crc32(buf, off) ^ STUN_FINGERPRINT_XOR);
	return off + FINGERPRINT_ATTR_LEN;
}

static size_t write_plain(uint8_t *buf, size_t cap, uint16_t type, const uint8_t txid[STUN_TXID_LEN])
{
	if (cap < STUN_HEADER_LEN + FINGERPRINT_ATTR_LEN)
		return 0;
	write_header(buf, type, txid);
	return finish(buf, cap, STUN_HEADER_LEN);
}

size_t stun_write_binding_request(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN])
{
	return write_plain(buf, cap, STUN_BINDING_REQUEST, txid);
}

size_t stun_write_binding_indication(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN])
{
	return write_plain(buf, cap, STUN_BINDING_INDICATION, txid);
}

size_t stun_write_binding_request_user(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN],
				       const char *username)
{
	size_t off = STUN_HEADER_LEN;
	if (cap < STUN_HEADER_LEN)
		return 0;
	write_header(buf, STUN_BINDING_REQUEST, txid);
	if (!put_attr(buf, cap, &off, STUN_ATTR_USERNAME, username, strlen(username)))
		return 0;
	return finish(buf, cap, off);
}

size_t stun_write_binding_success(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN],
				  const struct ip_endpoint *mapped)
{
	uint8_t v[20] = { 0 };
	size_t alen = mapped->addr.family == AF_INET6 ? 16 : 4, off = STUN_HEADER_LEN;
	if (cap < STUN_HEADER_LEN)
		return 0;
	write_header(buf, STUN_BINDING_SUCCESS, txid);
	/* XOR-MAPPED-ADDRESS: port with the cookie's top half, address with cookie || transaction id. */
	v[1] = alen == 16 ? STUN_FAMILY_IPV6 : STUN_FAMILY_IPV4;
	put16(v + 2, (uint16_t)(mapped->port ^ (STUN_MAGIC_COOKIE >> 16)));
	for (size_t i = 0; i < alen; i++)
		v[4 + i] = mapped->addr.bytes[i] ^ buf[4 + i];
	if (!put_attr(buf, cap, &off, STUN_ATTR_XOR_MAPPED_ADDRESS, v, 4 + alen))
		return 0;
	return finish(buf, cap, off);
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
		} else if (type == STUN_ATTR_USERNAME) {
			out->username = v;
			out->username_len = alen;
		} else if (type == STUN_ATTR_ERROR_CODE) {
			if (alen < 4 || v[2] < 3 || v[2] > 6 || v[3] > 99)
				return -EINVAL;
			out->error_code = (uint16_t)(v[2] * 100 + v[3]);
		} else if (type < 0x8000 && type != STUN_ATTR_REALM &&
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
