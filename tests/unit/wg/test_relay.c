// SPDX-License-Identifier: MIT
/*
 * The relayed path (relay.c) end to end: two devices in a private network
 * namespace with no path between them but a stand-in TURN server (a thread
 * here) that moves ChannelData from one device's channel to the other's, as
 * a TURN server relays between two allocations. Handshakes and data cross
 * it; every datagram the devices send is well-formed ChannelData; neither
 * device takes the server for its peer's plain endpoint; ChannelData from
 * an address that is no TURN server of the device is not unwrapped.
 * Skipped when not root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "wg/messages.h"
#include "wg/socket.h"
#include "wg/wg.h"
#include "test_helpers.h"
#include "turn_standin.h"

#define CHANNEL_A 0x4001 /* a's channel towards b, on the server */
#define CHANNEL_B 0x4abc /* b's channel towards a */

static atomic_int hook_channel_data;

static void on_datagram(void *user, const uint8_t *buf, size_t len, const struct ip_endpoint *from)
{
	if (len >= 4 && (buf[0] & 0xf0) == 0x40)
		atomic_fetch_add(&hook_channel_data, 1);
}

/* The stand-in TURN server, forwarding between the two devices' channels. */
static struct relay {
	struct turn_standin server; /* first: the relay function gets its address */
	atomic_int forwarded, malformed, wrong_channel;
	/* Set: the next datagram from a is kept here (its ChannelData data) instead of forwarded. */
	atomic_bool capture;
	uint8_t captured[2048];
	atomic_size_t captured_len;
	atomic_size_t largest_from_a; /* the largest datagram from a */
} relay = { .server = TURN_STANDIN_INIT };

static void relay_channel_data(struct turn_standin *s, uint8_t *buf, size_t n, bool from_a)
{
	struct relay *r = (struct relay *)s;
	if (from_a && n > atomic_load(&r->largest_from_a))
		atomic_store(&r->largest_from_a, n);
	uint16_t channel = (uint16_t)(buf[0] << 8 | buf[1]), dlen = (uint16_t)(buf[2] << 8 | buf[3]);
	/* Exactly one ChannelData per datagram, with no padding: what our devices send. */
	if (n < 4 || (size_t)dlen != n - 4 || !wg_message_classify(buf + 4, dlen)) {
		atomic_fetch_add(&r->malformed, 1);
		return;
	}
	if (channel != (from_a ? CHANNEL_A : CHANNEL_B)) {
		atomic_fetch_add(&r->wrong_channel, 1);
		return;
	}
	if (from_a && atomic_load(&r->capture)) {
		memcpy(r->captured, buf + 4, dlen);
		atomic_store(&r->capture, false);
		atomic_store(&r->captured_len, dlen);
		return;
	}
	uint16_t out = from_a ? CHANNEL_B : CHANNEL_A;
	buf[0] = (uint8_t)(out >> 8);
	buf[1] = (uint8_t)out;
	if (turn_standin_send(s, buf, n, !from_a))
		atomic_fetch_add(&r->forwarded, 1);
}

static struct wg_device *a, *b;

/* count UDP datagrams of len bytes towards b's overlay address, into the tunnel. */
static void send_udp_to_b(size_t len, int count)
{
	static uint8_t payload[2048];
	int out = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9) };
	assert_true(out >= 0 && len <= sizeof(payload));
	inet_pton(AF_INET, "10.98.0.2", &dst.sin_addr);
	for (int i = 0; i < count; i++)
		sendto(out, payload, len, 0, (struct sockaddr *)&dst, sizeof(dst));
	close(out);
}

/* The MTU of link ifname (an ioctl: sysfs shows the namespace it was mounted in). */
static unsigned link_mtu(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	assert_int_equal(ioctl(sock, SIOCGIFMTU, &ifr), 0);
	close(sock);
	return (unsigned)ifr.ifr_mtu;
}

static int teardown(void **state)
{
	turn_standin_teardown(&relay.server, &a, &b);
	return 0;
}

static void relayed_both_ways(void **state)
{
	uint8_t pa[32], pb[32];
	char ifa[16], ifb[16], cmd[512];

	if (geteuid() != 0)
		skip();
	device_pair_create_hooked("wgr", on_datagram, &a, &b, pa, pb, ifa, ifb);
	turn_standin_start(&relay.server, a, b, relay_channel_data, 4 << 20);
	const struct ip_endpoint server = relay.server.server;

	/* Peers with no endpoint at all: the relay is the only way. */
	device_pair_peers(a, b, pa, pb, "10.98.0.1/32", "10.98.0.2/32");

	/* Not a configured server, or a channel out of range: refused. */
	assert_int_equal(wg_peer_set_relay_path(a, pb, &server, CHANNEL_A), -EINVAL);
	assert_int_equal(wg_device_set_relay_servers(a, &server, 1), 0);
	assert_int_equal(wg_device_set_relay_servers(b, &server, 1), 0);
	assert_int_equal(wg_peer_set_relay_path(a, pb, &server, 0x3fff), -EINVAL);
	uint8_t nobody[32] = { 9 };
	assert_int_equal(wg_peer_set_relay_path(a, nobody, &server, CHANNEL_A), -ENOENT);
	assert_int_equal(wg_peer_set_relay_path(b, pa, &server, CHANNEL_B), 0);
	assert_int_equal(wg_peer_set_relay_path(a, pb, &server, CHANNEL_A), 0);
	assert_int_equal(wg_peer_initiate_handshake(a, pb), 0); /* through the relay: a has no endpoint */

	WAIT_FOR(peer_status(a, pb).last_handshake_sec != 0 && peer_status(b, pa).last_handshake_sec != 0);

	/* Data through the batched TUN path: datagrams routed into a arrive at b. */
	snprintf(cmd, sizeof(cmd),
		 "ip link set %s up && ip addr add 10.98.0.1/32 dev %s && ip route add 10.98.0.2/32 dev %s && "
		 "ip link set %s up",
		 ifa, ifa, ifa, ifb);
	assert_int_equal(system(cmd), 0);
	uint64_t before = peer_status(b, pa).rx_packets;
	send_udp_to_b(1200, 200);
	WAIT_FOR(peer_status(b, pa).rx_packets >= before + 150); /* a burst on loopback may lose a few */

	/*
	 * Full-size packets (1420 bytes, the device's MTU) through the relay: a
	 * datagram of 4 + 32 + 1420 bytes, 1484 with IPv4's headers but 1504 with
	 * IPv6's. With a TURN server reached over IPv6 among the device's, the
	 * TUN takes 4 bytes less, and the largest datagram is 1452 bytes.
	 */
	atomic_store(&relay.largest_from_a, 0);
	before = peer_status(b, pa).rx_packets;
	send_udp_to_b(1420 - 28, 20);
	WAIT_FOR(peer_status(b, pa).rx_packets >= before + 10);
	assert_int_equal(atomic_load(&relay.largest_from_a), WG_CHANNEL_DATA_HEADER_LEN + 32 + 1420);
	assert_int_equal(link_mtu(ifa), 1420);
	struct ip_endpoint both[2] = { server };
	assert_int_equal(ip_endpoint_parse("[::1]:3478", &both[1]), 0);
	assert_int_equal(wg_device_set_relay_servers(a, both, 2), 0);
	assert_int_equal(link_mtu(ifa), 1416);
	atomic_store(&relay.largest_from_a, 0);
	before = peer_status(b, pa).rx_packets;
	send_udp_to_b(1420 - 28, 20); /* now fragmented by the kernel, into packets that fit */
	WAIT_FOR(peer_status(b, pa).rx_packets >= before + 10);
	assert_int_equal(atomic_load(&relay.largest_from_a), 1500 - 40 - 8);
	/* Without it, the configured MTU again. */
	assert_int_equal(wg_device_set_relay_servers(a, &server, 1), 0);
	assert_int_equal(link_mtu(ifa), 1420);

	assert_int_equal(atomic_load(&relay.malformed), 0);
	assert_int_equal(atomic_load(&relay.wrong_channel), 0);
	assert_true(atomic_load(&relay.forwarded) > 150);
	/* Neither device took the server for its peer's endpoint. */
	assert_false(peer_status(a, pb).has_endpoint);
	assert_false(peer_status(b, pa).has_endpoint);

	/* ChannelData from an address that is no TURN server of b: not unwrapped, the hook gets it. */
	int stranger = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint8_t cd[4 + WG_MSG_DATA_MIN_LEN] = { 0x40, 0x01, 0, WG_MSG_DATA_MIN_LEN, WG_MSG_DATA };
	assert_int_equal(sendto(stranger, cd, sizeof(cd), 0, (struct sockaddr *)&relay.server.b, sizeof(relay.server.b)),
			 (ssize_t)sizeof(cd));
	close(stranger);
	WAIT_FOR(atomic_load(&hook_channel_data) == 1);

	/*
	 * A Data indication's contents (the relay's fallback before a channel is
	 * bound), handed over by the NAT agent: b takes a's next message from
	 * its TURN server, from nobody else.
	 */
	atomic_store(&relay.capture, true);
	send_udp_to_b(100, 1);
	WAIT_FOR(atomic_load(&relay.captured_len) > 0);
	size_t clen = atomic_load(&relay.captured_len);
	struct ip_endpoint stranger_ep;
	assert_int_equal(ip_endpoint_parse("127.0.0.1:9", &stranger_ep), 0);
	uint64_t rx_before = peer_status(b, pa).rx_bytes;
	assert_int_equal(wg_device_receive_relayed(b, &stranger_ep, relay.captured, clen), -EINVAL);
	assert_int_equal(wg_device_receive_relayed(b, &server, (const uint8_t *)"junk", 4), -EINVAL);
	assert_int_equal(peer_status(b, pa).rx_bytes, rx_before);
	assert_int_equal(wg_device_receive_relayed(b, &server, relay.captured, clen), 0);
	WAIT_FOR(peer_status(b, pa).rx_bytes > rx_before);
	assert_false(peer_status(b, pa).has_endpoint);

	/* Back to UDP; the session stays (the tunnel above does not care which path it rides). */
	assert_int_equal(wg_peer_set_relay_path(a, pb, NULL, 0), 0);
	assert_int_not_equal(peer_status(a, pb).last_handshake_sec, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(relayed_both_ways, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
