// SPDX-License-Identifier: MIT
/*
 * The relayed path's fallback (relay.c): a peer on Send indications
 * (wg_peer_set_relay_send, no channel bound) through a stand-in TURN server
 * (a thread here) that parses every datagram from device a with the nat
 * library's own STUN parser - a Send indication, one XOR-PEER-ADDRESS that
 * is the permitted target, a DATA holding exactly one WireGuard message -
 * and relays its DATA to b, as a TURN server relays between two
 * allocations. Handshakes and data (the batched TUN path) cross it; put on a
 * channel, a sends ChannelData again and no more indications. The header's
 * shape for an IPv6 target (its address XORed with the transaction id) and
 * odd lengths (zero padding) is checked without a device. The devices part
 * is skipped when not root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "nat/stun.h"
#include "wg/device.h"
#include "wg/messages.h"
#include "wg/wg.h"
#include "test_helpers.h"
#include "turn_standin.h"

#define CHANNEL_A 0x4002 /* a's channel towards b, once bound */
#define CHANNEL_B 0x4def /* b's channel towards a */
#define TARGET "198.51.100.7:51820" /* a's permitted peer address on the relay (b's relayed address) */

/* The stand-in TURN server: a's Send indications and ChannelData to b, b's ChannelData to a. */
static struct relay {
	struct turn_standin server; /* first: the relay function gets its address */
	struct ip_endpoint target;
	atomic_int indications, channel_data, forwarded, malformed;
} relay = { .server = TURN_STANDIN_INIT };

/* Its data when buf is a's well-formed Send indication to the target, else NULL. */
static const uint8_t *send_indication_data(struct relay *r, const uint8_t *buf, size_t n, size_t *len)
{
	struct stun_msg m;
	if (stun_parse(buf, n, &m) < 0 || m.type != stun_type(TURN_METHOD_SEND, STUN_CLASS_INDICATION) ||
	    m.n_peers_seen != 1 || !ip_endpoint_equal(&m.peers[0], &r->target) || !m.has_data || m.has_integrity ||
	    m.unknown_required || !wg_message_classify(m.data, m.data_len))
		return NULL;
	/* Nothing after DATA but its zero padding to 4 bytes. */
	size_t end = (size_t)(m.data - buf) + m.data_len;
	for (size_t i = end; i < n; i++)
		if (buf[i] || i - end >= 3)
			return NULL;
	*len = m.data_len;
	return m.data;
}

static void relay_indications(struct turn_standin *s, uint8_t *buf, size_t n, bool from_a)
{
	struct relay *r = (struct relay *)s;
	uint8_t out[2048];
	const uint8_t *data = NULL;
	size_t dlen = 0;
	if (from_a && n >= 20 && buf[0] < 0x40) {
		data = send_indication_data(r, buf, n, &dlen);
		atomic_fetch_add(data ? &r->indications : &r->malformed, 1);
	} else if (n >= 4 && (buf[0] & 0xf0) == 0x40) {
		uint16_t channel = (uint16_t)(buf[0] << 8 | buf[1]);
		dlen = (size_t)(buf[2] << 8 | buf[3]);
		if (dlen == n - 4 && channel == (from_a ? CHANNEL_A : CHANNEL_B) && wg_message_classify(buf + 4, dlen))
			data = buf + 4;
		atomic_fetch_add(!data ? &r->malformed : from_a ? &r->channel_data : &r->forwarded, 1);
	} else {
		atomic_fetch_add(&r->malformed, 1);
	}
	if (!data)
		return;
	/*
	 * To the other side as ChannelData (the device takes it on any
	 * channel from its server; a Data indication would reach a device
	 * only through the NAT agent: wg_device_receive_relayed, test_relay.c).
	 */
	uint16_t to_channel = from_a ? CHANNEL_B : CHANNEL_A;
	out[0] = (uint8_t)(to_channel >> 8);
	out[1] = (uint8_t)to_channel;
	out[2] = (uint8_t)(dlen >> 8);
	out[3] = (uint8_t)dlen;
	memcpy(out + 4, data, dlen);
	turn_standin_send(s, out, dlen + 4, !from_a);
}

static struct wg_device *a, *b;

static int teardown(void **state)
{
	turn_standin_teardown(&relay.server, &a, &b);
	return 0;
}

static void send_burst(int count, size_t size)
{
	static uint8_t payload[1400];
	int out = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9) };
	inet_pton(AF_INET, "10.97.0.2", &dst.sin_addr);
	for (int i = 0; i < count; i++)
		sendto(out, payload, size, 0, (struct sockaddr *)&dst, sizeof(dst));
	close(out);
}

static void send_indications_both_ways(void **state)
{
	uint8_t pa[32], pb[32];
	char ifa[16], ifb[16], cmd[512];
	struct ip_endpoint server, unset = { 0 };

	if (geteuid() != 0)
		skip();
	device_pair_create("wgs", &a, &b, pa, pb, ifa, ifb);
	assert_int_equal(ip_endpoint_parse(TARGET, &relay.target), 0);
	/* Room for a whole burst: indications leave a one by one, faster than the thread relays. */
	turn_standin_start(&relay.server, a, b, relay_indications, 8 << 20);
	server = relay.server.server;

	device_pair_peers(a, b, pa, pb, "10.97.0.1/32", "10.97.0.2/32");

	/* Not a configured server, no target, nobody: refused. */
	assert_int_equal(wg_peer_set_relay_send(a, pb, &server, &relay.target), -EINVAL);
	assert_int_equal(wg_device_set_relay_servers(a, &server, 1), 0);
	assert_int_equal(wg_device_set_relay_servers(b, &server, 1), 0);
	assert_int_equal(wg_peer_set_relay_send(a, pb, &server, &unset), -EINVAL);
	assert_int_equal(wg_peer_set_relay_send(a, pb, &server, NULL), -EINVAL);
	uint8_t nobody[32] = { 9 };
	assert_int_equal(wg_peer_set_relay_send(a, nobody, &server, &relay.target), -ENOENT);

	/* a has no channel: Send indications; b has one. */
	assert_int_equal(wg_peer_set_relay_send(a, pb, &server, &relay.target), 0);
	assert_int_equal(wg_peer_set_relay_path(b, pa, &server, CHANNEL_B), 0);
	assert_true(peer_status(a, pb).relayed);
	assert_int_equal(wg_peer_initiate_handshake(a, pb), 0); /* an indication: a has no endpoint */
	WAIT_FOR(peer_status(a, pb).last_handshake_sec != 0 && peer_status(b, pa).last_handshake_sec != 0);

	/* Data through the batched TUN path, as indications one by one. */
	snprintf(cmd, sizeof(cmd),
		 "ip link set %s up && ip addr add 10.97.0.1/32 dev %s && ip route add 10.97.0.2/32 dev %s && "
		 "ip link set %s up",
		 ifa, ifa, ifa, ifb);
	assert_int_equal(system(cmd), 0);
	uint64_t before = peer_status(b, pa).rx_packets;
	send_burst(200, 1200);
	WAIT_FOR(peer_status(b, pa).rx_packets >= before + 150); /* a burst on loopback may lose a few */
	assert_int_equal(atomic_load(&relay.malformed), 0);
	assert_int_equal(atomic_load(&relay.channel_data), 0);
	assert_true(atomic_load(&relay.indications) > 150);
	assert_true(atomic_load(&relay.forwarded) > 0); /* b's answers came back */
	assert_false(peer_status(a, pb).has_endpoint);
	assert_false(peer_status(b, pa).has_endpoint);

	/* The channel bound: ChannelData again, no more indications; the session stays. */
	assert_int_equal(wg_peer_set_relay_path(a, pb, &server, CHANNEL_A), 0);
	int indications = atomic_load(&relay.indications);
	before = peer_status(b, pa).rx_packets;
	send_burst(200, 1200);
	WAIT_FOR(peer_status(b, pa).rx_packets >= before + 150);
	assert_true(atomic_load(&relay.channel_data) > 150);
	assert_int_equal(atomic_load(&relay.indications), indications);
	assert_int_equal(atomic_load(&relay.malformed), 0);
}

/* The header for an IPv6 target and a length that needs padding, parsed by the nat library. */
static void indication_header_shape(void **state)
{
	static const uint8_t txid[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	uint8_t msg[WG_SEND_INDICATION_MAX_HEADER + 8] = { 0 };
	struct ip_endpoint v6, v4;
	struct stun_msg m;
	assert_int_equal(ip_endpoint_parse("[2001:db8::7]:51820", &v6), 0);
	assert_int_equal(ip_endpoint_parse("198.51.100.7:4000", &v4), 0);

	size_t h = wg_send_indication_header(msg, txid, &v6, 5);
	assert_int_equal(h, WG_SEND_INDICATION_MAX_HEADER);
	memcpy(msg + h, "hello", 5); /* then 3 zero bytes of padding */
	assert_int_equal(stun_parse(msg, h + 8, &m), 0);
	assert_int_equal(m.type, stun_type(TURN_METHOD_SEND, STUN_CLASS_INDICATION));
	assert_memory_equal(m.txid, txid, 12);
	assert_int_equal(m.n_peers_seen, 1);
	assert_true(ip_endpoint_equal(&m.peers[0], &v6));
	assert_true(m.has_data);
	assert_int_equal(m.data_len, 5);
	assert_memory_equal(m.data, "hello", 5);

	h = wg_send_indication_header(msg, txid, &v4, 148);
	assert_int_equal(h, 20 + 12 + 4);
	assert_int_equal(msg[2] << 8 | msg[3], 12 + 4 + 148);

	/* Too long for a STUN message's 16-bit length: no header. */
	assert_int_equal(wg_send_indication_header(msg, txid, &v4, 65535 - 16), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(indication_header_shape),
		cmocka_unit_test_teardown(send_indications_both_ways, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
