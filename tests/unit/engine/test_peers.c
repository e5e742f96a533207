// SPDX-License-Identifier: MIT
/*
 * add_peer / remove_peer / add_allowed_ip / remove_allowed_ip through
 * engine_handle(), on the global device and on a dedicated service device,
 * checked the way an operator checks them: wg(8)'s UAPI view of the device,
 * the routes, status and the state file. In a private network namespace
 * (root only); peer endpoints are on its loopback, so nothing leaves it.
 */
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "enginetest.h"
#include "nstest.h"
#include "util/key.h"

#define KEY "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="

static void global_up(struct etest *t)
{
	struct ovl_request q = etest_setup_global("peer", "10.77.0.0/16", "10.77.0.0/26");

	etest_ok(t, &q);
}

/* add_peer KEY on scope (NULL: global) with the given allowed IPs. */
static struct ovl_request add_peer_req(const char *scope, const char *allowed)
{
	struct ovl_request q = { .op = OVL_OP_ADD_PEER };
	char err[200];

	assert_int_equal(key_from_base64(KEY, q.add_peer.peer.public_key), 0);
	assert_int_equal(ip_endpoint_parse("127.0.0.1:51999", &q.add_peer.peer.endpoint), 0);
	assert_int_equal(ovl_allowed_ips_parse(allowed, &q.add_peer.peer.allowed_ips, &q.add_peer.peer.n_allowed_ips,
					       err, sizeof(err)), 0);
	q.add_peer.scope.service = (char *)scope;
	return q;
}

static struct ovl_request remove_peer_req(const char *scope)
{
	struct ovl_request q = { .op = OVL_OP_REMOVE_PEER };

	assert_int_equal(key_from_base64(KEY, q.remove_peer.pubkey), 0);
	q.remove_peer.scope.service = (char *)scope;
	return q;
}

static struct ovl_request allowed_ip_req(bool add, const char *scope, const char *cidr)
{
	struct ovl_request q = { .op = add ? OVL_OP_ADD_ALLOWED_IP : OVL_OP_REMOVE_ALLOWED_IP };

	assert_int_equal(key_from_base64(KEY, q.allowed_ip.pubkey), 0);
	assert_int_equal(ip_prefix_parse(cidr, &q.allowed_ip.cidr), 0);
	q.allowed_ip.scope.service = (char *)scope;
	return q;
}

/* Whether wg(8) would show the peer on ifname, and with that allowed IP (NULL: any). */
static bool wg_shows(struct etest *t, const char *ifname, const char *allowed)
{
	uint8_t key[WG_KEY_LEN];
	char hex[WG_KEY_HEX_LEN + 1], want[WG_KEY_HEX_LEN + 16], *dump = etest_wg_get(t, ifname);
	bool seen;

	assert_int_equal(key_from_base64(KEY, key), 0);
	key_to_hex(key, hex);
	snprintf(want, sizeof(want), "public_key=%s\n", hex);
	seen = strstr(dump, want) != NULL;
	if (seen && allowed) {
		snprintf(want, sizeof(want), "allowed_ip=%s\n", allowed);
		seen = strstr(dump, want) != NULL;
	}
	free(dump);
	return seen;
}

static bool state_has_peer(struct etest *t)
{
	char *peers = etest_state_get(t, "global_peers");
	bool has = peers && strstr(peers, KEY);

	free(peers);
	return has;
}

static void global_peer_lifecycle(void **state)
{
	struct etest *t = *state;
	struct ovl_request add = add_peer_req(NULL, "10.77.64.0/26");
	struct ovl_request more = allowed_ip_req(true, NULL, "10.77.65.0/26");
	struct ovl_request fewer = allowed_ip_req(false, NULL, "10.77.65.0/26");
	struct ovl_request rm = remove_peer_req(NULL);
	struct ovl_request status = { .op = OVL_OP_STATUS };
	struct ovl_response r;
	char dev[IFNAMSIZ], *before, *after;

	NSTEST_REQUIRE();
	global_up(t);
	etest_global_ifname(t, dev);
	etest_ok(t, &add);
	assert_true(wg_shows(t, dev, "10.77.64.0/26"));
	assert_true(state_has_peer(t));
	etest_call(t, &status, &r);
	assert_int_equal(r.result, OVL_RES_STATUS);
	assert_int_equal(r.status.peer_count, 1);
	assert_string_equal(r.status.peers[0].allowed_ips, "10.77.64.0/26");
	ovl_response_free(&r);

	etest_ok(t, &more);
	assert_true(wg_shows(t, dev, "10.77.65.0/26"));
	assert_true(wg_shows(t, dev, "10.77.64.0/26"));
	etest_ok(t, &fewer);
	assert_false(wg_shows(t, dev, "10.77.65.0/26"));
	assert_true(wg_shows(t, dev, "10.77.64.0/26"));

	etest_ok(t, &rm);
	assert_false(wg_shows(t, dev, NULL));
	assert_false(state_has_peer(t));
	/* Removing it again, or an allowed IP of a peer that is gone, is fine and changes nothing. */
	before = etest_snapshot(t);
	etest_ok(t, &rm);
	etest_ok(t, &more);
	after = etest_snapshot(t);
	assert_string_equal(after, before);
	free(before);
	free(after);
	free(add.add_peer.peer.allowed_ips);
}

/* A peer added before the device exists is installed when it comes up. */
static void peer_before_the_device_is_installed_at_bring_up(void **state)
{
	struct etest *t = *state;
	struct ovl_request add = add_peer_req(NULL, "10.77.64.0/26");
	char dev[IFNAMSIZ];

	NSTEST_REQUIRE();
	etest_ok(t, &add);
	assert_true(state_has_peer(t));
	global_up(t);
	etest_global_ifname(t, dev);
	assert_true(wg_shows(t, dev, "10.77.64.0/26"));
	free(add.add_peer.peer.allowed_ips);
}

static void dedicated_peer_gets_routes(void **state)
{
	struct etest *t = *state;
	struct ovl_request svc = etest_setup_service("db", OVL_MODE_DEDICATED);
	struct ovl_request add = add_peer_req("db", "10.99.0.0/26");
	struct ovl_request more = allowed_ip_req(true, "db", "10.99.1.0/26");
	struct ovl_request rm = remove_peer_req("db");
	struct ovl_request status = { .op = OVL_OP_STATUS };
	struct ovl_response r;
	struct nl_route route;
	struct ip_addr in_first, in_second;
	char dev[IFNAMSIZ];

	NSTEST_REQUIRE();
	global_up(t);
	etest_ok(t, &svc);
	etest_call(t, &status, &r);
	assert_int_equal(r.result, OVL_RES_STATUS);
	assert_int_equal(r.status.n_dedicated, 1);
	snprintf(dev, sizeof(dev), "%s", r.status.dedicated[0].interface);
	ovl_response_free(&r);

	etest_ok(t, &add);
	assert_true(wg_shows(t, dev, "10.99.0.0/26"));
	/* status counts the dedicated device's peers (and lists none of them). */
	etest_call(t, &status, &r);
	assert_int_equal(r.status.n_dedicated, 1);
	assert_int_equal(r.status.dedicated[0].peer_count, 1);
	assert_int_equal(r.status.n_peers, 0);
	ovl_response_free(&r);
	assert_int_equal(ip_addr_parse("10.99.0.7", &in_first), 0);
	assert_int_equal(ip_addr_parse("10.99.1.7", &in_second), 0);
	assert_int_equal(nl_route_lookup(t->nl, &in_first, &route), 0);
	assert_int_equal(route.oif, nl_link_index(t->nl, dev));
	etest_ok(t, &more);
	assert_int_equal(nl_route_lookup(t->nl, &in_second, &route), 0);
	assert_int_equal(route.oif, nl_link_index(t->nl, dev));

	/* The global device never sees a dedicated service's peer. */
	char gdev[IFNAMSIZ];
	etest_global_ifname(t, gdev);
	assert_false(wg_shows(t, gdev, NULL));

	etest_ok(t, &rm);
	assert_false(wg_shows(t, dev, NULL));
	assert_int_not_equal(nl_route_lookup(t->nl, &in_first, &route), 0);
	assert_int_not_equal(nl_route_lookup(t->nl, &in_second, &route), 0);
	free(add.add_peer.peer.allowed_ips);
}

static void scopes_without_a_dedicated_device_are_refused(void **state)
{
	struct etest *t = *state;
	struct ovl_request svc = etest_setup_service("web", OVL_MODE_ISOLATED);
	struct ovl_request unknown = add_peer_req("nosuch", "10.99.0.0/26");
	struct ovl_request isolated = add_peer_req("web", "10.99.0.0/26");
	struct ovl_request rm = remove_peer_req("nosuch");
	struct ovl_request ip = allowed_ip_req(true, "web", "10.99.1.0/26");

	NSTEST_REQUIRE();
	global_up(t);
	etest_ok(t, &svc);
	etest_refused(t, &unknown, "no dedicated overlay for service nosuch");
	etest_refused(t, &isolated, "no dedicated overlay for service web");
	etest_refused(t, &rm, "no dedicated overlay for service nosuch");
	etest_refused(t, &ip, "no dedicated overlay for service web");
	free(unknown.add_peer.peer.allowed_ips);
	free(isolated.add_peer.peer.allowed_ips);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(global_peer_lifecycle, etest_fixture_setup, etest_fixture_teardown),
		cmocka_unit_test_setup_teardown(peer_before_the_device_is_installed_at_bring_up, etest_fixture_setup, etest_fixture_teardown),
		cmocka_unit_test_setup_teardown(dedicated_peer_gets_routes, etest_fixture_setup, etest_fixture_teardown),
		cmocka_unit_test_setup_teardown(scopes_without_a_dedicated_device_are_refused, etest_fixture_setup, etest_fixture_teardown),
	};

	/* Every case needs the kernel: without root, the whole program is a skip (77). */
	if (!nstest_enter())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
