// SPDX-License-Identifier: MIT
/* Solo and split polling (src/wg/pollmode.h): the load and gap rules, and the kicks. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "wg/device.h"
#include "wg/pollmode.h"

#define T0 1000000000000ull
#define MS 1000000ull

static void sparse_packets_stay_solo(void **state)
{
	struct wg_solo_load l = { 0 };
	/* A ping every 10 ms, both ways: two packets per pass, for a second. */
	for (uint64_t now = T0; now < T0 + 1000 * MS; now += 10 * MS)
		assert_false(wg_solo_load_add(&l, now, 2));
	/* A request/response flood at one every 100 us still fits one thread. */
	for (uint64_t now = T0 + 1000 * MS; now < T0 + 2000 * MS; now += MS / 10)
		assert_false(wg_solo_load_add(&l, now, 1));
}

static void many_packets_in_a_window_go_split(void **state)
{
	struct wg_solo_load l = { 0 };
	unsigned total = 0;
	uint64_t now = T0;
	/* 4 packets per pass, a pass every 50 us: over the limit within one window. */
	while (!wg_solo_load_add(&l, now, 4)) {
		total += 4;
		now += MS / 20;
		assert_true(now - T0 < WG_SOLO_WINDOW_NS);
	}
	assert_int_equal(total + 4, (WG_SOLO_MAX_PACKETS / 4 + 1) * 4);
}

static void the_window_starts_over(void **state)
{
	struct wg_solo_load l = { 0 };
	assert_false(wg_solo_load_add(&l, T0, WG_SOLO_MAX_PACKETS));
	/* The next window counts from zero. */
	assert_false(wg_solo_load_add(&l, T0 + WG_SOLO_WINDOW_NS, WG_SOLO_MAX_PACKETS));
	assert_true(wg_solo_load_add(&l, T0 + WG_SOLO_WINDOW_NS + 1, 1));
}

static void gap_rule(void **state)
{
	assert_false(wg_solo_gap(T0, T0));
	assert_false(wg_solo_gap(T0, T0 + WG_SOLO_GAP_NS - 1));
	assert_true(wg_solo_gap(T0, T0 + WG_SOLO_GAP_NS));
}

/* Just the fields pollmode.c uses: kick eventfds, the mode and the times. */
static struct wg_device *kick_device(void)
{
	struct wg_device *dev = calloc(1, sizeof(*dev));
	assert_non_null(dev);
	for (int i = 0; i < WG_POLLERS; i++)
		assert_true((dev->poll_kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) >= 0);
	atomic_init(&dev->poll_mode, WG_POLL_SPLIT);
	return dev;
}

static void kick_device_free(struct wg_device *dev)
{
	for (int i = 0; i < WG_POLLERS; i++)
		close(dev->poll_kick[i]);
	free(dev);
}

static bool kicked(struct wg_device *dev, enum wg_poller p)
{
	struct pollfd pfd = { .fd = dev->poll_kick[p], .events = POLLIN };
	return poll(&pfd, 1, 0) == 1;
}

static void a_switch_kicks_every_other_poller_once(void **state)
{
	struct wg_device *dev = kick_device();

	wg_poll_set_mode(dev, WG_POLL_SOLO, WG_POLLER_UDP4);
	assert_int_equal(atomic_load(&dev->poll_mode), WG_POLL_SOLO);
	assert_true(kicked(dev, WG_POLLER_TUN));
	assert_true(kicked(dev, WG_POLLER_UDP6));
	assert_false(kicked(dev, WG_POLLER_UDP4)); /* the caller knows */

	/* A kick, once consumed, is gone; setting the same mode again kicks nobody. */
	for (int p = 0; p < WG_POLLERS; p++)
		wg_poll_kicked(dev, p);
	wg_poll_set_mode(dev, WG_POLL_SOLO, WG_POLLER_TUN);
	for (int p = 0; p < WG_POLLERS; p++)
		assert_false(kicked(dev, p));

	wg_poll_set_mode(dev, WG_POLL_SPLIT, WG_POLLER_TUN);
	assert_true(kicked(dev, WG_POLLER_UDP4));
	assert_true(kicked(dev, WG_POLLER_UDP6));
	assert_false(kicked(dev, WG_POLLER_TUN));
	kick_device_free(dev);
}

static void quiet_only_after_a_gap_in_split_mode(void **state)
{
	struct wg_device *dev = kick_device();
	uint64_t now = wg_now_ns() + 10 * WG_SPLIT_HOLD_NS; /* past any hold */

	wg_poll_traffic(dev, now, 1);
	assert_false(wg_poll_quiet(dev, now + WG_SOLO_GAP_NS - 1));
	assert_true(wg_poll_quiet(dev, now + WG_SOLO_GAP_NS));
	/* Already solo: nothing to switch. */
	atomic_store(&dev->poll_mode, WG_POLL_SOLO);
	assert_false(wg_poll_quiet(dev, now + WG_SOLO_GAP_NS));
	kick_device_free(dev);
}

static void bulk_reads_hold_split_mode(void **state)
{
	struct wg_device *dev = kick_device();
	uint64_t now = wg_now_ns() + 10 * WG_SPLIT_HOLD_NS;

	/* Small reads with a gap after them: quiet. */
	wg_poll_traffic(dev, now, WG_BULK_READ - 1);
	assert_true(wg_poll_quiet(dev, now + WG_SOLO_GAP_NS));
	assert_false(wg_poll_bulk(dev, now));
	/* A bulk read: a gap is not enough until the hold is over. */
	wg_poll_traffic(dev, now, WG_BULK_READ);
	assert_true(wg_poll_bulk(dev, now + WG_SPLIT_HOLD_NS - 1));
	assert_false(wg_poll_bulk(dev, now + WG_SPLIT_HOLD_NS));
	assert_false(wg_poll_quiet(dev, now + WG_SOLO_GAP_NS));
	assert_false(wg_poll_quiet(dev, now + WG_SPLIT_HOLD_NS - 1));
	assert_true(wg_poll_quiet(dev, now + WG_SPLIT_HOLD_NS));
	kick_device_free(dev);
}

static void leaving_solo_holds_split_mode(void **state)
{
	struct wg_device *dev = kick_device();
	uint64_t before = wg_now_ns();

	atomic_store(&dev->poll_mode, WG_POLL_SOLO);
	wg_poll_traffic(dev, before, 1);
	/* The solo thread found too much to do: that load was bulk traffic. */
	wg_poll_set_mode(dev, WG_POLL_SPLIT, WG_POLLER_TUN);
	assert_false(wg_poll_quiet(dev, before + WG_SOLO_GAP_NS));
	assert_true(wg_poll_quiet(dev, wg_now_ns() + WG_SPLIT_HOLD_NS));
	kick_device_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sparse_packets_stay_solo),
		cmocka_unit_test(many_packets_in_a_window_go_split),
		cmocka_unit_test(the_window_starts_over),
		cmocka_unit_test(gap_rule),
		cmocka_unit_test(a_switch_kicks_every_other_poller_once),
		cmocka_unit_test(quiet_only_after_a_gap_in_split_mode),
		cmocka_unit_test(bulk_reads_hold_split_mode),
		cmocka_unit_test(leaving_solo_holds_split_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
