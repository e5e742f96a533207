// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for DNS over TCP (src/dns/tcp.c, RFC 7766): the real
 * server runs in this process on 127.0.0.1 and every input is one client
 * connection's byte stream - length-prefixed messages, sent in pieces of
 * varying size so that the reassembly of split prefixes and messages is
 * exercised - then the client half-closes. Whatever comes back must be whole
 * length-prefixed DNS responses, no more than the complete messages sent.
 * (The framing, conn_process(), is static and works on a socket, so the
 * harness drives it through one; the server's threads share the coverage map.)
 *
 *   build-fuzz/fuzz/fuzz_dns_tcp fuzz/corpus-dns_tcp/ -max_total_time=60
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 8192

static struct sockaddr_in server_addr;

static void setup(void)
{
	struct dns_config cfg = { .no_forward = true, .threads = 1 };
	struct dns_server *srv = dns_server_create(&cfg);
	struct ip_endpoint ep;
	struct ip_addr a4;

	if (!srv || ip_addr_parse("10.200.0.5", &a4) < 0 || dns_record_set(srv, "web", &a4) < 0)
		abort();
	/* Port 0 is refused: try ports until one is free. */
	for (unsigned port = 20000 + (unsigned)getpid() % 20000;; port++) {
		char text[64];
		snprintf(text, sizeof(text), "127.0.0.1:%u", port);
		if (ip_endpoint_parse(text, &ep) < 0)
			abort();
		int r = dns_server_listen(srv, &ep);
		if (r == 0) {
			server_addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
							    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			return;
		}
		if (r != -EADDRINUSE || port > 65000)
			abort();
	}
}

/*
 * A socket connected to the server, from a source address that changes
 * every connection (127.1.0.0 - 127.1.255.255): the client closes first, so
 * each connection leaves a TIME_WAIT behind, and thousands a second would
 * soon use up one address's ports.
 */
static int client_socket(void)
{
	static uint32_t next_src;
	struct sockaddr_in src = { .sin_family = AF_INET };
	int fd;

	for (int tries = 0; tries < 16; tries++) {
		src.sin_addr.s_addr = htonl(0x7f010000u | (next_src++ & 0xffff));
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0) {
			/* An interrupted connect goes on in the background. */
			for (;;) {
				if (connect(fd, (struct sockaddr *)&server_addr, sizeof(server_addr)) == 0 ||
				    errno == EISCONN)
					return fd;
				if (errno != EINTR && errno != EALREADY)
					break;
			}
		}
		close(fd);
	}
	return -1;
}

/* Complete length-prefixed messages at the start of the stream. */
static size_t complete_frames(const uint8_t *s, size_t len)
{
	size_t n = 0, off = 0;
	while (len - off >= 2 && len - off - 2 >= (size_t)(s[off] << 8 | s[off + 1])) {
		off += 2 + (size_t)(s[off] << 8 | s[off + 1]);
		n++;
	}
	return n;
}

static void check_answers(const uint8_t *s, size_t len, size_t sent)
{
	size_t off = 0, n = 0;
	while (off < len) {
		if (len - off < 2)
			goto bad;
		size_t mlen = (size_t)(s[off] << 8 | s[off + 1]);
		/* A header with QR set: an answer, not an echo of the query. */
		if (len - off - 2 < mlen || mlen < 12 || !(s[off + 4] & 0x80))
			goto bad;
		off += 2 + mlen;
		n++;
	}
	if (n <= sent)
		return;
bad:
	fprintf(stderr, "bad TCP answer stream (%zu bytes, %zu messages sent)\n", len, sent);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t answers[1 << 20];
	size_t got = 0, off = 1;
	int fd;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	if (!server_addr.sin_port)
		setup();
	/* The first byte sets the piece size (1..256): prefixes and messages split across reads. */
	size_t piece = (size_t)data[0] + 1;
	if ((fd = client_socket()) < 0)
		abort();
	/* libFuzzer's -timeout alarm interrupts system calls: EINTR retries. */
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece;
		ssize_t sent = send(fd, data + off, n, MSG_NOSIGNAL);
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent < 0)
			break; /* the server gave up on us (not DNS): fine */
		off += (size_t)sent;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ready = poll(&p, 1, 5000);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready != 1) {
			fprintf(stderr, "the server neither answered nor closed within 5 s\n");
			abort();
		}
		ssize_t n = recv(fd, answers + got, sizeof(answers) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* closed, or reset after a message that is not DNS */
		got += (size_t)n;
		if (got == sizeof(answers))
			abort();
	}
	close(fd);
	check_answers(answers, got, complete_frames(data + 1, size - 1));
	return 0;
}
