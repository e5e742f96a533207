// SPDX-License-Identifier: MIT
/* The wake-up placement policy (src/wg/placement.h) and the thread policy switch. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>
#include <cmocka.h>

#include "wg/placement.h"

#define T0 1000000000000ull
#define MS 1000000ull

static struct wg_placement able(void)
{
	return (struct wg_placement){ .able = true };
}

static void only_after_a_quiet_spell(void **state)
{
	struct wg_placement p = able();
	wg_placement_traffic(&p, T0);
	assert_false(wg_placement_wanted(&p, T0, true));
	assert_false(wg_placement_wanted(&p, T0 + WG_PLACEMENT_GAP_NS - 1, true));
	assert_true(wg_placement_wanted(&p, T0 + WG_PLACEMENT_GAP_NS, true));
}

static void never_for_bulk_traffic(void **state)
{
	struct wg_placement p = able();
	wg_placement_traffic(&p, T0);
	/* Packets every 50 us for a second: no pass is ever after a gap. */
	for (uint64_t now = T0 + 50000; now < T0 + 1000 * MS; now += 50000) {
		assert_false(wg_placement_wanted(&p, now, true));
		wg_placement_traffic(&p, now);
	}
}

static void never_when_unable_or_cpus_busy(void **state)
{
	struct wg_placement p = able();
	assert_true(wg_placement_wanted(&p, T0, true));
	assert_false(wg_placement_wanted(&p, T0, false));
	p.able = false;
	assert_false(wg_placement_wanted(&p, T0, true));
}

static void a_lone_starved_pass_is_forgiven(void **state)
{
	struct wg_placement p = able();
	uint64_t now = T0;
	/* Starved passes with prompt ones between them, as a stray kernel thread makes. */
	for (int i = 0; i < 10; i++) {
		wg_placement_done(&p, now, WG_PLACEMENT_WAIT_NS + 1);
		assert_true(wg_placement_wanted(&p, now, true));
		now += MS;
		wg_placement_done(&p, now, 0);
		now += MS;
	}
}

static void starved_passes_back_off_exponentially_up_to_a_cap(void **state)
{
	struct wg_placement p = able();
	uint64_t now = T0, pause = WG_PLACEMENT_BACKOFF_NS;
	const uint64_t cap = WG_PLACEMENT_BACKOFF_NS << (WG_PLACEMENT_MAX_BACKOFF - 1);
	for (int i = 0; i < WG_PLACEMENT_FORGIVEN; i++) {
		wg_placement_done(&p, now, WG_PLACEMENT_WAIT_NS + 1);
		assert_true(wg_placement_wanted(&p, now, true));
	}
	for (int i = 0; i < WG_PLACEMENT_MAX_BACKOFF + 3; i++) {
		assert_true(wg_placement_wanted(&p, now, true));
		wg_placement_done(&p, now, WG_PLACEMENT_WAIT_NS + 1);
		assert_false(wg_placement_wanted(&p, now + pause - 1, true));
		assert_true(wg_placement_wanted(&p, now + pause, true));
		now += pause;
		if (pause < cap)
			pause *= 2;
	}
	assert_int_equal(pause, cap);
}

static void a_prompt_pass_ends_the_backoff(void **state)
{
	struct wg_placement p = able();
	uint64_t now = T0;
	for (int i = 0; i < 4 + WG_PLACEMENT_FORGIVEN; i++) {
		wg_placement_done(&p, now, 50 * MS);
		now += WG_PLACEMENT_BACKOFF_NS << WG_PLACEMENT_MAX_BACKOFF;
	}
	/* Waiting behind the wakee it placed on its own CPU is the normal case. */
	wg_placement_done(&p, now, WG_PLACEMENT_WAIT_NS);
	assert_true(wg_placement_wanted(&p, now, true));
	/* The count starts over: forgiven strikes first, then the shortest pause. */
	for (int i = 0; i < WG_PLACEMENT_FORGIVEN; i++)
		wg_placement_done(&p, now, WG_PLACEMENT_WAIT_NS + 1);
	assert_true(wg_placement_wanted(&p, now, true));
	wg_placement_done(&p, now, WG_PLACEMENT_WAIT_NS + 1);
	assert_false(wg_placement_wanted(&p, now + WG_PLACEMENT_BACKOFF_NS - 1, true));
	assert_true(wg_placement_wanted(&p, now + WG_PLACEMENT_BACKOFF_NS, true));
}

static void idle_and_back(void **state)
{
	/* The test runs as root (CAP_SYS_NICE): the thread can go and come back. */
	if (geteuid() != 0)
		skip();
	assert_int_equal(sched_getscheduler(0), SCHED_OTHER);
	assert_true(wg_thread_placement_able());
	assert_int_equal(wg_thread_set_policy(WG_THREAD_IDLE), 0);
	assert_int_equal(sched_getscheduler(0), SCHED_IDLE);
	/* Not SCHED_OTHER now: someone else's choice would be kept. */
	assert_false(wg_thread_placement_able());
	assert_int_equal(wg_thread_set_policy(WG_THREAD_SHORT_SLICE), 0);
	assert_int_equal(sched_getscheduler(0), SCHED_OTHER);
	assert_int_equal(wg_thread_set_policy(WG_THREAD_NORMAL), 0);
	assert_int_equal(sched_getscheduler(0), SCHED_OTHER);
	assert_true(wg_thread_placement_able());
}

static atomic_bool hogs_stop;
static atomic_int hogs_running;

static void *hog(void *arg)
{
	(void)arg;
	atomic_fetch_add(&hogs_running, 1);
	while (!atomic_load(&hogs_stop))
		;
	return NULL;
}

static void busy_cpus_are_seen(void **state)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t t[64];

	assert_true(cpus > 0 && cpus <= 64);
	atomic_store(&hogs_stop, false);
	atomic_store(&hogs_running, 0);
	for (long i = 0; i < cpus; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hog, NULL), 0);
	/* Wait (without a clock) until every spinner has run: from then on each
	 * one stays runnable until told to stop. */
	while (atomic_load(&hogs_running) < cpus)
		sched_yield();
	/* One spinning thread per CPU, besides us: no CPU is free. Other load on
	 * the machine only adds runnable tasks, so it cannot make this flaky. */
	assert_false(wg_cpu_free());
	atomic_store(&hogs_stop, true);
	for (long i = 0; i < cpus; i++)
		pthread_join(t[i], NULL);
}

static void a_sample_is_due_once_per_period(void **state)
{
	atomic_uint_fast64_t next = 0;
	assert_true(wg_sample_due(&next, T0, 100 * MS));
	assert_false(wg_sample_due(&next, T0, 100 * MS));
	assert_false(wg_sample_due(&next, T0 + 100 * MS - 1, 100 * MS));
	assert_true(wg_sample_due(&next, T0 + 100 * MS, 100 * MS));
	/* A late caller samples at once and starts the next period from then. */
	assert_true(wg_sample_due(&next, T0 + 1000 * MS, 100 * MS));
	assert_false(wg_sample_due(&next, T0 + 1099 * MS, 100 * MS));
}

static atomic_uint_fast64_t race_next;
static atomic_int race_winners;
static atomic_bool race_go;

static void *race(void *arg)
{
	(void)arg;
	while (!atomic_load(&race_go))
		;
	if (wg_sample_due(&race_next, T0, 100 * MS))
		atomic_fetch_add(&race_winners, 1);
	return NULL;
}

static void concurrent_callers_sample_once(void **state)
{
	pthread_t t[8];
	for (int round = 0; round < 50; round++) {
		atomic_store(&race_next, 0);
		atomic_store(&race_winners, 0);
		atomic_store(&race_go, false);
		for (int i = 0; i < 8; i++)
			assert_int_equal(pthread_create(&t[i], NULL, race, NULL), 0);
		atomic_store(&race_go, true);
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
		assert_int_equal(atomic_load(&race_winners), 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(only_after_a_quiet_spell),
		cmocka_unit_test(never_for_bulk_traffic),
		cmocka_unit_test(never_when_unable_or_cpus_busy),
		cmocka_unit_test(a_lone_starved_pass_is_forgiven),
		cmocka_unit_test(starved_passes_back_off_exponentially_up_to_a_cap),
		cmocka_unit_test(a_prompt_pass_ends_the_backoff),
		cmocka_unit_test(idle_and_back),
		cmocka_unit_test(busy_cpus_are_seen),
		cmocka_unit_test(a_sample_is_due_once_per_period),
		cmocka_unit_test(concurrent_callers_sample_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
