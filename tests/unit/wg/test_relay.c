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
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "wg/messages.h"
#include "wg/wg.h"
#include "test_helpers.h"

#define CHANNEL_A 0x4001 /* a's channel towards b, on the server */
#define CHANNEL_B 0x4abc /* b's channel towards a */

static atomic_int hook_channel_data;

static void on_datagram(void *user, const uint8_t *buf, size_t len, const struct ip_endpoint *from)
{
	if (len >= 4 && (buf[0] & 0xf0) == 0x40)
		atomic_fetch_add(&hook_channel_data, 1);
}

/* The stand-in TURN server: one socket, forwarding between the two devices' channels. */
struct relay {
	int fd, stop_fd;
	struct sockaddr_in a, b; /* the devices' ports */
	atomic_int forwarded, malformed, wrong_channel;
	/* Set: the next datagram from a is kept here (its ChannelData data) instead of forwarded. */
	atomic_bool capture;
	uint8_t captured[2048];
	atomic_size_t captured_len;
	pthread_t thread;
};

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	uint8_t buf[2048];
	struct pollfd pfd[2] = { { .fd = r->fd, .events = POLLIN }, { .fd = r->stop_fd, .events = POLLIN } };
	while (poll(pfd, 2, -1) > 0 && !pfd[1].revents) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(r->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			continue;
		bool from_a = from.sin_port == r->a.sin_port;
		uint16_t channel = (uint16_t)(buf[0] << 8 | buf[1]), dlen = (uint16_t)(buf[2] << 8 | buf[3]);
		/* Exactly one ChannelData per datagram, with no padding: what our devices send. */
		if (n < 4 || (size_t)dlen != (size_t)n - 4 || !wg_message_classify(buf + 4, dlen)) {
			atomic_fetch_add(&r->malformed, 1);
			continue;
		}
		if (channel != (from_a ? CHANNEL_A : CHANNEL_B)) {
			atomic_fetch_add(&r->wrong_channel, 1);
			continue;
		}
		if (from_a && atomic_load(&r->capture)) {
			memcpy(r->captured, buf + 4, dlen);
			atomic_store(&r->capture, false);
			atomic_store(&r->captured_len, dlen);
			continue;
		}
		uint16_t out = from_a ? CHANNEL_B : CHANNEL_A;
		buf[0] = (uint8_t)(out >> 8);
		buf[1] = (uint8_t)out;
		struct sockaddr_in *to = from_a ? &r->b : &r->a;
		if (sendto(r->fd, buf, (size_t)n, 0, (struct sockaddr *)to, sizeof(*to)) == n)
			atomic_fetch_add(&r->forwarded, 1);
	}
	return NULL;
}

static struct wg_device *a, *b;
static struct relay relay = { .fd = -1, .stop_fd = -1 };
static bool relay_running;

static int teardown(void **state)
{
	if (relay_running) {
		uint64_t one = 1;
		assert_int_equal(write(relay.stop_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
		pthread_join(relay.thread, NULL);
		relay_running = false;
	}
	wg_device_destroy(a);
	wg_device_destroy(b);
	a = b = NULL;
	if (relay.fd >= 0)
		close(relay.fd);
	if (relay.stop_fd >= 0)
		close(relay.stop_fd);
	relay.fd = relay.stop_fd = -1;
	return 0;
}

static void loopback(struct sockaddr_in *sin, uint16_t port)
{
	*sin = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

static void relayed_both_ways(void **state)
{
	uint8_t ka[32], pa[32], kb[32], pb[32];
	char ifa[16], ifb[16], cmd[512];
	struct ip_endpoint server;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	if (geteuid() != 0)
		skip();
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	assert_int_equal(system("ip link set lo up"), 0);
	snprintf(ifa, sizeof(ifa), "wgr%da", getpid() % 100000);
	snprintf(ifb, sizeof(ifb), "wgr%db", getpid() % 100000);
	assert_int_equal(wg_keypair_generate(ka, pa), 0);
	assert_int_equal(wg_keypair_generate(kb, pb), 0);
	struct wg_device_config ca = { .ifname = ifa, .private_key = ka, .no_uapi = true, .on_datagram = on_datagram };
	struct wg_device_config cb = { .ifname = ifb, .private_key = kb, .no_uapi = true, .on_datagram = on_datagram };
	assert_int_equal(wg_device_create(&ca, &a), 0);
	assert_int_equal(wg_device_create(&cb, &b), 0);

	relay.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	relay.stop_fd = eventfd(0, EFD_CLOEXEC);
	/*
	 * Room for the whole burst below, as the devices' own sockets have: with
	 * the default buffer (about 90 such datagrams) the burst overflowed this
	 * socket whenever the machine was loaded and this thread ran late, and
	 * the namespace's UDP RcvbufErrors counted what the devices never saw.
	 */
	int bufsize = 4 << 20;
	assert_int_equal(setsockopt(relay.fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof(bufsize)), 0);
	loopback(&sin, 0);
	assert_int_equal(bind(relay.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(relay.fd, (struct sockaddr *)&sin, &sl), 0);
	assert_int_equal(ip_endpoint_from_sockaddr((struct sockaddr *)&sin, &server), 0);
	loopback(&relay.a, wg_device_listen_port(a));
	loopback(&relay.b, wg_device_listen_port(b));
	assert_int_equal(pthread_create(&relay.thread, NULL, relay_main, &relay), 0);
	relay_running = true;

	/* Peers with no endpoint at all: the relay is the only way. */
	struct ip_prefix aip_a, aip_b;
	assert_int_equal(ip_prefix_parse("10.98.0.1/32", &aip_a), 0);
	assert_int_equal(ip_prefix_parse("10.98.0.2/32", &aip_b), 0);
	struct wg_peer_config peer_b = { .allowed_ips = &aip_b, .n_allowed_ips = 1 };
	struct wg_peer_config peer_a = { .allowed_ips = &aip_a, .n_allowed_ips = 1 };
	memcpy(peer_b.public_key, pb, 32);
	memcpy(peer_a.public_key, pa, 32);
	assert_int_equal(wg_peer_upsert(a, &peer_b), 0);
	assert_int_equal(wg_peer_upsert(b, &peer_a), 0);

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
	int out = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9) };
	inet_pton(AF_INET, "10.98.0.2", &dst.sin_addr);
	static uint8_t payload[1200];
	for (int i = 0; i < 200; i++)
		sendto(out, payload, sizeof(payload), 0, (struct sockaddr *)&dst, sizeof(dst));
	close(out);
	WAIT_FOR(peer_status(b, pa).rx_packets >= before + 150); /* a burst on loopback may lose a few */

	assert_int_equal(atomic_load(&relay.malformed), 0);
	assert_int_equal(atomic_load(&relay.wrong_channel), 0);
	assert_true(atomic_load(&relay.forwarded) > 150);
	/* Neither device took the server for its peer's endpoint. */
	assert_false(peer_status(a, pb).has_endpoint);
	assert_false(peer_status(b, pa).has_endpoint);

	/* ChannelData from an address that is no TURN server of b: not unwrapped, the hook gets it. */
	int stranger = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint8_t cd[4 + WG_MSG_DATA_MIN_LEN] = { 0x40, 0x01, 0, WG_MSG_DATA_MIN_LEN, WG_MSG_DATA };
	struct sockaddr_in to_b;
	loopback(&to_b, wg_device_listen_port(b));
	assert_int_equal(sendto(stranger, cd, sizeof(cd), 0, (struct sockaddr *)&to_b, sizeof(to_b)), (ssize_t)sizeof(cd));
	close(stranger);
	WAIT_FOR(atomic_load(&hook_channel_data) == 1);

	/*
	 * A Data indication's contents (the relay's fallback before a channel is
	 * bound), handed over by the NAT agent: b takes a's next message from
	 * its TURN server, from nobody else.
	 */
	atomic_store(&relay.capture, true);
	out = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(sendto(out, payload, 100, 0, (struct sockaddr *)&dst, sizeof(dst)), 100);
	close(out);
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
