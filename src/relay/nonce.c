// SPDX-License-Identifier: MIT
/* Stateless, address-bound, expiring nonces (nonce.h). */
#include "relay/nonce.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "util/be.h"

#define TIME_DIGITS 8
#define MAC_DIGITS (RELAY_NONCE_LEN - TIME_DIGITS)

static const char hex[] = "0123456789abcdef";

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
}

/* The MAC's hex digits for (issued, client). */
static void nonce_mac(const struct relay_nonce_key *k, const struct ip_endpoint *client, uint32_t issued,
		     char out[MAC_DIGITS])
{
	uint8_t msg[4 + 1 + 16 + 2], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;

	be32_put(msg, issued);
	msg[4] = client->addr.family == AF_INET6 ? 6 : 4;
	memcpy(msg + 5, client->addr.bytes, 16);
	be16_put(msg + 21, client->port);
	if (!HMAC(EVP_sha256(), k->secret, sizeof(k->secret), msg, sizeof(msg), mac, &maclen))
		memset(mac, 0, sizeof(mac)); /* cannot happen; a zero MAC still never matches a forged time */
	hex_encode(mac, MAC_DIGITS / 2, out);
}

void relay_nonce_make(const struct relay_nonce_key *k, const struct ip_endpoint *client, uint64_t now_s,
		      char out[RELAY_NONCE_LEN])
{
	uint8_t t[4];
	be32_put(t, (uint32_t)now_s);
	hex_encode(t, sizeof(t), out);
	nonce_mac(k, client, (uint32_t)now_s, out + TIME_DIGITS);
}

static int hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

enum relay_nonce_verdict relay_nonce_check(const struct relay_nonce_key *k, const struct ip_endpoint *client,
					   const uint8_t *nonce, size_t len, uint64_t now_s)
{
	char want[MAC_DIGITS];
	uint32_t issued = 0;

	if (len != RELAY_NONCE_LEN)
		return RELAY_NONCE_FORGED;
	for (size_t i = 0; i < TIME_DIGITS; i++) {
		int v = hex_value(nonce[i]);
		if (v < 0)
			return RELAY_NONCE_FORGED;
		issued = issued << 4 | (uint32_t)v;
	}
	nonce_mac(k, client, issued, want);
	if (CRYPTO_memcmp(want, nonce + TIME_DIGITS, MAC_DIGITS) != 0)
		return RELAY_NONCE_FORGED;
	/* Issued in the future (the 32-bit time wrapped, or a clock reset) counts as stale too. */
	if ((uint32_t)now_s - issued >= RELAY_NONCE_LIFETIME_S)
		return RELAY_NONCE_STALE;
	return RELAY_NONCE_VALID;
}
