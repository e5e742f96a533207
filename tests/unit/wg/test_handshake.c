// SPDX-License-Identifier: MIT
/*
 * Handshake flood resistance: the bounded handshake queue (FIFO, drops
 * counted when full, "busy" when over 1/8 full, a stop that wakes the
 * worker), and on the receive path of a device under load: cookie replies
 * rate-limited per source, admitted handshakes queued for the worker rather
 * than processed on the receive thread.
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

#define SEC 1000000000ULL

static struct ip_endpoint endpoint(const char *s)
{
	struct ip_endpoint ep;
	assert_int_equal(ip_endpoint_parse(s, &ep), 0);
	return ep;
}

static void queue_fifo_bounded_busy(void **state)
{
	struct wg_handshake_queue q;
	struct wg_handshake_item out[8];
	struct ip_endpoint src = endpoint("192.0.2.1:5");
	uint8_t msg[WG_MSG_RESPONSE_LEN] = { 2 };
	uint64_t t = 10 * SEC;

	assert_int_equal(wg_handshake_queue_init(&q, 16), 0);
	assert_false(wg_handshake_queue_busy(&q, t));
	/* 2 of 16 is 1/8: not yet busy; the third makes it so, for a second. */
	for (uint8_t i = 0; i < 2; i++) {
		msg[4] = i;
		assert_true(wg_handshake_queue_push(&q, msg, sizeof(msg), &src, NULL, t));
	}
	assert_false(wg_handshake_queue_busy(&q, t));
	for (uint8_t i = 2; i < 16; i++) {
		msg[4] = i;
		assert_true(wg_handshake_queue_push(&q, msg, sizeof(msg), &src, NULL, t));
	}
	assert_true(wg_handshake_queue_busy(&q, t + SEC / 2));
	assert_false(wg_handshake_queue_busy(&q, t + 2 * SEC));
	/* Full: dropped and counted. */
	assert_false(wg_handshake_queue_push(&q, msg, sizeof(msg), &src, NULL, t));
	assert_int_equal(atomic_load(&q.dropped), 1);
	/* First in, first out, whole messages. */
	assert_int_equal(wg_handshake_queue_pop(&q, out, 8), 8);
	for (uint8_t i = 0; i < 8; i++) {
		assert_int_equal(out[i].len, WG_MSG_RESPONSE_LEN);
		assert_int_equal(out[i].buf[4], i);
		assert_int_equal(out[i].src.port, 5);
	}
	assert_true(wg_handshake_queue_push(&q, msg, sizeof(msg), &src, NULL, t));
	/* Stopped: the worker gets nothing more, even with messages queued. */
	wg_handshake_queue_stop(&q);
	assert_int_equal(wg_handshake_queue_pop(&q, out, 8), 0);
	wg_handshake_queue_destroy(&q);
}

/* How many datagrams wait on fd. */
static int drain(int fd)
{
	uint8_t buf[256];
	int n = 0;
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

/*
 * A device on a loopback socket with a handshake queue, under load from the
 * first handshake when load_threshold is 0.
 */
static struct wg_device *queue_device(struct ip_endpoint *dev_ep, uint32_t load_threshold)
{
	struct wg_device *dev = fake_device();
	dev->udp_fd[0] = bound_udp(dev_ep);
	assert_int_equal(pthread_mutex_init(&dev->cookie_lock, NULL), 0);
	assert_int_equal(wg_cookie_checker_init(&dev->cookie_checker, dev->identity.public_key), 0);
	assert_int_equal(wg_ratelimit_init(&dev->ratelimit, load_threshold), 0);
	assert_int_equal(wg_ratelimit_init(&dev->cookie_ratelimit, load_threshold), 0);
	dev->handshakes = malloc(sizeof(*dev->handshakes));
	assert_non_null(dev->handshakes);
	assert_int_equal(wg_handshake_queue_init(dev->handshakes, WG_HANDSHAKE_QUEUE_LEN), 0);
	return dev;
}

static void queue_device_free(struct wg_device *dev)
{
	close(dev->udp_fd[0]);
	wg_handshake_queue_destroy(dev->handshakes);
	free(dev->handshakes);
	wg_ratelimit_destroy(&dev->cookie_ratelimit);
	wg_ratelimit_destroy(&dev->ratelimit);
	pthread_mutex_destroy(&dev->cookie_lock);
	fake_device_free(dev);
}

/* An initiation with a valid MAC1 (random otherwise), as a flooder sends. */
static void mac1_only_initiation(struct wg_msg_initiation *msg, const uint8_t pub[WG_KEY_LEN])
{
	struct wg_cookie_maker maker;
	wg_random(msg, sizeof(*msg));
	msg->type = htole32(WG_MSG_INITIATION);
	assert_int_equal(wg_cookie_maker_init(&maker, pub), 0);
	assert_int_equal(wg_cookie_add_macs(&maker, (uint8_t *)msg, sizeof(*msg), wg_now_ns()), 0);
}

static void cookie_replies_limited_per_source(void **state)
{
	struct ip_endpoint dev_ep, flood_ep, other_ep;
	struct wg_device *dev = queue_device(&dev_ep, 0);
	int flood_fd = bound_udp(&flood_ep), other_fd = bound_udp(&other_ep);
	struct wg_msg_initiation msg;

	/* One source, 200 initiations at once: no more replies than its burst. */
	for (int i = 0; i < 200; i++) {
		mac1_only_initiation(&msg, dev->identity.public_key);
		wg_receive_datagram(dev, NULL, (uint8_t *)&msg, sizeof(msg), &flood_ep);
	}
	int replies = drain(flood_fd);
	assert_true(replies >= 1);
	assert_true(replies <= WG_RATELIMIT_BURST);
	assert_int_equal(atomic_load(&dev->cookie_replies_limited), 200 - replies);
	assert_int_equal(atomic_load(&dev->cookie_replies_sent), replies); /* the metrics' count */
	/* Nothing reached the handshake worker. */
	assert_int_equal(dev->handshakes->len, 0);

	/*
	 * Another source on the same loopback address shares the limit (per IP,
	 * as the kernel's): the limit is per address, not per port. A different
	 * address would get its own bucket (test_ratelimit.c).
	 */
	mac1_only_initiation(&msg, dev->identity.public_key);
	wg_receive_datagram(dev, NULL, (uint8_t *)&msg, sizeof(msg), &other_ep);
	assert_int_equal(drain(other_fd), 0);

	close(flood_fd);
	close(other_fd);
	queue_device_free(dev);
}

static void admitted_handshakes_wait_for_the_worker(void **state)
{
	struct ip_endpoint dev_ep, b_ep;
	struct wg_device *dev = queue_device(&dev_ep, 1000);
	int bfd = bound_udp(&b_ep);
	struct noise_identity b;
	struct noise_handshake hs;
	struct wg_cookie_maker maker;
	struct wg_msg_initiation init;
	struct wg_handshake_item item;
	uint8_t kb[32], buf[256];

	/* B, a peer of the device, initiates; the device is not under load. */
	wg_x25519_generate(kb);
	assert_int_equal(noise_identity_set(&b, kb), 0);
	struct wg_peer *peer = wg_peer_create(dev, b.public_key);
	assert_non_null(peer);
	noise_handshake_init(&hs, &b, dev->identity.public_key, NULL);
	assert_int_equal(wg_cookie_maker_init(&maker, dev->identity.public_key), 0);
	assert_int_equal(noise_create_initiation(&init, &hs, &b, 0x78, wg_unix_now_ns()), 0);
	assert_int_equal(wg_cookie_add_macs(&maker, (uint8_t *)&init, sizeof(init), wg_now_ns()), 0);

	/* Admitted, but queued: the receive thread does no Diffie-Hellman work. */
	wg_receive_datagram(dev, NULL, (uint8_t *)&init, sizeof(init), &b_ep);
	assert_int_equal(dev->handshakes->len, 1);
	assert_null(peer->kp_next);
	assert_int_equal(recv(bfd, buf, sizeof(buf), MSG_DONTWAIT), -1);

	/* The worker's turn: a handshake response. */
	assert_int_equal(wg_handshake_queue_pop(dev->handshakes, &item, 1), 1);
	wg_receive_handshake(dev, item.buf, item.len, &item.src, &item.local);
	assert_int_equal(recv(bfd, buf, sizeof(buf), 0), WG_MSG_RESPONSE_LEN);
	assert_int_equal(noise_consume_response((struct wg_msg_response *)buf, &hs, &b), 0);
	assert_non_null(peer->kp_next);

	close(bfd);
	noise_handshake_clear(&hs);
	queue_device_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(queue_fifo_bounded_busy),
		cmocka_unit_test(cookie_replies_limited_per_source),
		cmocka_unit_test(admitted_handshakes_wait_for_the_worker),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
