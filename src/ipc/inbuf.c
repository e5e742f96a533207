// SPDX-License-Identifier: MIT
#include "ipc/inbuf.h"

#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"

uint8_t *ipc_inbuf_space(struct ipc_inbuf *b, size_t min, size_t *avail)
{
	if (b->cap - b->len < min) {
		size_t cap = b->cap ? b->cap : 2 * min;
		while (cap - b->len < min)
			cap *= 2;
		uint8_t *n = realloc(b->buf, cap);
		if (!n)
			return NULL;
		b->buf = n;
		b->cap = cap;
	}
	*avail = b->cap - b->len;
	return b->buf + b->len;
}

void ipc_inbuf_commit(struct ipc_inbuf *b, size_t n)
{
	b->len += n;
}

size_t ipc_inbuf_pending(const struct ipc_inbuf *b)
{
	return b->len - b->off;
}

enum ipc_inbuf_result ipc_inbuf_next(struct ipc_inbuf *b, const uint8_t **body, uint32_t *len)
{
	if (ipc_inbuf_pending(b) < PROTO_FRAME_HEADER)
		return IPC_INBUF_MORE;
	const uint8_t *p = b->buf + b->off;
	uint32_t n = le32_get(p);
	*len = n;
	if (n > PROTO_MAX_FRAME)
		return IPC_INBUF_OVERSIZE;
	if (ipc_inbuf_pending(b) - PROTO_FRAME_HEADER < n)
		return IPC_INBUF_MORE;
	*body = p + PROTO_FRAME_HEADER;
	b->off += PROTO_FRAME_HEADER + (size_t)n;
	return IPC_INBUF_FRAME;
}

void ipc_inbuf_compact(struct ipc_inbuf *b, size_t shrink_above)
{
	if (b->off) {
		memmove(b->buf, b->buf + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len == 0 && b->cap > shrink_above) {
		free(b->buf);
		b->buf = NULL;
		b->cap = 0;
	}
}

void ipc_inbuf_free(struct ipc_inbuf *b)
{
	free(b->buf);
	*b = (struct ipc_inbuf){ 0 };
}
