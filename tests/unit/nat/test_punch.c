// SPDX-License-Identifier: MIT
/*
 * The connect policy (nat/punch.h) on a fake clock: probes at once and at
 * the interval, gives up after the timeout, stays silent long enough for a
 * NAT's stale entry to expire, retries at a slot both nodes share, and
 * recovers a dead path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nat/punch.h"

static struct nat_punch_params params(void)
{
	struct nat_punch_params pp;
	nat_punch_params_default(&pp, 10);
	return pp;
}

static void probes_at_once_then_every_interval(void **state)
{
	struct nat_punch p = { 0 };
	struct nat_punch_params pp = params();
	uint64_t t = 1000000;
	assert_int_equal(nat_punch_step(&p, &pp, t, false), NAT_PUNCH_NOTHING); /* not kicked */
	nat_punch_kick(&p, t);
	assert_int_equal(nat_punch_step(&p, &pp, t, false), NAT_PUNCH_PROBE);
	assert_int_equal(nat_punch_step(&p, &pp, t + 100, false), NAT_PUNCH_NOTHING);
	assert_int_equal(nat_punch_step(&p, &pp, t + 250, false), NAT_PUNCH_PROBE);
	assert_int_equal(nat_punch_step(&p, &pp, t + 300, true), NAT_PUNCH_CONNECTED);
	assert_int_equal(p.state, NAT_PUNCH_UP);
	assert_int_equal(nat_punch_step(&p, &pp, t + 5000, true), NAT_PUNCH_NOTHING);
}

/* Counts probes from `from` while the peer stays dead, until SILENCE. */
static unsigned probes_until_silence(struct nat_punch *p, const struct nat_punch_params *pp, uint64_t *t)
{
	unsigned probes = 0;
	for (;; *t += 50) {
		enum nat_punch_action a = nat_punch_step(p, pp, *t, false);
		if (a == NAT_PUNCH_SILENCE)
			return probes;
		assert_int_not_equal(a, NAT_PUNCH_CONNECTED);
		probes += a == NAT_PUNCH_PROBE;
	}
}

static void timeout_then_quiet_then_aligned_retry(void **state)
{
	struct nat_punch p = { 0 };
	struct nat_punch_params pp = params();
	uint64_t t = 1234567, start = t;
	nat_punch_kick(&p, t);
	unsigned probes = probes_until_silence(&p, &pp, &t);
	assert_true(t - start >= pp.timeout_ms && t - start < pp.timeout_ms + 100);
	assert_int_equal(probes, pp.timeout_ms / pp.probe_interval_ms);
	assert_int_equal(p.state, NAT_PUNCH_QUIET);
	/* Nothing at all during the quiet period. */
	uint64_t quiet_from = t;
	for (t += 50; nat_punch_step(&p, &pp, t, false) == NAT_PUNCH_NOTHING; t += 50)
		assert_int_equal(p.state, NAT_PUNCH_QUIET);
	assert_true(t - quiet_from >= pp.quiet_ms);
	/* The retry lands on a slot boundary (give or take one step of the fake clock). */
	assert_true(t % pp.slot_ms < 50);
	assert_int_equal(p.state, NAT_PUNCH_PROBING);
	assert_int_equal(p.rounds_failed, 1);
}

static void two_nodes_starting_apart_retry_together(void **state)
{
	/* Node B gets add_peer 3 s after node A (case d): both fail, both retry in the same slot. */
	struct nat_punch a = { 0 }, b = { 0 };
	struct nat_punch_params pp = params();
	uint64_t t = 5000000;
	nat_punch_kick(&a, t);
	nat_punch_kick(&b, t + 3000);
	uint64_t ta = t, tb = t + 3000;
	probes_until_silence(&a, &pp, &ta);
	probes_until_silence(&b, &pp, &tb);
	assert_int_equal(a.retry_ms, b.retry_ms);
}

static void dead_path_probes_at_once(void **state)
{
	struct nat_punch p = { 0 };
	struct nat_punch_params pp = params();
	uint64_t t = 42000;
	assert_int_equal(nat_punch_step(&p, &pp, t, true), NAT_PUNCH_CONNECTED); /* configured endpoint worked */
	assert_int_equal(nat_punch_step(&p, &pp, t + 20000, false), NAT_PUNCH_PROBE);
	assert_int_equal(p.state, NAT_PUNCH_PROBING);
	/* A kick while probing or up changes nothing. */
	nat_punch_kick(&p, t + 20100);
	assert_int_equal(p.round_start_ms, t + 20000);
	assert_int_equal(nat_punch_step(&p, &pp, t + 21000, true), NAT_PUNCH_CONNECTED);
}

static void slot_boundaries(void **state)
{
	assert_int_equal(nat_punch_slot_at_or_after(0, 10000), 0);
	assert_int_equal(nat_punch_slot_at_or_after(1, 10000), 10000);
	assert_int_equal(nat_punch_slot_at_or_after(10000, 10000), 10000);
	assert_int_equal(nat_punch_slot_at_or_after(777, 0), 777);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(probes_at_once_then_every_interval),
		cmocka_unit_test(timeout_then_quiet_then_aligned_retry),
		cmocka_unit_test(two_nodes_starting_apart_retry_together),
		cmocka_unit_test(dead_path_probes_at_once),
		cmocka_unit_test(slot_boundaries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
