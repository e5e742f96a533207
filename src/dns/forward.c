// SPDX-License-Identifier: MIT
/*
 * Forwarding names we are not authoritative for: each query gets its own
 * connected UDP socket to the upstream (a fresh random source port) and a
 * fresh random ID; answers are checked against the question before they
 * are relayed; a truncated answer is asked again over TCP; upstreams are
 * tried in turn, and when none answers in time the client gets SERVFAIL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/worker.h"
#include "util/log.h"

void dns_fwd_free(struct worker *w, struct pending *p)
{
	if (p->fd >= 0)
		close(p->fd);
	if (p->prev)
		p->prev->next = p->next;
	else
		w->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	if (p->conn)
		p->conn->inflight--;
	w->npending--;
	free(p->tcp_rx);
	free(p);
}

/* Sends msg to the client that asked (if it is still there) and forgets the
 * query. A TCP connection whose send fails is only marked broken. */
static void pending_deliver(struct worker *w, struct pending *p, const uint8_t *msg, size_t len)
{
	mx_observe_since(&w->metrics.latency, p->start_ns);
	if (p->conn)
		dns_tcp_send(w, p->conn, msg, len);
	else if (p->us)
		dns_udp_send_one(p->us, &p->peer, p->peerlen, &p->local, msg, len);
	dns_fwd_free(w, p);
}

/* SERVFAIL to the client, then forget the query. */
static void pending_fail(struct worker *w, struct pending *p)
{
	uint8_t out[DNS_ANSWER_BUF];
	size_t len = dns_build_error(out, &p->q, DNS_R_SERVFAIL);
	pending_deliver(w, p, out, len);
}

/* Sends the query to upstream p->upstream, over UDP or (p->tcp) starting a
 * TCP connection. 0, or -errno (try the next). */
static int pending_send(struct worker *w, struct pending *p)
{
	struct dns_server *srv = w->srv;
	const struct ip_endpoint *up = &srv->upstreams[p->upstream];
	struct sockaddr_storage ss;
	socklen_t sl;
	ip_endpoint_to_sockaddr(up, &ss, &sl);
	if (p->fd >= 0)
		close(p->fd); /* closing also removes it from the epoll set */
	p->tcp_connected = false;
	p->tcp_rxlen = 0;
	p->fd = socket(up->addr.family, (p->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -errno;
	p->id = (uint16_t)arc4random();
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = p };
	if (p->tcp) {
		if (!p->tcp_rx && !(p->tcp_rx = malloc(2 + DNS_MSG_MAX + DNS_OPT_RR_LEN)))
			return -ENOMEM;
		/* The query goes out once the connection is up (EPOLLOUT). */
		if (connect(p->fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
			return -errno;
		ev.events = EPOLLOUT;
	} else {
		/* connect(): the kernel picks a random ephemeral port and drops
		 * datagrams from anyone but the upstream. */
		if (connect(p->fd, (struct sockaddr *)&ss, sl) < 0)
			return -errno;
		uint8_t q[DNS_FORWARD_QUERY_MAX];
		size_t qlen = dns_build_forward_query(q, &p->q, p->id);
		if (send(p->fd, q, qlen, MSG_DONTWAIT) < 0)
			return -errno;
	}
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, p->fd, &ev) < 0)
		return -errno;
	/* Each upstream gets its share of the timeout, the last one the rest;
	 * a retry over TCP keeps the attempt's deadline. */
	if (!p->tcp) {
		int64_t total = srv->forward_timeout_ms;
		p->attempt_deadline_ms = p->start_ms + total * (p->upstream + 1) / srv->nupstreams;
	}
	return 0;
}

/* Moves on to the next upstream after a failure; SERVFAIL when none is left. */
static void pending_next(struct worker *w, struct pending *p, int err)
{
	char b[IP_ENDPOINT_STRLEN];
	log_debug("dns: upstream %s: %s", ip_endpoint_format(&w->srv->upstreams[p->upstream], b, sizeof(b)),
		  strerror(-err));
	p->tcp = false; /* the next upstream starts over UDP */
	while (++p->upstream < w->srv->nupstreams)
		if (!atomic_load(&w->srv->upstream_is_self[p->upstream]) && pending_send(w, p) == 0)
			return;
	pending_fail(w, p);
}

/* The forwarded queries w may hold: a worker's share, or every worker's on
 * worker 0 while it serves alone (steer.c; it alone changes the mode). */
static unsigned pending_limit(const struct worker *w)
{
	bool alone = w->index == 0 && w->srv->steer.mode == DNS_STEER_ONE;
	return MAX_PENDING_PER_WORKER * (alone ? w->srv->nworkers : 1);
}

void dns_fwd_start(struct worker *w, const struct dns_query *q, uint64_t start_ns, struct udp_sock *us,
		   const struct sockaddr_storage *peer, socklen_t peerlen, const struct udp_local *local,
		   struct tcp_conn *conn)
{
	struct pending *p = w->npending < pending_limit(w) ? calloc(1, sizeof(*p)) : NULL;
	if (!p || !w->srv->nupstreams) {
		/* No upstream, or overloaded: an honest SERVFAIL, not silence. */
		uint8_t out[DNS_ANSWER_BUF];
		size_t len = dns_build_error(out, q, DNS_R_SERVFAIL);
		free(p);
		dns_count_reply(w, out, len, mx_now_ns() - start_ns);
		if (conn)
			dns_tcp_send(w, conn, out, len); /* the caller closes it if broken */
		else
			dns_udp_send_one(us, peer, peerlen, local, out, len);
		return;
	}
	p->ev.kind = EV_UPSTREAM;
	p->fd = -1;
	p->q = *q;
	p->us = us;
	if (peer)
		memcpy(&p->peer, peer, peerlen);
	p->peerlen = peerlen;
	if (local)
		p->local = *local;
	p->conn = conn;
	if (conn)
		conn->inflight++;
	p->start_ms = dns_now_ms();
	p->start_ns = start_ns;
	mx_inc(&w->metrics.queries[DNS_RESULT_FORWARDED]);
	p->next = w->pending;
	if (p->next)
		p->next->prev = p;
	w->pending = p;
	w->npending++;
	int err = atomic_load(&w->srv->upstream_is_self[0]) ? -ELOOP : pending_send(w, p);
	if (err)
		pending_next(w, p, err);
}

/* A checked upstream answer in msg (with DNS_OPT_RR_LEN spare bytes after
 * len): truncated over UDP means "ask again over TCP", else relay it. */
static void upstream_answer(struct worker *w, struct pending *p, uint8_t *msg, size_t len)
{
	if (!p->tcp && (msg[2] & (DNS_F_TC >> 8))) {
		p->tcp = true;
		int err = pending_send(w, p);
		if (err)
			pending_next(w, p, err);
		return;
	}
	size_t limit = p->conn ? DNS_MSG_MAX : p->q.udp_limit;
	len = dns_response_relay(msg, len, &p->q, limit);
	pending_deliver(w, p, msg, len);
}

static void upstream_udp(struct worker *w, struct pending *p)
{
	for (;;) {
		ssize_t n = recv(p->fd, w->upstream_buf, sizeof(w->upstream_buf) - DNS_OPT_RR_LEN, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pending_next(w, p, -errno); /* e.g. ECONNREFUSED: nothing listens there */
			return;
		}
		/* Anything but the answer to our question, with our ID, is ignored:
		 * a spoofed or stale datagram must not end the wait. */
		if (dns_response_check(w->upstream_buf, (size_t)n, p->id, &p->q) == 0) {
			upstream_answer(w, p, w->upstream_buf, (size_t)n);
			return;
		}
	}
}

static void upstream_tcp(struct worker *w, struct pending *p, uint32_t events)
{
	if (!p->tcp_connected) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr) {
			pending_next(w, p, -soerr);
			return;
		}
		uint8_t q[2 + DNS_FORWARD_QUERY_MAX];
		size_t qlen = dns_build_forward_query(q + 2, &p->q, p->id);
		be16_put(q, (uint16_t)qlen);
		/* A fresh connection takes a few hundred bytes at once. */
		ssize_t n = send(p->fd, q, qlen + 2, MSG_NOSIGNAL | MSG_DONTWAIT);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = p };
		if (n != (ssize_t)(qlen + 2) || epoll_ctl(w->epfd, EPOLL_CTL_MOD, p->fd, &ev) < 0) {
			pending_next(w, p, n < 0 ? -errno : -EIO);
			return;
		}
		p->tcp_connected = true;
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(p->fd, p->tcp_rx + p->tcp_rxlen, 2 + DNS_MSG_MAX - p->tcp_rxlen, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			pending_next(w, p, n < 0 ? -errno : -ECONNRESET);
			return;
		}
		p->tcp_rxlen += (size_t)n;
		if (p->tcp_rxlen < 2 || p->tcp_rxlen < 2u + be16_get(p->tcp_rx))
			continue;
		size_t len = be16_get(p->tcp_rx);
		if (dns_response_check(p->tcp_rx + 2, len, p->id, &p->q) < 0)
			pending_next(w, p, -EBADMSG);
		else
			upstream_answer(w, p, p->tcp_rx + 2, len);
		return;
	}
}

void dns_fwd_event(struct worker *w, struct pending *p, uint32_t events)
{
	struct tcp_conn *conn = p->conn; /* p may be gone afterwards */
	if (p->tcp)
		upstream_tcp(w, p, events);
	else
		upstream_udp(w, p);
	dns_tcp_close_if_broken(w, conn);
}

/* Moves on from upstreams that missed their deadline. */
void dns_fwd_expire(struct worker *w, int64_t now)
{
	for (struct pending *p = w->pending, *next; p; p = next) {
		next = p->next;
		if (now >= p->attempt_deadline_ms) {
			/* Only p can be freed here; a broken connection just
			 * orphans its other queries. */
			struct tcp_conn *conn = p->conn;
			pending_next(w, p, -ETIMEDOUT);
			dns_tcp_close_if_broken(w, conn);
		}
	}
}
