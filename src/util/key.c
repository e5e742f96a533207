// SPDX-License-Identifier: MIT
#include "util/key.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

void key_to_base64(const uint8_t key[WG_KEY_LEN], char out[WG_KEY_B64_LEN + 1])
{
	EVP_EncodeBlock((unsigned char *)out, key, WG_KEY_LEN);
	out[WG_KEY_B64_LEN] = '\0';
}

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/';
}

int key_from_base64(const char *s, uint8_t key[WG_KEY_LEN])
{
	if (!s || strlen(s) != WG_KEY_B64_LEN || s[WG_KEY_B64_LEN - 1] != '=')
		return -EINVAL;
	for (int i = 0; i < WG_KEY_B64_LEN - 1; i++)
		if (!is_b64_char(s[i]))
			return -EINVAL;
	unsigned char buf[36];
	/* 44 chars decode to 33 bytes; the last is the padding's zero byte. */
	if (EVP_DecodeBlock(buf, (const unsigned char *)s, WG_KEY_B64_LEN) != 33)
		return -EINVAL;
	/* Reject non-canonical encodings (unused low bits of the last digit set). */
	char canon[WG_KEY_B64_LEN + 1];
	key_to_base64(buf, canon);
	if (memcmp(canon, s, WG_KEY_B64_LEN) != 0)
		return -EINVAL;
	memcpy(key, buf, WG_KEY_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

void key_to_hex(const uint8_t key[WG_KEY_LEN], char out[WG_KEY_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < WG_KEY_LEN; i++) {
		out[2 * i] = digits[key[i] >> 4];
		out[2 * i + 1] = digits[key[i] & 0xf];
	}
	out[WG_KEY_HEX_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int key_from_hex(const char *s, uint8_t key[WG_KEY_LEN])
{
	if (!s || strlen(s) != WG_KEY_HEX_LEN)
		return -EINVAL;
	uint8_t buf[WG_KEY_LEN];
	for (int i = 0; i < WG_KEY_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(key, buf, WG_KEY_LEN);
	return 0;
}

bool key_is_zero(const uint8_t key[WG_KEY_LEN])
{
	uint8_t acc = 0;
	for (int i = 0; i < WG_KEY_LEN; i++)
		acc |= key[i];
	return acc == 0;
}

bool key_equal(const uint8_t a[WG_KEY_LEN], const uint8_t b[WG_KEY_LEN])
{
	return CRYPTO_memcmp(a, b, WG_KEY_LEN) == 0;
}
