// SPDX-License-Identifier: MIT
/*
 * setup_global_overlay / teardown_global_overlay through engine_handle(),
 * with the real data plane in a private network namespace (root only).
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "enginetest.h"
#include "nstest.h"

/* want NULL: the path must be absent. */
static void expect_state(struct etest *t, const char *path, const char *want)
{
	char *got = etest_state_get(t, path);

	if (want ? !got || strcmp(got, want) : got != NULL)
		fail_msg("state %s: %s, want %s", path, got ? got : "(absent)", want ? want : "(absent)");
	free(got);
}

static void setup_brings_the_device_up_and_records_it(void **state)
{
	struct etest *t = *state;
	struct ovl_request q = etest_setup_global("dep1", "10.77.0.0/16", "10.77.0.0/26");
	struct ovl_request down = { .op = OVL_OP_TEARDOWN_GLOBAL_OVERLAY };
	struct ovl_response r;
	struct nl_link l;
	char name[IFNAMSIZ], path[128], *text, *snap;

	NSTEST_REQUIRE();
	etest_call(t, &q, &r);
	if (r.result != OVL_RES_BRIDGE_NAME)
		fail_msg("setup_global_overlay: %s", r.result == OVL_RES_ERR ? r.message : "not a bridge_name");
	snprintf(name, sizeof(name), "%s", r.name);
	ovl_response_free(&r);

	/* The userspace WireGuard device: a TUN link, up, with the node's address in the cluster. */
	assert_int_equal(nl_link_get(t->nl, name, &l), 0);
	assert_string_equal(l.kind, "tun");
	assert_true(l.flags & IFF_UP);
	assert_true(etest_has_addr(t, name, "10.77.0.1/16"));
	snprintf(path, sizeof(path), "%s/%s.sock", t->wg_dir, name);
	assert_int_equal(access(path, F_OK), 0);
	text = etest_run("nft list tables");
	assert_non_null(strstr(text, "overlayd_"));
	free(text);
	expect_state(t, "global.deployment", "\"dep1\"");
	expect_state(t, "global.cluster_cidr", "\"10.77.0.0/16\"");
	snprintf(path, sizeof(path), "\"%s\"", name);
	expect_state(t, "dataplane.interface", path);
	snprintf(path, sizeof(path), "%s/node.key", t->dir);
	assert_int_equal(access(path, R_OK), 0);

	/* The same request again is answered the same and changes nothing. */
	snap = etest_snapshot(t);
	etest_call(t, &q, &r);
	assert_int_equal(r.result, OVL_RES_BRIDGE_NAME);
	assert_string_equal(r.name, name);
	ovl_response_free(&r);
	text = etest_snapshot(t);
	assert_string_equal(text, snap);
	free(text);
	free(snap);

	/* Teardown takes the device, its rules and the record away. */
	etest_ok(t, &down);
	assert_int_equal(nl_link_exists(t->nl, name), 0);
	text = etest_run("nft list tables");
	assert_null(strstr(text, "overlayd_"));
	free(text);
	/* The configuration stays (a restart must not forget it); the host record is empty. */
	expect_state(t, "dataplane.interface", NULL);
	/* The record no longer says the data plane is up (an empty section is left out). */
	char *up = etest_state_get(t, "dataplane.up");
	assert_true(!up || !strcmp(up, "false"));
	free(up);
	expect_state(t, "global.deployment", "\"dep1\"");
}

static void refusals_change_nothing(void **state)
{
	struct etest *t = *state;
	struct ovl_request q = etest_setup_global("dep1", "10.77.0.0/16", "10.77.0.0/26");
	struct ovl_request other = etest_setup_global("dep2", "10.78.0.0/16", NULL);
	struct ovl_request svc = etest_setup_service("web", OVL_MODE_ISOLATED);
	struct ovl_request alloc = { .op = OVL_OP_ALLOCATE_IP };
	struct ovl_request down = { .op = OVL_OP_TEARDOWN_GLOBAL_OVERLAY };
	struct ovl_request moved = etest_setup_global("dep1", "10.77.0.0/16", "10.77.1.0/26");

	struct ovl_request tiny = etest_setup_global("dep1", "10.77.0.0/16", "10.77.0.5/32");

	NSTEST_REQUIRE();
	/* Nothing can hang off a global overlay that is not there. */
	etest_refused(t, &svc, "global overlay not set up");
	/* A slice with no room for the node's own address (it would get 10.77.0.6,
	 * outside its slice) is refused before anything is made. */
	etest_refused(t, &tiny, "no room for the node address");

	etest_ok(t, &q);
	/* One global overlay per node: another deployment must tear this one down first. */
	etest_refused(t, &other, "already up for deployment dep1");

	/* The slice cannot move from under an allocated address. */
	alloc.allocate_ip.service = (char *)"x";
	etest_ok(t, &alloc);
	etest_ok(t, &down);
	etest_refused(t, &moved, "still allocated");
}

static void a_stale_link_of_our_name_is_replaced(void **state)
{
	struct etest *t = *state;
	struct ovl_request q = etest_setup_global("dep1", "10.77.0.0/16", "10.77.0.0/26");
	struct ovl_request down = { .op = OVL_OP_TEARDOWN_GLOBAL_OVERLAY };
	struct nl_link l;
	char name[IFNAMSIZ];

	NSTEST_REQUIRE();
	etest_ok(t, &q);
	etest_global_ifname(t, name);
	etest_ok(t, &down);
	/* A leftover of an earlier run (here: a bridge) holds the name. */
	assert_int_equal(nl_bridge_create(t->nl, name), 0);
	etest_ok(t, &q);
	assert_int_equal(nl_link_get(t->nl, name, &l), 0);
	assert_string_equal(l.kind, "tun");
}

/* Something else holds the WireGuard port: mandatory fails clean, optional degrades. */
static void a_busy_port_fails_clean_or_degrades(void **state)
{
	struct etest *t = *state;
	struct ovl_request q = etest_setup_global("dep1", "10.77.0.0/16", "10.77.0.0/26");
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(51420) };
	struct ovl_request status = { .op = OVL_OP_STATUS };
	struct ovl_response r;
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), off = 0;

	NSTEST_REQUIRE();
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	etest_refused(t, &q, "51420");

	q.setup_global.host_adapter_mandatory = false;
	etest_call(t, &q, &r);
	assert_int_equal(r.result, OVL_RES_BRIDGE_NAME);
	assert_string_equal(r.name, "(host-adapter-disabled)");
	ovl_response_free(&r);
	etest_call(t, &status, &r);
	assert_int_equal(r.result, OVL_RES_STATUS);
	assert_null(r.status.interface);
	assert_true(r.status.has_node_ip);
	ovl_response_free(&r);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(setup_brings_the_device_up_and_records_it, etest_fixture_setup, etest_fixture_teardown),
		cmocka_unit_test_setup_teardown(refusals_change_nothing, etest_fixture_setup, etest_fixture_teardown),
		cmocka_unit_test_setup_teardown(a_stale_link_of_our_name_is_replaced, etest_fixture_setup, etest_fixture_teardown),
		cmocka_unit_test_setup_teardown(a_busy_port_fails_clean_or_degrades, etest_fixture_setup, etest_fixture_teardown),
	};

	/* Every case needs the kernel: without root, the whole program is a skip (77). */
	if (!nstest_enter())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
