// SPDX-License-Identifier: MIT
/* The relay's stateless nonces (relay/nonce.h): bound to the client, expiring, unforgeable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "relay/nonce.h"

static void endpoint(struct ip_endpoint *e, const char *s)
{
	assert_int_equal(ip_endpoint_parse(s, e), 0);
}

static void valid_then_stale(void **state)
{
	struct relay_nonce_key k;
	struct ip_endpoint c;
	char n[RELAY_NONCE_LEN];

	memset(&k, 7, sizeof(k));
	endpoint(&c, "198.51.100.7:4000");
	relay_nonce_make(&k, &c, 1000, n);
	assert_int_equal(relay_nonce_check(&k, &c, (uint8_t *)n, sizeof(n), 1000), RELAY_NONCE_VALID);
	assert_int_equal(relay_nonce_check(&k, &c, (uint8_t *)n, sizeof(n), 1000 + RELAY_NONCE_LIFETIME_S - 1),
			 RELAY_NONCE_VALID);
	assert_int_equal(relay_nonce_check(&k, &c, (uint8_t *)n, sizeof(n), 1000 + RELAY_NONCE_LIFETIME_S),
			 RELAY_NONCE_STALE);
	/* From the future (a clock that went back): stale, never valid forever. */
	assert_int_equal(relay_nonce_check(&k, &c, (uint8_t *)n, sizeof(n), 999), RELAY_NONCE_STALE);
}

static void bound_to_client_and_key(void **state)
{
	struct relay_nonce_key k, other;
	struct ip_endpoint c, c_port, c_ip;
	char n[RELAY_NONCE_LEN];

	memset(&k, 7, sizeof(k));
	memset(&other, 8, sizeof(other));
	endpoint(&c, "198.51.100.7:4000");
	endpoint(&c_port, "198.51.100.7:4001");
	endpoint(&c_ip, "198.51.100.8:4000");
	relay_nonce_make(&k, &c, 50, n);
	assert_int_equal(relay_nonce_check(&k, &c_port, (uint8_t *)n, sizeof(n), 50), RELAY_NONCE_FORGED);
	assert_int_equal(relay_nonce_check(&k, &c_ip, (uint8_t *)n, sizeof(n), 50), RELAY_NONCE_FORGED);
	assert_int_equal(relay_nonce_check(&other, &c, (uint8_t *)n, sizeof(n), 50), RELAY_NONCE_FORGED);
}

static void forged_shapes(void **state)
{
	struct relay_nonce_key k;
	struct ip_endpoint c;
	char n[RELAY_NONCE_LEN];

	memset(&k, 7, sizeof(k));
	endpoint(&c, "[2001:db8::1]:3478");
	relay_nonce_make(&k, &c, 70, n);
	assert_int_equal(relay_nonce_check(&k, &c, (uint8_t *)n, sizeof(n), 70), RELAY_NONCE_VALID);
	assert_int_equal(relay_nonce_check(&k, &c, (uint8_t *)n, sizeof(n) - 1, 70), RELAY_NONCE_FORGED);
	/* A later time with the old MAC: the MAC covers the time. */
	n[7] = n[7] == '0' ? '1' : '0';
	assert_int_equal(relay_nonce_check(&k, &c, (uint8_t *)n, sizeof(n), 70), RELAY_NONCE_FORGED);
	relay_nonce_make(&k, &c, 70, n);
	n[0] = 'G'; /* not hex */
	assert_int_equal(relay_nonce_check(&k, &c, (uint8_t *)n, sizeof(n), 70), RELAY_NONCE_FORGED);
	relay_nonce_make(&k, &c, 70, n);
	n[RELAY_NONCE_LEN - 1] ^= 1;
	assert_int_equal(relay_nonce_check(&k, &c, (uint8_t *)n, sizeof(n), 70), RELAY_NONCE_FORGED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_then_stale),
		cmocka_unit_test(bound_to_client_and_key),
		cmocka_unit_test(forged_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
