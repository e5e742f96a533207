// SPDX-License-Identifier: MIT
/* Candidate priorities (RFC 8445 5.1.2.1), de-duplication, order, interface filter. */
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

#include "nat/candidates.h"

static void priority_formula(void **state)
{
	/* RFC 8445: (2^24)*type + (2^8)*local + (256 - component). */
	assert_int_equal(nat_priority(126, 65535, 1), 2130706431u);
	assert_int_equal(nat_priority(100, 65535, 1), (100u << 24) + (65535u << 8) + 255);
	assert_int_equal(nat_priority(0, 0, 1), 255);
	/* Host above server-reflexive above relay, whatever the local preference. */
	assert_true(nat_priority(nat_type_preference(OVL_CAND_HOST), 0, 1) >
		    nat_priority(nat_type_preference(OVL_CAND_SERVER_REFLEXIVE), 65535, 1));
	assert_true(nat_priority(nat_type_preference(OVL_CAND_SERVER_REFLEXIVE), 0, 1) >
		    nat_priority(nat_type_preference(OVL_CAND_RELAY), 65535, 1));
	/* IPv6 above IPv4; earlier interfaces above later ones. */
	assert_true(nat_local_preference(AF_INET6, 5) > nat_local_preference(AF_INET, 0));
	assert_true(nat_local_preference(AF_INET, 0) > nat_local_preference(AF_INET, 1));
	assert_int_equal(nat_local_preference(AF_INET, 100000), 0);
}

static struct ovl_candidate cand(enum ovl_candidate_type t, const char *ep, uint32_t prio)
{
	struct ovl_candidate c = { .type = t, .priority = prio };
	assert_int_equal(ip_endpoint_parse(ep, &c.address), 0);
	return c;
}

static void dedup_and_sort(void **state)
{
	struct ovl_candidate list[NAT_MAX_CANDIDATES];
	size_t n = 0;
	struct ovl_candidate a = cand(OVL_CAND_SERVER_REFLEXIVE, "198.51.100.1:51820", 100);
	struct ovl_candidate b = cand(OVL_CAND_HOST, "198.51.100.1:51820", 200); /* same address, higher */
	struct ovl_candidate c = cand(OVL_CAND_HOST, "10.0.0.1:51820", 150);
	struct ovl_candidate d = cand(OVL_CAND_HOST, "10.0.0.1:51821", 50); /* other port: distinct */
	assert_true(nat_candidate_add(list, &n, &a));
	assert_true(nat_candidate_add(list, &n, &c));
	assert_true(nat_candidate_add(list, &n, &b));
	assert_true(nat_candidate_add(list, &n, &d));
	assert_true(nat_candidate_add(list, &n, &a)); /* lower than what is there: kept out */
	assert_int_equal(n, 3);
	nat_candidates_sort(list, n);
	assert_int_equal(list[0].priority, 200);
	assert_int_equal(list[0].type, OVL_CAND_HOST);
	assert_int_equal(list[1].priority, 150);
	assert_int_equal(list[2].priority, 50);
	for (size_t i = n; i < NAT_MAX_CANDIDATES; i++) {
		struct ovl_candidate x = cand(OVL_CAND_HOST, "10.0.0.2:1", 1);
		x.address.port = (uint16_t)(i + 1);
		assert_true(nat_candidate_add(list, &n, &x));
	}
	struct ovl_candidate over = cand(OVL_CAND_HOST, "10.9.9.9:9", 9);
	assert_false(nat_candidate_add(list, &n, &over));
}

static void interface_filter(void **state)
{
	char root[] = "/tmp/nat-sysfs-XXXXXX", path[256];
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/br0", root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/br0/bridge", root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/tun0", root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/tun0/tun_flags", root);
	assert_int_equal(mkdir(path, 0700), 0);

	assert_true(nat_interface_eligible("eth0", IFF_UP, root));
	assert_true(nat_interface_eligible("veth0", IFF_UP, root)); /* a namespace's uplink */
	assert_false(nat_interface_eligible("eth0", 0, root));	    /* down */
	assert_false(nat_interface_eligible("lo", IFF_UP | IFF_LOOPBACK, root));
	assert_false(nat_interface_eligible("wg0", IFF_UP | IFF_POINTOPOINT, root));
	assert_false(nat_interface_eligible("zl-abc-g", IFF_UP, root));
	assert_false(nat_interface_eligible("veth-1234-s", IFF_UP, root));
	assert_false(nat_interface_eligible("br0", IFF_UP, root));
	assert_false(nat_interface_eligible("tun0", IFF_UP, root));

	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	assert_int_equal(system(path), 0);
}

static void host_gather_has_no_loopback(void **state)
{
	struct ovl_candidate out[NAT_MAX_CANDIDATES];
	int n = nat_gather_host(51820, out, NAT_MAX_CANDIDATES);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		char s[IP_ENDPOINT_STRLEN];
		ip_endpoint_format(&out[i].address, s, sizeof(s));
		assert_int_equal(out[i].address.port, 51820);
		assert_int_equal(out[i].type, OVL_CAND_HOST);
		assert_null(strstr(s, "127.0.0.1"));
		assert_null(strstr(s, "[::1]"));
		assert_int_equal(out[i].priority >> 24, NAT_TYPE_PREF_HOST);
	}
}

static void peer_reflexive_learned_once_and_bounded(void **state)
{
	/* RFC 8445 7.3.1.3: a source that is none of the handed-on candidates, type preference 110. */
	struct ovl_candidate known[2] = { cand(OVL_CAND_HOST, "10.2.0.2:51420", 1),
					  cand(OVL_CAND_SERVER_REFLEXIVE, "203.0.113.2:51420", 2) };
	struct nat_prflx r = { 0 };
	struct ip_endpoint ep;
	char s[IP_ENDPOINT_STRLEN];
	assert_int_equal(ip_endpoint_parse("203.0.113.2:51420", &ep), 0);
	assert_false(nat_prflx_learn(&r, known, 2, &ep)); /* a known candidate */
	assert_int_equal(ip_endpoint_parse("203.0.113.2:39151", &ep), 0);
	assert_true(nat_prflx_learn(&r, known, 2, &ep));
	assert_false(nat_prflx_learn(&r, known, 2, &ep)); /* once */
	assert_int_equal(r.n, 1);
	assert_int_equal(r.cands[0].type, OVL_CAND_PEER_REFLEXIVE);
	assert_int_equal(r.cands[0].priority >> 24, NAT_TYPE_PREF_PEER_REFLEXIVE);
	assert_true(nat_priority(nat_type_preference(OVL_CAND_PEER_REFLEXIVE), 0, 1) >
		    nat_priority(nat_type_preference(OVL_CAND_SERVER_REFLEXIVE), 65535, 1));
	/* Bounded: the fifth replaces the oldest (checks are not authenticated). */
	for (int port = 2; port <= 5; port++) {
		snprintf(s, sizeof(s), "203.0.113.2:%d", port);
		assert_int_equal(ip_endpoint_parse(s, &ep), 0);
		assert_true(nat_prflx_learn(&r, known, 2, &ep));
	}
	assert_int_equal(r.n, NAT_MAX_PEER_REFLEXIVE);
	for (size_t i = 0; i < r.n; i++)
		assert_int_not_equal(r.cands[i].address.port, 39151);
	/* Handed on by the orchestrator later: no longer a learned one; the rest keep their age order. */
	struct ovl_candidate now[1] = { cand(OVL_CAND_SERVER_REFLEXIVE, "203.0.113.2:3", 3) };
	nat_prflx_prune(&r, now, 1);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.cands[0].address.port, 2);
	assert_int_equal(r.cands[1].address.port, 4);
	assert_int_equal(r.cands[2].address.port, 5);
	assert_string_equal(ovl_candidate_type_name(OVL_CAND_PEER_REFLEXIVE), "peer-reflexive");
}

static void probe_targets_configured_then_by_priority(void **state)
{
	struct ovl_candidate cands[3] = { cand(OVL_CAND_SERVER_REFLEXIVE, "203.0.113.2:51420", 100),
					  cand(OVL_CAND_HOST, "10.2.0.2:51420", 300),
					  cand(OVL_CAND_HOST, "203.0.113.20:51420", 200) };
	struct nat_prflx r = { 0 };
	struct ip_endpoint configured, prflx, out[8];
	char s[IP_ENDPOINT_STRLEN];
	assert_int_equal(ip_endpoint_parse("203.0.113.20:51420", &configured), 0);
	assert_int_equal(ip_endpoint_parse("203.0.113.2:39151", &prflx), 0);
	assert_true(nat_prflx_learn(&r, cands, 3, &prflx));
	r.cands[0].priority = 150; /* between the handed-on ones */
	size_t n = nat_probe_targets(&configured, cands, 3, false, &r, out, 8);
	assert_int_equal(n, 4); /* the configured endpoint once, though a candidate lists it too */
	const char *want[] = { "203.0.113.20:51420", "10.2.0.2:51420", "203.0.113.2:39151", "203.0.113.2:51420" };
	for (size_t i = 0; i < n; i++)
		assert_string_equal(ip_endpoint_format(&out[i], s, sizeof(s)), want[i]);
	assert_int_equal(nat_probe_targets(&configured, cands, 3, false, &r, out, 2), 2); /* max_candidate_pairs */
	memset(&configured, 0, sizeof(configured));
	configured.addr.family = AF_INET;
	assert_int_equal(nat_probe_targets(&configured, cands, 3, false, &r, out, 8), 4); /* 0.0.0.0:0: none */
	assert_string_equal(ip_endpoint_format(&out[0], s, sizeof(s)), "10.2.0.2:51420");
	/* A relay candidate is probed, unless our own relays lead there. */
	cands[0] = cand(OVL_CAND_RELAY, "198.51.100.9:49152", 100);
	assert_int_equal(nat_probe_targets(&configured, cands, 3, false, &r, out, 8), 4);
	assert_int_equal(nat_probe_targets(&configured, cands, 3, true, &r, out, 8), 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_not_equal(ip_endpoint_format(&out[i], s, sizeof(s)), "198.51.100.9:49152");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(priority_formula),
		cmocka_unit_test(dedup_and_sort),
		cmocka_unit_test(interface_filter),
		cmocka_unit_test(host_gather_has_no_loopback),
		cmocka_unit_test(peer_reflexive_learned_once_and_bounded),
		cmocka_unit_test(probe_targets_configured_then_by_priority),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
