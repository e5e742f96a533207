/* SPDX-License-Identifier: MIT */
/*
 * Shared by the wg unit tests: hex decoding for known-answer vectors,
 * loopback UDP sockets standing in for a device's socket or a peer's, two
 * real devices in a namespace of their own, and polling for a condition and
 * a peer's status with them.
 */
#ifndef OVL_TEST_WG_HELPERS_H
#define OVL_TEST_WG_HELPERS_H

#include <arpa/inet.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/inet.h"
#include "wg/wg.h"

static inline size_t unhex(uint8_t *out, const char *hex)
{
	size_t n = strlen(hex) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* 127.0.0.1:port, for sendto() to a device's port. */
static inline void loopback_sin(struct sockaddr_in *sin, uint16_t port)
{
	*sin = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

/* A UDP socket on 127.0.0.1 (a free port, in *ep); receives time out after 5 s. */
static inline int bound_udp(struct ip_endpoint *ep)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(ip_endpoint_from_sockaddr((struct sockaddr *)&sin, ep), 0);
	return fd;
}

/*
 * In a new network namespace (loopback up; root only): devices *a and *b on
 * interfaces <tag><pid>a and <tag><pid>b (their names in ifa, ifb), no
 * UAPI socket, their public keys in pa and pb; both hand datagrams that are
 * no WireGuard message to hook (may be NULL).
 */
static inline void device_pair_create_hooked(const char *tag, wg_datagram_fn hook, struct wg_device **a,
					     struct wg_device **b, uint8_t pa[WG_KEY_LEN], uint8_t pb[WG_KEY_LEN],
					     char ifa[16], char ifb[16])
{
	uint8_t ka[WG_KEY_LEN], kb[WG_KEY_LEN];
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	assert_int_equal(system("ip link set lo up"), 0);
	snprintf(ifa, 16, "%s%da", tag, getpid() % 100000);
	snprintf(ifb, 16, "%s%db", tag, getpid() % 100000);
	assert_int_equal(wg_keypair_generate(ka, pa), 0);
	assert_int_equal(wg_keypair_generate(kb, pb), 0);
	struct wg_device_config ca = { .ifname = ifa, .private_key = ka, .no_uapi = true, .on_datagram = hook };
	struct wg_device_config cb = { .ifname = ifb, .private_key = kb, .no_uapi = true, .on_datagram = hook };
	assert_int_equal(wg_device_create(&ca, a), 0);
	assert_int_equal(wg_device_create(&cb, b), 0);
}

static inline void device_pair_create(const char *tag, struct wg_device **a, struct wg_device **b,
				      uint8_t pa[WG_KEY_LEN], uint8_t pb[WG_KEY_LEN], char ifa[16], char ifb[16])
{
	device_pair_create_hooked(tag, NULL, a, b, pa, pb, ifa, ifb);
}

/*
 * Each device of a pair made by device_pair_create* takes the other as its
 * peer (no endpoint), with allowed IPs b_ip on a and a_ip on b ("IP/len";
 * NULL: none).
 */
static inline void device_pair_peers(struct wg_device *a, struct wg_device *b, const uint8_t pa[WG_KEY_LEN],
				     const uint8_t pb[WG_KEY_LEN], const char *a_ip, const char *b_ip)
{
	struct ip_prefix aip_a, aip_b;
	struct wg_peer_config peer_b = { 0 }, peer_a = { 0 };
	if (a_ip) {
		assert_int_equal(ip_prefix_parse(a_ip, &aip_a), 0);
		peer_a.allowed_ips = &aip_a;
		peer_a.n_allowed_ips = 1;
	}
	if (b_ip) {
		assert_int_equal(ip_prefix_parse(b_ip, &aip_b), 0);
		peer_b.allowed_ips = &aip_b;
		peer_b.n_allowed_ips = 1;
	}
	memcpy(peer_b.public_key, pb, WG_KEY_LEN);
	memcpy(peer_a.public_key, pa, WG_KEY_LEN);
	assert_int_equal(wg_peer_upsert(a, &peer_b), 0);
	assert_int_equal(wg_peer_upsert(b, &peer_a), 0);
}

/* Monotonic seconds, for WAIT_FOR's deadline. */
static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Polls cond every 20 ms until it holds, failing the test after 10 s. */
#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		double deadline_ = now_s() + 10;                                                   \
		while (!(cond) && now_s() < deadline_)                                             \
			usleep(20000);                                                             \
		assert_true(cond);                                                                 \
	} while (0)

/* The status of the peer with key in st, or NULL. */
static inline struct wg_peer_status *find_peer(struct wg_device_status *st, const uint8_t key[WG_KEY_LEN])
{
	char b64[WG_KEY_B64_LEN + 1];
	key_to_base64(key, b64);
	for (size_t i = 0; i < st->n_peers; i++)
		if (strcmp(st->peers[i].public_key, b64) == 0)
			return &st->peers[i];
	return NULL;
}

/* A copy of the status of dev's peer with key (zeroed when there is none; allowed IPs dropped). */
static inline struct wg_peer_status peer_status(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	struct wg_device_status *st;
	struct wg_peer_status ps = { 0 };
	assert_int_equal(wg_device_status(dev, &st), 0);
	struct wg_peer_status *p = find_peer(st, key);
	if (p) {
		ps = *p;
		ps.allowed_ips = NULL;
	}
	wg_device_status_free(st);
	return ps;
}

#endif
