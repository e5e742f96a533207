// SPDX-License-Identifier: MIT
/*
 * Outgoing packets: handshake initiations, keepalives, packets staged while
 * a session is being set up, and the TUN reader that encrypts what the
 * kernel routes into the tunnel and sends it in batches (sendmmsg).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "wg/device.h"

int wg_udp_send(struct wg_device *dev, const struct ip_endpoint *ep, const void *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = dev->udp_fd[ep->addr.family == AF_INET6 ? 1 : 0];
	if (fd < 0)
		return -EAFNOSUPPORT;
	ip_endpoint_to_sockaddr(ep, &ss, &sl);
	if (sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0)
		return -errno;
	return 0;
}

/*
 * The one place that decides how a datagram reaches a peer. Today that is
 * its UDP endpoint; a relayed path (TURN) would be chosen here too.
 */
int wg_send_to_peer(struct wg_peer *peer, const void *buf, size_t len)
{
	int ret;
	if (!peer->has_endpoint)
		return -EDESTADDRREQ;
	ret = wg_udp_send(peer->dev, &peer->endpoint, buf, len);
	if (!ret)
		atomic_fetch_add(&peer->tx_bytes, len);
	return ret;
}

void wg_send_initiation(struct wg_peer *peer, bool is_retry)
{
	struct wg_device *dev = peer->dev;
	struct wg_msg_initiation msg;
	uint64_t now = wg_now_ns();
	uint32_t index;
	int ret;

	if (!is_retry)
		peer->handshake_attempts = 0;
	if (peer->last_initiation_sent_ns && now - peer->last_initiation_sent_ns < WG_REKEY_TIMEOUT * NSEC_PER_SEC)
		return;
	if (!peer->has_endpoint || !dev->identity.has_key)
		return;
	if (peer->hs.state != NOISE_ZEROED)
		wg_index_remove(&dev->index, peer->hs.local_index);
	index = wg_index_add_handshake(&dev->index, peer);
	if (!index)
		return;
	ret = noise_create_initiation(&msg, &peer->hs, &dev->identity, index, wg_unix_now_ns());
	if (!ret)
		ret = wg_cookie_add_macs(&peer->cookie, (uint8_t *)&msg, sizeof(msg), now);
	if (ret) {
		wg_index_remove(&dev->index, index);
		noise_handshake_clear(&peer->hs);
		log_debug("wg %s: cannot create handshake initiation: %s", dev->ifname, strerror(-ret));
		return;
	}
	peer->last_initiation_sent_ns = now;
	wg_timers_any_authenticated_packet_traversal(peer);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_timers_handshake_initiated(peer);
	ret = wg_send_to_peer(peer, &msg, sizeof(msg));
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

/* A batch of encrypted datagrams per address family, flushed with sendmmsg. */
struct send_batch {
	struct mmsghdr msgs[WG_BATCH];
	struct iovec iov[WG_BATCH];
	struct sockaddr_storage addrs[WG_BATCH];
	unsigned n;
};

static void batch_flush(struct wg_device *dev, struct send_batch *b, int family_slot)
{
	unsigned done = 0;
	int fd = dev->udp_fd[family_slot];
	while (done < b->n && fd >= 0) {
		int r = sendmmsg(fd, b->msgs + done, b->n - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* Skip the datagram the kernel refused (e.g. unreachable) and go on. */
			log_debug("wg %s: sendmmsg: %s", dev->ifname, strerror(errno));
			done++;
			continue;
		}
		done += (unsigned)r;
	}
	b->n = 0;
}

struct tun_reader {
	uint8_t *bufs[WG_BATCH];
	size_t lens[WG_BATCH];
	struct send_batch batch[2];
};

/* Route and encrypt one packet from the TUN device; queue it in a batch. */
static void tun_packet(struct wg_device *dev, struct tun_reader *r, unsigned i)
{
	uint8_t *pkt = r->bufs[i] + WG_DATA_HEADER_LEN;
	size_t len = r->lens[i];
	struct wg_aip_owner *owner = NULL;
	struct noise_keypair *kp;
	struct wg_peer *peer;
	uint64_t now = wg_now_ns();
	int n;

	if (len >= 20 && (pkt[0] >> 4) == 4)
		owner = wg_allowedips_lookup_raw(&dev->aips, AF_INET, pkt + 16);
	else if (len >= 40 && (pkt[0] >> 4) == 6)
		owner = wg_allowedips_lookup_raw(&dev->aips, AF_INET6, pkt + 24);
	if (!owner)
		return; /* no peer routes this destination */
	peer = (struct wg_peer *)((char *)owner - offsetof(struct wg_peer, aips));

	pthread_mutex_lock(&peer->lock);
	kp = sending_keypair(peer, now);
	if (!kp || !peer->has_endpoint) {
		wg_stage_packet(peer, pkt, len);
		wg_send_initiation(peer, false);
		pthread_mutex_unlock(&peer->lock);
		noise_keypair_put(kp);
		return;
	}
	struct ip_endpoint ep = peer->endpoint;
	wg_timers_data_sent(peer);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_timers_any_authenticated_packet_traversal(peer);
	pthread_mutex_unlock(&peer->lock);

	n = noise_encrypt(kp, r->bufs[i], pkt, len, dev->mtu, now, NULL);
	noise_keypair_put(kp);
	if (n < 0)
		return;
	atomic_fetch_add(&peer->tx_bytes, (uint64_t)n);

	int slot = ep.addr.family == AF_INET6 ? 1 : 0;
	struct send_batch *b = &r->batch[slot];
	unsigned k = b->n++;
	socklen_t sl;
	ip_endpoint_to_sockaddr(&ep, &b->addrs[k], &sl);
	b->iov[k].iov_base = r->bufs[i];
	b->iov[k].iov_len = (size_t)n;
	memset(&b->msgs[k], 0, sizeof(b->msgs[k]));
	b->msgs[k].msg_hdr.msg_name = &b->addrs[k];
	b->msgs[k].msg_hdr.msg_namelen = sl;
	b->msgs[k].msg_hdr.msg_iov = &b->iov[k];
	b->msgs[k].msg_hdr.msg_iovlen = 1;
}

void *wg_tun_reader(void *arg)
{
	struct wg_device *dev = arg;
	struct tun_reader *r = calloc(1, sizeof(*r));
	struct pollfd pfd[2] = { { .fd = dev->tun_fd, .events = POLLIN }, { .fd = dev->stop_fd, .events = POLLIN } };

	for (unsigned i = 0; r && i < WG_BATCH; i++) {
		r->bufs[i] = malloc(WG_PACKET_ROOM);
		if (!r->bufs[i]) {
			for (unsigned j = 0; j < i; j++)
				free(r->bufs[j]);
			free(r);
			r = NULL;
		}
	}
	if (!r) {
		log_error("wg %s: out of memory starting the TUN reader", dev->ifname);
		return NULL;
	}
	while (!atomic_load(&dev->stopping)) {
		unsigned n = 0;
		while (n < WG_BATCH) {
			ssize_t got = read(dev->tun_fd, r->bufs[n] + WG_DATA_HEADER_LEN, WG_MAX_PACKET);
			if (got < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && !atomic_load(&dev->stopping)) {
					/* EBADFD/EIO: someone deleted the link under us. */
					log_info("wg %s: TUN device gone (%s), shutting down", dev->ifname,
						 strerror(errno));
					atomic_store(&dev->dead, true);
					if (dev->cfg.on_dead)
						dev->cfg.on_dead(dev->cfg.user);
					goto out;
				}
				break;
			}
			r->lens[n++] = (size_t)got;
		}
		if (n) {
			pthread_rwlock_rdlock(&dev->lock);
			for (unsigned i = 0; i < n; i++)
				tun_packet(dev, r, i);
			batch_flush(dev, &r->batch[0], 0);
			batch_flush(dev, &r->batch[1], 1);
			pthread_rwlock_unlock(&dev->lock);
			continue;
		}
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
	}
out:
	for (unsigned i = 0; i < WG_BATCH; i++)
		free(r->bufs[i]);
	free(r);
	return NULL;
}
