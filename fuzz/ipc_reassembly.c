// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the control socket's length-prefix reassembly
 * (ipc/inbuf.c): the input's first two bytes seed how the rest, a byte
 * stream as a client would send it, is split into reads; the frames
 * reassembled from those pieces must be exactly the frames of the whole
 * stream walked in one go, and an oversized length must stop both at the
 * same place. The buffer shrinks after every read, as an idle one does.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/inbuf.h"
#include "proto/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference: where the next frame of the whole stream starts, or why there is none. */
static enum ipc_inbuf_result walk(const uint8_t *s, size_t len, size_t *pos, size_t *body, uint32_t *blen)
{
	if (len - *pos < PROTO_FRAME_HEADER)
		return IPC_INBUF_MORE;
	uint32_t n = le32_get(s + *pos);
	*blen = n;
	if (n > PROTO_MAX_FRAME)
		return IPC_INBUF_OVERSIZE;
	if (len - *pos - PROTO_FRAME_HEADER < n)
		return IPC_INBUF_MORE;
	*body = *pos + PROTO_FRAME_HEADER;
	*pos += PROTO_FRAME_HEADER + (size_t)n;
	return IPC_INBUF_FRAME;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint32_t seed = (uint32_t)data[0] | (uint32_t)data[1] << 8;
	size_t max_piece = 1 + seed % 97;
	const uint8_t *stream = data + 2;
	size_t len = size - 2, fed = 0, ref_pos = 0;
	struct ipc_inbuf b = { 0 };
	bool stopped = false;
	while (fed < len && !stopped) {
		seed = seed * 1103515245u + 12345u;
		size_t piece = 1 + (seed >> 16) % max_piece;
		if (piece > len - fed)
			piece = len - fed;
		size_t avail;
		uint8_t *space = ipc_inbuf_space(&b, piece, &avail);
		if (!space || avail < piece)
			abort();
		memcpy(space, stream + fed, piece);
		ipc_inbuf_commit(&b, piece);
		fed += piece;
		for (;;) {
			const uint8_t *body;
			uint32_t n, ref_n = 0;
			size_t ref_body = 0;
			enum ipc_inbuf_result r = ipc_inbuf_next(&b, &body, &n);
			/* The reference sees only what has been fed so far. */
			enum ipc_inbuf_result want = walk(stream, fed, &ref_pos, &ref_body, &ref_n);
			if (r != want)
				abort();
			if (r == IPC_INBUF_MORE)
				break;
			if (n != ref_n)
				abort();
			if (r == IPC_INBUF_OVERSIZE) {
				stopped = true; /* the server closes the connection here */
				break;
			}
			if (memcmp(body, stream + ref_body, n) != 0)
				abort();
		}
		if (ipc_inbuf_pending(&b) != fed - ref_pos && !stopped)
			abort();
		ipc_inbuf_compact(&b, 64);
	}
	ipc_inbuf_free(&b);
	return 0;
}
