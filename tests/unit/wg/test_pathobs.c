// SPDX-License-Identifier: MIT
/*
 * What the device tells NAT traversal's path selection (pathobs.c): two
 * devices in a private network namespace, both on the relayed path through
 * a TURN server that this test plays by hand (it forwards ChannelData
 * between their channels). A handshake through the relay proves nothing
 * about the direct path; a direct probe, answered by the path it came (not
 * through the relay the answering peer is on), proves it for the prober,
 * and the prober's first packet sent directly in that session proves it
 * for the other side. Skipped when not root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "test_helpers.h"
#include "wg/wg.h"

#define CHANNEL_A 0x4001 /* a's channel towards b */
#define CHANNEL_B 0x4002 /* b's channel towards a */

static struct wg_device *a, *b;
static int server_fd = -1;
static struct sockaddr_in port_a, port_b;
static uint8_t pa[32], pb[32];

static int teardown(void **state)
{
	wg_device_destroy(a);
	wg_device_destroy(b);
	a = b = NULL;
	if (server_fd >= 0)
		close(server_fd);
	server_fd = -1;
	return 0;
}

/* The TURN server's part for ms milliseconds: forwards what arrives, with the other device's channel. */
static void relay_pump(int ms)
{
	struct pollfd pfd = { .fd = server_fd, .events = POLLIN };
	uint8_t buf[2048];
	double end = now_s() + ms / 1000.0;
	for (double left = ms / 1000.0; left > 0; left = end - now_s()) {
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(server_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 4)
			continue;
		bool from_a = from.sin_port == port_a.sin_port;
		uint16_t out = from_a ? CHANNEL_B : CHANNEL_A;
		buf[0] = (uint8_t)(out >> 8);
		buf[1] = (uint8_t)out;
		struct sockaddr_in *to = from_a ? &port_b : &port_a;
		sendto(server_fd, buf, (size_t)n, 0, (struct sockaddr *)to, sizeof(*to));
	}
}

/* Polls cond for up to 10 s, relaying meanwhile. */
#define PUMP_UNTIL(cond)                                                                           \
	do {                                                                                       \
		double deadline_ = now_s() + 10;                                                   \
		while (!(cond) && now_s() < deadline_)                                             \
			relay_pump(20);                                                            \
		assert_true(cond);                                                                 \
	} while (0)

static void setup_relayed_pair(void)
{
	char ifa[16], ifb[16];
	struct ip_endpoint server;

	device_pair_create("wgo", &a, &b, pa, pb, ifa, ifb);
	loopback_sin(&port_a, wg_device_listen_port(a));
	loopback_sin(&port_b, wg_device_listen_port(b));
	server_fd = bound_udp(&server);

	device_pair_peers(a, b, pa, pb, NULL, NULL);
	assert_int_equal(wg_device_set_relay_servers(a, &server, 1), 0);
	assert_int_equal(wg_device_set_relay_servers(b, &server, 1), 0);
	assert_int_equal(wg_peer_set_relay_path(a, pb, &server, CHANNEL_A), 0);
	assert_int_equal(wg_peer_set_relay_path(b, pa, &server, CHANNEL_B), 0);
}

static void a_direct_probe_proves_the_direct_path(void **state)
{
	if (geteuid() != 0)
		skip();
	setup_relayed_pair();

	/* A handshake (and a's confirming keepalive) through the relay: seen, but no proof. */
	assert_int_equal(wg_peer_initiate_handshake(a, pb), 0);
	PUMP_UNTIL(peer_status(b, pa).relay_rx_ms[0] != 0 && peer_status(a, pb).relay_rx_ms[0] != 0);
	relay_pump(200); /* a's confirming keepalive; and WireGuard takes no two initiations within 20 ms */
	struct wg_peer_status sa = peer_status(a, pb), sb = peer_status(b, pa);
	assert_true(sa.relayed && sb.relayed);
	assert_int_equal(sa.direct_rx_ms, 0);
	assert_int_equal(sb.direct_rx_ms, 0);
	assert_int_equal(sa.direct_proven_ms, 0);
	assert_int_equal(sb.direct_proven_ms, 0);
	int64_t unix_now = (int64_t)time(NULL) * 1000;
	assert_true(sa.relay_rx_ms[0] > unix_now - 15000 && sa.relay_rx_ms[0] < unix_now + 2000);

	/* a probes b's port directly; b, still relayed, answers the way the probe came. */
	struct ip_endpoint b_direct;
	assert_int_equal(ip_endpoint_from_sockaddr((struct sockaddr *)&port_b, &b_direct), 0);
	assert_int_equal(wg_peer_probe(a, pb, &b_direct, 1), 1);
	PUMP_UNTIL(peer_status(a, pb).direct_proven_ms != 0);
	assert_true(peer_status(b, pa).direct_rx_ms != 0); /* the probe itself */
	/* a's keepalive confirming the session still went through the relay: no proof for b yet. */
	relay_pump(200);
	assert_int_equal(peer_status(b, pa).direct_proven_ms, 0);

	/* a moves to the direct path; its next packet there proves the path for b. */
	assert_int_equal(wg_peer_set_relay_path(a, pb, NULL, 0), 0);
	struct wg_peer_config keepalive = { .update_only = true, .set_persistent_keepalive = true,
					    .persistent_keepalive = 1 };
	memcpy(keepalive.public_key, pb, 32);
	assert_int_equal(wg_peer_upsert(a, &keepalive), 0);
	PUMP_UNTIL(peer_status(b, pa).direct_proven_ms != 0);
	sb = peer_status(b, pa);
	assert_true(sb.direct_proven_ms >= peer_status(a, pb).direct_proven_ms);
	assert_true(sb.relayed); /* b moves only when its own agent says so */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(a_direct_probe_proves_the_direct_path, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
