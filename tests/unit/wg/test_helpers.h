/* SPDX-License-Identifier: MIT */
/*
 * Shared by the wg unit tests: hex decoding for known-answer vectors, and
 * loopback UDP sockets standing in for a device's socket or a peer's.
 */
#ifndef OVL_TEST_WG_HELPERS_H
#define OVL_TEST_WG_HELPERS_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "util/inet.h"

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

#endif
