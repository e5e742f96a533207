// SPDX-License-Identifier: MIT
/*
 * The data plane's record in state.json: what one run writes, the next reads
 * back exactly (services and their pools, dedicated identities and peers,
 * attachments, guests, host parameters), and a malformed record is refused.
 * Pure: the records are built and read without touching the kernel.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/dp.h"
#include "wg/wg.h"

static struct engine *bare_engine(void)
{
	struct engine *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(state_init(&e->st), 0);
	e->dp = calloc(1, sizeof(*e->dp));
	assert_non_null(e->dp);
	return e;
}

static void bare_free(struct engine *e)
{
	e->dp->up = false;
	/* dp_close frees the lists (there are no live devices in these records). */
	pthread_mutex_init(&e->dp->health_lock, NULL);
	pthread_cond_init(&e->dp->health_cond, NULL);
	dp_close(e);
	state_free(&e->st);
	free(e);
}

static struct ip_addr ip(const char *s)
{
	struct ip_addr a;
	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static void round_trip(void **state)
{
	struct engine *a = bare_engine();
	struct dp *dp = a->dp;
	struct ip_prefix subnet;
	char err[300];
	dp->up = dp->has_device = true;
	strcpy(dp->gname, "zl-prod-0-g");
	dp->services = calloc(2, sizeof(*dp->services));
	struct dp_service *web = &dp->services[0], *db = &dp->services[1];
	dp->n_services = 2;
	web->name = strdup("web");
	web->mode = OVL_MODE_AUTO;
	assert_int_equal(ip_prefix_parse("10.200.74.64/26", &subnet), 0);
	strcpy(web->bridge.name, "zl-prod-0-web-b");
	web->bridge.subnet = subnet;
	assert_int_equal(ipam_slice_init(&web->bridge.pool, &subnet), 0);
	struct ip_addr got;
	assert_int_equal(ipam_slice_alloc(&web->bridge.pool, &got), 0); /* .66: a container */
	assert_int_equal(ipam_slice_alloc(&web->bridge.pool, &got), 0); /* .67: allocate_ip */
	db->name = strdup("db");
	db->mode = OVL_MODE_DEDICATED;
	db->dedicated = true;
	strcpy(db->dev_name, "zl-prod-0-db-d");
	db->dev_port = 51421;
	assert_int_equal(wg_keypair_generate(db->dev_private, db->dev_public), 0);
	assert_int_equal(ip_prefix_parse("10.200.9.0/26", &subnet), 0);
	strcpy(db->bridge.name, "zl-prod-0-db-b");
	db->bridge.subnet = subnet;
	assert_int_equal(ipam_slice_init(&db->bridge.pool, &subnet), 0);
	db->peers = calloc(1, sizeof(*db->peers));
	db->n_peers = 1;
	memset(db->peers[0].public_key, 7, WG_KEY_LEN);
	db->peers[0].endpoint.addr.family = AF_INET; /* 0.0.0.0:0, as the codec makes it */
	assert_int_equal(ovl_allowed_ips_parse("10.200.33.0/26", &db->peers[0].allowed_ips,
					       &db->peers[0].n_allowed_ips, err, sizeof(err)), 0);
	dp->attaches = calloc(1, sizeof(*dp->attaches));
	dp->n_attaches = 1;
	dp->attaches[0] = (struct state_dp_attach){ .pid = 4242, .service = strdup("web"), .ip = ip("10.200.74.66"),
					      .has_global = true, .global_ip = ip("10.200.0.2"), .ephemeral = true,
					      .isolation = strdup("red") };
	dp->guests = calloc(1, sizeof(*dp->guests));
	dp->n_guests = 1;
	dp->guests[0] = (struct state_dp_guest){ .id = strdup("vm1"), .ip = ip("10.200.0.3"), .host_shared = false };
	memset(dp->guests[0].public_key, 9, WG_KEY_LEN);
	dp->identities = calloc(1, sizeof(*dp->identities));
	dp->n_identities = 1;
	dp->identities[0] = (struct state_dp_identity){ .service = strdup("db"), .port = 51421 };
	memcpy(dp->identities[0].private_key, db->dev_private, WG_KEY_LEN);
	strcpy(dp->ip_forward.path, "/proc/sys/net/ipv4/ip_forward");
	strcpy(dp->ip_forward.old_value, "0");
	dp->ip_forward.saved = true;
	assert_int_equal(dp_record_store(a), 0);

	/* Through the state's JSON form, as a save and a load would carry it. */
	json_t *saved = state_dataplane_to_json(&a->st.dataplane);
	assert_non_null(saved);
	struct engine *b = bare_engine();
	assert_int_equal(state_dataplane_from_json(saved, &b->st.dataplane, err, sizeof(err)), 0);
	if (dp_record_load(b, err, sizeof(err)) < 0) {
		char *dump = json_dumps(saved, 0);
		fail_msg("%s\n%s", err, dump);
	}
	json_decref(saved);
	struct dp *r = b->dp;
	assert_true(r->up && r->has_device);
	assert_string_equal(r->gname, "zl-prod-0-g");
	assert_int_equal(r->n_services, 2);
	struct dp_service *w2 = dp_find_service(r, "web"), *d2 = dp_find_service(r, "db");
	assert_non_null(w2);
	assert_non_null(d2);
	assert_string_equal(w2->bridge.name, "zl-prod-0-web-b");
	assert_int_equal(ipam_slice_count(&w2->bridge.pool), 2); /* both allocations came back */
	assert_true(ipam_slice_is_allocated(&w2->bridge.pool, &got));
	struct ip_addr gw = ip("10.200.74.65");
	assert_true(ip_addr_equal(&w2->bridge.gateway, &gw));
	assert_true(d2->dedicated);
	assert_int_equal(d2->dev_port, 51421);
	assert_memory_equal(d2->dev_private, db->dev_private, WG_KEY_LEN);
	assert_memory_equal(d2->dev_public, db->dev_public, WG_KEY_LEN);
	assert_int_equal(d2->n_peers, 1);
	assert_int_equal(d2->peers[0].n_allowed_ips, 1);
	struct state_dp_attach *at = dp_find_attach(r, 4242);
	assert_non_null(at);
	assert_true(at->has_global && at->ephemeral);
	assert_string_equal(at->isolation, "red");
	struct state_dp_guest *g = dp_find_guest(r, "vm1", false);
	assert_non_null(g);
	assert_null(dp_find_guest(r, "vm1", true));
	assert_int_equal(r->n_identities, 1);
	assert_string_equal(r->identities[0].service, "db");
	assert_int_equal(r->identities[0].port, 51421);
	assert_memory_equal(r->identities[0].private_key, db->dev_private, WG_KEY_LEN);
	assert_true(r->ip_forward.saved);
	assert_string_equal(r->ip_forward.old_value, "0");
	bare_free(a);
	bare_free(b);
}

static void malformed_record_is_refused(void **state)
{
	static const char *const bad[] = {
		"{\"services\":[{\"name\":\"web\",\"mode\":\"turbo\"}]}",
		"{\"services\":[{\"name\":\"web\",\"mode\":\"auto\",\"bridge\":{\"name\":\"b\",\"subnet\":\"nope\"}}]}",
		"{\"attachments\":[{\"pid\":-1,\"service\":\"web\",\"ip\":\"10.0.0.1\"}]}",
		"{\"guests\":[{\"id\":\"g\",\"ip\":\"10.0.0.1\",\"public_key\":\"short\"}]}",
		"{\"ipv6_forwarding\":[7]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct engine *e = bare_engine();
		json_error_t je;
		json_t *rec = json_loads(bad[i], 0, &je);
		assert_non_null(rec);
		char err[300] = "";
		assert_int_equal(state_dataplane_from_json(rec, &e->st.dataplane, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "malformed"));
		json_decref(rec);
		bare_free(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(malformed_record_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
