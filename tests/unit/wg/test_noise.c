// SPDX-License-Identifier: MIT
/*
 * A full handshake, transport data both ways, cookies and a rekey between
 * two in-process peers - the protocol alone, no sockets or threads.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "wg/cookie.h"
#include "wg/noise.h"

#define SEC 1000000000ULL

struct side {
	struct noise_identity id;
	struct noise_handshake hs; /* with the other side */
	struct wg_cookie_checker checker;
	struct wg_cookie_maker maker;
};

static struct side A, B;
static uint8_t psk[32];
static const struct ip_endpoint src = { .addr = { .family = AF_INET, .bytes = { 192, 0, 2, 1 } }, .port = 51820 };

static int setup(void **state)
{
	uint8_t ka[32], kb[32];
	assert_int_equal(wg_crypto_init(), 0);
	wg_x25519_generate(ka);
	wg_x25519_generate(kb);
	wg_random(psk, sizeof(psk));
	assert_int_equal(noise_identity_set(&A.id, ka), 0);
	assert_int_equal(noise_identity_set(&B.id, kb), 0);
	noise_handshake_init(&A.hs, &A.id, B.id.public_key, psk);
	noise_handshake_init(&B.hs, &B.id, A.id.public_key, psk);
	assert_int_equal(wg_cookie_checker_init(&A.checker, A.id.public_key), 0);
	assert_int_equal(wg_cookie_checker_init(&B.checker, B.id.public_key), 0);
	assert_int_equal(wg_cookie_maker_init(&A.maker, B.id.public_key), 0);
	assert_int_equal(wg_cookie_maker_init(&B.maker, A.id.public_key), 0);
	return 0;
}

/* A initiates, B responds; returns both keypairs. */
static void handshake(uint64_t now, uint64_t unix_ns, struct noise_keypair **ka, struct noise_keypair **kb)
{
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct noise_initiation in;

	assert_int_equal(noise_create_initiation(&init, &A.hs, &A.id, 0x1111 + (uint32_t)(now / SEC), unix_ns), 0);
	assert_int_equal(wg_cookie_add_macs(&A.maker, (uint8_t *)&init, sizeof(init), now), 0);
	assert_int_equal(wg_cookie_validate(&B.checker, (uint8_t *)&init, sizeof(init), &src, false, now),
			 WG_COOKIE_VALID_MAC1);
	assert_int_equal(noise_consume_initiation(&init, &B.id, &in), 0);
	assert_memory_equal(in.remote_static, A.id.public_key, 32);
	assert_int_equal(noise_accept_initiation(&B.hs, &in, now), 0);
	/* The same initiation again is a replay (same timestamp). */
	assert_int_equal(noise_accept_initiation(&B.hs, &in, now + SEC), -EALREADY);
	assert_int_equal(noise_create_response(&resp, &B.hs, 0x2222), 0);
	assert_int_equal(wg_cookie_add_macs(&B.maker, (uint8_t *)&resp, sizeof(resp), now), 0);
	assert_int_equal(wg_cookie_validate(&A.checker, (uint8_t *)&resp, sizeof(resp), &src, false, now),
			 WG_COOKIE_VALID_MAC1);
	*kb = noise_begin_session(&B.hs, now);
	assert_int_equal(noise_consume_response(&resp, &A.hs, &A.id), 0);
	*ka = noise_begin_session(&A.hs, now);
	assert_non_null(*ka);
	assert_non_null(*kb);
	assert_true((*ka)->initiator);
	assert_false((*kb)->initiator);
	assert_int_equal((*ka)->remote_index, 0x2222);
	assert_int_equal((*kb)->remote_index, 0x1111 + (uint32_t)(now / SEC));
	/* The handshake state is wiped once the session exists. */
	assert_int_equal(A.hs.state, NOISE_ZEROED);
	assert_int_equal(B.hs.state, NOISE_ZEROED);
}

static void roundtrip(struct noise_keypair *from, struct noise_keypair *to, uint64_t now, const char *text)
{
	uint8_t buf[256];
	size_t len = strlen(text);
	int n = noise_encrypt(from, buf, (const uint8_t *)text, len, 1420, now, NULL);
	/* Padded to 16 bytes, plus header and tag. */
	assert_int_equal(n, 16 + ((len + 15) & ~15UL) + 16);
	int p = noise_decrypt(to, buf, (size_t)n, now);
	assert_int_equal(p, (len + 15) & ~15UL);
	assert_memory_equal(buf + 16, text, len);
	/* Replaying the same datagram fails (it was decrypted in place, so re-encrypt). */
}

static void full_handshake_data_and_rekey(void **state)
{
	struct noise_keypair *ka, *kb, *ka2, *kb2;
	uint8_t buf[128];
	handshake(1 * SEC, 1700000000ULL * SEC, &ka, &kb);
	assert_memory_equal(ka->send_key, kb->recv_key, 32);
	assert_memory_equal(ka->recv_key, kb->send_key, 32);
	roundtrip(ka, kb, 2 * SEC, "hello from the initiator");
	roundtrip(kb, ka, 2 * SEC, "and back from the responder");

	/* Replay: the same ciphertext twice. */
	int n = noise_encrypt(ka, buf, (const uint8_t *)"x", 1, 1420, 2 * SEC, NULL);
	uint8_t copy[128];
	memcpy(copy, buf, (size_t)n);
	assert_true(noise_decrypt(kb, buf, (size_t)n, 2 * SEC) >= 0);
	assert_int_equal(noise_decrypt(kb, copy, (size_t)n, 2 * SEC), -EALREADY);
	/* Forgery: a flipped ciphertext bit. */
	n = noise_encrypt(ka, buf, (const uint8_t *)"y", 1, 1420, 2 * SEC, NULL);
	buf[20] ^= 1;
	assert_int_equal(noise_decrypt(kb, buf, (size_t)n, 2 * SEC), -EBADMSG);
	/* Keepalive: empty payload. */
	n = noise_encrypt(ka, buf, NULL, 0, 1420, 2 * SEC, NULL);
	assert_int_equal(n, 32);
	assert_int_equal(noise_decrypt(kb, buf, (size_t)n, 2 * SEC), 0);

	/* Rekey later (new timestamp): fresh, different keys; the old session still works. */
	handshake(130 * SEC, 1700000130ULL * SEC, &ka2, &kb2);
	assert_memory_not_equal(ka2->send_key, ka->send_key, 32);
	roundtrip(ka2, kb2, 131 * SEC, "after rekey");
	roundtrip(ka, kb, 131 * SEC, "old session until it expires");
	/* Reject-after-time: a key older than 180 s may not be used. */
	assert_int_equal(noise_encrypt(ka, buf, (const uint8_t *)"z", 1, 1420, 182 * SEC, NULL), -ESTALE);
	noise_keypair_put(ka);
	noise_keypair_put(kb);
	noise_keypair_put(ka2);
	noise_keypair_put(kb2);
}

static void wrong_psk_or_key_fails(void **state)
{
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct noise_initiation in;
	struct noise_identity stranger;
	uint8_t k[32];

	/* An initiation for someone else does not decrypt. */
	wg_x25519_generate(k);
	assert_int_equal(noise_identity_set(&stranger, k), 0);
	assert_int_equal(noise_create_initiation(&init, &A.hs, &A.id, 7, 1800000000ULL * SEC), 0);
	assert_int_equal(noise_consume_initiation(&init, &stranger, &in), -EBADMSG);
	/* Mismatched preshared keys: the responder's confirmation fails to authenticate. */
	assert_int_equal(noise_consume_initiation(&init, &B.id, &in), 0);
	assert_int_equal(noise_accept_initiation(&B.hs, &in, 500 * SEC), 0);
	B.hs.preshared_key[0] ^= 1;
	assert_int_equal(noise_create_response(&resp, &B.hs, 9), 0);
	B.hs.preshared_key[0] ^= 1;
	assert_int_equal(noise_consume_response(&resp, &A.hs, &A.id), -EBADMSG);
	/* The initiator's state survives a bad response. */
	assert_int_equal(A.hs.state, NOISE_CREATED_INITIATION);
	noise_handshake_clear(&A.hs);
	noise_handshake_clear(&B.hs);
}

static void cookie_reply_flow(void **state)
{
	struct wg_msg_initiation init;
	struct wg_msg_cookie reply;
	uint64_t now = 1000 * SEC;

	assert_int_equal(noise_create_initiation(&init, &A.hs, &A.id, 5, 1900000000ULL * SEC), 0);
	assert_int_equal(wg_cookie_add_macs(&A.maker, (uint8_t *)&init, sizeof(init), now), 0);
	/* Under load, MAC1 alone is not enough. */
	assert_int_equal(wg_cookie_validate(&B.checker, (uint8_t *)&init, sizeof(init), &src, true, now),
			 WG_COOKIE_VALID_MAC1);
	assert_int_equal(wg_cookie_create_reply(&B.checker, &reply, (uint8_t *)&init, sizeof(init), 5, &src, now), 0);
	assert_int_equal(wg_cookie_consume_reply(&A.maker, &reply, now), 0);
	/* A second copy of the reply is refused (no MAC1 outstanding). */
	assert_int_equal(wg_cookie_consume_reply(&A.maker, &reply, now), -EINVAL);
	assert_int_equal(wg_cookie_add_macs(&A.maker, (uint8_t *)&init, sizeof(init), now), 0);
	assert_int_equal(wg_cookie_validate(&B.checker, (uint8_t *)&init, sizeof(init), &src, true, now),
			 WG_COOKIE_VALID_MAC2);
	/* The cookie is bound to the source address. */
	struct ip_endpoint other = src;
	other.port++;
	assert_int_equal(wg_cookie_validate(&B.checker, (uint8_t *)&init, sizeof(init), &other, true, now),
			 WG_COOKIE_VALID_MAC1);
	/* A bad MAC1 is dropped outright. */
	init.macs.mac1[0] ^= 1;
	assert_int_equal(wg_cookie_validate(&B.checker, (uint8_t *)&init, sizeof(init), &src, false, now),
			 WG_COOKIE_INVALID);
	noise_handshake_clear(&A.hs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_handshake_data_and_rekey),
		cmocka_unit_test(wrong_psk_or_key_fails),
		cmocka_unit_test(cookie_reply_flow),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
