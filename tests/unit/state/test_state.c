// SPDX-License-Identifier: MIT
/*
 * The state file: round trip, atomic 0600 write, unknown keys kept, corrupt
 * files refused; the typed data-plane section: round trip, the migration of
 * the older layout (the record among the unknown keys, each service listed
 * twice), malformed records refused with an error naming the entry.
 */
#include <errno.h>
#include <jansson.h>
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

/* ---- the typed data-plane section ---- */

static json_t *read_json(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	assert_non_null(j);
	return j;
}

static struct ip_addr ip(const char *s)
{
	struct ip_addr a;
	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static struct state_bridge bridge(const char *name, const char *subnet, const char *first)
{
	struct state_bridge b = { 0 };
	snprintf(b.name, sizeof(b.name), "%s", name);
	assert_int_equal(ip_prefix_parse(subnet, &b.subnet), 0);
	b.allocated = calloc(1, sizeof(*b.allocated));
	b.allocated[0] = ip(first);
	b.n_allocated = 1;
	return b;
}

static void fill(struct state_dataplane *dp)
{
	char err[200];
	dp->up = dp->has_device = true;
	strcpy(dp->interface, "zl-prod-0-g");
	dp->has_firewall = true;
	strcpy(dp->firewall_table, "prod_0");
	dp->has_shared = true;
	dp->shared = bridge("zl-prod-0-sh-b", "10.200.8.0/26", "10.200.8.2");
	dp->has_ip_forward = true;
	strcpy(dp->ip_forward_path, "/proc/sys/net/ipv4/ip_forward");
	strcpy(dp->ip_forward_old, "0");
	dp->has_unmanaged = true;
	strcpy(dp->networkd_file, "/run/systemd/network/10-zl.network");
	dp->ipv6_forwarding = calloc(1, sizeof(*dp->ipv6_forwarding));
	strcpy(dp->ipv6_forwarding[0], "zl-prod-0-g");
	dp->n_ipv6_forwarding = 1;
	dp->identities = calloc(1, sizeof(*dp->identities));
	dp->identities[0] = (struct state_dp_identity){ .service = strdup("db"), .port = 51421 };
	assert_int_equal(key_from_base64(KEY, dp->identities[0].private_key), 0);
	dp->n_identities = 1;
	dp->services = calloc(3, sizeof(*dp->services));
	dp->services[0] = (struct state_dp_service){ .name = strdup("web"), .mode = OVL_MODE_AUTO,
						     .bridge = bridge("zl-prod-0-web-b", "10.200.74.64/26", "10.200.74.66") };
	dp->services[1] = (struct state_dp_service){ .name = strdup("sh"), .mode = OVL_MODE_SHARED, .on_shared = true };
	struct state_dp_service *db = &dp->services[2];
	*db = (struct state_dp_service){ .name = strdup("db"), .mode = OVL_MODE_DEDICATED, .dedicated = true,
					 .dev_port = 51421,
					 .bridge = bridge("zl-prod-0-db-b", "10.200.9.0/26", "10.200.9.5") };
	strcpy(db->dev_name, "zl-prod-0-db-d");
	assert_int_equal(key_from_base64(KEY, db->dev_private), 0);
	db->peers = calloc(1, sizeof(*db->peers));
	db->n_peers = 1;
	memset(db->peers[0].public_key, 7, WG_KEY_LEN);
	db->peers[0].endpoint.addr.family = AF_INET;
	assert_int_equal(ovl_allowed_ips_parse("10.200.33.0/26", &db->peers[0].allowed_ips, &db->peers[0].n_allowed_ips,
					       err, sizeof(err)), 0);
	dp->n_services = 3;
	dp->attaches = calloc(1, sizeof(*dp->attaches));
	dp->attaches[0] = (struct state_dp_attach){ .pid = 4242, .service = strdup("web"), .ip = ip("10.200.74.66"),
						    .has_global = true, .global_ip = ip("10.200.0.2"), .ephemeral = true,
						    .isolation = strdup("red") };
	dp->n_attaches = 1;
	dp->guests = calloc(1, sizeof(*dp->guests));
	dp->guests[0] = (struct state_dp_guest){ .id = strdup("vm1"), .ip = ip("10.200.0.3"), .host_shared = true,
						  .isolation = strdup("blue") };
	memset(dp->guests[0].public_key, 9, WG_KEY_LEN);
	dp->n_guests = 1;
}

static void typed_section_round_trip(void **state)
{
	struct fixture *f = *state;
	struct ovl_state st, back;
	char err[300];
	assert_int_equal(state_init(&st), 0);
	fill(&st.dataplane);
	assert_int_equal(state_save(f->path, &st, err, sizeof(err)), 0);
	assert_int_equal(state_load(f->path, &back, err, sizeof(err)), 0);
	const struct state_dataplane *d = &back.dataplane;
	assert_true(d->up && d->has_device && d->has_firewall && d->has_shared && d->has_ip_forward && d->has_unmanaged);
	assert_string_equal(d->interface, "zl-prod-0-g");
	assert_string_equal(d->firewall_table, "prod_0");
	assert_string_equal(d->shared.name, "zl-prod-0-sh-b");
	assert_int_equal(d->shared.n_allocated, 1);
	assert_string_equal(d->ip_forward_old, "0");
	assert_string_equal(d->networkd_file, "/run/systemd/network/10-zl.network");
	assert_int_equal(d->n_ipv6_forwarding, 1);
	assert_int_equal(d->n_identities, 1);
	assert_memory_equal(d->identities[0].private_key, st.dataplane.identities[0].private_key, WG_KEY_LEN);
	assert_int_equal(d->n_services, 3);
	assert_string_equal(d->services[0].bridge.name, "zl-prod-0-web-b");
	struct ip_addr a = ip("10.200.74.66");
	assert_true(ip_addr_equal(&d->services[0].bridge.allocated[0], &a));
	assert_true(d->services[1].on_shared && d->services[1].mode == OVL_MODE_SHARED);
	assert_true(d->services[2].dedicated);
	assert_int_equal(d->services[2].dev_port, 51421);
	assert_int_equal(d->services[2].n_peers, 1);
	assert_int_equal(d->n_attaches, 1);
	assert_int_equal(d->attaches[0].pid, 4242);
	assert_true(d->attaches[0].has_global && d->attaches[0].ephemeral);
	assert_string_equal(d->attaches[0].isolation, "red");
	assert_int_equal(d->n_guests, 1);
	assert_true(d->guests[0].host_shared);
	assert_string_equal(d->guests[0].isolation, "blue");
	assert_null(d->guests[0].service);
	/* One record per service: no second list, and the record is not an unknown key. */
	json_t *j = read_json(f->path);
	assert_null(json_object_get(j, "services"));
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "dataplane"), "services")), 3);
	assert_null(json_object_get(back.unknown, "dataplane"));
	json_decref(j);
	/* An empty data plane leaves the section out. */
	state_dataplane_free(&back.dataplane);
	assert_int_equal(state_save(f->path, &back, err, sizeof(err)), 0);
	j = read_json(f->path);
	assert_null(json_object_get(j, "dataplane"));
	json_decref(j);
	state_free(&back);
	state_free(&st);
}

/* What a build before the typed section wrote (the record's shape is unchanged). */
static const char old_layout[] =
	"{\"version\":1,\"node_id\":3,\"allocator\":{\"cidr\":\"10.200.0.0/26\",\"allocated\":[\"10.200.0.2\"]},"
	"\"services\":[{\"service\":\"web\",\"mode\":\"auto\"}],\"future_key\":{\"kept\":true},"
	"\"dataplane\":{\"up\":true,\"has_device\":true,\"interface\":\"zl-t-0-g\",\"services\":[{\"name\":\"web\","
	"\"mode\":\"auto\",\"on_shared\":false,\"bridge\":{\"name\":\"zl-t-0-web-b\",\"subnet\":\"10.200.64.0/26\","
	"\"allocated\":[\"10.200.64.2\"]}}],\"dedicated_identities\":[],\"attachments\":[{\"pid\":77,\"service\":"
	"\"web\",\"ip\":\"10.200.64.2\",\"ephemeral\":false,\"global_ip\":\"10.200.0.2\"}],\"guests\":[],"
	"\"ipv6_forwarding\":[],\"ip_forward\":{\"path\":\"/proc/sys/net/ipv4/ip_forward\",\"old\":\"1\"}}}";

static void old_layout_is_migrated(void **state)
{
	struct fixture *f = *state;
	struct ovl_state st, back;
	char err[300];
	write_file(f->path, old_layout);
	assert_int_equal(state_load(f->path, &st, err, sizeof(err)), 0);
	assert_true(st.dataplane.up);
	assert_string_equal(st.dataplane.interface, "zl-t-0-g");
	assert_int_equal(st.dataplane.n_services, 1);
	assert_string_equal(st.dataplane.services[0].name, "web");
	assert_int_equal(st.dataplane.n_attaches, 1);
	assert_int_equal(st.dataplane.attaches[0].pid, 77);
	assert_true(st.dataplane.attaches[0].has_global);
	assert_true(st.dataplane.has_ip_forward);
	/* The record left the unknown-keys bucket; the genuinely unknown key stayed. */
	assert_null(json_object_get(st.unknown, "dataplane"));
	assert_null(json_object_get(st.unknown, "services"));
	assert_non_null(json_object_get(st.unknown, "future_key"));
	assert_int_equal(state_save(f->path, &st, err, sizeof(err)), 0);
	json_t *j = read_json(f->path);
	assert_null(json_object_get(j, "services")); /* the duplicate list is gone */
	assert_true(json_is_true(json_object_get(json_object_get(j, "future_key"), "kept")));
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "dataplane"), "attachments")), 1);
	json_decref(j);
	assert_int_equal(state_load(f->path, &back, err, sizeof(err)), 0);
	assert_int_equal(back.dataplane.n_services, 1);
	assert_string_equal(back.dataplane.services[0].bridge.name, "zl-t-0-web-b");
	state_free(&back);
	state_free(&st);
}

static void malformed_records_are_refused(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *record, *names;
	} bad[] = {
		{ "[]", "`dataplane`" },
		{ "{\"up\":\"yes\"}", "`dataplane`" },
		{ "{\"services\":{}}", "`dataplane.services`" },
		{ "{\"services\":[{\"name\":\"web\",\"mode\":\"turbo\"}]}", "`dataplane.services[0]`" },
		{ "{\"services\":[{\"name\":\"web\",\"mode\":\"auto\"}]}", "`dataplane.services[0]`" }, /* no bridge */
		{ "{\"services\":[{\"name\":\"w\",\"mode\":\"auto\",\"bridge\":{\"name\":\"b\",\"subnet\":\"10.1.0.0/24\","
		  "\"allocated\":[\"10.2.0.1\"]}}]}", "`dataplane.services[0]`" },
		{ "{\"attachments\":[{\"pid\":0,\"service\":\"web\",\"ip\":\"10.0.0.1\"}]}", "`dataplane.attachments[0]`" },
		{ "{\"attachments\":[7]}", "`dataplane.attachments[0]`" },
		{ "{\"guests\":[{\"id\":\"g\",\"ip\":\"10.0.0.1\",\"public_key\":\"short\"}]}", "`dataplane.guests[0]`" },
		{ "{\"ipv6_forwarding\":[7]}", "`dataplane.ipv6_forwarding[0]`" },
		{ "{\"ip_forward\":{\"path\":\"/x\"}}", "`dataplane.ip_forward`" },
		{ "{\"interface\":\"a-name-longer-than-ifnamsiz\"}", "`dataplane`" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[1024], err[400] = "";
		snprintf(text, sizeof(text), "{\"version\":1,\"dataplane\":%s}", bad[i].record);
		write_file(f->path, text);
		struct ovl_state st;
		assert_int_equal(state_load(f->path, &st, err, sizeof(err)), -EBADMSG);
		if (!strstr(err, bad[i].names) || !strstr(err, "malformed"))
			fail_msg("case %zu: error \"%s\" does not name %s as malformed", i, err, bad[i].names);
		state_free(&st);
		/* Nothing changed: the file is as written. */
		FILE *fp = fopen(f->path, "r");
		char back[1024] = "";
		assert_non_null(fp);
		assert_true(fread(back, 1, sizeof(back) - 1, fp) > 0);
		fclose(fp);
		assert_string_equal(back, text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(missing_file_is_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_keys_are_preserved, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt_files_are_refused_and_quarantined, setup, teardown),
		cmocka_unit_test_setup_teardown(typed_section_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(old_layout_is_migrated, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_records_are_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
