// SPDX-License-Identifier: MIT
/*
 * The STUN codec (nat/stun.h) against RFC 5769's test vectors, our own
 * Binding request, and malformed messages that must be refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nat/stun.h"

/* RFC 5769 2.1: Sample Request (short-term credentials). */
static const char *const sample_request =
	"00010058 2112a442 b7e7a701 bc34d686 fa87dfae 80220010 5354554e 20746573 7420636c 69656e74"
	"00240004 6e0001ff 80290008 932ff9b1 51263b36 00060009 6576746a 3a683676 59202020"
	"00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2 80280004 e57a3bcf";
/* 2.2: Sample IPv4 Response: 192.0.2.1 port 32853. */
static const char *const sample_v4_response =
	"0101003c 2112a442 b7e7a701 bc34d686 fa87dfae 8022000b 74657374 20766563 746f7220"
	"00200008 0001a147 e112a643 00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7"
	"80280004 c07d4c96";
/* 2.3: Sample IPv6 Response: [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
static const char *const sample_v6_response =
	"01010048 2112a442 b7e7a701 bc34d686 fa87dfae 8022000b 74657374 20766563 746f7220"
	"00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9 00080014 a382954e 4be67bf1"
	"1784c97c 8292c275 bfe3ed41 80280004 c8fb0b4c";
/* 2.4: Sample Request with Long-Term Authentication (no FINGERPRINT). */
static const char *const sample_long_term =
	"00010060 2112a442 78ad3433 c6ad72c0 29da412e 00060012 e3839ee3 8388e383 aae38383"
	"e382afe3 82b90000 0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679"
	"36347341 0014000b 6578616d 706c652e 6f726700 00080014 f6702465 6dd64a3e 02b8e071"
	"2e85c9a2 8ca89666";

static const char password[] = "VOkJxbRl1RmTxUk/WvJxBt";

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		assert_true(n < cap);
		char b[3] = { s[0], s[1], 0 };
		out[n++] = (uint8_t)strtoul(b, NULL, 16);
		s += 2;
	}
	return n;
}

static void rfc5769_request(void **state)
{
	uint8_t buf[256];
	struct stun_msg m;
	size_t len = unhex(sample_request, buf, sizeof(buf));
	assert_int_equal(len, 108);
	assert_int_equal(stun_parse(buf, len, &m), 0);
	assert_int_equal(m.type, STUN_BINDING_REQUEST);
	assert_true(m.has_fingerprint);
	assert_true(m.has_integrity);
	assert_false(m.has_mapped);
	assert_int_equal(m.unknown_required, 1); /* PRIORITY (ICE), which a Binding client never needs */
	assert_true(stun_check_integrity(buf, len, &m, (const uint8_t *)password, strlen(password)));
	assert_false(stun_check_integrity(buf, len, &m, (const uint8_t *)"wrong", 5));
}

static void rfc5769_v4_response(void **state)
{
	uint8_t buf[256];
	struct stun_msg m;
	char s[IP_ENDPOINT_STRLEN];
	size_t len = unhex(sample_v4_response, buf, sizeof(buf));
	assert_int_equal(stun_parse(buf, len, &m), 0);
	assert_int_equal(m.type, STUN_BINDING_SUCCESS);
	assert_true(m.has_mapped);
	assert_string_equal(ip_endpoint_format(&m.mapped, s, sizeof(s)), "192.0.2.1:32853");
	assert_true(m.has_fingerprint);
	assert_true(stun_check_integrity(buf, len, &m, (const uint8_t *)password, strlen(password)));
	/* One flipped bit in the mapped address: the FINGERPRINT no longer matches. */
	buf[35] ^= 1;
	assert_int_equal(stun_parse(buf, len, &m), -EINVAL);
}

static void rfc5769_v6_response(void **state)
{
	uint8_t buf[256];
	struct stun_msg m;
	char s[IP_ENDPOINT_STRLEN];
	size_t len = unhex(sample_v6_response, buf, sizeof(buf));
	assert_int_equal(stun_parse(buf, len, &m), 0);
	assert_true(m.has_mapped);
	assert_string_equal(ip_endpoint_format(&m.mapped, s, sizeof(s)), "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
	assert_true(stun_check_integrity(buf, len, &m, (const uint8_t *)password, strlen(password)));
}

static void rfc5769_long_term(void **state)
{
	uint8_t buf[256], key[16];
	struct stun_msg m;
	size_t len = unhex(sample_long_term, buf, sizeof(buf));
	/* The long-term key: MD5("<username>:example.org:TheMatrIX") (RFC 8489 9.2.2). */
	unhex("e8ca7ad5 9d5eb051 8e312911 d2dab2a9", key, sizeof(key));
	assert_int_equal(stun_parse(buf, len, &m), 0);
	assert_false(m.has_fingerprint);
	assert_true(m.has_integrity);
	assert_int_equal(m.integrity_offset, len - 24);
	assert_true(stun_check_integrity(buf, len, &m, key, sizeof(key)));
}

static void binding_request_round_trip(void **state)
{
	uint8_t buf[64], txid[STUN_TXID_LEN];
	struct stun_msg m;
	for (int i = 0; i < STUN_TXID_LEN; i++)
		txid[i] = (uint8_t)(i * 17 + 3);
	size_t len = stun_write_binding_request(buf, sizeof(buf), txid);
	assert_int_equal(len, 28);
	assert_int_equal(stun_write_binding_request(buf, 27, txid), 0);
	assert_int_equal(stun_parse(buf, len, &m), 0);
	assert_int_equal(m.type, STUN_BINDING_REQUEST);
	assert_memory_equal(m.txid, txid, STUN_TXID_LEN);
	assert_true(m.has_fingerprint);
}

static void malformed_refused(void **state)
{
	uint8_t base[256], buf[256];
	struct stun_msg m;
	size_t len = unhex(sample_v4_response, base, sizeof(base));

	/* Too short, odd sizes, wrong cookie, wrong length field, top bits set. */
	assert_int_equal(stun_parse(base, 19, &m), -EINVAL);
	assert_int_equal(stun_parse(base, len - 2, &m), -EINVAL);
	memcpy(buf, base, len);
	buf[4] ^= 0xff;
	assert_int_equal(stun_parse(buf, len, &m), -EINVAL);
	memcpy(buf, base, len);
	buf[3] += 4;
	assert_int_equal(stun_parse(buf, len, &m), -EINVAL);
	memcpy(buf, base, len);
	buf[0] |= 0x80;
	assert_int_equal(stun_parse(buf, len, &m), -EINVAL);
	/* An attribute running past the end. */
	memcpy(buf, base, len);
	buf[22] = 0x01;
	assert_int_equal(stun_parse(buf, len, &m), -EINVAL);
	/* XOR-MAPPED-ADDRESS of an unknown family. */
	memcpy(buf, base, len);
	buf[37] = 0x03;
	assert_int_equal(stun_parse(buf, len, &m), -EINVAL);
	/* A FINGERPRINT that is not last. */
	uint8_t req[64], txid[STUN_TXID_LEN] = { 1 };
	size_t rl = stun_write_binding_request(req, sizeof(req), txid);
	memcpy(req + rl, "\x80\x22\x00\x00", 4);
	req[3] += 4;
	assert_int_equal(stun_parse(req, rl + 4, &m), -EINVAL);
}

static void crc32_known_answer(void **state)
{
	assert_int_equal(stun_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc5769_request),     cmocka_unit_test(rfc5769_v4_response),
		cmocka_unit_test(rfc5769_v6_response), cmocka_unit_test(rfc5769_long_term),
		cmocka_unit_test(binding_request_round_trip), cmocka_unit_test(malformed_refused),
		cmocka_unit_test(crc32_known_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
