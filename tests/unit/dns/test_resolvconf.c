// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dns/resolvconf.h"

static void skips_loopback_stubs(void **state)
{
	char path[] = "/tmp/test-dns-resolvconf-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "# generated\n"
			    "search example.com\n"
			    "nameserver 127.0.0.53\n"
			    "nameserver ::1\n"
			    "nameserver ::ffff:127.0.0.1\n"
			    "nameserver\t192.0.2.53   # trailing comment\n"
			    "nameserver fe80::1%eth0\n"
			    "nameserver 0.0.0.0\n"
			    "nameserver 2001:db8::53\n"
			    "options edns0\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	struct ip_endpoint eps[4];
	int n = dns_resolv_conf_read(path, eps, 4);
	assert_int_equal(n, 2);
	char b[IP_ENDPOINT_STRLEN];
	assert_string_equal(ip_endpoint_format(&eps[0], b, sizeof(b)), "192.0.2.53:53");
	assert_string_equal(ip_endpoint_format(&eps[1], b, sizeof(b)), "[2001:db8::53]:53");
	/* At most max entries. */
	assert_int_equal(dns_resolv_conf_read(path, eps, 1), 1);
	unlink(path);
	assert_int_equal(dns_resolv_conf_read(path, eps, 4), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(skips_loopback_stubs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
