// SPDX-License-Identifier: MIT
/* PeerSpec, candidate and NAT-config parsing (the seed's unit cases included). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "state/model_json.h"

#define KEY "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);
	assert_non_null(v);
	return v;
}

/* The seed's peer_spec_to_info_parses_endpoint_and_keepalive. */
static void peer_spec_parses_endpoint_and_keepalive(void **state)
{
	json_t *o = J("{\"public_key\":\"" KEY "\",\"endpoint\":\"1.2.3.4:51820\","
		      "\"allowed_ips\":\"10.200.0.5/32, 10.200.1.0/24\",\"persistent_keepalive_secs\":25}");
	struct ovl_peer_spec p;
	char err[200];
	assert_int_equal(mj_peer_from_json(o, &p, err, sizeof(err)), 0);
	char buf[IP_ENDPOINT_STRLEN];
	assert_string_equal(ip_endpoint_format(&p.endpoint, buf, sizeof(buf)), "1.2.3.4:51820");
	assert_int_equal(p.n_allowed_ips, 2);
	char *s = ovl_allowed_ips_format(p.allowed_ips, p.n_allowed_ips);
	assert_string_equal(s, "10.200.0.5/32,10.200.1.0/24");
	free(s);
	assert_int_equal(p.persistent_keepalive_secs, 25);
	/* Round trip through the wire form. */
	json_t *back = mj_peer_to_json(&p);
	assert_string_equal(json_string_value(json_object_get(back, "public_key")), KEY);
	assert_string_equal(json_string_value(json_object_get(back, "allowed_ips")), "10.200.0.5/32,10.200.1.0/24");
	assert_null(json_object_get(back, "candidates")); /* omitted when empty */
	json_decref(back);
	ovl_peer_spec_free(&p);
	json_decref(o);
}

static void peer_spec_endpoint_forms(void **state)
{
	const char *ok[] = { "[fd00::1]:51420", "0.0.0.0:0" };
	for (size_t i = 0; i < 2; i++) {
		json_t *o = json_pack("{s:s,s:s,s:s}", "public_key", KEY, "endpoint", ok[i], "allowed_ips", "");
		struct ovl_peer_spec p;
		char err[200];
		assert_int_equal(mj_peer_from_json(o, &p, err, sizeof(err)), 0);
		assert_int_equal(p.n_allowed_ips, 0);
		if (i == 1)
			assert_true(ip_endpoint_is_unset(&p.endpoint));
		ovl_peer_spec_free(&p);
		json_decref(o);
	}
}

/* The seed's peer_spec_to_info_rejects_bad_endpoint, and other bad fields. */
static void peer_spec_rejects_bad_input(void **state)
{
	struct {
		const char *json, *want;
	} cases[] = {
		{ "{\"public_key\":\"" KEY "\",\"endpoint\":\"not-a-socket-addr\",\"allowed_ips\":\"\"}", "endpoint" },
		{ "{\"public_key\":\"k\",\"endpoint\":\"1.2.3.4:5\",\"allowed_ips\":\"\"}", "public_key" },
		{ "{\"public_key\":\"" KEY "\",\"endpoint\":\"1.2.3.4:5\",\"allowed_ips\":\"10.0.0.0/33\"}",
		  "10.0.0.0/33" },
		{ "{\"public_key\":\"" KEY "\",\"endpoint\":\"1.2.3.4:5\",\"allowed_ips\":\"10.0.0.0/8,,\"}",
		  "allowed_ips" },
		{ "{\"public_key\":\"" KEY "\",\"endpoint\":\"1.2.3.4:5\"}", "missing field `allowed_ips`" },
		{ "{\"public_key\":\"" KEY "\",\"endpoint\":5,\"allowed_ips\":\"\"}", "expected a string" },
		{ "{\"public_key\":\"" KEY "\",\"endpoint\":\"1.2.3.4:5\",\"allowed_ips\":\"\","
		  "\"persistent_keepalive_secs\":-1}",
		  "persistent_keepalive_secs" },
		{ "{\"public_key\":\"" KEY "\",\"endpoint\":\"1.2.3.4:5\",\"allowed_ips\":\"\","
		  "\"candidates\":[{\"candidate_type\":\"bogus\",\"address\":\"1.2.3.4:5\",\"priority\":1}]}",
		  "candidates[0]" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *o = J(cases[i].json);
		struct ovl_peer_spec p;
		char err[200] = "";
		assert_int_not_equal(mj_peer_from_json(o, &p, err, sizeof(err)), 0);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, cases[i].want);
		json_decref(o);
	}
}

/* The seed's candidate_wire_conversions_round_trip. */
static void candidate_round_trip(void **state)
{
	json_t *w = J("{\"candidate_type\":\"server-reflexive\",\"address\":\"203.0.113.5:51820\",\"priority\":50}");
	struct ovl_candidate c;
	char err[200];
	assert_int_equal(mj_candidate_from_json(w, &c, err, sizeof(err)), 0);
	assert_int_equal(c.type, OVL_CAND_SERVER_REFLEXIVE);
	assert_int_equal(c.priority, 50);
	json_t *back = mj_candidate_to_json(&c);
	assert_true(json_equal(back, w));
	json_decref(back);
	json_decref(w);
	w = J("{\"candidate_type\":\"host\",\"address\":\"not-an-addr\",\"priority\":1}");
	assert_int_equal(mj_candidate_from_json(w, &c, err, sizeof(err)), -EINVAL);
	json_decref(w);
}

/* The seed's nat_config_spec_to_config_fills_defaults_and_copies (no default STUN server here). */
static void nat_config_defaults_and_copies(void **state)
{
	char err[200];
	struct ovl_nat_config spec, cfg;
	json_t *o = J("{}");
	assert_int_equal(mj_nat_from_json(o, &spec, err, sizeof(err)), 0);
	json_decref(o);
	assert_int_equal(ovl_nat_config_resolve(&cfg, &spec), 0);
	assert_int_equal(cfg.n_stun_servers, 0);
	assert_int_equal(cfg.hole_punch_timeout_secs, NAT_DEFAULT_HOLE_PUNCH_TIMEOUT_SECS);
	assert_int_equal(cfg.stun_refresh_interval_secs, NAT_DEFAULT_STUN_REFRESH_SECS);
	assert_int_equal(cfg.max_candidate_pairs, NAT_DEFAULT_MAX_CANDIDATE_PAIRS);
	assert_false(cfg.has_relay);
	ovl_nat_config_free(&cfg);
	ovl_nat_config_free(&spec);

	o = J("{\"enabled\":true,\"stun_servers\":[\"stun.example:3478\"],"
	      "\"turn_servers\":[{\"addr\":\"turn.example:3478\",\"username\":\"u\",\"credential\":\"p\"}],"
	      "\"hole_punch_timeout_secs\":9,\"stun_refresh_interval_secs\":40,\"max_candidate_pairs\":3,"
	      "\"relay_server\":{\"listen_port\":3478,\"external_addr\":\"1.2.3.4:3478\",\"max_sessions\":7,"
	      "\"max_sessions_per_client\":5,\"auth_credential\":\"cluster-secret\"}}");
	assert_int_equal(mj_nat_from_json(o, &spec, err, sizeof(err)), 0);
	assert_int_equal(ovl_nat_config_resolve(&cfg, &spec), 0);
	assert_true(cfg.enabled);
	assert_int_equal(cfg.n_stun_servers, 1);
	assert_string_equal(cfg.stun_servers[0], "stun.example:3478");
	assert_int_equal(cfg.n_turn_servers, 1);
	assert_string_equal(cfg.turn_servers[0].credential, "p");
	assert_int_equal(cfg.hole_punch_timeout_secs, 9);
	assert_int_equal(cfg.max_candidate_pairs, 3);
	assert_true(cfg.has_relay);
	assert_int_equal(cfg.relay.listen_port, 3478);
	assert_int_equal(cfg.relay.max_sessions, 7);
	assert_int_equal(cfg.relay.max_sessions_per_client, 5);
	assert_string_equal(cfg.relay.auth_credential, "cluster-secret");
	/* And the JSON form round-trips. */
	json_t *back = mj_nat_to_json(&spec);
	assert_true(json_equal(back, o));
	json_decref(back);
	ovl_nat_config_free(&cfg);
	ovl_nat_config_free(&spec);
	json_decref(o);

	/* Relay with max_sessions 0 gets the default. */
	o = J("{\"relay_server\":{\"listen_port\":0,\"external_addr\":\"r.example:3478\",\"max_sessions\":0}}");
	assert_int_equal(mj_nat_from_json(o, &spec, err, sizeof(err)), 0);
	assert_int_equal(ovl_nat_config_resolve(&cfg, &spec), 0);
	assert_int_equal(cfg.relay.max_sessions, NAT_DEFAULT_RELAY_MAX_SESSIONS);
	assert_int_equal(cfg.relay.max_sessions_per_client, 0); /* the relay's default: a quarter */
	ovl_nat_config_free(&cfg);
	ovl_nat_config_free(&spec);
	json_decref(o);

	o = J("{\"stun_servers\":[\"no-port\"]}");
	assert_int_equal(mj_nat_from_json(o, &spec, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "stun_servers[0]"));
	json_decref(o);
}

static void allowed_ips_and_hostport_edges(void **state)
{
	struct ip_prefix *ips;
	size_t n;
	char err[200];
	assert_int_equal(ovl_allowed_ips_parse("   ", &ips, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ovl_allowed_ips_parse(" 10.0.0.1 ,fd00::/64 ", &ips, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ips[0].len, 32); /* a bare address is a host prefix */
	free(ips);
	assert_int_equal(ovl_allowed_ips_parse("10.0.0.0/8,", &ips, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(ovl_allowed_ips_parse(",10.0.0.0/8", &ips, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(ovl_allowed_ips_parse("10.0.0.0/8,,10.1.0.0/16", &ips, &n, err, sizeof(err)), -EINVAL);

	assert_true(ovl_hostport_valid("stun.example:3478"));
	assert_true(ovl_hostport_valid("1.2.3.4:3478"));
	assert_true(ovl_hostport_valid("[fd00::1]:3478"));
	assert_false(ovl_hostport_valid("stun.example"));
	assert_false(ovl_hostport_valid(":3478"));
	assert_false(ovl_hostport_valid("host:0"));
	assert_false(ovl_hostport_valid("host:65536"));
	assert_false(ovl_hostport_valid("host:+5"));
	assert_false(ovl_hostport_valid("ho st:5"));
	assert_false(ovl_hostport_valid("[fd00::1]:0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(peer_spec_parses_endpoint_and_keepalive),
		cmocka_unit_test(peer_spec_endpoint_forms),
		cmocka_unit_test(peer_spec_rejects_bad_input),
		cmocka_unit_test(candidate_round_trip),
		cmocka_unit_test(nat_config_defaults_and_copies),
		cmocka_unit_test(allowed_ips_and_hostport_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
