// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "ipam/ifname.h"

#define NAME(out, suffix, ...)                                                                     \
	do {                                                                                       \
		const char *const parts_[] = { __VA_ARGS__ };                                      \
		ipam_ifname(parts_, sizeof(parts_) / sizeof(parts_[0]), suffix, out);              \
	} while (0)

/* The seed's interface_name_never_exceeds_limit cases. */
static void never_exceeds_limit(void **state)
{
	char n[IPAM_IFNAME_SIZE];
	NAME(n, "g", "a");
	assert_string_equal(n, "zl-a-g");
	NAME(n, "g", "zlayer-manager");
	assert_true(strlen(n) <= 15 && strncmp(n, "zl-", 3) == 0);
	NAME(n, "g", "my-very-long-deployment-name-that-goes-on-and-on");
	assert_true(strlen(n) <= 15 && strncmp(n, "zl-", 3) == 0);
	NAME(n, "s", "zlayer", "manager");
	assert_true(strlen(n) <= 15 && strncmp(n, "zl-", 3) == 0);
	NAME(n, "s", "abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz");
	assert_true(strlen(n) <= 15 && strncmp(n, "zl-", 3) == 0);
	NAME(n, "", "x");
	assert_string_equal(n, "zl-x");
	/* A suffix too long to leave room for the hash: zl-<12 hex>. */
	NAME(n, "abcdefghijkl", "abcdefghijklmnopqrstuvwxyz");
	assert_int_equal(strlen(n), 15);
}

/* Exact forms, hashes computed independently (python FNV-1a-64). */
static void exact_forms(void **state)
{
	char n[IPAM_IFNAME_SIZE];
	NAME(n, "g", "prod", "0");
	assert_string_equal(n, "zl-prod-0-g");
	NAME(n, "b", "prod", "0", "web");
	assert_string_equal(n, "zl-prod-0-web-b");
	NAME(n, "b", "prod", "0", "a-very-long-service");
	assert_string_equal(n, "zl-4bfc3c3dfe-b");
	NAME(n, "g", "zlayer-manager");
	assert_string_equal(n, "zl-5372f43535-g");
	NAME(n, "", "abcdefghijklmnopqrstuvwxyz");
	assert_string_equal(n, "zl-98ed0a20a336");
	NAME(n, NULL, "abcdefghijklmnopqrstuvwxyz");
	assert_string_equal(n, "zl-98ed0a20a336");
}

static void deterministic(void **state)
{
	char a[IPAM_IFNAME_SIZE], b[IPAM_IFNAME_SIZE];
	NAME(a, "g", "zlayer-manager");
	NAME(b, "g", "zlayer-manager");
	assert_string_equal(a, b);
	/* Part boundaries matter: ("ab","c") and ("a","bc") differ. */
	NAME(a, "b", "abcdefgh", "ijklmn");
	NAME(b, "b", "abcdefghi", "jklmn");
	assert_string_not_equal(a, b);
}

/* The seed's orphan_bridge_selection. */
static void orphan_selection(void **state)
{
	const char *live[] = { "zl-prod-0-web-b", "zl-prod-0-api-b" };
	const char *prot[] = { "zl-prod-0-g", "zl-prod-0-shared-sh", "zl-prod-0-db-d" };
	const char *links[] = { "zl-prod-0-web-b", "zl-prod-0-api-b", "zl-prod-0-g", "zl-prod-0-shared-sh",
				"zl-prod-0-db-d",  "zl-1ca4568944-b", "zl-81c6bc17c7-b", "zl-prod-0-gone-d",
				"veth-4242-s",	   "veth-4242-g",	      "eth0",		 "lo",
				"docker0",	   "zl-not-a-bridge" };
	const char *want[] = { "zl-1ca4568944-b", "zl-81c6bc17c7-b", "zl-prod-0-gone-d" };
	size_t nw = 0;
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (ipam_ifname_is_orphan(links[i], live, 2, prot, 3)) {
			assert_true(nw < 3);
			assert_string_equal(links[i], want[nw]);
			nw++;
		}
	}
	assert_int_equal(nw, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(never_exceeds_limit),
		cmocka_unit_test(exact_forms),
		cmocka_unit_test(deterministic),
		cmocka_unit_test(orphan_selection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
