// SPDX-License-Identifier: MIT
/*
 * Incoming WireGuard messages: handshake messages (cookie and rate-limit
 * checks here, the Diffie-Hellman work on the handshake worker: see
 * handshake.h), cookie replies, and data, which is authenticated,
 * replay-checked, source-checked against the sending peer's allowed IPs
 * (cryptokey routing) and written to the TUN device.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "wg/device.h"
#include "wg/handshake.h"
#include "wg/offload.h"

/*
 * The cheap checks a handshake message passes on the receive path, before
 * it may queue for Diffie-Hellman work (handshake.h): a valid MAC1; under
 * load also a valid MAC2 (else a cookie reply, at most WG_RATELIMIT_* per
 * source: answering every initiation of a flood would make us its
 * amplifier) and the per-source handshake rate limit.
 */
static bool admit_handshake(struct wg_device *dev, const uint8_t *buf, size_t len,
			    const struct ip_endpoint *src)
{
	uint64_t now = wg_now_ns();
	bool under_load = wg_ratelimit_under_load(&dev->ratelimit, now) ||
			  (dev->handshakes && wg_handshake_queue_busy(dev->handshakes, now));
	enum wg_cookie_result res;
	struct wg_msg_cookie reply;
	int ret;

	pthread_mutex_lock(&dev->cookie_lock);
	res = wg_cookie_validate(&dev->cookie_checker, buf, len, src, under_load, now);
	pthread_mutex_unlock(&dev->cookie_lock);
	if (res == WG_COOKIE_INVALID)
		return false;
	if (res == WG_COOKIE_VALID_MAC1 && under_load) {
		if (!wg_ratelimit_allow(&dev->cookie_ratelimit, &src->addr, now)) {
			atomic_fetch_add(&dev->cookie_replies_limited, 1);
			return false;
		}
		pthread_mutex_lock(&dev->cookie_lock);
		ret = wg_cookie_create_reply(&dev->cookie_checker, &reply, buf, len, le32_get(buf + 4),
					     src, now);
		pthread_mutex_unlock(&dev->cookie_lock);
		if (!ret && wg_udp_send(dev, src, &reply, sizeof(reply)) == 0)
			atomic_fetch_add_explicit(&dev->cookie_replies_sent, 1, memory_order_relaxed);
		return false;
	}
	if (under_load && !wg_ratelimit_allow(&dev->ratelimit, &src->addr, now)) {
		atomic_fetch_add_explicit(&dev->hs_rate_limited, 1, memory_order_relaxed);
		return false;
	}
	return true;
}

static void receive_initiation(struct wg_device *dev, uint8_t *buf, size_t len,
			       const struct ip_endpoint *src, const struct ip_addr *local)
{
	const struct wg_msg_initiation *msg = (const struct wg_msg_initiation *)buf;
	struct noise_initiation in;
	struct wg_msg_response resp;
	struct noise_keypair *kp;
	struct wg_peer *peer;
	uint64_t now = wg_now_ns();
	uint32_t index;
	int ret;

	if (noise_consume_initiation(msg, &dev->identity, &in))
		return;
	peer = wg_peer_find(dev, in.remote_static);
	if (!peer) {
		wg_memzero(&in, sizeof(in));
		return;
	}
	pthread_mutex_lock(&peer->lock);
	ret = noise_accept_initiation(&peer->hs, &in, now);
	wg_memzero(&in, sizeof(in));
	if (ret)
		goto out;
	atomic_fetch_add(&peer->rx_bytes, len);
	atomic_fetch_add_explicit(&peer->rx_packets, 1, memory_order_relaxed);
	wg_peer_set_endpoint(peer, src, local);
	wg_pathobs_initiation(peer, src, now);
	index = wg_index_add_handshake(&dev->index, peer);
	if (!index)
		goto out;
	if (noise_create_response(&resp, &peer->hs, index) ||
	    wg_cookie_add_macs(&peer->cookie, (uint8_t *)&resp, sizeof(resp), now) ||
	    !(kp = noise_begin_session(&peer->hs, now))) {
		wg_index_remove(&dev->index, index);
		noise_handshake_clear(&peer->hs);
		goto out;
	}
	wg_index_promote(&dev->index, index, kp);
	wg_peer_add_keypair(peer, kp); /* the peer now owns our reference */
	wg_timers_any_authenticated_packet_traversal(peer);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_timers_session_derived(peer);
	log_debug("wg %s: received handshake initiation, sending response", dev->ifname);
	wg_pathobs_send_response(peer, &resp, sizeof(resp), index, src, local);
out:
	pthread_mutex_unlock(&peer->lock);
}

static void receive_response(struct wg_device *dev, uint8_t *buf, size_t len,
			     const struct ip_endpoint *src, const struct ip_addr *local)
{
	const struct wg_msg_response *msg = (const struct wg_msg_response *)buf;
	struct noise_keypair *kp;
	struct wg_peer *peer;
	uint64_t now = wg_now_ns();
	uint32_t index = le32_get(buf + 8);

	if (wg_index_lookup(&dev->index, index, WG_INDEX_HANDSHAKE, &peer, NULL))
		return;
	pthread_mutex_lock(&peer->lock);
	if (peer->hs.state != NOISE_CREATED_INITIATION || peer->hs.local_index != index ||
	    noise_consume_response(msg, &peer->hs, &dev->identity))
		goto out;
	kp = noise_begin_session(&peer->hs, now);
	if (!kp) {
		wg_index_remove(&dev->index, index);
		goto out;
	}
	atomic_fetch_add(&peer->rx_bytes, len);
	atomic_fetch_add_explicit(&peer->rx_packets, 1, memory_order_relaxed);
	wg_index_promote(&dev->index, index, kp);
	wg_peer_add_keypair(peer, kp);
	wg_peer_set_endpoint(peer, src, local);
	wg_pathobs_response(peer, src, now);
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer);
	wg_timers_session_derived(peer);
	wg_timers_handshake_complete(peer);
	log_debug("wg %s: received handshake response, session established", dev->ifname);
	/* Confirm the session to the responder, who may not send before it hears from us. */
	if (peer->n_staged)
		wg_send_staged(peer);
	else
		wg_send_keepalive(peer);
out:
	pthread_mutex_unlock(&peer->lock);
}

static void receive_cookie(struct wg_device *dev, const uint8_t *buf)
{
	const struct wg_msg_cookie *msg = (const struct wg_msg_cookie *)buf;
	struct noise_keypair *kp = NULL;
	struct wg_peer *peer;

	if (wg_index_lookup(&dev->index, le32toh(msg->receiver_index),
			    WG_INDEX_HANDSHAKE | WG_INDEX_KEYPAIR, &peer, &kp))
		return;
	noise_keypair_put(kp);
	pthread_mutex_lock(&peer->lock);
	if (wg_cookie_consume_reply(&peer->cookie, msg, wg_now_ns()))
		log_debug("wg %s: dropping a cookie reply that does not authenticate", dev->ifname);
	pthread_mutex_unlock(&peer->lock);
}

/*
 * The inner packet's length from its IP header, or 0 when it is not a
 * well-formed IPv4/IPv6 packet; *src points at its source address.
 */
static size_t inner_packet(const uint8_t *p, size_t len, sa_family_t *family, const uint8_t **src)
{
	size_t total;
	if (len >= 20 && (p[0] >> 4) == 4) {
		total = (size_t)p[2] << 8 | p[3];
		*family = AF_INET;
		*src = p + 12;
		return total >= 20 && total <= len ? total : 0;
	}
	if (len >= 40 && (p[0] >> 4) == 6) {
		total = 40 + ((size_t)p[4] << 8 | p[5]);
		*family = AF_INET6;
		*src = p + 8;
		return total <= len ? total : 0;
	}
	return 0;
}

struct wg_rx {
	struct wg_gro gro;
	unsigned wrote; /* the TUN queues written to in this batch, one bit each */
	/*
	 * The received bytes and messages of one peer, added to its counters
	 * when another peer's message comes or at the flush: two atomic adds a
	 * batch instead of two a message.
	 */
	struct wg_peer *count_peer;
	uint64_t count_bytes, count_packets;
};

static void count_flush(struct wg_rx *rx)
{
	if (!rx->count_peer)
		return;
	atomic_fetch_add_explicit(&rx->count_peer->rx_bytes, rx->count_bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&rx->count_peer->rx_packets, rx->count_packets, memory_order_relaxed);
	rx->count_peer = NULL;
	rx->count_bytes = rx->count_packets = 0;
}

/* Counts a received message of len bytes from peer, at once without a batch. */
static void count_received(struct wg_rx *rx, struct wg_peer *peer, size_t len)
{
	if (!rx) {
		atomic_fetch_add_explicit(&peer->rx_bytes, len, memory_order_relaxed);
		atomic_fetch_add_explicit(&peer->rx_packets, 1, memory_order_relaxed);
		return;
	}
	if (rx->count_peer != peer) {
		count_flush(rx);
		rx->count_peer = peer;
	}
	rx->count_bytes += len;
	rx->count_packets++;
}

struct wg_rx *wg_rx_new(void)
{
	struct wg_rx *rx = calloc(1, sizeof(*rx));
	if (rx && !(rx->gro.buf = malloc(WG_VNET_HDR_LEN + WG_MAX_PACKET))) {
		free(rx);
		return NULL;
	}
	return rx;
}

void wg_rx_free(struct wg_rx *rx)
{
	if (!rx)
		return;
	free(rx->gro.buf);
	free(rx);
}

unsigned wg_rx_queue(const struct wg_device *dev, const uint8_t *pkt, size_t len)
{
	uint32_t hash = 0, word;
	size_t l4 = 0;
	uint8_t proto = 0;

	if (dev->n_queues <= 1 || atomic_load_explicit(&dev->poll_mode, memory_order_relaxed) == WG_POLL_SOLO)
		return 0;
	/* Sums of the addresses and of the ports: the same for both directions of a flow. */
	if (len >= 20 && (pkt[0] >> 4) == 4) {
		for (size_t off = 12; off < 20; off += 4) {
			memcpy(&word, pkt + off, 4);
			hash += word;
		}
		proto = pkt[9];
		/* Only a first fragment (offset 0) has the ports; keep a fragmented flow on one queue. */
		l4 = (pkt[6] & 0x3f) || pkt[7] ? 0 : (size_t)(pkt[0] & 0xf) * 4;
	} else if (len >= 40 && (pkt[0] >> 4) == 6) {
		for (size_t off = 8; off < 40; off += 4) {
			memcpy(&word, pkt + off, 4);
			hash += word;
		}
		proto = pkt[6];
		l4 = 40;
	}
	if (l4 && (proto == IPPROTO_TCP || proto == IPPROTO_UDP) && len >= l4 + 4)
		hash += (uint32_t)(pkt[l4] << 8 | pkt[l4 + 1]) + (uint32_t)(pkt[l4 + 2] << 8 | pkt[l4 + 3]);
	hash += proto;
	hash *= 0x9e3779b1u; /* Fibonacci hashing: the high bits mix all the input */
	return (unsigned)(((uint64_t)(hash >> 16) * dev->n_queues) >> 16);
}

/* Writes one packet (after its virtio-net header at buf) to the queue its flow goes to. */
static void tun_write(struct wg_device *dev, struct wg_rx *rx, const void *buf, size_t len)
{
	unsigned q = wg_rx_queue(dev, (const uint8_t *)buf + WG_VNET_HDR_LEN, len - WG_VNET_HDR_LEN);
	if (write(dev->queue[q].fd, buf, len) < 0)
		log_debug("wg %s: TUN write: %s", dev->ifname, strerror(errno));
	rx->wrote |= 1u << q;
}

static void rx_flush(struct wg_device *dev, struct wg_rx *rx)
{
	size_t n = wg_gro_finish(&rx->gro);
	if (n)
		tun_write(dev, rx, rx->gro.buf, n);
}

unsigned wg_rx_flush(struct wg_device *dev, struct wg_rx *rx)
{
	unsigned wrote;
	rx_flush(dev, rx);
	count_flush(rx);
	wrote = rx->wrote;
	rx->wrote = 0;
	return wrote;
}

/* Hand a decrypted, source-checked packet to the kernel, coalescing TCP bursts. */
static void deliver(struct wg_device *dev, struct wg_rx *rx, const uint8_t *pkt, size_t len)
{
	if (!rx) {
		struct virtio_net_hdr vh = { 0 };
		struct iovec iov[2] = { { &vh, sizeof(vh) }, { (void *)pkt, len } };
		if (writev(dev->queue[wg_rx_queue(dev, pkt, len)].fd, iov, 2) < 0)
			log_debug("wg %s: TUN write: %s", dev->ifname, strerror(errno));
		return;
	}
	if (!wg_gro_add(&rx->gro, pkt, len)) {
		rx_flush(dev, rx);
		wg_gro_add(&rx->gro, pkt, len);
	}
}

void wg_receive_data_open(struct wg_device *dev, uint8_t *buf, size_t len, struct wg_rx_data *d)
{
	d->plen = -1;
	if (wg_index_lookup(&dev->index, le32_get(buf + 4), WG_INDEX_KEYPAIR, &d->peer, &d->kp))
		return;
	d->plen = noise_decrypt(d->kp, buf, len, wg_now_ns());
	if (d->plen < 0)
		noise_keypair_put(d->kp);
}

void wg_receive_data_deliver(struct wg_device *dev, struct wg_rx *rx, uint8_t *buf, size_t len,
			     const struct wg_rx_data *d, const struct ip_endpoint *src,
			     const struct ip_addr *local)
{
	struct noise_keypair *kp = d->kp;
	struct wg_peer *peer = d->peer;
	uint64_t now = wg_now_ns();
	int plen = d->plen;

	if (plen < 0)
		return;
	count_received(rx, peer, len);

	pthread_mutex_lock(&peer->lock);
	if (wg_peer_confirm_keypair(peer, kp)) {
		wg_timers_handshake_complete(peer);
		wg_send_staged(peer);
	}
	wg_peer_set_endpoint(peer, src, local);
	wg_pathobs_data(peer, kp, src, now);
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer);
	/*
	 * Keep the key fresh: as the initiator of a session about to hit
	 * reject-after-time, start the next handshake before it is too late.
	 */
	if (peer->kp_current == kp && kp->initiator && !peer->sent_lastminute_handshake &&
	    now - kp->birth_ns >= (WG_REJECT_AFTER_TIME - WG_KEEPALIVE_TIMEOUT - WG_REKEY_TIMEOUT) * NSEC_PER_SEC) {
		peer->sent_lastminute_handshake = true;
		wg_send_initiation(peer, false);
	}
	if (plen > 0)
		wg_timers_data_received(peer);
	pthread_mutex_unlock(&peer->lock);
	noise_keypair_put(kp);

	if (plen == 0)
		return; /* keepalive */
	uint8_t *inner = buf + WG_DATA_HEADER_LEN;
	sa_family_t family = 0;
	const uint8_t *saddr = NULL;
	size_t ilen = inner_packet(inner, (size_t)plen, &family, &saddr);
	if (!ilen) {
		log_debug("wg %s: dropping a malformed inner packet", dev->ifname);
		return;
	}
	/* Cryptokey routing: the source must be one of this peer's allowed IPs. */
	if (wg_allowedips_lookup_raw(&dev->aips, family, saddr) != &peer->aips) {
		log_debug("wg %s: dropping a packet from an address outside the peer's allowed IPs",
			  dev->ifname);
		return;
	}
	deliver(dev, rx, inner, ilen);
}

void wg_receive_handshake(struct wg_device *dev, uint8_t *buf, size_t len,
			  const struct ip_endpoint *src, const struct ip_addr *local)
{
	switch (wg_message_classify(buf, len)) {
	case WG_MSG_INITIATION:
		receive_initiation(dev, buf, len, src, local);
		break;
	case WG_MSG_RESPONSE:
		receive_response(dev, buf, len, src, local);
		break;
	default:
		break;
	}
}

void wg_receive_datagram(struct wg_device *dev, struct wg_rx *rx, uint8_t *buf, size_t len,
			 const struct ip_endpoint *src)
{
	wg_receive_datagram_on(dev, rx, buf, len, src, NULL);
}

void wg_receive_datagram_on(struct wg_device *dev, struct wg_rx *rx, uint8_t *buf, size_t len,
			    const struct ip_endpoint *src, const struct ip_addr *local)
{
	wg_receive_message(dev, rx, wg_message_classify(buf, len), buf, len, src, local);
}

void wg_receive_message(struct wg_device *dev, struct wg_rx *rx, enum wg_message_type type, uint8_t *buf,
			size_t len, const struct ip_endpoint *src, const struct ip_addr *local)
{
	struct wg_rx_data d;
	switch (type) {
	case WG_MSG_INITIATION:
	case WG_MSG_RESPONSE:
		if (!admit_handshake(dev, buf, len, src))
			break;
		/* The Diffie-Hellman work: on the handshake worker, if the device has one. */
		if (!dev->handshakes)
			wg_receive_handshake(dev, buf, len, src, local);
		else
			wg_handshake_queue_push(dev->handshakes, buf, len, src, local, wg_now_ns());
		break;
	case WG_MSG_COOKIE:
		receive_cookie(dev, buf);
		break;
	case WG_MSG_DATA:
		wg_receive_data_open(dev, buf, len, &d);
		wg_receive_data_deliver(dev, rx, buf, len, &d, src, local);
		break;
	default:
		break; /* not WireGuard: socket.c hands those elsewhere */
	}
}
