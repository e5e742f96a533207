// SPDX-License-Identifier: MIT
/*
 * The relay's I/O (relay.h): one thread owns the server and all its
 * sockets, so the allocation table needs no lock and a lookup is a hash
 * probe. It waits on epoll for the listening socket and every relayed
 * socket, reads one batch from each ready socket (recvmmsg with UDP GRO:
 * batch.h), hands each datagram to server.c and sends what comes back in
 * batches (sendmmsg, runs to one destination as UDP GSO). Buffers are the
 * thread's, made once: nothing is allocated per packet, and relayed data
 * goes out of the buffer it came in (iovecs around it), copied only into
 * a Data indication. Reading one batch per ready socket per round keeps
 * every allocation served while one floods.
 */
#include "relay/relay.h"
#include "relay/batch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util/deadline.h"
#include "util/log.h"

#define EPOLL_EVENTS 64
#define SOCKET_BUFFER (4 << 20)
#define EXPIRE_INTERVAL_MS 1000

struct relay {
	struct relay_server srv;
	int listen_fd, epfd, stop_fd;
	uint32_t listen_drops; /* its SO_RXQ_OVFL count when last read */
	int family;
	pthread_t thread;
	struct relay_rxb rx;
	struct relay_txq txq;
	pthread_mutex_t stats_lock;
	struct relay_stats stats;
	size_t n_allocs;
};

static void grow_buffers(int fd)
{
	int size = SOCKET_BUFFER;
	/* The FORCE variants pass the host's rmem_max with CAP_NET_ADMIN; without it the plain ones. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* A UDP socket of family bound to port on every address (0: any port), in epoll with tag. */
static int udp_open(struct relay *r, int family, uint16_t port, void *tag, uint16_t *bound)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET6) {
		int off = 0;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	} else {
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	}
	grow_buffers(fd);
	relay_rxb_socket(fd);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*bound = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					  : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

#define EVEN_PORT_TRIES 32

/*
 * DONT-FRAGMENT (RFC 8656 7.2): the datagrams relayed to peers leave with
 * the DF bit set, and one larger than the path MTU is dropped, not
 * fragmented. On an IPv6 socket both options: it sends to IPv4-mapped
 * peers too.
 */
static int set_dont_fragment(int fd, int family)
{
	int pmtu = IP_PMTUDISC_DO, on = 1;
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &on, sizeof(on)) < 0)
		return -errno;
	if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) < 0)
		return -errno;
	return 0;
}

/* Out of the thread's epoll set, and closed. */
static void relayed_fd_close(struct relay *r, int fd)
{
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

/*
 * EVEN-PORT asks for an even port (RTP); its R bit (reserve the next one
 * too) is not honoured: no RESERVATION-TOKEN is given, which RFC 8656 7.2
 * allows a client to handle by allocating the odd port on its own.
 */
static int relayed_open(void *ctx, struct relay_alloc *a, int family, bool even, bool dont_fragment)
{
	struct relay *r = ctx;
	for (int tries = 0; tries < EVEN_PORT_TRIES; tries++) {
		int fd = udp_open(r, family, 0, a, &a->relayed_port);
		if (fd < 0)
			return fd;
		if (even && (a->relayed_port & 1)) {
			relayed_fd_close(r, fd);
			continue;
		}
		int err = dont_fragment ? set_dont_fragment(fd, family) : 0;
		if (err) {
			relayed_fd_close(r, fd);
			return err;
		}
		a->fd = fd;
		return 0;
	}
	return -EADDRINUSE;
}

static void relayed_close(void *ctx, struct relay_alloc *a)
{
	relayed_fd_close(ctx, a->fd);
}

static void publish_stats(struct relay *r)
{
	pthread_mutex_lock(&r->stats_lock);
	r->stats = r->srv.stats;
	r->n_allocs = r->srv.table.used;
	pthread_mutex_unlock(&r->stats_lock);
}

/* One batch from fd: from clients (a == NULL) or from peers of allocation a. */
static void read_batch(struct relay *r, int fd, struct relay_alloc *a)
{
	bool dropped;
	int n = relay_rxb_read(&r->rx, fd, a ? &a->kernel_drops : &r->listen_drops, &dropped);
	if (n <= 0)
		return;
	if (dropped)
		relay_fair_congested(&r->srv.fair); /* the kernel dropped for this socket: the relay is behind */
	uint64_t now = clock_now_ms(CLOCK_MONOTONIC);
	for (int i = 0; i < n; i++) {
		struct mmsghdr *m = &r->rx.msgs[i];
		uint8_t *buf = relay_rxb_buf(&r->rx, i);
		size_t len = m->msg_len, seg = r->rx.segment[i];
		struct ip_endpoint from;

		if ((m->msg_hdr.msg_flags & MSG_TRUNC) ||
		    ip_endpoint_from_sockaddr((struct sockaddr *)&r->rx.from[i], &from) < 0)
			continue;
		/* A GRO buffer is several datagrams of one sender, seg bytes each (the last may be shorter). */
		for (size_t off = 0; off < len; off += seg) {
			size_t dlen = len - off < seg ? len - off : seg;
			struct relay_tx tx;
			bool out;
			if (relay_txq_full(&r->txq))
				relay_txq_flush(&r->txq); /* before the scratch of the next entry is written */
			if (a)
				out = relay_server_from_peer(&r->srv, a, &from, buf + off, dlen, now,
							     relay_txq_scratch(&r->txq), &tx);
			else
				out = relay_server_from_client(&r->srv, &from, buf + off, dlen, now,
							       relay_txq_scratch(&r->txq), &tx);
			if (out)
				relay_txq_add(&r->txq, &tx);
		}
		/* An answer may have deleted the allocation being read (Refresh with LIFETIME 0). */
		if (a && !a->used)
			break;
	}
	relay_txq_flush(&r->txq);
	/*
	 * nat_status reads the counters as of the last batch, not a second late
	 * (one lock per batch, not per datagram): what a client saw relayed is
	 * counted by the time it asks.
	 */
	publish_stats(r);
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	struct epoll_event evs[EPOLL_EVENTS];
	uint64_t next_expire = clock_now_ms(CLOCK_MONOTONIC) + EXPIRE_INTERVAL_MS;

	for (;;) {
		int n = epoll_wait(r->epfd, evs, EPOLL_EVENTS, EXPIRE_INTERVAL_MS);
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &r->stop_fd)
				return NULL;
			if (tag == &r->listen_fd) {
				read_batch(r, r->listen_fd, NULL);
			} else {
				struct relay_alloc *a = tag;
				/* Deleted earlier in this round: its socket is closed, the event stale. */
				if (a->used && a->fd >= 0)
					read_batch(r, a->fd, a);
			}
		}
		uint64_t now = clock_now_ms(CLOCK_MONOTONIC);
		if (now >= next_expire) {
			relay_server_expire(&r->srv, now);
			publish_stats(r);
			next_expire = now + EXPIRE_INTERVAL_MS;
		}
	}
}

size_t relay_spec_max_sessions(const struct ovl_relay_spec *spec)
{
	return spec->max_sessions ? spec->max_sessions : NAT_DEFAULT_RELAY_MAX_SESSIONS;
}

uint32_t relay_spec_per_client(const struct ovl_relay_spec *spec)
{
	/* Checked: at most max_sessions, so it fits. */
	return spec->max_sessions_per_client ? (uint32_t)spec->max_sessions_per_client
					     : relay_allocs_per_client(relay_spec_max_sessions(spec));
}

int relay_spec_check(const struct ovl_relay_spec *spec, uint16_t wg_port, char *err, size_t errlen)
{
	struct ip_endpoint ext;
	if (!spec->auth_credential || !spec->auth_credential[0]) {
		snprintf(err, errlen, "relay_server needs an auth_credential: without one it would be an open relay, "
				      "so it is not started");
		return -EINVAL;
	}
	if (!spec->external_addr || ip_endpoint_parse(spec->external_addr, &ext) < 0 ||
	    ip_addr_is_unspecified(&ext.addr)) {
		snprintf(err, errlen, "relay_server.external_addr %.100s is not an IP address and port",
			 spec->external_addr ? spec->external_addr : "(none)");
		return -EINVAL;
	}
	if (spec->listen_port == 0 || spec->listen_port == wg_port) {
		snprintf(err, errlen, "relay_server.listen_port %u cannot be %s", spec->listen_port,
			 spec->listen_port ? "the WireGuard port" : "0");
		return -EINVAL;
	}
	if (spec->max_sessions > RELAY_MAX_SESSIONS_LIMIT) {
		snprintf(err, errlen, "relay_server.max_sessions %llu is more than %u",
			 (unsigned long long)spec->max_sessions, RELAY_MAX_SESSIONS_LIMIT);
		return -EINVAL;
	}
	if (spec->max_sessions_per_client > relay_spec_max_sessions(spec)) {
		snprintf(err, errlen, "relay_server.max_sessions_per_client %llu is more than max_sessions (%zu)",
			 (unsigned long long)spec->max_sessions_per_client, relay_spec_max_sessions(spec));
		return -EINVAL;
	}
	return 0;
}

/* The descriptors and buffers of a relay whose server is already freed (or was never made). */
static void relay_close_fds(struct relay *r)
{
	relay_rxb_free(&r->rx);
	relay_txq_free(&r->txq);
	if (r->listen_fd >= 0)
		close(r->listen_fd);
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	if (r->epfd >= 0)
		close(r->epfd);
}

int relay_start(const struct ovl_relay_spec *spec, uint16_t wg_port, struct relay **out, char *err,
		size_t errlen)
{
	struct ip_endpoint ext;
	uint16_t port;
	int rc = relay_spec_check(spec, wg_port, err, errlen);
	if (rc < 0)
		return rc;
	ip_endpoint_parse(spec->external_addr, &ext);
	struct relay *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->listen_fd = r->stop_fd = -1;
	if (relay_rxb_init(&r->rx) < 0 || relay_txq_init(&r->txq) < 0) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		r->epfd = -1;
		goto fail;
	}
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &r->stop_fd };
	if (r->epfd < 0 || r->stop_fd < 0 || epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->stop_fd, &ev) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot set up the relay's event loop: %s", strerror(-rc));
		goto fail;
	}
	r->family = ext.addr.family;
	r->listen_fd = udp_open(r, r->family, spec->listen_port, &r->listen_fd, &port);
	if (r->listen_fd < 0) {
		rc = r->listen_fd;
		snprintf(err, errlen, "the relay cannot listen on UDP port %u: %s", spec->listen_port, strerror(-rc));
		goto fail;
	}
	struct relay_config c = { .external = ext.addr, .listen_port = spec->listen_port,
				  .max_sessions = relay_spec_max_sessions(spec),
				  .allocs_per_client = relay_spec_per_client(spec), .password = spec->auth_credential };
	struct relay_sock_ops ops = { .open = relayed_open, .close = relayed_close, .ctx = r };
	if ((rc = relay_server_init(&r->srv, &c, &ops, r->listen_fd)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	pthread_mutex_init(&r->stats_lock, NULL);
	if ((rc = -pthread_create(&r->thread, NULL, relay_thread, r)) < 0) {
		snprintf(err, errlen, "cannot start the relay's thread: %s", strerror(-rc));
		relay_server_free(&r->srv);
		pthread_mutex_destroy(&r->stats_lock);
		goto fail;
	}
	pthread_setname_np(r->thread, "ovl-relay"); /* top -H shows what the relay costs */
	log_info("relay: TURN server on UDP port %u, relayed addresses at %s, at most %zu allocations (%u per "
		 "client IP), realm \"%s\"",
		 spec->listen_port, spec->external_addr, c.max_sessions, c.allocs_per_client, RELAY_REALM);
	*out = r;
	return 0;
fail:
	relay_close_fds(r);
	free(r);
	return rc;
}

void relay_stop(struct relay *r)
{
	uint64_t one = 1;
	if (!r)
		return;
	if (write(r->stop_fd, &one, sizeof(one)) < 0)
		log_warn("relay: cannot signal its thread: %s", strerror(errno));
	pthread_join(r->thread, NULL);
	const struct relay_stats *st = &r->srv.stats;
	log_info("relay: stopped after %llu allocations (%llu refused for the quota, %llu for capacity, %llu failed "
		 "logins); relayed %llu datagrams to peers and %llu to clients, dropped %llu without a permission and "
		 "%llu over a fair share",
		 (unsigned long long)st->allocations, (unsigned long long)st->refused_quota,
		 (unsigned long long)st->refused_capacity, (unsigned long long)st->auth_failures,
		 (unsigned long long)st->to_peer, (unsigned long long)st->to_client,
		 (unsigned long long)st->dropped_no_permission, (unsigned long long)st->dropped_fair_share);
	relay_server_free(&r->srv); /* closes every relayed socket */
	relay_close_fds(r);
	pthread_mutex_destroy(&r->stats_lock);
	free(r);
}

void relay_stats(struct relay *r, struct relay_stats *out, size_t *allocations)
{
	pthread_mutex_lock(&r->stats_lock);
	*out = r->stats;
	*allocations = r->n_allocs;
	pthread_mutex_unlock(&r->stats_lock);
}
