// SPDX-License-Identifier: MIT
/*
 * The serving side: listeners, worker threads, the TCP transport and the
 * forwarder.
 *
 * Each worker is a thread with its own epoll set. Every listener has one UDP
 * socket per worker, all bound to the same address with SO_REUSEPORT, so the
 * kernel spreads clients over the workers with no shared queue; a worker
 * reads and answers a batch at a time (recvmmsg/sendmmsg). Worker 0 also
 * owns the TCP listeners and connections. Forwarded queries stay on the
 * worker that received them: each gets its own connected UDP socket to the
 * upstream (a fresh random source port) and a fresh random ID; an answer
 * truncated upstream is fetched again over TCP.
 *
 * Listeners come and go while workers run. To close one safely, the caller
 * removes its sockets from every epoll set, marks it dead, bumps a
 * generation counter and waits until every worker has finished two loop
 * iterations: by then no worker holds an event for those sockets, and each
 * has dropped the connections and forwarded queries that answered through
 * them. Only then are the sockets closed (a closed descriptor number could
 * otherwise be reused under a worker's feet).
 */
#include "dns/dns.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns/answer.h"
#include "dns/resolvconf.h"
#include "dns/store.h"
#include "dns/wire.h"
#include "util/log.h"

#define UDP_BATCH 32
#define UDP_RX_BUF 2048		/* queries are small; larger ones are not queries */
#define MAX_WORKERS 4
#define MAX_PENDING_PER_WORKER 1024
#define TCP_TX_MAX (256 * 1024)	/* a client that stops reading is cut off here */
#define TCP_RX_BUF (2 + DNS_MSG_MAX)

enum ev_kind { EV_WAKE, EV_UDP, EV_TCP_LISTEN, EV_TCP_CONN, EV_UPSTREAM };

/* The first member of everything registered in an epoll set. */
struct ev {
	enum ev_kind kind;
};

struct listener;

/*
 * The local address a datagram reached. Only wildcard listeners need it:
 * their answers must leave from that address (IP_PKTINFO / IPV6_PKTINFO),
 * or a client that asked 10.0.0.2 gets its answer from 10.0.0.1 and drops
 * it. family 0 means "let the kernel choose", as for bound addresses.
 */
struct udp_local {
	sa_family_t family;
	union {
		struct in_pktinfo v4;
		struct in6_pktinfo v6;
	};
};

union udp_ctrl {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

struct udp_sock {
	struct ev ev;
	int fd;
	struct listener *l;
};

struct listener {
	struct listener *next;
	struct ip_endpoint ep;
	bool wildcard; /* 0.0.0.0 or :: */
	atomic_bool dead;
	struct ev tcp_ev; /* EV_TCP_LISTEN */
	int tcp_fd;
	unsigned nudp;
	struct udp_sock udp[MAX_WORKERS];
};

struct tcp_conn {
	struct ev ev;
	struct tcp_conn *prev, *next;
	int fd;
	struct listener *l;
	int64_t last_active_ms;
	unsigned inflight; /* forwarded queries still waiting */
	bool want_out;
	/* A send failed; closed at the next safe point (never under the
	 * caller's feet while it still walks this connection's data). */
	bool broken;
	size_t rxlen;
	uint8_t *rx;
	uint8_t *tx;
	size_t txlen, txoff;
};

struct pending {
	struct ev ev;
	struct pending *prev, *next;
	int fd;			/* connected to the current upstream */
	/* Over TCP once upstream answered with TC over UDP (RFC 7766 5). */
	bool tcp, tcp_connected;
	uint8_t *tcp_rx;	/* 2-byte length + message + room for an OPT */
	size_t tcp_rxlen;
	uint16_t id;		/* the ID we chose */
	unsigned upstream;	/* index of the current attempt */
	int64_t start_ms, attempt_deadline_ms;
	struct dns_query q;	/* the client's query */
	/* Where the answer goes: a UDP client or a TCP connection (NULL again
	 * if that connection closed first: the answer is then discarded). */
	struct udp_sock *us;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct udp_local local;
	struct tcp_conn *conn;
};

struct worker {
	struct dns_server *srv;
	unsigned index;
	pthread_t thread;
	bool started;
	int epfd, wakefd;
	struct ev wake_ev;
	atomic_ulong loops;
	unsigned seen_gen;
	struct pending *pending;
	unsigned npending;
	struct tcp_conn *conns;
	unsigned nconns;
	/* Batch buffers for UDP. */
	struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH], out_iov[UDP_BATCH];
	struct sockaddr_storage peers[UDP_BATCH];
	union udp_ctrl ctrl_in[UDP_BATCH], ctrl_out[UDP_BATCH];
	uint8_t rx[UDP_BATCH][UDP_RX_BUF];
	uint8_t tx[UDP_BATCH][DNS_ANSWER_BUF];
	uint8_t upstream_buf[DNS_MSG_MAX + 1 + DNS_OPT_RR_LEN];
};

struct dns_server {
	struct dns_store *store;
	struct dns_answer_cfg acfg;
	struct ip_endpoint upstreams[DNS_MAX_UPSTREAMS];
	unsigned nupstreams;
	unsigned forward_timeout_ms, tcp_max_conns, tcp_idle_ms;
	unsigned nworkers;
	struct worker *workers[MAX_WORKERS];
	atomic_bool stop;
	atomic_uint gen;
	pthread_mutex_t lock; /* the listener list, and listen/unlisten as a whole */
	struct listener *listeners;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(struct worker *w)
{
	uint64_t one = 1;
	if (write(w->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("dns: cannot wake worker %u: %m", w->index);
}

/* ---- UDP source addresses ----------------------------------------------- */

static void local_from_msg(struct msghdr *m, struct udp_local *out)
{
	out->family = 0;
	for (struct cmsghdr *c = m->msg_control ? CMSG_FIRSTHDR(m) : NULL; c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			memcpy(&out->v4, CMSG_DATA(c), sizeof(out->v4));
			out->v4.ipi_spec_dst = out->v4.ipi_addr; /* answer from where it came */
			out->v4.ipi_ifindex = 0;		 /* and let routing pick the way */
			out->family = AF_INET;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			memcpy(&out->v6, CMSG_DATA(c), sizeof(out->v6)); /* ifindex kept: link-local */
			out->family = AF_INET6;
		}
	}
}

static void local_to_msg(const struct udp_local *l, struct msghdr *m, union udp_ctrl *ctrl)
{
	m->msg_control = NULL;
	m->msg_controllen = 0;
	if (!l->family)
		return;
	bool v4 = l->family == AF_INET;
	size_t dlen = v4 ? sizeof(l->v4) : sizeof(l->v6);
	m->msg_control = ctrl->buf;
	m->msg_controllen = CMSG_SPACE(dlen);
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
	c->cmsg_type = v4 ? IP_PKTINFO : IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(dlen);
	memcpy(CMSG_DATA(c), v4 ? (const void *)&l->v4 : (const void *)&l->v6, dlen);
}

/* ---- TCP connections ---------------------------------------------------- */

static void conn_close(struct worker *w, struct tcp_conn *c)
{
	/* Forwarded queries for this connection have nowhere to go now; they
	 * are orphaned rather than freed so that callers walking the pending
	 * list stay safe. */
	for (struct pending *p = w->pending; p && c->inflight; p = p->next) {
		if (p->conn == c) {
			p->conn = NULL;
			c->inflight--;
		}
	}
	close(c->fd); /* also leaves the epoll set */
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	free(c->rx);
	free(c->tx);
	free(c);
}

static int conn_update_events(struct worker *w, struct tcp_conn *c)
{
	bool want_out = c->txlen > c->txoff;
	if (want_out == c->want_out)
		return 0;
	struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -errno;
	c->want_out = want_out;
	return 0;
}

/* Writes what it can; returns -1 when the connection must be closed. */
static int conn_flush(struct worker *w, struct tcp_conn *c)
{
	while (c->txoff < c->txlen) {
		ssize_t n = send(c->fd, c->tx + c->txoff, c->txlen - c->txoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->txoff += (size_t)n;
	}
	if (c->txoff == c->txlen)
		c->txoff = c->txlen = 0;
	return conn_update_events(w, c) < 0 ? -1 : 0;
}

static int conn_send_raw(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len)
{
	if (c->txoff) { /* compact before growing */
		memmove(c->tx, c->tx + c->txoff, c->txlen - c->txoff);
		c->txlen -= c->txoff;
		c->txoff = 0;
	}
	if (c->txlen + 2 + len > TCP_TX_MAX)
		return -1;
	uint8_t *t = realloc(c->tx, c->txlen + 2 + len);
	if (!t)
		return -1;
	c->tx = t;
	dns_put16(t + c->txlen, (uint16_t)len);
	memcpy(t + c->txlen + 2, msg, len);
	c->txlen += 2 + len;
	return conn_flush(w, c);
}

/* Queues one length-prefixed message. On failure the connection is marked
 * broken and -1 returned. */
static int conn_send(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len)
{
	if (c->broken || conn_send_raw(w, c, msg, len) < 0) {
		c->broken = true;
		return -1;
	}
	return 0;
}

static void forward_start(struct worker *w, const struct dns_query *q, struct udp_sock *us,
			  const struct sockaddr_storage *peer, socklen_t peerlen, const struct udp_local *local,
			  struct tcp_conn *conn);

/* Answers every complete message in the receive buffer. -1: close. */
static int conn_process(struct worker *w, struct tcp_conn *c)
{
	size_t off = 0;
	int rc = 0;
	while (c->rxlen - off >= 2) {
		size_t mlen = dns_get16(c->rx + off);
		if (c->rxlen - off - 2 < mlen)
			break;
		struct dns_query q;
		uint8_t out[DNS_ANSWER_BUF];
		size_t olen = 0;
		enum dns_verdict v = dns_answer(w->srv->store, &w->srv->acfg, c->rx + off + 2, mlen, true, &q,
						out, &olen);
		off += 2 + mlen;
		if (v == DNS_VERDICT_DROP) { /* not DNS: stop talking to it */
			rc = -1;
			break;
		}
		if (v == DNS_VERDICT_FORWARD)
			forward_start(w, &q, NULL, NULL, 0, NULL, c);
		else
			conn_send(w, c, out, olen);
		if (c->broken) {
			rc = -1;
			break;
		}
	}
	memmove(c->rx, c->rx + off, c->rxlen - off);
	c->rxlen -= off;
	return rc;
}

static void conn_readable(struct worker *w, struct tcp_conn *c, uint32_t events)
{
	if (events & EPOLLOUT && conn_flush(w, c) < 0)
		goto close;
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(c->fd, c->rx + c->rxlen, TCP_RX_BUF - c->rxlen, MSG_DONTWAIT);
		if (n == 0)
			goto close;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			goto close;
		}
		c->rxlen += (size_t)n;
		c->last_active_ms = now_ms();
		if (conn_process(w, c) < 0)
			goto close;
	}
close:
	conn_close(w, c);
}

static void tcp_accept(struct worker *w, struct listener *l)
{
	struct dns_server *srv = w->srv;
	for (;;) {
		int fd = accept4(l->tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("dns: accept on TCP listener: %m");
			return;
		}
		if (w->nconns >= srv->tcp_max_conns) {
			log_debug("dns: TCP connection limit (%u) reached, refusing one", srv->tcp_max_conns);
			close(fd);
			continue;
		}
		struct tcp_conn *c = calloc(1, sizeof(*c));
		uint8_t *rx = malloc(TCP_RX_BUF);
		if (!c || !rx) {
			free(c);
			free(rx);
			close(fd);
			continue;
		}
		c->ev.kind = EV_TCP_CONN;
		c->fd = fd;
		c->l = l;
		c->rx = rx;
		c->last_active_ms = now_ms();
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			log_warn("dns: epoll_ctl for a TCP connection: %m");
			free(c->rx);
			free(c);
			close(fd);
			continue;
		}
		c->next = w->conns;
		if (c->next)
			c->next->prev = c;
		w->conns = c;
		w->nconns++;
	}
}

/* ---- forwarding --------------------------------------------------------- */

static void pending_free(struct worker *w, struct pending *p)
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

/* One datagram to a UDP client, from the address it asked. */
static void udp_send_one(struct udp_sock *us, const struct sockaddr_storage *peer, socklen_t peerlen,
			 const struct udp_local *local, const uint8_t *msg, size_t len)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr m = { .msg_name = (void *)peer, .msg_namelen = peerlen, .msg_iov = &iov, .msg_iovlen = 1 };
	union udp_ctrl ctrl;
	local_to_msg(local, &m, &ctrl);
	if (sendmsg(us->fd, &m, MSG_DONTWAIT) < 0)
		log_debug("dns: sending an answer over UDP: %m");
}

/* Sends msg to the client that asked (if it is still there) and forgets the
 * query. A TCP connection whose send fails is only marked broken. */
static void pending_deliver(struct worker *w, struct pending *p, const uint8_t *msg, size_t len)
{
	if (p->conn)
		conn_send(w, p->conn, msg, len);
	else if (p->us)
		udp_send_one(p->us, &p->peer, p->peerlen, &p->local, msg, len);
	pending_free(w, p);
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
		if (pending_send(w, p) == 0)
			return;
	pending_fail(w, p);
}

static void forward_start(struct worker *w, const struct dns_query *q, struct udp_sock *us,
			  const struct sockaddr_storage *peer, socklen_t peerlen, const struct udp_local *local,
			  struct tcp_conn *conn)
{
	struct pending *p = w->npending < MAX_PENDING_PER_WORKER ? calloc(1, sizeof(*p)) : NULL;
	if (!p || !w->srv->nupstreams) {
		/* No upstream, or overloaded: an honest SERVFAIL, not silence. */
		uint8_t out[DNS_ANSWER_BUF];
		size_t len = dns_build_error(out, q, DNS_R_SERVFAIL);
		free(p);
		if (conn)
			conn_send(w, conn, out, len); /* the caller closes it if broken */
		else
			udp_send_one(us, peer, peerlen, local, out, len);
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
	p->start_ms = now_ms();
	p->next = w->pending;
	if (p->next)
		p->next->prev = p;
	w->pending = p;
	w->npending++;
	int err = pending_send(w, p);
	if (err)
		pending_next(w, p, err);
}

static void close_if_broken(struct worker *w, struct tcp_conn *c)
{
	if (c && c->broken)
		conn_close(w, c);
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
		dns_put16(q, (uint16_t)qlen);
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
		if (p->tcp_rxlen < 2 || p->tcp_rxlen < 2u + dns_get16(p->tcp_rx))
			continue;
		size_t len = dns_get16(p->tcp_rx);
		if (dns_response_check(p->tcp_rx + 2, len, p->id, &p->q) < 0)
			pending_next(w, p, -EBADMSG);
		else
			upstream_answer(w, p, p->tcp_rx + 2, len);
		return;
	}
}

static void upstream_event(struct worker *w, struct pending *p, uint32_t events)
{
	struct tcp_conn *conn = p->conn; /* p may be gone afterwards */
	if (p->tcp)
		upstream_tcp(w, p, events);
	else
		upstream_udp(w, p);
	close_if_broken(w, conn);
}

/* ---- UDP ---------------------------------------------------------------- */

static void udp_readable(struct worker *w, struct udp_sock *us)
{
	bool wildcard = us->l->wildcard;
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		w->in_iov[i] = (struct iovec){ .iov_base = w->rx[i], .iov_len = UDP_RX_BUF };
		w->in[i].msg_hdr = (struct msghdr){ .msg_name = &w->peers[i], .msg_namelen = sizeof(w->peers[i]),
						    .msg_iov = &w->in_iov[i], .msg_iovlen = 1 };
		if (wildcard) {
			w->in[i].msg_hdr.msg_control = w->ctrl_in[i].buf;
			w->in[i].msg_hdr.msg_controllen = sizeof(w->ctrl_in[i].buf);
		}
	}
	int n = recvmmsg(us->fd, w->in, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	unsigned nout = 0;
	for (int i = 0; i < n; i++) {
		if (w->in[i].msg_hdr.msg_flags & MSG_TRUNC)
			continue; /* larger than any query: not one */
		struct dns_query q;
		size_t olen = 0;
		enum dns_verdict v = dns_answer(w->srv->store, &w->srv->acfg, w->rx[i], w->in[i].msg_len, false, &q,
						w->tx[nout], &olen);
		struct udp_local local = { 0 };
		if (wildcard && v != DNS_VERDICT_DROP)
			local_from_msg(&w->in[i].msg_hdr, &local);
		if (v == DNS_VERDICT_FORWARD) {
			forward_start(w, &q, us, &w->peers[i], w->in[i].msg_hdr.msg_namelen, &local, NULL);
		} else if (v == DNS_VERDICT_REPLY) {
			w->out_iov[nout] = (struct iovec){ .iov_base = w->tx[nout], .iov_len = olen };
			w->out[nout].msg_hdr = (struct msghdr){ .msg_name = &w->peers[i],
								.msg_namelen = w->in[i].msg_hdr.msg_namelen,
								.msg_iov = &w->out_iov[nout], .msg_iovlen = 1 };
			local_to_msg(&local, &w->out[nout].msg_hdr, &w->ctrl_out[nout]);
			nout++;
		}
	}
	for (unsigned sent = 0; sent < nout;) {
		int m = sendmmsg(us->fd, w->out + sent, nout - sent, MSG_DONTWAIT);
		if (m < 0) {
			if (errno == EINTR)
				continue;
			/* A full send buffer or an unreachable client: UDP
			 * answers are best effort, the client retries. */
			log_debug("dns: sendmmsg: %m");
			sent++; /* skip the one that failed */
			continue;
		}
		sent += (unsigned)m;
	}
}

/* ---- the worker loop ---------------------------------------------------- */

/* After a listener was removed: drop what still answers through it. */
static void drop_dead(struct worker *w)
{
	for (struct pending *p = w->pending, *next; p; p = next) {
		next = p->next;
		if (p->us && atomic_load(&p->us->l->dead))
			pending_free(w, p);
	}
	for (struct tcp_conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (atomic_load(&c->l->dead))
			conn_close(w, c);
	}
}

static void expire(struct worker *w, int64_t now)
{
	for (struct pending *p = w->pending, *next; p; p = next) {
		next = p->next;
		if (now >= p->attempt_deadline_ms) {
			/* Only p can be freed here; a broken connection just
			 * orphans its other queries. */
			struct tcp_conn *conn = p->conn;
			pending_next(w, p, -ETIMEDOUT);
			close_if_broken(w, conn);
		}
	}
	for (struct tcp_conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (!c->inflight && now - c->last_active_ms >= w->srv->tcp_idle_ms)
			conn_close(w, c);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct dns_server *srv = w->srv;
	struct epoll_event evs[64];
	while (!atomic_load(&srv->stop)) {
		int timeout = w->npending ? 20 : w->nconns ? 250 : -1;
		int n = epoll_wait(w->epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("dns: worker %u: epoll_wait: %m", w->index);
			break;
		}
		for (int i = 0; i < n; i++) {
			struct ev *e = evs[i].data.ptr;
			switch (e->kind) {
			case EV_WAKE: {
				uint64_t v;
				if (read(w->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_warn("dns: worker %u: reading its wake-up: %m", w->index);
				break;
			}
			case EV_UDP:
				udp_readable(w, (struct udp_sock *)e);
				break;
			case EV_TCP_LISTEN:
				tcp_accept(w, (struct listener *)((char *)e - offsetof(struct listener, tcp_ev)));
				break;
			case EV_TCP_CONN:
				conn_readable(w, (struct tcp_conn *)e, evs[i].events);
				/* The connection may be gone: later events in this
				 * batch never name it (epoll reports an fd once). */
				break;
			case EV_UPSTREAM:
				upstream_event(w, (struct pending *)e, evs[i].events);
				break;
			}
		}
		if (w->npending || w->nconns)
			expire(w, now_ms());
		unsigned gen = atomic_load(&srv->gen);
		if (gen != w->seen_gen) {
			drop_dead(w);
			w->seen_gen = gen;
		}
		atomic_fetch_add(&w->loops, 1);
	}
	return NULL;
}

/* ---- listeners ---------------------------------------------------------- */

static int bound_socket(const struct ip_endpoint *ep, int type, bool reuseport)
{
	bool v6 = ep->addr.family == AF_INET6;
	/* Wildcard UDP sockets learn each datagram's local address. */
	bool pktinfo = type == SOCK_DGRAM && ip_addr_is_unspecified(&ep->addr);
	struct sockaddr_storage ss;
	socklen_t sl;
	ip_endpoint_to_sockaddr(ep, &ss, &sl);
	int fd = socket(ep->addr.family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, reuseport ? SO_REUSEPORT : SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    (pktinfo && setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVPKTINFO : IP_PKTINFO, &one,
				   sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void listener_close(struct listener *l)
{
	if (l->tcp_fd >= 0)
		close(l->tcp_fd);
	for (unsigned i = 0; i < l->nudp; i++)
		close(l->udp[i].fd);
	free(l);
}

/* Waits until every worker has run two full iterations since now. */
static void workers_quiesce(struct dns_server *srv)
{
	unsigned long start[MAX_WORKERS];
	for (unsigned i = 0; i < srv->nworkers; i++) {
		start[i] = atomic_load(&srv->workers[i]->loops);
		wake(srv->workers[i]);
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		while (atomic_load(&srv->workers[i]->loops) < start[i] + 2) {
			wake(srv->workers[i]);
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		}
	}
}

int dns_server_listen(struct dns_server *srv, const struct ip_endpoint *ep)
{
	char b[IP_ENDPOINT_STRLEN];
	if (!ep || ep->port == 0 || (ep->addr.family != AF_INET && ep->addr.family != AF_INET6))
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	int err = 0;
	for (struct listener *x = srv->listeners; x; x = x->next) {
		if (ip_addr_equal(&x->ep.addr, &ep->addr) && x->ep.port == ep->port) {
			err = -EEXIST;
			goto out;
		}
	}
	struct listener *l = calloc(1, sizeof(*l));
	if (!l) {
		err = -ENOMEM;
		goto out;
	}
	l->ep = *ep;
	l->wildcard = ip_addr_is_unspecified(&ep->addr);
	l->tcp_ev.kind = EV_TCP_LISTEN;
	/* TCP first and without SO_REUSEPORT: it fails with EADDRINUSE when
	 * another server holds the port, which the UDP sockets would not. */
	l->tcp_fd = bound_socket(ep, SOCK_STREAM, false);
	if (l->tcp_fd < 0) {
		err = l->tcp_fd;
		free(l);
		goto out;
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		int fd = bound_socket(ep, SOCK_DGRAM, true);
		if (fd < 0) {
			err = fd;
			listener_close(l);
			goto out;
		}
		l->udp[i] = (struct udp_sock){ .ev.kind = EV_UDP, .fd = fd, .l = l };
		l->nudp++;
	}
	unsigned added = 0;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &l->tcp_ev };
	if (epoll_ctl(srv->workers[0]->epfd, EPOLL_CTL_ADD, l->tcp_fd, &ev) < 0)
		err = -errno;
	for (; !err && added < l->nudp; added++) {
		ev.data.ptr = &l->udp[added];
		if (epoll_ctl(srv->workers[added]->epfd, EPOLL_CTL_ADD, l->udp[added].fd, &ev) < 0)
			err = -errno;
	}
	if (err) {
		/* Unwind: no worker may still hold an event for these sockets. */
		epoll_ctl(srv->workers[0]->epfd, EPOLL_CTL_DEL, l->tcp_fd, NULL);
		for (unsigned i = 0; i < added; i++)
			epoll_ctl(srv->workers[i]->epfd, EPOLL_CTL_DEL, l->udp[i].fd, NULL);
		atomic_store(&l->dead, true);
		atomic_fetch_add(&srv->gen, 1);
		workers_quiesce(srv);
		listener_close(l);
		goto out;
	}
	l->next = srv->listeners;
	srv->listeners = l;
	log_info("dns: listening on %s (UDP x%u, TCP)", ip_endpoint_format(ep, b, sizeof(b)), l->nudp);
out:
	pthread_mutex_unlock(&srv->lock);
	if (err && err != -EEXIST)
		log_warn("dns: cannot listen on %s: %s", ip_endpoint_format(ep, b, sizeof(b)), strerror(-err));
	return err;
}

int dns_server_unlisten(struct dns_server *srv, const struct ip_endpoint *ep)
{
	if (!ep)
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	struct listener **pp = &srv->listeners, *l = NULL;
	for (; *pp; pp = &(*pp)->next) {
		if (ip_addr_equal(&(*pp)->ep.addr, &ep->addr) && (*pp)->ep.port == ep->port) {
			l = *pp;
			*pp = l->next;
			break;
		}
	}
	if (l) {
		for (unsigned i = 0; i < l->nudp; i++)
			epoll_ctl(srv->workers[i]->epfd, EPOLL_CTL_DEL, l->udp[i].fd, NULL);
		epoll_ctl(srv->workers[0]->epfd, EPOLL_CTL_DEL, l->tcp_fd, NULL);
		atomic_store(&l->dead, true);
		atomic_fetch_add(&srv->gen, 1);
		workers_quiesce(srv);
		listener_close(l);
	}
	pthread_mutex_unlock(&srv->lock);
	if (!l)
		return -ENOENT;
	char b[IP_ENDPOINT_STRLEN];
	log_info("dns: stopped listening on %s", ip_endpoint_format(ep, b, sizeof(b)));
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void worker_free(struct worker *w)
{
	while (w->conns)
		conn_close(w, w->conns);
	while (w->pending)
		pending_free(w, w->pending);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wakefd >= 0)
		close(w->wakefd);
	free(w);
}

static struct worker *worker_new(struct dns_server *srv, unsigned index)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->srv = srv;
	w->index = index;
	w->wake_ev.kind = EV_WAKE;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &w->wake_ev };
	if (w->epfd < 0 || w->wakefd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) < 0) {
		int err = errno;
		worker_free(w);
		errno = err;
		return NULL;
	}
	return w;
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

static int load_upstreams(struct dns_server *srv, const struct dns_config *cfg)
{
	if (!cfg->forward)
		return 0;
	if (cfg->n_upstreams) {
		for (size_t i = 0; i < cfg->n_upstreams && i < DNS_MAX_UPSTREAMS; i++) {
			if (cfg->upstreams[i].port == 0 || ip_addr_is_unspecified(&cfg->upstreams[i].addr)) {
				char e[IP_ENDPOINT_STRLEN];
				log_error("dns: upstream %s needs an address and a port",
					  ip_endpoint_format(&cfg->upstreams[i], e, sizeof(e)));
				return -EINVAL;
			}
			srv->upstreams[srv->nupstreams++] = cfg->upstreams[i];
		}
		return 0;
	}
	const char *path = cfg->resolv_conf ? cfg->resolv_conf : "/etc/resolv.conf";
	int n = dns_resolv_conf_read(path, srv->upstreams, DNS_MAX_UPSTREAMS);
	if (n < 0) {
		/* Not fatal: outside names then get SERVFAIL, and the zone works. */
		log_warn("dns: cannot read %s (%s): names outside the zone will fail", path, strerror(-n));
		return 0;
	}
	if (n == 0)
		log_warn("dns: %s lists no usable (non-loopback) nameserver: names outside the zone will fail",
			 path);
	srv->nupstreams = (unsigned)n;
	return 0;
}

struct dns_server *dns_server_create(const struct dns_config *cfg)
{
	static const struct dns_config defaults = { .forward = true };
	if (!cfg)
		cfg = &defaults;
	if (cfg->threads > MAX_WORKERS) {
		log_error("dns: %u serving threads requested, at most %u", cfg->threads, MAX_WORKERS);
		errno = EINVAL;
		return NULL;
	}
	struct dns_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	int err = pthread_mutex_init(&srv->lock, NULL);
	if (err) {
		free(srv);
		errno = err;
		return NULL;
	}
	srv->acfg.ttl = cfg->ttl ? cfg->ttl : DNS_DEFAULT_TTL;
	srv->acfg.negative_ttl = cfg->negative_ttl ? cfg->negative_ttl : DNS_DEFAULT_NEGATIVE_TTL;
	srv->acfg.forward = cfg->forward;
	srv->forward_timeout_ms = cfg->forward_timeout_ms ? cfg->forward_timeout_ms : DNS_DEFAULT_FORWARD_TIMEOUT_MS;
	srv->tcp_max_conns = cfg->tcp_max_conns ? cfg->tcp_max_conns : 256;
	srv->tcp_idle_ms = cfg->tcp_idle_ms ? cfg->tcp_idle_ms : 10000;
	srv->nworkers = cfg->threads ? cfg->threads : default_threads();
	/* The serial starts at the wall clock so it grows across restarts. */
	const char *zone = cfg->zone ? cfg->zone : DNS_DEFAULT_ZONE;
	srv->store = dns_store_new(zone, (uint32_t)time(NULL));
	if (!srv->store) {
		err = errno;
		if (err == EINVAL)
			log_error("dns: invalid zone '%s': want a domain name such as \"zlayer.local\"", zone);
		goto fail;
	}
	err = -load_upstreams(srv, cfg);
	if (err)
		goto fail;
	for (unsigned i = 0; i < srv->nworkers; i++) {
		srv->workers[i] = worker_new(srv, i);
		if (!srv->workers[i]) {
			err = errno;
			goto fail;
		}
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		err = pthread_create(&srv->workers[i]->thread, NULL, worker_main, srv->workers[i]);
		if (err)
			goto fail;
		srv->workers[i]->started = true;
	}
	return srv;
fail:
	dns_server_destroy(srv);
	errno = err;
	return NULL;
}

void dns_server_destroy(struct dns_server *srv)
{
	if (!srv)
		return;
	atomic_store(&srv->stop, true);
	for (unsigned i = 0; i < srv->nworkers; i++) {
		if (srv->workers[i] && srv->workers[i]->started) {
			wake(srv->workers[i]);
			pthread_join(srv->workers[i]->thread, NULL);
		}
	}
	/* Threads are gone: everything below is single-threaded. */
	for (unsigned i = 0; i < srv->nworkers; i++)
		if (srv->workers[i])
			worker_free(srv->workers[i]);
	while (srv->listeners) {
		struct listener *l = srv->listeners;
		srv->listeners = l->next;
		listener_close(l);
	}
	dns_store_free(srv->store);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

int dns_server_set_zone(struct dns_server *srv, const char *zone)
{
	return dns_store_set_zone(srv->store, zone);
}

int dns_record_set(struct dns_server *srv, const char *name, const struct ip_addr *addr)
{
	return dns_store_set(srv->store, name, addr);
}

int dns_record_remove(struct dns_server *srv, const char *name)
{
	return dns_store_remove(srv->store, name);
}

int dns_record_list(struct dns_server *srv, struct dns_record **out, size_t *count)
{
	return dns_store_list(srv->store, out, count);
}
