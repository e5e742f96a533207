// SPDX-License-Identifier: MIT
/* Node records (cluster/record.c): round trip, and refusal of anything malformed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/record.h"

#define ID "0123456789abcdef0123456789abcdef"
#define KEY "PH4mzkUBa1rlrusJa795lCJxjIRSX0z7ppTM9Bilw10="

static void test_round_trip(void **state)
{
	struct cluster_record r = { .id = ID };
	assert_int_equal(key_from_base64(KEY, r.public_key), 0);
	assert_int_equal(ip_endpoint_parse("192.0.2.10:51420", &r.endpoint), 0);
	assert_int_equal(ip_prefix_parse("10.200.3.0/26", &r.slice), 0);
	struct ovl_candidate cand = { .type = OVL_CAND_SERVER_REFLEXIVE, .priority = 7 };
	assert_int_equal(ip_endpoint_parse("198.51.100.1:4000", &cand.address), 0);
	struct cluster_subnet svc = { .service = "web", .mode = OVL_MODE_AUTO };
	assert_int_equal(ip_prefix_parse("10.200.9.64/26", &svc.subnet), 0);
	struct cluster_dedicated ded = { .service = "db", .port = 51421 };
	assert_int_equal(key_from_base64(KEY, ded.public_key), 0);
	assert_int_equal(ip_prefix_parse("10.200.10.0/26", &ded.subnet), 0);
	r.candidates = &cand;
	r.n_candidates = 1;
	r.services = &svc;
	r.n_services = 1;
	r.dedicated = &ded;
	r.n_dedicated = 1;
	char *json = cluster_record_encode(&r);
	assert_non_null(json);
	struct cluster_record d;
	char err[256];
	assert_int_equal(cluster_record_decode(json, &d, err, sizeof(err)), 0);
	assert_string_equal(d.id, ID);
	assert_memory_equal(d.public_key, r.public_key, WG_KEY_LEN);
	assert_true(ip_addr_equal(&d.endpoint.addr, &r.endpoint.addr));
	assert_int_equal(d.endpoint.port, 51420);
	assert_true(ip_prefix_equal(&d.slice, &r.slice));
	assert_int_equal(d.n_candidates, 1);
	assert_int_equal(d.candidates[0].type, OVL_CAND_SERVER_REFLEXIVE);
	assert_int_equal(d.candidates[0].priority, 7);
	assert_int_equal(d.n_services, 1);
	assert_string_equal(d.services[0].service, "web");
	assert_true(ip_prefix_equal(&d.services[0].subnet, &svc.subnet));
	assert_int_equal(d.n_dedicated, 1);
	assert_string_equal(d.dedicated[0].service, "db");
	assert_int_equal(d.dedicated[0].port, 51421);
	/* Encoding is stable: the publisher compares texts to skip needless writes. */
	char *again = cluster_record_encode(&d);
	assert_string_equal(again, json);
	free(again);
	free(json);
	cluster_record_free(&d);
}

static void refused(const char *json, const char *why)
{
	struct cluster_record d;
	char err[256] = "";
	assert_int_equal(cluster_record_decode(json, &d, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why))
		fail_msg("%s: message \"%s\" lacks \"%s\"", json, err, why);
	assert_int_equal(d.n_services + d.n_dedicated + d.n_candidates, 0);
}

#define BASE "\"id\":\"" ID "\",\"public_key\":\"" KEY "\",\"endpoint\":\"192.0.2.10:51420\",\"slice\":\"10.200.3.0/26\""

static void test_malformed_records_refused(void **state)
{
	refused("not json", "not JSON");
	refused("[]", "not a JSON object");
	refused("{\"id\":\"XYZ\"}", "id");
	refused("{\"id\":\"" ID "\",\"public_key\":\"short\",\"endpoint\":\"192.0.2.10:1\",\"slice\":\"10.0.0.0/26\"}",
		"public_key");
	refused("{\"id\":\"" ID "\",\"public_key\":\"" KEY "\",\"endpoint\":\"192.0.2.10\",\"slice\":\"10.0.0.0/26\"}",
		"endpoint");
	refused("{\"id\":\"" ID "\",\"public_key\":\"" KEY "\",\"endpoint\":\"192.0.2.10:1\",\"slice\":\"10.0.0.1/26\"}",
		"slice");
	refused("{" BASE ",\"services\":[{\"service\":\"web\",\"mode\":\"fast\",\"subnet\":\"10.1.0.0/26\"}]}", "mode");
	refused("{" BASE ",\"services\":[{\"mode\":\"auto\",\"subnet\":\"10.1.0.0/26\"}]}", "service");
	refused("{" BASE ",\"services\":{}}", "services");
	refused("{" BASE ",\"dedicated\":[{\"service\":\"db\",\"public_key\":\"" KEY
		"\",\"port\":0,\"subnet\":\"10.1.0.0/26\"}]}",
		"port");
	refused("{" BASE ",\"candidates\":[{\"type\":\"host\",\"address\":\"1.2.3.4:5\",\"priority\":-1}]}", "candidate");
	refused("{" BASE ",\"id\":\"" ID "\"}", "not JSON"); /* duplicate member */
	/* More than CLUSTER_MAX_LIST entries. */
	size_t cap = 64 + (CLUSTER_MAX_LIST + 1) * 64;
	char *big = malloc(cap), *p = big;
	p += sprintf(p, "{" BASE ",\"services\":[");
	for (int i = 0; i <= CLUSTER_MAX_LIST; i++)
		p += sprintf(p, "%s{\"service\":\"s%d\",\"mode\":\"auto\",\"subnet\":\"10.1.0.0/26\"}", i ? "," : "", i);
	sprintf(p, "]}");
	refused(big, "at most");
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed_records_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
