// SPDX-License-Identifier: MIT
/* The metrics endpoint over loopback: GET /metrics, other paths and methods, a stalled client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics/server.h"

static int collects;

static void collect(void *arg, struct mx_text *out)
{
	collects++;
	mx_text_family(out, "overlayd_test_total", MX_COUNTER, (const char *)arg);
	mx_text_sample(out, "overlayd_test_total", "", 3);
}

static int dial(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends req and reads the whole answer (the server closes the connection). */
static void fetch(uint16_t port, const char *req, char *out, size_t cap)
{
	int fd = dial(port);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	size_t len = 0;
	ssize_t n;
	while ((n = recv(fd, out + len, cap - 1 - len, 0)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fd);
}

static struct mx_server *start(void)
{
	struct ip_endpoint ep;
	assert_int_equal(ip_endpoint_parse("127.0.0.1:0", &ep), 0);
	struct mx_server *s;
	assert_int_equal(mx_server_start(&ep, collect, "Test things.", &s), 0);
	assert_true(mx_server_port(s) > 0);
	return s;
}

static void test_get_metrics(void **state)
{
	struct mx_server *s = start();
	char buf[4096];
	fetch(mx_server_port(s), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(buf, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(buf, "\r\n\r\n# HELP overlayd_test_total Test things.\n"));
	assert_non_null(strstr(buf, "overlayd_test_total 3\n"));
	fetch(mx_server_port(s), "GET /nope HTTP/1.1\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 404 Not Found\r\n"));
	fetch(mx_server_port(s), "POST /metrics HTTP/1.1\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 405 Method Not Allowed\r\n"));
	mx_server_stop(s);
}

/* A client that never finishes its request does not keep stop() waiting. */
static void test_stop_with_stalled_client(void **state)
{
	struct mx_server *s = start();
	int fd = dial(mx_server_port(s));
	assert_int_equal(send(fd, "GET /met", 8, 0), 8);
	int before = collects;
	mx_server_stop(s); /* returns at once (the connection's timeout is seconds) */
	assert_int_equal(collects, before);
	char c;
	assert_true(recv(fd, &c, 1, 0) <= 0); /* dropped */
	close(fd);
}

static void test_bind_failure_reported(void **state)
{
	struct ip_endpoint ep;
	assert_int_equal(ip_endpoint_parse("192.0.2.77:9", &ep), 0); /* not an address of this host */
	struct mx_server *s = NULL;
	assert_int_equal(mx_server_start(&ep, collect, "x", &s), -EADDRNOTAVAIL);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_metrics),
		cmocka_unit_test(test_stop_with_stalled_client),
		cmocka_unit_test(test_bind_failure_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
