/* SPDX-License-Identifier: MIT */
/*
 * A connection's input buffer: length-prefix reassembly of frames (u32 LE
 * length + body, proto/frame.h) from whatever pieces the socket delivers.
 * Loop thread only; no I/O of its own, so fuzz/ipc_reassembly.c drives it
 * with arbitrary splits of a byte stream.
 */
#ifndef OVL_IPC_INBUF_H
#define OVL_IPC_INBUF_H

#include <stddef.h>
#include <stdint.h>

struct ipc_inbuf {
	uint8_t *buf;
	size_t off; /* start of the bytes not yet handed out as frames */
	size_t len; /* end of the bytes received */
	size_t cap;
};

enum ipc_inbuf_result {
	IPC_INBUF_FRAME,    /* the next frame's body and length, valid until the next call */
	IPC_INBUF_MORE,	    /* no complete frame buffered */
	IPC_INBUF_OVERSIZE, /* the next length prefix exceeds PROTO_MAX_FRAME; *len holds it */
};

/* Where the next recv() may write at least min bytes (*avail of them). NULL when out of memory. */
uint8_t *ipc_inbuf_space(struct ipc_inbuf *b, size_t min, size_t *avail);
/* Records n bytes written at ipc_inbuf_space(). */
void ipc_inbuf_commit(struct ipc_inbuf *b, size_t n);
/* Bytes received and not yet handed out. */
size_t ipc_inbuf_pending(const struct ipc_inbuf *b);
/* Hands out the next complete frame, if any. */
enum ipc_inbuf_result ipc_inbuf_next(struct ipc_inbuf *b, const uint8_t **body, uint32_t *len);
/*
 * Moves the pending bytes to the front; frees a buffer that grew past
 * shrink_above for one large frame once it is empty. Invalidates bodies.
 */
void ipc_inbuf_compact(struct ipc_inbuf *b, size_t shrink_above);
void ipc_inbuf_free(struct ipc_inbuf *b);

#endif
