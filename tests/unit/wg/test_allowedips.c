// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "wg/allowedips.h"

static struct ip_prefix P(const char *s)
{
	struct ip_prefix p;
	assert_int_equal(ip_prefix_parse(s, &p), 0);
	return p;
}

static struct wg_aip_owner *L(struct wg_allowedips *t, const char *addr)
{
	struct ip_addr a;
	assert_int_equal(ip_addr_parse(addr, &a), 0);
	return wg_allowedips_lookup(t, &a);
}

static void longest_prefix_wins(void **state)
{
	struct wg_allowedips t;
	struct wg_aip_owner a, b, c;
	wg_allowedips_init(&t);
	wg_aip_owner_init(&a);
	wg_aip_owner_init(&b);
	wg_aip_owner_init(&c);
	struct ip_prefix p1 = P("10.0.0.0/8"), p2 = P("10.1.0.0/16"), p3 = P("10.1.2.3/32"),
			 p4 = P("0.0.0.0/0"), p5 = P("fd00::/64"), p6 = P("fd00::1/128");
	assert_int_equal(wg_allowedips_insert(&t, &p1, &a), 0);
	assert_int_equal(wg_allowedips_insert(&t, &p2, &b), 0);
	assert_int_equal(wg_allowedips_insert(&t, &p3, &c), 0);
	assert_ptr_equal(L(&t, "10.2.3.4"), &a);
	assert_ptr_equal(L(&t, "10.1.9.9"), &b);
	assert_ptr_equal(L(&t, "10.1.2.3"), &c);
	assert_null(L(&t, "11.0.0.1"));
	assert_int_equal(wg_allowedips_insert(&t, &p4, &c), 0);
	assert_ptr_equal(L(&t, "11.0.0.1"), &c);
	/* IPv6 is a separate table. */
	assert_null(L(&t, "fd00::2"));
	assert_int_equal(wg_allowedips_insert(&t, &p5, &a), 0);
	assert_int_equal(wg_allowedips_insert(&t, &p6, &b), 0);
	assert_ptr_equal(L(&t, "fd00::2"), &a);
	assert_ptr_equal(L(&t, "fd00::1"), &b);
	assert_null(L(&t, "fd01::1"));
	assert_int_equal(a.count, 2);
	wg_allowedips_free(&t);
	assert_int_equal(a.count, 0);
}

static void host_bits_and_reassignment(void **state)
{
	struct wg_allowedips t;
	struct wg_aip_owner a, b;
	wg_allowedips_init(&t);
	wg_aip_owner_init(&a);
	wg_aip_owner_init(&b);
	/* Host bits are masked: 10.1.2.3/16 is 10.1.0.0/16. */
	struct ip_prefix p = P("10.1.2.3/16"), q = P("10.1.0.0/16");
	assert_int_equal(wg_allowedips_insert(&t, &p, &a), 0);
	assert_ptr_equal(L(&t, "10.1.200.1"), &a);
	/* The same prefix for another peer moves it. */
	assert_int_equal(wg_allowedips_insert(&t, &q, &b), 0);
	assert_ptr_equal(L(&t, "10.1.200.1"), &b);
	assert_int_equal(a.count, 0);
	assert_int_equal(b.count, 1);
	struct wg_aip_node *n;
	wg_aip_owner_foreach(n, &b) {
		struct ip_prefix out;
		char buf[IP_PREFIX_STRLEN];
		wg_aip_node_prefix(n, &out);
		assert_string_equal(ip_prefix_format(&out, buf, sizeof(buf)), "10.1.0.0/16");
	}
	struct ip_prefix bad = P("10.0.0.0/8");
	bad.len = 33;
	assert_int_equal(wg_allowedips_insert(&t, &bad, &a), -EINVAL);
	wg_allowedips_free(&t);
}

static void removal(void **state)
{
	struct wg_allowedips t;
	struct wg_aip_owner a, b;
	wg_allowedips_init(&t);
	wg_aip_owner_init(&a);
	wg_aip_owner_init(&b);
	struct ip_prefix p1 = P("192.168.0.0/16"), p2 = P("192.168.1.0/24"), p3 = P("192.168.1.128/25");
	assert_int_equal(wg_allowedips_insert(&t, &p1, &a), 0);
	assert_int_equal(wg_allowedips_insert(&t, &p2, &b), 0);
	assert_int_equal(wg_allowedips_insert(&t, &p3, &a), 0);
	/* Only the owner may remove; a missing prefix is -ENOENT. */
	assert_int_equal(wg_allowedips_remove(&t, &p2, &a), -ENOENT);
	assert_int_equal(wg_allowedips_remove(&t, &p2, &b), 0);
	assert_int_equal(wg_allowedips_remove(&t, &p2, &b), -ENOENT);
	assert_ptr_equal(L(&t, "192.168.1.1"), &a);	/* falls back to the /16 */
	assert_ptr_equal(L(&t, "192.168.1.200"), &a); /* the /25 survived */
	wg_allowedips_remove_owner(&t, &a);
	assert_null(L(&t, "192.168.1.200"));
	assert_null(t.root4); /* nothing left, not even branch nodes */
	assert_int_equal(a.count, 0);
	wg_allowedips_free(&t);
}

static int prefix_cmp(const void *a, const void *b)
{
	const struct ip_prefix *x = a, *y = b;
	int c = ip_addr_compare(&x->addr, &y->addr);
	return c ? c : (int)x->len - (int)y->len;
}

/* 100k random host routes plus covering prefixes, checked against a brute-force scan. */
static void hundred_thousand(void **state)
{
	enum { N = 100000 };
	struct wg_allowedips t;
	struct wg_aip_owner owners[4];
	struct ip_prefix *ps = calloc(N, sizeof(*ps));
	int *who = calloc(N, sizeof(*who));
	assert_non_null(ps);
	wg_allowedips_init(&t);
	for (int i = 0; i < 4; i++)
		wg_aip_owner_init(&owners[i]);
	srand(42);
	for (int i = 0; i < N; i++) {
		uint32_t a = (uint32_t)rand() << 1 ^ (uint32_t)rand();
		ps[i].addr.family = AF_INET;
		ps[i].len = (uint8_t)(i % 10 == 0 ? 8 + rand() % 24 : 32);
		a &= ps[i].len ? ~0U << (32 - ps[i].len) : 0;
		ps[i].addr.v4.s_addr = htonl(a);
		who[i] = rand() % 4;
		assert_int_equal(wg_allowedips_insert(&t, &ps[i], &owners[who[i]]), 0);
	}
	/* Last insert of a prefix wins; compute expectations by scanning. */
	for (int probe = 0; probe < 300; probe++) {
		struct ip_addr x = ps[rand() % N].addr;
		x.v4.s_addr ^= htonl((uint32_t)rand() & 0xff);
		int best = -1, bestlen = -1;
		for (int i = 0; i < N; i++)
			if (ip_prefix_contains(&ps[i], &x) && ps[i].len >= bestlen) {
				best = i;
				bestlen = ps[i].len;
			}
		struct wg_aip_owner *got = wg_allowedips_lookup(&t, &x);
		if (best < 0)
			assert_null(got);
		else
			assert_ptr_equal(got, &owners[who[best]]);
	}
	/* Every distinct prefix is held exactly once. */
	size_t total = 0, distinct = 0;
	for (int i = 0; i < 4; i++)
		total += owners[i].count;
	qsort(ps, N, sizeof(*ps), prefix_cmp);
	for (int i = 0; i < N; i++)
		distinct += i == 0 || prefix_cmp(&ps[i], &ps[i - 1]) != 0;
	assert_int_equal(total, distinct);
	for (int i = 0; i < 4; i++)
		wg_allowedips_remove_owner(&t, &owners[i]);
	assert_null(t.root4);
	wg_allowedips_free(&t);
	free(ps);
	free(who);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(longest_prefix_wins),
		cmocka_unit_test(host_bits_and_reassignment),
		cmocka_unit_test(removal),
		cmocka_unit_test(hundred_thousand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
