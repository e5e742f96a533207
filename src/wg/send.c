// SPDX-License-Identifier: MIT
/*
 * Outgoing packets: handshake initiations, keepalives, packets staged while
 * a session is being set up, and what the kernel routes into the tunnel,
 * read from the TUN device, encrypted and sent in batches (sendmmsg, UDP
 * GSO). The threads that read the TUN queues are in threads.c.
 */
#include <errno.h>
#include <linux/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "wg/device.h"
#include "wg/offload.h"
#include "wg/socket.h"

enum wg_path_kind wg_peer_path(const struct wg_peer *peer, struct ip_endpoint *ep, struct ip_addr *src)
{
	if (peer->relay) {
		*ep = peer->relay_server;
		memset(src, 0, sizeof(*src));
		return peer->relay_channel ? WG_PATH_RELAY : WG_PATH_RELAY_SEND;
	}
	if (!peer->has_endpoint)
		return WG_PATH_NONE;
	*ep = peer->endpoint;
	*src = peer->src;
	return WG_PATH_UDP;
}

/* The one place that sends a datagram to a peer, whatever its path. */
int wg_send_to_peer(struct wg_peer *peer, const void *buf, size_t len)
{
	struct ip_endpoint ep;
	struct ip_addr src;
	int ret;
	switch (wg_peer_path(peer, &ep, &src)) {
	case WG_PATH_UDP:
		ret = wg_udp_send_from(peer->dev, &ep, &src, buf, len);
		if (!src.family)
			peer->src = src; /* no longer ours: forget it */
		break;
	case WG_PATH_RELAY:
		ret = wg_relay_send(peer->dev, &ep, peer->relay_channel, buf, len);
		break;
	case WG_PATH_RELAY_SEND:
		ret = wg_relay_send_indication(peer->dev, &ep, &peer->relay_target, buf, len);
		break;
	case WG_PATH_NONE:
	default:
		return -EDESTADDRREQ;
	}
	if (!ret) {
		atomic_fetch_add(&peer->tx_bytes, len);
		atomic_fetch_add_explicit(&peer->tx_packets, 1, memory_order_relaxed);
	}
	return ret;
}

/*
 * A fresh initiation for peer into msg (with peer->lock held), the timers
 * told. 0, or -errno when none can be made (no key, no free index).
 */
static int create_initiation(struct wg_peer *peer, struct wg_msg_initiation *msg, uint64_t now)
{
	struct wg_device *dev = peer->dev;
	uint32_t index;
	int ret;

	if (!dev->identity.has_key)
		return -ENOKEY;
	if (peer->hs.state != NOISE_ZEROED)
		wg_index_remove(&dev->index, peer->hs.local_index);
	index = wg_index_add_handshake(&dev->index, peer);
	if (!index)
		return -ENOMEM;
	ret = noise_create_initiation(msg, &peer->hs, &dev->identity, index, wg_unix_now_ns());
	if (!ret)
		ret = wg_cookie_add_macs(&peer->cookie, (uint8_t *)msg, sizeof(*msg), now);
	if (ret) {
		wg_index_remove(&dev->index, index);
		noise_handshake_clear(&peer->hs);
		log_debug("wg %s: cannot create handshake initiation: %s", dev->ifname, strerror(-ret));
		return ret;
	}
	peer->last_initiation_sent_ns = now;
	wg_timers_any_authenticated_packet_traversal(peer);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_timers_handshake_initiated(peer);
	return 0;
}

void wg_send_initiation(struct wg_peer *peer, bool is_retry)
{
	struct wg_device *dev = peer->dev;
	struct wg_msg_initiation msg;
	uint64_t now = wg_now_ns();
	int ret;

	if (!is_retry)
		peer->handshake_attempts = 0;
	if (peer->last_initiation_sent_ns && now - peer->last_initiation_sent_ns < WG_REKEY_TIMEOUT * NSEC_PER_SEC)
		return;
	struct ip_endpoint ep;
	struct ip_addr src;
	enum wg_path_kind path = wg_peer_path(peer, &ep, &src);
	if (path == WG_PATH_NONE || create_initiation(peer, &msg, now) < 0)
		return;
	wg_pathobs_initiation_sent(peer, path == WG_PATH_UDP);
	ret = wg_send_to_peer(peer, &msg, sizeof(msg));
	if (!ret)
		atomic_fetch_add_explicit(&peer->handshake_initiations, 1, memory_order_relaxed);
	log_debug("wg %s: sending handshake initiation%s", dev->ifname, is_retry ? " (retry)" : "");
	if (ret)
		log_debug("wg %s: sending handshake initiation failed: %s", dev->ifname, strerror(-ret));
}

static bool keypair_fresh(const struct noise_keypair *kp, uint64_t now)
{
	return atomic_load(&kp->valid) &&
	       now - kp->birth_ns < WG_REJECT_AFTER_TIME * NSEC_PER_SEC &&
	       atomic_load(&kp->send_counter) < WG_REJECT_AFTER_MESSAGES;
}

int wg_peer_probe(struct wg_device *dev, const uint8_t key[WG_KEY_LEN], const struct ip_endpoint *eps, size_t n)
{
	struct wg_msg_initiation msg;
	struct wg_peer *peer;
	int ret = -ENOENT, sent = 0;

	pthread_rwlock_rdlock(&dev->lock);
	peer = wg_peer_find(dev, key);
	if (peer) {
		struct ip_endpoint relay;
		struct ip_addr src;
		uint64_t now = wg_now_ns();
		pthread_mutex_lock(&peer->lock);
		bool session = peer->kp_current && keypair_fresh(peer->kp_current, now);
		peer->handshake_attempts = 0;
		ret = create_initiation(peer, &msg, now);
		wg_pathobs_initiation_sent(peer, true);
		/*
		 * A peer on a relay with no session yet gets the same initiation
		 * through the relay: a probe replaces the handshake in flight, so
		 * an initiation sent on the relay alone would be answered to a
		 * handshake already forgotten, and the relayed session would wait
		 * for the rekey timeout ("relay first" would not be true). Once a
		 * session runs, probes go direct only, so that the answer to one
		 * comes back the way it went and proves the direct path.
		 */
		enum wg_path_kind path = wg_peer_path(peer, &relay, &src);
		if (!ret && !session && (path == WG_PATH_RELAY || path == WG_PATH_RELAY_SEND))
			(void)wg_send_to_peer(peer, &msg, sizeof(msg));
		pthread_mutex_unlock(&peer->lock);
	}
	/* One message to every candidate: the responder's replay check keeps only the first copy. */
	for (size_t i = 0; !ret && i < n; i++)
		if (wg_udp_send(dev, &eps[i], &msg, sizeof(msg)) == 0) {
			atomic_fetch_add(&peer->tx_bytes, sizeof(msg));
			sent++;
		}
	pthread_rwlock_unlock(&dev->lock);
	return ret ? ret : sent;
}

/*
 * The current keypair (with a reference) if it may send, else NULL. As the
 * initiator, also start a new handshake when the session is getting old.
 */
static struct noise_keypair *sending_keypair(struct wg_peer *peer, uint64_t now)
{
	struct noise_keypair *kp = peer->kp_current;
	if (!kp || !keypair_fresh(kp, now))
		return NULL;
	if (kp->initiator && (atomic_load(&kp->send_counter) > WG_REKEY_AFTER_MESSAGES ||
			      now - kp->birth_ns > WG_REKEY_AFTER_TIME * NSEC_PER_SEC))
		wg_send_initiation(peer, false);
	return noise_keypair_get(kp);
}

/* Encrypt one packet at buf + WG_DATA_HEADER_LEN in place and send it. */
static int send_data(struct wg_peer *peer, struct noise_keypair *kp, uint8_t *buf, size_t len)
{
	struct wg_device *dev = peer->dev;
	uint64_t now = wg_now_ns();
	int n = noise_encrypt(kp, buf, buf + WG_DATA_HEADER_LEN, len, dev->mtu, now, NULL);
	if (n < 0)
		return n;
	if (len)
		wg_timers_data_sent(peer);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_timers_any_authenticated_packet_traversal(peer);
	return wg_send_to_peer(peer, buf, (size_t)n);
}

void wg_send_keepalive(struct wg_peer *peer)
{
	uint8_t buf[WG_MSG_DATA_MIN_LEN];
	struct noise_keypair *kp = sending_keypair(peer, wg_now_ns());
	if (!kp) {
		wg_send_initiation(peer, false);
		return;
	}
	send_data(peer, kp, buf, 0);
	noise_keypair_put(kp);
}

void wg_stage_packet(struct wg_peer *peer, const uint8_t *pkt, size_t len)
{
	struct wg_staged *s;
	if (peer->n_staged >= WG_MAX_STAGED) {
		/* Oldest first out: the newest packets are likelier to matter. */
		s = STAILQ_FIRST(&peer->staged);
		STAILQ_REMOVE_HEAD(&peer->staged, link);
		free(s);
		peer->n_staged--;
	}
	s = malloc(sizeof(*s) + WG_DATA_HEADER_LEN + len + WG_PADDING_MULTIPLE + WG_AEAD_TAG_LEN);
	if (!s)
		return;
	s->len = len;
	memcpy(s->data + WG_DATA_HEADER_LEN, pkt, len);
	STAILQ_INSERT_TAIL(&peer->staged, s, link);
	peer->n_staged++;
}

void wg_send_staged(struct wg_peer *peer)
{
	struct noise_keypair *kp;
	struct wg_staged *s;
	if (!peer->n_staged)
		return;
	kp = sending_keypair(peer, wg_now_ns());
	if (!kp) {
		wg_send_initiation(peer, false);
		return;
	}
	while ((s = STAILQ_FIRST(&peer->staged))) {
		STAILQ_REMOVE_HEAD(&peer->staged, link);
		peer->n_staged--;
		send_data(peer, kp, s->data, s->len);
		free(s);
	}
	noise_keypair_put(kp);
}

/*
 * Batched, segmented transmission. Each TUN read (up to a 64 KiB TCP
 * super-packet) is cut into MTU-sized segments, encrypted back to back into
 * one buffer (sealed at the flush: see pending_seal), and becomes one or a
 * few sendmmsg entries using UDP GSO (UDP_SEGMENT): one syscall sends a
 * whole batch of reads.
 */
#define TX_BUF_SIZE (1u << 19)
#define TX_MAX_GSO_SEGS 64
#define TX_MAX_GSO_BYTES 65000

struct send_batch {
	struct mmsghdr msgs[WG_BATCH];
	struct iovec iov[WG_BATCH];
	struct sockaddr_storage addrs[WG_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl[WG_BATCH];
	uint16_t gso[WG_BATCH];
	unsigned n;
};

/*
 * A segment whose header and padding are written (noise_encrypt_begin) and
 * whose sealing waits for the batch's flush, when the segments of all its
 * reads are sealed at once, on the device's workers too when there are
 * enough (ordered.h). They leave in the order they were read whoever
 * sealed them: sendmmsg runs after the last seal.
 */
struct pending_seal {
	uint8_t *out;
	size_t len;
	const struct noise_keypair *kp;
};
#define TX_MAX_PENDING 1024
/* Fewer segments than this are sealed by the reader alone; workers claim chunks of TX_CHUNK. */
#define TX_PARALLEL_MIN 16
#define TX_CHUNK 8

struct tun_reader {
	uint8_t *rbuf;	  /* one TUN read: virtio-net header + packet */
	uint8_t *scratch; /* a segment being staged */
	uint8_t *obuf;	  /* ciphertext of the batch */
	size_t oused;
	struct send_batch batch[2];
	struct pending_seal pending[TX_MAX_PENDING];
	unsigned n_pending;
	/* The references that keep the pending segments' keypairs alive: one per read. */
	struct noise_keypair *held[WG_BATCH];
	unsigned n_held;
	struct wg_batch seal;
};

/* Send an entry's datagrams one by one, without control messages (no UDP GSO, no source address). */
static void send_unsegmented(int fd, struct send_batch *b, unsigned k)
{
	uint8_t *p = b->iov[k].iov_base;
	size_t left = b->iov[k].iov_len, seg = b->gso[k] ? b->gso[k] : left;
	while (left) {
		size_t n = left < seg ? left : seg;
		if (sendto(fd, p, n, 0, b->msgs[k].msg_hdr.msg_name, b->msgs[k].msg_hdr.msg_namelen) < 0)
			break;
		p += n;
		left -= n;
	}
}

static void batch_flush(struct wg_device *dev, struct send_batch *b, int family_slot)
{
	unsigned done = 0, waits = 0;
	int fd = dev->udp_fd[family_slot];
	while (done < b->n && fd >= 0) {
		int r = sendmmsg(fd, b->msgs + done, b->n - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == ENOBUFS) && waits++ < 20) {
				/* Socket buffer full: wait for room rather than drop a burst. */
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				if (poll(&pfd, 1, 100) > 0)
					continue;
			}
			/*
			 * EIO/EINVAL on a GSO entry: no segmentation offload on this route;
			 * EINVAL/EADDRNOTAVAIL/ENETUNREACH: a sticky source address that is gone. Both
			 * go out one by one from the kernel's choice of source.
			 */
			if ((b->gso[done] && (errno == EIO || errno == EINVAL)) ||
			    (b->msgs[done].msg_hdr.msg_controllen &&
			     (errno == EINVAL || errno == EADDRNOTAVAIL || errno == ENETUNREACH)))
				send_unsegmented(fd, b, done);
			else
				log_debug("wg %s: sendmmsg: %s", dev->ifname, strerror(errno));
			done++;
			continue;
		}
		done += (unsigned)r;
	}
	b->n = 0;
}

static void seal_one(void *ctx, unsigned i)
{
	struct pending_seal *p = &((struct tun_reader *)ctx)->pending[i];
	/* Cannot fail short of memory; never let the plaintext leave if it does. */
	if (noise_encrypt_seal(p->kp, p->out, p->len))
		memset(p->out, 0, p->len);
}

static void seal_pending(struct wg_device *dev, struct tun_reader *r)
{
	if (r->n_pending >= TX_PARALLEL_MIN && wg_pool_workers(dev->crypt)) {
		wg_batch_start(dev->crypt, &r->seal, r->n_pending, TX_CHUNK, seal_one, r);
		wg_batch_end(dev->crypt, &r->seal);
	} else {
		for (unsigned i = 0; i < r->n_pending; i++)
			seal_one(r, i);
	}
	r->n_pending = 0;
}

static void flush_all(struct wg_device *dev, struct tun_reader *r)
{
	seal_pending(dev, r);
	batch_flush(dev, &r->batch[0], 0);
	batch_flush(dev, &r->batch[1], 1);
	while (r->n_held)
		noise_keypair_put(r->held[--r->n_held]);
	r->oused = 0;
}

static void batch_add(struct send_batch *b, const struct ip_endpoint *ep, const struct ip_addr *src,
		      uint8_t *data, size_t len, uint16_t gso)
{
	unsigned k = b->n++;
	struct msghdr *mh = &b->msgs[k].msg_hdr;
	socklen_t sl;
	ip_endpoint_to_sockaddr(ep, &b->addrs[k], &sl);
	b->iov[k].iov_base = data;
	b->iov[k].iov_len = len;
	b->gso[k] = gso;
	memset(&b->msgs[k], 0, sizeof(b->msgs[k]));
	mh->msg_name = &b->addrs[k];
	mh->msg_namelen = sl;
	mh->msg_iov = &b->iov[k];
	mh->msg_iovlen = 1;
	if (gso || src->family) {
		size_t used = 0;
		mh->msg_control = b->ctl[k].buf;
		if (gso) {
			struct cmsghdr *cm = (struct cmsghdr *)b->ctl[k].buf;
			cm->cmsg_level = IPPROTO_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
			used = CMSG_SPACE(sizeof(uint16_t));
		}
		if (src->family)
			used += wg_pktinfo_put(b->ctl[k].buf + used, src);
		mh->msg_controllen = used;
	}
}

/* Route, segment, encrypt and queue one TUN read; returns its number of segments. */
static unsigned tun_packet(struct wg_device *dev, struct tun_reader *r, size_t got)
{
	const struct virtio_net_hdr *vh = (const struct virtio_net_hdr *)r->rbuf;
	uint8_t *pkt = r->rbuf + WG_VNET_HDR_LEN;
	size_t len = got - WG_VNET_HDR_LEN, seg_len, padded, stride, total = 0;
	struct wg_aip_owner *owner = NULL;
	struct noise_keypair *kp;
	struct wg_peer *peer;
	uint64_t now = wg_now_ns();
	unsigned nsegs, per_entry, entries;

	if (wg_tso_plan(vh, pkt, len, &seg_len, &nsegs))
		return 0;
	if (len >= 20 && (pkt[0] >> 4) == 4)
		owner = wg_allowedips_lookup_raw(&dev->aips, AF_INET, pkt + 16);
	else if (len >= 40 && (pkt[0] >> 4) == 6)
		owner = wg_allowedips_lookup_raw(&dev->aips, AF_INET6, pkt + 24);
	if (!owner)
		return nsegs; /* no peer routes this destination */
	peer = (struct wg_peer *)((char *)owner - offsetof(struct wg_peer, aips));

	struct ip_endpoint ep;
	struct ip_addr src;
	enum wg_path_kind path;
	uint16_t channel;
	pthread_mutex_lock(&peer->lock);
	kp = sending_keypair(peer, now);
	path = wg_peer_path(peer, &ep, &src);
	channel = peer->relay_channel;
	if (!kp || path == WG_PATH_NONE) {
		for (unsigned i = 0; i < nsegs; i++)
			wg_stage_packet(peer, r->scratch,
					wg_tso_segment(vh, pkt, len, i, seg_len, nsegs, r->scratch));
		wg_send_initiation(peer, false);
		pthread_mutex_unlock(&peer->lock);
		noise_keypair_put(kp);
		return nsegs;
	}
	if (path == WG_PATH_RELAY_SEND) {
		/*
		 * Send indications, the relay's fallback until a channel is bound:
		 * no GSO (each datagram's STUN length and padding differ), so each
		 * segment is staged (a copy) and sent on its own, one at a time
		 * so that none is pushed out of the staging queue.
		 */
		for (unsigned i = 0; i < nsegs; i++) {
			wg_stage_packet(peer, r->scratch, wg_tso_segment(vh, pkt, len, i, seg_len, nsegs, r->scratch));
			wg_send_staged(peer);
		}
		pthread_mutex_unlock(&peer->lock);
		noise_keypair_put(kp);
		return nsegs;
	}
	wg_timers_data_sent(peer);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_timers_any_authenticated_packet_traversal(peer);
	pthread_mutex_unlock(&peer->lock);

	/* Every segment but the last has the same padded size: the GSO stride. */
	padded = (seg_len + WG_PADDING_MULTIPLE - 1) & ~(size_t)(WG_PADDING_MULTIPLE - 1);
	if (padded > dev->mtu)
		padded = seg_len > dev->mtu ? seg_len : dev->mtu;
	/* Relayed: each datagram is ChannelData, its 4-byte header written in front in place. */
	size_t headroom = path == WG_PATH_RELAY ? WG_CHANNEL_DATA_HEADER_LEN : 0;
	stride = headroom + WG_DATA_HEADER_LEN + padded + WG_AEAD_TAG_LEN;
	per_entry = (unsigned)(TX_MAX_GSO_BYTES / stride);
	if (per_entry > TX_MAX_GSO_SEGS)
		per_entry = TX_MAX_GSO_SEGS;
	if (per_entry == 0)
		per_entry = 1;
	entries = (nsegs + per_entry - 1) / per_entry;

	int slot = ep.addr.family == AF_INET6 ? 1 : 0;
	struct send_batch *b = &r->batch[slot];
	if (r->oused + (size_t)nsegs * stride > TX_BUF_SIZE || b->n + entries > WG_BATCH ||
	    r->n_held == WG_BATCH)
		flush_all(dev, r);
	if ((size_t)nsegs * stride > TX_BUF_SIZE || entries > WG_BATCH) {
		noise_keypair_put(kp);
		return nsegs; /* cannot happen with a 64 KiB read; never overrun */
	}
	uint8_t *base = r->obuf + r->oused;
	size_t last = 0;
	for (unsigned i = 0; i < nsegs; i++) {
		uint8_t *out = base + (size_t)i * stride + headroom;
		size_t l = wg_tso_segment(vh, pkt, len, i, seg_len, nsegs, out + WG_DATA_HEADER_LEN);
		int n = noise_encrypt_begin(kp, out, out + WG_DATA_HEADER_LEN, l, dev->mtu, now);
		if (n < 0) {
			nsegs = i; /* key expired mid-packet: send what is ready */
			break;
		}
		if (headroom)
			wg_channel_data_header(out - headroom, channel, (size_t)n);
		if (r->n_pending == TX_MAX_PENDING)
			seal_pending(dev, r);
		r->pending[r->n_pending++] = (struct pending_seal){ out, (size_t)n, kp };
		last = headroom + (size_t)n;
		total += (size_t)n;
	}
	r->held[r->n_held++] = kp; /* until the flush has sealed its segments */
	for (unsigned s0 = 0; s0 < nsegs; s0 += per_entry) {
		unsigned c = nsegs - s0 < per_entry ? nsegs - s0 : per_entry;
		size_t bytes = (size_t)(c - 1) * stride + (s0 + c == nsegs ? last : stride);
		batch_add(b, &ep, &src, base + (size_t)s0 * stride, bytes, c > 1 ? (uint16_t)stride : 0);
	}
	r->oused += (size_t)nsegs * stride;
	atomic_fetch_add(&peer->tx_bytes, (uint64_t)total);
	atomic_fetch_add_explicit(&peer->tx_packets, nsegs, memory_order_relaxed);
	return nsegs;
}

void wg_tun_tx_free(struct tun_reader *r)
{
	if (!r)
		return;
	free(r->rbuf);
	free(r->scratch);
	free(r->obuf);
	free(r);
}

struct tun_reader *wg_tun_tx_new(void)
{
	struct tun_reader *r = calloc(1, sizeof(*r));
	if (r) {
		r->rbuf = malloc(WG_VNET_HDR_LEN + WG_MAX_PACKET);
		r->scratch = malloc(WG_MAX_PACKET);
		r->obuf = malloc(TX_BUF_SIZE);
	}
	if (!r || !r->rbuf || !r->scratch || !r->obuf) {
		wg_tun_tx_free(r);
		return NULL;
	}
	return r;
}

int wg_tun_drain(struct wg_device *dev, struct wg_tun_queue *q, unsigned *segments)
{
	struct tun_reader *r = q->tx;
	int n = 0, ret = 0;
	unsigned segs = 0;

	while (n < WG_BATCH) {
		ssize_t got = read(q->fd, r->rbuf, WG_VNET_HDR_LEN + WG_MAX_PACKET);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				ret = -errno;
			break;
		}
		if ((size_t)got <= WG_VNET_HDR_LEN)
			continue;
		segs += tun_packet(dev, r, (size_t)got);
		n++;
	}
	if (n)
		flush_all(dev, r);
	if (segments)
		*segments = segs;
	return ret ? ret : n;
}
