// SPDX-License-Identifier: MIT
/*
 * The demultiplexing of a device's UDP port (socket.h): WireGuard, STUN,
 * TURN ChannelData or none of them, from the first bytes and the size alone; and the kernel's
 * steering of data and handshakes onto separate sockets of the port.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "wg/messages.h"
#include "wg/socket.h"
#include "wg/wg.h"

/* A STUN Binding Request of len bytes: header plus len - 20 of attributes. */
static void stun_message(uint8_t *buf, size_t len)
{
	memset(buf, 0xee, len);
	buf[0] = 0x00;
	buf[1] = 0x01;
	buf[2] = (uint8_t)((len - 20) >> 8);
	buf[3] = (uint8_t)(len - 20);
	buf[4] = 0x21;
	buf[5] = 0x12;
	buf[6] = 0xa4;
	buf[7] = 0x42;
}

static void wireguard_by_type_and_size(void **state)
{
	uint8_t buf[256] = { 0 };
	const struct {
		uint8_t type;
		size_t len;
	} ok[] = { { 1, WG_MSG_INITIATION_LEN }, { 2, WG_MSG_RESPONSE_LEN }, { 3, WG_MSG_COOKIE_LEN },
		   { 4, WG_MSG_DATA_MIN_LEN }, { 4, 200 } };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		memset(buf, 0xab, sizeof(buf));
		buf[0] = ok[i].type;
		buf[1] = buf[2] = buf[3] = 0;
		assert_int_equal(wg_datagram_classify(buf, ok[i].len), WG_DGRAM_WIREGUARD);
		/* A reserved byte set: not WireGuard. */
		buf[2] = 1;
		assert_int_equal(wg_datagram_classify(buf, ok[i].len), WG_DGRAM_OTHER);
	}
	buf[1] = buf[2] = buf[3] = 0;
	/* The size must fit the type. */
	buf[0] = 1;
	assert_int_equal(wg_datagram_classify(buf, WG_MSG_INITIATION_LEN - 1), WG_DGRAM_OTHER);
	assert_int_equal(wg_datagram_classify(buf, WG_MSG_INITIATION_LEN + 1), WG_DGRAM_OTHER);
	buf[0] = 2;
	assert_int_equal(wg_datagram_classify(buf, WG_MSG_INITIATION_LEN), WG_DGRAM_OTHER);
	buf[0] = 3;
	assert_int_equal(wg_datagram_classify(buf, WG_MSG_COOKIE_LEN + 4), WG_DGRAM_OTHER);
	buf[0] = 4;
	assert_int_equal(wg_datagram_classify(buf, WG_MSG_DATA_MIN_LEN - 1), WG_DGRAM_OTHER);
	/* Types 0 and 5..255 are nothing. */
	buf[0] = 0;
	assert_int_equal(wg_datagram_classify(buf, 32), WG_DGRAM_OTHER);
	buf[0] = 5;
	assert_int_equal(wg_datagram_classify(buf, 32), WG_DGRAM_OTHER);
}

static void stun_by_header(void **state)
{
	uint8_t buf[128];
	stun_message(buf, 20);
	assert_int_equal(wg_datagram_classify(buf, 20), WG_DGRAM_STUN);
	assert_true(wg_is_stun(buf, 20));
	stun_message(buf, 48);
	assert_int_equal(wg_datagram_classify(buf, 48), WG_DGRAM_STUN);
	/* Other classes and methods (a success response, TURN requests) are STUN too. */
	buf[0] = 0x01;
	buf[1] = 0x01;
	assert_int_equal(wg_datagram_classify(buf, 48), WG_DGRAM_STUN);

	/* Top two bits set (ChannelData, or garbage): not STUN. */
	stun_message(buf, 48);
	buf[0] = 0x40;
	assert_int_equal(wg_datagram_classify(buf, 48), WG_DGRAM_OTHER);
	/* Wrong magic cookie. */
	stun_message(buf, 48);
	buf[7] = 0x43;
	assert_int_equal(wg_datagram_classify(buf, 48), WG_DGRAM_OTHER);
	/* Length field that disagrees with the size. */
	stun_message(buf, 48);
	assert_int_equal(wg_datagram_classify(buf, 52), WG_DGRAM_OTHER);
	assert_false(wg_is_stun(buf, 44));
	/* Size not a multiple of 4, even with a matching length field. */
	stun_message(buf, 47);
	assert_int_equal(wg_datagram_classify(buf, 47), WG_DGRAM_OTHER);
	/* Shorter than a header. */
	stun_message(buf, 20);
	assert_int_equal(wg_datagram_classify(buf, 16), WG_DGRAM_OTHER);
}

static void short_and_empty(void **state)
{
	uint8_t buf[4] = { 1, 0, 0, 0 };
	assert_int_equal(wg_datagram_classify(buf, 0), WG_DGRAM_OTHER);
	assert_int_equal(wg_datagram_classify(buf, 3), WG_DGRAM_OTHER);
	assert_int_equal(wg_datagram_classify(buf, 4), WG_DGRAM_OTHER);
	assert_int_equal(wg_datagram_classify((const uint8_t *)"junk", 4), WG_DGRAM_OTHER);
}

/* TURN ChannelData: byte 0 0x40-0x4F and a length that fills the datagram (padding up to 3 bytes). */
static void channel_data_by_header(void **state)
{
	uint8_t buf[64] = { 0x40, 0x00, 0x00, 32, WG_MSG_DATA };
	assert_int_equal(wg_datagram_classify(buf, 36), WG_DGRAM_CHANNEL_DATA);
	assert_int_equal(wg_datagram_classify(buf, 39), WG_DGRAM_CHANNEL_DATA); /* padded */
	assert_int_equal(wg_datagram_classify(buf, 40), WG_DGRAM_OTHER);	 /* more than padding */
	assert_int_equal(wg_datagram_classify(buf, 35), WG_DGRAM_OTHER);	 /* truncated */
	buf[0] = 0x4f;
	assert_int_equal(wg_datagram_classify(buf, 36), WG_DGRAM_CHANNEL_DATA);
	buf[0] = 0x50; /* beyond the channel range */
	assert_int_equal(wg_datagram_classify(buf, 36), WG_DGRAM_OTHER);
	buf[0] = 0x40;
	buf[3] = 0; /* empty data is well-formed ChannelData */
	assert_int_equal(wg_datagram_classify(buf, 4), WG_DGRAM_CHANNEL_DATA);
}

static void close_pair(int fds[2], int hs[2])
{
	for (int i = 0; i < 2; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		if (hs[i] >= 0)
			close(hs[i]);
	}
}

/* Whether a datagram arrives on fd within 2 s (consumed), or with no wait at all. */
static bool received(int fd, bool wait)
{
	uint8_t buf[256];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (wait && poll(&pfd, 1, 2000) != 1)
		return false;
	return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0;
}

/*
 * The kernel steers by message type: data and cookie replies to the data
 * socket, handshakes and STUN to the handshake socket, so a handshake
 * flood cannot fill the data socket's queue.
 */
static void kernel_steers_handshakes_apart(void **state)
{
	int fds[2], hs[2], client = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint16_t port;
	uint8_t init[WG_MSG_INITIATION_LEN] = { WG_MSG_INITIATION }, data[WG_MSG_DATA_MIN_LEN + 16] = { WG_MSG_DATA };
	uint8_t cookie[WG_MSG_COOKIE_LEN] = { WG_MSG_COOKIE }, resp[WG_MSG_RESPONSE_LEN] = { WG_MSG_RESPONSE };
	uint8_t stun[20];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	assert_int_equal(wg_socket_open_pair(0, 0, fds, hs, &port), 0);
	assert_true(fds[0] >= 0);
	assert_true(hs[0] >= 0);
	to.sin_port = htons(port);
	stun_message(stun, sizeof(stun));
	const struct {
		const uint8_t *buf;
		size_t len;
		bool to_data;
	} cases[] = { { data, sizeof(data), true },  { cookie, sizeof(cookie), true },
		      { init, sizeof(init), false }, { resp, sizeof(resp), false },
		      { stun, sizeof(stun), false } };
	for (int round = 0; round < 3; round++) /* not luck of the hash: every time */
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			assert_int_equal(sendto(client, cases[i].buf, cases[i].len, 0, (struct sockaddr *)&to,
						sizeof(to)), (ssize_t)cases[i].len);
			/* Once it is on the one, it cannot also be on the other. */
			int want = cases[i].to_data ? fds[0] : hs[0], other = cases[i].to_data ? hs[0] : fds[0];
			assert_true(received(want, true));
			assert_false(received(other, false));
		}
	close(client);
	close_pair(fds, hs);
}

/* Relayed WireGuard (ChannelData, mostly data) is queued with the data, not behind handshakes. */
static void kernel_steers_channel_data_to_data(void **state)
{
	int fds[2], hs[2], client = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint16_t port;
	uint8_t cd[4 + WG_MSG_DATA_MIN_LEN] = { 0x40, 0x00, 0x00, WG_MSG_DATA_MIN_LEN, WG_MSG_DATA };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	assert_int_equal(wg_socket_open_pair(0, 0, fds, hs, &port), 0);
	to.sin_port = htons(port);
	for (uint8_t first = 0x40; first <= 0x4f; first += 0x0f) {
		cd[0] = first;
		assert_int_equal(sendto(client, cd, sizeof(cd), 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)sizeof(cd));
		assert_true(received(fds[0], true));
		assert_false(received(hs[0], false));
	}
	cd[0] = 0x50; /* not ChannelData: the other socket */
	assert_int_equal(sendto(client, cd, sizeof(cd), 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)sizeof(cd));
	assert_true(received(hs[0], true));
	close(client);
	close_pair(fds, hs);
}

/*
 * A port is one device's: a second pair on it fails, although both pairs
 * set SO_REUSEPORT (as another device of this process, or another process
 * of the same user, would), and the first pair keeps its traffic.
 */
static void port_stays_exclusive(void **state)
{
	int fds[2], hs[2], fds2[2] = { -1, -1 }, hs2[2] = { -1, -1 }, plain;
	uint16_t port, port2 = 0;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);

	assert_int_equal(wg_socket_open_pair(0, 0, fds, hs, &port), 0);
	assert_int_equal(wg_socket_open_pair(port, 0, fds2, hs2, &port2), -EADDRINUSE);
	close_pair(fds, hs);
	/* Once it is free again, the port can be had. */
	assert_int_equal(wg_socket_open_pair(port, 0, fds, hs, &port2), 0);
	assert_int_equal(port2, port);
	close_pair(fds, hs);

	/* A port held by an ordinary socket is refused too. */
	plain = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(plain, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(plain, (struct sockaddr *)&sin, &sl), 0);
	assert_int_equal(wg_socket_open_pair(ntohs(sin.sin_port), 0, fds, hs, &port2), -EADDRINUSE);
	close(plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wireguard_by_type_and_size),
		cmocka_unit_test(stun_by_header),
		cmocka_unit_test(short_and_empty),
		cmocka_unit_test(kernel_steers_handshakes_apart),
		cmocka_unit_test(channel_data_by_header),
		cmocka_unit_test(kernel_steers_channel_data_to_data),
		cmocka_unit_test(port_stays_exclusive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
