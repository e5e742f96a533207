// SPDX-License-Identifier: MIT
#include "metrics/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"

/* A request head larger than this, or slower than this, is dropped. */
#define MX_REQUEST_MAX 8192
#define MX_CONN_TIMEOUT_MS 5000

struct mx_server {
	int listen_fd;
	int stop_pipe[2];
	uint16_t port;
	mx_collect_fn collect;
	void *arg;
	pthread_t thread;
};

static uint64_t now_ms(void)
{
	return mx_now_ns() / 1000000;
}

/* Waits until fd is ready for events: 1, or 0 on stop / the deadline / an error. */
static int wait_ready(struct mx_server *s, int fd, short events, uint64_t deadline_ms)
{
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline_ms)
			return 0;
		struct pollfd p[2] = { { .fd = fd, .events = events }, { .fd = s->stop_pipe[0], .events = POLLIN } };
		int r = poll(p, 2, (int)(deadline_ms - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || p[1].revents)
			return 0;
		return 1;
	}
}

/* Reads the request head (up to the blank line). Its length, or -1. */
static ssize_t read_head(struct mx_server *s, int fd, char *buf, size_t cap, uint64_t deadline_ms)
{
	size_t len = 0;
	while (len + 1 < cap) {
		if (!wait_ready(s, fd, POLLIN, deadline_ms))
			return -1;
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return (ssize_t)len;
	}
	return -1;
}

static int write_all(struct mx_server *s, int fd, const char *p, size_t len, uint64_t deadline_ms)
{
	while (len) {
		if (!wait_ready(s, fd, POLLOUT, deadline_ms))
			return -1;
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void respond(struct mx_server *s, int fd, const char *status, const char *type, const char *body,
		    size_t body_len, uint64_t deadline_ms)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
			 type, body_len);
	if (write_all(s, fd, head, (size_t)n, deadline_ms) == 0)
		write_all(s, fd, body, body_len, deadline_ms);
}

static void serve(struct mx_server *s, int fd)
{
	char req[MX_REQUEST_MAX];
	uint64_t deadline = now_ms() + MX_CONN_TIMEOUT_MS;
	if (read_head(s, fd, req, sizeof(req), deadline) < 0)
		return;
	static const char text[] = "text/plain; charset=utf-8";
	bool get = strncmp(req, "GET ", 4) == 0, head = strncmp(req, "HEAD ", 5) == 0;
	if (!get && !head) {
		respond(s, fd, "405 Method Not Allowed", text, "only GET\n", 9, deadline);
		return;
	}
	const char *path = req + (get ? 4 : 5);
	size_t plen = strcspn(path, " ?\r\n");
	if (!((plen == 8 && memcmp(path, "/metrics", 8) == 0) || (plen == 1 && path[0] == '/'))) {
		respond(s, fd, "404 Not Found", text, "metrics are at /metrics\n", 24, deadline);
		return;
	}
	struct mx_text t = { 0 };
	s->collect(s->arg, &t);
	if (t.oom)
		respond(s, fd, "500 Internal Server Error", text, "out of memory\n", 14, deadline);
	else
		respond(s, fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", t.buf ? t.buf : "",
			head ? 0 : t.len, deadline);
	mx_text_free(&t);
}

static void *server_main(void *p)
{
	struct mx_server *s = p;
	for (;;) {
		struct pollfd pf[2] = { { .fd = s->listen_fd, .events = POLLIN }, { .fd = s->stop_pipe[0], .events = POLLIN } };
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("metrics: poll: %s", strerror(errno));
			break;
		}
		if (pf[1].revents)
			break;
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) /* out of descriptors: do not spin */
				wait_ready(s, s->stop_pipe[0], POLLIN, now_ms() + 100);
			continue;
		}
		serve(s, fd);
		close(fd);
	}
	return NULL;
}

int mx_server_start(const struct ip_endpoint *listen_ep, mx_collect_fn collect, void *arg, struct mx_server **out)
{
	struct mx_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->collect = collect;
	s->arg = arg;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	struct sockaddr_storage ss;
	struct ip_endpoint bound;
	socklen_t len;
	ip_endpoint_to_sockaddr(listen_ep, &ss, &len);
	int one = 1, r;
	s->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0 || setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s->listen_fd, (struct sockaddr *)&ss, len) < 0 || listen(s->listen_fd, 16) < 0 ||
	    getsockname(s->listen_fd, (struct sockaddr *)&ss, &len) < 0 || pipe2(s->stop_pipe, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = ip_endpoint_from_sockaddr((struct sockaddr *)&ss, &bound)) < 0)
		goto fail;
	s->port = bound.port; /* the one the kernel picked for port 0 */
	if ((r = pthread_create(&s->thread, NULL, server_main, s)) != 0) {
		r = -r;
		goto fail;
	}
	*out = s;
	return 0;
fail: {
	char ep[IP_ENDPOINT_STRLEN];
	log_error("metrics: cannot listen on %s: %s", ip_endpoint_format(listen_ep, ep, sizeof(ep)), strerror(-r));
}
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->stop_pipe[0] >= 0) {
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
	}
	free(s);
	return r;
}

uint16_t mx_server_port(const struct mx_server *s)
{
	return s->port;
}

void mx_server_stop(struct mx_server *s)
{
	if (!s)
		return;
	ssize_t n = write(s->stop_pipe[1], "x", 1);
	(void)n;
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	free(s);
}
