// SPDX-License-Identifier: MIT
/*
 * What a peer's paths did, for the NAT agent's path selection (nat/path.h):
 * when an authenticated packet last came directly and through each TURN
 * server, and when the direct path was last proven both ways by a
 * handshake whose two messages crossed it:
 *  - as initiator: a response that arrived directly to an initiation that
 *    left directly (a probe, or one sent on the UDP path);
 *  - as responder: a transport packet that arrived directly in the session
 *    whose initiation arrived directly and whose response we sent back the
 *    same way (the initiator uses a session only once our response reached
 *    it).
 * For the second, a response goes back by the path its initiation came
 * (wg_pathobs_send_response), not by the peer's chosen path: a relayed
 * peer probed directly must be able to prove the direct path.
 * All with peer->lock held; times are wg_now_ns().
 */
#include <string.h>

#include "wg/device.h"

/* 1 + the index of src among the device's TURN servers; 0: src is a direct address. */
static unsigned relay_slot(const struct wg_device *dev, const struct ip_endpoint *src)
{
	for (size_t i = 0; i < dev->n_relay_servers; i++)
		if (ip_endpoint_equal(&dev->relay_servers[i], src))
			return (unsigned)i + 1;
	return 0;
}

static bool note_rx(struct wg_peer *peer, const struct ip_endpoint *src, uint64_t now)
{
	unsigned slot = relay_slot(peer->dev, src);
	if (slot) {
		peer->path.relay_rx_ns[slot - 1] = now;
		return false;
	}
	peer->path.direct_rx_ns = now;
	return true;
}

void wg_pathobs_initiation_sent(struct wg_peer *peer, bool direct)
{
	peer->path.initiation_direct = direct;
}

void wg_pathobs_initiation(struct wg_peer *peer, const struct ip_endpoint *src, uint64_t now)
{
	note_rx(peer, src, now);
}

void wg_pathobs_response(struct wg_peer *peer, const struct ip_endpoint *src, uint64_t now)
{
	if (note_rx(peer, src, now) && peer->path.initiation_direct)
		peer->path.direct_proven_ns = now;
}

void wg_pathobs_data(struct wg_peer *peer, const struct noise_keypair *kp, const struct ip_endpoint *src,
		     uint64_t now)
{
	if (note_rx(peer, src, now) && peer->path.answered_direct_index &&
	    kp->local_index == peer->path.answered_direct_index)
		peer->path.direct_proven_ns = now;
}

int wg_pathobs_send_response(struct wg_peer *peer, const void *resp, size_t len, uint32_t index,
			     const struct ip_endpoint *src, const struct ip_addr *local)
{
	bool direct = !relay_slot(peer->dev, src);
	peer->path.answered_direct_index = direct ? index : 0;
	if (!direct || !peer->relay)
		return wg_send_to_peer(peer, resp, len); /* the UDP path's endpoint is src already */
	struct ip_addr from = local ? *local : (struct ip_addr){ 0 };
	int ret = wg_udp_send_from(peer->dev, src, &from, resp, len);
	if (!ret) {
		atomic_fetch_add(&peer->tx_bytes, len);
		atomic_fetch_add_explicit(&peer->tx_packets, 1, memory_order_relaxed);
	}
	return ret;
}

static int64_t unix_ms(uint64_t t, uint64_t now, uint64_t unix_now)
{
	if (!t)
		return 0;
	return (int64_t)((unix_now - (now - t)) / 1000000);
}

void wg_pathobs_status(const struct wg_peer *peer, struct wg_peer_status *ps)
{
	uint64_t now = wg_now_ns(), unix_now = wg_unix_now_ns();
	ps->direct_rx_ms = unix_ms(peer->path.direct_rx_ns, now, unix_now);
	ps->direct_proven_ms = unix_ms(peer->path.direct_proven_ns, now, unix_now);
	for (size_t i = 0; i < WG_MAX_RELAY_SERVERS; i++)
		ps->relay_rx_ms[i] = unix_ms(peer->path.relay_rx_ns[i], now, unix_now);
	ps->relayed = peer->relay;
}
