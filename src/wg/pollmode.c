// SPDX-License-Identifier: MIT
/* Solo and split polling of a device's sockets (see pollmode.h). */
#include "wg/pollmode.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "wg/device.h"

/*
 * The last-traffic time is shared by every data-path thread; storing it only
 * when it moved by this much keeps bulk traffic from bouncing its cache line
 * between cores on every batch. Far below WG_SOLO_GAP_NS.
 */
#define TRAFFIC_RESOLUTION_NS (100 * 1000ull)

bool wg_solo_load_add(struct wg_solo_load *l, uint64_t now, unsigned packets)
{
	if (now - l->window_start >= WG_SOLO_WINDOW_NS) {
		l->window_start = now;
		l->packets = 0;
	}
	l->packets += packets;
	return l->packets > WG_SOLO_MAX_PACKETS;
}

bool wg_solo_gap(uint64_t last, uint64_t now)
{
	return now - last >= WG_SOLO_GAP_NS;
}

void wg_poll_traffic(struct wg_device *dev, uint64_t now, unsigned packets)
{
	if (now - atomic_load_explicit(&dev->last_traffic_ns, memory_order_relaxed) >= TRAFFIC_RESOLUTION_NS)
		atomic_store_explicit(&dev->last_traffic_ns, now, memory_order_relaxed);
	if (packets >= WG_BULK_READ &&
	    now + WG_SPLIT_HOLD_NS - atomic_load_explicit(&dev->split_hold_ns, memory_order_relaxed) >= TRAFFIC_RESOLUTION_NS)
		atomic_store_explicit(&dev->split_hold_ns, now + WG_SPLIT_HOLD_NS, memory_order_relaxed);
}

bool wg_poll_bulk(struct wg_device *dev, uint64_t now)
{
	return now < atomic_load_explicit(&dev->split_hold_ns, memory_order_relaxed);
}

bool wg_poll_quiet(struct wg_device *dev, uint64_t now)
{
	return atomic_load(&dev->poll_mode) == WG_POLL_SPLIT && !wg_poll_bulk(dev, now) &&
	       wg_solo_gap(atomic_load_explicit(&dev->last_traffic_ns, memory_order_relaxed), now);
}

void wg_poll_set_mode(struct wg_device *dev, enum wg_poll_mode mode, enum wg_poller self)
{
	int old = atomic_exchange(&dev->poll_mode, (int)mode);
	if (old == (int)mode)
		return;
	if (mode == WG_POLL_SPLIT) /* the load that ended solo mode is bulk traffic */
		atomic_store_explicit(&dev->split_hold_ns, wg_now_ns() + WG_SPLIT_HOLD_NS, memory_order_relaxed);
	for (int p = 0; p < WG_POLLERS; p++)
		if (p != (int)self)
			wg_poll_kick(dev, p);
}

void wg_poll_kick(struct wg_device *dev, enum wg_poller p)
{
	uint64_t one = 1;
	/* EAGAIN: the counter is full, so the poller is awake anyway. */
	if (write(dev->poll_kick[p], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("wg %s: cannot wake a data-path thread: %s", dev->ifname, strerror(errno));
}

void wg_poll_kicked(struct wg_device *dev, enum wg_poller p)
{
	uint64_t n;
	if (read(dev->poll_kick[p], &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("wg %s: cannot reset a wake-up signal: %s", dev->ifname, strerror(errno));
}
