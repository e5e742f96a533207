// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns/store.h"

static struct ip_addr addr(const char *s)
{
	struct ip_addr a;
	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static struct dns_name name(const char *s)
{
	struct dns_name n;
	assert_int_equal(dns_name_from_text(s, NULL, false, &n), 0);
	return n;
}

static void replace_semantics(void **state)
{
	struct dns_store *st = dns_store_new("zlayer.local.", 1);
	assert_non_null(st);
	struct ip_addr a = addr("10.0.0.1"), b = addr("fd00::2");
	assert_int_equal(dns_store_set(st, "web", &a), 0);
	assert_int_equal(dns_store_set(st, "WEB.zlayer.local.", &b), 0); /* same name: replaces */
	struct dns_name n = name("web.zlayer.local.");
	const struct ip_addr *got = dns_store_find(st, &n);
	assert_non_null(got);
	assert_true(ip_addr_equal(got, &b));
	/* The old address no longer has a PTR; the new one has. */
	struct dns_name ra, rb;
	dns_name_reverse(&a, &ra);
	dns_name_reverse(&b, &rb);
	assert_null(dns_store_find_ptr(st, &ra));
	assert_non_null(dns_store_find_ptr(st, &rb));
	struct dns_record *v;
	size_t count;
	assert_int_equal(dns_store_list(st, &v, &count), 0);
	assert_int_equal(count, 1);
	assert_string_equal(v[0].name, "web.zlayer.local.");
	free(v);
	assert_int_equal(dns_store_serial(st), 3);

	assert_int_equal(dns_store_remove(st, "web"), 0);
	assert_null(dns_store_find(st, &n));
	assert_null(dns_store_find_ptr(st, &rb));
	assert_int_equal(dns_store_remove(st, "web"), -ENOENT);
	dns_store_free(st);
}

static void rejects_bad_input(void **state)
{
	struct dns_store *st = dns_store_new("zlayer.local", 1);
	struct ip_addr a = addr("10.0.0.1"), zero = addr("0.0.0.0"), none = { 0 };
	assert_int_equal(dns_store_set(st, "bad name", &a), -EINVAL);
	assert_int_equal(dns_store_set(st, "", &a), -EINVAL);
	assert_int_equal(dns_store_set(st, "x", &zero), -EINVAL);
	assert_int_equal(dns_store_set(st, "x", &none), -EINVAL);
	assert_int_equal(dns_store_remove(st, "a..b"), -EINVAL);
	assert_int_equal(dns_store_set_zone(st, "bad zone"), -EINVAL);
	assert_int_equal(dns_store_serial(st), 1); /* nothing changed */
	assert_null(dns_store_new("", 1));
	dns_store_free(st);
}

static void shared_address_ptr_and_ents(void **state)
{
	struct dns_store *st = dns_store_new("zlayer.local", 1);
	struct ip_addr a = addr("10.0.0.1");
	assert_int_equal(dns_store_set(st, "one.x", &a), 0);
	assert_int_equal(dns_store_set(st, "two.x", &a), 0);
	struct dns_name r, x = name("x.zlayer.local.");
	dns_name_reverse(&a, &r);
	char buf[DNS_NAME_STRLEN];
	assert_string_equal(dns_name_to_text(dns_store_find_ptr(st, &r), buf, sizeof(buf)), "two.x.zlayer.local.");
	assert_true(dns_store_is_ent(st, &x));
	assert_int_equal(dns_store_remove(st, "two.x"), 0);
	/* The address falls back to its other holder. */
	assert_string_equal(dns_name_to_text(dns_store_find_ptr(st, &r), buf, sizeof(buf)), "one.x.zlayer.local.");
	assert_true(dns_store_is_ent(st, &x));
	assert_int_equal(dns_store_remove(st, "one.x"), 0);
	assert_false(dns_store_is_ent(st, &x));
	assert_null(dns_store_find_ptr(st, &r));
	dns_store_free(st);
}

static void relative_names_follow_the_zone(void **state)
{
	struct dns_store *st = dns_store_new("zlayer.local", 1);
	struct ip_addr a = addr("10.0.0.1"), b = addr("10.0.0.2");
	assert_int_equal(dns_store_set(st, "web", &a), 0);
	assert_int_equal(dns_store_set(st, "abs.zlayer.local.", &b), 0);
	assert_int_equal(dns_store_set_zone(st, "overlay"), 0);
	struct dns_name moved = name("web.overlay."), stayed = name("abs.zlayer.local."), old = name("web.zlayer.local.");
	assert_non_null(dns_store_find(st, &moved));
	assert_non_null(dns_store_find(st, &stayed));
	assert_null(dns_store_find(st, &old));
	struct dns_name z = name("overlay.");
	assert_true(dns_name_equal(dns_store_zone(st), &z));
	dns_store_free(st);
}

static void many_records_grow_the_table(void **state)
{
	struct dns_store *st = dns_store_new("zlayer.local", 1);
	char n[32];
	for (int i = 0; i < 5000; i++) {
		struct ip_addr a = addr("10.0.0.1");
		a.bytes[2] = (uint8_t)(i >> 8);
		a.bytes[3] = (uint8_t)i;
		snprintf(n, sizeof(n), "svc%d.bench.local.", i);
		assert_int_equal(dns_store_set(st, n, &a), 0);
	}
	for (int i = 0; i < 5000; i += 97) {
		snprintf(n, sizeof(n), "svc%d.bench.local.", i);
		struct dns_name k = name(n);
		const struct ip_addr *got = dns_store_find(st, &k);
		assert_non_null(got);
		assert_int_equal(got->bytes[3], (uint8_t)i);
	}
	struct dns_record *v;
	size_t count;
	assert_int_equal(dns_store_list(st, &v, &count), 0);
	assert_int_equal(count, 5000);
	free(v);
	dns_store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(replace_semantics),
		cmocka_unit_test(rejects_bad_input),
		cmocka_unit_test(shared_address_ptr_and_ents),
		cmocka_unit_test(relative_names_follow_the_zone),
		cmocka_unit_test(many_records_grow_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
