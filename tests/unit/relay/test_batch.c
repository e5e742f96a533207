// SPDX-License-Identifier: MIT
/*
 * The relay's batched I/O (relay/batch.h) on real loopback sockets: a run
 * of equal datagrams to one destination goes out as one GSO send and
 * arrives as the same datagrams; a receiver with GRO gets them back
 * coalesced, with the segment size to split them by.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "relay/batch.h"

static int udp_socket(struct ip_endpoint *bound)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	assert_int_equal(ip_endpoint_from_sockaddr((struct sockaddr *)&sin, bound), 0);
	return fd;
}

/* Queues n datagrams of len bytes (a 4-byte head, then the body) from fd to `to`, byte i of body = seq. */
static void queue(struct relay_txq *q, int fd, const struct ip_endpoint *to, size_t n, size_t len, uint8_t *bodies,
		  uint8_t first_seq)
{
	for (size_t k = 0; k < n; k++) {
		uint8_t *head = relay_txq_scratch(q);
		uint8_t *body = bodies + k * 2048;
		memset(head, 0x40, 4);
		memset(body, first_seq + (int)k, len - 4);
		struct relay_tx tx = { .fd = fd, .to = *to, .head = head, .head_len = 4, .body = body,
				       .body_len = len - 4 };
		relay_txq_add(q, &tx);
	}
}

static void gso_runs_arrive_as_datagrams(void **state)
{
	static uint8_t bodies[40 * 2048], got[2048];
	struct relay_txq q;
	struct ip_endpoint a, b, src;
	int ra = udp_socket(&a), rb = udp_socket(&b), s = udp_socket(&src);

	assert_int_equal(relay_txq_init(&q), 0);
	queue(&q, s, &a, 20, 1000, bodies, 0);		   /* one GSO run */
	queue(&q, s, &a, 1, 500, bodies + 20 * 2048, 20);   /* a shorter last one joins it */
	queue(&q, s, &b, 3, 1000, bodies + 21 * 2048, 21);  /* another destination: a run of its own */
	queue(&q, s, &a, 1, 1200, bodies + 24 * 2048, 24);  /* longer: cannot join */
	relay_txq_flush(&q);
	assert_int_equal(q.n, 0);
	/* Three sends: 21 datagrams as one GSO message, 3 as another, then the long one alone. */
	assert_int_equal(q.run_len[0], 21);
	assert_int_equal(q.run_len[1], 3);
	assert_int_equal(q.run_len[2], 1);
	for (int k = 0; k <= 24; k++) {
		int fd = k >= 21 && k < 24 ? rb : ra;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 2000), 1);
		ssize_t n = recv(fd, got, sizeof(got), MSG_DONTWAIT);
		size_t want = k < 20 ? 1000 : k == 20 ? 500 : k < 24 ? 1000 : 1200;
		assert_int_equal(n, (ssize_t)want);
		assert_int_equal(got[0], 0x40);
		assert_int_equal(got[4], (uint8_t)k);
		assert_int_equal(got[want - 1], (uint8_t)k);
	}
	relay_txq_free(&q);
	close(ra);
	close(rb);
	close(s);
}

static void gro_buffer_has_segment_size(void **state)
{
	static uint8_t bodies[8 * 2048];
	struct relay_txq q;
	struct relay_rxb rx;
	struct ip_endpoint a, src;
	int ra = udp_socket(&a), s = udp_socket(&src);
	uint32_t drops = 0;
	bool dropped;
	size_t total = 0;

	relay_rxb_socket(ra);
	assert_int_equal(relay_rxb_init(&rx), 0);
	assert_int_equal(relay_txq_init(&q), 0);
	queue(&q, s, &a, 8, 1000, bodies, 0);
	relay_txq_flush(&q);
	while (total < 8000) {
		struct pollfd p = { .fd = ra, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 2000), 1);
		int n = relay_rxb_read(&rx, ra, &drops, &dropped);
		assert_true(n > 0);
		for (int i = 0; i < n; i++) {
			/* Coalesced or not, every segment is one of the 1000-byte datagrams. */
			assert_int_equal(rx.segment[i], 1000);
			assert_int_equal(rx.msgs[i].msg_len % 1000, 0);
			total += rx.msgs[i].msg_len;
		}
	}
	assert_int_equal(total, 8000);
	assert_false(dropped);
	relay_rxb_free(&rx);
	relay_txq_free(&q);
	close(ra);
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gso_runs_arrive_as_datagrams),
		cmocka_unit_test(gro_buffer_has_segment_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
