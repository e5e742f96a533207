// SPDX-License-Identifier: MIT
#include "wg/cookie.h"

#include <errno.h>
#include <string.h>

static int label_key(uint8_t out[WG_HASH_LEN], const char *label, const uint8_t pub[WG_X25519_LEN])
{
	return wg_blake2s(out, label, strlen(label), pub, WG_X25519_LEN);
}

/* The MACs cover everything before them: mac1 the body, mac2 body + mac1. */
static size_t mac1_offset(size_t len)
{
	return len - sizeof(struct wg_msg_macs);
}

static size_t mac2_offset(size_t len)
{
	return len - WG_MAC_LEN;
}

int wg_cookie_checker_init(struct wg_cookie_checker *c, const uint8_t public_key[WG_X25519_LEN])
{
	int ret = label_key(c->mac1_key, WG_LABEL_MAC1, public_key);
	if (!ret)
		ret = label_key(c->encryption_key, WG_LABEL_COOKIE, public_key);
	c->secret_birth_ns = 0;
	return ret;
}

/* The cookie is a MAC of the sender's address under a secret rotated every two minutes. */
static int make_cookie(struct wg_cookie_checker *c, uint8_t cookie[WG_MAC_LEN],
		       const struct ip_endpoint *src, uint64_t now_ns)
{
	uint8_t buf[18];
	size_t alen = src->addr.family == AF_INET6 ? 16 : 4;

	if (!c->secret_birth_ns || now_ns - c->secret_birth_ns >= WG_COOKIE_SECRET_MAX_AGE * NSEC_PER_SEC) {
		wg_random(c->secret, sizeof(c->secret));
		c->secret_birth_ns = now_ns ? now_ns : 1;
	}
	memcpy(buf, src->addr.bytes, alen);
	buf[alen] = (uint8_t)(src->port >> 8);
	buf[alen + 1] = (uint8_t)src->port;
	return wg_blake2s_mac(cookie, WG_MAC_LEN, c->secret, sizeof(c->secret), buf, alen + 2);
}

enum wg_cookie_result wg_cookie_validate(struct wg_cookie_checker *c, const uint8_t *msg, size_t len,
					 const struct ip_endpoint *src, bool check_mac2,
					 uint64_t now_ns)
{
	uint8_t mac[WG_MAC_LEN], cookie[WG_MAC_LEN];

	if (len < sizeof(struct wg_msg_macs) + 4)
		return WG_COOKIE_INVALID;
	if (wg_blake2s_mac(mac, WG_MAC_LEN, c->mac1_key, WG_HASH_LEN, msg, mac1_offset(len)) ||
	    !wg_memeq(mac, msg + mac1_offset(len), WG_MAC_LEN))
		return WG_COOKIE_INVALID;
	if (!check_mac2)
		return WG_COOKIE_VALID_MAC1;
	if (make_cookie(c, cookie, src, now_ns) ||
	    wg_blake2s_mac(mac, WG_MAC_LEN, cookie, sizeof(cookie), msg, mac2_offset(len)) ||
	    !wg_memeq(mac, msg + mac2_offset(len), WG_MAC_LEN))
		return WG_COOKIE_VALID_MAC1;
	return WG_COOKIE_VALID_MAC2;
}

int wg_cookie_create_reply(struct wg_cookie_checker *c, struct wg_msg_cookie *reply,
			   const uint8_t *msg, size_t len, uint32_t receiver_index,
			   const struct ip_endpoint *src, uint64_t now_ns)
{
	uint8_t cookie[WG_MAC_LEN];
	int ret;

	if (len < sizeof(struct wg_msg_macs) + 4)
		return -EINVAL;
	reply->type = htole32(WG_MSG_COOKIE);
	reply->receiver_index = htole32(receiver_index);
	wg_random(reply->nonce, sizeof(reply->nonce));
	ret = make_cookie(c, cookie, src, now_ns);
	/* Bound to the triggering message's mac1, so only its sender can use it. */
	if (!ret)
		ret = wg_xaead_encrypt(reply->encrypted_cookie, cookie, sizeof(cookie),
				       msg + mac1_offset(len), WG_MAC_LEN, reply->nonce,
				       c->encryption_key);
	wg_memzero(cookie, sizeof(cookie));
	return ret;
}

int wg_cookie_maker_init(struct wg_cookie_maker *m, const uint8_t peer_public[WG_X25519_LEN])
{
	memset(m, 0, sizeof(*m));
	int ret = label_key(m->mac1_key, WG_LABEL_MAC1, peer_public);
	if (!ret)
		ret = label_key(m->decryption_key, WG_LABEL_COOKIE, peer_public);
	return ret;
}

int wg_cookie_add_macs(struct wg_cookie_maker *m, uint8_t *msg, size_t len, uint64_t now_ns)
{
	struct wg_msg_macs *macs = (struct wg_msg_macs *)(msg + mac1_offset(len));
	int ret = wg_blake2s_mac(macs->mac1, WG_MAC_LEN, m->mac1_key, WG_HASH_LEN, msg,
				 mac1_offset(len));
	if (ret)
		return ret;
	memcpy(m->last_mac1, macs->mac1, WG_MAC_LEN);
	m->have_sent_mac1 = true;
	/* A cookie is only good for as long as the responder keeps its secret. */
	if (m->cookie_birth_ns &&
	    now_ns - m->cookie_birth_ns <
		    (WG_COOKIE_SECRET_MAX_AGE - WG_COOKIE_SECRET_LATENCY) * NSEC_PER_SEC)
		return wg_blake2s_mac(macs->mac2, WG_MAC_LEN, m->cookie, WG_MAC_LEN, msg,
				      mac2_offset(len));
	memset(macs->mac2, 0, WG_MAC_LEN);
	return 0;
}

int wg_cookie_consume_reply(struct wg_cookie_maker *m, const struct wg_msg_cookie *reply,
			    uint64_t now_ns)
{
	uint8_t cookie[WG_MAC_LEN];
	if (!m->have_sent_mac1)
		return -EINVAL;
	if (wg_xaead_decrypt(cookie, reply->encrypted_cookie, sizeof(reply->encrypted_cookie),
			     m->last_mac1, WG_MAC_LEN, reply->nonce, m->decryption_key))
		return -EBADMSG;
	memcpy(m->cookie, cookie, WG_MAC_LEN);
	m->cookie_birth_ns = now_ns ? now_ns : 1;
	m->have_sent_mac1 = false;
	wg_memzero(cookie, sizeof(cookie));
	return 0;
}
