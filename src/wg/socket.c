// SPDX-License-Identifier: MIT
/*
 * The UDP sockets of a device: opening and rebinding them, sending one
 * datagram, and reading a batch (recvmmsg, UDP GRO) whose datagrams are
 * demultiplexed here: WireGuard to receive.c, STUN and anything else to
 * the datagram hook when one is registered, else counted and dropped.
 *
 * Each family has two sockets on the port, a reuseport group whose BPF
 * program makes the kernel queue data (and cookie replies) on one and
 * everything else on the other: a handshake flood then fills only the
 * second socket's queue, and data never waits behind it.
 *
 * No data socket per TUN queue: the kernel would choose among them by a
 * hash of the 4-tuple, and all of a peer's data comes from one address and
 * port, so they would not spread one peer over readers (its decryption is
 * spread instead: ordered.h); and the TUN readers share the data socket
 * for sending without contention, as an uncorked UDP send takes no socket
 * lock.
 */
#include "wg/socket.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "wg/device.h"

#define STUN_HEADER_LEN 20

enum wg_datagram_kind wg_datagram_classify(const uint8_t *buf, size_t len)
{
	if (len < 4)
		return WG_DGRAM_OTHER;
	if ((buf[0] & 0xc0) == 0 && len >= STUN_HEADER_LEN && len % 4 == 0 &&
	    ((size_t)buf[2] << 8 | buf[3]) == len - STUN_HEADER_LEN && buf[4] == 0x21 &&
	    buf[5] == 0x12 && buf[6] == 0xa4 && buf[7] == 0x42)
		return WG_DGRAM_STUN;
	/* One ChannelData message per datagram: its data, then at most the padding to 4 bytes. */
	size_t data_len = (size_t)buf[2] << 8 | buf[3];
	if ((buf[0] & 0xf0) == 0x40 && data_len <= len - WG_CHANNEL_DATA_HEADER_LEN &&
	    len - WG_CHANNEL_DATA_HEADER_LEN - data_len < 4)
		return WG_DGRAM_CHANNEL_DATA;
	/* Type 1-4 with bytes 1-3 zero, of the size its type has. */
	return wg_message_classify(buf, len) ? WG_DGRAM_WIREGUARD : WG_DGRAM_OTHER;
}

bool wg_is_stun(const uint8_t *buf, size_t len)
{
	return wg_datagram_classify(buf, len) == WG_DGRAM_STUN;
}

static int udp_open(int family, uint16_t port, uint32_t fwmark, bool reuseport)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1, bufsize = 4 << 20;
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;

	if (fd < 0)
		return -errno;
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
		/* Separate sockets per family: a v4 socket exists for v4 regardless. */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
			goto fail;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
	}
	/* Bigger buffers absorb bursts; FORCE needs root, the plain one is the fallback. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof(bufsize)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsize, sizeof(bufsize)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
	if (fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0)
		goto fail;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	/* The local address of each datagram: replies leave from it (sticky source, wg_peer.src). */
	if (setsockopt(fd, family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
		       family == AF_INET6 ? IPV6_RECVPKTINFO : IP_PKTINFO, &one, sizeof(one)) < 0)
		goto fail;
	/* UDP GRO: bursts from one sender arrive as one buffer (split in wg_udp_receive). */
	(void)setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		goto fail;
	return fd;
fail:;
	int ret = -errno;
	close(fd);
	return ret;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ip_endpoint ep;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    ip_endpoint_from_sockaddr((struct sockaddr *)&ss, &ep))
		return 0;
	return ep.port;
}

/*
 * The kernel's choice of socket within a port's reuseport group, made on
 * the UDP payload before anything is queued: data, cookie replies and TURN
 * ChannelData (relayed WireGuard, mostly data) to the first socket,
 * everything else (handshakes, STUN) to the second.
 */
static int steer_handshakes(int fd)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),			 /* message type */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, WG_MSG_DATA, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, WG_MSG_COOKIE, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40, 0, 1), /* ChannelData: 0x40-0x4F */
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 0x4f, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

static void close_family(int *data, int *hs)
{
	if (*data >= 0)
		close(*data);
	if (*hs >= 0)
		close(*hs);
	*data = *hs = -1;
}

/*
 * How many UDP sockets of family are bound to port in this network
 * namespace (sock_diag), or -errno.
 */
static int sockets_on_port(int family, uint16_t port)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_UDP, .idiag_states = ~0u },
	};
	union {
		char buf[16384];
		struct nlmsghdr align;
	} u;
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), count = 0, ret = 0;
	bool done = false;

	if (fd < 0)
		return -errno;
	if (send(fd, &msg, sizeof(msg), 0) < 0)
		ret = -errno;
	while (!ret && !done) {
		ssize_t got = recv(fd, u.buf, sizeof(u.buf), 0);
		unsigned int len = got > 0 ? (unsigned int)got : 0;
		if (got < 0) {
			if (errno != EINTR)
				ret = -errno;
			continue;
		}
		for (struct nlmsghdr *h = &u.align; !done && NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			const struct inet_diag_msg *d = NLMSG_DATA(h);
			if (h->nlmsg_type == NLMSG_DONE)
				done = true;
			else if (h->nlmsg_type == NLMSG_ERROR)
				ret = -EPROTO;
			else if (ntohs(d->id.idiag_sport) == port)
				count++;
		}
		if (got == 0)
			ret = -EPROTO;
	}
	close(fd);
	return ret ? ret : count;
}

/*
 * One family's sockets on port (0: a free one): *data, and *hs for
 * handshakes, steered there by the kernel; *hs is -1 where steering is not
 * available (one socket then gets everything). Returns 0 or -errno.
 *
 * SO_REUSEPORT would let a socket of another device, or of another process
 * of the same user, join the group silently: the port must hold only our
 * two sockets, else it is in use. Where that cannot be checked, one
 * ordinary socket, exclusive as always.
 */
static int open_family(int family, uint16_t port, uint32_t fwmark, int *data, int *hs)
{
	int ret;
	*hs = -1;
	*data = udp_open(family, port, fwmark, true);
	if (*data < 0)
		return *data;
	port = bound_port(*data);
	*hs = udp_open(family, port, fwmark, true);
	ret = *hs < 0 ? *hs : steer_handshakes(*data);
	if (!ret) {
		ret = sockets_on_port(family, port);
		if (ret > 2) {
			close_family(data, hs);
			return -EADDRINUSE;
		}
		ret = ret == 2 ? 0 : ret < 0 ? ret : -EPROTO;
	}
	if (ret) {
		log_debug("wg: no separate handshake socket on port %u: %s", port, strerror(-ret));
		close_family(data, hs);
		*data = udp_open(family, port, fwmark, false);
		return *data < 0 ? *data : 0;
	}
	return 0;
}

int wg_socket_open_pair(uint16_t port, uint32_t fwmark, int fds[2], int hs_fds[2], uint16_t *out_port)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		int v4, v4_hs, v6, v6_hs, ret4, ret6;
		uint16_t actual;
		ret4 = open_family(AF_INET, port, fwmark, &v4, &v4_hs);
		if (ret4 == -EADDRINUSE && port == 0)
			continue; /* a random port another reuseport group shares: try another */
		if (ret4 < 0 && ret4 != -EAFNOSUPPORT)
			return ret4;
		if (ret4 < 0)
			v4 = v4_hs = -1;
		actual = v4 >= 0 ? bound_port(v4) : port;
		ret6 = open_family(AF_INET6, actual, fwmark, &v6, &v6_hs);
		if (ret6 == -EADDRINUSE && port == 0 && v4 >= 0) {
			/* The random v4 port is taken in v6: try another. */
			close_family(&v4, &v4_hs);
			continue;
		}
		if (ret6 < 0 && ret6 != -EAFNOSUPPORT && ret6 != -EADDRNOTAVAIL) {
			close_family(&v4, &v4_hs);
			return ret6;
		}
		if (ret6 < 0)
			v6 = v6_hs = -1;
		if (v4 < 0 && v6 < 0)
			return -EAFNOSUPPORT;
		if (v4 < 0)
			actual = bound_port(v6);
		fds[0] = v4;
		fds[1] = v6;
		hs_fds[0] = v4_hs;
		hs_fds[1] = v6_hs;
		*out_port = actual;
		return 0;
	}
	return -EADDRINUSE;
}

int wg_device_rebind(struct wg_device *dev, uint16_t port)
{
	int fds[2], hs_fds[2], old[2], old_hs[2];
	uint16_t actual;
	int ret;

	if (port && port == dev->port)
		return 0;
	ret = wg_socket_open_pair(port, dev->fwmark, fds, hs_fds, &actual);
	if (ret) {
		log_error("wg %s: cannot listen on UDP port %u: %s", dev->ifname, port, strerror(-ret));
		return ret;
	}
	wg_udp_readers_stop(dev);
	pthread_rwlock_wrlock(&dev->lock);
	memcpy(old, dev->udp_fd, sizeof(old));
	memcpy(old_hs, dev->hs_fd, sizeof(old_hs));
	memcpy(dev->udp_fd, fds, sizeof(fds));
	memcpy(dev->hs_fd, hs_fds, sizeof(hs_fds));
	dev->port = actual;
	pthread_rwlock_unlock(&dev->lock);
	/* A solo TUN reader may be polling the old sockets: have it take the new. */
	wg_poll_kick(dev, WG_POLLER_TUN);
	for (int i = 0; i < 2; i++)
		close_family(&old[i], &old_hs[i]);
	return wg_udp_readers_start(dev);
}

size_t wg_pktinfo_put(char *buf, const struct ip_addr *src)
{
	struct cmsghdr *cm = (struct cmsghdr *)buf;
	if (src->family == AF_INET6) {
		struct in6_pktinfo pi = { .ipi6_addr = src->v6 };
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	struct in_pktinfo pi = { .ipi_spec_dst = src->v4 };
	cm->cmsg_level = IPPROTO_IP;
	cm->cmsg_type = IP_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	return CMSG_SPACE(sizeof(pi));
}

int wg_udp_send_from(struct wg_device *dev, const struct ip_endpoint *ep, struct ip_addr *src, const void *buf,
		     size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_storage ss;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_name = &ss, .msg_iov = &iov, .msg_iovlen = 1 };
	socklen_t sl;
	int fd = dev->udp_fd[ep->addr.family == AF_INET6 ? 1 : 0];

	if (!src->family || src->family != ep->addr.family)
		return wg_udp_send(dev, ep, buf, len);
	if (fd < 0)
		return -EAFNOSUPPORT;
	ip_endpoint_to_sockaddr(ep, &ss, &sl);
	mh.msg_namelen = sl;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = wg_pktinfo_put(ctl.buf, src);
	if (sendmsg(fd, &mh, 0) >= 0)
		return 0;
	if (errno != EINVAL && errno != EADDRNOTAVAIL && errno != ENETUNREACH)
		return -errno;
	/* The address went away (or cannot reach ep): the kernel's choice from now on. */
	memset(src, 0, sizeof(*src));
	return wg_udp_send(dev, ep, buf, len);
}

int wg_udp_sendv(struct wg_device *dev, const struct ip_endpoint *ep, struct iovec *iov, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = dev->udp_fd[ep->addr.family == AF_INET6 ? 1 : 0];
	if (fd < 0)
		return -EAFNOSUPPORT;
	ip_endpoint_to_sockaddr(ep, &ss, &sl);
	struct msghdr mh = { .msg_name = &ss, .msg_namelen = sl, .msg_iov = iov, .msg_iovlen = n };
	return sendmsg(fd, &mh, 0) < 0 ? -errno : 0;
}

int wg_udp_send(struct wg_device *dev, const struct ip_endpoint *ep, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return wg_udp_sendv(dev, ep, &iov, 1);
}

int wg_device_send_raw(struct wg_device *dev, const struct ip_endpoint *to, const void *buf,
		       size_t len)
{
	int ret;
	pthread_rwlock_rdlock(&dev->lock);
	ret = wg_udp_send(dev, to, buf, len);
	pthread_rwlock_unlock(&dev->lock);
	return ret;
}

/*
 * One datagram off the wire that is not WireGuard data: to the WireGuard
 * receive path (type: wg_message_classify, classified once), the hook, or
 * the floor.
 */
static void demultiplex(struct wg_device *dev, struct wg_rx *rx, enum wg_message_type type, uint8_t *buf,
			size_t len, const struct ip_endpoint *src, const struct ip_addr *local)
{
	enum wg_datagram_kind kind;

	if (type) {
		wg_receive_message(dev, rx, type, buf, len, src, local);
		return;
	}
	kind = wg_datagram_classify(buf, len);
	if (kind == WG_DGRAM_CHANNEL_DATA && wg_relay_is_server(dev, src)) {
		wg_relay_receive(dev, rx, buf, len, src, local);
		return;
	}
	/* The hook (NAT traversal) gets what is not WireGuard, STUN or not. */
	if (dev->cfg.on_datagram) {
		dev->cfg.on_datagram(dev->cfg.user, buf, len, src);
		return;
	}
	atomic_fetch_add(kind == WG_DGRAM_STUN ? &dev->rx_stun_dropped : &dev->rx_other_dropped, 1);
}

/*
 * One datagram of a receive batch (a UDP GRO buffer holds several): where
 * it is, the recvmmsg entry it came in (its source and local address), its
 * type, and for data what opening it gave.
 */
struct rx_item {
	uint8_t *buf;
	uint32_t len;
	uint8_t entry;
	uint8_t type;
	struct wg_rx_data data;
};
/* UDP GRO coalesces at most 64 datagrams (UDP_GRO_CNT_MAX); more is handled in several passes. */
#define RX_MAX_ITEMS (WG_BATCH * 64)
/*
 * Fewer data messages than this are decrypted by their reader alone: a
 * worker's wake-up costs more than it would save. A chunk of this many is
 * the least a worker claims.
 */
#define RX_PARALLEL_MIN 16
#define RX_CHUNK 8

struct udp_reader {
	uint8_t *bufs[WG_BATCH];
	struct mmsghdr msgs[WG_BATCH];
	struct iovec iov[WG_BATCH];
	struct sockaddr_storage addrs[WG_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl[WG_BATCH];
	struct wg_rx *rx;
	struct ip_endpoint src[WG_BATCH];
	struct ip_addr local[WG_BATCH];
	struct wg_device *dev; /* of the batch being opened */
	struct wg_batch batch;
	unsigned n_items, n_data;
	struct rx_item items[RX_MAX_ITEMS];
};

/*
 * From a received buffer's control messages: the UDP GRO segment size (0 if
 * it holds one datagram) and the local address it arrived on (family 0 if
 * not told).
 */
static size_t rx_control(struct msghdr *mh, struct ip_addr *local)
{
	size_t seg = 0;
	memset(local, 0, sizeof(*local));
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO) {
			int v;
			memcpy(&v, CMSG_DATA(cm), sizeof(v));
			seg = v > 0 ? (size_t)v : 0;
		} else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			local->family = AF_INET;
			local->v4 = pi.ipi_addr;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			/* A link-local address needs its interface too: leave those to the kernel. */
			if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr)) {
				local->family = AF_INET6;
				local->v6 = pi.ipi6_addr;
			}
		}
	}
	return seg;
}

void wg_udp_rx_free(struct udp_reader *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < WG_BATCH; i++)
		free(r->bufs[i]);
	wg_rx_free(r->rx);
	free(r);
}

struct udp_reader *wg_udp_rx_new(void)
{
	struct udp_reader *r = calloc(1, sizeof(*r));
	bool ok = r != NULL;
	for (unsigned i = 0; ok && i < WG_BATCH; i++)
		ok = (r->bufs[i] = malloc(WG_MAX_PACKET)) != NULL;
	if (ok)
		ok = (r->rx = wg_rx_new()) != NULL;
	if (!ok) {
		wg_udp_rx_free(r);
		return NULL;
	}
	return r;
}

static void add_item(struct udp_reader *r, uint8_t entry, uint8_t *buf, size_t len)
{
	struct rx_item *it = &r->items[r->n_items++];
	it->buf = buf;
	it->len = (uint32_t)len;
	it->entry = entry;
	it->type = (uint8_t)wg_message_classify(buf, len);
	r->n_data += it->type == WG_MSG_DATA;
}

/* The parallel part of item i (ordered.h): a data message's decryption. */
static void open_item(void *ctx, unsigned i)
{
	struct udp_reader *r = ctx;
	struct rx_item *it = &r->items[i];
	if (it->type == WG_MSG_DATA)
		wg_receive_data_open(r->dev, it->buf, it->len, &it->data);
}

/*
 * Handles the items collected, in the order they arrived; their decryption
 * on the device's workers too when there are enough of them.
 */
static void handle_items(struct wg_device *dev, struct udp_reader *r)
{
	bool parallel = r->n_data >= RX_PARALLEL_MIN && wg_pool_workers(dev->crypt);
	r->dev = dev;
	if (parallel)
		wg_batch_start(dev->crypt, &r->batch, r->n_items, RX_CHUNK, open_item, r);
	for (unsigned i = 0; i < r->n_items; i++) {
		struct rx_item *it = &r->items[i];
		if (parallel)
			wg_batch_wait(dev->crypt, &r->batch, i);
		else
			open_item(r, i);
		if (it->type == WG_MSG_DATA)
			wg_receive_data_deliver(dev, r->rx, it->buf, it->len, &it->data, &r->src[it->entry],
						&r->local[it->entry]);
		else
			demultiplex(dev, r->rx, it->type, it->buf, it->len, &r->src[it->entry],
				    &r->local[it->entry]);
	}
	if (parallel)
		wg_batch_end(dev->crypt, &r->batch);
	r->n_items = r->n_data = 0;
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
	r->n_items = r->n_data = 0;
	for (int i = 0; i < n; i++) {
		struct msghdr *mh = &r->msgs[i].msg_hdr;
		size_t total = r->msgs[i].msg_len, seg = rx_control(mh, &r->local[i]);
		if (mh->msg_flags & MSG_TRUNC)
			continue;
		if (ip_endpoint_from_sockaddr((struct sockaddr *)&r->addrs[i], &r->src[i]))
			continue;
		if (!seg)
			seg = total;
		else
			datagrams += (int)((total + seg - 1) / seg) - 1; /* GRO: one buffer, many datagrams */
		for (size_t off = 0; off < total; off += seg) {
			size_t len = total - off < seg ? total - off : seg;
			if (r->n_items == RX_MAX_ITEMS)
				handle_items(dev, r);
			add_item(r, (uint8_t)i, r->bufs[i] + off, len);
		}
	}
	handle_items(dev, r);
	/*
	 * What we just wrote may have made the kernel answer at once (ping
	 * replies, TCP ACKs and the data they release), on the queues we
	 * wrote to: send it from here unless another thread is already at it.
	 */
	for (unsigned wrote = wg_rx_flush(dev, r->rx); wrote; wrote &= wrote - 1) {
		struct wg_tun_queue *q = &dev->queue[__builtin_ctz(wrote)];
		if (pthread_mutex_trylock(&q->tx_lock) == 0) {
			if (wg_tun_drain(dev, q, NULL) < 0)
				wg_device_mark_dead(dev);
			pthread_mutex_unlock(&q->tx_lock);
		}
	}
	return datagrams;
}

int wg_udp_receive_data(struct wg_device *dev, struct udp_reader *r, int slot, bool wait)
{
	int n;
	if (dev->udp_fd[slot] < 0)
		return 0;
	if (!wait && pthread_mutex_trylock(&dev->udp_rx_lock[slot]))
		return 0;
	if (wait)
		pthread_mutex_lock(&dev->udp_rx_lock[slot]);
	n = wg_udp_receive(dev, r, dev->udp_fd[slot]);
	pthread_mutex_unlock(&dev->udp_rx_lock[slot]);
	return n;
}
