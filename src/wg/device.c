// SPDX-License-Identifier: MIT
/*
 * A device: its TUN interface, its life cycle (create, destroy, death of
 * the link), the timer thread, the handshake worker's start and stop, and
 * the public API of wg.h. The UDP sockets
 * are in socket.c, the data-path threads in threads.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"
#include "wg/device.h"
#include "wg/placement.h"
#include "wg/offload.h"
#include "wg/socket.h"

/* Attaches one queue of the TUN link ifname (creating the link for the first); the fd or -errno. */
static int tun_attach(const char *ifname, short flags, char out_name[IFNAMSIZ])
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK), ret;
	int hdrsz = (int)WG_VNET_HDR_LEN;

	if (fd < 0) {
		ret = -errno;
		log_error("wg: cannot open /dev/net/tun: %s (need CAP_NET_ADMIN and the tun module)",
			  strerror(errno));
		return ret;
	}
	ifr.ifr_flags = flags;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	/*
	 * With a virtio-net header per packet the kernel can hand us 64 KiB TCP
	 * super-packets (TSO) and take coalesced ones (GRO): far fewer syscalls
	 * and a far cheaper TCP stack on both sides of the tunnel. Without
	 * offloads the headers stay (all zero): correct, just slower.
	 */
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0 ||
	    ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0)
		log_warn("wg: TUN offloads unavailable on %s (%s): one packet per read", ifname,
			 strerror(errno));
	memcpy(out_name, ifr.ifr_name, IFNAMSIZ);
	out_name[IFNAMSIZ - 1] = 0;
	return fd;
}

/* How many TUN queues a device asking for want (0: automatic) gets. */
static unsigned queues_wanted(unsigned want)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (!want)
		want = cpus > 0 ? (unsigned)cpus : 1;
	return want > WG_MAX_QUEUES ? WG_MAX_QUEUES : want;
}

/*
 * Creates (or re-attaches to) the TUN link with want queues, into
 * dev->queue[].fd and dev->n_queues, and sets its MTU. A persistent
 * single-queue link of an older version refuses IFF_MULTI_QUEUE: it is
 * re-attached as it is, with one queue. 0 or -errno.
 */
static int tun_open(struct wg_device *dev, const char *ifname, unsigned want)
{
	int fd;

	fd = tun_attach(ifname, WG_TUN_FLAGS, dev->ifname);
	if (fd == -EINVAL) {
		fd = tun_attach(ifname, WG_TUN_FLAGS & ~IFF_MULTI_QUEUE, dev->ifname);
		want = 1;
	}
	if (fd < 0) {
		log_error("wg: cannot create TUN device %s: %s", ifname, strerror(-fd));
		return fd;
	}
	dev->queue[0].fd = fd;
	dev->n_queues = 1;
	while (dev->n_queues < want) {
		char name[IFNAMSIZ];
		fd = tun_attach(dev->ifname, WG_TUN_FLAGS, name);
		if (fd < 0) {
			log_error("wg %s: cannot open TUN queue %u: %s", dev->ifname, dev->n_queues, strerror(-fd));
			return fd;
		}
		dev->queue[dev->n_queues++].fd = fd;
	}
	return wg_tun_set_mtu(dev->ifname, dev->mtu);
}

int wg_tun_set_mtu(const char *ifname, unsigned mtu)
{
	struct ifreq ifr = { .ifr_mtu = (int)mtu };
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (sock < 0 || ioctl(sock, SIOCSIFMTU, &ifr) < 0) {
		ret = -errno;
		log_error("wg: cannot set MTU %u on %s: %s", mtu, ifname, strerror(errno));
	}
	if (sock >= 0)
		close(sock);
	return ret;
}

/*
 * Names a device thread "<role>:<ifname>" (cut to the kernel's 15 bytes), so
 * that top -H, perf and the tests can tell the data-path threads apart.
 */
void wg_thread_name(pthread_t t, const char *role, const char *ifname)
{
	char name[16];
	snprintf(name, sizeof(name), "%s:%s", role, ifname);
	pthread_setname_np(t, name);
}

int wg_device_set_fwmark_locked(struct wg_device *dev, uint32_t mark)
{
	for (int i = 0; i < 2; i++)
		if ((dev->udp_fd[i] >= 0 && setsockopt(dev->udp_fd[i], SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) ||
		    (dev->hs_fd[i] >= 0 && setsockopt(dev->hs_fd[i], SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0))
			return -errno;
	dev->fwmark = mark;
	return 0;
}

int wg_device_set_private_key_locked(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	struct noise_identity id = { 0 };
	struct wg_peer *peer, *next;
	int ret;

	if (key && !key_is_zero(key)) {
		ret = noise_identity_set(&id, key);
		if (ret)
			return ret;
	}
	if (id.has_key == dev->identity.has_key &&
	    (!id.has_key || wg_memeq(id.private_key, dev->identity.private_key, WG_KEY_LEN))) {
		noise_identity_clear(&id);
		return 0;
	}
	dev->identity = id;
	noise_identity_clear(&id);
	ret = wg_cookie_checker_init(&dev->cookie_checker, dev->identity.public_key);
	for (peer = TAILQ_FIRST(&dev->peers); peer; peer = next) {
		next = TAILQ_NEXT(peer, link);
		/* A peer with our own public key could only talk to itself. */
		if (dev->identity.has_key &&
		    memcmp(peer->public_key, dev->identity.public_key, WG_KEY_LEN) == 0) {
			wg_peer_destroy(peer);
			continue;
		}
		pthread_mutex_lock(&peer->lock);
		wg_peer_zero_keys(peer);
		noise_handshake_rekey_identity(&peer->hs, &dev->identity);
		pthread_mutex_unlock(&peer->lock);
	}
	return ret;
}

static void *timer_thread(void *arg)
{
	struct wg_device *dev = arg;
	struct pollfd pfd = { .fd = dev->stop_fd, .events = POLLIN };
	while (!atomic_load(&dev->stopping)) {
		int r = poll(&pfd, 1, 100);
		if (r > 0)
			break;
		wg_cpu_free_refresh(wg_now_ns());
		pthread_rwlock_rdlock(&dev->lock);
		wg_timers_tick(dev);
		pthread_rwlock_unlock(&dev->lock);
	}
	return NULL;
}

void wg_device_mark_dead(struct wg_device *dev)
{
	if (atomic_exchange(&dev->dead, true))
		return;
	if (dev->cfg.on_dead)
		dev->cfg.on_dead(dev->cfg.user);
}

static bool ifname_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ':' || name[i] <= ' ' || name[i] == 0x7f)
			return false;
	return true;
}

/* Tells the TUN and timer threads to finish (they watch stop_fd). */
static void signal_stop(struct wg_device *dev)
{
	uint64_t one = 1;
	atomic_store(&dev->stopping, true);
	if (write(dev->stop_fd, &one, sizeof(one)) < 0)
		log_warn("wg %s: cannot stop threads: %s", dev->ifname, strerror(errno));
}

/*
 * One reader thread per TUN queue: "tun:IF" for queue 0 (the solo poller),
 * "tunN:IF" for queue N.
 */
static int tun_readers_start(struct wg_device *dev)
{
	for (unsigned i = 0; i < dev->n_queues; i++) {
		struct wg_tun_queue *q = &dev->queue[i];
		char role[8];
		if (pthread_create(&q->thread, NULL, wg_tun_reader, q))
			return -EAGAIN;
		q->running = true;
		snprintf(role, sizeof(role), i ? "tun%u" : "tun", i);
		wg_thread_name(q->thread, role, dev->ifname);
	}
	return 0;
}

/* After signal_stop: waits for the TUN readers to end. */
static void tun_readers_join(struct wg_device *dev)
{
	for (unsigned i = 0; i < dev->n_queues; i++)
		if (dev->queue[i].running) {
			pthread_join(dev->queue[i].thread, NULL);
			dev->queue[i].running = false;
		}
}

/* Stops the handshake worker; with the UDP readers stopped (nothing pushes). */
static void stop_handshake_worker(struct wg_device *dev)
{
	if (!dev->handshake_running)
		return;
	wg_handshake_queue_stop(dev->handshakes);
	pthread_join(dev->handshake_thread, NULL);
	dev->handshake_running = false;
}

/*
 * Releases what wg_device_create set up, once no thread uses the device: the
 * shared end of both a failed create and wg_device_destroy. Closing the last
 * fd of a non-persistent TUN device deletes the link.
 */
static void device_free(struct wg_device *dev)
{
	for (int i = 0; i < 2; i++)
		if (dev->udp_fd[i] >= 0)
			close(dev->udp_fd[i]);
	for (int i = 0; i < 2; i++)
		if (dev->hs_fd[i] >= 0)
			close(dev->hs_fd[i]);
	for (unsigned i = 0; i < WG_MAX_QUEUES; i++)
		if (dev->queue[i].fd >= 0)
			close(dev->queue[i].fd);
	if (dev->stop_fd >= 0)
		close(dev->stop_fd);
	if (dev->net_stop_fd >= 0)
		close(dev->net_stop_fd);
	for (int i = 0; i < WG_POLLERS; i++)
		if (dev->poll_kick[i] >= 0)
			close(dev->poll_kick[i]);
	wg_pool_free(dev->crypt);
	wg_index_destroy(&dev->index);
	wg_ratelimit_destroy(&dev->ratelimit);
	wg_ratelimit_destroy(&dev->cookie_ratelimit);
	if (dev->handshakes) {
		wg_handshake_queue_destroy(dev->handshakes);
		free(dev->handshakes);
	}
	pthread_rwlock_destroy(&dev->lock);
	pthread_mutex_destroy(&dev->config_lock);
	pthread_mutex_destroy(&dev->cookie_lock);
	pthread_mutex_destroy(&dev->udp_rx_lock[0]);
	pthread_mutex_destroy(&dev->udp_rx_lock[1]);
	for (unsigned i = 0; i < WG_MAX_QUEUES; i++) {
		pthread_mutex_destroy(&dev->queue[i].tx_lock);
		wg_tun_tx_free(dev->queue[i].tx);
	}
	noise_identity_clear(&dev->identity);
	wg_memzero(&dev->cookie_checker, sizeof(dev->cookie_checker));
	free(dev);
}

int wg_device_create(const struct wg_device_config *cfg, struct wg_device **out)
{
	struct wg_device *dev;
	pthread_rwlockattr_t attr;
	int ret;

	if (!ifname_valid(cfg->ifname)) {
		log_error("wg: invalid interface name \"%s\" (1 to 15 bytes, no '/', ':' or spaces)",
			  cfg->ifname ? cfg->ifname : "");
		return -EINVAL;
	}
	if (cfg->mtu && (cfg->mtu < 576 || cfg->mtu > WG_MAX_PACKET - 80)) {
		log_error("wg %s: MTU %u out of range (576..65455)", cfg->ifname, cfg->mtu);
		return -EINVAL;
	}
	ret = wg_crypto_init();
	if (ret)
		return ret;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->cfg = *cfg;
	dev->cfg.ifname = NULL;
	dev->cfg.uapi_dir = NULL;
	dev->stop_fd = dev->net_stop_fd = dev->uapi_fd = -1;
	dev->udp_fd[0] = dev->udp_fd[1] = dev->hs_fd[0] = dev->hs_fd[1] = -1;
	for (int i = 0; i < WG_POLLERS; i++)
		dev->poll_kick[i] = -1;
	atomic_init(&dev->poll_mode, WG_POLL_SPLIT);
	dev->mtu = wg_device_configured_mtu(dev);
	dev->fwmark = cfg->fwmark;
	snprintf(dev->ifname, sizeof(dev->ifname), "%s", cfg->ifname);
	TAILQ_INIT(&dev->peers);
	wg_allowedips_init(&dev->aips);
	atomic_init(&dev->stopping, false);
	atomic_init(&dev->dead, false);

	pthread_rwlockattr_init(&attr);
	/* Configuration must not starve behind a busy data path. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (pthread_rwlock_init(&dev->lock, &attr) || pthread_mutex_init(&dev->config_lock, NULL) ||
	    pthread_mutex_init(&dev->cookie_lock, NULL) || pthread_mutex_init(&dev->udp_rx_lock[0], NULL) ||
	    pthread_mutex_init(&dev->udp_rx_lock[1], NULL)) {
		pthread_rwlockattr_destroy(&attr);
		free(dev);
		return -ENOMEM;
	}
	pthread_rwlockattr_destroy(&attr);
	for (unsigned i = 0; i < WG_MAX_QUEUES; i++) {
		struct wg_tun_queue *q = &dev->queue[i];
		q->dev = dev;
		q->index = i;
		q->fd = -1;
		pthread_mutex_init(&q->tx_lock, NULL);
	}
	if ((ret = wg_ratelimit_init(&dev->ratelimit, WG_UNDER_LOAD_HANDSHAKES_PER_SECOND)) ||
	    (ret = wg_ratelimit_init(&dev->cookie_ratelimit, WG_UNDER_LOAD_HANDSHAKES_PER_SECOND)) ||
	    (ret = wg_index_init(&dev->index)))
		goto fail;
	dev->handshakes = malloc(sizeof(*dev->handshakes));
	if (!dev->handshakes || (ret = wg_handshake_queue_init(dev->handshakes, WG_HANDSHAKE_QUEUE_LEN))) {
		free(dev->handshakes);
		dev->handshakes = NULL;
		ret = -ENOMEM;
		goto fail;
	}
	if (cfg->private_key && (ret = wg_device_set_private_key_locked(dev, cfg->private_key)))
		goto fail;
	if ((ret = wg_cookie_checker_init(&dev->cookie_checker, dev->identity.public_key)))
		goto fail;

	dev->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->net_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->stop_fd < 0 || dev->net_stop_fd < 0) {
		ret = -errno;
		goto fail;
	}
	for (int i = 0; i < WG_POLLERS; i++)
		if ((dev->poll_kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
			ret = -errno;
			goto fail;
		}
	if ((ret = tun_open(dev, cfg->ifname, queues_wanted(cfg->queues))))
		goto fail;
	for (unsigned i = 0; i < dev->n_queues; i++)
		if (!(dev->queue[i].tx = wg_tun_tx_new())) {
			ret = -ENOMEM;
			goto fail;
		}
	/*
	 * Decryption workers, one fewer than the queues: a peer's data arrives
	 * on one socket, read by one thread, which shares the decryption of its
	 * bigger batches with them (ordered.h) and so keeps their order.
	 */
	if (!(dev->crypt = wg_pool_new(dev->n_queues - 1, dev->ifname))) {
		ret = -EAGAIN;
		goto fail;
	}
	ret = wg_socket_open_pair(cfg->listen_port, dev->fwmark, dev->udp_fd, dev->hs_fd, &dev->port);
	if (ret) {
		log_error("wg %s: cannot listen on UDP port %u: %s", dev->ifname, cfg->listen_port,
			  strerror(-ret));
		goto fail;
	}
	/* The handshake worker first: the UDP readers queue for it. */
	if (pthread_create(&dev->handshake_thread, NULL, wg_handshake_worker, dev)) {
		ret = -EAGAIN;
		goto fail;
	}
	dev->handshake_running = true;
	wg_thread_name(dev->handshake_thread, "hs", dev->ifname);
	if ((ret = wg_udp_readers_start(dev)))
		goto fail_threads;
	if ((ret = tun_readers_start(dev)))
		goto fail_tun_threads;
	if (pthread_create(&dev->timer_thread, NULL, timer_thread, dev)) {
		ret = -EAGAIN;
		goto fail_tun_threads;
	}
	wg_thread_name(dev->timer_thread, "timer", dev->ifname);
	if (!cfg->no_uapi && (ret = wg_uapi_start(dev, cfg->uapi_dir)))
		goto fail_timer_thread;
	*out = dev;
	return 0;

fail_timer_thread:
	signal_stop(dev);
	pthread_join(dev->timer_thread, NULL);
fail_tun_threads:
	signal_stop(dev);
	tun_readers_join(dev);
fail_threads:
	wg_udp_readers_stop(dev);
fail:
	stop_handshake_worker(dev);
	device_free(dev);
	return ret;
}

void wg_device_destroy(struct wg_device *dev)
{
	struct wg_peer *peer;
	if (!dev)
		return;
	signal_stop(dev);
	wg_uapi_stop(dev);
	pthread_join(dev->timer_thread, NULL);
	tun_readers_join(dev);
	wg_udp_readers_stop(dev);
	stop_handshake_worker(dev);

	pthread_rwlock_wrlock(&dev->lock);
	while ((peer = TAILQ_FIRST(&dev->peers)))
		wg_peer_destroy(peer);
	wg_allowedips_free(&dev->aips);
	pthread_rwlock_unlock(&dev->lock);
	device_free(dev);
}

const char *wg_device_ifname(const struct wg_device *dev)
{
	return dev->ifname;
}

int wg_device_set_listen_port(struct wg_device *dev, uint16_t port)
{
	int ret;
	pthread_mutex_lock(&dev->config_lock);
	ret = wg_device_rebind(dev, port);
	pthread_mutex_unlock(&dev->config_lock);
	return ret;
}

uint16_t wg_device_listen_port(struct wg_device *dev)
{
	uint16_t port;
	pthread_rwlock_rdlock(&dev->lock);
	port = dev->port;
	pthread_rwlock_unlock(&dev->lock);
	return port;
}

int wg_peer_upsert(struct wg_device *dev, const struct wg_peer_config *cfg)
{
	int ret;
	for (size_t i = 0; i < cfg->n_allowed_ips; i++)
		if (cfg->allowed_ips[i].len > ip_addr_bits(&cfg->allowed_ips[i].addr))
			return -EINVAL;
	pthread_mutex_lock(&dev->config_lock);
	pthread_rwlock_wrlock(&dev->lock);
	ret = wg_peer_apply(dev, cfg);
	pthread_rwlock_unlock(&dev->lock);
	pthread_mutex_unlock(&dev->config_lock);
	return ret;
}

/* Run fn on the peer with key under the write lock; -ENOENT if none. */
static int with_peer(struct wg_device *dev, const uint8_t key[WG_KEY_LEN],
		     int (*fn)(struct wg_device *, struct wg_peer *, const void *), const void *arg)
{
	struct wg_peer *peer;
	int ret = -ENOENT;
	pthread_mutex_lock(&dev->config_lock);
	pthread_rwlock_wrlock(&dev->lock);
	peer = wg_peer_find(dev, key);
	if (peer)
		ret = fn(dev, peer, arg);
	pthread_rwlock_unlock(&dev->lock);
	pthread_mutex_unlock(&dev->config_lock);
	return ret;
}

static int do_remove(struct wg_device *dev, struct wg_peer *peer, const void *arg)
{
	wg_peer_destroy(peer);
	return 0;
}

static int do_add_aip(struct wg_device *dev, struct wg_peer *peer, const void *arg)
{
	return wg_allowedips_insert(&dev->aips, arg, &peer->aips);
}

static int do_remove_aip(struct wg_device *dev, struct wg_peer *peer, const void *arg)
{
	return wg_allowedips_remove(&dev->aips, arg, &peer->aips);
}

int wg_peer_remove(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	return with_peer(dev, key, do_remove, NULL);
}

int wg_peer_add_allowed_ip(struct wg_device *dev, const uint8_t key[WG_KEY_LEN],
			   const struct ip_prefix *prefix)
{
	return with_peer(dev, key, do_add_aip, prefix);
}

int wg_peer_remove_allowed_ip(struct wg_device *dev, const uint8_t key[WG_KEY_LEN],
			      const struct ip_prefix *prefix)
{
	return with_peer(dev, key, do_remove_aip, prefix);
}

static int do_initiate(struct wg_device *dev, struct wg_peer *peer, const void *arg)
{
	pthread_mutex_lock(&peer->lock);
	wg_send_initiation(peer, false);
	pthread_mutex_unlock(&peer->lock);
	return 0;
}

int wg_peer_initiate_handshake(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	return with_peer(dev, key, do_initiate, NULL);
}

static int do_keepalive(struct wg_device *dev, struct wg_peer *peer, const void *arg)
{
	pthread_mutex_lock(&peer->lock);
	wg_send_keepalive(peer);
	pthread_mutex_unlock(&peer->lock);
	return 0;
}

int wg_peer_send_keepalive(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	return with_peer(dev, key, do_keepalive, NULL);
}

int wg_device_status(struct wg_device *dev, struct wg_device_status **out)
{
	struct wg_device_status *st = calloc(1, sizeof(*st));
	struct wg_peer *peer;
	size_t i = 0, cap = 0;
	int ret = 0;

	if (!st)
		return -ENOMEM;
	pthread_rwlock_rdlock(&dev->lock);
	snprintf(st->ifname, sizeof(st->ifname), "%s", dev->ifname);
	st->has_private_key = dev->identity.has_key;
	if (st->has_private_key)
		key_to_base64(dev->identity.public_key, st->public_key);
	st->listen_port = dev->port;
	st->fwmark = dev->fwmark;
	st->cookie_replies = atomic_load_explicit(&dev->cookie_replies_sent, memory_order_relaxed);
	st->handshakes_rate_limited = atomic_load_explicit(&dev->hs_rate_limited, memory_order_relaxed) +
				      atomic_load_explicit(&dev->cookie_replies_limited, memory_order_relaxed);
	cap = dev->n_peers;
	st->peers = calloc(cap ? cap : 1, sizeof(*st->peers));
	if (!st->peers)
		ret = -ENOMEM;
	TAILQ_FOREACH(peer, &dev->peers, link) {
		struct wg_peer_status *ps = &st->peers[i];
		struct wg_aip_node *n;
		size_t k = 0;
		if (ret)
			break;
		key_to_base64(peer->public_key, ps->public_key);
		ps->allowed_ips = calloc(peer->aips.count ? peer->aips.count : 1, sizeof(*ps->allowed_ips));
		if (!ps->allowed_ips) {
			ret = -ENOMEM;
			break;
		}
		wg_aip_owner_foreach(n, &peer->aips)
			wg_aip_node_prefix(n, &ps->allowed_ips[k++]);
		ps->n_allowed_ips = k;
		pthread_mutex_lock(&peer->lock);
		ps->has_endpoint = peer->has_endpoint;
		ps->endpoint = peer->endpoint;
		ps->last_handshake_sec = (int64_t)(peer->last_handshake_unix_ns / NSEC_PER_SEC);
		ps->last_handshake_nsec = (long)(peer->last_handshake_unix_ns % NSEC_PER_SEC);
		ps->persistent_keepalive = peer->persistent_keepalive;
		ps->has_preshared_key = !key_is_zero(peer->hs.preshared_key);
		wg_pathobs_status(peer, ps);
		pthread_mutex_unlock(&peer->lock);
		ps->rx_bytes = atomic_load(&peer->rx_bytes);
		ps->tx_bytes = atomic_load(&peer->tx_bytes);
		ps->rx_packets = atomic_load_explicit(&peer->rx_packets, memory_order_relaxed);
		ps->tx_packets = atomic_load_explicit(&peer->tx_packets, memory_order_relaxed);
		ps->handshake_attempts = atomic_load_explicit(&peer->handshake_initiations, memory_order_relaxed);
		ps->handshake_failures = atomic_load_explicit(&peer->handshake_failures, memory_order_relaxed);
		ps->endpoint_changes = atomic_load_explicit(&peer->endpoint_changes, memory_order_relaxed);
		i++;
	}
	st->n_peers = i;
	pthread_rwlock_unlock(&dev->lock);
	if (ret) {
		for (size_t j = 0; st->peers && j < cap; j++)
			free(st->peers[j].allowed_ips);
		free(st->peers);
		free(st);
		return ret;
	}
	*out = st;
	return 0;
}

void wg_device_status_free(struct wg_device_status *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n_peers; i++)
		free(st->peers[i].allowed_ips);
	free(st->peers);
	free(st);
}

int wg_keypair_generate(uint8_t private_key[WG_KEY_LEN], uint8_t public_key[WG_KEY_LEN])
{
	int ret = wg_crypto_init();
	if (ret)
		return ret;
	wg_x25519_generate(private_key);
	return wg_x25519_public(public_key, private_key);
}

int wg_public_from_private(const uint8_t private_key[WG_KEY_LEN], uint8_t public_key[WG_KEY_LEN])
{
	struct noise_identity id;
	int ret = wg_crypto_init();
	if (ret)
		return ret;
	ret = noise_identity_set(&id, private_key);
	if (!ret)
		memcpy(public_key, id.public_key, WG_KEY_LEN);
	noise_identity_clear(&id);
	return ret;
}
