// SPDX-License-Identifier: MIT
/*
 * The data-path threads and how they poll: a TUN reader per TUN queue
 * (busy-polling for answers after a send, SCHED_IDLE placement passes;
 * queue 0's also solo polling of the sockets for sparse traffic), one UDP
 * reader per data socket and the reader of the handshake sockets. What they
 * do with a packet is in send.c and receive.c; who polls what is decided
 * in pollmode.c, spin.c and placement.c.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "wg/device.h"
#include "wg/placement.h"
#include "wg/pollmode.h"
#include "wg/spin.h"

/*
 * Reads each UDP socket once, with dev->lock held; the number of datagrams
 * read. Unless wait, a socket that another thread is reading is skipped.
 */
static int receive_sockets_locked(struct wg_device *dev, struct udp_reader *ur, bool wait)
{
	int got = 0;
	for (int slot = 0; slot < 2; slot++)
		got += wg_udp_receive_data(dev, ur, slot, wait);
	return got;
}

/*
 * After sending a burst, poll the sockets and the TUN device without
 * sleeping for up to WG_SPIN_NS: the peer's answer (a ping reply, TCP ACKs)
 * is then handled here instead of waking a UDP reader. Stop as soon as
 * something was handled: whoever it woke (the pinging process, say) is
 * likely queued on this very CPU and must not wait behind a spinner.
 * Returns whether anything was handled, or -errno when the TUN device
 * failed.
 */
static int spin_for_answers(struct wg_device *dev, struct wg_tun_queue *q, struct udp_reader *ur)
{
	uint64_t deadline = wg_now_ns() + WG_SPIN_NS;

	while (!atomic_load(&dev->stopping)) {
		int got, n;
		pthread_rwlock_rdlock(&dev->lock);
		got = receive_sockets_locked(dev, ur, false);
		pthread_mutex_lock(&q->tx_lock);
		n = wg_tun_drain(dev, q, NULL);
		pthread_mutex_unlock(&q->tx_lock);
		pthread_rwlock_unlock(&dev->lock);
		if (n < 0)
			return n;
		if (got > 0 || n > 0)
			return 1;
		if (wg_now_ns() >= deadline)
			break;
	}
	return 0;
}

/* Leaves a SCHED_IDLE pass that began at start, cpu0 (see placement.h). */
static void end_idle_pass(struct wg_device *dev, struct wg_placement *pl, uint64_t start, uint64_t cpu0)
{
	uint64_t now, ran;
	int err = wg_thread_set_policy(WG_THREAD_SHORT_SLICE);
	if (err) {
		/* Cannot happen when wg_thread_placement_able() said yes; never try again. */
		log_error("wg %s: cannot leave SCHED_IDLE: %s", dev->ifname, strerror(-err));
		pl->able = false;
		return;
	}
	now = wg_now_ns();
	ran = wg_thread_cpu_ns() - cpu0;
	wg_placement_done(pl, now, now - start > ran ? now - start - ran : 0);
}

/*
 * A TUN reader's poll set: stop, kick (queue 0 only: -1 is skipped), its
 * TUN queue, and for queue 0 when solo the sockets.
 */
enum { TUN_PFD_STOP, TUN_PFD_KICK, TUN_PFD_TUN, TUN_PFD_UDP };
static nfds_t tun_poll_set(struct wg_device *dev, struct wg_tun_queue *q, struct pollfd pfd[TUN_PFD_UDP + 2])
{
	nfds_t n = TUN_PFD_UDP;
	pfd[TUN_PFD_STOP] = (struct pollfd){ .fd = dev->stop_fd, .events = POLLIN };
	pfd[TUN_PFD_KICK] = (struct pollfd){ .fd = q->index ? -1 : dev->poll_kick[WG_POLLER_TUN], .events = POLLIN };
	pfd[TUN_PFD_TUN] = (struct pollfd){ .fd = q->fd, .events = POLLIN };
	if (q->index || atomic_load(&dev->poll_mode) != WG_POLL_SOLO)
		return n;
	pthread_rwlock_rdlock(&dev->lock);
	for (int slot = 0; slot < 2; slot++)
		if (dev->udp_fd[slot] >= 0)
			pfd[n++] = (struct pollfd){ .fd = dev->udp_fd[slot], .events = POLLIN };
	pthread_rwlock_unlock(&dev->lock);
	return n;
}

/*
 * Reads one TUN queue. Queue 0's reader is the solo poller of pollmode.h:
 * it alone polls the sockets while the device is solo and moves it between
 * the modes (sparse traffic is written to queue 0, so its answers come back
 * there: wg_rx_queue). The others handle bulk flows that the kernel put on
 * their queues, and report their traffic so that the device stays split.
 */
void *wg_tun_reader(void *arg)
{
	struct wg_tun_queue *q = arg;
	struct wg_device *dev = q->dev;
	bool primary = q->index == 0;
	struct pollfd pfd[TUN_PFD_UDP + 2];
	struct udp_reader *ur = wg_udp_rx_new();
	struct wg_spin spin = { 0 };
	struct wg_placement placement = { .able = wg_thread_placement_able() };
	struct wg_solo_load load = { 0 };
	bool tun_woke = false, quiet = false;

	if (!ur) {
		log_error("wg %s: out of memory starting the TUN reader", dev->ifname);
		wg_device_mark_dead(dev);
		return NULL;
	}
	/* Wake-ups should preempt busy tasks rather than queue behind them. */
	if (wg_thread_set_policy(WG_THREAD_SHORT_SLICE))
		log_debug("wg %s: no short scheduler slice for the TUN reader", dev->ifname);
	while (!atomic_load(&dev->stopping)) {
		uint64_t start = wg_now_ns(), cpu0 = 0;
		bool solo = primary && atomic_load(&dev->poll_mode) == WG_POLL_SOLO;
		/*
		 * Placement is for what a local sender is waiting on, not for
		 * arrivals, and not amid bulk traffic, whose millisecond gaps
		 * would start passes that the busy CPUs then starve.
		 */
		bool idle = tun_woke && !wg_poll_bulk(dev, start) &&
			    wg_placement_wanted(&placement, start, wg_cpu_free_sampled()) &&
			    wg_thread_set_policy(WG_THREAD_IDLE) == 0;
		int n, got = 0;
		unsigned segments = 0;

		if (idle) {
			sched_yield(); /* to the sender this wake-up may have preempted */
			cpu0 = wg_thread_cpu_ns();
		}

		pthread_rwlock_rdlock(&dev->lock);
		pthread_mutex_lock(&q->tx_lock);
		n = wg_tun_drain(dev, q, &segments);
		pthread_mutex_unlock(&q->tx_lock);
		if (solo)
			got = receive_sockets_locked(dev, ur, true);
		pthread_rwlock_unlock(&dev->lock);
		if (n > 0)
			wg_placement_traffic(&placement, start);
		if (n > 0 || got > 0)
			/* Timed after the work: a bulk pass may take milliseconds. */
			wg_poll_traffic(dev, wg_now_ns(), segments > (unsigned)got ? segments : (unsigned)got);
		if (quiet) {
			/* Handled what ended a quiet spell: sparse traffic goes solo. */
			wg_poll_set_mode(dev, WG_POLL_SOLO, WG_POLLER_TUN);
			quiet = false;
		} else if (solo && (n == WG_BATCH || got >= WG_BATCH ||
				    wg_solo_load_add(&load, start, segments + (unsigned)got))) {
			/* Too much for one thread: the UDP readers take their sockets back. */
			wg_poll_set_mode(dev, WG_POLL_SPLIT, WG_POLLER_TUN);
		}
		if (idle && (segments >= WG_BULK_READ || got >= WG_BULK_READ)) {
			/* Bulk after all: ordinary scheduling for the rest of the pass. */
			end_idle_pass(dev, &placement, start, cpu0);
			idle = false;
		}
		if (n == WG_BATCH || got >= WG_BATCH)
			continue; /* bulk traffic: read on */
		if (n > 0 && wg_spin_wanted(&spin, wg_now_ns())) {
			n = spin_for_answers(dev, q, ur);
			if (n >= 0)
				wg_spin_done(&spin, n > 0, wg_now_ns());
		}
		if (idle)
			end_idle_pass(dev, &placement, start, cpu0);
		if (n < 0) {
			if (!atomic_load(&dev->stopping)) {
				/* EBADFD/EIO: someone deleted the link under us. */
				log_info("wg %s: TUN device gone (%s), shutting down", dev->ifname,
					 strerror(-n));
				wg_device_mark_dead(dev);
			}
			break;
		}
		if (poll(pfd, tun_poll_set(dev, q, pfd), -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		tun_woke = pfd[TUN_PFD_TUN].revents != 0;
		if (pfd[TUN_PFD_KICK].revents)
			wg_poll_kicked(dev, WG_POLLER_TUN);
		else if (tun_woke && primary)
			quiet = wg_poll_quiet(dev, wg_now_ns());
	}
	wg_udp_rx_free(ur);
	return NULL;
}

void *wg_udp_reader(void *arg)
{
	struct wg_udp_reader_arg *a = arg;
	struct wg_device *dev = a->dev;
	int slot = a->slot, fd = dev->udp_fd[slot];
	enum wg_poller self = slot ? WG_POLLER_UDP6 : WG_POLLER_UDP4;
	struct udp_reader *r = wg_udp_rx_new();
	struct pollfd pfd[4] = {
		{ .fd = dev->stop_fd, .events = POLLIN },
		{ .fd = dev->net_stop_fd, .events = POLLIN },
		{ .fd = dev->poll_kick[self], .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};

	free(a);
	if (!r) {
		log_error("wg %s: out of memory starting a UDP reader", dev->ifname);
		return NULL;
	}
	/* Network wake-ups should preempt busy tasks rather than queue behind them. */
	if (wg_thread_set_policy(WG_THREAD_SHORT_SLICE))
		log_debug("wg %s: no short scheduler slice for the UDP reader", dev->ifname);
	bool quiet = false;
	for (;;) {
		/* Solo: the TUN reader polls this socket (pollmode.h); wait for a kick. */
		bool split = atomic_load(&dev->poll_mode) == WG_POLL_SPLIT;
		if (split) {
			int n;
			pthread_rwlock_rdlock(&dev->lock);
			n = wg_udp_receive_data(dev, r, slot, true);
			pthread_rwlock_unlock(&dev->lock);
			if (n > 0)
				wg_poll_traffic(dev, wg_now_ns(), (unsigned)n);
			if (quiet) {
				/* Handled what ended a quiet spell: sparse traffic goes solo. */
				wg_poll_set_mode(dev, WG_POLL_SOLO, self);
				quiet = false;
				continue;
			}
			if (n > 0)
				continue;
		}
		if (atomic_load(&dev->stopping))
			break;
		if (poll(pfd, split ? 4 : 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents || pfd[1].revents)
			break;
		if (pfd[2].revents)
			wg_poll_kicked(dev, self);
		else if (split)
			quiet = wg_poll_quiet(dev, wg_now_ns());
	}
	wg_udp_rx_free(r);
	return NULL;
}

/*
 * The handshake sockets carry what the kernel did not steer to the data
 * sockets (socket.c): handshakes, STUN. Always read by this one thread,
 * whatever the poll mode, at ordinary priority: a flood of them costs this
 * thread its time, not the data path.
 */
void *wg_handshake_reader(void *arg)
{
	struct wg_device *dev = arg;
	struct udp_reader *r = wg_udp_rx_new();
	struct pollfd pfd[4] = {
		{ .fd = dev->stop_fd, .events = POLLIN },
		{ .fd = dev->net_stop_fd, .events = POLLIN },
	};
	nfds_t n = 2;

	if (!r) {
		log_error("wg %s: out of memory starting the handshake reader", dev->ifname);
		return NULL;
	}
	for (int slot = 0; slot < 2; slot++)
		if (dev->hs_fd[slot] >= 0)
			pfd[n++] = (struct pollfd){ .fd = dev->hs_fd[slot], .events = POLLIN };
	while (!atomic_load(&dev->stopping)) {
		int got = 0;
		pthread_rwlock_rdlock(&dev->lock);
		for (nfds_t i = 2; i < n; i++)
			got += wg_udp_receive(dev, r, pfd[i].fd);
		pthread_rwlock_unlock(&dev->lock);
		if (got > 0)
			continue;
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents || pfd[1].revents)
			break;
	}
	wg_udp_rx_free(r);
	return NULL;
}

int wg_udp_readers_start(struct wg_device *dev)
{
	for (int slot = 0; slot < 2; slot++) {
		struct wg_udp_reader_arg *a;
		dev->udp_running[slot] = false;
		if (dev->udp_fd[slot] < 0)
			continue;
		a = malloc(sizeof(*a));
		if (!a)
			return -ENOMEM;
		a->dev = dev;
		a->slot = slot;
		if (pthread_create(&dev->udp_thread[slot], NULL, wg_udp_reader, a)) {
			free(a);
			return -EAGAIN;
		}
		wg_thread_name(dev->udp_thread[slot], slot ? "udp6" : "udp4", dev->ifname);
		dev->udp_running[slot] = true;
	}
	dev->hs_reader_running = false;
	if (dev->hs_fd[0] < 0 && dev->hs_fd[1] < 0)
		return 0;
	if (pthread_create(&dev->hs_reader_thread, NULL, wg_handshake_reader, dev))
		return -EAGAIN;
	wg_thread_name(dev->hs_reader_thread, "hsrx", dev->ifname);
	dev->hs_reader_running = true;
	return 0;
}

void wg_udp_readers_stop(struct wg_device *dev)
{
	uint64_t one = 1, drain;
	if (write(dev->net_stop_fd, &one, sizeof(one)) < 0)
		log_warn("wg %s: cannot signal the UDP readers: %s", dev->ifname, strerror(errno));
	for (int slot = 0; slot < 2; slot++)
		if (dev->udp_running[slot])
			pthread_join(dev->udp_thread[slot], NULL);
	if (dev->hs_reader_running)
		pthread_join(dev->hs_reader_thread, NULL);
	dev->udp_running[0] = dev->udp_running[1] = dev->hs_reader_running = false;
	if (read(dev->net_stop_fd, &drain, sizeof(drain)) < 0 && errno != EAGAIN)
		log_warn("wg %s: cannot reset the UDP reader signal: %s", dev->ifname, strerror(errno));
}
