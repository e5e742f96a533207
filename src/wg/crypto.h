/* SPDX-License-Identifier: MIT */
/*
 * The primitives WireGuard is built from, as thin wrappers over OpenSSL
 * libcrypto (X25519, ChaCha20-Poly1305, BLAKE2s, HMAC) and libsodium
 * (XChaCha20-Poly1305 for cookie replies). Everything returns 0 on success
 * and a negative errno on failure; authentication failures are -EBADMSG.
 */
#ifndef OVL_WG_CRYPTO_H
#define OVL_WG_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WG_X25519_LEN 32
#define WG_HASH_LEN 32
#define WG_AEAD_KEY_LEN 32
#define WG_AEAD_TAG_LEN 16
#define WG_XNONCE_LEN 24
#define WG_MAC_LEN 16

/* Call once per process before anything else here; idempotent. */
int wg_crypto_init(void);

void wg_memzero(void *p, size_t len);
/* Constant-time equality. */
bool wg_memeq(const void *a, const void *b, size_t len);
void wg_random(void *out, size_t len);

/* X25519. A private key is clamped by the caller via wg_x25519_clamp. */
void wg_x25519_clamp(uint8_t priv[WG_X25519_LEN]);
int wg_x25519_public(uint8_t pub[WG_X25519_LEN], const uint8_t priv[WG_X25519_LEN]);
/* -EINVAL when the result is all zeroes (a low-order point). */
int wg_x25519(uint8_t out[WG_X25519_LEN], const uint8_t priv[WG_X25519_LEN],
	      const uint8_t pub[WG_X25519_LEN]);
void wg_x25519_generate(uint8_t priv[WG_X25519_LEN]);

/* BLAKE2s-256 of the concatenation a || b (b may be NULL). */
int wg_blake2s(uint8_t out[WG_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen);
/* Keyed BLAKE2s with an outlen-byte output (16 for MACs, 32 otherwise). */
int wg_blake2s_mac(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
		   const void *data, size_t len);
/* HMAC-BLAKE2s-256. */
int wg_hmac_blake2s(uint8_t out[WG_HASH_LEN], const uint8_t *key, size_t keylen, const void *data,
		    size_t len);
/*
 * Noise's HKDF with n = 1, 2 or 3 outputs (out2/out3 may be NULL):
 * t0 = HMAC(ck, input); t1 = HMAC(t0, 0x1); t2 = HMAC(t0, t1 || 0x2); ...
 */
int wg_kdf(uint8_t *out1, uint8_t *out2, uint8_t *out3, const uint8_t ck[WG_HASH_LEN],
	   const void *input, size_t len);

/*
 * ChaCha20-Poly1305 (RFC 8439) with WireGuard's nonce: 32 zero bits then the
 * 64-bit little-endian counter. in and out may alias. Encrypt writes len +
 * 16 bytes; decrypt reads len bytes (ciphertext + tag) and writes len - 16.
 * Uses a per-thread cipher context, so it allocates nothing per packet.
 */
int wg_aead_encrypt(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		    uint64_t counter, const uint8_t key[WG_AEAD_KEY_LEN]);
int wg_aead_decrypt(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		    uint64_t counter, const uint8_t key[WG_AEAD_KEY_LEN]);
/* The same with an explicit 12-byte nonce, for the RFC 8439 vectors. */
int wg_aead_encrypt_nonce(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad,
			  size_t adlen, const uint8_t nonce[12], const uint8_t key[WG_AEAD_KEY_LEN]);
int wg_aead_decrypt_nonce(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad,
			  size_t adlen, const uint8_t nonce[12], const uint8_t key[WG_AEAD_KEY_LEN]);

/* XChaCha20-Poly1305 (cookie replies). */
int wg_xaead_encrypt(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[WG_XNONCE_LEN], const uint8_t key[WG_AEAD_KEY_LEN]);
int wg_xaead_decrypt(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[WG_XNONCE_LEN], const uint8_t key[WG_AEAD_KEY_LEN]);
/* HChaCha20 subkey derivation (exposed for its known-answer test). */
int wg_hchacha20(uint8_t out[32], const uint8_t in[16], const uint8_t key[32]);

#endif
