// SPDX-License-Identifier: MIT
/*
 * STUN message codec (RFC 8489): Binding requests out, responses in. Every
 * length is checked against the buffer before it is read; a message is
 * accepted whole or not at all.
 */
#include "nat/stun.h"
#include "nat/stun_build.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "util/be.h"
#include "util/crc32.h"

#define ATTR_HEADER_LEN 4
#define FINGERPRINT_ATTR_LEN 8
#define INTEGRITY_ATTR_LEN 24 /* header + HMAC-SHA1 */

uint32_t stun_crc32(const uint8_t *buf, size_t len)
{
	return crc32_update(0, buf, len);
}

size_t stun_write_binding_request(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN])
{
	struct stun_builder b;
	stun_build_start(&b, buf, cap, STUN_BINDING_REQUEST, txid);
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

size_t stun_write_binding_indication(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN])
{
	struct stun_builder b;
	stun_build_start(&b, buf, cap, STUN_BINDING_INDICATION, txid);
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

size_t stun_write_binding_request_user(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN],
				       const char *username)
{
	struct stun_builder b;
	stun_build_start(&b, buf, cap, STUN_BINDING_REQUEST, txid);
	stun_build_attr(&b, STUN_ATTR_USERNAME, username, strlen(username));
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

size_t stun_write_binding_success(uint8_t *buf, size_t cap, const uint8_t txid[STUN_TXID_LEN],
				  const struct ip_endpoint *mapped)
{
	struct stun_builder b;
	stun_build_start(&b, buf, cap, STUN_BINDING_SUCCESS, txid);
	stun_build_xor_address(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, mapped);
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
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
	out->port = be16_get(v + 2);
	memcpy(out->addr.bytes, v + 4, alen);
	if (xored) {
		/* Port with the cookie's top half; address with cookie || transaction id. */
		out->port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
		for (size_t i = 0; i < alen; i++)
			out->addr.bytes[i] ^= header[4 + i];
	}
	return 0;
}

/* A text or opaque attribute: where it starts and how long it is. */
static void take_bytes(const uint8_t *v, uint16_t alen, const uint8_t **p, size_t *plen)
{
	*p = v;
	*plen = alen;
}

/*
 * One attribute before MESSAGE-INTEGRITY (or with none): 0, or -EINVAL
 * when its value has the wrong shape for its type.
 */
static int parse_attribute(const uint8_t *buf, uint16_t type, const uint8_t *v, uint16_t alen, bool *have_xor,
			   struct stun_msg *out)
{
	struct ip_endpoint ep;

	switch (type) {
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
		if (parse_address(v, alen, true, buf, &out->mapped) < 0)
			return -EINVAL;
		out->has_mapped = *have_xor = true;
		return 0;
	case STUN_ATTR_MAPPED_ADDRESS:
		if (parse_address(v, alen, false, buf, &ep) < 0)
			return -EINVAL;
		if (!*have_xor) {
			out->mapped = ep;
			out->has_mapped = true;
		}
		return 0;
	case STUN_ATTR_ERROR_CODE:
		if (alen < 4 || v[2] < 3 || v[2] > 6 || v[3] > 99)
			return -EINVAL;
		out->error_code = (uint16_t)(v[2] * 100 + v[3]);
		take_bytes(v + 4, (uint16_t)(alen - 4), &out->error_reason, &out->error_reason_len);
		return 0;
	case STUN_ATTR_USERNAME:
		take_bytes(v, alen, &out->username, &out->username_len);
		return 0;
	case STUN_ATTR_REALM:
		take_bytes(v, alen, &out->realm, &out->realm_len);
		return 0;
	case STUN_ATTR_NONCE:
		take_bytes(v, alen, &out->nonce, &out->nonce_len);
		return 0;
	case STUN_ATTR_SOFTWARE:
		take_bytes(v, alen, &out->software, &out->software_len);
		return 0;
	case TURN_ATTR_DATA:
		take_bytes(v, alen, &out->data, &out->data_len);
		out->has_data = true;
		return 0;
	case TURN_ATTR_LIFETIME:
		if (alen != 4)
			return -EINVAL;
		out->lifetime_s = be32_get(v);
		out->has_lifetime = true;
		return 0;
	case TURN_ATTR_XOR_RELAYED_ADDRESS:
		if (parse_address(v, alen, true, buf, &out->relayed) < 0)
			return -EINVAL;
		out->has_relayed = true;
		return 0;
	case TURN_ATTR_XOR_PEER_ADDRESS:
		if (parse_address(v, alen, true, buf, &ep) < 0)
			return -EINVAL;
		if (out->n_peers < STUN_MAX_PEER_ADDRESSES)
			out->peers[out->n_peers++] = ep;
		out->n_peers_seen++;
		return 0;
	case TURN_ATTR_CHANNEL_NUMBER:
		if (alen != 4)
			return -EINVAL;
		out->channel = be16_get(v);
		out->has_channel = true;
		return 0;
	case TURN_ATTR_REQUESTED_TRANSPORT:
		if (alen != 4)
			return -EINVAL;
		out->transport = v[0];
		out->has_transport = true;
		return 0;
	case TURN_ATTR_REQUESTED_ADDRESS_FAMILY:
		if (alen != 4)
			return -EINVAL;
		out->requested_family = v[0];
		out->has_requested_family = true;
		return 0;
	case TURN_ATTR_EVEN_PORT:
		if (alen != 1)
			return -EINVAL;
		out->has_even_port = true;
		return 0;
	case TURN_ATTR_DONT_FRAGMENT:
		out->dont_fragment = true;
		return 0;
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
	case TURN_ATTR_RESERVATION_TOKEN:
		return 0;
	default:
		/* Comprehension-required (below 0x8000) and unknown: the caller decides (420). */
		if (type < 0x8000) {
			if (out->unknown_required < STUN_MAX_UNKNOWN)
				out->unknown_types[out->unknown_required] = type;
			out->unknown_required++;
		}
		return 0;
	}
}

int stun_parse(const uint8_t *buf, size_t len, struct stun_msg *out)
{
	bool have_xor = false, after_integrity = false;
	size_t off = STUN_HEADER_LEN;

	memset(out, 0, sizeof(*out));
	if (len < STUN_HEADER_LEN || len % 4 || (buf[0] & 0xc0) || be32_get(buf + 4) != STUN_MAGIC_COOKIE ||
	    be16_get(buf + 2) != len - STUN_HEADER_LEN)
		return -EINVAL;
	out->type = be16_get(buf);
	memcpy(out->txid, buf + 8, STUN_TXID_LEN);
	while (off < len) {
		uint16_t type, alen;
		const uint8_t *v;
		if (len - off < ATTR_HEADER_LEN)
			return -EINVAL;
		type = be16_get(buf + off);
		alen = be16_get(buf + off + 2);
		if (len - off - ATTR_HEADER_LEN < alen)
			return -EINVAL;
		v = buf + off + ATTR_HEADER_LEN;
		if (type == STUN_ATTR_FINGERPRINT) {
			/* Last, and over everything before it. */
			if (alen != 4 || off + FINGERPRINT_ATTR_LEN != len ||
			    be32_get(v) != (stun_crc32(buf, off) ^ STUN_FINGERPRINT_XOR))
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
		} else if (parse_attribute(buf, type, v, alen, &have_xor, out) < 0) {
			return -EINVAL;
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
	be16_put(copy + 2, (uint16_t)(off + INTEGRITY_ATTR_LEN - STUN_HEADER_LEN));
	if (!HMAC(EVP_sha1(), key, (int)keylen, copy, off, mac, &maclen) || maclen != 20)
		return false;
	return CRYPTO_memcmp(mac, buf + off + ATTR_HEADER_LEN, 20) == 0;
}

int stun_long_term_key(const char *username, size_t ulen, const char *realm, size_t rlen, const char *password,
		       uint8_t key[16])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned outlen = 0;
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) && EVP_DigestUpdate(ctx, username, ulen) &&
	     EVP_DigestUpdate(ctx, ":", 1) && EVP_DigestUpdate(ctx, realm, rlen) && EVP_DigestUpdate(ctx, ":", 1) &&
	     EVP_DigestUpdate(ctx, password, strlen(password)) && EVP_DigestFinal_ex(ctx, key, &outlen) &&
	     outlen == 16;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EINVAL;
}

bool turn_channel_data_parse(const uint8_t *buf, size_t len, uint16_t *channel, const uint8_t **data,
			     size_t *data_len)
{
	return turn_channel_data_parse_upto(buf, len, TURN_CHANNEL_MAX, channel, data, data_len);
}

bool turn_channel_data_parse_upto(const uint8_t *buf, size_t len, uint16_t max_channel, uint16_t *channel,
				  const uint8_t **data, size_t *data_len)
{
	uint16_t ch, dlen;

	if (len < TURN_CHANNEL_HEADER_LEN)
		return false;
	ch = be16_get(buf);
	dlen = be16_get(buf + 2);
	if (ch < TURN_CHANNEL_MIN || ch > max_channel || dlen > len - TURN_CHANNEL_HEADER_LEN)
		return false;
	*channel = ch;
	*data = buf + TURN_CHANNEL_HEADER_LEN;
	*data_len = dlen;
	return true;
}

void turn_channel_data_header(uint8_t hdr[TURN_CHANNEL_HEADER_LEN], uint16_t channel, uint16_t data_len)
{
	be16_put(hdr, channel);
	be16_put(hdr + 2, data_len);
}
