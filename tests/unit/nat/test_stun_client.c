// SPDX-License-Identifier: MIT
/*
 * The STUN client's transactions on a fake clock: RFC 8489's retransmission
 * schedule, answers matched by server and transaction id, everything else
 * counted and dropped, the NAT's mapping behaviour from two servers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "nat/stun_client.h"

static uint8_t next_id;

static void fake_rand(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(next_id + i);
	next_id += 50;
}

static struct ip_endpoint ep(const char *s)
{
	struct ip_endpoint e;
	assert_int_equal(ip_endpoint_parse(s, &e), 0);
	return e;
}

/* A Binding success for txid mapping to `mapped`, with FINGERPRINT. */
static size_t success(uint8_t *buf, const uint8_t *txid, const char *mapped)
{
	struct ip_endpoint m = ep(mapped);
	static const uint8_t cookie[4] = { 0x21, 0x12, 0xa4, 0x42 };
	uint8_t req[32];
	stun_write_binding_request(req, sizeof(req), txid);
	memcpy(buf, req, 20);
	buf[0] = 0x01;
	buf[1] = 0x01;
	buf[2] = 0;
	buf[3] = 12 + 8;
	uint8_t *a = buf + 20;
	a[0] = 0x00, a[1] = 0x20, a[2] = 0, a[3] = 8;
	a[4] = 0, a[5] = STUN_FAMILY_IPV4;
	a[6] = (uint8_t)((m.port ^ 0x2112) >> 8);
	a[7] = (uint8_t)(m.port ^ 0x2112);
	for (int i = 0; i < 4; i++)
		a[8 + i] = m.addr.bytes[i] ^ cookie[i];
	uint8_t *f = buf + 32;
	uint32_t crc = stun_crc32(buf, 32) ^ STUN_FINGERPRINT_XOR;
	f[0] = 0x80, f[1] = 0x28, f[2] = 0, f[3] = 4;
	f[4] = (uint8_t)(crc >> 24), f[5] = (uint8_t)(crc >> 16), f[6] = (uint8_t)(crc >> 8), f[7] = (uint8_t)crc;
	return 40;
}

static void retransmission_schedule(void **state)
{
	struct stun_client c = { 0 };
	struct stun_send out[4];
	struct ip_endpoint srv = ep("192.0.2.10:3478");
	const uint64_t expect[] = { 0, 500, 1500, 3500, 7500, 15500, 31500 };
	size_t k = 0;
	assert_true(stun_client_add_server(&c, &srv));
	assert_false(stun_client_add_server(&c, &srv));
	assert_int_equal(stun_client_next_ms(&c), UINT64_MAX);
	stun_client_refresh(&c, 0, fake_rand);
	for (uint64_t t = 0; t <= 50000; t += 50) {
		size_t n = stun_client_tick(&c, t, out, 4);
		if (n) {
			assert_int_equal(n, 1);
			assert_true(k < 7);
			assert_int_equal(t, expect[k]);
			k++;
			assert_int_equal(out[0].len, 28);
			assert_int_equal(out[0].to.port, 3478);
		}
	}
	assert_int_equal(k, STUN_RC);
	assert_int_equal(c.timeouts, 1);
	assert_false(c.servers[0].txn.active);
	assert_int_equal(stun_client_next_ms(&c), UINT64_MAX);
}

static void answers_matched_and_rest_dropped(void **state)
{
	struct stun_client c = { 0 };
	struct stun_send out[4];
	struct ip_endpoint srv = ep("192.0.2.10:3478"), other = ep("192.0.2.99:3478");
	uint8_t buf[64], wrong[STUN_TXID_LEN] = { 0xff };
	char s[IP_ENDPOINT_STRLEN];
	stun_client_add_server(&c, &srv);
	stun_client_refresh(&c, 1000, fake_rand);
	assert_int_equal(stun_client_tick(&c, 1000, out, 4), 1);
	const uint8_t *txid = out[0].buf + 8;

	size_t len = success(buf, txid, "203.0.113.5:40000");
	assert_false(stun_client_on_datagram(&c, buf, len, &other, 1010)); /* not a configured server */
	assert_int_equal(c.rx_unknown_server, 1);
	buf[len - 1] ^= 1;
	assert_false(stun_client_on_datagram(&c, buf, len, &srv, 1010)); /* bad FINGERPRINT */
	assert_int_equal(c.rx_malformed, 1);
	len = success(buf, wrong, "203.0.113.5:40000");
	assert_false(stun_client_on_datagram(&c, buf, len, &srv, 1010)); /* not our transaction */
	assert_int_equal(c.rx_unknown_txn, 1);
	assert_false(c.servers[0].has_mapped);

	len = success(buf, txid, "203.0.113.5:40000");
	assert_true(stun_client_on_datagram(&c, buf, len, &srv, 1020));
	assert_true(c.servers[0].has_mapped);
	assert_string_equal(ip_endpoint_format(&c.servers[0].mapped, s, sizeof(s)), "203.0.113.5:40000");
	/* The same answer again (a retransmission's): the transaction is closed. */
	assert_false(stun_client_on_datagram(&c, buf, len, &srv, 1030));
	assert_int_equal(stun_client_tick(&c, 5000, out, 4), 0);
}

/* Servers a and b, a refresh at 0 and its two requests in out. */
static void two_servers_asked(struct stun_client *c, const struct ip_endpoint *a, const struct ip_endpoint *b,
			      struct stun_send *out)
{
	stun_client_add_server(c, a);
	stun_client_add_server(c, b);
	stun_client_refresh(c, 0, fake_rand);
	assert_int_equal(stun_client_tick(c, 0, out, 4), 2);
}

static void mapping_behaviour(void **state)
{
	struct stun_client c = { 0 };
	struct stun_send out[4];
	struct ip_endpoint a = ep("192.0.2.10:3478"), b = ep("192.0.2.20:3478");
	uint8_t buf[64];
	two_servers_asked(&c, &a, &b, out);
	assert_int_equal(stun_client_mapping(&c, AF_INET), STUN_MAPPING_UNKNOWN);
	size_t len = success(buf, out[0].buf + 8, "203.0.113.5:40000");
	assert_true(stun_client_on_datagram(&c, buf, len, &a, 10));
	assert_int_equal(stun_client_mapping(&c, AF_INET), STUN_MAPPING_UNKNOWN);
	len = success(buf, out[1].buf + 8, "203.0.113.5:40000");
	assert_true(stun_client_on_datagram(&c, buf, len, &b, 10));
	assert_int_equal(stun_client_mapping(&c, AF_INET), STUN_MAPPING_ENDPOINT_INDEPENDENT);
	assert_int_equal(stun_client_mapping(&c, AF_INET6), STUN_MAPPING_UNKNOWN);

	stun_client_refresh(&c, 100, fake_rand);
	assert_int_equal(stun_client_tick(&c, 100, out, 4), 2);
	len = success(buf, out[1].buf + 8, "203.0.113.5:40001");
	assert_true(stun_client_on_datagram(&c, buf, len, &b, 110));
	assert_int_equal(stun_client_mapping(&c, AF_INET), STUN_MAPPING_ENDPOINT_DEPENDENT);
	assert_string_equal(stun_mapping_name(STUN_MAPPING_ENDPOINT_DEPENDENT), "endpoint-dependent");
}

static void keepalive_indications_keep_the_mapping(void **state)
{
	/* Between refreshes, an indication every STUN_KEEPALIVE_MS to each server that gave a mapping. */
	struct stun_client c = { 0 };
	struct stun_send out[4];
	struct stun_msg m;
	struct ip_endpoint a = ep("192.0.2.10:3478"), b = ep("192.0.2.20:3478");
	uint8_t buf[64];
	two_servers_asked(&c, &a, &b, out);
	size_t len = success(buf, out[0].buf + 8, "203.0.113.5:40000");
	assert_true(stun_client_on_datagram(&c, buf, len, &a, 20)); /* b never answers */
	assert_int_equal(stun_client_next_ms(&c), 500); /* b's retransmission */
	unsigned to_a = 0, other = 0;
	for (uint64_t t = 50; t <= 4 * STUN_KEEPALIVE_MS + 200; t += 50) {
		size_t n = stun_client_tick(&c, t, out, 4);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(stun_parse(out[i].buf, out[i].len, &m), 0);
			if (m.type == STUN_BINDING_INDICATION) {
				assert_true(ip_endpoint_equal(&out[i].to, &a));
				assert_true(m.has_fingerprint);
				assert_true((t - 20) % STUN_KEEPALIVE_MS < 50); /* within a tick of due */
				to_a++;
			} else {
				assert_int_equal(m.type, STUN_BINDING_REQUEST);
				other++;
			}
		}
	}
	assert_int_equal(to_a, 4);
	assert_int_equal(other, STUN_RC - 1);
	/* A refresh opens transactions: no indication while one is open. */
	stun_client_refresh(&c, 70000, fake_rand);
	assert_int_equal(stun_client_tick(&c, 70000, out, 4), 2);
	assert_int_equal(stun_client_tick(&c, 70000 + STUN_KEEPALIVE_MS, out, 4), 2);
	assert_int_equal(stun_parse(out[0].buf, out[0].len, &m), 0);
	assert_int_equal(m.type, STUN_BINDING_REQUEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(retransmission_schedule),
		cmocka_unit_test(answers_matched_and_rest_dropped),
		cmocka_unit_test(mapping_behaviour),
		cmocka_unit_test(keepalive_indications_keep_the_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
