// SPDX-License-Identifier: MIT
/* The relay's allocation table, permissions and channel bindings (relay/alloc.h) on a fake clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "relay/alloc.h"

static struct ip_endpoint ep(const char *s)
{
	struct ip_endpoint e;
	assert_int_equal(ip_endpoint_parse(s, &e), 0);
	return e;
}

static void table_find_insert_remove(void **state)
{
	struct relay_alloc_table t;
	struct ip_endpoint c[3] = { ep("198.51.100.1:1000"), ep("198.51.100.1:1001"), ep("[2001:db8::1]:1000") };

	assert_int_equal(relay_alloc_table_init(&t, 2), 0);
	struct relay_alloc *a = relay_alloc_insert(&t, &c[0]), *b = relay_alloc_insert(&t, &c[1]);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->fd, -1);
	assert_null(relay_alloc_insert(&t, &c[2])); /* full */
	assert_ptr_equal(relay_alloc_find(&t, &c[0]), a);
	assert_ptr_equal(relay_alloc_find(&t, &c[1]), b);
	assert_null(relay_alloc_find(&t, &c[2]));
	relay_alloc_remove(&t, a);
	assert_null(relay_alloc_find(&t, &c[0]));
	assert_ptr_equal(relay_alloc_find(&t, &c[1]), b);
	struct relay_alloc *v6 = relay_alloc_insert(&t, &c[2]);
	assert_ptr_equal(relay_alloc_find(&t, &c[2]), v6);
	assert_int_equal(t.used, 2);
	/* By relayed port, once set; gone with the allocation. */
	b->relayed_port = 50000;
	v6->relayed_port = 50000 + (uint16_t)(2 * t.nbuckets); /* likely the same bucket */
	assert_null(relay_alloc_by_port(&t, 50000));
	relay_alloc_set_port(&t, b);
	relay_alloc_set_port(&t, v6);
	assert_ptr_equal(relay_alloc_by_port(&t, 50000), b);
	assert_ptr_equal(relay_alloc_by_port(&t, v6->relayed_port), v6);
	relay_alloc_remove(&t, b);
	assert_null(relay_alloc_by_port(&t, 50000));
	assert_ptr_equal(relay_alloc_by_port(&t, v6->relayed_port), v6);
	relay_alloc_table_free(&t);
}

static void permissions_expire(void **state)
{
	struct relay_alloc a = { 0 };
	struct ip_endpoint p = ep("203.0.113.5:9"), q = ep("203.0.113.6:9");

	assert_int_equal(relay_perm_add(&a, &p.addr, 1000), 0);
	assert_true(relay_perm_check(&a, &p.addr, 1000 + TURN_PERMISSION_LIFETIME_S * 1000 - 1));
	assert_false(relay_perm_check(&a, &p.addr, 1000 + TURN_PERMISSION_LIFETIME_S * 1000));
	assert_false(relay_perm_check(&a, &q.addr, 1000));
	/* A refresh moves the expiry. */
	assert_int_equal(relay_perm_add(&a, &p.addr, 200000), 0);
	assert_true(relay_perm_check(&a, &p.addr, 400000));
	/* Full: -ENOSPC until one expires. */
	for (int i = 1; i < RELAY_MAX_PERMISSIONS; i++) {
		struct ip_addr x = p.addr;
		x.bytes[3] = (uint8_t)(100 + i);
		assert_int_equal(relay_perm_add(&a, &x, 1000), 0);
	}
	assert_int_equal(relay_perm_add(&a, &q.addr, 1000), -ENOSPC);
	assert_int_equal(relay_perm_add(&a, &q.addr, 1000 + TURN_PERMISSION_LIFETIME_S * 1000), 0);
}

static void channels_rules(void **state)
{
	struct relay_alloc a = { 0 };
	struct ip_endpoint p = ep("203.0.113.5:9"), p2 = ep("203.0.113.5:10");
	uint64_t t = 1000, life = TURN_CHANNEL_LIFETIME_S * 1000;

	assert_int_equal(relay_chan_bind(&a, 0x4000, &p, t), 0);
	assert_int_equal(relay_chan_bind(&a, 0x4000, &p, t + 1), 0);	      /* refresh */
	assert_int_equal(relay_chan_bind(&a, 0x4000, &p2, t), -EEXIST);    /* channel taken */
	assert_int_equal(relay_chan_bind(&a, 0x4001, &p, t), -EEXIST);     /* peer taken */
	assert_non_null(relay_chan_by_number(&a, 0x4000, t));
	assert_ptr_equal(relay_chan_by_peer(&a, &p, t), relay_chan_by_number(&a, 0x4000, t));
	assert_null(relay_chan_by_peer(&a, &p2, t));
	/* Expired: no longer usable, but the number stays tied to its peer for 5 more minutes. */
	assert_null(relay_chan_by_number(&a, 0x4000, t + 1 + life));
	assert_int_equal(relay_chan_bind(&a, 0x4000, &p2, t + 1 + life), -EEXIST);
	assert_int_equal(relay_chan_bind(&a, 0x4000, &p2, t + 1 + life + 300 * 1000), 0);
	assert_ptr_equal(relay_chan_by_peer(&a, &p2, t + 2 + life + 300 * 1000),
			 relay_chan_by_number(&a, 0x4000, t + 2 + life + 300 * 1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_find_insert_remove),
		cmocka_unit_test(permissions_expire),
		cmocka_unit_test(channels_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
