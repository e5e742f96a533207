// SPDX-License-Identifier: MIT
/*
 * Peers' STUN on the WireGuard port (nat/stun_peer.h): a known peer's check
 * is answered with the source it came from, an answer to our check is
 * matched by transaction id (FINGERPRINT or not), and everything else from
 * a peer (malformed, unnamed, unknown) is counted and dropped unanswered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "nat/stun_peer.h"

#define KEY "jNeXHT/ctiURx2VSPxKW01y89jcgxVxkcFJl/pl6fVw="

static const uint8_t our_txid[STUN_TXID_LEN] = { 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9 };

static long by_username(void *ctx, const char *name, size_t len)
{
	(void)ctx;
	return len == strlen(KEY) && memcmp(name, KEY, len) == 0 ? 3 : -1;
}

static long by_txid(void *ctx, const uint8_t txid[STUN_TXID_LEN])
{
	(void)ctx;
	return memcmp(txid, our_txid, STUN_TXID_LEN) == 0 ? 3 : -1;
}

static const struct stun_peer_lookup lk = { by_username, by_txid, NULL };

static struct ip_endpoint ep(const char *s)
{
	struct ip_endpoint e;
	assert_int_equal(ip_endpoint_parse(s, &e), 0);
	return e;
}

static void known_check_answered_with_its_source(void **state)
{
	uint8_t buf[128], txid[STUN_TXID_LEN] = { 1, 2, 3 };
	struct stun_peer_counters cnt = { 0 };
	struct stun_peer_rx rx;
	struct stun_msg m;
	struct ip_endpoint from = ep("203.0.113.2:39151");
	char s[IP_ENDPOINT_STRLEN];
	size_t len = stun_write_binding_request_user(buf, sizeof(buf), txid, KEY);
	assert_int_equal(len, 20 + 4 + 44 + 8);
	assert_int_equal(stun_peer_on_datagram(buf, len, &from, &lk, &cnt, &rx), STUN_PEER_CHECK);
	assert_int_equal(rx.peer, 3);
	assert_int_equal(cnt.checks, 1);
	/* The answer: a Binding success to the same transaction, the source as XOR-MAPPED-ADDRESS. */
	assert_int_equal(stun_parse(rx.reply, rx.reply_len, &m), 0);
	assert_int_equal(m.type, STUN_BINDING_SUCCESS);
	assert_memory_equal(m.txid, txid, STUN_TXID_LEN);
	assert_true(m.has_mapped && m.has_fingerprint);
	assert_string_equal(ip_endpoint_format(&m.mapped, s, sizeof(s)), "203.0.113.2:39151");
	/* IPv6 fits the reply buffer too. */
	from = ep("[2001:db8::7]:40000");
	assert_int_equal(stun_peer_on_datagram(buf, len, &from, &lk, &cnt, &rx), STUN_PEER_CHECK);
	assert_int_equal(stun_parse(rx.reply, rx.reply_len, &m), 0);
	assert_string_equal(ip_endpoint_format(&m.mapped, s, sizeof(s)), "[2001:db8::7]:40000");
}

static void answer_to_our_check_matched_with_or_without_fingerprint(void **state)
{
	uint8_t buf[128];
	struct stun_peer_counters cnt = { 0 };
	struct stun_peer_rx rx;
	struct ip_endpoint from = ep("203.0.113.1:51420"), seen = ep("203.0.113.2:51420");
	char s[IP_ENDPOINT_STRLEN];
	size_t len = stun_write_binding_success(buf, sizeof(buf), our_txid, &seen);
	assert_int_equal(stun_peer_on_datagram(buf, len, &from, &lk, &cnt, &rx), STUN_PEER_ANSWER);
	assert_int_equal(rx.peer, 3);
	assert_string_equal(ip_endpoint_format(&rx.mapped, s, sizeof(s)), "203.0.113.2:51420");
	/* RFC 8489 7.1: FINGERPRINT is optional; the same answer without it (length fixed) counts. */
	len -= 8;
	buf[3] = (uint8_t)(len - 20);
	assert_int_equal(stun_peer_on_datagram(buf, len, &from, &lk, &cnt, &rx), STUN_PEER_ANSWER);
	assert_int_equal(cnt.answers, 2);
	/* Another transaction: not ours. */
	buf[8] ^= 1;
	assert_int_equal(stun_peer_on_datagram(buf, len, &from, &lk, &cnt, &rx), STUN_PEER_DROPPED);
	assert_int_equal(cnt.unknown, 1);
	assert_int_equal(cnt.malformed, 0);
}

static void malformed_and_unknown_counted_never_answered(void **state)
{
	uint8_t good[128], bad[128], txid[STUN_TXID_LEN] = { 7 };
	struct stun_peer_counters cnt = { 0 };
	struct stun_peer_rx rx;
	struct ip_endpoint from = ep("198.51.100.9:4000");
	size_t len = stun_write_binding_request_user(good, sizeof(good), txid, KEY);

	/* Malformed: a wrong FINGERPRINT, a length field beyond the datagram, a USERNAME running past it,
	 * a truncated header. */
	memcpy(bad, good, len);
	bad[len - 1] ^= 1;
	assert_int_equal(stun_peer_on_datagram(bad, len, &from, &lk, &cnt, &rx), STUN_PEER_DROPPED);
	memcpy(bad, good, len);
	bad[3] += 4;
	assert_int_equal(stun_peer_on_datagram(bad, len, &from, &lk, &cnt, &rx), STUN_PEER_DROPPED);
	memcpy(bad, good, len);
	bad[23] = 200; /* USERNAME's length */
	assert_int_equal(stun_peer_on_datagram(bad, len, &from, &lk, &cnt, &rx), STUN_PEER_DROPPED);
	assert_int_equal(stun_peer_on_datagram(good, 12, &from, &lk, &cnt, &rx), STUN_PEER_DROPPED);
	assert_int_equal(cnt.malformed, 4);
	assert_int_equal(rx.reply_len, 0);

	/* Well-formed but no known peer's: a check without USERNAME (any STUN client's), another key, an
	 * indication, an answer to no check of ours. */
	len = stun_write_binding_request(bad, sizeof(bad), txid);
	assert_int_equal(stun_peer_on_datagram(bad, len, &from, &lk, &cnt, &rx), STUN_PEER_DROPPED);
	len = stun_write_binding_request_user(bad, sizeof(bad), txid, "AAAAHT/ctiURx2VSPxKW01y89jcgxVxkcFJl/pl6fVw=");
	assert_int_equal(stun_peer_on_datagram(bad, len, &from, &lk, &cnt, &rx), STUN_PEER_DROPPED);
	len = stun_write_binding_indication(bad, sizeof(bad), txid);
	assert_int_equal(stun_peer_on_datagram(bad, len, &from, &lk, &cnt, &rx), STUN_PEER_DROPPED);
	len = stun_write_binding_success(bad, sizeof(bad), txid, &from);
	assert_int_equal(stun_peer_on_datagram(bad, len, &from, &lk, &cnt, &rx), STUN_PEER_DROPPED);
	assert_int_equal(cnt.unknown, 4);
	assert_int_equal(cnt.checks + cnt.answers, 0);
	assert_int_equal(rx.reply_len, 0);
	assert_int_equal(rx.peer, -1);

	/* A check with a comprehension-required attribute we do not know (0x0024 PRIORITY of ICE). */
	len = stun_write_binding_request_user(bad, sizeof(bad), txid, KEY);
	memmove(bad + 28, bad + 20, len - 20);
	bad[20] = 0x00, bad[21] = 0x24, bad[22] = 0, bad[23] = 4, bad[24] = bad[25] = bad[26] = bad[27] = 0;
	len += 8;
	bad[3] = (uint8_t)(len - 20);
	/* Fix FINGERPRINT over the new contents. */
	uint32_t crc = stun_crc32(bad, len - 8) ^ STUN_FINGERPRINT_XOR;
	bad[len - 4] = (uint8_t)(crc >> 24), bad[len - 3] = (uint8_t)(crc >> 16);
	bad[len - 2] = (uint8_t)(crc >> 8), bad[len - 1] = (uint8_t)crc;
	assert_int_equal(stun_peer_on_datagram(bad, len, &from, &lk, &cnt, &rx), STUN_PEER_DROPPED);
	assert_int_equal(cnt.unknown, 5);
	assert_int_equal(cnt.malformed, 4);
}

static void writers_refuse_small_buffers(void **state)
{
	uint8_t buf[128], txid[STUN_TXID_LEN] = { 0 };
	struct ip_endpoint e = ep("[2001:db8::7]:40000");
	assert_int_equal(stun_write_binding_request_user(buf, 75, txid, KEY), 0);
	assert_int_equal(stun_write_binding_request_user(buf, 76, txid, KEY), 76);
	assert_int_equal(stun_write_binding_success(buf, 51, txid, &e), 0);
	assert_int_equal(stun_write_binding_success(buf, 52, txid, &e), 52);
	assert_true(52 <= STUN_PEER_REPLY_MAX);
	assert_int_equal(stun_write_binding_indication(buf, 27, txid), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_check_answered_with_its_source),
		cmocka_unit_test(answer_to_our_check_matched_with_or_without_fingerprint),
		cmocka_unit_test(malformed_and_unknown_counted_never_answered),
		cmocka_unit_test(writers_refuse_small_buffers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
