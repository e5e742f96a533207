// SPDX-License-Identifier: MIT
/* The TCP transport (RFC 7766): length-prefixed messages, several queries
 * per connection answered as they complete, idle timeouts and a connection
 * limit (enforced by the worker loop and dns_tcp_accept). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/worker.h"
#include "util/log.h"

void dns_tcp_close(struct worker *w, struct tcp_conn *c)
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
	be16_put(t + c->txlen, (uint16_t)len);
	memcpy(t + c->txlen + 2, msg, len);
	c->txlen += 2 + len;
	return conn_flush(w, c);
}

/* Queues one length-prefixed message. On failure the connection is marked
 * broken and -1 returned. */
int dns_tcp_send(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len)
{
	if (c->broken || conn_send_raw(w, c, msg, len) < 0) {
		c->broken = true;
		return -1;
	}
	return 0;
}

/* Answers every complete message in the receive buffer. -1: close. */
static int conn_process(struct worker *w, struct tcp_conn *c)
{
	size_t off = 0;
	int rc = 0;
	while (c->rxlen - off >= 2) {
		size_t mlen = be16_get(c->rx + off);
		if (c->rxlen - off - 2 < mlen)
			break;
		struct dns_query q;
		uint8_t out[DNS_ANSWER_BUF];
		size_t olen = 0;
		uint64_t start_ns = mx_now_ns();
		enum dns_verdict v = dns_answer(w->srv->store, &w->srv->acfg, c->rx + off + 2, mlen, true, &q,
						out, &olen);
		off += 2 + mlen;
		if (v == DNS_VERDICT_DROP) { /* not DNS: stop talking to it */
			rc = -1;
			break;
		}
		if (v == DNS_VERDICT_FORWARD) {
			dns_fwd_start(w, &q, start_ns, NULL, NULL, 0, NULL, c);
		} else {
			dns_count_reply(w, out, olen, mx_now_ns() - start_ns);
			dns_tcp_send(w, c, out, olen);
		}
		if (c->broken) {
			rc = -1;
			break;
		}
	}
	memmove(c->rx, c->rx + off, c->rxlen - off);
	c->rxlen -= off;
	return rc;
}

void dns_tcp_readable(struct worker *w, struct tcp_conn *c, uint32_t events)
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
		c->last_active_ms = dns_now_ms();
		if (conn_process(w, c) < 0)
			goto close;
	}
close:
	dns_tcp_close(w, c);
}

void dns_tcp_accept(struct worker *w, struct listener *l)
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
		c->last_active_ms = dns_now_ms();
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

void dns_tcp_close_if_broken(struct worker *w, struct tcp_conn *c)
{
	if (c && c->broken)
		dns_tcp_close(w, c);
}
