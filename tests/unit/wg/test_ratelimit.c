// SPDX-License-Identifier: MIT
/* Per-source handshake rate limiting and under-load detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "wg/messages.h"
#include "wg/ratelimit.h"

#define SEC 1000000000ULL

static struct ip_addr A(const char *s)
{
	struct ip_addr a;
	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static void burst_then_refill(void **state)
{
	struct wg_ratelimit rl;
	struct ip_addr a = A("192.0.2.1"), b = A("192.0.2.2");
	uint64_t t = 10 * SEC;
	assert_int_equal(wg_ratelimit_init(&rl, 1000), 0);
	for (int i = 0; i < WG_RATELIMIT_BURST; i++)
		assert_true(wg_ratelimit_allow(&rl, &a, t));
	assert_false(wg_ratelimit_allow(&rl, &a, t));
	/* Another source has its own budget. */
	assert_true(wg_ratelimit_allow(&rl, &b, t));
	/* One packet's worth of time later, exactly one more. */
	t += SEC / WG_RATELIMIT_PACKETS_PER_SECOND;
	assert_true(wg_ratelimit_allow(&rl, &a, t));
	assert_false(wg_ratelimit_allow(&rl, &a, t));
	wg_ratelimit_destroy(&rl);
}

static void ipv6_shares_a_64(void **state)
{
	struct wg_ratelimit rl;
	struct ip_addr x = A("2001:db8:1:2::1"), y = A("2001:db8:1:2::ffff"), z = A("2001:db8:1:3::1");
	assert_int_equal(wg_ratelimit_init(&rl, 1000), 0);
	for (int i = 0; i < WG_RATELIMIT_BURST; i++)
		assert_true(wg_ratelimit_allow(&rl, i % 2 ? &x : &y, SEC));
	/* Same /64: the budget is spent; another /64 is not. */
	assert_false(wg_ratelimit_allow(&rl, &y, SEC));
	assert_true(wg_ratelimit_allow(&rl, &z, SEC));
	wg_ratelimit_destroy(&rl);
}

static void under_load(void **state)
{
	struct wg_ratelimit rl;
	uint64_t t = 5 * SEC;
	assert_int_equal(wg_ratelimit_init(&rl, 10), 0);
	for (int i = 0; i < 10; i++)
		assert_false(wg_ratelimit_under_load(&rl, t));
	assert_true(wg_ratelimit_under_load(&rl, t));
	/* Stays under load for a second after the flood... */
	assert_true(wg_ratelimit_under_load(&rl, t + SEC / 2));
	/* ...then calms down. */
	assert_false(wg_ratelimit_under_load(&rl, t + 3 * SEC));
	wg_ratelimit_destroy(&rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_refill),
		cmocka_unit_test(ipv6_shares_a_64),
		cmocka_unit_test(under_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
