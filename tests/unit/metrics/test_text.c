// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "metrics/metrics.h"

static void test_labels_escaped(void **state)
{
	char buf[256];
	assert_string_equal(mx_labels(buf, sizeof(buf), "op", "status", "result", "ok", NULL),
			    "op=\"status\",result=\"ok\"");
	assert_string_equal(mx_labels(buf, sizeof(buf), "service", "a\"b\\c\nd", NULL), "service=\"a\\\"b\\\\c\\nd\"");
	assert_string_equal(mx_labels(buf, sizeof(buf), NULL), "");
	/* A list that does not fit stops at a whole label. */
	char small[16];
	assert_string_equal(mx_labels(small, sizeof(small), "a", "1", "bbbbbb", "22222", NULL), "a=\"1\"");
}

static void test_counter_and_family(void **state)
{
	struct mx_text t = { 0 };
	mx_counter c = 0;
	mx_inc(&c);
	mx_add(&c, 41);
	mx_text_family(&t, "overlayd_x_total", MX_COUNTER, "Things.");
	mx_text_sample(&t, "overlayd_x_total", "", mx_read(&c));
	mx_text_sample(&t, "overlayd_x_total", "k=\"v\"", 7);
	assert_false(t.oom);
	assert_string_equal(t.buf, "# HELP overlayd_x_total Things.\n# TYPE overlayd_x_total counter\n"
				   "overlayd_x_total 42\noverlayd_x_total{k=\"v\"} 7\n");
	mx_text_free(&t);
}

static void test_histogram_cumulative(void **state)
{
	struct mx_histogram h = { 0 };
	mx_observe_ns(&h, 50000);	  /* 50 us: first bucket */
	mx_observe_ns(&h, 100000);	  /* exactly 100 us: le is inclusive */
	mx_observe_ns(&h, 3000000);	  /* 3 ms: le 0.005 */
	mx_observe_ns(&h, 20000000000ull); /* 20 s: +Inf only */
	struct mx_text t = { 0 };
	mx_text_histogram(&t, "overlayd_h_seconds", "op=\"a\"", &h);
	assert_false(t.oom);
	assert_non_null(strstr(t.buf, "overlayd_h_seconds_bucket{op=\"a\",le=\"0.0001\"} 2\n"));
	assert_non_null(strstr(t.buf, "overlayd_h_seconds_bucket{op=\"a\",le=\"0.0025\"} 2\n"));
	assert_non_null(strstr(t.buf, "overlayd_h_seconds_bucket{op=\"a\",le=\"0.005\"} 3\n"));
	assert_non_null(strstr(t.buf, "overlayd_h_seconds_bucket{op=\"a\",le=\"10\"} 3\n"));
	assert_non_null(strstr(t.buf, "overlayd_h_seconds_bucket{op=\"a\",le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(t.buf, "overlayd_h_seconds_sum{op=\"a\"} 20.00315\n"));
	assert_non_null(strstr(t.buf, "overlayd_h_seconds_count{op=\"a\"} 4\n"));
	mx_text_free(&t);
	mx_text_histogram(&t, "overlayd_h_seconds", "", &h);
	assert_non_null(strstr(t.buf, "overlayd_h_seconds_bucket{le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(t.buf, "overlayd_h_seconds_count 4\n"));
	mx_text_free(&t);
}

static void test_large_text_grows(void **state)
{
	struct mx_text t = { 0 };
	for (int i = 0; i < 20000; i++)
		mx_text_sample(&t, "overlayd_long_metric_name_for_growth_total", "peer=\"xxxxxxxxxxxxxxxxxxxxxxxx\"",
			       (uint64_t)i);
	assert_false(t.oom);
	assert_int_equal(t.len, strlen(t.buf));
	assert_non_null(strstr(t.buf, "} 19999\n"));
	mx_text_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels_escaped),
		cmocka_unit_test(test_counter_and_family),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_large_text_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
