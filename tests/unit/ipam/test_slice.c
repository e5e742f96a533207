// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "ipam/slice.h"

static struct ip_addr A(const char *s)
{
	struct ip_addr a;
	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static void init(struct ipam_slice *s, const char *cidr)
{
	struct ip_prefix p;
	assert_int_equal(ip_prefix_parse(cidr, &p), 0);
	assert_int_equal(ipam_slice_init(s, &p), 0);
}

static void assert_addr(const struct ip_addr *a, const char *want)
{
	char buf[IP_ADDR_STRLEN];
	assert_string_equal(ip_addr_format(a, buf, sizeof(buf)), want);
}

/* The seed's node_ip_is_first_usable_and_reserved. */
static void node_ip_is_first_usable_and_reserved(void **state)
{
	struct ipam_slice s;
	init(&s, "10.200.0.0/26");
	struct ip_addr node = ipam_slice_node_ip(&s);
	assert_addr(&node, "10.200.0.1");
	struct ip_addr got[10];
	for (int i = 0; i < 10; i++) {
		assert_int_equal(ipam_slice_alloc(&s, &got[i]), 0);
		assert_false(ip_addr_equal(&got[i], &node));
	}
	assert_addr(&got[0], "10.200.0.2");
	/* Releasing the node IP must not put it into the pool. */
	assert_false(ipam_slice_release(&s, &node));
	struct ip_addr next;
	assert_int_equal(ipam_slice_alloc(&s, &next), 0);
	assert_false(ip_addr_equal(&next, &node));
	assert_addr(&next, "10.200.0.12");
	ipam_slice_free(&s);
}

static void node_ip_ipv6_is_first_usable(void **state)
{
	struct ipam_slice s;
	init(&s, "fd00:200::/64");
	struct ip_addr node = ipam_slice_node_ip(&s);
	assert_addr(&node, "fd00:200::1");
	for (int i = 0; i < 5; i++) {
		struct ip_addr a;
		assert_int_equal(ipam_slice_alloc(&s, &a), 0);
		assert_false(ip_addr_equal(&a, &node));
		if (i == 0)
			assert_addr(&a, "fd00:200::2");
	}
	ipam_slice_free(&s);
}

/* The seed's allocate_and_release_ip_round_trip, plus LIFO order. */
static void release_is_reused_first_lifo(void **state)
{
	struct ipam_slice s;
	init(&s, "10.200.0.0/26");
	struct ip_addr a, b, c, d;
	assert_int_equal(ipam_slice_alloc(&s, &a), 0);
	assert_int_equal(ipam_slice_alloc(&s, &b), 0);
	assert_false(ip_addr_equal(&a, &b));
	assert_true(ipam_slice_release(&s, &a));
	assert_true(ipam_slice_release(&s, &b));
	assert_int_equal(ipam_slice_alloc(&s, &c), 0);
	assert_true(ip_addr_equal(&c, &b));
	assert_int_equal(ipam_slice_alloc(&s, &d), 0);
	assert_true(ip_addr_equal(&d, &a));
	ipam_slice_free(&s);
}

static void bad_releases_never_double_hand_out(void **state)
{
	struct ipam_slice s;
	init(&s, "10.200.0.0/29"); /* containers .2 - .6 */
	const char *bogus[] = { "10.200.0.1", "10.200.0.0", "10.200.0.7", "10.9.9.9", "fd00::2", "10.200.0.5" };
	for (size_t i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
		struct ip_addr x = A(bogus[i]);
		assert_false(ipam_slice_release(&s, &x));
	}
	struct ip_addr a;
	assert_int_equal(ipam_slice_alloc(&s, &a), 0);
	assert_true(ipam_slice_release(&s, &a));
	assert_false(ipam_slice_release(&s, &a)); /* double release ignored */
	struct ip_addr seen[5];
	for (int i = 0; i < 5; i++) {
		assert_int_equal(ipam_slice_alloc(&s, &seen[i]), 0);
		for (int j = 0; j < i; j++)
			assert_false(ip_addr_equal(&seen[i], &seen[j]));
	}
	struct ip_addr x;
	assert_int_equal(ipam_slice_alloc(&s, &x), -ENOSPC);
	ipam_slice_free(&s);
}

static void ipv4_broadcast_excluded_and_exhaustion(void **state)
{
	struct ipam_slice s;
	init(&s, "10.1.0.0/30");
	struct ip_addr a;
	assert_int_equal(ipam_slice_alloc(&s, &a), 0);
	assert_addr(&a, "10.1.0.2");
	assert_int_equal(ipam_slice_alloc(&s, &a), -ENOSPC);
	ipam_slice_free(&s);

}

/* A slice too small to hold the node's own address is refused, not bound
 * with the node address outside it (or on the IPv4 broadcast address). */
static void slice_without_room_for_node_refused(void **state)
{
	static const char *const small[] = { "10.1.0.5/32", "10.1.0.4/31", "fd00::1/128" };
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		struct ip_prefix p;
		struct ipam_slice s;
		assert_int_equal(ip_prefix_parse(small[i], &p), 0);
		assert_int_equal(ipam_slice_init(&s, &p), -ERANGE);
	}
	struct ipam_slice s;
	init(&s, "fd00::/127");
	assert_addr((struct ip_addr[]){ ipam_slice_node_ip(&s) }, "fd00::1");
	ipam_slice_free(&s);
}

static void large_slice_and_restore(void **state)
{
	struct ipam_slice s;
	init(&s, "10.0.0.0/16");
	struct ip_addr a;
	for (int i = 0; i < 65533; i++)
		assert_int_equal(ipam_slice_alloc(&s, &a), 0);
	assert_addr(&a, "10.0.255.254");
	assert_int_equal(ipam_slice_alloc(&s, &a), -ENOSPC);
	assert_int_equal(ipam_slice_count(&s), 65533);
	ipam_slice_free(&s);

	/* Restore: reserved addresses are skipped by later allocations. */
	init(&s, "10.0.0.0/24");
	struct ip_addr r1 = A("10.0.0.2"), r2 = A("10.0.0.4"), node = A("10.0.0.1"), bc = A("10.0.0.255");
	assert_int_equal(ipam_slice_reserve(&s, &r1), 0);
	assert_int_equal(ipam_slice_reserve(&s, &r2), 0);
	assert_int_equal(ipam_slice_reserve(&s, &r2), -EEXIST);
	assert_int_equal(ipam_slice_reserve(&s, &node), -ERANGE);
	assert_int_equal(ipam_slice_reserve(&s, &bc), -ERANGE);
	assert_int_equal(ipam_slice_alloc(&s, &a), 0);
	assert_addr(&a, "10.0.0.3");
	assert_int_equal(ipam_slice_alloc(&s, &a), 0);
	assert_addr(&a, "10.0.0.5");
	assert_int_equal(ipam_slice_count(&s), 4);
	struct ip_addr first = ipam_slice_at(&s, 0);
	assert_addr(&first, "10.0.0.2");
	ipam_slice_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(node_ip_is_first_usable_and_reserved),
		cmocka_unit_test(node_ip_ipv6_is_first_usable),
		cmocka_unit_test(release_is_reused_first_lifo),
		cmocka_unit_test(bad_releases_never_double_hand_out),
		cmocka_unit_test(ipv4_broadcast_excluded_and_exhaustion),
		cmocka_unit_test(slice_without_room_for_node_refused),
		cmocka_unit_test(large_slice_and_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
