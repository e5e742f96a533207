// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ipam/subnets.h"

static struct ip_prefix P(const char *s)
{
	struct ip_prefix p;
	assert_int_equal(ip_prefix_parse(s, &p), 0);
	return p;
}

static void init(struct ipam_subnets *r, const char *cidr)
{
	char err[200];
	struct ip_prefix p = P(cidr);
	assert_int_equal(ipam_subnets_init(r, &p, err, sizeof(err)), 0);
}

static void assign_is_idempotent_deterministic_and_disjoint(void **state)
{
	struct ipam_subnets r1, r2;
	char err[200];
	init(&r1, "10.200.0.0/16");
	init(&r2, "10.200.0.0/16");
	struct ip_prefix slice = P("10.200.0.0/26"), node = P("10.200.0.1/32");
	assert_int_equal(ipam_subnets_reserve(&r1, &slice), 0);
	assert_int_equal(ipam_subnets_reserve(&r1, &node), 0);
	assert_int_equal(ipam_subnets_reserve(&r2, &slice), 0);
	assert_int_equal(ipam_subnets_reserve(&r2, &node), 0);
	struct ip_prefix got[50];
	for (int i = 0; i < 50; i++) {
		char svc[16];
		snprintf(svc, sizeof(svc), "svc%d", i);
		assert_int_equal(ipam_subnets_assign(&r1, svc, 7, &got[i], err, sizeof(err)), 0);
		assert_int_equal(got[i].len, 26);
		assert_true(ip_prefix_is_network(&got[i]));
		assert_false(ip_prefix_overlaps(&got[i], &slice));
		for (int j = 0; j < i; j++)
			assert_false(ip_prefix_overlaps(&got[i], &got[j]));
		struct ip_prefix again;
		assert_int_equal(ipam_subnets_assign(&r1, svc, 7, &again, err, sizeof(err)), 0);
		assert_true(ip_prefix_equal(&again, &got[i]));
		/* A second registry (a restarted daemon) derives the same subnet. */
		assert_int_equal(ipam_subnets_assign(&r2, svc, 7, &again, err, sizeof(err)), 0);
		assert_true(ip_prefix_equal(&again, &got[i]));
	}
	/* Other node id, other key. */
	struct ip_prefix other;
	assert_int_equal(ipam_subnets_assign(&r1, "svc0", 8, &other, err, sizeof(err)), 0);
	assert_false(ip_prefix_equal(&other, &got[0]));
	ipam_subnets_free(&r1);
	ipam_subnets_free(&r2);
}

/* Known value: pins the FNV-1a slot formula so it can never drift silently. */
static void slot_formula_is_stable(void **state)
{
	struct ipam_subnets r;
	char err[200], buf[IP_PREFIX_STRLEN];
	init(&r, "10.200.0.0/16");
	struct ip_prefix p;
	assert_int_equal(ipam_subnets_assign(&r, "web", 1, &p, err, sizeof(err)), 0);
	/* FNV-1a-64("web\0" "1") mod 1024 computed independently (python). */
	assert_string_equal(ip_prefix_format(&p, buf, sizeof(buf)), "10.200.221.128/26");
	ipam_subnets_free(&r);
}

static void exhaustion_release_and_reserved(void **state)
{
	struct ipam_subnets r;
	char err[200];
	init(&r, "10.9.0.0/24"); /* 4 slots; slot 0 reserved */
	struct ip_prefix reserved = P("10.9.0.130/32");
	assert_int_equal(ipam_subnets_reserve(&r, &reserved), 0); /* blocks slot 2 */
	struct ip_prefix a, b, c;
	assert_int_equal(ipam_subnets_assign(&r, "a", 1, &a, err, sizeof(err)), 0);
	assert_int_equal(ipam_subnets_assign(&r, "b", 1, &b, err, sizeof(err)), 0);
	assert_false(ip_prefix_equal(&a, &b));
	struct ip_prefix s0 = P("10.9.0.0/26"), s2 = P("10.9.0.128/26");
	assert_false(ip_prefix_equal(&a, &s0));
	assert_false(ip_prefix_equal(&a, &s2));
	assert_false(ip_prefix_equal(&b, &s0));
	assert_false(ip_prefix_equal(&b, &s2));
	assert_int_equal(ipam_subnets_assign(&r, "c", 1, &c, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "no free /26 service subnet"));
	assert_int_equal(ipam_subnets_release(&r, "a", 1), 0);
	assert_int_equal(ipam_subnets_release(&r, "a", 1), -ENOENT);
	assert_int_equal(ipam_subnets_assign(&r, "c", 1, &c, err, sizeof(err)), 0);
	assert_true(ip_prefix_equal(&c, &a));
	ipam_subnets_free(&r);
}

static void restore_and_v6(void **state)
{
	struct ipam_subnets r;
	char err[200];
	init(&r, "10.200.0.0/16");
	struct ip_prefix s = P("10.200.64.0/26"), bad = P("10.200.64.0/24"), out;
	assert_int_equal(ipam_subnets_restore(&r, "db", 3, &s), 0);
	assert_int_equal(ipam_subnets_restore(&r, "x", 3, &s), -EEXIST);
	assert_int_equal(ipam_subnets_restore(&r, "y", 3, &bad), -EINVAL);
	assert_int_equal(ipam_subnets_assign(&r, "db", 3, &out, err, sizeof(err)), 0);
	assert_true(ip_prefix_equal(&out, &s));
	assert_int_equal(ipam_subnets_assign(&r, IPAM_SHARED_BRIDGE_KEY, 3, &out, err, sizeof(err)), 0);
	assert_false(ip_prefix_equal(&out, &s));
	ipam_subnets_free(&r);

	/* IPv6 with a node slice as large as half the cluster: skipped in one jump. */
	init(&r, "fd00::/64");
	struct ip_prefix slice = P("fd00::/65");
	assert_int_equal(ipam_subnets_reserve(&r, &slice), 0);
	for (int i = 0; i < 20; i++) {
		char svc[16];
		snprintf(svc, sizeof(svc), "v6svc%d", i);
		assert_int_equal(ipam_subnets_assign(&r, svc, 1, &out, err, sizeof(err)), 0);
		assert_int_equal(out.len, 120);
		assert_false(ip_prefix_overlaps(&out, &slice));
	}
	ipam_subnets_free(&r);

	struct ip_prefix tiny = P("10.0.0.0/28");
	assert_int_equal(ipam_subnets_init(&r, &tiny, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "smaller than one /26"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(assign_is_idempotent_deterministic_and_disjoint),
		cmocka_unit_test(slot_formula_is_stable),
		cmocka_unit_test(exhaustion_release_and_reserved),
		cmocka_unit_test(restore_and_v6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
