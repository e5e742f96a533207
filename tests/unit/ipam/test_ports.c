// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ipam/ports.h"

static void band_lowest_free_reserve_release(void **state)
{
	struct ipam_ports p;
	ipam_ports_init(&p, 51420);
	uint16_t a, b, c;
	assert_int_equal(ipam_ports_alloc(&p, &a), 0);
	assert_int_equal(a, 51421);
	assert_int_equal(ipam_ports_reserve(&p, 51423), 0);
	assert_int_equal(ipam_ports_reserve(&p, 51423), -EEXIST);
	assert_int_equal(ipam_ports_reserve(&p, 51420), -ERANGE);
	assert_int_equal(ipam_ports_reserve(&p, 51420 + 257), -ERANGE);
	assert_int_equal(ipam_ports_alloc(&p, &b), 0);
	assert_int_equal(b, 51422);
	assert_int_equal(ipam_ports_alloc(&p, &c), 0);
	assert_int_equal(c, 51424);
	assert_true(ipam_ports_release(&p, 51421));
	assert_false(ipam_ports_release(&p, 51421));
	assert_false(ipam_ports_release(&p, 80));
	assert_int_equal(ipam_ports_alloc(&p, &a), 0);
	assert_int_equal(a, 51421);
	/* Fill the band: 256 ports in total, then a clear failure. */
	int got = 4;
	uint16_t x;
	while (ipam_ports_alloc(&p, &x) == 0)
		got++;
	assert_int_equal(got, 256);
	assert_int_equal(x, 51420 + 256);
}

static void band_clipped_at_65535(void **state)
{
	struct ipam_ports p;
	ipam_ports_init(&p, 65530);
	uint16_t x;
	int n = 0;
	while (ipam_ports_alloc(&p, &x) == 0) {
		assert_true(x > 65530);
		n++;
	}
	assert_int_equal(n, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(band_lowest_free_reserve_release),
		cmocka_unit_test(band_clipped_at_65535),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
