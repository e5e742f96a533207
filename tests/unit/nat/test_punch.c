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

/* The times p probes (round starts) while the peer stays dead, from `from` until `until`. */
static size_t round_starts(struct nat_punch *p, const struct nat_punch_params *pp, uint64_t from, uint64_t until,
			   uint64_t *starts, uint64_t *ends, size_t cap)
{
	size_t n = 0;
	for (uint64_t t = from; t < until && n < cap; t += 50) {
		enum nat_punch_action a = nat_punch_step(p, pp, t, false);
		if (a == NAT_PUNCH_PROBE && p->round_start_ms == t)
			starts[n] = t;
		if (a == NAT_PUNCH_SILENCE)
			ends[n++] = t;
	}
	return n;
}

static void two_nodes_starting_apart_meet_after_quiet(void **state)
{
	/*
	 * Node B gets add_peer `gap` after node A (case d), at any phase of the
	 * grid: within two retries both start a round at the same instant, and
	 * before it each has been silent for the whole quiet time.
	 */
	struct nat_punch_params pp = params();
	for (uint64_t phase = 0; phase < pp.slot_ms; phase += 700) {
		for (uint64_t gap = 0; gap <= 6000; gap += 1500) {
			struct nat_punch a = { 0 }, b = { 0 };
			uint64_t t0 = 1700000000000ull + phase, sa[8], ea[8], sb[8], eb[8];
			nat_punch_kick(&a, t0);
			nat_punch_kick(&b, t0 + gap);
			size_t na = round_starts(&a, &pp, t0, t0 + 4 * pp.slot_ms, sa, ea, 8);
			size_t nb = round_starts(&b, &pp, t0 + gap, t0 + 4 * pp.slot_ms, sb, eb, 8);
			bool met = false;
			for (size_t i = 1; i < na && i <= 2 && !met; i++)
				for (size_t j = 1; j < nb && j <= 2 && !met; j++)
					if (sa[i] == sb[j]) {
						met = true;
						assert_true(sa[i] - ea[i - 1] >= pp.quiet_ms);
						assert_true(sb[j] - eb[j - 1] >= pp.quiet_ms);
						/* And neither probed in between. */
						assert_true(j == 1 || eb[j - 1] <= sa[i] - pp.quiet_ms);
						assert_true(i == 1 || ea[i - 1] <= sb[j] - pp.quiet_ms);
					}
			assert_true(met);
		}
	}
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

static void next_step_time_is_the_slot_itself(void **state)
{
	/* The caller sleeps until nat_punch_next_ms(): probes, the round's end, then the retry's slot. */
	struct nat_punch p = { 0 };
	struct nat_punch_params pp = params();
	uint64_t t = 1700000000123ull;
	assert_int_equal(nat_punch_next_ms(&p, &pp), UINT64_MAX); /* idle */
	nat_punch_kick(&p, t);
	assert_int_equal(nat_punch_next_ms(&p, &pp), t);
	assert_int_equal(nat_punch_step(&p, &pp, t, false), NAT_PUNCH_PROBE);
	assert_int_equal(nat_punch_next_ms(&p, &pp), t + pp.probe_interval_ms);
	p.next_probe_ms = t + pp.timeout_ms + 100; /* a late probe: the round's end comes first */
	assert_int_equal(nat_punch_next_ms(&p, &pp), t + pp.timeout_ms);
	assert_int_equal(nat_punch_step(&p, &pp, t + pp.timeout_ms, false), NAT_PUNCH_SILENCE);
	uint64_t retry = nat_punch_next_ms(&p, &pp);
	assert_int_equal(retry % pp.slot_ms, 0);
	assert_true(retry >= t + pp.timeout_ms + pp.quiet_ms);
	/* Waking at exactly that millisecond starts the round there: no tick's worth of lateness. */
	assert_int_equal(nat_punch_step(&p, &pp, retry - 1, false), NAT_PUNCH_NOTHING);
	assert_int_equal(nat_punch_step(&p, &pp, retry, false), NAT_PUNCH_PROBE);
	assert_int_equal(p.round_start_ms, retry);
	assert_int_equal(nat_punch_step(&p, &pp, retry + 1, true), NAT_PUNCH_CONNECTED);
	assert_int_equal(nat_punch_next_ms(&p, &pp), UINT64_MAX); /* up: polled, not timed */
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
		cmocka_unit_test(two_nodes_starting_apart_meet_after_quiet),
		cmocka_unit_test(dead_path_probes_at_once),
		cmocka_unit_test(next_step_time_is_the_slot_itself),
		cmocka_unit_test(slot_boundaries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
