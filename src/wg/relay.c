// SPDX-License-Identifier: MIT
/*
 * The relayed path below WireGuard (TURN, RFC 8656): a peer put on it by
 * wg_peer_set_relay_path() has its datagrams sent to the TURN server with a
 * 4-byte ChannelData header in front, and ChannelData from one of the
 * device's TURN servers is unwrapped and handed to the receive path. The
 * tunnel above does not see the difference: handshakes, keepalives and data
 * are the same messages, and a peer's session survives a move between a
 * relay and a direct path. The NAT agent does the TURN signalling (the
 * allocation, permissions, channel bindings) on the same port; the device
 * only needs the servers' addresses and each relayed peer's channel.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "util/log.h"
#include "wg/device.h"
#include "wg/socket.h"

void wg_channel_data_header(uint8_t hdr[WG_CHANNEL_DATA_HEADER_LEN], uint16_t channel, size_t len)
{
	hdr[0] = (uint8_t)(channel >> 8);
	hdr[1] = (uint8_t)channel;
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
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
	struct sockaddr_storage ss;
	socklen_t sl;
	struct iovec iov[2] = { { .iov_base = hdr, .iov_len = sizeof(hdr) }, { .iov_base = (void *)buf, .iov_len = len } };
	struct msghdr mh = { .msg_name = &ss, .msg_iov = iov, .msg_iovlen = 2 };
	int fd = dev->udp_fd[server->addr.family == AF_INET6 ? 1 : 0];

	if (fd < 0)
		return -EAFNOSUPPORT;
	if (len > UINT16_MAX)
		return -EMSGSIZE;
	wg_channel_data_header(hdr, channel, len);
	ip_endpoint_to_sockaddr(server, &ss, &sl);
	mh.msg_namelen = sl;
	return sendmsg(fd, &mh, 0) < 0 ? -errno : 0;
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

int wg_device_set_relay_servers(struct wg_device *dev, const struct ip_endpoint *servers, size_t n)
{
	if (n > WG_MAX_RELAY_SERVERS)
		return -E2BIG;
	pthread_mutex_lock(&dev->config_lock);
	pthread_rwlock_wrlock(&dev->lock);
	if (n)
		memcpy(dev->relay_servers, servers, n * sizeof(*servers));
	dev->n_relay_servers = n;
	pthread_rwlock_unlock(&dev->lock);
	pthread_mutex_unlock(&dev->config_lock);
	return 0;
}

int wg_peer_set_relay_path(struct wg_device *dev, const uint8_t key[WG_KEY_LEN], const struct ip_endpoint *server,
			   uint16_t channel)
{
	struct wg_peer *peer;
	int ret = 0;

	if (server && (channel < 0x4000 || channel > 0x4fff))
		return -EINVAL;
	pthread_rwlock_rdlock(&dev->lock);
	if (server && !wg_relay_is_server(dev, server))
		ret = -EINVAL; /* its ChannelData would never be unwrapped: no way back */
	peer = ret ? NULL : wg_peer_find(dev, key);
	if (!ret && !peer)
		ret = -ENOENT;
	if (peer) {
		pthread_mutex_lock(&peer->lock);
		peer->relay = server != NULL;
		if (server) {
			peer->relay_server = *server;
			peer->relay_channel = channel;
		}
		pthread_mutex_unlock(&peer->lock);
	}
	pthread_rwlock_unlock(&dev->lock);
	return ret;
}
