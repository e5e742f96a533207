// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "wg/spin.h"

#define T0 1000000000ull

static void spins_while_answers_come(void **state)
{
	struct wg_spin s = { 0 };
	for (uint64_t i = 0; i < 100; i++) {
		assert_true(wg_spin_wanted(&s, T0 + i));
		wg_spin_done(&s, true, T0 + i);
	}
}

static void misses_back_off_exponentially_up_to_a_cap(void **state)
{
	struct wg_spin s = { 0 };
	uint64_t now = T0, pause = WG_SPIN_BACKOFF_NS;
	const uint64_t cap = WG_SPIN_BACKOFF_NS << (WG_SPIN_MAX_BACKOFF - 1);
	for (int i = 0; i < WG_SPIN_MAX_BACKOFF + 3; i++) {
		assert_true(wg_spin_wanted(&s, now));
		wg_spin_done(&s, false, now);
		/* No spin until the pause is over, however many chances come. */
		assert_false(wg_spin_wanted(&s, now));
		assert_false(wg_spin_wanted(&s, now + pause - 1));
		assert_true(wg_spin_wanted(&s, now + pause));
		now += pause;
		if (pause < cap)
			pause *= 2;
	}
	assert_int_equal(pause, cap);
}

static void one_answer_ends_the_backoff(void **state)
{
	struct wg_spin s = { 0 };
	uint64_t now = T0;
	for (int i = 0; i < 5; i++) {
		wg_spin_done(&s, false, now);
		now += WG_SPIN_BACKOFF_NS << WG_SPIN_MAX_BACKOFF;
	}
	wg_spin_done(&s, true, now);
	assert_true(wg_spin_wanted(&s, now));
	/* and the next miss starts over from the shortest pause. */
	wg_spin_done(&s, false, now);
	assert_false(wg_spin_wanted(&s, now + WG_SPIN_BACKOFF_NS - 1));
	assert_true(wg_spin_wanted(&s, now + WG_SPIN_BACKOFF_NS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spins_while_answers_come),
		cmocka_unit_test(misses_back_off_exponentially_up_to_a_cap),
		cmocka_unit_test(one_answer_ends_the_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
