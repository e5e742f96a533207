// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "wg/messages.h"
#include "wg/replay.h"

static void in_order_and_duplicates(void **state)
{
	struct wg_replay r;
	wg_replay_init(&r);
	for (uint64_t i = 0; i < 20000; i++)
		assert_true(wg_replay_check(&r, i));
	assert_false(wg_replay_check(&r, 19999));
	assert_false(wg_replay_check(&r, 0));
}

static void window_edges(void **state)
{
	struct wg_replay r;
	wg_replay_init(&r);
	assert_true(wg_replay_check(&r, 10000));
	/* Out of order inside the window: accepted once. */
	assert_true(wg_replay_check(&r, 10000 - 1));
	assert_false(wg_replay_check(&r, 10000 - 1));
	/* The oldest counter still inside, and the first one outside. */
	assert_true(wg_replay_check(&r, 10000 - (WG_REPLAY_WINDOW - 1)));
	assert_false(wg_replay_check(&r, 10000 - WG_REPLAY_WINDOW));
	/* A big jump forgets everything behind the new window. */
	assert_true(wg_replay_check(&r, 1000000));
	assert_false(wg_replay_check(&r, 10000));
	assert_true(wg_replay_check(&r, 1000000 - 5));
}

static void bitmap_reuse_after_jump(void **state)
{
	struct wg_replay r;
	wg_replay_init(&r);
	/* Counters that share a bitmap slot one lap apart must not alias. */
	assert_true(wg_replay_check(&r, 64));
	assert_true(wg_replay_check(&r, 64 + WG_REPLAY_BITS));
	assert_true(wg_replay_check(&r, 64 + WG_REPLAY_BITS - 64));
	assert_false(wg_replay_check(&r, 64 + WG_REPLAY_BITS));
}

static void reject_after_messages(void **state)
{
	struct wg_replay r;
	wg_replay_init(&r);
	assert_true(wg_replay_check(&r, WG_REJECT_AFTER_MESSAGES - 1));
	assert_false(wg_replay_check(&r, WG_REJECT_AFTER_MESSAGES));
	assert_false(wg_replay_check(&r, UINT64_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(in_order_and_duplicates),
		cmocka_unit_test(window_edges),
		cmocka_unit_test(bitmap_reuse_after_jump),
		cmocka_unit_test(reject_after_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
