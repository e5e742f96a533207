// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "wg/spin.h"

/* How many chances pass before the state wants to spin again. */
static unsigned chances_skipped(struct wg_spin *s)
{
	unsigned n = 0;
	while (!wg_spin_wanted(s))
		n++;
	return n;
}

static void spins_while_answers_come(void **state)
{
	struct wg_spin s = { 0 };
	for (int i = 0; i < 100; i++) {
		assert_true(wg_spin_wanted(&s));
		wg_spin_done(&s, true);
	}
}

static void misses_back_off_exponentially_up_to_a_cap(void **state)
{
	struct wg_spin s = { 0 };
	unsigned expect = 1;
	assert_true(wg_spin_wanted(&s));
	for (int i = 0; i < WG_SPIN_MAX_BACKOFF + 3; i++) {
		wg_spin_done(&s, false);
		/* chances_skipped consumes the skips and the one wanted spin. */
		assert_int_equal(chances_skipped(&s), expect);
		if (expect < (1u << WG_SPIN_MAX_BACKOFF) - 1)
			expect = expect * 2 + 1;
	}
	assert_int_equal(expect, (1u << WG_SPIN_MAX_BACKOFF) - 1);
}

static void one_answer_ends_the_backoff(void **state)
{
	struct wg_spin s = { 0 };
	for (int i = 0; i < 5; i++) {
		wg_spin_done(&s, false);
		chances_skipped(&s);
	}
	wg_spin_done(&s, true);
	assert_true(wg_spin_wanted(&s));
	/* and the next miss starts over from the shortest backoff. */
	wg_spin_done(&s, false);
	assert_int_equal(chances_skipped(&s), 1);
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
