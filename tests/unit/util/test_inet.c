// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "util/inet.h"

static void addr_round_trip(void **state)
{
	const char *cases[] = { "10.200.0.5", "0.0.0.0", "255.255.255.255", "fd00::5", "::", "::ffff:1.2.3.4" };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ip_addr a;
		char buf[IP_ADDR_STRLEN];
		assert_int_equal(ip_addr_parse(cases[i], &a), 0);
		assert_string_equal(ip_addr_format(&a, buf, sizeof(buf)), cases[i]);
	}
}

static void addr_rejects_garbage(void **state)
{
	const char *bad[] = { "", "10.0.0", "10.0.0.256", "fd00::5::1", "10.0.0.1 ", " 10.0.0.1", "abc", "1.2.3.4/5" };
	struct ip_addr a;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ip_addr_parse(bad[i], &a), -EINVAL);
	assert_int_equal(ip_addr_parse(NULL, &a), -EINVAL);
}

static void prefix_parse_and_mask(void **state)
{
	struct ip_prefix p, n;
	char buf[IP_PREFIX_STRLEN];
	assert_int_equal(ip_prefix_parse("10.200.0.5/26", &p), 0);
	assert_int_equal(p.len, 26);
	assert_false(ip_prefix_is_network(&p));
	n = ip_prefix_network(&p);
	assert_string_equal(ip_prefix_format(&n, buf, sizeof(buf)), "10.200.0.0/26");
	struct ip_addr last = ip_prefix_last(&p);
	assert_string_equal(ip_addr_format(&last, buf, sizeof(buf)), "10.200.0.63");

	assert_int_equal(ip_prefix_parse("10.1.2.3", &p), 0);
	assert_int_equal(p.len, 32);
	assert_int_equal(ip_prefix_parse("fd00::/64", &p), 0);
	assert_int_equal(p.len, 64);
	assert_true(ip_prefix_is_network(&p));
	assert_int_equal(ip_prefix_parse("0.0.0.0/0", &p), 0);
	assert_int_equal(ip_prefix_host_bits(&p), 32);
	assert_int_equal(ip_prefix_parse("::/0", &p), 0);
	n = ip_prefix_network(&p);
	last = ip_prefix_last(&n);
	assert_string_equal(ip_addr_format(&last, buf, sizeof(buf)), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void prefix_rejects_garbage(void **state)
{
	const char *bad[] = { "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/1a", "fd00::/129",
			      "/24", "10.0.0.0/24/1", "10.0.0.0/0024", "x/8" };
	struct ip_prefix p;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ip_prefix_parse(bad[i], &p), -EINVAL);
}

static void prefix_contains_overlaps(void **state)
{
	struct ip_prefix a, b, c, v6;
	struct ip_addr x, y, z;
	ip_prefix_parse("10.200.0.0/16", &a);
	ip_prefix_parse("10.200.64.0/26", &b);
	ip_prefix_parse("10.201.0.0/26", &c);
	ip_prefix_parse("fd00::/64", &v6);
	ip_addr_parse("10.200.64.63", &x);
	ip_addr_parse("10.200.64.64", &y);
	ip_addr_parse("fd00::1", &z);
	assert_true(ip_prefix_contains(&b, &x));
	assert_false(ip_prefix_contains(&b, &y));
	assert_false(ip_prefix_contains(&a, &z));
	assert_true(ip_prefix_contains(&v6, &z));
	assert_true(ip_prefix_overlaps(&a, &b));
	assert_true(ip_prefix_overlaps(&b, &a));
	assert_false(ip_prefix_overlaps(&a, &c));
	assert_false(ip_prefix_overlaps(&a, &v6));
}

static void addr_arithmetic(void **state)
{
	struct ip_addr base, out;
	char buf[IP_ADDR_STRLEN];
	ip_addr_parse("10.200.0.0", &base);
	assert_int_equal(ip_addr_add(&base, 258, &out), 0);
	assert_string_equal(ip_addr_format(&out, buf, sizeof(buf)), "10.200.1.2");
	assert_true(ip_addr_sub(&out, &base) == 258);
	ip_addr_parse("255.255.255.255", &base);
	assert_int_equal(ip_addr_add(&base, 1, &out), -ERANGE);
	ip_addr_parse("fd00::ffff", &base);
	assert_int_equal(ip_addr_add(&base, 1, &out), 0);
	assert_string_equal(ip_addr_format(&out, buf, sizeof(buf)), "fd00::1:0");
}

static void endpoint_parse(void **state)
{
	struct ip_endpoint e;
	char buf[IP_ENDPOINT_STRLEN];
	assert_int_equal(ip_endpoint_parse("1.2.3.4:51820", &e), 0);
	assert_int_equal(e.port, 51820);
	assert_string_equal(ip_endpoint_format(&e, buf, sizeof(buf)), "1.2.3.4:51820");
	assert_int_equal(ip_endpoint_parse("[fd00::1]:51420", &e), 0);
	assert_int_equal(e.addr.family, AF_INET6);
	assert_string_equal(ip_endpoint_format(&e, buf, sizeof(buf)), "[fd00::1]:51420");
	assert_int_equal(ip_endpoint_parse("0.0.0.0:0", &e), 0);
	assert_true(ip_endpoint_is_unset(&e));
	const char *bad[] = { "not-a-socket-addr", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "fd00::1:80",
			      "[fd00::1]", "[1.2.3.4]:80", "[fd00::1]80", "host:80", ":80", "1.2.3.4:8 0" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ip_endpoint_parse(bad[i], &e), -EINVAL);
}

static void endpoint_sockaddr_round_trip(void **state)
{
	struct ip_endpoint e, back;
	struct sockaddr_storage ss;
	socklen_t len;
	ip_endpoint_parse("[fd00::7]:9", &e);
	ip_endpoint_to_sockaddr(&e, &ss, &len);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ip_endpoint_from_sockaddr((struct sockaddr *)&ss, &back), 0);
	assert_true(ip_addr_equal(&e.addr, &back.addr));
	assert_int_equal(back.port, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(addr_round_trip),	     cmocka_unit_test(addr_rejects_garbage),
		cmocka_unit_test(prefix_parse_and_mask),     cmocka_unit_test(prefix_rejects_garbage),
		cmocka_unit_test(prefix_contains_overlaps),  cmocka_unit_test(addr_arithmetic),
		cmocka_unit_test(endpoint_parse),	     cmocka_unit_test(endpoint_sockaddr_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
