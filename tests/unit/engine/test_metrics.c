// SPDX-License-Identifier: MIT
/* The engine's metrics: requests, attach failures by reason and state saves, as a scrape renders them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/counters.h"
#include "engine/engine.h"
#include "metrics/metrics.h"

struct fx {
	char dir[64];
	struct engine *e;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/ovl-engine-metrics-XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	char err[512];
	struct engine_config cfg = { .data_dir = f->dir, .dns.disabled = true };
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

static void run(struct engine *e, struct ovl_request *q, enum ovl_result want)
{
	struct ovl_response r;
	engine_handle(e, q, &r);
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

static void test_requests_failures_and_saves(void **state)
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
	assert_null(strstr(t.buf, "overlayd_dns_queries_total")); /* DNS off: no DNS families */
	mx_text_free(&t);
}

static void test_failure_reasons_from_messages(void **state)
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
		cmocka_unit_test_setup_teardown(test_requests_failures_and_saves, setup, teardown),
		cmocka_unit_test(test_failure_reasons_from_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
