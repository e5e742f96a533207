/* SPDX-License-Identifier: MIT */
/*
 * A stand-in TURN server for the relayed-path tests (test_relay.c,
 * test_relay_send.c): one loopback UDP socket read by a thread of its own,
 * which hands every datagram to the test's relay function; that function
 * checks it and passes its payload on to the other device, as a TURN server
 * relays between two allocations. What a test checks differs (ChannelData
 * only, or Send indications too); the socket, the thread and their teardown
 * do not, and live here.
 */
#ifndef OVL_TEST_WG_TURN_STANDIN_H
#define OVL_TEST_WG_TURN_STANDIN_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_helpers.h"

struct turn_standin;

/* Called on the server's thread for each datagram; buf has room for 2048 bytes. */
typedef void (*turn_standin_fn)(struct turn_standin *s, uint8_t *buf, size_t len, bool from_a);

struct turn_standin {
	int fd, stop_fd;
	struct ip_endpoint server; /* where the devices reach it */
	struct sockaddr_in a, b;   /* the devices' ports */
	turn_standin_fn relay;
	pthread_t thread;
	bool running;
};

#define TURN_STANDIN_INIT { .fd = -1, .stop_fd = -1 }

static inline void *turn_standin_main(void *arg)
{
	struct turn_standin *s = arg;
	uint8_t buf[2048];
	struct pollfd pfd[2] = { { .fd = s->fd, .events = POLLIN }, { .fd = s->stop_fd, .events = POLLIN } };
	while (poll(pfd, 2, -1) > 0 && !pfd[1].revents) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n > 0)
			s->relay(s, buf, (size_t)n, from.sin_port == s->a.sin_port);
	}
	return NULL;
}

/*
 * Opens the socket (s->server) and starts the thread, relaying between
 * devices a and b. The receive buffer is rcvbuf bytes: a device sends a burst
 * faster than this one thread relays it, and with the default buffer (about
 * 90 full datagrams) a loaded machine overflowed it, so the devices never
 * saw what the namespace's UDP RcvbufErrors counted.
 */
static inline void turn_standin_start(struct turn_standin *s, struct wg_device *a, struct wg_device *b,
				      turn_standin_fn relay, int rcvbuf)
{
	s->fd = bound_udp(&s->server);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(s->stop_fd >= 0);
	assert_int_equal(setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)), 0);
	loopback_sin(&s->a, wg_device_listen_port(a));
	loopback_sin(&s->b, wg_device_listen_port(b));
	s->relay = relay;
	assert_int_equal(pthread_create(&s->thread, NULL, turn_standin_main, s), 0);
	s->running = true;
}

/* Sends len bytes of buf to device a (to_a) or b; whether it went out whole. */
static inline bool turn_standin_send(struct turn_standin *s, const uint8_t *buf, size_t len, bool to_a)
{
	struct sockaddr_in *to = to_a ? &s->a : &s->b;
	return sendto(s->fd, buf, len, 0, (struct sockaddr *)to, sizeof(*to)) == (ssize_t)len;
}

/* Stops the thread and closes what start opened; safe when start did not run. */
static inline void turn_standin_stop(struct turn_standin *s)
{
	if (s->running) {
		uint64_t one = 1;
		assert_int_equal(write(s->stop_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
		pthread_join(s->thread, NULL);
		s->running = false;
	}
	if (s->fd >= 0)
		close(s->fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	s->fd = s->stop_fd = -1;
}

/* A test's teardown: the server stopped, then both devices destroyed (and forgotten). */
static inline void turn_standin_teardown(struct turn_standin *s, struct wg_device **a, struct wg_device **b)
{
	turn_standin_stop(s);
	wg_device_destroy(*a);
	wg_device_destroy(*b);
	*a = *b = NULL;
}

#endif
