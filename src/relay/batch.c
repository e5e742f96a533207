// SPDX-License-Identifier: MIT
/* The relay's batched socket I/O: GRO in, GSO out (batch.h). */
#include "relay/batch.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define GSO_MAX_BYTES 60000 /* a GSO send's payload, under the 64 KiB of one UDP datagram */
#define SEND_WAITS 5	    /* a full socket buffer: wait for room this many times (10 ms each; others wait too) */

int relay_rxb_init(struct relay_rxb *b)
{
	memset(b, 0, sizeof(*b));
	b->bufs = malloc((size_t)RELAY_RX_BATCH * RELAY_RX_BUF);
	return b->bufs ? 0 : -ENOMEM;
}

void relay_rxb_free(struct relay_rxb *b)
{
	free(b->bufs);
	b->bufs = NULL;
}

void relay_rxb_socket(int fd)
{
	int on = 1;
	/* Both optional: without GRO each datagram is a buffer; without the counter, no congestion signal. */
	(void)setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof(on));
	(void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof(on));
}

/* The GRO segment size of buffer i (0 when not coalesced), and the drop count if given. */
static size_t rx_control(struct msghdr *h, uint32_t *drops, bool *has_drops)
{
	size_t seg = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
			int v;
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			seg = v > 0 ? (size_t)v : 0;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
			memcpy(drops, CMSG_DATA(c), sizeof(*drops));
			*has_drops = true;
		}
	}
	return seg;
}

int relay_rxb_read(struct relay_rxb *b, int fd, uint32_t *drops_seen, bool *dropped)
{
	*dropped = false;
	for (size_t i = 0; i < RELAY_RX_BATCH; i++) {
		b->iov[i] = (struct iovec){ .iov_base = relay_rxb_buf(b, (int)i), .iov_len = RELAY_RX_BUF };
		b->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &b->from[i], .msg_namelen = sizeof(b->from[i]),
						      .msg_iov = &b->iov[i], .msg_iovlen = 1,
						      .msg_control = b->control[i].buf,
						      .msg_controllen = sizeof(b->control[i].buf) };
	}
	int n = recvmmsg(fd, b->msgs, RELAY_RX_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++) {
		uint32_t drops = 0;
		bool has_drops = false;
		size_t seg = rx_control(&b->msgs[i].msg_hdr, &drops, &has_drops);
		size_t len = b->msgs[i].msg_len;
		b->segment[i] = (uint16_t)(seg && seg < len ? seg : len);
		if (has_drops && drops != *drops_seen) {
			*dropped = true;
			*drops_seen = drops;
		}
	}
	return n;
}

int relay_txq_init(struct relay_txq *q)
{
	memset(q, 0, sizeof(*q));
	q->scratch = malloc((size_t)RELAY_TXQ * RELAY_TX_SCRATCH);
	return q->scratch ? 0 : -ENOMEM;
}

void relay_txq_free(struct relay_txq *q)
{
	free(q->scratch);
	q->scratch = NULL;
}

bool relay_txq_full(const struct relay_txq *q)
{
	return q->n == RELAY_TXQ;
}

void relay_txq_add(struct relay_txq *q, const struct relay_tx *tx)
{
	size_t i = q->n++;
	q->fds[i] = tx->fd;
	q->dest[i] = tx->to;
	q->iov[i][0] = (struct iovec){ .iov_base = (void *)tx->head, .iov_len = tx->head_len };
	q->iov[i][1] = (struct iovec){ .iov_base = (void *)tx->body, .iov_len = tx->body_len };
}

static size_t entry_len(const struct relay_txq *q, size_t i)
{
	return q->iov[i][0].iov_len + q->iov[i][1].iov_len;
}

/* May entry j join the run [first, j) as one more GSO segment of size seg? */
static bool joins_run(const struct relay_txq *q, size_t first, size_t j, size_t seg, size_t total)
{
	return j - first < RELAY_GSO_SEGMENTS && q->fds[j] == q->fds[first] && entry_len(q, j - 1) == seg &&
	       entry_len(q, j) <= seg && entry_len(q, j) > 0 && total + entry_len(q, j) <= GSO_MAX_BYTES &&
	       q->dest[j].port == q->dest[first].port && ip_addr_equal(&q->dest[j].addr, &q->dest[first].addr);
}

/* Groups the queue into runs, one message each (GSO when a run has several datagrams). Returns their number. */
static size_t build_runs(struct relay_txq *q)
{
	size_t runs = 0;
	for (size_t i = 0; i < q->n;) {
		size_t seg = entry_len(q, i), total = seg, j = i + 1;
		socklen_t sl;
		while (j < q->n && joins_run(q, i, j, seg, total))
			total += entry_len(q, j++);
		ip_endpoint_to_sockaddr(&q->dest[i], &q->to[i], &sl);
		struct msghdr *h = &q->out[runs].msg_hdr;
		*h = (struct msghdr){ .msg_name = &q->to[i], .msg_namelen = sl, .msg_iov = q->iov[i],
				      .msg_iovlen = 2 * (j - i) };
		if (j - i > 1) {
			struct cmsghdr *c = (struct cmsghdr *)q->ctl[runs].buf;
			uint16_t gso = (uint16_t)seg;
			c->cmsg_level = IPPROTO_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(gso));
			memcpy(CMSG_DATA(c), &gso, sizeof(gso));
			h->msg_control = q->ctl[runs].buf;
			h->msg_controllen = CMSG_SPACE(sizeof(gso));
		}
		q->run_first[runs] = i;
		q->run_len[runs] = j - i;
		runs++;
		i = j;
	}
	return runs;
}

/* A run the kernel would not segment (no GSO on that route): its datagrams one by one. */
static void send_unsegmented(struct relay_txq *q, size_t run)
{
	struct msghdr h = q->out[run].msg_hdr;
	for (size_t k = 0; k < q->run_len[run]; k++) {
		h.msg_iov = q->iov[q->run_first[run] + k];
		h.msg_iovlen = 2;
		h.msg_control = NULL;
		h.msg_controllen = 0;
		(void)sendmsg(q->fds[q->run_first[run]], &h, MSG_DONTWAIT);
	}
}

void relay_txq_flush(struct relay_txq *q)
{
	size_t runs = build_runs(q), start = 0;
	unsigned waits = 0;

	while (start < runs) {
		int fd = q->fds[q->run_first[start]];
		size_t end = start + 1;
		while (end < runs && q->fds[q->run_first[end]] == fd)
			end++;
		int sent = sendmmsg(fd, q->out + start, (unsigned)(end - start), 0);
		if (sent >= 0) {
			start += (size_t)sent;
			continue;
		}
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == ENOBUFS) && waits++ < SEND_WAITS) {
			/* The socket buffer is full: wait for room rather than drop a burst (TCP inside suffers). */
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, 10) > 0)
				continue;
		}
		if (q->run_len[start] > 1 && (errno == EIO || errno == EINVAL))
			send_unsegmented(q, start);
		start++; /* the run the error is about is lost (ECONNREFUSED from an ICMP, ...) */
	}
	q->n = 0;
}
