// SPDX-License-Identifier: MIT
/* The failed round's log line (nat/round.h): what was probed, and what (if anything) came back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "nat/round.h"

static struct ip_endpoint ep(const char *s)
{
	struct ip_endpoint e;
	assert_int_equal(ip_endpoint_parse(s, &e), 0);
	return e;
}

static void nothing_came_back(void **state)
{
	struct nat_round r;
	struct ip_endpoint t[2] = { ep("10.2.0.2:51420"), ep("203.0.113.2:51420") };
	char buf[256];
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 20; i++)
		nat_round_probe(&r, 5000, i ? 1000 + (uint64_t)i : 1000); /* the count at the first probe counts */
	nat_round_describe(&r, t, 2, 1000, buf, sizeof(buf));
	assert_string_equal(buf, "20 probes each to 10.2.0.2:51420, 203.0.113.2:51420; nothing came back");
}

static void what_came_back(void **state)
{
	struct nat_round r;
	struct ip_endpoint t[1] = { ep("203.0.113.2:51420") }, from = ep("203.0.113.2:39151");
	char buf[256];
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 3; i++)
		nat_round_probe(&r, 5000, 1000);
	nat_round_heard(&r, &from, false);
	nat_round_heard(&r, &from, false);
	nat_round_heard(&r, &t[0], true);
	nat_round_describe(&r, t, 1, 1148, buf, sizeof(buf));
	assert_string_equal(buf, "3 probes each to 203.0.113.2:51420; came back: 2 checks and 1 answers of the "
				 "peer's (last from 203.0.113.2:51420), 148 bytes of WireGuard but no handshake");
	/* The next round starts a new account; bytes alone count as something. */
	nat_round_probe(&r, 42000, 1000);
	nat_round_describe(&r, t, 1, 1032, buf, sizeof(buf));
	assert_int_equal(r.probes, 1);
	assert_non_null(strstr(buf, "came back: 0 checks and 0 answers of the peer's (last from -), 32 bytes"));
	/* A short buffer: truncated, terminated. */
	nat_round_describe(&r, t, 1, 1032, buf, 12);
	assert_string_equal(buf, "1 probes ea");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nothing_came_back),
		cmocka_unit_test(what_came_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
