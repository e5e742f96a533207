// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the control protocol decoder: any byte string as a
 * frame body. Valid requests are re-encoded through the response path so the
 * encoder sees decoder-produced values too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ipc/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t id;
	struct ovl_request req;
	char err[512];
	size_t n;
	enum codec_result r = codec_decode_request((const char *)data, size, &id, &req, err, sizeof(err));
	if (r == CODEC_OK) {
		struct ovl_response resp;
		ovl_response_err(&resp, "%s", ovl_op_name(req.op));
		free(codec_encode_response(id, &resp, &n));
		ovl_response_free(&resp);
		ovl_request_free(&req);
	} else {
		free(codec_encode_error(id, err, &n));
	}
	return 0;
}
