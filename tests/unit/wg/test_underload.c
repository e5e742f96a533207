// SPDX-License-Identifier: MIT
/*
 * Cookies under load, through the device's receive path: with the device
 * under load, an initiation carrying only MAC1 is answered by a cookie
 * reply and not processed; the initiator's retry with MAC2 (from the
 * cookie) is answered with a handshake response. Over loopback UDP.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_device.h"
#include "test_helpers.h"

static void cookie_under_load(void **state)
{
	struct wg_device *dev = fake_device();
	struct noise_identity b;
	struct noise_handshake hs;
	struct wg_cookie_maker maker;
	struct ip_endpoint dev_ep, b_ep;
	uint8_t kb[32], buf[256];
	struct wg_msg_initiation init;

	/* The device: a real loopback socket, under load from the first handshake. */
	dev->udp_fd[0] = bound_udp(&dev_ep);
	assert_int_equal(pthread_mutex_init(&dev->cookie_lock, NULL), 0);
	assert_int_equal(wg_cookie_checker_init(&dev->cookie_checker, dev->identity.public_key), 0);
	assert_int_equal(wg_ratelimit_init(&dev->ratelimit, 0), 0);

	/* The initiator B, known to the device. */
	wg_x25519_generate(kb);
	assert_int_equal(noise_identity_set(&b, kb), 0);
	struct wg_peer *peer = wg_peer_create(dev, b.public_key);
	assert_non_null(peer);
	int bfd = bound_udp(&b_ep);
	noise_handshake_init(&hs, &b, dev->identity.public_key, NULL);
	assert_int_equal(wg_cookie_maker_init(&maker, dev->identity.public_key), 0);

	/* 1: MAC1 only -> a cookie reply, no handshake state on the device. */
	uint64_t now = wg_now_ns();
	assert_int_equal(noise_create_initiation(&init, &hs, &b, 0x77, wg_unix_now_ns()), 0);
	assert_int_equal(wg_cookie_add_macs(&maker, (uint8_t *)&init, sizeof(init), now), 0);
	wg_receive_datagram(dev, NULL, (uint8_t *)&init, sizeof(init), &b_ep);
	assert_int_equal(recv(bfd, buf, sizeof(buf), 0), WG_MSG_COOKIE_LEN);
	assert_int_equal(wg_message_classify(buf, WG_MSG_COOKIE_LEN), WG_MSG_COOKIE);
	assert_int_equal(le32toh(((struct wg_msg_cookie *)buf)->receiver_index), 0x77);
	assert_null(peer->kp_next);
	assert_int_equal(atomic_load(&peer->rx_bytes), 0);

	/* 2: B takes the cookie and retries: now MAC2 is valid -> a handshake response. */
	assert_int_equal(wg_cookie_consume_reply(&maker, (struct wg_msg_cookie *)buf, now), 0);
	assert_int_equal(noise_create_initiation(&init, &hs, &b, 0x78, wg_unix_now_ns() + 1000000000), 0);
	assert_int_equal(wg_cookie_add_macs(&maker, (uint8_t *)&init, sizeof(init), now), 0);
	wg_receive_datagram(dev, NULL, (uint8_t *)&init, sizeof(init), &b_ep);
	assert_int_equal(recv(bfd, buf, sizeof(buf), 0), WG_MSG_RESPONSE_LEN);
	assert_int_equal(noise_consume_response((struct wg_msg_response *)buf, &hs, &b), 0);
	assert_non_null(peer->kp_next);
	/* The device learnt B's address from the authenticated initiation. */
	assert_true(peer->has_endpoint);
	assert_int_equal(peer->endpoint.port, b_ep.port);

	/* 3: a bad MAC1 is dropped without any answer. */
	init.macs.mac1[0] ^= 1;
	wg_receive_datagram(dev, NULL, (uint8_t *)&init, sizeof(init), &b_ep);
	assert_int_equal(recv(bfd, buf, sizeof(buf), MSG_DONTWAIT), -1);

	close(bfd);
	close(dev->udp_fd[0]);
	wg_ratelimit_destroy(&dev->ratelimit);
	pthread_mutex_destroy(&dev->cookie_lock);
	noise_handshake_clear(&hs);
	fake_device_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cookie_under_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
