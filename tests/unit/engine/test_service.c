// SPDX-License-Identifier: MIT
/*
 * setup_service_overlay / teardown_service_overlay through engine_handle(),
 * in every mode, with the real data plane in a private network namespace
 * (root only).
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
#include "ipam/subnets.h"
#include "nstest.h"

/* A cluster of four /26 service slots: slot 0 holds the node slice, three are left. */
#define CLUSTER "10.77.0.0/24"
#define SLICE "10.77.0.0/26"

/* Every test here starts with the global overlay up. */
static int setup(void **state)
{
	struct ovl_request q = etest_setup_global("svc", CLUSTER, SLICE);
	int r = etest_fixture_setup(state);

	if (r == 0 && nstest_active)
		etest_ok(*state, &q);
	return r;
}

/* What setup_service_overlay answered. */
struct svc {
	char bridge[IFNAMSIZ];
	char gateway[IP_PREFIX_STRLEN]; /* "a.b.c.d/len" */
	struct ovl_res_service_overlay o;
};

static struct svc service_up(struct etest *t, const char *name, enum ovl_mode mode)
{
	struct ovl_request q = etest_setup_service(name, mode);
	struct ovl_response r;
	struct svc s = { 0 };
	struct ip_prefix gw;

	etest_call(t, &q, &r);
	if (r.result != OVL_RES_SERVICE_OVERLAY)
		fail_msg("setup_service_overlay %s: %s", name, r.result == OVL_RES_ERR ? r.message : "wrong result");
	s.o = r.service_overlay;
	snprintf(s.bridge, sizeof(s.bridge), "%s", r.service_overlay.name);
	s.o.name = NULL;
	gw = s.o.subnet;
	assert_int_equal(ip_addr_add(&s.o.subnet.addr, 1, &gw.addr), 0);
	ip_prefix_format(&gw, s.gateway, sizeof(s.gateway));
	ovl_response_free(&r);
	return s;
}

static void expect_bridge(struct etest *t, const struct svc *s)
{
	struct nl_link l;

	assert_int_equal(nl_link_get(t->nl, s->bridge, &l), 0);
	assert_string_equal(l.kind, "bridge");
	assert_int_equal(l.stp_state, 0);
	if (!etest_has_addr(t, s->bridge, s->gateway))
		fail_msg("bridge %s has no gateway address %s", s->bridge, s->gateway);
}

static void teardown_service(struct etest *t, const char *name)
{
	struct ovl_request q = { .op = OVL_OP_TEARDOWN_SERVICE_OVERLAY };

	q.teardown_service.service = (char *)name;
	etest_ok(t, &q);
}

static void isolated_service_gets_its_own_bridge(void **state)
{
	struct etest *t = *state;
	struct ovl_request again = etest_setup_service("web", OVL_MODE_ISOLATED);
	struct ovl_request other_mode = etest_setup_service("web", OVL_MODE_SHARED);
	struct ovl_response r;
	struct ip_prefix cluster;
	struct svc web;
	char *before, *after, *recorded;

	NSTEST_REQUIRE();
	web = service_up(t, "web", OVL_MODE_ISOLATED);
	assert_int_equal(web.o.mode, OVL_MODE_ISOLATED);
	assert_false(web.o.has_dedicated);
	assert_int_equal(web.o.subnet.len, IPAM_SUBNET_LEN_V4);
	assert_int_equal(ip_prefix_parse(CLUSTER, &cluster), 0);
	assert_true(ip_prefix_contains(&cluster, &web.o.subnet.addr));
	expect_bridge(t, &web);
	recorded = etest_state_get(t, "dataplane.services");
	assert_non_null(recorded);
	assert_non_null(strstr(recorded, "\"web\""));
	free(recorded);

	/* Again in the same mode: the same answer, nothing new. */
	before = etest_snapshot(t);
	etest_call(t, &again, &r);
	assert_int_equal(r.result, OVL_RES_SERVICE_OVERLAY);
	assert_string_equal(r.service_overlay.name, web.bridge);
	assert_true(ip_prefix_equal(&r.service_overlay.subnet, &web.o.subnet));
	ovl_response_free(&r);
	after = etest_snapshot(t);
	assert_string_equal(after, before);
	free(before);
	free(after);
	/* In another mode: refused until torn down. */
	etest_refused(t, &other_mode, "already set up in mode isolated");

	teardown_service(t, "web");
	assert_int_equal(nl_link_exists(t->nl, web.bridge), 0);
	recorded = etest_state_get(t, "dataplane.services");
	assert_null(strstr(recorded, "\"web\""));
	free(recorded);
	/* Tearing down what is not there is fine, and changes nothing. */
	before = etest_snapshot(t);
	teardown_service(t, "web");
	after = etest_snapshot(t);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void shared_services_share_one_bridge(void **state)
{
	struct etest *t = *state;
	struct svc a, b;

	NSTEST_REQUIRE();
	a = service_up(t, "a", OVL_MODE_SHARED);
	b = service_up(t, "b", OVL_MODE_SHARED);
	assert_string_equal(a.bridge, b.bridge);
	assert_true(ip_prefix_equal(&a.o.subnet, &b.o.subnet));
	expect_bridge(t, &a);
	/* The bridge stays while a service still uses it. */
	teardown_service(t, "a");
	expect_bridge(t, &b);
}

static void dedicated_service_gets_a_device_of_its_own(void **state)
{
	struct etest *t = *state;
	struct ovl_request status = { .op = OVL_OP_STATUS };
	struct ovl_response r;
	struct nl_link l;
	char path[160], dev[IFNAMSIZ] = "";
	uint8_t zero[WG_KEY_LEN] = { 0 };
	struct svc db;

	NSTEST_REQUIRE();
	db = service_up(t, "db", OVL_MODE_DEDICATED);
	expect_bridge(t, &db);
	assert_true(db.o.has_dedicated);
	assert_int_equal(db.o.wg_port, 51421); /* the first port above the global device's */
	assert_memory_not_equal(db.o.wg_public_key, zero, WG_KEY_LEN);

	etest_call(t, &status, &r);
	assert_int_equal(r.result, OVL_RES_STATUS);
	assert_int_equal(r.status.n_dedicated, 1);
	assert_string_equal(r.status.dedicated[0].service, "db");
	assert_memory_equal(r.status.dedicated[0].public_key, db.o.wg_public_key, WG_KEY_LEN);
	snprintf(dev, sizeof(dev), "%s", r.status.dedicated[0].interface);
	ovl_response_free(&r);
	assert_int_equal(nl_link_get(t->nl, dev, &l), 0);
	assert_string_equal(l.kind, "tun");
	assert_true(l.flags & IFF_UP);
	snprintf(path, sizeof(path), "%s/%s.sock", t->wg_dir, dev);
	assert_int_equal(access(path, F_OK), 0);

	teardown_service(t, "db");
	assert_int_equal(nl_link_exists(t->nl, dev), 0);
	assert_int_equal(nl_link_exists(t->nl, db.bridge), 0);
	assert_int_not_equal(access(path, F_OK), 0);
}

static void exhausted_subnets_and_bad_names_are_refused(void **state)
{
	struct etest *t = *state;
	struct ovl_request fourth = etest_setup_service("s4", OVL_MODE_ISOLATED);
	struct ovl_request empty = etest_setup_service("", OVL_MODE_ISOLATED);
	struct ovl_request reserved = etest_setup_service(IPAM_SHARED_BRIDGE_KEY, OVL_MODE_ISOLATED);

	NSTEST_REQUIRE();
	service_up(t, "s1", OVL_MODE_ISOLATED);
	service_up(t, "s2", OVL_MODE_ISOLATED);
	service_up(t, "s3", OVL_MODE_ISOLATED);
	etest_refused(t, &fourth, "no subnet left");
	etest_refused(t, &empty, "invalid service name");
	etest_refused(t, &reserved, "invalid service name");
	/* A freed slot is handed out again. */
	teardown_service(t, "s2");
	service_up(t, "s4", OVL_MODE_ISOLATED);
}

/* A cluster CIDR with no room for one service subnet: refused, nothing made. */
static void a_cluster_too_small_for_a_subnet_is_refused(void **state)
{
	struct etest *t = *state;
	struct ovl_request down = { .op = OVL_OP_TEARDOWN_GLOBAL_OVERLAY };
	struct ovl_request small = etest_setup_global("tiny", "10.88.0.0/28", NULL);
	struct ovl_request isolated = etest_setup_service("web", OVL_MODE_ISOLATED);
	struct ovl_request shared = etest_setup_service("web", OVL_MODE_SHARED);

	NSTEST_REQUIRE();
	etest_ok(t, &down);
	etest_ok(t, &small);
	etest_refused(t, &isolated, "smaller than one /26 service subnet");
	etest_refused(t, &shared, "smaller than one /26 service subnet");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(isolated_service_gets_its_own_bridge, setup, etest_fixture_teardown),
		cmocka_unit_test_setup_teardown(shared_services_share_one_bridge, setup, etest_fixture_teardown),
		cmocka_unit_test_setup_teardown(dedicated_service_gets_a_device_of_its_own, setup, etest_fixture_teardown),
		cmocka_unit_test_setup_teardown(exhausted_subnets_and_bad_names_are_refused, setup, etest_fixture_teardown),
		cmocka_unit_test_setup_teardown(a_cluster_too_small_for_a_subnet_is_refused, setup, etest_fixture_teardown),
	};

	/* Every case needs the kernel: without root, the whole program is a skip (77). */
	if (!nstest_enter())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
