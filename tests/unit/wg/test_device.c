// SPDX-License-Identifier: MIT
/*
 * The library API (wg.h) end to end: two devices in one process, in a
 * private network namespace of the test's own (unshare), talking over
 * loopback. Checks handshake and endpoint callbacks, status snapshots, peer
 * and allowed-IP updates, the non-WireGuard datagram hook and raw sends.
 * Skipped when not root.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "wg/wg.h"
#include "test_helpers.h"

struct events {
	atomic_int handshakes, endpoints, datagrams, stun;
};

static void on_handshake(void *user, const uint8_t key[WG_KEY_LEN])
{
	atomic_fetch_add(&((struct events *)user)->handshakes, 1);
}

static void on_endpoint(void *user, const uint8_t key[WG_KEY_LEN], const struct ip_endpoint *ep)
{
	atomic_fetch_add(&((struct events *)user)->endpoints, 1);
}

static void on_datagram(void *user, const uint8_t *buf, size_t len, const struct ip_endpoint *from)
{
	struct events *e = user;
	atomic_fetch_add(&e->datagrams, 1);
	if (wg_is_stun(buf, len))
		atomic_fetch_add(&e->stun, 1);
}

static int udp_socket(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void send_udp(int fd, const char *ip, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &sin.sin_addr);
	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&sin, sizeof(sin)), (ssize_t)len);
}

static bool handshook(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	struct wg_device_status *st;
	bool ok;
	assert_int_equal(wg_device_status(dev, &st), 0);
	struct wg_peer_status *p = find_peer(st, key);
	ok = p && p->last_handshake_sec != 0;
	wg_device_status_free(st);
	return ok;
}

/* Owned by the test; the teardown releases them even after a failed assertion. */
static char dir[] = "/tmp/wgtest-XXXXXX";
static struct wg_device *a, *b;
static int fd = -1;

static int teardown(void **state)
{
	char path[128];
	wg_device_destroy(a);
	wg_device_destroy(b);
	a = b = NULL;
	if (fd >= 0)
		close(fd);
	fd = -1;
	if (strcmp(dir, "/tmp/wgtest-XXXXXX") != 0) {
		/* Normally gone already: destroy removes the sockets. */
		for (char c = 'a'; c <= 'b'; c++) {
			snprintf(path, sizeof(path), "%s/wgu%d%c.sock", dir, getpid() % 100000, c);
			unlink(path);
		}
		rmdir(dir);
	}
	return 0;
}

static void two_devices(void **state)
{
	char sock[128], cmd[512];
	uint8_t ka[32], pa[32], kb[32], pb[32];
	static struct events ea, eb;
	char ifa[16], ifb[16];
	struct wg_device_config ca = { 0 }, cb = { 0 };
	struct wg_device_status *st;

	if (geteuid() != 0)
		skip();
	/* A namespace of our own: nothing here touches the host's network. */
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	assert_int_equal(system("ip link set lo up"), 0);
	assert_non_null(mkdtemp(dir));
	snprintf(ifa, sizeof(ifa), "wgu%da", getpid() % 100000);
	snprintf(ifb, sizeof(ifb), "wgu%db", getpid() % 100000);

	assert_int_equal(wg_keypair_generate(ka, pa), 0);
	assert_int_equal(wg_keypair_generate(kb, pb), 0);
	uint8_t check[32];
	assert_int_equal(wg_public_from_private(ka, check), 0);
	assert_memory_equal(check, pa, 32);

	ca = (struct wg_device_config){ .ifname = ifa, .private_key = ka, .uapi_dir = dir,
					 .on_handshake = on_handshake, .on_endpoint = on_endpoint,
					 .on_datagram = on_datagram, .user = &ea };
	cb = (struct wg_device_config){ .ifname = ifb, .private_key = kb, .uapi_dir = dir,
					 .on_handshake = on_handshake, .on_endpoint = on_endpoint,
					 .on_datagram = on_datagram, .user = &eb };
	assert_int_equal(wg_device_create(&ca, &a), 0);
	assert_int_equal(wg_device_create(&cb, &b), 0);
	assert_string_equal(wg_device_ifname(a), ifa);
	/* A bad name is refused with -EINVAL. */
	struct wg_device *bad;
	struct wg_device_config cbad = { .ifname = "this-name-is-too-long" };
	assert_int_equal(wg_device_create(&cbad, &bad), -EINVAL);

	/* Fixed ports via the API. */
	assert_int_equal(wg_device_set_listen_port(a, 0), 0);
	uint16_t port_a = wg_device_listen_port(a), port_b = wg_device_listen_port(b);
	assert_true(port_a && port_b);

	struct ip_prefix aip_a, aip_b;
	assert_int_equal(ip_prefix_parse("10.99.0.1/32", &aip_a), 0);
	assert_int_equal(ip_prefix_parse("10.99.0.2/32", &aip_b), 0);
	struct wg_peer_config peer_b = { .allowed_ips = &aip_b, .n_allowed_ips = 1, .set_endpoint = true,
					 .replace_allowed_ips = true };
	memcpy(peer_b.public_key, pb, 32);
	assert_int_equal(ip_endpoint_parse("127.0.0.1:0", &peer_b.endpoint), 0);
	peer_b.endpoint.port = port_b;
	struct wg_peer_config peer_a = { .allowed_ips = &aip_a, .n_allowed_ips = 1 };
	memcpy(peer_a.public_key, pa, 32);
	assert_int_equal(wg_peer_upsert(a, &peer_b), 0);
	assert_int_equal(wg_peer_upsert(b, &peer_a), 0);
	/* update_only for an unknown peer changes nothing. */
	struct wg_peer_config ghost = { .update_only = true };
	memset(ghost.public_key, 7, 32);
	assert_int_equal(wg_peer_upsert(a, &ghost), 0);

	snprintf(cmd, sizeof(cmd),
		 "ip link set %s up && ip addr add 10.99.0.1/32 dev %s && ip route add 10.99.0.2/32 dev %s && "
		 "ip link set %s up",
		 ifa, ifa, ifa, ifb);
	assert_int_equal(system(cmd), 0);

	/* A datagram routed into device a starts the handshake with b. */
	uint16_t p;
	fd = udp_socket(&p);
	/* (From an unbound socket: a loopback source cannot leave through a TUN.) */
	int out = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(out >= 0);
	send_udp(out, "10.99.0.2", 9, "hello", 5);
	close(out);
	WAIT_FOR(handshook(a, pb) && handshook(b, pa));
	WAIT_FOR(atomic_load(&ea.handshakes) >= 1 && atomic_load(&eb.handshakes) >= 1);
	/* b learnt a's endpoint from its handshake. */
	assert_true(atomic_load(&eb.endpoints) >= 1);

	assert_int_equal(wg_device_status(b, &st), 0);
	struct wg_peer_status *ps = find_peer(st, pa);
	assert_non_null(ps);
	assert_true(ps->has_endpoint);
	assert_int_equal(ps->endpoint.port, port_a);
	assert_int_equal(ps->n_allowed_ips, 1);
	assert_true(ps->rx_bytes > 0 && ps->tx_bytes > 0);
	assert_true(llabs((long long)ps->last_handshake_sec - (long long)time(NULL)) < 30);
	assert_int_equal(st->listen_port, port_b);
	wg_device_status_free(st);

	/* Allowed IPs: add, remove, remove again. */
	struct ip_prefix extra;
	assert_int_equal(ip_prefix_parse("fd99::/64", &extra), 0);
	assert_int_equal(wg_peer_add_allowed_ip(b, pa, &extra), 0);
	assert_int_equal(wg_device_status(b, &st), 0);
	assert_int_equal(find_peer(st, pa)->n_allowed_ips, 2);
	wg_device_status_free(st);
	assert_int_equal(wg_peer_remove_allowed_ip(b, pa, &extra), 0);
	assert_int_equal(wg_peer_remove_allowed_ip(b, pa, &extra), -ENOENT);

	/* Non-WireGuard datagrams reach the hook; STUN is recognised. */
	uint8_t stun[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
	send_udp(fd, "127.0.0.1", port_b, stun, sizeof(stun));
	send_udp(fd, "127.0.0.1", port_b, "junk", 4);
	WAIT_FOR(atomic_load(&eb.datagrams) >= 2 && atomic_load(&eb.stun) == 1);

	/* Raw sends leave from the device's own port. */
	struct ip_endpoint to;
	char got[16];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	assert_int_equal(ip_endpoint_parse("127.0.0.1:1", &to), 0);
	to.port = p;
	assert_int_equal(wg_device_send_raw(a, &to, "raw!", 4), 0);
	assert_int_equal(recvfrom(fd, got, sizeof(got), 0, (struct sockaddr *)&from, &fl), 4);
	assert_memory_equal(got, "raw!", 4);
	assert_int_equal(ntohs(from.sin_port), port_a);

	/* Removing a peer; a second time it is gone. */
	assert_int_equal(wg_peer_remove(b, pa), 0);
	assert_int_equal(wg_peer_remove(b, pa), -ENOENT);
	assert_int_equal(wg_device_status(b, &st), 0);
	assert_int_equal(st->n_peers, 0);
	wg_device_status_free(st);

	snprintf(sock, sizeof(sock), "%s/%s.sock", dir, ifa);
	struct stat sb;
	assert_int_equal(stat(sock, &sb), 0);
	wg_device_destroy(a);
	wg_device_destroy(b);
	a = b = NULL;
	/* Destroy removed the sockets. */
	assert_int_not_equal(stat(sock, &sb), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(two_devices, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
