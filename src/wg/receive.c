// SPDX-License-Identifier: MIT
/*
 * Incoming datagrams: handshake messages (with cookie and rate-limit
 * checks first), cookie replies, and data, which is authenticated,
 * replay-checked, source-checked against the sending peer's allowed IPs
 * (cryptokey routing) and written to the TUN device.
 */
#include <errno.h>
#include <linux/udp.h>
#include <sys/uio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "wg/device.h"
#include "wg/placement.h"
#include "wg/pollmode.h"
#include "wg/offload.h"

static inline uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool wg_is_stun(const uint8_t *buf, size_t len)
{
	/* RFC 5389: top two bits zero, a body length (multiple of 4) that fits, magic cookie. */
	size_t body = len >= 20 ? (size_t)buf[2] << 8 | buf[3] : 0;
	return len >= 20 && (buf[0] & 0xc0) == 0 && body % 4 == 0 && 20 + body == len &&
	       buf[4] == 0x21 && buf[5] == 0x12 && buf[6] == 0xa4 && buf[7] == 0x42;
}

/*
 * MAC checks for a handshake message. Returns true when it may be
 * processed; under load, answers with a cookie reply instead.
 */
static bool admit_handshake(struct wg_device *dev, const uint8_t *buf, size_t len,
			    const struct ip_endpoint *src, uint32_t sender_index)
{
	uint64_t now = wg_now_ns();
	bool under_load = wg_ratelimit_under_load(&dev->ratelimit, now);
	enum wg_cookie_result res;

	pthread_mutex_lock(&dev->cookie_lock);
	res = wg_cookie_validate(&dev->cookie_checker, buf, len, src, under_load, now);
	if (res == WG_COOKIE_VALID_MAC1 && under_load) {
		struct wg_msg_cookie reply;
		if (!wg_cookie_create_reply(&dev->cookie_checker, &reply, buf, len, sender_index, src, now)) {
			pthread_mutex_unlock(&dev->cookie_lock);
			wg_udp_send(dev, src, &reply, sizeof(reply));
			return false;
		}
	}
	pthread_mutex_unlock(&dev->cookie_lock);
	if (res == WG_COOKIE_INVALID)
		return false;
	if (under_load && !wg_ratelimit_allow(&dev->ratelimit, &src->addr, now))
		return false;
	return true;
}

static void receive_initiation(struct wg_device *dev, uint8_t *buf, size_t len,
			       const struct ip_endpoint *src)
{
	const struct wg_msg_initiation *msg = (const struct wg_msg_initiation *)buf;
	struct noise_initiation in;
	struct wg_msg_response resp;
	struct noise_keypair *kp;
	struct wg_peer *peer;
	uint64_t now = wg_now_ns();
	uint32_t index;
	int ret;

	if (!admit_handshake(dev, buf, len, src, le32_at(buf + 4)))
		return;
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
	wg_peer_set_endpoint(peer, src);
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
	wg_send_to_peer(peer, &resp, sizeof(resp));
out:
	pthread_mutex_unlock(&peer->lock);
}

static void receive_response(struct wg_device *dev, uint8_t *buf, size_t len,
			     const struct ip_endpoint *src)
{
	const struct wg_msg_response *msg = (const struct wg_msg_response *)buf;
	struct noise_keypair *kp;
	struct wg_peer *peer;
	uint64_t now = wg_now_ns();
	uint32_t index = le32_at(buf + 8);

	if (!admit_handshake(dev, buf, len, src, le32_at(buf + 4)))
		return;
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
	wg_index_promote(&dev->index, index, kp);
	wg_peer_add_keypair(peer, kp);
	wg_peer_set_endpoint(peer, src);
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
	bool wrote; /* something went to the TUN device in this batch */
};

static void tun_write(struct wg_device *dev, const void *buf, size_t len)
{
	if (write(dev->tun_fd, buf, len) < 0)
		log_debug("wg %s: TUN write: %s", dev->ifname, strerror(errno));
}

static void rx_flush(struct wg_device *dev, struct wg_rx *rx)
{
	size_t n = wg_gro_finish(&rx->gro);
	if (n) {
		tun_write(dev, rx->gro.buf, n);
		rx->wrote = true;
	}
}

/* Hand a decrypted, source-checked packet to the kernel, coalescing TCP bursts. */
static void deliver(struct wg_device *dev, struct wg_rx *rx, const uint8_t *pkt, size_t len)
{
	if (!rx) {
		struct virtio_net_hdr vh = { 0 };
		struct iovec iov[2] = { { &vh, sizeof(vh) }, { (void *)pkt, len } };
		if (writev(dev->tun_fd, iov, 2) < 0)
			log_debug("wg %s: TUN write: %s", dev->ifname, strerror(errno));
		return;
	}
	if (!wg_gro_add(&rx->gro, pkt, len)) {
		rx_flush(dev, rx);
		wg_gro_add(&rx->gro, pkt, len);
	}
}

static void receive_data(struct wg_device *dev, struct wg_rx *rx, uint8_t *buf, size_t len,
			 const struct ip_endpoint *src)
{
	struct noise_keypair *kp;
	struct wg_peer *peer;
	uint64_t now = wg_now_ns();
	int plen;

	if (wg_index_lookup(&dev->index, le32_at(buf + 4), WG_INDEX_KEYPAIR, &peer, &kp))
		return;
	plen = noise_decrypt(kp, buf, len, now);
	if (plen < 0) {
		noise_keypair_put(kp);
		return;
	}
	atomic_fetch_add(&peer->rx_bytes, len);

	pthread_mutex_lock(&peer->lock);
	if (wg_peer_confirm_keypair(peer, kp)) {
		wg_timers_handshake_complete(peer);
		wg_send_staged(peer);
	}
	wg_peer_set_endpoint(peer, src);
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

void wg_receive_datagram(struct wg_device *dev, struct wg_rx *rx, uint8_t *buf, size_t len,
			 const struct ip_endpoint *src)
{
	switch (wg_message_classify(buf, len)) {
	case WG_MSG_INITIATION:
		receive_initiation(dev, buf, len, src);
		break;
	case WG_MSG_RESPONSE:
		receive_response(dev, buf, len, src);
		break;
	case WG_MSG_COOKIE:
		receive_cookie(dev, buf);
		break;
	case WG_MSG_DATA:
		receive_data(dev, rx, buf, len, src);
		break;
	default:
		if (dev->cfg.on_datagram)
			dev->cfg.on_datagram(dev->cfg.user, buf, len, src);
		break;
	}
}

struct udp_reader {
	uint8_t *bufs[WG_BATCH];
	struct mmsghdr msgs[WG_BATCH];
	struct iovec iov[WG_BATCH];
	struct sockaddr_storage addrs[WG_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl[WG_BATCH];
	struct wg_rx rx;
};

/* The UDP GRO segment size of a received buffer, or 0 if it holds one datagram. */
static size_t gro_size(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO) {
			int v;
			memcpy(&v, CMSG_DATA(cm), sizeof(v));
			return v > 0 ? (size_t)v : 0;
		}
	}
	return 0;
}

void wg_udp_rx_free(struct udp_reader *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < WG_BATCH; i++)
		free(r->bufs[i]);
	free(r->rx.gro.buf);
	free(r);
}

struct udp_reader *wg_udp_rx_new(void)
{
	struct udp_reader *r = calloc(1, sizeof(*r));
	bool ok = r != NULL;
	for (unsigned i = 0; ok && i < WG_BATCH; i++)
		ok = (r->bufs[i] = malloc(WG_MAX_PACKET)) != NULL;
	if (ok)
		ok = (r->rx.gro.buf = malloc(WG_VNET_HDR_LEN + WG_MAX_PACKET)) != NULL;
	if (!ok) {
		wg_udp_rx_free(r);
		return NULL;
	}
	return r;
}

int wg_udp_receive(struct wg_device *dev, struct udp_reader *r, int fd)
{
	int n, datagrams;
	for (unsigned i = 0; i < WG_BATCH; i++) {
		struct msghdr *mh = &r->msgs[i].msg_hdr;
		r->iov[i].iov_base = r->bufs[i];
		r->iov[i].iov_len = WG_MAX_PACKET;
		memset(&r->msgs[i], 0, sizeof(r->msgs[i]));
		mh->msg_name = &r->addrs[i];
		mh->msg_namelen = sizeof(r->addrs[i]);
		mh->msg_iov = &r->iov[i];
		mh->msg_iovlen = 1;
		mh->msg_control = r->ctl[i].buf;
		mh->msg_controllen = sizeof(r->ctl[i].buf);
	}
	n = recvmmsg(fd, r->msgs, WG_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
			log_warn("wg %s: UDP receive: %s", dev->ifname, strerror(errno));
		return 0;
	}
	datagrams = n;
	for (int i = 0; i < n; i++) {
		struct msghdr *mh = &r->msgs[i].msg_hdr;
		size_t total = r->msgs[i].msg_len, seg = gro_size(mh);
		struct ip_endpoint src;
		if (mh->msg_flags & MSG_TRUNC)
			continue;
		if (ip_endpoint_from_sockaddr((struct sockaddr *)&r->addrs[i], &src))
			continue;
		if (!seg)
			seg = total;
		else
			datagrams += (int)((total + seg - 1) / seg) - 1; /* GRO: one buffer, many datagrams */
		for (size_t off = 0; off < total; off += seg) {
			size_t len = total - off < seg ? total - off : seg;
			wg_receive_datagram(dev, &r->rx, r->bufs[i] + off, len, &src);
		}
	}
	rx_flush(dev, &r->rx);
	/*
	 * What we just wrote may have made the kernel answer at once (ping
	 * replies, TCP ACKs and the data they release): send it from here
	 * unless another thread is already at it.
	 */
	if (r->rx.wrote && pthread_mutex_trylock(&dev->tun_tx_lock) == 0) {
		if (wg_tun_drain(dev, NULL) < 0)
			wg_device_mark_dead(dev);
		pthread_mutex_unlock(&dev->tun_tx_lock);
	}
	r->rx.wrote = false;
	return datagrams;
}

void *wg_udp_reader(void *arg)
{
	struct wg_udp_reader_arg *a = arg;
	struct wg_device *dev = a->dev;
	int fd = dev->udp_fd[a->slot];
	enum wg_poller self = a->slot ? WG_POLLER_UDP6 : WG_POLLER_UDP4;
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
			n = wg_udp_receive(dev, r, fd);
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
