// SPDX-License-Identifier: MIT
#include "wg/crypto.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include "util/log.h"

/*
 * Algorithm handles are fetched once: fetching by name per call costs a
 * provider lookup each time. They never change after wg_crypto_init(), so
 * sharing them between threads and devices is safe.
 */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;
static EVP_MD *md_blake2s;
static EVP_MAC *mac_blake2s;
static EVP_MAC *mac_hmac;
static EVP_CIPHER *cipher_chacha;
static pthread_key_t aead_ctx_key;

struct aead_ctxs {
	EVP_CIPHER_CTX *enc, *dec;
};

static void aead_ctxs_free(void *p)
{
	struct aead_ctxs *c = p;
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	OPENSSL_free(c);
}

static void crypto_init_once(void)
{
	if (sodium_init() < 0) {
		log_error("wg: libsodium initialisation failed");
		init_result = -EIO;
		return;
	}
	md_blake2s = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	mac_blake2s = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	cipher_chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	if (!md_blake2s || !mac_blake2s || !mac_hmac || !cipher_chacha) {
		log_error("wg: OpenSSL lacks BLAKE2s, BLAKE2SMAC, HMAC or ChaCha20-Poly1305 (need OpenSSL 3)");
		init_result = -ENOSYS;
		return;
	}
	if (pthread_key_create(&aead_ctx_key, aead_ctxs_free) != 0)
		init_result = -ENOMEM;
}

int wg_crypto_init(void)
{
	pthread_once(&init_once, crypto_init_once);
	return init_result;
}

void wg_memzero(void *p, size_t len)
{
	sodium_memzero(p, len);
}

bool wg_memeq(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void wg_random(void *out, size_t len)
{
	randombytes_buf(out, len);
}

void wg_x25519_clamp(uint8_t priv[WG_X25519_LEN])
{
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
}

void wg_x25519_generate(uint8_t priv[WG_X25519_LEN])
{
	wg_random(priv, WG_X25519_LEN);
	wg_x25519_clamp(priv);
}

/*
 * libsodium's scalar multiplication, not OpenSSL's EVP_PKEY: making a key
 * object from raw private bytes derives its public key too, a second scalar
 * multiplication per DH, and a setconf of 1,000 peers does one DH each.
 */
int wg_x25519_public(uint8_t pub[WG_X25519_LEN], const uint8_t priv[WG_X25519_LEN])
{
	return crypto_scalarmult_base(pub, priv) == 0 ? 0 : -EIO;
}

int wg_x25519(uint8_t out[WG_X25519_LEN], const uint8_t priv[WG_X25519_LEN],
	      const uint8_t pub[WG_X25519_LEN])
{
	static const uint8_t zero[WG_X25519_LEN];
	/* libsodium refuses a low-order public key (an all-zero result); the check below covers both. */
	int ret = crypto_scalarmult(out, priv, pub) == 0 && !wg_memeq(out, zero, WG_X25519_LEN) ? 0 : -EINVAL;
	if (ret)
		wg_memzero(out, WG_X25519_LEN);
	return ret;
}

int wg_blake2s(uint8_t out[WG_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned len = 0;
	int ok = ctx && EVP_DigestInit_ex2(ctx, md_blake2s, NULL) == 1 &&
		 EVP_DigestUpdate(ctx, a, alen) == 1 && (!b || EVP_DigestUpdate(ctx, b, blen) == 1) &&
		 EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == WG_HASH_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

static int mac_run(EVP_MAC *alg, const OSSL_PARAM *params, uint8_t *out, size_t outlen,
		   const uint8_t *key, size_t keylen, const void *data, size_t len)
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(alg);
	size_t got = 0;
	int ok = ctx && EVP_MAC_init(ctx, key, keylen, params) == 1 &&
		 EVP_MAC_update(ctx, data, len) == 1 && EVP_MAC_final(ctx, out, &got, outlen) == 1 &&
		 got == outlen;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

int wg_blake2s_mac(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
		   const void *data, size_t len)
{
	size_t size = outlen;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
		OSSL_PARAM_construct_end(),
	};
	if (outlen == 0 || outlen > WG_HASH_LEN || keylen == 0 || keylen > 32)
		return -EINVAL;
	return mac_run(mac_blake2s, params, out, outlen, key, keylen, data, len);
}

int wg_hmac_blake2s(uint8_t out[WG_HASH_LEN], const uint8_t *key, size_t keylen, const void *data,
		    size_t len)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"BLAKE2S-256", 0),
		OSSL_PARAM_construct_end(),
	};
	return mac_run(mac_hmac, params, out, WG_HASH_LEN, key, keylen, data, len);
}

int wg_kdf(uint8_t *out1, uint8_t *out2, uint8_t *out3, const uint8_t ck[WG_HASH_LEN],
	   const void *input, size_t len)
{
	uint8_t prk[WG_HASH_LEN], t[WG_HASH_LEN + 1];
	uint8_t *outs[3] = { out1, out2, out3 };
	int ret = wg_hmac_blake2s(prk, ck, WG_HASH_LEN, input, len);
	size_t tlen = 0;

	for (int i = 0; !ret && i < 3 && outs[i]; i++) {
		/* t_i = HMAC(prk, t_{i-1} || i); t_0 is empty. */
		t[tlen] = (uint8_t)(i + 1);
		ret = wg_hmac_blake2s(t, prk, sizeof(prk), t, tlen + 1);
		memcpy(outs[i], t, WG_HASH_LEN);
		tlen = WG_HASH_LEN;
	}
	wg_memzero(prk, sizeof(prk));
	wg_memzero(t, sizeof(t));
	return ret;
}

static struct aead_ctxs *thread_ctxs(void)
{
	struct aead_ctxs *c = pthread_getspecific(aead_ctx_key);
	if (c)
		return c;
	c = OPENSSL_zalloc(sizeof(*c));
	if (!c)
		return NULL;
	c->enc = EVP_CIPHER_CTX_new();
	c->dec = EVP_CIPHER_CTX_new();
	if (!c->enc || !c->dec || EVP_CipherInit_ex2(c->enc, cipher_chacha, NULL, NULL, 1, NULL) != 1 ||
	    EVP_CipherInit_ex2(c->dec, cipher_chacha, NULL, NULL, 0, NULL) != 1 ||
	    pthread_setspecific(aead_ctx_key, c) != 0) {
		aead_ctxs_free(c);
		return NULL;
	}
	return c;
}

static int aead_run(bool enc, uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad,
		    size_t adlen, const uint8_t nonce[12], const uint8_t key[WG_AEAD_KEY_LEN])
{
	struct aead_ctxs *c = thread_ctxs();
	EVP_CIPHER_CTX *ctx;
	int outl = 0, finl = 0;
	uint8_t scratch[1];
	size_t plen;

	/* Empty messages (the handshake's encrypted nothing) have no output. */
	if (!out)
		out = scratch;
	if (!c)
		return -ENOMEM;
	ctx = enc ? c->enc : c->dec;
	if (!enc && len < WG_AEAD_TAG_LEN)
		return -EBADMSG;
	plen = enc ? len : len - WG_AEAD_TAG_LEN;
	if (plen > INT32_MAX || adlen > INT32_MAX)
		return -EMSGSIZE;
	if (EVP_CipherInit_ex2(ctx, NULL, key, nonce, enc, NULL) != 1)
		return -EIO;
	if (adlen && EVP_CipherUpdate(ctx, NULL, &outl, ad, (int)adlen) != 1)
		return -EIO;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, WG_AEAD_TAG_LEN,
					(void *)(in + plen)) != 1)
		return -EIO;
	if (plen && EVP_CipherUpdate(ctx, out, &outl, in, (int)plen) != 1)
		return -EIO;
	if (EVP_CipherFinal_ex(ctx, out + outl, &finl) != 1)
		return enc ? -EIO : -EBADMSG;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, WG_AEAD_TAG_LEN, out + plen) != 1)
		return -EIO;
	return 0;
}

static void counter_nonce(uint8_t nonce[12], uint64_t counter)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

int wg_aead_encrypt(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		    uint64_t counter, const uint8_t key[WG_AEAD_KEY_LEN])
{
	uint8_t nonce[12];
	counter_nonce(nonce, counter);
	return aead_run(true, out, in, len, ad, adlen, nonce, key);
}

int wg_aead_decrypt(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		    uint64_t counter, const uint8_t key[WG_AEAD_KEY_LEN])
{
	uint8_t nonce[12];
	counter_nonce(nonce, counter);
	return aead_run(false, out, in, len, ad, adlen, nonce, key);
}

int wg_aead_encrypt_nonce(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad,
			  size_t adlen, const uint8_t nonce[12], const uint8_t key[WG_AEAD_KEY_LEN])
{
	return aead_run(true, out, in, len, ad, adlen, nonce, key);
}

int wg_aead_decrypt_nonce(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad,
			  size_t adlen, const uint8_t nonce[12], const uint8_t key[WG_AEAD_KEY_LEN])
{
	return aead_run(false, out, in, len, ad, adlen, nonce, key);
}

int wg_xaead_encrypt(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[WG_XNONCE_LEN], const uint8_t key[WG_AEAD_KEY_LEN])
{
	unsigned long long clen = 0;
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, in, len, ad, adlen, NULL, nonce,
						       key) != 0)
		return -EIO;
	return 0;
}

int wg_xaead_decrypt(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[WG_XNONCE_LEN], const uint8_t key[WG_AEAD_KEY_LEN])
{
	unsigned long long plen = 0;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, in, len, ad, adlen, nonce,
						       key) != 0)
		return -EBADMSG;
	return 0;
}

int wg_hchacha20(uint8_t out[32], const uint8_t in[16], const uint8_t key[32])
{
	return crypto_core_hchacha20(out, in, key, NULL) == 0 ? 0 : -EIO;
}
