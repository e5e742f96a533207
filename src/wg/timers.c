// SPDX-License-Identifier: MIT
/*
 * The protocol's timers (paper section 6), as per-peer deadlines checked by
 * one timer thread per device about ten times a second - precise enough for
 * timeouts measured in seconds, and free of per-packet timer syscalls. The
 * event hooks below are called by the send and receive paths.
 */
#include <stdlib.h>
#include <time.h>

#include "util/log.h"
#include "wg/device.h"

#define SEC(x) ((uint64_t)(x) * NSEC_PER_SEC)

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t wg_now_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

uint64_t wg_unix_now_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

uint64_t wg_thread_cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/*
 * Timer jitter only has to keep peers from retrying in lockstep, so it comes
 * from a per-thread xorshift64 seeded once: data packets arm a timer and a
 * getrandom() syscall per packet showed up in request/response latency.
 */
static uint64_t jitter(void)
{
	static __thread uint64_t state;
	uint32_t r;
	while (!state)
		wg_random(&state, sizeof(state));
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	r = (uint32_t)(state >> 32);
	return (uint64_t)(r % WG_REKEY_TIMEOUT_JITTER_MS) * 1000000ULL;
}

static void arm(uint64_t *t, uint64_t delay)
{
	*t = wg_now_ns() + delay;
	if (*t == 0)
		*t = 1;
}

void wg_timers_data_sent(struct wg_peer *peer)
{
	if (!peer->t_new_handshake)
		arm(&peer->t_new_handshake, SEC(WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT) + jitter());
}

void wg_timers_data_received(struct wg_peer *peer)
{
	if (!peer->t_send_keepalive)
		arm(&peer->t_send_keepalive, SEC(WG_KEEPALIVE_TIMEOUT));
	else
		peer->need_another_keepalive = true;
}

void wg_timers_any_authenticated_packet_sent(struct wg_peer *peer)
{
	peer->t_send_keepalive = 0;
}

void wg_timers_any_authenticated_packet_received(struct wg_peer *peer)
{
	peer->t_new_handshake = 0;
}

void wg_timers_any_authenticated_packet_traversal(struct wg_peer *peer)
{
	if (peer->persistent_keepalive)
		arm(&peer->t_persistent, SEC(peer->persistent_keepalive));
}

void wg_timers_handshake_initiated(struct wg_peer *peer)
{
	peer->t_send_keepalive = 0;
	arm(&peer->t_retransmit, SEC(WG_REKEY_TIMEOUT) + jitter());
}

void wg_timers_handshake_complete(struct wg_peer *peer)
{
	peer->t_retransmit = 0;
	peer->handshake_attempts = 0;
	peer->sent_lastminute_handshake = false;
	peer->last_handshake_unix_ns = wg_unix_now_ns();
	if (peer->dev->cfg.on_handshake)
		peer->dev->cfg.on_handshake(peer->dev->cfg.user, peer->public_key);
}

void wg_timers_session_derived(struct wg_peer *peer)
{
	arm(&peer->t_zero_keys, SEC(WG_REJECT_AFTER_TIME) * 3);
}

void wg_timers_stop(struct wg_peer *peer)
{
	peer->t_retransmit = peer->t_send_keepalive = peer->t_new_handshake = 0;
	peer->t_zero_keys = peer->t_persistent = 0;
}

static bool due(uint64_t *t, uint64_t now)
{
	if (!*t || now < *t)
		return false;
	*t = 0;
	return true;
}

static void tick_peer(struct wg_peer *peer, uint64_t now)
{
	if (due(&peer->t_retransmit, now)) {
		if (peer->handshake_attempts > WG_MAX_TIMER_HANDSHAKES) {
			char ep[IP_ENDPOINT_STRLEN];
			log_debug("wg %s: handshake did not complete after %u attempts, giving up (endpoint %s)",
				  peer->dev->ifname, peer->handshake_attempts + 2,
				  ip_endpoint_format(&peer->endpoint, ep, sizeof(ep)));
			peer->t_send_keepalive = 0;
			atomic_fetch_add_explicit(&peer->handshake_failures, 1, memory_order_relaxed);
			/* Drop what waited for the session; keys go later. */
			while (peer->n_staged) {
				struct wg_staged *s = STAILQ_FIRST(&peer->staged);
				STAILQ_REMOVE_HEAD(&peer->staged, link);
				free(s);
				peer->n_staged--;
			}
			if (!peer->t_zero_keys)
				arm(&peer->t_zero_keys, SEC(WG_REJECT_AFTER_TIME) * 3);
		} else {
			peer->handshake_attempts++;
			wg_send_initiation(peer, true);
		}
	}
	if (due(&peer->t_send_keepalive, now)) {
		wg_send_keepalive(peer);
		if (peer->need_another_keepalive) {
			peer->need_another_keepalive = false;
			arm(&peer->t_send_keepalive, SEC(WG_KEEPALIVE_TIMEOUT));
		}
	}
	if (due(&peer->t_new_handshake, now)) {
		/* We sent data and heard nothing back: the session may be dead. */
		wg_send_initiation(peer, false);
	}
	if (due(&peer->t_zero_keys, now))
		wg_peer_zero_keys(peer);
	if (due(&peer->t_persistent, now))
		wg_send_keepalive(peer);
}

void wg_timers_tick(struct wg_device *dev)
{
	uint64_t now = wg_now_ns();
	struct wg_peer *peer;
	TAILQ_FOREACH(peer, &dev->peers, link) {
		pthread_mutex_lock(&peer->lock);
		tick_peer(peer, now);
		pthread_mutex_unlock(&peer->lock);
	}
}
