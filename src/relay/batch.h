/* SPDX-License-Identifier: MIT */
/*
 * The relay's batched socket I/O. Receiving: up to RELAY_RX_BATCH buffers
 * per recvmmsg, each possibly several datagrams of one flow coalesced by
 * UDP GRO, with the socket's drop count (SO_RXQ_OVFL). Sending: a queue of
 * datagrams described by iovecs (a header in the queue's scratch, a body
 * in the buffer it was received in: nothing copied), flushed with
 * sendmmsg, where a run of datagrams from one socket to one destination
 * and of one size (the last may be shorter) goes as a single UDP GSO send.
 * The buffers are made once, with the relay.
 */
#ifndef OVL_RELAY_BATCH_H
#define OVL_RELAY_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "relay/server.h"

#define RELAY_RX_BATCH 16
#define RELAY_RX_BUF 65536 /* a GRO-coalesced buffer */
#define RELAY_TXQ 256
#define RELAY_GSO_SEGMENTS 64 /* the kernel's UDP_MAX_SEGMENTS */

union relay_cmsg {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(int))];
};

struct relay_rxb {
	struct mmsghdr msgs[RELAY_RX_BATCH];
	struct iovec iov[RELAY_RX_BATCH];
	struct sockaddr_storage from[RELAY_RX_BATCH];
	union relay_cmsg control[RELAY_RX_BATCH];
	uint16_t segment[RELAY_RX_BATCH]; /* GRO segment size; the whole length when not coalesced */
	uint8_t *bufs;			  /* RELAY_RX_BATCH * RELAY_RX_BUF */
};

struct relay_txq {
	size_t n;
	int fds[RELAY_TXQ];
	struct ip_endpoint dest[RELAY_TXQ];
	struct sockaddr_storage to[RELAY_TXQ];
	struct iovec iov[RELAY_TXQ][2]; /* always two (head, body), so a run's iovecs are contiguous */
	struct mmsghdr out[RELAY_TXQ];	/* one per run */
	size_t run_first[RELAY_TXQ], run_len[RELAY_TXQ];
	union relay_cmsg ctl[RELAY_TXQ];
	uint8_t *scratch; /* RELAY_TXQ * RELAY_TX_SCRATCH */
};

int relay_rxb_init(struct relay_rxb *b);
void relay_rxb_free(struct relay_rxb *b);
/* Sets a socket up for it: UDP GRO and the drop counter. */
void relay_rxb_socket(int fd);
/*
 * Reads a batch from fd: the number of buffers (0 when none). *dropped is
 * set when the kernel dropped datagrams since *drops_seen was updated.
 */
int relay_rxb_read(struct relay_rxb *b, int fd, uint32_t *drops_seen, bool *dropped);
static inline uint8_t *relay_rxb_buf(const struct relay_rxb *b, int i)
{
	return b->bufs + (size_t)i * RELAY_RX_BUF;
}

int relay_txq_init(struct relay_txq *q);
void relay_txq_free(struct relay_txq *q);
/* The scratch of the next entry (where an answer or a header is written). */
static inline uint8_t *relay_txq_scratch(struct relay_txq *q)
{
	return q->scratch + q->n * RELAY_TX_SCRATCH;
}
/* Queues tx: the caller flushes a full queue before it writes the next entry's scratch. */
void relay_txq_add(struct relay_txq *q, const struct relay_tx *tx);
bool relay_txq_full(const struct relay_txq *q);
/* Sends everything queued. UDP: what the kernel refuses is lost. */
void relay_txq_flush(struct relay_txq *q);

#endif
