// SPDX-License-Identifier: MIT
/*
 * The relay's I/O (relay.h): one thread owns the server and all its
 * sockets, so the allocation table needs no lock and a lookup is a hash
 * probe. It waits on epoll for the listening socket and every relayed
 * socket, reads a batch of up to RELAY_BATCH datagrams from each ready
 * socket (recvmmsg), hands each to server.c and sends what comes back in
 * batches (sendmmsg, one call per run of datagrams leaving the same
 * socket). Buffers are the thread's, made once: nothing is allocated per
 * packet, and relayed data goes out of the buffer it came in (iovecs
 * around it), copied only into a Data indication. Reading one batch per
 * ready socket per round keeps every allocation served while one floods.
 */
#include "relay/relay.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define RELAY_BATCH 64
#define SOCKET_BUFFER (4 << 20)
#define EXPIRE_INTERVAL_MS 1000

struct relay_rx {
	struct mmsghdr msgs[RELAY_BATCH];
	struct iovec iov[RELAY_BATCH];
	struct sockaddr_storage from[RELAY_BATCH];
	union { /* SO_RXQ_OVFL: the socket's count of datagrams dropped for a full queue */
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(uint32_t))];
	} control[RELAY_BATCH];
	uint8_t bufs[RELAY_BATCH][RELAY_MAX_DATAGRAM];
};

struct relay_txq {
	struct mmsghdr msgs[RELAY_BATCH];
	struct iovec iov[RELAY_BATCH][2];
	struct sockaddr_storage to[RELAY_BATCH];
	int fds[RELAY_BATCH];
	uint8_t scratch[RELAY_BATCH][RELAY_TX_SCRATCH];
	size_t n;
};

struct relay {
	struct relay_server srv;
	int listen_fd, epfd, stop_fd;
	uint32_t listen_drops; /* its SO_RXQ_OVFL count when last read */
	int family;
	pthread_t thread;
	struct relay_rx rx;
	struct relay_txq txq;
	pthread_mutex_t stats_lock;
	struct relay_stats stats;
	size_t n_allocs;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

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
	int on = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof(on)); /* congestion shows as drops */
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
 * EVEN-PORT asks for an even port (RTP); its R bit (reserve the next one
 * too) is not honoured: no RESERVATION-TOKEN is given, which RFC 8656 7.2
 * allows a client to handle by allocating the odd port on its own.
 */
static int relayed_open(void *ctx, struct relay_alloc *a, int family, bool even)
{
	struct relay *r = ctx;
	for (int tries = 0; tries < EVEN_PORT_TRIES; tries++) {
		int fd = udp_open(r, family, 0, a, &a->relayed_port);
		if (fd < 0)
			return fd;
		if (!even || !(a->relayed_port & 1)) {
			a->fd = fd;
			return 0;
		}
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
		close(fd);
	}
	return -EADDRINUSE;
}

static void relayed_close(void *ctx, struct relay_alloc *a)
{
	struct relay *r = ctx;
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, a->fd, NULL);
	close(a->fd);
}

/* Sends the queue: one sendmmsg per run of datagrams from the same socket. UDP: what fails is lost. */
static void txq_flush(struct relay_txq *q)
{
	size_t start = 0;
	while (start < q->n) {
		size_t end = start + 1;
		while (end < q->n && q->fds[end] == q->fds[start])
			end++;
		while (start < end) {
			int sent = sendmmsg(q->fds[start], q->msgs + start, (unsigned)(end - start), 0);
			if (sent < 0) {
				if (errno == EINTR)
					continue;
				start++; /* skip the datagram the error is about (EAGAIN, ECONNREFUSED, ...) */
				continue;
			}
			start += (size_t)sent;
		}
	}
	q->n = 0;
}

static void txq_add(struct relay_txq *q, const struct relay_tx *tx)
{
	size_t i = q->n++;
	struct msghdr *h = &q->msgs[i].msg_hdr;
	socklen_t sl;
	unsigned n = 0;

	ip_endpoint_to_sockaddr(&tx->to, &q->to[i], &sl);
	if (tx->head_len)
		q->iov[i][n++] = (struct iovec){ .iov_base = (void *)tx->head, .iov_len = tx->head_len };
	if (tx->body_len)
		q->iov[i][n++] = (struct iovec){ .iov_base = (void *)tx->body, .iov_len = tx->body_len };
	*h = (struct msghdr){ .msg_name = &q->to[i], .msg_namelen = sl, .msg_iov = q->iov[i], .msg_iovlen = n };
	q->fds[i] = tx->fd;
}

/*
 * The kernel dropped datagrams for this socket since the last batch (its
 * queue was full): the relay is the bottleneck, and the fair shares apply.
 */
static void note_drops(struct relay *r, struct msghdr *h, uint32_t *seen)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		uint32_t drops;
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL)
			continue;
		memcpy(&drops, CMSG_DATA(c), sizeof(drops));
		if (drops != *seen)
			relay_fair_congested(&r->srv.fair);
		*seen = drops;
	}
}

/* One batch from fd: from clients (a == NULL) or from peers of allocation a. */
static void read_batch(struct relay *r, int fd, struct relay_alloc *a)
{
	struct relay_rx *rx = &r->rx;
	for (size_t i = 0; i < RELAY_BATCH; i++) {
		rx->iov[i] = (struct iovec){ .iov_base = rx->bufs[i], .iov_len = RELAY_MAX_DATAGRAM };
		rx->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &rx->from[i], .msg_namelen = sizeof(rx->from[i]),
						       .msg_iov = &rx->iov[i], .msg_iovlen = 1,
						       .msg_control = rx->control[i].buf,
						       .msg_controllen = sizeof(rx->control[i].buf) };
	}
	int n = recvmmsg(fd, rx->msgs, RELAY_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	note_drops(r, &rx->msgs[n - 1].msg_hdr, a ? &a->kernel_drops : &r->listen_drops);
	uint64_t now = now_ms();
	for (int i = 0; i < n; i++) {
		struct ip_endpoint from;
		struct relay_tx tx;
		size_t len = rx->msgs[i].msg_len;
		bool out;

		if ((rx->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ||
		    ip_endpoint_from_sockaddr((struct sockaddr *)&rx->from[i], &from) < 0)
			continue;
		if (a)
			out = relay_server_from_peer(&r->srv, a, &from, rx->bufs[i], len, now,
						     r->txq.scratch[r->txq.n], &tx);
		else
			out = relay_server_from_client(&r->srv, &from, rx->bufs[i], len, now,
						       r->txq.scratch[r->txq.n], &tx);
		if (out)
			txq_add(&r->txq, &tx);
		/* An answer may have deleted the allocation being read (Refresh with LIFETIME 0). */
		if (a && !a->used)
			break;
	}
	txq_flush(&r->txq);
}

static void publish_stats(struct relay *r)
{
	pthread_mutex_lock(&r->stats_lock);
	r->stats = r->srv.stats;
	r->n_allocs = r->srv.table.used;
	pthread_mutex_unlock(&r->stats_lock);
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	struct epoll_event evs[RELAY_BATCH];
	uint64_t next_expire = now_ms() + EXPIRE_INTERVAL_MS;

	for (;;) {
		int n = epoll_wait(r->epfd, evs, RELAY_BATCH, EXPIRE_INTERVAL_MS);
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
		uint64_t now = now_ms();
		if (now >= next_expire) {
			relay_server_expire(&r->srv, now);
			publish_stats(r);
			next_expire = now + EXPIRE_INTERVAL_MS;
		}
	}
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
	return 0;
}

static void relay_close_fds(struct relay *r)
{
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
	size_t max = spec->max_sessions ? spec->max_sessions : NAT_DEFAULT_RELAY_MAX_SESSIONS;
	struct relay_config c = { .external = ext.addr, .max_sessions = max,
				  .allocs_per_client = relay_allocs_per_client(max),
				  .password = spec->auth_credential };
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
	log_info("relay: TURN server on UDP port %u, relayed addresses at %s, at most %zu allocations (%u per "
		 "client IP), realm \"%s\"",
		 spec->listen_port, spec->external_addr, max, c.allocs_per_client, RELAY_REALM);
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
