// SPDX-License-Identifier: MIT
/*
 * Known-answer tests: X25519 (RFC 7748), ChaCha20-Poly1305 (RFC 8439),
 * XChaCha20-Poly1305 and HChaCha20 (draft-irtf-cfrg-xchacha), BLAKE2s
 * (RFC 7693), and keyed BLAKE2s / HMAC-BLAKE2s / Noise HKDF against values
 * computed with Python's hashlib and hmac, an independent implementation.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "test_helpers.h"
#include "wg/crypto.h"

static int setup(void **state)
{
	return wg_crypto_init();
}

static void assert_hex(const uint8_t *got, const char *hex)
{
	uint8_t want[256];
	size_t n = unhex(want, hex);
	assert_memory_equal(got, want, n);
}

static void x25519_rfc7748(void **state)
{
	uint8_t k[32], u[32], out[32], a[32], b[32], apub[32], bpub[32], s1[32], s2[32];
	/* Section 5.2, first vector: clamping happens inside the function. */
	unhex(k, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
	unhex(u, "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
	assert_int_equal(wg_x25519(out, k, u), 0);
	assert_hex(out, "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
	/* Section 6.1: Diffie-Hellman. */
	unhex(a, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	unhex(b, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	assert_int_equal(wg_x25519_public(apub, a), 0);
	assert_int_equal(wg_x25519_public(bpub, b), 0);
	assert_hex(apub, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	assert_hex(bpub, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	assert_int_equal(wg_x25519(s1, a, bpub), 0);
	assert_int_equal(wg_x25519(s2, b, apub), 0);
	assert_hex(s1, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	assert_memory_equal(s1, s2, 32);
}

static void x25519_rejects_low_order(void **state)
{
	uint8_t k[32], zero[32] = { 0 }, out[32];
	wg_x25519_generate(k);
	/* The all-zero point gives an all-zero secret: must be refused. */
	assert_int_equal(wg_x25519(out, k, zero), -EINVAL);
}

static const char *sunscreen =
	"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";

static void chacha20poly1305_rfc8439(void **state)
{
	uint8_t key[32], nonce[12], aad[12], ct[200], pt[200];
	size_t len = strlen(sunscreen);
	unhex(key, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
	unhex(nonce, "070000004041424344454647");
	unhex(aad, "50515253c0c1c2c3c4c5c6c7");
	assert_int_equal(wg_aead_encrypt_nonce(ct, (const uint8_t *)sunscreen, len, aad, 12, nonce, key), 0);
	assert_hex(ct, "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
		       "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
		       "3ff4def08e4b7a9de576d26586cec64b6116");
	assert_hex(ct + len, "1ae10b594f09e26a7e902ecbd0600691");
	assert_int_equal(wg_aead_decrypt_nonce(pt, ct, len + 16, aad, 12, nonce, key), 0);
	assert_memory_equal(pt, sunscreen, len);
	/* Any flipped bit (ciphertext, tag or AAD) fails authentication. */
	ct[3] ^= 1;
	assert_int_equal(wg_aead_decrypt_nonce(pt, ct, len + 16, aad, 12, nonce, key), -EBADMSG);
	ct[3] ^= 1;
	aad[0] ^= 1;
	assert_int_equal(wg_aead_decrypt_nonce(pt, ct, len + 16, aad, 12, nonce, key), -EBADMSG);
	assert_int_equal(wg_aead_decrypt_nonce(pt, ct, 15, aad, 12, nonce, key), -EBADMSG);
}

static void chacha20poly1305_counter_nonce(void **state)
{
	/* WireGuard's nonce is 4 zero bytes then the little-endian counter. */
	uint8_t key[32], nonce[12] = { 0 }, a[64], b[64], msg[48] = "counter nonce";
	wg_random(key, sizeof(key));
	nonce[4] = 0x2a;
	nonce[5] = 0x01;
	assert_int_equal(wg_aead_encrypt(a, msg, sizeof(msg), NULL, 0, 0x12a, key), 0);
	assert_int_equal(wg_aead_encrypt_nonce(b, msg, sizeof(msg), NULL, 0, nonce, key), 0);
	assert_memory_equal(a, b, sizeof(msg) + 16);
	/* In place. */
	memcpy(b, msg, sizeof(msg));
	assert_int_equal(wg_aead_encrypt(b, b, sizeof(msg), NULL, 0, 0x12a, key), 0);
	assert_memory_equal(a, b, sizeof(msg) + 16);
	assert_int_equal(wg_aead_decrypt(b, b, sizeof(msg) + 16, NULL, 0, 0x12a, key), 0);
	assert_memory_equal(b, msg, sizeof(msg));
	assert_int_equal(wg_aead_decrypt(a, a, sizeof(msg) + 16, NULL, 0, 0x12b, key), -EBADMSG);
}

static void xchacha20poly1305_draft(void **state)
{
	uint8_t key[32], nonce[24], aad[12], ct[200], pt[200];
	size_t len = strlen(sunscreen);
	unhex(key, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
	unhex(nonce, "404142434445464748494a4b4c4d4e4f5051525354555657");
	unhex(aad, "50515253c0c1c2c3c4c5c6c7");
	assert_int_equal(wg_xaead_encrypt(ct, (const uint8_t *)sunscreen, len, aad, 12, nonce, key), 0);
	assert_hex(ct, "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb");
	assert_hex(ct + len, "c0875924c1c7987947deafd8780acf49");
	assert_int_equal(wg_xaead_decrypt(pt, ct, len + 16, aad, 12, nonce, key), 0);
	assert_memory_equal(pt, sunscreen, len);
	ct[len] ^= 0x80;
	assert_int_equal(wg_xaead_decrypt(pt, ct, len + 16, aad, 12, nonce, key), -EBADMSG);
}

static void hchacha20_draft(void **state)
{
	uint8_t key[32], in[16], out[32];
	unhex(key, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
	unhex(in, "000000090000004a0000000031415927");
	assert_int_equal(wg_hchacha20(out, in, key), 0);
	assert_hex(out, "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
}

static void blake2s_rfc7693(void **state)
{
	uint8_t out[32];
	assert_int_equal(wg_blake2s(out, "abc", 3, NULL, 0), 0);
	assert_hex(out, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
	/* Split input hashes the same as joined. */
	assert_int_equal(wg_blake2s(out, "a", 1, "bc", 2), 0);
	assert_hex(out, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
	/* The Noise construction's initial chaining key and hash (as in the kernel). */
	assert_int_equal(wg_blake2s(out, "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s", 37, NULL, 0), 0);
	assert_hex(out, "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
	assert_int_equal(wg_blake2s(out, out, 32, "WireGuard v1 zx2c4 Jason@zx2c4.com", 34), 0);
	assert_hex(out, "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}

static void keyed_blake2s_hmac_hkdf(void **state)
{
	uint8_t key[32], out[32], ck[32], t1[32], t2[32], t3[32];
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	assert_int_equal(wg_blake2s_mac(out, 16, key, 32, "overlayd", 8), 0);
	assert_hex(out, "83694acda714e4d8856a53f8213dc9b3");
	assert_int_equal(wg_hmac_blake2s(out, key, 32, "overlayd", 8), 0);
	assert_hex(out, "a951c4b1ce032cfa1cfde722fbf4558be9946e31aa6060e2d3607dc6b931671b");
	unhex(ck, "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
	assert_int_equal(wg_kdf(t1, t2, t3, ck, "overlayd", 8), 0);
	assert_hex(t1, "e37c7c20351bbf7eb5230fa1890ef3585157eb45b370d911a6ec1d66f3a917a3");
	assert_hex(t2, "a6802ce683b950866080d07e04039fac95c29dbe8477c6876b026e626849b607");
	assert_hex(t3, "028cecae41d7b5022bcf9f7b720d4a2e8825803efe62d70f4c2a98ba26d1d13d");
	/* Fewer outputs are prefixes of more; output may alias the chaining key. */
	assert_int_equal(wg_kdf(ck, NULL, NULL, ck, "overlayd", 8), 0);
	assert_memory_equal(ck, t1, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(x25519_rfc7748),
		cmocka_unit_test(x25519_rejects_low_order),
		cmocka_unit_test(chacha20poly1305_rfc8439),
		cmocka_unit_test(chacha20poly1305_counter_nonce),
		cmocka_unit_test(xchacha20poly1305_draft),
		cmocka_unit_test(hchacha20_draft),
		cmocka_unit_test(blake2s_rfc7693),
		cmocka_unit_test(keyed_blake2s_hmac_hkdf),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
