// SPDX-License-Identifier: MIT
/*
 * The STUN/TURN codec (nat/stun.h, nat/stun_build.h) against RFC 5769's
 * test vectors, our own Binding request, TURN messages built and parsed
 * back, ChannelData framing, and malformed messages that must be refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nat/stun.h"
#include "nat/stun_build.h"

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
	assert_int_equal(stun_write_binding_request(buf, 27, txid), 0);
	size_t len = stun_write_binding_request(buf, sizeof(buf), txid);
	assert_int_equal(len, 28);
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

/* 2.4's username (U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9), nonce and realm. */
static const char lt_user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
static const char lt_nonce[] = "f//499k954d6OL34oL9FSTvy64sA";
static const char lt_realm[] = "example.org";

static void long_term_key_vector(void **state)
{
	uint8_t key[16], want[16];
	unhex("e8ca7ad5 9d5eb051 8e312911 d2dab2a9", want, sizeof(want));
	/* The password "The<U+00AD>M<U+00AA>tr<U+2168>" after SASLprep. */
	assert_int_equal(stun_long_term_key(lt_user, strlen(lt_user), lt_realm, strlen(lt_realm), "TheMatrIX", key), 0);
	assert_memory_equal(key, want, 16);
}

/* The builder reproduces RFC 5769 2.4 byte for byte, MESSAGE-INTEGRITY included. */
static void build_reproduces_long_term_vector(void **state)
{
	uint8_t want[256], buf[256], key[16], txid[STUN_TXID_LEN];
	size_t wlen = unhex(sample_long_term, want, sizeof(want));
	struct stun_builder b;
	struct stun_msg m;

	memcpy(txid, want + 8, STUN_TXID_LEN);
	assert_int_equal(stun_long_term_key(lt_user, strlen(lt_user), lt_realm, strlen(lt_realm), "TheMatrIX", key), 0);
	stun_build_start(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, txid);
	stun_build_attr(&b, STUN_ATTR_USERNAME, lt_user, strlen(lt_user));
	stun_build_attr(&b, STUN_ATTR_NONCE, lt_nonce, strlen(lt_nonce));
	stun_build_attr(&b, STUN_ATTR_REALM, lt_realm, strlen(lt_realm));
	stun_build_integrity(&b, key, sizeof(key));
	assert_int_equal(stun_build_finish(&b), wlen);
	assert_memory_equal(buf, want, wlen);
	/* And the parser hands the text attributes back. */
	assert_int_equal(stun_parse(buf, wlen, &m), 0);
	assert_int_equal(m.username_len, strlen(lt_user));
	assert_memory_equal(m.username, lt_user, m.username_len);
	assert_int_equal(m.nonce_len, strlen(lt_nonce));
	assert_memory_equal(m.realm, lt_realm, strlen(lt_realm));
}

static void message_types_interleave(void **state)
{
	/* RFC 8656 and 8489's registered values. */
	assert_int_equal(stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST), 0x0003);
	assert_int_equal(stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_SUCCESS), 0x0103);
	assert_int_equal(stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_ERROR), 0x0113);
	assert_int_equal(stun_type(TURN_METHOD_SEND, STUN_CLASS_INDICATION), 0x0016);
	assert_int_equal(stun_type(TURN_METHOD_DATA, STUN_CLASS_INDICATION), 0x0017);
	assert_int_equal(stun_type(STUN_METHOD_BINDING, STUN_CLASS_SUCCESS), STUN_BINDING_SUCCESS);
	for (uint16_t method = 0; method < 0x1000; method++)
		for (uint16_t cls = 0; cls <= 0x0110; cls += 0x0010) {
			if (cls & ~0x0110)
				continue;
			uint16_t t = stun_type(method, cls);
			assert_int_equal(t & 0xc000, 0);
			assert_int_equal(stun_type_method(t), method);
			assert_int_equal(stun_type_class(t), cls);
		}
}

/* An Allocate success as a TURN server sends it, parsed back field by field. */
static void turn_allocate_success_round_trip(void **state)
{
	uint8_t buf[256], key[16], txid[STUN_TXID_LEN];
	struct ip_endpoint relayed, mapped;
	struct stun_builder b;
	struct stun_msg m;
	char s[64];

	memset(txid, 0x5a, sizeof(txid));
	memset(key, 0x11, sizeof(key));
	assert_int_equal(ip_endpoint_parse("198.51.100.7:49152", &relayed), 0);
	assert_int_equal(ip_endpoint_parse("[2001:db8::9]:51820", &mapped), 0);
	stun_build_start(&b, buf, sizeof(buf), stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_SUCCESS), txid);
	stun_build_xor_address(&b, TURN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
	stun_build_xor_address(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
	stun_build_u32(&b, TURN_ATTR_LIFETIME, 600);
	stun_build_integrity(&b, key, sizeof(key));
	stun_build_fingerprint(&b);
	size_t len = stun_build_finish(&b);
	assert_true(len > 0);

	assert_int_equal(stun_parse(buf, len, &m), 0);
	assert_int_equal(stun_type_method(m.type), TURN_METHOD_ALLOCATE);
	assert_true(m.has_relayed && m.has_mapped && m.has_lifetime && m.has_fingerprint);
	assert_int_equal(m.lifetime_s, 600);
	assert_string_equal(ip_endpoint_format(&m.relayed, s, sizeof(s)), "198.51.100.7:49152");
	assert_string_equal(ip_endpoint_format(&m.mapped, s, sizeof(s)), "[2001:db8::9]:51820");
	assert_true(stun_check_integrity(buf, len, &m, key, sizeof(key)));
	key[0] ^= 1;
	assert_false(stun_check_integrity(buf, len, &m, key, sizeof(key)));
}

/* CreatePermission with more peers than recorded; ChannelBind; an error with its reason. */
static void turn_requests_and_errors(void **state)
{
	uint8_t buf[512], txid[STUN_TXID_LEN] = { 7 };
	struct ip_endpoint peer;
	struct stun_builder b;
	struct stun_msg m;
	char s[64];

	stun_build_start(&b, buf, sizeof(buf), stun_type(TURN_METHOD_CREATE_PERMISSION, STUN_CLASS_REQUEST), txid);
	for (int i = 0; i < STUN_MAX_PEER_ADDRESSES + 1; i++) {
		char text[32];
		snprintf(text, sizeof(text), "203.0.113.%d:%d", i + 1, 1000 + i);
		assert_int_equal(ip_endpoint_parse(text, &peer), 0);
		stun_build_xor_address(&b, TURN_ATTR_XOR_PEER_ADDRESS, &peer);
	}
	stun_build_transport(&b, TURN_TRANSPORT_UDP);
	size_t len = stun_build_finish(&b);
	assert_int_equal(stun_parse(buf, len, &m), 0);
	assert_int_equal(m.n_peers, STUN_MAX_PEER_ADDRESSES);
	assert_int_equal(m.n_peers_seen, STUN_MAX_PEER_ADDRESSES + 1);
	assert_string_equal(ip_endpoint_format(&m.peers[3], s, sizeof(s)), "203.0.113.4:1003");
	assert_true(m.has_transport);
	assert_int_equal(m.transport, TURN_TRANSPORT_UDP);

	stun_build_start(&b, buf, sizeof(buf), stun_type(TURN_METHOD_CHANNEL_BIND, STUN_CLASS_REQUEST), txid);
	stun_build_channel(&b, 0x4001);
	stun_build_family(&b, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET6);
	len = stun_build_finish(&b);
	assert_int_equal(stun_parse(buf, len, &m), 0);
	assert_true(m.has_channel && m.has_requested_family);
	assert_int_equal(m.channel, 0x4001);
	assert_int_equal(m.requested_family, STUN_FAMILY_IPV6);

	stun_build_start(&b, buf, sizeof(buf), stun_type(TURN_METHOD_REFRESH, STUN_CLASS_ERROR), txid);
	stun_build_error(&b, STUN_ERR_STALE_NONCE, "Stale Nonce");
	stun_build_attr(&b, STUN_ATTR_NONCE, "abc", 3);
	stun_build_attr(&b, 0x0030, "x", 1); /* comprehension-required, unknown */
	len = stun_build_finish(&b);
	assert_int_equal(stun_parse(buf, len, &m), 0);
	assert_int_equal(m.error_code, 438);
	assert_int_equal(m.error_reason_len, 11);
	assert_memory_equal(m.error_reason, "Stale Nonce", 11);
	assert_int_equal(m.nonce_len, 3);
	assert_int_equal(m.unknown_required, 1);
	assert_int_equal(m.unknown_types[0], 0x0030);
}

/* A builder never writes past its buffer, and says so once at the end. */
static void builder_overflow(void **state)
{
	uint8_t buf[64 + 8], txid[STUN_TXID_LEN] = { 0 };
	struct stun_builder b;
	memset(buf, 0xee, sizeof(buf));
	stun_build_start(&b, buf, 64, STUN_BINDING_REQUEST, txid);
	stun_build_attr(&b, STUN_ATTR_SOFTWARE, "0123456789012345678901234567890123456789", 40);
	assert_int_equal(stun_build_finish(&b), 64);
	stun_build_u32(&b, TURN_ATTR_LIFETIME, 1); /* 8 more bytes: too many */
	stun_build_fingerprint(&b);
	assert_int_equal(stun_build_finish(&b), 0);
	for (size_t i = 64; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xee);
	stun_build_start(&b, buf, 19, STUN_BINDING_REQUEST, txid);
	assert_int_equal(stun_build_finish(&b), 0);
}

static void channel_data_framing(void **state)
{
	uint8_t buf[16] = { 0 };
	const uint8_t *data;
	size_t dlen;
	uint16_t ch;

	turn_channel_data_header(buf, 0x4abc, 5);
	memcpy(buf + 4, "hello", 5);
	assert_true(turn_channel_data_parse(buf, 9, &ch, &data, &dlen));
	assert_int_equal(ch, 0x4abc);
	assert_int_equal(dlen, 5);
	assert_memory_equal(data, "hello", 5);
	/* Padding after the data is allowed (and ignored). */
	assert_true(turn_channel_data_parse(buf, 12, &ch, &data, &dlen));
	assert_int_equal(dlen, 5);
	/* Short, over-long, out-of-range channels. */
	assert_false(turn_channel_data_parse(buf, 3, &ch, &data, &dlen));
	assert_false(turn_channel_data_parse(buf, 8, &ch, &data, &dlen));
	turn_channel_data_header(buf, 0x3fff, 0);
	assert_false(turn_channel_data_parse(buf, 4, &ch, &data, &dlen));
	turn_channel_data_header(buf, 0x5000, 0);
	assert_false(turn_channel_data_parse(buf, 4, &ch, &data, &dlen));
	/* RFC 5766's range, for a server that also serves clients written to it. */
	assert_true(turn_channel_data_parse_upto(buf, 4, TURN_CHANNEL_MAX_RFC5766, &ch, &data, &dlen));
	assert_int_equal(ch, 0x5000);
	turn_channel_data_header(buf, 0x7fff, 0);
	assert_true(turn_channel_data_parse_upto(buf, 4, TURN_CHANNEL_MAX_RFC5766, &ch, &data, &dlen));
	turn_channel_data_header(buf, 0x8000, 0);
	assert_false(turn_channel_data_parse_upto(buf, 4, TURN_CHANNEL_MAX_RFC5766, &ch, &data, &dlen));
	turn_channel_data_header(buf, 0x6b62, 9);
	assert_false(turn_channel_data_parse_upto(buf, 12, TURN_CHANNEL_MAX_RFC5766, &ch, &data, &dlen));
}

/* TURN attributes of the wrong size are refused, not half-read. */
static void turn_attributes_malformed(void **state)
{
	static const uint16_t fixed4[] = { TURN_ATTR_LIFETIME, TURN_ATTR_CHANNEL_NUMBER, TURN_ATTR_REQUESTED_TRANSPORT,
					   TURN_ATTR_REQUESTED_ADDRESS_FAMILY };
	uint8_t buf[64], txid[STUN_TXID_LEN] = { 3 };
	struct stun_builder b;
	struct stun_msg m;
	for (size_t i = 0; i < sizeof(fixed4) / sizeof(fixed4[0]); i++) {
		stun_build_start(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, txid);
		stun_build_attr(&b, fixed4[i], "\x01\x02", 2);
		assert_int_equal(stun_parse(buf, stun_build_finish(&b), &m), -EINVAL);
	}
	stun_build_start(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, txid);
	stun_build_attr(&b, TURN_ATTR_XOR_PEER_ADDRESS, "\x00\x01\x00\x01\x02", 5);
	assert_int_equal(stun_parse(buf, stun_build_finish(&b), &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc5769_request),     cmocka_unit_test(rfc5769_v4_response),
		cmocka_unit_test(rfc5769_v6_response), cmocka_unit_test(rfc5769_long_term),
		cmocka_unit_test(binding_request_round_trip), cmocka_unit_test(malformed_refused),
		cmocka_unit_test(crc32_known_answer), cmocka_unit_test(long_term_key_vector),
		cmocka_unit_test(build_reproduces_long_term_vector), cmocka_unit_test(message_types_interleave),
		cmocka_unit_test(turn_allocate_success_round_trip), cmocka_unit_test(turn_requests_and_errors),
		cmocka_unit_test(builder_overflow), cmocka_unit_test(channel_data_framing),
		cmocka_unit_test(turn_attributes_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
