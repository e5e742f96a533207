// SPDX-License-Identifier: MIT
/* The engine called directly from C (no JSON), including the seed's server unit cases. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/counters.h"
#include "engine/engine.h"
#include "engine/worker.h"
#include "metrics/metrics.h"
#include "state/state.h"

#define KEY "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="

struct fx {
	char dir[64];
	struct engine *e;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/ovl-engine-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	char err[512];
	struct engine_config cfg = { .data_dir = f->dir };
	if (engine_open(&cfg, &f->e, err, sizeof(err)) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	engine_close(f->e);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int r = system(cmd);
	free(f);
	return r == 0 ? 0 : -1;
}

static void handle(struct engine *e, const struct ovl_request *q, struct ovl_response *r)
{
	engine_handle(e, q, r);
}

static struct ovl_peer_spec peer(const char *endpoint, const char *allowed)
{
	struct ovl_peer_spec p = { 0 };
	char err[200];
	assert_int_equal(key_from_base64(KEY, p.public_key), 0);
	assert_int_equal(ip_endpoint_parse(endpoint, &p.endpoint), 0);
	assert_int_equal(ovl_allowed_ips_parse(allowed, &p.allowed_ips, &p.n_allowed_ips, err, sizeof(err)), 0);
	return p;
}

/* status_snapshot_before_setup_is_empty */
static void status_before_setup_is_empty(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = { .op = OVL_OP_STATUS };
	struct ovl_response r;
	handle(f->e, &q, &r);
	assert_int_equal(r.result, OVL_RES_STATUS);
	assert_null(r.status.interface);
	assert_false(r.status.has_node_ip);
	assert_false(r.status.has_public_key);
	assert_false(r.status.has_overlay_cidr);
	assert_int_equal(r.status.peer_count, 0);
	assert_int_equal(r.status.service_count, 0);
	assert_int_equal(r.status.n_peers, 0);
	ovl_response_free(&r);
}

/* allocate_and_release_ip_round_trip */
static void allocate_release_round_trip(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = { .op = OVL_OP_ALLOCATE_IP, .allocate_ip = { .service = "svc" } };
	struct ovl_response a, b, c, rel;
	handle(f->e, &q, &a);
	handle(f->e, &q, &b);
	assert_int_equal(a.result, OVL_RES_IP);
	assert_false(ip_addr_equal(&a.ip, &b.ip));
	struct ovl_request rq = { .op = OVL_OP_RELEASE_IP, .release_ip = { .ip = a.ip } };
	handle(f->e, &rq, &rel);
	assert_int_equal(rel.result, OVL_RES_OK);
	handle(f->e, &q, &c);
	assert_true(ip_addr_equal(&c.ip, &a.ip));
}

/* add_peer_records_candidates_and_remove_clears_them + add_global_peer_with_no_host_adapter_skips_and_records */
static void global_peer_recorded_and_removed(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = { .op = OVL_OP_ADD_PEER };
	q.add_peer.peer = peer("1.2.3.4:51820", "10.200.0.2/32");
	struct ovl_candidate cand = { .type = OVL_CAND_HOST, .priority = 100 };
	assert_int_equal(ip_endpoint_parse("192.168.1.5:51820", &cand.address), 0);
	q.add_peer.peer.candidates = &cand;
	q.add_peer.peer.n_candidates = 1;
	struct ovl_response r;
	handle(f->e, &q, &r);
	assert_int_equal(r.result, OVL_RES_OK);

	/* Persisted: a second engine on the same dir sees it. */
	char path[128];
	snprintf(path, sizeof(path), "%s/state.json", f->dir);
	struct ovl_state st;
	char err[300];
	assert_int_equal(state_load(path, &st, err, sizeof(err)), 0);
	assert_int_equal(st.n_peers, 1);
	assert_int_equal(st.peers[0].n_candidates, 1);
	state_free(&st);

	struct ovl_request rm = { .op = OVL_OP_REMOVE_PEER };
	memcpy(rm.remove_peer.pubkey, q.add_peer.peer.public_key, WG_KEY_LEN);
	handle(f->e, &rm, &r);
	assert_int_equal(r.result, OVL_RES_OK);
	assert_int_equal(state_load(path, &st, err, sizeof(err)), 0);
	assert_int_equal(st.n_peers, 0);
	state_free(&st);
	free(q.add_peer.peer.allowed_ips);
}

/* transport_for_scope_unset_service_errors / add_peer_service_scope_before_setup_errors_via_dispatch */
static void service_scope_errors(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = { .op = OVL_OP_ADD_PEER };
	q.add_peer.peer = peer("1.2.3.4:51820", "10.200.0.2/32");
	q.add_peer.scope.service = "x";
	struct ovl_response r;
	handle(f->e, &q, &r);
	assert_int_equal(r.result, OVL_RES_ERR);
	assert_string_equal(r.message, "no dedicated overlay for service x");
	ovl_response_free(&r);
	free(q.add_peer.peer.allowed_ips);
}

/* nat_status_request_returns_wire_snapshot */
static void nat_status_is_empty(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = { .op = OVL_OP_NAT_STATUS };
	struct ovl_response r;
	handle(f->e, &q, &r);
	assert_int_equal(r.result, OVL_RES_NAT_STATUS);
	assert_int_equal(r.nat_status.n_candidates, 0);
	assert_int_equal(r.nat_status.n_peers, 0);
	ovl_response_free(&r);
}

static void shutdown_then_refuses(void **state)
{
	struct fx *f = *state;
	struct ovl_request q = { .op = OVL_OP_SHUTDOWN };
	struct ovl_response r;
	handle(f->e, &q, &r);
	assert_int_equal(r.result, OVL_RES_OK);
	assert_true(engine_shutdown_requested(f->e));
	struct ovl_request s = { .op = OVL_OP_SET_LOCAL_NODE_ID, .set_local_node_id.node_id = 9 };
	handle(f->e, &s, &r);
	assert_int_equal(r.result, OVL_RES_ERR);
	assert_non_null(strstr(r.message, "shutting down"));
	ovl_response_free(&r);
}

static void corrupt_state_refused_unless_discarded(void **state)
{
	char dir[] = "/tmp/ovl-engine-corrupt-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	FILE *fp = fopen(path, "w");
	fputs("{\"version\":1,", fp);
	fclose(fp);
	struct engine *e = NULL;
	char err[2048];
	struct engine_config cfg = { .data_dir = dir };
	assert_int_equal(engine_open(&cfg, &e, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "--discard-corrupt-state"));
	assert_int_equal(access(path, F_OK), -1);
	fp = fopen(path, "w");
	fputs("garbage", fp);
	fclose(fp);
	cfg.discard_corrupt_state = true;
	assert_int_equal(engine_open(&cfg, &e, err, sizeof(err)), 0);
	engine_close(e);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* The worker runs jobs in submission order and hands each back. */
struct order {
	int seen[64];
	pthread_t thread[64];
	int result[64];
	int n;
};

static void job_done(struct engine_job *job, void *arg)
{
	struct order *o = arg;
	o->thread[o->n] = pthread_self();
	o->result[o->n] = (int)job->resp.result;
	o->seen[o->n++] = (int)(intptr_t)job->ctx;
	ovl_response_free(&job->resp);
}

static void worker_keeps_order(void **state)
{
	struct fx *f = *state;
	struct order o = { 0 };
	struct engine_job jobs[64];
	struct engine_worker *w = engine_worker_start(f->e, job_done, &o);
	assert_non_null(w);
	for (int i = 0; i < 64; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].ctx = (void *)(intptr_t)i;
		if (i % 3 == 1) {
			jobs[i].has_request = true;
			jobs[i].req.op = OVL_OP_SET_LOCAL_NODE_ID;
			jobs[i].req.set_local_node_id.node_id = (uint64_t)i;
		} else if (i % 3 == 2) {
			jobs[i].has_request = true; /* a quick read: may take the fast path */
			jobs[i].req.op = OVL_OP_STATUS;
		} else {
			ovl_response_err(&jobs[i].resp, "preset %d", i);
		}
		engine_worker_submit(w, &jobs[i]);
	}
	engine_worker_stop(w); /* drains */
	assert_int_equal(o.n, 64);
	for (int i = 0; i < 64; i++)
		assert_int_equal(o.seen[i], i);
}

/*
 * An idle worker lets a quick read run on the submitting thread (no hand-off);
 * a mutating request still runs on the worker thread.
 */
static void worker_fast_path_for_quick_reads(void **state)
{
	struct fx *f = *state;
	struct order o = { 0 };
	struct engine_job status = { .has_request = true, .ctx = (void *)0 };
	struct engine_job setid = { .has_request = true, .ctx = (void *)1 };
	status.req.op = OVL_OP_STATUS;
	setid.req.op = OVL_OP_SET_LOCAL_NODE_ID;
	setid.req.set_local_node_id.node_id = 9;
	struct engine_worker *w = engine_worker_start(f->e, job_done, &o);
	assert_non_null(w);
	engine_worker_submit(w, &status);
	assert_int_equal(o.n, 1); /* answered before submit returned */
	assert_true(pthread_equal(o.thread[0], pthread_self()));
	assert_int_equal(o.result[0], OVL_RES_STATUS);
	engine_worker_submit(w, &setid);
	engine_worker_stop(w);
	assert_int_equal(o.n, 2);
	assert_false(pthread_equal(o.thread[1], pthread_self()));
}

/* ---- metrics (engine/metrics.c) ---- */

static void run(struct engine *e, struct ovl_request *q, enum ovl_result want)
{
	struct ovl_response r;
	handle(e, q, &r);
	assert_int_equal(r.result, want);
	ovl_response_free(&r);
}

static void assert_line(const struct mx_text *t, const char *line)
{
	char want[300];
	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(t->buf, want))
		fail_msg("missing \"%s\" in:\n%s", line, t->buf);
}

static void metrics_requests_failures_and_saves(void **state)
{
	struct fx *f = *state;
	struct ovl_request id = { .op = OVL_OP_SET_LOCAL_NODE_ID, .set_local_node_id.node_id = 3 };
	run(f->e, &id, OVL_RES_OK);
	run(f->e, &id, OVL_RES_OK);
	struct ovl_request attach = { .op = OVL_OP_ATTACH_CONTAINER };
	attach.attach.handle.platform = OVL_HANDLE_LINUX_PID;
	attach.attach.handle.pid = 4242;
	attach.attach.service = "web";
	run(f->e, &attach, OVL_RES_ERR); /* no global overlay */

	struct mx_text t = { 0 };
	engine_metrics_collect(f->e, &t);
	assert_false(t.oom);
	assert_line(&t, "overlayd_control_requests_total{op=\"set_local_node_id\",result=\"ok\"} 2");
	assert_line(&t, "overlayd_control_requests_total{op=\"attach_container\",result=\"err\"} 1");
	assert_line(&t, "overlayd_control_requests_total{op=\"status\",result=\"ok\"} 0");
	assert_line(&t, "overlayd_attachments_total{op=\"attach\"} 0");
	assert_line(&t, "overlayd_attachment_failures_total{op=\"attach\",reason=\"no_global_overlay\"} 1");
	assert_line(&t, "overlayd_attachment_failures_total{op=\"attach\",reason=\"other\"} 0");
	assert_line(&t, "overlayd_attachment_duration_seconds_count{op=\"attach\"} 1");
	/* node id 3 was saved once (the second request changed nothing); the failed attach saved nothing. */
	assert_line(&t, "overlayd_state_saves_total{result=\"ok\"} 1");
	assert_line(&t, "overlayd_state_save_duration_seconds_count 1");
	assert_line(&t, "# TYPE overlayd_wg_device_peers gauge"); /* no device yet: the family, no samples */
	assert_line(&t, "overlayd_dns_queries_total{result=\"NOERROR\"} 0"); /* DNS on, no listener yet */
	mx_text_free(&t);
}

static void metrics_failure_reasons_from_messages(void **state)
{
	static const struct {
		const char *message;
		enum engine_fail_reason reason;
	} cases[] = {
		{ "attach_container 42: global overlay not set up; call setup_global_overlay first", ENGINE_FAIL_NO_GLOBAL },
		{ "attach_container 42: no service overlay for service web; call setup_service_overlay first",
		  ENGINE_FAIL_NO_SERVICE },
		{ "attach_container 42: already attached to service db; detach it first", ENGINE_FAIL_ALREADY_ATTACHED },
		{ "attach_container: guest vm1: address pool 10.0.0.0/26 exhausted", ENGINE_FAIL_POOL_EXHAUSTED },
		{ "attach_container 42 (service web): process 42 does not exist (it may have exited)",
		  ENGINE_FAIL_NO_PROCESS },
		{ "attach_container: pid 1 is not a container", ENGINE_FAIL_INVALID },
		{ "attach_container 42: invalid dns_domain \"a..b\"", ENGINE_FAIL_INVALID },
		{ "attach_container 42 (service web): RTNETLINK answers: File exists", ENGINE_FAIL_OTHER },
		{ NULL, ENGINE_FAIL_OTHER },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(engine_fail_reason_of(cases[i].message), cases[i].reason);
	for (int r = 0; r < ENGINE_FAIL_COUNT_; r++)
		assert_string_not_equal(engine_fail_reason_name((enum engine_fail_reason)r), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(status_before_setup_is_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(allocate_release_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(global_peer_recorded_and_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(service_scope_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(nat_status_is_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(shutdown_then_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(worker_keeps_order, setup, teardown),
		cmocka_unit_test_setup_teardown(worker_fast_path_for_quick_reads, setup, teardown),
		cmocka_unit_test(corrupt_state_refused_unless_discarded),
		cmocka_unit_test_setup_teardown(metrics_requests_failures_and_saves, setup, teardown),
		cmocka_unit_test(metrics_failure_reasons_from_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
