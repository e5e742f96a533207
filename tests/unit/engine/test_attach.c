// SPDX-License-Identifier: MIT
/*
 * attach_container / detach_container for linux_pid handles through
 * engine_handle(): real child processes in network namespaces of their own,
 * real veths, bridges and nft rules, in a private network namespace (root
 * only). What is checked is what the container and the node show.
 */
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "enginetest.h"
#include "nstest.h"

/* The slice holds five container addresses (offsets 2..6 of a /29). */
#define CLUSTER "10.77.0.0/24"
#define SLICE "10.77.0.0/29"

struct fx {
	struct etest t;
	pid_t c;              /* a container, ended at teardown */
	char bridge[IFNAMSIZ]; /* service web's */
	struct ip_prefix subnet;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (nstest_active) {
		struct ovl_request g = etest_setup_global("att", CLUSTER, SLICE);
		struct ovl_request s = etest_setup_service("web", OVL_MODE_ISOLATED);
		struct ovl_response r;

		etest_open(&f->t);
		etest_ok(&f->t, &g);
		etest_call(&f->t, &s, &r);
		assert_int_equal(r.result, OVL_RES_SERVICE_OVERLAY);
		snprintf(f->bridge, sizeof(f->bridge), "%s", r.service_overlay.name);
		f->subnet = r.service_overlay.subnet;
		ovl_response_free(&r);
		f->c = etest_container();
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	bool clean = true;

	if (nstest_active) {
		clean = etest_close(&f->t);
		etest_container_end(f->c);
	}
	free(f);
	return clean ? 0 : -1;
}

static struct ovl_request attach_req(pid_t pid, const char *service)
{
	struct ovl_request q = { .op = OVL_OP_ATTACH_CONTAINER };

	q.attach.handle.platform = OVL_HANDLE_LINUX_PID;
	q.attach.handle.pid = (uint32_t)pid;
	q.attach.service = (char *)service;
	return q;
}

static struct ovl_request detach_req(pid_t pid)
{
	struct ovl_request q = { .op = OVL_OP_DETACH_CONTAINER };

	q.detach.handle.platform = OVL_HANDLE_LINUX_PID;
	q.detach.handle.pid = (uint32_t)pid;
	return q;
}

/* Attaches and returns the address the engine answered with. */
static struct ip_addr attach(struct etest *t, const struct ovl_request *q)
{
	struct ovl_response r;
	struct ip_addr ip;

	etest_call(t, q, &r);
	if (r.result != OVL_RES_ATTACHED)
		fail_msg("attach_container: %s", r.result == OVL_RES_ERR ? r.message : "wrong result");
	ip = r.ip;
	ovl_response_free(&r);
	return ip;
}

static void veth_name(pid_t pid, const char *tag, char name[IFNAMSIZ])
{
	snprintf(name, IFNAMSIZ, "veth-%d-%s", (int)pid, tag);
}

static void expect_in(pid_t pid, const char *cmd, const char *want)
{
	char *out = etest_run_in(pid, cmd);

	if (!strstr(out, want))
		fail_msg("in the container, `%s` shows no \"%s\":\n%s", cmd, want, out);
	free(out);
}

static void attach_puts_the_container_on_its_bridge(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = attach_req(f->c, "web"), elsewhere = attach_req(f->c, "db");
	struct ovl_request s2 = etest_setup_service("db", OVL_MODE_ISOLATED), d = detach_req(f->c);
	struct ovl_response r;
	struct nl_link l;
	char host[IFNAMSIZ], a[IP_ADDR_STRLEN], want[80], gw[IP_ADDR_STRLEN], *before, *after, *rec;
	struct ip_addr ip, gateway;

	NSTEST_REQUIRE();
	ip = attach(&f->t, &q);
	assert_true(ip_prefix_contains(&f->subnet, &ip));
	ip_addr_format(&ip, a, sizeof(a));

	/* The node: the host end, up, on the service's bridge. */
	veth_name(f->c, "s", host);
	assert_int_equal(nl_link_get(f->t.nl, host, &l), 0);
	assert_string_equal(l.kind, "veth");
	assert_true(l.flags & IFF_UP);
	assert_int_equal(l.master, nl_link_index(f->t.nl, f->bridge));
	/* The container: eth0 with its address, a default route via the bridge. */
	snprintf(want, sizeof(want), "inet %s/%u", a, f->subnet.len);
	expect_in(f->c, "ip -o -4 addr show dev eth0", want);
	assert_int_equal(ip_addr_add(&f->subnet.addr, 1, &gateway), 0);
	snprintf(want, sizeof(want), "default via %s dev eth0", ip_addr_format(&gateway, gw, sizeof(gw)));
	expect_in(f->c, "ip -4 route", want);
	rec = etest_state_get(&f->t, "dataplane.attachments");
	assert_non_null(strstr(rec, a));
	free(rec);

	/* Again: the same address, nothing new. Elsewhere: refused. */
	before = etest_snapshot(&f->t);
	etest_call(&f->t, &q, &r);
	assert_int_equal(r.result, OVL_RES_ATTACHED);
	assert_true(ip_addr_equal(&r.ip, &ip));
	ovl_response_free(&r);
	after = etest_snapshot(&f->t);
	assert_string_equal(after, before);
	free(before);
	free(after);
	etest_ok(&f->t, &s2);
	etest_refused(&f->t, &elsewhere, "already attached to service web");

	/* Detach: the veth pair and the record go; again is fine and changes nothing. */
	etest_ok(&f->t, &d);
	assert_int_equal(nl_link_exists(f->t.nl, host), 0);
	expect_in(f->c, "ip -o link", "lo");
	rec = etest_run_in(f->c, "ip -o link");
	assert_null(strstr(rec, "eth0"));
	free(rec);
	rec = etest_state_get(&f->t, "dataplane.attachments");
	assert_null(strstr(rec, a));
	free(rec);
	before = etest_snapshot(&f->t);
	etest_ok(&f->t, &d);
	after = etest_snapshot(&f->t);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void join_global_adds_a_routed_global_address(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = attach_req(f->c, "web");
	struct nl_route route;
	struct ip_prefix slice;
	char host[IFNAMSIZ], *out, *inet, *slash;
	struct ip_addr global;

	NSTEST_REQUIRE();
	q.attach.join_global = true;
	attach(&f->t, &q);
	/* eth1 holds a /32 from the node slice; the node routes it through veth-<pid>-g. */
	out = etest_run_in(f->c, "ip -o -4 addr show dev eth1");
	inet = strstr(out, "inet ");
	assert_non_null(inet);
	slash = strchr(inet + 5, '/');
	assert_non_null(slash);
	*slash = '\0';
	assert_int_equal(ip_addr_parse(inet + 5, &global), 0);
	assert_int_equal(strncmp(slash + 1, "32", 2), 0);
	free(out);
	assert_int_equal(ip_prefix_parse(SLICE, &slice), 0);
	assert_true(ip_prefix_contains(&slice, &global));
	veth_name(f->c, "g", host);
	assert_int_equal(nl_route_lookup(f->t.nl, &global, &route), 0);
	assert_int_equal(route.oif, nl_link_index(f->t.nl, host));
	expect_in(f->c, "ip -4 route", "dev eth1");
}

static void isolation_network_fences_the_container(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = attach_req(f->c, "web"), d = detach_req(f->c);
	char a[IP_ADDR_STRLEN], *rules;
	struct ip_addr ip;

	NSTEST_REQUIRE();
	q.attach.isolation_network = (char *)"blue";
	ip = attach(&f->t, &q);
	ip_addr_format(&ip, a, sizeof(a));
	rules = etest_run("nft list ruleset");
	if (!strstr(rules, a) || !strstr(rules, "blue"))
		fail_msg("no isolation set for %s in network blue:\n%s", a, rules);
	free(rules);
	etest_ok(&f->t, &d);
	rules = etest_run("nft list ruleset");
	assert_null(strstr(rules, a));
	free(rules);
}

static void refusals_change_nothing(void **state)
{
	struct fx *f = *state;
	struct ovl_request unknown = attach_req(f->c, "nosuch");
	struct ovl_request self = attach_req(getpid(), "web");
	struct ovl_request empty_net = attach_req(f->c, "web");
	struct ovl_request gone;

	NSTEST_REQUIRE();
	gone = attach_req(etest_vanished_pid(), "web");
	etest_refused(&f->t, &unknown, "no service overlay for service nosuch");
	etest_refused(&f->t, &gone, "does not exist");
	etest_refused(&f->t, &self, "not a container");
	empty_net.attach.isolation_network = (char *)"";
	etest_refused(&f->t, &empty_net, "isolation_network must not be empty");
}

static void an_exhausted_slice_is_refused_cleanly(void **state)
{
	struct fx *f = *state;
	struct ovl_request alloc = { .op = OVL_OP_ALLOCATE_IP };
	struct ovl_request q = attach_req(f->c, "web");
	char *links;

	NSTEST_REQUIRE();
	/* Fill the node slice (a service without a bridge draws from it). */
	alloc.allocate_ip.service = (char *)"x";
	for (int i = 0; i < 5; i++)
		etest_ok(&f->t, &alloc);
	q.attach.join_global = true;
	etest_refused(&f->t, &q, "exhausted");
	/* Nothing half-made inside the container either. */
	links = etest_run_in(f->c, "ip -o link");
	assert_null(strstr(links, "eth0"));
	assert_null(strstr(links, "eth1"));
	free(links);
}

static void last_ephemeral_leaver_takes_the_bridge(void **state)
{
	struct fx *f = *state;
	struct ovl_request s = etest_setup_service("job", OVL_MODE_ISOLATED);
	struct ovl_request q = attach_req(f->c, "job"), d = detach_req(f->c);
	struct ovl_response r;
	char bridge[IFNAMSIZ];

	NSTEST_REQUIRE();
	etest_call(&f->t, &s, &r);
	assert_int_equal(r.result, OVL_RES_SERVICE_OVERLAY);
	snprintf(bridge, sizeof(bridge), "%s", r.service_overlay.name);
	ovl_response_free(&r);
	q.attach.ephemeral = true;
	attach(&f->t, &q);
	etest_ok(&f->t, &d);
	assert_int_equal(nl_link_exists(f->t.nl, bridge), 0);
	/* A service whose container was not ephemeral keeps its bridge. */
	q = attach_req(f->c, "web");
	attach(&f->t, &q);
	etest_ok(&f->t, &d);
	assert_int_equal(nl_link_exists(f->t.nl, f->bridge), 1);
}

static int count_retired(const struct nl_link *l, void *arg)
{
	if (strncmp(l->name, "vdel-", 5) == 0)
		(*(int *)arg)++;
	return 0;
}

/* Retired links left in the node namespace (polled: the reaper deletes them in the background). */
static int retired_links(struct etest *t)
{
	int n = 0;

	assert_int_equal(nl_link_list(t->nl, count_retired, &n), 0);
	return n;
}

/*
 * A detach answers before the kernel's slow deletion of the veths, but it
 * must not lie: the container is off the bridge, holds none of its addresses,
 * the pid's link names are free for a new attach at once, and the retired
 * links are deleted soon after (and at close).
 */
static void detach_is_true_before_the_links_are_deleted(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = attach_req(f->c, "web"), d = detach_req(f->c);
	char host[IFNAMSIZ], global[IFNAMSIZ], a[IP_ADDR_STRLEN], *addrs;
	struct ip_addr ip;

	NSTEST_REQUIRE();
	q.attach.join_global = true;
	veth_name(f->c, "s", host);
	veth_name(f->c, "g", global);
	for (int round = 0; round < 2; round++) {
		ip = attach(&f->t, &q);
		ip_addr_format(&ip, a, sizeof(a));
		expect_in(f->c, "ip -o addr", a);
		etest_ok(&f->t, &d);
		assert_int_equal(nl_link_exists(f->t.nl, host), 0);
		assert_int_equal(nl_link_exists(f->t.nl, global), 0);
		assert_int_equal(nl_bridge_member_count(f->t.nl, f->bridge), 0);
		addrs = etest_run_in(f->c, "ip -o addr");
		if (strstr(addrs, "inet 10."))
			fail_msg("the detached container still holds an address:\n%s", addrs);
		free(addrs);
	}
	for (int waited = 0; retired_links(&f->t) > 0; waited++) {
		if (waited == 1000)
			fail_msg("retired links are still there after 10 s");
		usleep(10000);
	}
	addrs = etest_run_in(f->c, "ip -o link");
	assert_null(strstr(addrs, "eth0"));
	assert_null(strstr(addrs, "eth1"));
	free(addrs);
}

/*
 * Saving an attach or a detach appends a record to the state journal instead
 * of rewriting state.json, whose size (and so the cost of every save) grows
 * with each container attached.
 */
static void attach_and_detach_are_journal_records(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = attach_req(f->c, "web"), d = detach_req(f->c);
	char path[128], jpath[128], a[IP_ADDR_STRLEN], *rec;
	struct stat before, after, j0, j1, j2;

	NSTEST_REQUIRE();
	snprintf(path, sizeof(path), "%s/state.json", f->t.dir);
	snprintf(jpath, sizeof(jpath), "%s/state.journal", f->t.dir);
	/* The first attach also records net.ipv4.ip_forward's old value: a state.json change. */
	attach(&f->t, &q);
	etest_ok(&f->t, &d);

	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(stat(jpath, &j0), 0);
	struct ip_addr ip = attach(&f->t, &q);
	ip_addr_format(&ip, a, sizeof(a));
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(stat(jpath, &j1), 0);
	assert_int_equal(after.st_ino, before.st_ino); /* a rewrite renames a new file into place */
	assert_true(j1.st_size > j0.st_size);
	rec = etest_state_get(&f->t, "dataplane.attachments");
	assert_non_null(strstr(rec, a));
	free(rec);

	etest_ok(&f->t, &d);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(stat(jpath, &j2), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_true(j2.st_size > j1.st_size);
	rec = etest_state_get(&f->t, "dataplane.attachments");
	assert_null(strstr(rec, a));
	free(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(attach_puts_the_container_on_its_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(join_global_adds_a_routed_global_address, setup, teardown),
		cmocka_unit_test_setup_teardown(isolation_network_fences_the_container, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(an_exhausted_slice_is_refused_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(last_ephemeral_leaver_takes_the_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(detach_is_true_before_the_links_are_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(attach_and_detach_are_journal_records, setup, teardown),
	};

	/* Every case needs the kernel: without root, the whole program is a skip (77). */
	if (!nstest_enter())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
