// SPDX-License-Identifier: MIT
/* Claims of slices and subnets in the store (cluster/claim.c), against a fake store. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/claim.h"
#include "fakestore.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static struct ip_prefix P(const char *s)
{
	struct ip_prefix p;
	assert_int_equal(ip_prefix_parse(s, &p), 0);
	return p;
}

static struct cluster_claim_ctx ctx(struct fake_store *f, const char *id, const char *cidr)
{
	return (struct cluster_claim_ctx){ .store = &f->base, .prefix = "/t", .node_id = id, .cluster = P(cidr) };
}

static void fmt(const struct ip_prefix *p, char *buf)
{
	ip_prefix_format(p, buf, IP_PREFIX_STRLEN);
}

static void test_nodes_get_disjoint_slots_and_keep_them(void **state)
{
	struct fake_store f;
	fake_store_init(&f);
	struct cluster_claim_ctx a = ctx(&f, ID_A, "10.200.0.0/16"), b = ctx(&f, ID_B, "10.200.0.0/16");
	struct ip_prefix sa, sb, wa, again;
	char err[300];
	assert_int_equal(cluster_claim(&a, "slice", NULL, &sa, err, sizeof(err)), 0);
	assert_int_equal(cluster_claim(&b, "slice", NULL, &sb, err, sizeof(err)), 0);
	assert_int_equal(cluster_claim(&a, "service:web", NULL, &wa, err, sizeof(err)), 0);
	assert_int_equal(sa.len, 26);
	assert_false(ip_prefix_overlaps(&sa, &sb));
	assert_false(ip_prefix_overlaps(&sa, &wa));
	assert_false(ip_prefix_overlaps(&sb, &wa));
	/* Slot 0 holds the cluster's network address: never handed out. */
	struct ip_addr net0 = P("10.200.0.0/16").addr;
	assert_false(ip_prefix_contains(&sa, &net0));
	/* The same node asking again (a restart on the same data dir) gets the same. */
	unsigned creates = f.creates;
	assert_int_equal(cluster_claim(&a, "slice", NULL, &again, err, sizeof(err)), 0);
	assert_true(ip_prefix_equal(&again, &sa));
	assert_int_equal(f.creates, creates); /* found, not claimed again */
	fake_store_fini(&f);
}

static void test_wanted_prefix_held_elsewhere_is_refused(void **state)
{
	struct fake_store f;
	fake_store_init(&f);
	struct cluster_claim_ctx a = ctx(&f, ID_A, "10.200.0.0/16"), b = ctx(&f, ID_B, "10.200.0.0/16");
	struct ip_prefix want = P("10.200.7.0/24"), out, bs;
	char err[300];
	assert_int_equal(cluster_claim(&a, "slice", &want, &out, err, sizeof(err)), 0);
	assert_true(ip_prefix_equal(&out, &want));
	size_t keys = f.kvs.n;
	assert_int_equal(keys, 4); /* a /24 is four /26 slots, one key each */
	/* Any overlap is refused, naming the holder; the store is unchanged. */
	struct ip_prefix part = P("10.200.7.64/26");
	assert_int_equal(cluster_claim(&b, "slice", &part, &bs, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "held by node " ID_A));
	assert_int_equal(f.kvs.n, keys);
	/* Free slots are not taken either when one slot of a wider claim is held: all or nothing. */
	struct ip_prefix wide = P("10.200.6.0/23");
	assert_int_equal(cluster_claim(&b, "slice", &wide, &bs, err, sizeof(err)), -EEXIST);
	assert_int_equal(f.kvs.n, keys);
	/* Asking again for what it holds is fine. */
	assert_int_equal(cluster_claim(&a, "slice", &want, &out, err, sizeof(err)), 0);
	fake_store_fini(&f);
}

static void test_bad_wanted_prefix(void **state)
{
	struct fake_store f;
	fake_store_init(&f);
	struct cluster_claim_ctx a = ctx(&f, ID_A, "10.200.0.0/16");
	struct ip_prefix out, outside = P("10.201.0.0/26"), tiny = P("10.200.1.0/28"), huge = P("10.200.0.0/17");
	char err[300];
	assert_int_equal(cluster_claim(&a, "slice", &outside, &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(cluster_claim(&a, "slice", &tiny, &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(cluster_claim(&a, "slice", &huge, &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(f.kvs.n, 0);
	fake_store_fini(&f);
}

/* Another node takes the slot A is about to create, between A's listing and A's transaction. */
static void steal(struct fake_store *f, const char *const *keys, size_t n)
{
	const char *slot = strrchr(keys[0], '/') + 1;
	char v[200];
	snprintf(v, sizeof(v), "{\"cidr\":\"%.*s/26\",\"for\":\"slice\",\"node\":\"" ID_B "\"}",
		 (int)(strchr(slot, '_') - slot), slot);
	fake_store_put(f, keys[0], v);
}

static void test_lost_race_tries_another_slot_then_runs_out(void **state)
{
	struct fake_store f;
	fake_store_init(&f);
	/* A /24 in /26 slots: slot 0 reserved, three to give. */
	struct cluster_claim_ctx a = ctx(&f, ID_A, "10.9.0.0/24");
	struct ip_prefix s1, s2, s3;
	char err[300];
	f.before_create = steal;
	assert_int_equal(cluster_claim(&a, "slice", NULL, &s1, err, sizeof(err)), 0);
	assert_int_equal(f.failed_creates, 1); /* lost once, won on a re-listed slot */
	const char *v;
	char key[64], buf[IP_PREFIX_STRLEN];
	fmt(&s1, buf);
	snprintf(key, sizeof(key), "/t/claims/%.*s_26", (int)(strchr(buf, '/') - buf), buf);
	assert_non_null(v = fake_store_get(&f, key));
	assert_non_null(strstr(v, ID_A));
	assert_int_equal(cluster_claim(&a, "service:web", NULL, &s2, err, sizeof(err)), 0);
	assert_false(ip_prefix_overlaps(&s1, &s2));
	assert_int_equal(cluster_claim(&a, "service:db", NULL, &s3, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "no free"));
	/* A release frees the slot for the next claim. */
	assert_int_equal(cluster_claim_release(&a, "service:web", &s2), 0);
	assert_int_equal(cluster_claim(&a, "service:db", NULL, &s3, err, sizeof(err)), 0);
	assert_true(ip_prefix_equal(&s2, &s3));
	fake_store_fini(&f);
}

static void test_release_leaves_other_nodes_claims(void **state)
{
	struct fake_store f;
	fake_store_init(&f);
	struct cluster_claim_ctx a = ctx(&f, ID_A, "10.200.0.0/16"), b = ctx(&f, ID_B, "10.200.0.0/16");
	struct ip_prefix sb;
	char err[300];
	assert_int_equal(cluster_claim(&b, "slice", NULL, &sb, err, sizeof(err)), 0);
	assert_int_equal(cluster_claim_release(&a, "slice", &sb), 0); /* not A's: nothing happens */
	assert_int_equal(f.kvs.n, 1);
	fake_store_fini(&f);
}

static void test_store_down_passes_the_error(void **state)
{
	struct fake_store f;
	fake_store_init(&f);
	f.down = true;
	struct cluster_claim_ctx a = ctx(&f, ID_A, "10.200.0.0/16");
	struct ip_prefix out;
	char err[300];
	assert_int_equal(cluster_claim(&a, "slice", NULL, &out, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "store"));
	fake_store_fini(&f);
}

/* A slot key whose value is not a claim we can read still holds its slot. */
static void test_unreadable_claim_still_holds_its_slot(void **state)
{
	struct fake_store f;
	fake_store_init(&f);
	struct cluster_claim_ctx a = ctx(&f, ID_A, "10.9.0.0/24");
	fake_store_put(&f, "/t/claims/10.9.0.64_26", "junk");
	fake_store_put(&f, "/t/claims/10.9.0.128_26", "{\"node\":7}");
	struct ip_prefix s1;
	char err[300];
	assert_int_equal(cluster_claim(&a, "slice", NULL, &s1, err, sizeof(err)), 0);
	assert_true(ip_prefix_equal(&s1, &(struct ip_prefix){ P("10.9.0.192/26").addr, 26 }));
	assert_int_equal(f.failed_creates, 0);
	fake_store_fini(&f);
}

static void test_ipv6_slots(void **state)
{
	struct fake_store f;
	fake_store_init(&f);
	struct cluster_claim_ctx a = ctx(&f, ID_A, "fd00:200::/64"), b = ctx(&f, ID_B, "fd00:200::/64");
	struct ip_prefix sa, sb;
	char err[300];
	assert_int_equal(cluster_claim(&a, "slice", NULL, &sa, err, sizeof(err)), 0);
	assert_int_equal(cluster_claim(&b, "slice", NULL, &sb, err, sizeof(err)), 0);
	assert_int_equal(sa.len, 120);
	assert_false(ip_prefix_overlaps(&sa, &sb));
	fake_store_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes_get_disjoint_slots_and_keep_them),
		cmocka_unit_test(test_wanted_prefix_held_elsewhere_is_refused),
		cmocka_unit_test(test_bad_wanted_prefix),
		cmocka_unit_test(test_lost_race_tries_another_slot_then_runs_out),
		cmocka_unit_test(test_release_leaves_other_nodes_claims),
		cmocka_unit_test(test_store_down_passes_the_error),
		cmocka_unit_test(test_unreadable_claim_still_holds_its_slot),
		cmocka_unit_test(test_ipv6_slots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
