// SPDX-License-Identifier: MIT
/* sysctl.c: key parsing (pure) and snapshot/restore inside a private netns. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "net/netlink.h"
#include "net/sysctl.h"
#include "nstest.h"

static void paths_from_key_parts(void **state)
{
	char p[SYSCTL_PATH_MAX];

	assert_int_equal(sysctl_path("net.ipv4.ip_forward", NULL, NULL, p, sizeof(p)), 0);
	assert_string_equal(p, "/proc/sys/net/ipv4/ip_forward");
	assert_int_equal(sysctl_path("net.ipv6.conf", "eth0.100", "forwarding", p, sizeof(p)), 0);
	assert_string_equal(p, "/proc/sys/net/ipv6/conf/eth0.100/forwarding");
	assert_int_equal(sysctl_path("net.ipv4", NULL, "conf.all.rp_filter", p, sizeof(p)), 0);
	assert_string_equal(p, "/proc/sys/net/ipv4/conf/all/rp_filter");
	assert_int_equal(sysctl_path("net.ipv4.conf", "zl-a-b", "proxy_arp", p, sizeof(p)), 0);
	assert_string_equal(p, "/proc/sys/net/ipv4/conf/zl-a-b/proxy_arp");
}

static void bad_keys_are_rejected(void **state)
{
	char p[SYSCTL_PATH_MAX];

	assert_int_equal(sysctl_path("", NULL, NULL, p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path("net..ipv4", NULL, NULL, p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path(".net", NULL, NULL, p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path("net.", NULL, NULL, p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path("net/ipv4", NULL, NULL, p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path("net.ipv6.conf", "..", "forwarding", p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path("net.ipv6.conf", "a/b", "forwarding", p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path("net.ipv6.conf", "", "forwarding", p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path("net.ipv6.conf", "sixteen-chars-xx", "forwarding", p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path("net.ipv6.conf", "eth0", NULL, p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path("net.ipv6.conf", "eth0", "..", p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path(NULL, NULL, "x", p, sizeof(p)), -EINVAL);
	assert_int_equal(sysctl_path("net.ipv4.ip_forward", NULL, NULL, p, 12), -ENAMETOOLONG);
	assert_int_equal(sysctl_write("net..x", NULL, NULL, "1"), -EINVAL);
}

static void read_value(const char *prefix, const char *dev, const char *leaf, const char *want)
{
	char v[SYSCTL_VALUE_MAX];

	assert_int_equal(sysctl_read(prefix, dev, leaf, v, sizeof(v)), 0);
	assert_string_equal(v, want);
}

static void ip_forward_snapshot_and_restore(void **state)
{
	struct sysctl_saved s = { 0 };

	NSTEST_REQUIRE();
	/* Inside our private namespace: the host's value is not involved. */
	assert_int_equal(sysctl_write("net.ipv4.ip_forward", NULL, NULL, "0"), 0);
	read_value("net.ipv4.ip_forward", NULL, NULL, "0");
	assert_int_equal(sysctl_set_saved(&s, "net.ipv4.ip_forward", NULL, NULL, "1"), 0);
	read_value("net.ipv4.ip_forward", NULL, NULL, "1");
	/* A second attach must not record the daemon's own "1" as the original. */
	assert_int_equal(sysctl_set_saved(&s, "net.ipv4.ip_forward", NULL, NULL, "1"), 0);
	assert_int_equal(sysctl_restore(&s), 0);
	read_value("net.ipv4.ip_forward", NULL, NULL, "0");
	assert_false(s.saved);
	assert_int_equal(sysctl_restore(&s), 0); /* nothing recorded: done */

	/* And the other way round: a host that already forwards keeps forwarding. */
	assert_int_equal(sysctl_write("net.ipv4.ip_forward", NULL, NULL, "1"), 0);
	assert_int_equal(sysctl_set_saved(&s, "net.ipv4.ip_forward", NULL, NULL, "1"), 0);
	assert_int_equal(sysctl_restore(&s), 0);
	read_value("net.ipv4.ip_forward", NULL, NULL, "1");
	assert_int_equal(sysctl_write("net.ipv4.ip_forward", NULL, NULL, "0"), 0);
}

static void per_device_ipv6_forwarding(void **state)
{
	struct sysctl_saved s = { 0 };
	struct nl_handle *nl;

	NSTEST_REQUIRE();
	assert_int_equal(nl_open(&nl), 0);
	/* A dotted device name, as VLAN devices have. */
	assert_int_equal(nl_veth_create(nl, "vs.1", "vs.2"), 0);
	read_value("net.ipv6.conf", "vs.1", "forwarding", "0");
	assert_int_equal(sysctl_set_saved(&s, "net.ipv6.conf", "vs.1", "forwarding", "1"), 0);
	read_value("net.ipv6.conf", "vs.1", "forwarding", "1");
	read_value("net.ipv6.conf", "vs.2", "forwarding", "0");
	read_value("net.ipv6.conf", "all", "forwarding", "0");
	/* A record is for one parameter only. */
	assert_int_equal(sysctl_set_saved(&s, "net.ipv6.conf", "vs.2", "forwarding", "1"), -EINVAL);
	assert_int_equal(sysctl_restore(&s), 0);
	read_value("net.ipv6.conf", "vs.1", "forwarding", "0");

	/* The device went away before teardown: restoring is then a no-op. */
	assert_int_equal(sysctl_set_saved(&s, "net.ipv6.conf", "vs.1", "forwarding", "1"), 0);
	assert_int_equal(nl_link_delete(nl, "vs.1"), 0);
	assert_int_equal(sysctl_restore(&s), 0);
	assert_int_equal(sysctl_set_saved(&s, "net.ipv6.conf", "vs.1", "forwarding", "1"), -ENOENT);
	assert_false(s.saved);
	nl_close(nl);
}

static void unknown_key(void **state)
{
	char v[8];

	NSTEST_REQUIRE();
	assert_int_equal(sysctl_read("net.ipv4.no_such_knob", NULL, NULL, v, sizeof(v)), -ENOENT);
	assert_int_equal(sysctl_write("net.ipv6.conf", "missing0", "forwarding", "1"), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(paths_from_key_parts),
		cmocka_unit_test(bad_keys_are_rejected),
		cmocka_unit_test(ip_forward_snapshot_and_restore),
		cmocka_unit_test(per_device_ipv6_forwarding),
		cmocka_unit_test(unknown_key),
	};

	nstest_enter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
