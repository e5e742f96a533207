/* SPDX-License-Identifier: MIT */
/*
 * Decoding large frames off the event loop. Parsing a frame costs time in
 * proportion to its size (up to ~0.1 s for 8 MiB within the limits of
 * ipc/bounds.h), and the loop serves every client, so frames above
 * IPC_DECODE_INLINE_MAX are decoded on one decoder thread while the loop
 * goes on with other connections. Results come back on the loop thread in
 * submission order.
 */
#ifndef OVL_IPC_DECODER_H
#define OVL_IPC_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/codec.h"
#include "util/evloop.h"

/* Frames up to this size are decoded inline: about a millisecond's work. */
#define IPC_DECODE_INLINE_MAX (64u * 1024u)

struct ipc_decoder;

struct ipc_decode_job {
	uint64_t conn_id;
	char *body;
	size_t len;
	/* codec_decode_request()'s results; req is owned by the job until taken. */
	enum codec_result result;
	uint64_t id;
	struct ovl_request req;
	char err[512];
	struct ipc_decode_job *next;
};

/* Loop thread: a decoded job. The callee owns it and frees it with ipc_decode_job_free(). */
typedef void (*ipc_decoded_fn)(struct ipc_decode_job *job, void *arg);

/* Starts the decoder thread. NULL with errno set on failure. */
struct ipc_decoder *ipc_decoder_new(struct evloop *loop, ipc_decoded_fn fn, void *arg);
/* Loop thread: queues a copy of body for decoding. 0 or -ENOMEM. */
int ipc_decoder_submit(struct ipc_decoder *d, uint64_t conn_id, const void *body, size_t len);
/* Frees the job; its request too when result is CODEC_OK and request_taken is false. */
void ipc_decode_job_free(struct ipc_decode_job *job, bool request_taken);
/*
 * Stops and joins the thread, dropping jobs not yet delivered. A delivery
 * already posted to the loop must not run afterwards: free the loop next,
 * as overlayd does, without running what it has posted.
 */
void ipc_decoder_free(struct ipc_decoder *d);

#endif
