/* SPDX-License-Identifier: MIT */
/*
 * 32-byte WireGuard keys in their two text forms: standard base64 (44 chars,
 * the protocol's and wg(8)'s form) and lowercase hex (64 chars, the UAPI's).
 */
#ifndef OVL_UTIL_KEY_H
#define OVL_UTIL_KEY_H

#include <stdbool.h>
#include <stdint.h>

#define WG_KEY_LEN 32
#define WG_KEY_B64_LEN 44 /* without the NUL */
#define WG_KEY_HEX_LEN 64 /* without the NUL */

void key_to_base64(const uint8_t key[WG_KEY_LEN], char out[WG_KEY_B64_LEN + 1]);
/* Strict: exactly 44 chars of standard base64 ending in '='. 0 or -EINVAL. */
int key_from_base64(const char *s, uint8_t key[WG_KEY_LEN]);
void key_to_hex(const uint8_t key[WG_KEY_LEN], char out[WG_KEY_HEX_LEN + 1]);
/* Exactly 64 hex digits, either case. 0 or -EINVAL. */
int key_from_hex(const char *s, uint8_t key[WG_KEY_LEN]);
bool key_is_zero(const uint8_t key[WG_KEY_LEN]);
/* Constant-time comparison. */
bool key_equal(const uint8_t a[WG_KEY_LEN], const uint8_t b[WG_KEY_LEN]);

#endif
