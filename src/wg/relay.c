// SPDX-License-Identifier: MIT
/*
 * The relayed path below WireGuard (TURN, RFC 8656): a peer put on it by
 * wg_peer_set_relay_path() has its datagrams sent to the TURN server with a
 * 4-byte ChannelData header in front, and ChannelData from one of the
 * device's TURN servers is unwrapped and handed to the receive path. Until
 * the peer's channel is bound (or when the server refuses channels),
 * wg_peer_set_relay_send() has them sent as Send indications instead: the
 * fallback, a copy and a syscall per datagram (see tun_packet in send.c),
 * never on the ChannelData fast path. The
 * tunnel above does not see the difference: handshakes, keepalives and data
 * are the same messages, and a peer's session survives a move between a
 * relay and a direct path. The NAT agent does the TURN signalling (the
 * allocation, permissions, channel bindings) on the same port; the device
 * only needs the servers' addresses and each relayed peer's channel.
 */
#include <errno.h>
#include <string.h>

#include "util/be.h"
#include "util/log.h"
#include "wg/device.h"
#include "wg/socket.h"

void wg_channel_data_header(uint8_t hdr[WG_CHANNEL_DATA_HEADER_LEN], uint16_t channel, size_t len)
{
	be16_put(hdr, channel);
	be16_put(hdr + 2, (uint16_t)len);
}

bool wg_relay_is_server(const struct wg_device *dev, const struct ip_endpoint *ep)
{
	for (size_t i = 0; i < dev->n_relay_servers; i++)
		if (ip_endpoint_equal(&dev->relay_servers[i], ep))
			return true;
	return false;
}

int wg_relay_send(struct wg_device *dev, const struct ip_endpoint *server, uint16_t channel, const void *buf,
		  size_t len)
{
	uint8_t hdr[WG_CHANNEL_DATA_HEADER_LEN];
	struct iovec iov[2] = { { .iov_base = hdr, .iov_len = sizeof(hdr) }, { .iov_base = (void *)buf, .iov_len = len } };

	if (len > UINT16_MAX)
		return -EMSGSIZE;
	wg_channel_data_header(hdr, channel, len);
	return wg_udp_sendv(dev, server, iov, 2);
}

/* RFC 8489 / 8656 numbers; the wg library stays free of the nat one. */
#define STUN_MAGIC_COOKIE_VALUE 0x2112A442u
#define TURN_SEND_INDICATION_TYPE 0x0016 /* Send (0x006), class indication */
#define TURN_XOR_PEER_ADDRESS 0x0012
#define TURN_DATA 0x0013

size_t wg_send_indication_header(uint8_t hdr[WG_SEND_INDICATION_MAX_HEADER], const uint8_t txid[12],
				 const struct ip_endpoint *target, size_t len)
{
	bool v6 = target->addr.family == AF_INET6;
	size_t alen = v6 ? 16 : 4, peer_attr = 4 + 4 + alen, pad = (4 - len % 4) % 4;
	size_t body = peer_attr + 4 + len + pad;
	uint8_t *p = hdr + 20;

	if (body > UINT16_MAX)
		return 0;
	be16_put(hdr, TURN_SEND_INDICATION_TYPE);
	be16_put(hdr + 2, (uint16_t)body);
	be32_put(hdr + 4, STUN_MAGIC_COOKIE_VALUE);
	memcpy(hdr + 8, txid, 12);
	/* XOR-PEER-ADDRESS: port and address XORed with the cookie (and txid for IPv6), RFC 8489 14.2. */
	be16_put(p, TURN_XOR_PEER_ADDRESS);
	be16_put(p + 2, (uint16_t)(4 + alen));
	p[4] = 0;
	p[5] = v6 ? 0x02 : 0x01;
	be16_put(p + 6, (uint16_t)(target->port ^ (STUN_MAGIC_COOKIE_VALUE >> 16)));
	for (size_t i = 0; i < alen; i++)
		p[8 + i] = target->addr.bytes[i] ^ hdr[4 + i]; /* cookie, then txid: the header's bytes 4..19 */
	p += peer_attr;
	be16_put(p, TURN_DATA);
	be16_put(p + 2, (uint16_t)len);
	return (size_t)(p + 4 - hdr);
}

int wg_relay_send_indication(struct wg_device *dev, const struct ip_endpoint *server,
			     const struct ip_endpoint *target, const void *buf, size_t len)
{
	static const uint8_t zeros[3];
	uint8_t hdr[WG_SEND_INDICATION_MAX_HEADER], txid[12] = { 0 };
	/* Indications are never answered: a counter makes their ids unique enough (RFC 8489 6). */
	uint64_t seq = atomic_fetch_add_explicit(&dev->relay_indications, 1, memory_order_relaxed);
	size_t hlen;

	for (int i = 0; i < 8; i++)
		txid[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
	hlen = wg_send_indication_header(hdr, txid, target, len);
	if (!hlen)
		return -EMSGSIZE;
	struct iovec iov[3] = { { .iov_base = hdr, .iov_len = hlen },
				{ .iov_base = (void *)buf, .iov_len = len },
				{ .iov_base = (void *)zeros, .iov_len = (4 - len % 4) % 4 } };
	return wg_udp_sendv(dev, server, iov, 3);
}

void wg_relay_receive(struct wg_device *dev, struct wg_rx *rx, uint8_t *buf, size_t len,
		      const struct ip_endpoint *src, const struct ip_addr *local)
{
	size_t inner = (size_t)buf[2] << 8 | buf[3]; /* within len: wg_datagram_classify checked */
	uint8_t *msg = buf + WG_CHANNEL_DATA_HEADER_LEN;

	if (wg_datagram_classify(msg, inner) != WG_DGRAM_WIREGUARD) {
		atomic_fetch_add_explicit(&dev->rx_relay_dropped, 1, memory_order_relaxed);
		return;
	}
	/*
	 * The receive path finds the peer from the message itself (receiver
	 * index, or the initiator's static key); the source it records is the
	 * server, which wg_peer_set_endpoint never takes for a plain endpoint.
	 */
	wg_receive_datagram_on(dev, rx, msg, inner, src, local);
}

int wg_device_receive_relayed(struct wg_device *dev, const struct ip_endpoint *server, const uint8_t *buf,
			      size_t len)
{
	uint8_t msg[WG_RELAYED_MAX];
	int ret = 0;

	/* A copy: the receive path decrypts in place. */
	if (len > sizeof(msg) || wg_datagram_classify(buf, len) != WG_DGRAM_WIREGUARD)
		return -EINVAL;
	memcpy(msg, buf, len);
	pthread_rwlock_rdlock(&dev->lock);
	if (wg_relay_is_server(dev, server))
		wg_receive_datagram_on(dev, NULL, msg, len, server, NULL);
	else
		ret = -EINVAL;
	pthread_rwlock_unlock(&dev->lock);
	return ret;
}

/*
 * The TUN MTU with relay servers of these families. The configured MTU
 * leaves room for an IPv6 underlay's headers (1420 = 1500 - 40 - 8 - 32):
 * over IPv4 a ChannelData's 4 bytes fit in the 20 to spare, over IPv6
 * nothing is spare, and a full-size packet would leave in two IPv6
 * fragments, which many paths drop. So a server reached over IPv6 takes the
 * 4 bytes from the TUN, and the kernel's path MTU discovery tells senders.
 */
static unsigned relayed_mtu(const struct wg_device *dev, const struct ip_endpoint *servers, size_t n)
{
	unsigned mtu = wg_device_configured_mtu(dev);
	for (size_t i = 0; i < n; i++)
		if (servers[i].addr.family == AF_INET6)
			return mtu - WG_CHANNEL_DATA_HEADER_LEN;
	return mtu;
}

int wg_device_set_relay_servers(struct wg_device *dev, const struct ip_endpoint *servers, size_t n)
{
	if (n > WG_MAX_RELAY_SERVERS)
		return -E2BIG;
	unsigned mtu = relayed_mtu(dev, servers, n);
	pthread_mutex_lock(&dev->config_lock);
	bool changed = mtu != dev->mtu;
	if (changed && wg_tun_set_mtu(dev->ifname, mtu) < 0)
		changed = false; /* logged; padding keeps to the link's MTU */
	else if (changed && mtu < dev->mtu)
		log_info("wg %s: MTU %u: a TURN server is reached over IPv6, and a relayed datagram (ChannelData "
			 "adds %d bytes) must still fit the underlay's MTU",
			 dev->ifname, mtu, WG_CHANNEL_DATA_HEADER_LEN);
	else if (changed)
		log_info("wg %s: MTU %u again: no TURN server is reached over IPv6", dev->ifname, mtu);
	pthread_rwlock_wrlock(&dev->lock);
	if (n)
		memcpy(dev->relay_servers, servers, n * sizeof(*servers));
	dev->n_relay_servers = n;
	if (changed)
		dev->mtu = mtu;
	pthread_rwlock_unlock(&dev->lock);
	pthread_mutex_unlock(&dev->config_lock);
	return 0;
}

/* The peer onto the relayed path (server set: ChannelData on channel, or Send indications to target) or off it. */
static int set_relay_path(struct wg_device *dev, const uint8_t key[WG_KEY_LEN], const struct ip_endpoint *server,
			  uint16_t channel, const struct ip_endpoint *target)
{
	struct wg_peer *peer;
	int ret = 0;

	pthread_rwlock_rdlock(&dev->lock);
	if (server && !wg_relay_is_server(dev, server))
		ret = -EINVAL; /* what comes back through it would never be unwrapped: no way back */
	peer = ret ? NULL : wg_peer_find(dev, key);
	if (!ret && !peer)
		ret = -ENOENT;
	if (peer) {
		pthread_mutex_lock(&peer->lock);
		peer->relay = server != NULL;
		if (server) {
			peer->relay_server = *server;
			peer->relay_channel = channel;
			if (target)
				peer->relay_target = *target;
		}
		pthread_mutex_unlock(&peer->lock);
	}
	pthread_rwlock_unlock(&dev->lock);
	return ret;
}

int wg_peer_set_relay_path(struct wg_device *dev, const uint8_t key[WG_KEY_LEN], const struct ip_endpoint *server,
			   uint16_t channel)
{
	if (server && (channel < 0x4000 || channel > 0x4fff))
		return -EINVAL;
	return set_relay_path(dev, key, server, channel, NULL);
}

int wg_peer_set_relay_send(struct wg_device *dev, const uint8_t key[WG_KEY_LEN], const struct ip_endpoint *server,
			   const struct ip_endpoint *target)
{
	if (!server || !target || ip_endpoint_is_unset(target))
		return -EINVAL;
	return set_relay_path(dev, key, server, 0, target); /* channel 0: none, Send indications */
}
