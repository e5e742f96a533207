// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "util/key.h"

/* A key and its encodings as produced by `wg genkey` / `wg show dump`. */
static const char *b64 = "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0=";
static const char *hex = "60d5ed0337a90ea46ff47e76a2c2550d09f39d3e402f5d5e54adec079261417d";

static void base64_round_trip(void **state)
{
	uint8_t k[WG_KEY_LEN];
	char out[WG_KEY_B64_LEN + 1], h[WG_KEY_HEX_LEN + 1];
	assert_int_equal(key_from_base64(b64, k), 0);
	key_to_base64(k, out);
	assert_string_equal(out, b64);
	key_to_hex(k, h);
	assert_string_equal(h, hex);
	uint8_t k2[WG_KEY_LEN];
	assert_int_equal(key_from_hex(hex, k2), 0);
	assert_true(key_equal(k, k2));
	assert_false(key_is_zero(k));
}

static void base64_rejects_bad(void **state)
{
	uint8_t k[WG_KEY_LEN];
	assert_int_equal(key_from_base64("", k), -EINVAL);
	assert_int_equal(key_from_base64("base64key", k), -EINVAL);
	/* 44 chars but no padding */
	assert_int_equal(key_from_base64("YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0A", k), -EINVAL);
	/* non-canonical last digit (low bits set) */
	assert_int_equal(key_from_base64("YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX1=", k), -EINVAL);
	/* invalid character */
	assert_int_equal(key_from_base64("YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5Jh*X0=", k), -EINVAL);
	assert_int_equal(key_from_hex("60d5", k), -EINVAL);
	assert_int_equal(key_from_hex("g0d5ed0337a90ea46ff47e76a2c2550d09f39d3e402f5d5e54adec0792614175", k), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base64_round_trip),
		cmocka_unit_test(base64_rejects_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
