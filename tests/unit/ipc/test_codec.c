// SPDX-License-Identifier: MIT
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ipc/codec.h"

#define KEY "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="

static enum codec_result dec(const char *req_json, struct ovl_request *q, char *err)
{
	char frame[4096];
	snprintf(frame, sizeof(frame), "{\"frame\":\"request\",\"id\":77,\"request\":%s}", req_json);
	uint64_t id;
	enum codec_result r = codec_decode_request(frame, strlen(frame), &id, q, err, 512);
	if (r != CODEC_BAD_FRAME)
		assert_int_equal(id, 77);
	return r;
}

static void decodes_typed_fields(void **state)
{
	struct ovl_request q;
	char err[512], buf[IP_PREFIX_STRLEN];
	assert_int_equal(dec("{\"op\":\"set_local_node_id\",\"node_id\":9007199254740993}", &q, err), CODEC_OK);
	assert_int_equal(q.op, OVL_OP_SET_LOCAL_NODE_ID);
	assert_true(q.set_local_node_id.node_id == 9007199254740993ULL);

	assert_int_equal(dec("{\"op\":\"setup_global_overlay\",\"deployment\":\"prod\",\"instance_id\":\"0\","
			     "\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.0.0/26\",\"wg_port\":51420,"
			     "\"nat_enabled\":true,\"private_key\":\"" KEY "\",\"nat\":{\"enabled\":true}}",
			     &q, err),
			 CODEC_OK);
	assert_string_equal(q.setup_global.deployment, "prod");
	assert_string_equal(ip_prefix_format(&q.setup_global.slice_cidr, buf, sizeof(buf)), "10.200.0.0/26");
	assert_true(q.setup_global.has_slice_cidr && q.setup_global.has_nat && q.setup_global.nat.enabled);
	assert_true(q.setup_global.has_nat_enabled && q.setup_global.has_private_key);
	assert_int_equal(q.setup_global.wg_port, 51420);
	ovl_request_free(&q);

	assert_int_equal(dec("{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":4242},"
			     "\"service\":\"web\",\"join_global\":true,\"dns_server\":\"10.200.0.1\","
			     "\"dns_domain\":null,\"isolation_network\":\"n1\"}",
			     &q, err),
			 CODEC_OK);
	assert_int_equal(q.attach.handle.platform, OVL_HANDLE_LINUX_PID);
	assert_int_equal(q.attach.handle.pid, 4242);
	assert_true(q.attach.join_global && q.attach.has_dns_server && !q.attach.ephemeral);
	assert_null(q.attach.dns_domain);
	assert_string_equal(q.attach.isolation_network, "n1");
	ovl_request_free(&q);

	assert_int_equal(dec("{\"op\":\"remove_allowed_ip\",\"pubkey\":\"" KEY "\",\"cidr\":\"fd00::/120\","
			     "\"scope\":{\"scope\":\"service\",\"service\":\"db\"}}",
			     &q, err),
			 CODEC_OK);
	assert_string_equal(q.allowed_ip.scope.service, "db");
	ovl_request_free(&q);

	assert_int_equal(dec("{\"op\":\"prune_orphan_bridges\",\"live_bridge_names\":[\"a\",\"b\"]}", &q, err), CODEC_OK);
	assert_int_equal(q.prune.n, 2);
	ovl_request_free(&q);
}

static void rejects_with_field_names(void **state)
{
	struct {
		const char *json, *want;
		enum codec_result res;
	} cases[] = {
		{ "{\"op\":\"frobnicate\"}", "unknown op \"frobnicate\"", CODEC_BAD_REQUEST },
		{ "{\"op\":\"setup_service_overlay\",\"service\":\"web\"}", "missing field `mode`", CODEC_BAD_REQUEST },
		{ "{\"op\":\"setup_service_overlay\",\"service\":\"\",\"mode\":\"shared\"}",
		  "field `service`: must not be empty", CODEC_BAD_REQUEST },
		{ "{\"op\":\"setup_global_overlay\",\"deployment\":\"p\",\"instance_id\":\"0\",\"cluster_cidr\":\"x\"}",
		  "field `cluster_cidr`: invalid CIDR", CODEC_BAD_REQUEST },
		{ "{\"op\":\"setup_global_overlay\",\"deployment\":\"p\",\"instance_id\":\"0\",\"cluster_cidr\":"
		  "\"10.0.0.0/8\",\"wg_port\":70000}",
		  "wg_port", CODEC_BAD_REQUEST },
		{ "{\"op\":\"allocate_ip\",\"service\":\"s\",\"join_global\":\"yes\"}", "join_global", CODEC_BAD_REQUEST },
		{ "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"windows_container\",\"container_id\":\"c\"}}",
		  "not supported on Linux", CODEC_BAD_REQUEST },
		{ "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":0}}", "pid", CODEC_BAD_REQUEST },
		{ "{\"op\":\"remove_peer\",\"pubkey\":\"" KEY "\",\"scope\":{\"scope\":\"service\"}}", "scope",
		  CODEC_BAD_REQUEST },
		{ "[]", "expected an object", CODEC_BAD_REQUEST },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ovl_request q;
		char err[512] = "";
		assert_int_equal(dec(cases[i].json, &q, err), cases[i].res);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
	}
	uint64_t id;
	struct ovl_request q;
	char err[512];
	const char *bad[] = { "{", "[]", "{\"frame\":\"request\"}", "{\"id\":-1}", "\"x\"" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(codec_decode_request(bad[i], strlen(bad[i]), &id, &q, err, sizeof(err)), CODEC_BAD_FRAME);
}

static void encodes_omitting_absent_fields(void **state)
{
	struct ovl_response r = { .result = OVL_RES_STATUS };
	size_t n;
	char *s = codec_encode_response(3, &r, &n);
	assert_string_equal(s, "{\"frame\":\"response\",\"id\":3,\"response\":{\"result\":\"status\",\"peer_count\":0,"
			       "\"service_count\":0}}");
	assert_int_equal(n, strlen(s));
	free(s);

	struct ovl_response so = { .result = OVL_RES_SERVICE_OVERLAY };
	so.service_overlay.name = "zl-prod-0-web-b";
	so.service_overlay.mode = OVL_MODE_AUTO;
	s = codec_encode_response(4, &so, &n);
	assert_non_null(strstr(s, "{\"result\":\"service_overlay\",\"name\":\"zl-prod-0-web-b\",\"mode\":\"auto\"}"));
	free(s);

	struct ovl_response e;
	ovl_response_err(&e, "bad \xc3");
	s = codec_encode_response(5, &e, &n);
	assert_non_null(strstr(s, "\"message\":\"bad ?\""));
	free(s);
	ovl_response_free(&e);

	struct ovl_event ev = { .kind = OVL_EV_PEER_HEALTH_CHANGED, .healthy = false };
	assert_int_equal(key_from_base64(KEY, ev.pubkey), 0);
	s = codec_encode_event(&ev, &n);
	assert_string_equal(s, "{\"frame\":\"event\",\"event\":\"peer_health_changed\",\"pubkey\":\"" KEY
			       "\",\"healthy\":false}");
	free(s);
	ev.kind = OVL_EV_NAT_ENDPOINT_CHANGED;
	assert_int_equal(ip_endpoint_parse("198.51.100.1:40000", &ev.endpoint), 0);
	s = codec_encode_event(&ev, &n);
	assert_non_null(strstr(s, "\"endpoint\":\"198.51.100.1:40000\""));
	free(s);
}

/* The status extensions: a peer's transfer and health, a service's pool use, the attachments. */
static void encodes_status_extensions(void **state)
{
	struct ovl_peer_status peer = { .allowed_ips = "10.200.1.0/26", .last_handshake_unix_secs = 1764467000,
					.rx_bytes = 48213, .tx_bytes = 51020, .has_health = true, .healthy = true };
	assert_int_equal(key_from_base64(KEY, peer.public_key), 0);
	struct ovl_service_status svc = { .service = "web", .mode = OVL_MODE_AUTO, .bridge = "zl-p-0-web-b",
					  .pool_size = 61, .addresses_in_use = 3, .attached = 2 };
	assert_int_equal(ip_prefix_parse("10.200.74.64/26", &svc.subnet), 0);
	struct ovl_attachment_status att[2] = {
		{ .handle = { .platform = OVL_HANDLE_LINUX_PID, .pid = 4242 }, .service = "web", .has_global_ip = true },
		{ .handle = { .platform = OVL_HANDLE_HOST_SHARED, .id = "job-7" } },
	};
	assert_int_equal(ip_addr_parse("10.200.74.66", &att[0].ip), 0);
	assert_int_equal(ip_addr_parse("10.200.0.2", &att[0].global_ip), 0);
	assert_int_equal(ip_addr_parse("10.200.0.3", &att[1].ip), 0);
	struct ovl_response r = { .result = OVL_RES_STATUS };
	r.status.peers = &peer;
	r.status.n_peers = 1;
	r.status.services = &svc;
	r.status.n_services = 1;
	r.status.attachments = att;
	r.status.n_attachments = 2;
	size_t n;
	char *s = codec_encode_response(6, &r, &n);
	assert_non_null(strstr(s, "\"allowed_ips\":\"10.200.1.0/26\",\"last_handshake_unix_secs\":1764467000,"
				  "\"rx_bytes\":48213,\"tx_bytes\":51020,\"healthy\":true}"));
	assert_non_null(strstr(s, "{\"service\":\"web\",\"mode\":\"auto\",\"bridge\":\"zl-p-0-web-b\","
				  "\"subnet\":\"10.200.74.64/26\",\"pool_size\":61,\"addresses_in_use\":3,\"attached\":2}"));
	assert_non_null(strstr(s, "\"attachments\":[{\"handle\":{\"platform\":\"linux_pid\",\"pid\":4242},"
				  "\"service\":\"web\",\"ip\":\"10.200.74.66\",\"global_ip\":\"10.200.0.2\"},"
				  "{\"handle\":{\"platform\":\"host_shared\",\"id\":\"job-7\"},\"ip\":\"10.200.0.3\"}]"));
	free(s);
	/* A peer the health job has not judged yet: no verdict rather than a false one. */
	peer.has_health = false;
	s = codec_encode_response(7, &r, &n);
	assert_non_null(strstr(s, "\"rx_bytes\":48213,\"tx_bytes\":51020}"));
	assert_null(strstr(s, "healthy"));
	free(s);
}

/*
 * The attachment list's text is kept per list version (ipc/attachments.h):
 * the same version is answered from it, a new one is encoded again, and a
 * list without a version (0) is never kept. Where the text goes is found by
 * its key even when a name holds the same characters.
 */
static void status_attachments_are_reused_by_version(void **state)
{
	struct ovl_attachment_status att[2] = {
		{ .handle = { .platform = OVL_HANDLE_LINUX_PID, .pid = 11 }, .service = "\"attachments\":null" },
		{ .handle = { .platform = OVL_HANDLE_LINUX_PID, .pid = 12 }, .service = "web" },
	};
	struct ovl_service_status svc = { .service = "\"attachments\":null", .bridge = "b" };
	struct ovl_response r = { .result = OVL_RES_STATUS };
	size_t n;
	char *s;

	assert_int_equal(ip_addr_parse("10.1.0.11", &att[0].ip), 0);
	assert_int_equal(ip_addr_parse("10.1.0.12", &att[1].ip), 0);
	r.status.services = &svc;
	r.status.n_services = 1;
	r.status.attachments = att;
	r.status.n_attachments = 1;
	r.status.attachments_version = 1001;
	s = codec_encode_response(1, &r, &n);
	assert_int_equal(n, strlen(s));
	assert_non_null(strstr(s, "\"service_count\":0,\"services\":[{\"service\":\"\\\"attachments\\\":null\""));
	assert_non_null(strstr(s, "\"attachments\":[{\"handle\":{\"platform\":\"linux_pid\",\"pid\":11},"
				  "\"service\":\"\\\"attachments\\\":null\",\"ip\":\"10.1.0.11\"}]}}"));
	json_error_t jerr;
	json_t *o = json_loads(s, 0, &jerr);
	assert_non_null(o);
	assert_int_equal(json_array_size(json_object_get(json_object_get(o, "response"), "attachments")), 1);
	json_decref(o);
	free(s);

	/* The same version: the text kept (the engine never changes a list without a new version). */
	r.status.n_attachments = 2;
	s = codec_encode_response(2, &r, &n);
	assert_null(strstr(s, "\"pid\":12"));
	free(s);
	/* A new version: encoded again. */
	r.status.attachments_version = 1002;
	s = codec_encode_response(3, &r, &n);
	assert_non_null(strstr(s, "\"pid\":12"));
	free(s);
	/* No version: encoded every time, and not kept. */
	r.status.attachments_version = 0;
	r.status.n_attachments = 1;
	s = codec_encode_response(4, &r, &n);
	assert_null(strstr(s, "\"pid\":12"));
	free(s);
	r.status.attachments_version = 1002;
	s = codec_encode_response(5, &r, &n);
	assert_null(strstr(s, "\"pid\":12"));
	free(s);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decodes_typed_fields),
		cmocka_unit_test(rejects_with_field_names),
		cmocka_unit_test(encodes_omitting_absent_fields),
		cmocka_unit_test(encodes_status_extensions),
		cmocka_unit_test(status_attachments_are_reused_by_version),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
