// SPDX-License-Identifier: MIT
/* The state file: round trip, atomic 0600 write, unknown keys kept, corrupt files refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "state/model_json.h"
#include "state/state.h"

#define KEY "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/ovl-state-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state.json", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int r = system(cmd);
	free(f);
	return r == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void missing_file_is_fresh(void **state)
{
	struct fixture *f = *state;
	struct ovl_state st;
	char err[300];
	assert_int_equal(state_load(f->path, &st, err, sizeof(err)), 1);
	assert_int_equal(st.node_id, 0);
	assert_int_equal(ipam_slice_count(&st.slice), 0);
	state_free(&st);
}

static void round_trip(void **state)
{
	struct fixture *f = *state;
	struct ovl_state st, back;
	char err[300];
	assert_int_equal(state_init(&st), 0);
	st.node_id = 42;
	st.has_local_wg_pubkey = true;
	assert_int_equal(key_from_base64(KEY, st.local_wg_pubkey), 0);
	struct ip_addr ip, a1, a2;
	assert_int_equal(ipam_slice_alloc(&st.slice, &a1), 0);
	assert_int_equal(ipam_slice_alloc(&st.slice, &a2), 0);
	assert_true(ipam_slice_release(&st.slice, &a1));
	assert_int_equal(ip_addr_parse("10.200.0.9", &ip), 0);
	assert_int_equal(state_put_dns(&st, "web.overlay.", &ip), 0);
	assert_int_equal(state_set_dns_zone(&st, "bench.local"), 0);
	st.dataplane.services = calloc(1, sizeof(*st.dataplane.services));
	assert_non_null(st.dataplane.services);
	st.dataplane.n_services = 1;
	st.dataplane.services[0] = (struct state_dp_service){ .name = strdup("web"), .mode = OVL_MODE_DEDICATED,
							      .on_shared = true };
	json_t *pj = json_pack("{s:s,s:s,s:s,s:i,s:[{s:s,s:s,s:i}]}", "public_key", KEY, "endpoint",
			       "[fd00::1]:51420", "allowed_ips", "10.200.1.0/26", "persistent_keepalive_secs", 25,
			       "candidates", "candidate_type", "host", "address", "192.168.1.5:51820", "priority", 100);
	struct ovl_peer_spec p;
	assert_int_equal(mj_peer_from_json(pj, &p, err, sizeof(err)), 0);
	json_decref(pj);
	assert_int_equal(state_put_peer(&st, &p), 0);
	ovl_peer_spec_free(&p);
	struct ip_prefix cluster;
	assert_int_equal(ip_prefix_parse("10.200.0.0/16", &cluster), 0);
	assert_int_equal(ipam_subnets_init(&st.subnets, &cluster, err, sizeof(err)), 0);
	st.has_subnets = true;
	struct ip_prefix sub;
	assert_int_equal(ipam_subnets_assign(&st.subnets, "web", 42, &sub, err, sizeof(err)), 0);

	assert_int_equal(state_save(f->path, &st, err, sizeof(err)), 0);
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_int_equal(state_load(f->path, &back, err, sizeof(err)), 0);
	assert_int_equal(back.node_id, 42);
	assert_true(back.has_local_wg_pubkey);
	assert_memory_equal(back.local_wg_pubkey, st.local_wg_pubkey, WG_KEY_LEN);
	assert_int_equal(ipam_slice_count(&back.slice), 1);
	assert_true(ipam_slice_is_allocated(&back.slice, &a2));
	assert_false(ipam_slice_is_allocated(&back.slice, &a1));
	assert_int_equal(back.n_dns, 1);
	assert_true(ip_addr_equal(&state_find_dns(&back, "web.overlay.")->ip, &ip));
	assert_string_equal(back.dns_zone, "bench.local");
	assert_int_equal(back.dataplane.n_services, 1);
	assert_string_equal(back.dataplane.services[0].name, "web");
	assert_int_equal(back.dataplane.services[0].mode, OVL_MODE_DEDICATED);
	assert_int_equal(back.n_peers, 1);
	assert_int_equal(back.peers[0].n_candidates, 1);
	assert_int_equal(back.peers[0].persistent_keepalive_secs, 25);
	assert_true(back.has_subnets);
	const struct ipam_subnet *again = ipam_subnets_find(&back.subnets, "web", 42);
	assert_non_null(again);
	assert_true(ip_prefix_equal(&again->subnet, &sub));
	state_free(&back);
	state_free(&st);
}

static void unknown_keys_are_preserved(void **state)
{
	struct fixture *f = *state;
	struct ovl_state st;
	char err[300];
	write_file(f->path, "{\"version\":1,\"node_id\":7,\"created_links\":[\"zl-x-b\"],\"future\":{\"a\":1}}");
	assert_int_equal(state_load(f->path, &st, err, sizeof(err)), 0);
	assert_int_equal(st.node_id, 7);
	st.node_id = 8;
	assert_int_equal(state_save(f->path, &st, err, sizeof(err)), 0);
	state_free(&st);
	json_error_t je;
	json_t *root = json_load_file(f->path, 0, &je);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "node_id")), 8);
	assert_string_equal(json_string_value(json_array_get(json_object_get(root, "created_links"), 0)), "zl-x-b");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "future"), "a")), 1);
	json_decref(root);
}

static void corrupt_files_are_refused_and_quarantined(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {
		"{\"version\":1,\"node_id\":",	  /* truncated */
		"[]",				  /* not an object */
		"{\"node_id\":1}",		  /* no version */
		"{\"version\":2}",		  /* newer format */
		"{\"version\":1,\"node_id\":\"x\"}", /* mistyped */
		"{\"version\":1,\"allocator\":{\"cidr\":\"10.0.0.0/24\",\"allocated\":[\"10.0.0.1\"]}}",
		"{\"version\":1,\"global_peers\":[{\"public_key\":\"bad\"}]}",
		"{\"version\":1,\"version\":1}", /* duplicate key */
		"{\"version\":1,\"dns_zone\":7}",	 /* mistyped zone */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ovl_state st;
		char err[300] = "";
		write_file(f->path, bad[i]);
		assert_int_equal(state_load(f->path, &st, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, f->path));
		state_free(&st);
	}
	char moved[256];
	assert_int_equal(state_quarantine(f->path, moved, sizeof(moved)), 0);
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(access(moved, F_OK), 0);
	assert_non_null(strstr(moved, "state.json.corrupt-"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(missing_file_is_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_keys_are_preserved, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt_files_are_refused_and_quarantined, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
