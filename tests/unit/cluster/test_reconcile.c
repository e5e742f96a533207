// SPDX-License-Identifier: MIT
/* Reconciliation (cluster/reconcile.c): records become the add_peer / remove_peer an orchestrator would send. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/reconcile.h"

#define SELF "00000000000000000000000000000000"

static void node(struct cluster_record *r, char c, uint8_t keybyte, const char *ep, const char *slice)
{
	memset(r, 0, sizeof(*r));
	memset(r->id, c, CLUSTER_ID_LEN);
	memset(r->public_key, keybyte, WG_KEY_LEN);
	assert_int_equal(ip_endpoint_parse(ep, &r->endpoint), 0);
	assert_int_equal(ip_prefix_parse(slice, &r->slice), 0);
}

static size_t diff(struct cluster_peers *applied, const struct cluster_record *recs, size_t n,
		   const struct cluster_local *self, struct ovl_request **reqs)
{
	struct cluster_peers want;
	assert_int_equal(cluster_desired(self, recs, n, &want), 0);
	size_t nreq;
	assert_int_equal(cluster_diff(applied, &want, reqs, &nreq), 0);
	cluster_peers_free(&want);
	return nreq;
}

static void apply_all(struct cluster_peers *applied, struct ovl_request *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(cluster_peers_apply(applied, &reqs[i]), 0);
		ovl_request_free(&reqs[i]);
	}
	free(reqs);
}

static void test_peers_follow_records(void **state)
{
	struct cluster_subnet svcs[3] = {
		{ .service = "web", .mode = OVL_MODE_AUTO },
		{ .service = "db", .mode = OVL_MODE_DEDICATED },
		{ .service = "cache", .mode = OVL_MODE_SHARED },
	};
	ip_prefix_parse("10.200.9.0/26", &svcs[0].subnet);
	ip_prefix_parse("10.200.10.0/26", &svcs[1].subnet);
	ip_prefix_parse("10.200.11.0/26", &svcs[2].subnet);
	struct cluster_dedicated ded = { .service = "db", .port = 51421 };
	memset(ded.public_key, 0xdd, WG_KEY_LEN);
	ded.subnet = svcs[1].subnet;
	struct cluster_record recs[3];
	node(&recs[0], '0', 1, "192.0.2.10:51420", "10.200.1.0/26"); /* ourselves */
	node(&recs[1], 'b', 2, "192.0.2.11:51420", "10.200.2.0/26");
	recs[1].services = svcs;
	recs[1].n_services = 3;
	recs[1].dedicated = &ded;
	recs[1].n_dedicated = 1;
	node(&recs[2], 'c', 3, "192.0.2.12:51420", "10.200.3.0/26");
	const char *mine[] = { "db" };
	struct cluster_local self = { .id = SELF, .dedicated = mine, .n_dedicated = 1 };
	memset(self.public_key, 1, WG_KEY_LEN);

	struct cluster_peers applied = { 0 };
	struct ovl_request *reqs;
	size_t n = diff(&applied, recs, 3, &self, &reqs);
	assert_int_equal(n, 3); /* b and c globally, b's dedicated db device */
	const struct ovl_request *b = &reqs[0];
	assert_int_equal(b->op, OVL_OP_ADD_PEER);
	assert_null(b->add_peer.scope.service);
	assert_int_equal(b->add_peer.peer.public_key[0], 2);
	assert_int_equal(b->add_peer.peer.endpoint.port, 51420);
	/* Slice and bridged subnets; the dedicated service's subnet goes through its own device. */
	assert_int_equal(b->add_peer.peer.n_allowed_ips, 3);
	assert_true(ip_prefix_equal(&b->add_peer.peer.allowed_ips[0], &recs[1].slice));
	assert_true(ip_prefix_equal(&b->add_peer.peer.allowed_ips[1], &svcs[0].subnet));
	assert_true(ip_prefix_equal(&b->add_peer.peer.allowed_ips[2], &svcs[2].subnet));
	const struct ovl_request *bd = &reqs[1];
	assert_string_equal(bd->add_peer.scope.service, "db");
	assert_int_equal(bd->add_peer.peer.public_key[0], 0xdd);
	assert_int_equal(bd->add_peer.peer.endpoint.port, 51421);
	assert_true(ip_addr_equal(&bd->add_peer.peer.endpoint.addr, &recs[1].endpoint.addr));
	assert_int_equal(reqs[2].add_peer.peer.public_key[0], 3);
	apply_all(&applied, reqs, n);

	/* Nothing changed: nothing to send (no duplicate peers after a watch resumes). */
	assert_int_equal(diff(&applied, recs, 3, &self, &reqs), 0);
	free(reqs);

	/* c moves: one add_peer replaces its endpoint. b leaves: both of its peers go. */
	ip_endpoint_parse("192.0.2.99:51420", &recs[2].endpoint);
	struct cluster_record left[2] = { recs[0], recs[2] };
	n = diff(&applied, left, 2, &self, &reqs);
	assert_int_equal(n, 3);
	assert_int_equal(reqs[0].op, OVL_OP_REMOVE_PEER);
	assert_int_equal(reqs[1].op, OVL_OP_REMOVE_PEER);
	assert_int_equal(reqs[2].op, OVL_OP_ADD_PEER);
	assert_int_equal(reqs[2].add_peer.peer.endpoint.addr.v4.s_addr, htonl(0xc0000263));
	apply_all(&applied, reqs, n);
	assert_int_equal(applied.n, 1);

	/* A request that failed is not recorded, so the next round sends it again. */
	n = diff(&applied, recs, 3, &self, &reqs);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		ovl_request_free(&reqs[i]);
	free(reqs);
	assert_int_equal(diff(&applied, recs, 3, &self, &reqs), 2);
	apply_all(&applied, reqs, 2);

	/* Our db service goes: its service-scope peers went with its device, nothing to remove. */
	self.n_dedicated = 0;
	cluster_peers_prune(&applied, &self);
	assert_int_equal(diff(&applied, recs, 3, &self, &reqs), 0);
	free(reqs);
	/* It comes back: b's db device is added again on the new device. */
	self.n_dedicated = 1;
	assert_int_equal(diff(&applied, recs, 3, &self, &reqs), 1);
	assert_string_equal(reqs[0].add_peer.scope.service, "db");
	apply_all(&applied, reqs, 1);
	cluster_peers_free(&applied);
}

static void test_records_with_our_key_or_repeated_keys_skipped(void **state)
{
	struct cluster_record recs[3];
	node(&recs[0], 'a', 1, "192.0.2.10:51420", "10.200.1.0/26"); /* another id, our key: stale copy of us */
	node(&recs[1], 'b', 2, "192.0.2.11:51420", "10.200.2.0/26");
	node(&recs[2], 'c', 2, "192.0.2.12:51420", "10.200.3.0/26"); /* b's key again */
	struct cluster_local self = { .id = SELF };
	memset(self.public_key, 1, WG_KEY_LEN);
	struct cluster_peers want;
	assert_int_equal(cluster_desired(&self, recs, 3, &want), 0);
	assert_int_equal(want.n, 1);
	assert_int_equal(want.items[0].spec.public_key[0], 2);
	/* A dedicated service this node does not run brings no service-scope peer. */
	cluster_peers_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peers_follow_records),
		cmocka_unit_test(test_records_with_our_key_or_repeated_keys_skipped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
