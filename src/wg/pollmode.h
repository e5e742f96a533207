/* SPDX-License-Identifier: MIT */
/*
 * Which thread polls a device's UDP sockets.
 *
 * Split mode: each UDP socket has its own reader thread, and the TUN reader
 * polls only the TUN device, so bulk traffic in both directions gets both
 * cores. Solo mode: the TUN reader polls the TUN device and the sockets, and
 * the UDP readers sleep on their kick eventfds.
 *
 * Solo mode is for sparse, request/response traffic. A thread woken only to
 * find that another thread has already done its work is not free: on small
 * VMs the waker pays ~36 us for the IPI that kicks the halted vCPU. In split
 * mode a ping crosses two such wake-ups: at the responder, the UDP reader's
 * TUN write makes the kernel queue the reply, which wakes the TUN reader
 * although the UDP reader then reads and sends the reply itself; at the
 * sender, the reply wakes the UDP reader although the TUN reader, spinning
 * for it, reads it first. In solo mode nothing waits on a file that the one
 * running thread is about to read anyway.
 *
 * Switching. A thread that wakes after WG_SOLO_GAP_NS without traffic on the
 * device makes it solo, unless the device saw bulk traffic (a read of at
 * least WG_BULK_READ packets) in the last WG_SPLIT_HOLD_NS: on a busy
 * machine bulk traffic has millisecond gaps too, and every switch costs a
 * wake-up. The solo thread makes it split again when one read
 * fills a batch, or when it handles more than WG_SOLO_MAX_PACKETS within a
 * WG_SOLO_WINDOW_NS window. (Packets, not time: a thread's wall-clock time
 * per packet grows when it is preempted, which would make a loaded machine
 * look like bulk traffic.) Every switch kicks the other threads, which
 * drain their kick and read the mode again before they next poll, so none
 * misses a switch. Polling is level-triggered: a datagram that arrives while
 * the threads change roles stays queued until the new poller looks, and a
 * socket polled by both for a moment only costs a spurious wake-up.
 */
#ifndef OVL_WG_POLLMODE_H
#define OVL_WG_POLLMODE_H

#include <stdbool.h>
#include <stdint.h>

struct wg_device;

enum wg_poll_mode {
	WG_POLL_SPLIT, /* a UDP reader per socket */
	WG_POLL_SOLO,  /* the TUN reader polls everything */
};

/* The threads that poll, as indexes of dev->poll_kick. */
enum wg_poller {
	WG_POLLER_TUN,
	WG_POLLER_UDP4,
	WG_POLLER_UDP6,
	WG_POLLERS,
};

/* No traffic for this long: the device goes solo. */
#define WG_SOLO_GAP_NS (1000 * 1000ull)
/* A read of this many packets is bulk traffic... */
#define WG_BULK_READ 8
/* ...which keeps the device split for this long. */
#define WG_SPLIT_HOLD_NS (50 * 1000 * 1000ull)
/* More packets than this within such a window: the device goes split. */
#define WG_SOLO_WINDOW_NS (4 * 1000 * 1000ull)
#define WG_SOLO_MAX_PACKETS 64

struct wg_solo_load {
	uint64_t window_start;
	unsigned packets; /* handled since window_start */
};

/* The solo thread handled packets at now: whether that is too many to stay solo. */
bool wg_solo_load_add(struct wg_solo_load *l, uint64_t now, unsigned packets);
/* Whether a wake-up at now, with the device's last traffic at last, ends a quiet spell. */
bool wg_solo_gap(uint64_t last, uint64_t now);

/* A thread handled a read of packets at now. Cheap enough for every batch. */
void wg_poll_traffic(struct wg_device *dev, uint64_t now, unsigned packets);
/*
 * Whether a split device was quiet until a thread woke at now: that thread
 * should make it solo once it has handled what woke it.
 */
bool wg_poll_quiet(struct wg_device *dev, uint64_t now);
/* Whether the device saw bulk traffic within WG_SPLIT_HOLD_NS before now. */
bool wg_poll_bulk(struct wg_device *dev, uint64_t now);
/* Switches the mode (if it is not already mode) and kicks the other pollers. */
void wg_poll_set_mode(struct wg_device *dev, enum wg_poll_mode mode, enum wg_poller self);
/* Wakes poller p to rebuild its poll set (its mode changed, or the sockets did). */
void wg_poll_kick(struct wg_device *dev, enum wg_poller p);
/* Consumes a kick of poller p; call before reading the mode again. */
void wg_poll_kicked(struct wg_device *dev, enum wg_poller p);

#endif
