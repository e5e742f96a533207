// SPDX-License-Identifier: MIT
/* netlink.c against the real kernel, inside a private network namespace. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/netlink.h"
#include "net/netns.h"
#include "nstest.h"

static struct nl_handle *nl;

static int setup(void **state)
{
	if (!nstest_active)
		return 0;
	return nl_open(&nl) ? -1 : 0;
}

static int teardown(void **state)
{
	nl_close(nl);
	nl = NULL;
	return 0;
}

static struct ip_addr addr(const char *s)
{
	struct ip_addr a;

	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static void bridge_create_is_idempotent_with_stp_off(void **state)
{
	struct nl_link l;

	NSTEST_REQUIRE();
	assert_int_equal(nl_bridge_create(nl, "br-t1"), 0);
	assert_int_equal(nl_bridge_create(nl, "br-t1"), 0);
	assert_int_equal(nl_link_get(nl, "br-t1", &l), 0);
	assert_string_equal(l.kind, "bridge");
	assert_int_equal(l.stp_state, 0);
	assert_int_equal(nl_link_exists(nl, "br-t1"), 1);

	/* A name taken by a link of another kind is an error, not a success. */
	assert_int_equal(nl_veth_create(nl, "vx-a", "vx-b"), 0);
	assert_int_equal(nl_bridge_create(nl, "vx-a"), -EEXIST);
	assert_int_equal(nl_link_delete(nl, "vx-a"), 0);
	assert_int_equal(nl_link_delete(nl, "br-t1"), 0);
	assert_int_equal(nl_link_exists(nl, "br-t1"), 0);
}

static void veth_create_and_delete(void **state)
{
	struct nl_link l;

	NSTEST_REQUIRE();
	assert_int_equal(nl_veth_create(nl, "veth-1-g", "peer-1-g"), 0);
	assert_int_equal(nl_link_get(nl, "veth-1-g", &l), 0);
	assert_string_equal(l.kind, "veth");
	assert_true(l.index > 0);
	assert_int_equal(nl_link_index(nl, "veth-1-g"), l.index);
	assert_int_equal(nl_link_exists(nl, "peer-1-g"), 1);
	assert_int_equal(nl_veth_create(nl, "veth-1-g", "peer-1-x"), -EEXIST);

	/* Deleting one end removes the pair; deleting again is done, not an error. */
	assert_int_equal(nl_link_delete(nl, "veth-1-g"), 0);
	assert_int_equal(nl_link_exists(nl, "peer-1-g"), 0);
	assert_int_equal(nl_link_delete(nl, "veth-1-g"), 0);
	assert_int_equal(nl_link_delete(nl, "never-was"), 0);
}

static void bad_names_are_rejected(void **state)
{
	NSTEST_REQUIRE();
	assert_int_equal(nl_veth_create(nl, "sixteen-chars-xx", "p"), -EINVAL);
	assert_int_equal(nl_bridge_create(nl, ""), -EINVAL);
	assert_int_equal(nl_link_set_up(nl, "a/b"), -EINVAL);
	assert_int_equal(nl_link_delete(nl, NULL), -EINVAL);
	assert_int_equal(nl_link_index(nl, "missing0"), -ENODEV);
	assert_int_equal(nl_link_set_up(nl, "missing0"), -ENODEV);
	assert_int_equal(nl_link_exists(nl, "missing0"), 0);
}

static void up_and_mtu(void **state)
{
	struct nl_link l;

	NSTEST_REQUIRE();
	assert_int_equal(nl_veth_create(nl, "vm-a", "vm-b"), 0);
	assert_int_equal(nl_link_set_mtu(nl, "vm-a", 1380), 0);
	assert_int_equal(nl_link_set_up(nl, "vm-a"), 0);
	assert_int_equal(nl_link_get(nl, "vm-a", &l), 0);
	assert_int_equal(l.mtu, 1380);
	assert_true(l.flags & IFF_UP);
	assert_int_equal(nl_link_delete(nl, "vm-a"), 0);
}

struct target_check {
	const char *present, *absent;
};

static int check_in_target(void *arg)
{
	struct target_check *c = arg;
	struct nl_handle *inner;
	int ret;

	if (nl_open(&inner))
		return -100;
	ret = nl_link_exists(inner, c->present) == 1 && nl_link_exists(inner, c->absent) == 0 ? 0 : -101;
	nl_close(inner);
	return ret;
}

static void veth_born_in_target_netns(void **state)
{
	struct target_check c = { "eth0", "veth-9-s" };
	struct nl_link l;
	int fd;

	NSTEST_REQUIRE();
	fd = netns_new();
	assert_true(fd >= 0);
	assert_int_equal(nl_veth_create_into(nl, "veth-9-s", "eth0", fd, 1420), 0);
	assert_int_equal(nl_link_get(nl, "veth-9-s", &l), 0);
	assert_int_equal(l.mtu, 1420);
	assert_int_equal(nl_link_exists(nl, "eth0"), 0);
	assert_int_equal(netns_run(fd, check_in_target, &c), 0);
	/* The name is taken there: nothing is created on either side. */
	assert_int_equal(nl_veth_create_into(nl, "veth-10-s", "eth0", fd, 0), -EEXIST);
	assert_int_equal(nl_link_exists(nl, "veth-10-s"), 0);
	assert_int_equal(nl_veth_create_into(nl, "veth-10-s", "eth1", -1, 0), -EINVAL);
	/* Deleting the host end removes the container end too. */
	assert_int_equal(nl_link_delete(nl, "veth-9-s"), 0);
	c.present = "lo";
	c.absent = "eth0";
	assert_int_equal(netns_run(fd, check_in_target, &c), 0);
	close(fd);
}

struct addr_seen {
	struct ip_prefix want[4];
	size_t n_want;
	unsigned found; /* bit i: want[i] seen */
	size_t total;
};

static int addr_seen_cb(const struct ip_prefix *p, void *arg)
{
	struct addr_seen *s = arg;

	s->total++;
	for (size_t i = 0; i < s->n_want; i++)
		if (ip_prefix_equal(p, &s->want[i]))
			s->found |= 1u << i;
	return 0;
}

static struct addr_seen list_addrs(const char *link, const char *a, const char *b)
{
	struct addr_seen s = { 0 };

	assert_int_equal(ip_prefix_parse(a, &s.want[0]), 0);
	assert_int_equal(ip_prefix_parse(b, &s.want[1]), 0);
	s.n_want = 2;
	assert_int_equal(nl_addr_list(nl, link, addr_seen_cb, &s), 0);
	return s;
}

static void addresses_add_del_flush(void **state)
{
	struct ip_addr v4 = addr("10.77.0.1"), v6 = addr("fd77::1");
	struct addr_seen s;

	NSTEST_REQUIRE();
	assert_int_equal(nl_bridge_create(nl, "br-a"), 0);
	assert_int_equal(nl_addr_add(nl, "br-a", &v4, 24), 0);
	assert_int_equal(nl_addr_add(nl, "br-a", &v4, 24), 0); /* EEXIST = ok */
	assert_int_equal(nl_addr_add(nl, "br-a", &v6, 64), 0);
	s = list_addrs("br-a", "10.77.0.1/24", "fd77::1/64");
	assert_int_equal(s.found, 3);

	assert_int_equal(nl_addr_del(nl, "br-a", &v4, 24), 0);
	assert_int_equal(nl_addr_del(nl, "br-a", &v4, 24), 0); /* gone = done */
	s = list_addrs("br-a", "10.77.0.1/24", "fd77::1/64");
	assert_int_equal(s.found, 2);

	/* The restart case: stale gateways from an old run are flushed. */
	assert_int_equal(nl_addr_add(nl, "br-a", &v4, 28), 0);
	assert_int_equal(nl_link_set_up(nl, "br-a"), 0);
	assert_int_equal(nl_addr_flush(nl, "br-a"), 0);
	s = list_addrs("br-a", "10.77.0.1/28", "fd77::1/64");
	assert_int_equal(s.total, 0);
	assert_int_equal(nl_addr_flush(nl, "br-a"), 0);

	assert_int_equal(nl_addr_add(nl, "br-a", &v4, 33), -EINVAL);
	assert_int_equal(nl_addr_add(nl, "missing0", &v4, 24), -ENODEV);
	assert_int_equal(nl_addr_del(nl, "missing0", &v4, 24), 0);
	assert_int_equal(nl_link_delete(nl, "br-a"), 0);
}

static void host_routes_with_source(void **state)
{
	struct ip_addr node = addr("10.200.0.1"), own = addr("10.99.0.1"), ctr = addr("10.77.0.5");
	struct ip_addr node6 = addr("fd00:200::1"), ctr6 = addr("fd77::5"), far = addr("192.0.2.9");
	struct ip_addr gw = addr("10.99.0.254"), stranger = addr("10.55.0.1");
	struct ip_prefix cluster;
	struct nl_route r;
	int vh;

	NSTEST_REQUIRE();
	assert_int_equal(nl_veth_create(nl, "veth-5-g", "peer-5-g"), 0);
	assert_int_equal(nl_link_set_up(nl, "peer-5-g"), 0);
	assert_int_equal(nl_link_set_up(nl, "veth-5-g"), 0);
	vh = nl_link_index(nl, "veth-5-g");
	assert_true(vh > 0);
	assert_int_equal(nl_addr_add(nl, "lo", &node, 32), 0);
	assert_int_equal(nl_addr_add(nl, "lo", &node6, 128), 0);
	assert_int_equal(nl_addr_add(nl, "veth-5-g", &own, 24), 0);

	/* With a preferred source the node answers from its overlay address... */
	assert_int_equal(nl_route_replace_host(nl, &ctr, "veth-5-g", &node), 0);
	assert_int_equal(nl_route_lookup(nl, &ctr, &r), 0);
	assert_int_equal(r.oif, vh);
	assert_true(ip_addr_equal(&r.prefsrc, &node));
	/* ...and replacing without one falls back to the link's own address. */
	assert_int_equal(nl_route_replace_host(nl, &ctr, "veth-5-g", NULL), 0);
	assert_int_equal(nl_route_lookup(nl, &ctr, &r), 0);
	assert_true(ip_addr_equal(&r.prefsrc, &own));
	/* A source that is not ours is refused. */
	assert_int_equal(nl_route_replace_host(nl, &ctr, "veth-5-g", &stranger), -EINVAL);

	assert_int_equal(nl_route_replace_host(nl, &ctr6, "veth-5-g", &node6), 0);
	assert_int_equal(nl_route_lookup(nl, &ctr6, &r), 0);
	assert_int_equal(r.oif, vh);
	assert_true(ip_addr_equal(&r.prefsrc, &node6));

	assert_int_equal(nl_route_delete_host(nl, &ctr, "veth-5-g"), 0);
	assert_int_equal(nl_route_lookup(nl, &ctr, &r), -ENETUNREACH);
	assert_int_equal(nl_route_delete_host(nl, &ctr, "veth-5-g"), 0);
	assert_int_equal(nl_route_delete_host(nl, &ctr6, NULL), 0);
	assert_int_equal(nl_route_delete_host(nl, &ctr6, NULL), 0);
	assert_int_equal(nl_route_delete_host(nl, &ctr, "missing0"), 0);

	/* Cluster route on a link, then the default route via a gateway. */
	assert_int_equal(ip_prefix_parse("10.200.0.0/16", &cluster), 0);
	assert_int_equal(nl_route_replace(nl, &cluster, "veth-5-g"), 0);
	assert_int_equal(nl_route_replace(nl, &cluster, "veth-5-g"), 0);
	assert_int_equal(nl_route_lookup(nl, &(struct ip_addr){ 0 }, &r), -EINVAL);
	{
		struct ip_addr in_cluster = addr("10.200.3.4");
		assert_int_equal(nl_route_lookup(nl, &in_cluster, &r), 0);
		assert_int_equal(r.oif, vh);
		assert_int_equal(nl_route_delete(nl, &cluster, "veth-5-g"), 0);
		assert_int_equal(nl_route_lookup(nl, &in_cluster, &r), -ENETUNREACH);
		assert_int_equal(nl_route_delete(nl, &cluster, "veth-5-g"), 0);
	}
	assert_int_equal(nl_route_lookup(nl, &far, &r), -ENETUNREACH);
	assert_int_equal(nl_route_add_default(nl, &gw), 0);
	assert_int_equal(nl_route_add_default(nl, &gw), 0);
	assert_int_equal(nl_route_lookup(nl, &far, &r), 0);
	assert_true(ip_addr_equal(&r.gateway, &gw));
	assert_int_equal(r.oif, vh);

	/* Deleting the link takes its routes along. */
	assert_int_equal(nl_link_delete(nl, "veth-5-g"), 0);
	assert_int_equal(nl_route_lookup(nl, &far, &r), -ENETUNREACH);
	assert_int_equal(nl_addr_del(nl, "lo", &node, 32), 0);
	assert_int_equal(nl_addr_del(nl, "lo", &node6, 128), 0);
}

struct link_find {
	const char *name;
	struct nl_link found;
	int count;
};

static int link_find_cb(const struct nl_link *l, void *arg)
{
	struct link_find *f = arg;

	f->count++;
	if (!strcmp(l->name, f->name))
		f->found = *l;
	return 0;
}

static int link_stop_cb(const struct nl_link *l, void *arg)
{
	(*(int *)arg)++;
	return 42;
}

static void bridge_members_and_link_dump(void **state)
{
	struct link_find f = { .name = "mb-h1" };
	int br, calls = 0;

	NSTEST_REQUIRE();
	assert_int_equal(nl_bridge_create(nl, "br-m"), 0);
	assert_int_equal(nl_bridge_member_count(nl, "br-m"), 0);
	assert_int_equal(nl_veth_create(nl, "mb-h1", "mb-c1"), 0);
	assert_int_equal(nl_veth_create(nl, "mb-h2", "mb-c2"), 0);
	assert_int_equal(nl_link_set_master(nl, "mb-h1", "br-m"), 0);
	assert_int_equal(nl_link_set_master(nl, "mb-h2", "br-m"), 0);
	assert_int_equal(nl_bridge_member_count(nl, "br-m"), 2);

	br = nl_link_index(nl, "br-m");
	assert_int_equal(nl_link_list(nl, link_find_cb, &f), 0);
	assert_true(f.count >= 6); /* lo, br-m, two pairs */
	assert_string_equal(f.found.name, "mb-h1");
	assert_string_equal(f.found.kind, "veth");
	assert_int_equal(f.found.master, br);

	/* A callback can stop the walk; its value comes back, the handle stays usable. */
	assert_int_equal(nl_link_list(nl, link_stop_cb, &calls), 42);
	assert_int_equal(calls, 1);

	assert_int_equal(nl_link_set_master(nl, "mb-h1", NULL), 0);
	assert_int_equal(nl_bridge_member_count(nl, "br-m"), 1);
	assert_int_equal(nl_link_delete(nl, "mb-h2"), 0);
	assert_int_equal(nl_bridge_member_count(nl, "br-m"), 0);
	assert_int_equal(nl_link_set_master(nl, "mb-h1", "missing0"), -ENODEV);
	assert_int_equal(nl_bridge_member_count(nl, "missing0"), -ENODEV);
	assert_int_equal(nl_link_delete(nl, "mb-h1"), 0);
	assert_int_equal(nl_link_delete(nl, "br-m"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bridge_create_is_idempotent_with_stp_off),
		cmocka_unit_test(veth_create_and_delete),
		cmocka_unit_test(bad_names_are_rejected),
		cmocka_unit_test(up_and_mtu),
		cmocka_unit_test(veth_born_in_target_netns),
		cmocka_unit_test(addresses_add_del_flush),
		cmocka_unit_test(host_routes_with_source),
		cmocka_unit_test(bridge_members_and_link_dump),
	};

	nstest_enter();
	return cmocka_run_group_tests(tests, setup, teardown);
}
