// SPDX-License-Identifier: MIT
/*
 * The demultiplexing of a device's UDP port (socket.h): WireGuard, STUN or
 * neither, from the first bytes and the size alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "wg/messages.h"
#include "wg/socket.h"
#include "wg/wg.h"

/* A STUN Binding Request of len bytes: header plus len - 20 of attributes. */
static void stun_message(uint8_t *buf, size_t len)
{
	memset(buf, 0xee, len);
	buf[0] = 0x00;
	buf[1] = 0x01;
	buf[2] = (uint8_t)((len - 20) >> 8);
	buf[3] = (uint8_t)(len - 20);
	buf[4] = 0x21;
	buf[5] = 0x12;
	buf[6] = 0xa4;
	buf[7] = 0x42;
}

static void wireguard_by_type_and_size(void **state)
{
	uint8_t buf[256] = { 0 };
	const struct {
		uint8_t type;
		size_t len;
	} ok[] = { { 1, WG_MSG_INITIATION_LEN }, { 2, WG_MSG_RESPONSE_LEN }, { 3, WG_MSG_COOKIE_LEN },
		   { 4, WG_MSG_DATA_MIN_LEN }, { 4, 200 } };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		memset(buf, 0xab, sizeof(buf));
		buf[0] = ok[i].type;
		buf[1] = buf[2] = buf[3] = 0;
		assert_int_equal(wg_datagram_classify(buf, ok[i].len), WG_DGRAM_WIREGUARD);
		/* A reserved byte set: not WireGuard. */
		buf[2] = 1;
		assert_int_equal(wg_datagram_classify(buf, ok[i].len), WG_DGRAM_OTHER);
	}
	buf[1] = buf[2] = buf[3] = 0;
	/* The size must fit the type. */
	buf[0] = 1;
	assert_int_equal(wg_datagram_classify(buf, WG_MSG_INITIATION_LEN - 1), WG_DGRAM_OTHER);
	assert_int_equal(wg_datagram_classify(buf, WG_MSG_INITIATION_LEN + 1), WG_DGRAM_OTHER);
	buf[0] = 2;
	assert_int_equal(wg_datagram_classify(buf, WG_MSG_INITIATION_LEN), WG_DGRAM_OTHER);
	buf[0] = 3;
	assert_int_equal(wg_datagram_classify(buf, WG_MSG_COOKIE_LEN + 4), WG_DGRAM_OTHER);
	buf[0] = 4;
	assert_int_equal(wg_datagram_classify(buf, WG_MSG_DATA_MIN_LEN - 1), WG_DGRAM_OTHER);
	/* Types 0 and 5..255 are nothing. */
	buf[0] = 0;
	assert_int_equal(wg_datagram_classify(buf, 32), WG_DGRAM_OTHER);
	buf[0] = 5;
	assert_int_equal(wg_datagram_classify(buf, 32), WG_DGRAM_OTHER);
}

static void stun_by_header(void **state)
{
	uint8_t buf[128];
	stun_message(buf, 20);
	assert_int_equal(wg_datagram_classify(buf, 20), WG_DGRAM_STUN);
	assert_true(wg_is_stun(buf, 20));
	stun_message(buf, 48);
	assert_int_equal(wg_datagram_classify(buf, 48), WG_DGRAM_STUN);
	/* Other classes and methods (a success response, TURN requests) are STUN too. */
	buf[0] = 0x01;
	buf[1] = 0x01;
	assert_int_equal(wg_datagram_classify(buf, 48), WG_DGRAM_STUN);

	/* Top two bits set (ChannelData, or garbage): not STUN. */
	stun_message(buf, 48);
	buf[0] = 0x40;
	assert_int_equal(wg_datagram_classify(buf, 48), WG_DGRAM_OTHER);
	/* Wrong magic cookie. */
	stun_message(buf, 48);
	buf[7] = 0x43;
	assert_int_equal(wg_datagram_classify(buf, 48), WG_DGRAM_OTHER);
	/* Length field that disagrees with the size. */
	stun_message(buf, 48);
	assert_int_equal(wg_datagram_classify(buf, 52), WG_DGRAM_OTHER);
	assert_false(wg_is_stun(buf, 44));
	/* Size not a multiple of 4, even with a matching length field. */
	stun_message(buf, 47);
	assert_int_equal(wg_datagram_classify(buf, 47), WG_DGRAM_OTHER);
	/* Shorter than a header. */
	stun_message(buf, 20);
	assert_int_equal(wg_datagram_classify(buf, 16), WG_DGRAM_OTHER);
}

static void short_and_empty(void **state)
{
	uint8_t buf[4] = { 1, 0, 0, 0 };
	assert_int_equal(wg_datagram_classify(buf, 0), WG_DGRAM_OTHER);
	assert_int_equal(wg_datagram_classify(buf, 3), WG_DGRAM_OTHER);
	assert_int_equal(wg_datagram_classify(buf, 4), WG_DGRAM_OTHER);
	assert_int_equal(wg_datagram_classify((const uint8_t *)"junk", 4), WG_DGRAM_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wireguard_by_type_and_size),
		cmocka_unit_test(stun_by_header),
		cmocka_unit_test(short_and_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
