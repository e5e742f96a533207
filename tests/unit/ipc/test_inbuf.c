// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ipc/inbuf.h"
#include "proto/frame.h"

static void feed(struct ipc_inbuf *b, const void *p, size_t n)
{
	size_t avail;
	uint8_t *space = ipc_inbuf_space(b, n, &avail);
	assert_non_null(space);
	assert_true(avail >= n);
	memcpy(space, p, n);
	ipc_inbuf_commit(b, n);
}

static void frames_reassemble_from_single_bytes(void **state)
{
	uint8_t stream[4 + 3 + 4 + 0 + 4 + 2];
	le32_put(stream, 3);
	memcpy(stream + 4, "abc", 3);
	le32_put(stream + 7, 0);
	le32_put(stream + 11, 2);
	memcpy(stream + 15, "xy", 2);
	struct ipc_inbuf b = { 0 };
	const char *want[] = { "abc", "", "xy" };
	size_t got = 0;
	for (size_t i = 0; i < sizeof(stream); i++) {
		feed(&b, stream + i, 1);
		const uint8_t *body;
		uint32_t n;
		enum ipc_inbuf_result r;
		while ((r = ipc_inbuf_next(&b, &body, &n)) == IPC_INBUF_FRAME) {
			assert_true(got < 3);
			assert_int_equal(n, strlen(want[got]));
			assert_memory_equal(body, want[got], n);
			got++;
		}
		assert_int_equal(r, IPC_INBUF_MORE);
		ipc_inbuf_compact(&b, 4);
	}
	assert_int_equal(got, 3);
	assert_int_equal(ipc_inbuf_pending(&b), 0);
	assert_null(b.buf); /* an empty buffer past shrink_above is released */
	ipc_inbuf_free(&b);
}

static void oversize_length_is_reported_before_the_body(void **state)
{
	uint8_t hdr[4];
	le32_put(hdr, PROTO_MAX_FRAME + 1);
	struct ipc_inbuf b = { 0 };
	feed(&b, hdr, 3);
	const uint8_t *body;
	uint32_t n;
	assert_int_equal(ipc_inbuf_next(&b, &body, &n), IPC_INBUF_MORE);
	feed(&b, hdr + 3, 1);
	assert_int_equal(ipc_inbuf_next(&b, &body, &n), IPC_INBUF_OVERSIZE);
	assert_int_equal(n, PROTO_MAX_FRAME + 1);
	le32_put(hdr, PROTO_MAX_FRAME); /* exactly the limit is a frame still to come */
	ipc_inbuf_free(&b);
	feed(&b, hdr, 4);
	assert_int_equal(ipc_inbuf_next(&b, &body, &n), IPC_INBUF_MORE);
	ipc_inbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames_reassemble_from_single_bytes),
		cmocka_unit_test(oversize_length_is_reported_before_the_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
