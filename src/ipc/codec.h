/* SPDX-License-Identifier: MIT */
/*
 * Protocol JSON <-> typed requests, responses and events (protocol.md).
 *
 * Decoding validates every field (types, IPs, CIDRs, endpoints, keys, enum
 * tags) so the engine only ever sees well-formed requests. Optional fields
 * accept null; unknown keys are ignored. Encoding omits absent optional fields.
 */
#ifndef OVL_IPC_CODEC_H
#define OVL_IPC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "proto/request.h"

enum codec_result {
	CODEC_OK,	   /* *req filled */
	CODEC_BAD_REQUEST, /* id readable: answer err for *id, keep the connection */
	CODEC_BAD_FRAME,   /* not a readable frame: answer err with id 0, then close */
};

/* Decodes one frame body. err receives the user-facing reason on failure. */
enum codec_result codec_decode_request(const char *body, size_t len, uint64_t *id, struct ovl_request *req,
				       char *err, size_t errlen);

/*
 * Encoders return a malloc'd, NUL-terminated JSON text (no length prefix),
 * its length in *len; NULL only when out of memory.
 */
char *codec_encode_response(uint64_t id, const struct ovl_response *resp, size_t *len);
char *codec_encode_error(uint64_t id, const char *message, size_t *len);
char *codec_encode_event(const struct ovl_event *ev, size_t *len);

#endif
