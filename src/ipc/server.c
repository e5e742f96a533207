// SPDX-License-Identifier: MIT
#include "ipc/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ipc/codec.h"
#include "util/log.h"

#define READ_CHUNK 65536
/* A client that stops reading gets cut off rather than growing our memory without bound. */
#define MAX_PENDING_OUTPUT (64u * 1024u * 1024u)
/*
 * Back-pressure: a connection with this many requests awaiting answers is
 * not read further until some are answered, so one client pipelining without
 * bound cannot queue unlimited work.
 */
#define MAX_PENDING_REQUESTS 1024u

struct conn {
	uint64_t id;
	int fd;
	struct ipc_server *srv;
	struct evloop_watch *watch;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	bool closing; /* close once the output is written (after a fatal frame error) */
	bool want_write;
	bool want_read;
	unsigned pending;  /* requests handed out and not yet answered */
	bool processing;   /* inside conn_process_input: closing is deferred */
	bool throttled;	   /* stopped at MAX_PENDING_REQUESTS; resumed by answers */
	bool dead;	   /* closed while processing; freed when processing ends */
	struct conn *prev, *next;
};

struct ipc_server {
	struct evloop *loop;
	int listen_fd;
	struct evloop_watch *listen_watch;
	char *path;
	ipc_request_fn on_request;
	void *arg;
	uint64_t next_conn_id;
	struct conn *conns;
	size_t nconns;
	bool paused;
};

static void conn_close(struct conn *c)
{
	struct ipc_server *s = c->srv;
	evloop_unwatch(s->loop, c->watch);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	log_debug("ipc: connection %llu closed", (unsigned long long)c->id);
	free(c->in);
	free(c->out);
	free(c);
}

static struct conn *conn_find(struct ipc_server *s, uint64_t id)
{
	for (struct conn *c = s->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void conn_update_events(struct conn *c)
{
	bool want_write = c->out_len > c->out_off;
	bool want_read = !c->srv->paused && !c->closing && c->pending < MAX_PENDING_REQUESTS;
	uint32_t ev = (want_read ? EPOLLIN : 0) | (want_write ? EPOLLOUT : 0);
	if (evloop_watch_modify(c->srv->loop, c->watch, ev) < 0)
		log_warn("ipc: cannot update the watch of connection %llu", (unsigned long long)c->id);
	c->want_write = want_write;
	c->want_read = want_read;
}

/* Writes as much queued output as the socket takes. false when the connection died. */
static bool conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			return false;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return true;
}

/* Appends one frame (u32 LE length + body). */
static bool conn_queue(struct conn *c, const char *body, size_t len)
{
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len - c->out_off + len + 4 > MAX_PENDING_OUTPUT) {
		log_warn("ipc: connection %llu is not reading its responses; closing it", (unsigned long long)c->id);
		return false;
	}
	if (c->out_len + len + 4 > c->out_cap) {
		/* Compact before growing. */
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len + 4)
			cap *= 2;
		uint8_t *n = realloc(c->out, cap);
		if (!n)
			return false;
		c->out = n;
		c->out_cap = cap;
	}
	uint32_t l = (uint32_t)len;
	uint8_t *p = c->out + c->out_len;
	p[0] = (uint8_t)l;
	p[1] = (uint8_t)(l >> 8);
	p[2] = (uint8_t)(l >> 16);
	p[3] = (uint8_t)(l >> 24);
	memcpy(p + 4, body, len);
	c->out_len += len + 4;
	return true;
}

/* Closes c now, or right after conn_process_input when called from inside it. */
static void conn_drop(struct conn *c)
{
	if (c->processing)
		c->dead = true;
	else
		conn_close(c);
}

/* Queues a frame and tries to send it right away. false when the connection is gone. */
static bool conn_send(struct conn *c, char *body, size_t len)
{
	bool ok = !c->dead && body && conn_queue(c, body, len);
	free(body);
	if (!ok || !conn_flush(c) || (c->closing && c->out_len == c->out_off)) {
		conn_drop(c);
		return false;
	}
	bool want_write = c->out_len > c->out_off;
	if (want_write != c->want_write || c->closing)
		conn_update_events(c);
	return true;
}

static bool conn_process_frames(struct conn *c);

/* Processes every complete frame in the input buffer. false when the connection was closed. */
static bool conn_process_input(struct conn *c)
{
	c->processing = true;
	bool alive = conn_process_frames(c);
	c->processing = false;
	if (c->dead) {
		conn_close(c);
		return false;
	}
	return alive;
}

static bool conn_process_frames(struct conn *c)
{
	struct ipc_server *s = c->srv;
	size_t off = 0;
	while (!c->closing && !c->dead && !s->paused && c->pending < MAX_PENDING_REQUESTS && c->in_len - off >= 4) {
		const uint8_t *p = c->in + off;
		uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		if (len > IPC_MAX_FRAME) {
			char msg[128];
			size_t n;
			snprintf(msg, sizeof(msg), "frame of %u bytes exceeds the %u-byte limit", len, IPC_MAX_FRAME);
			log_warn("ipc: connection %llu: %s; closing", (unsigned long long)c->id, msg);
			c->closing = true;
			char *body = codec_encode_error(0, msg, &n);
			conn_send(c, body, n);
			return false; /* closed or closing: no more reads */
		}
		if (c->in_len - off - 4 < len)
			break;
		uint64_t rid;
		struct ovl_request req;
		char err[512];
		enum codec_result r = codec_decode_request((const char *)p + 4, len, &rid, &req, err, sizeof(err));
		off += 4 + (size_t)len;
		if (r == CODEC_BAD_FRAME) {
			size_t n;
			log_warn("ipc: connection %llu: %s; closing", (unsigned long long)c->id, err);
			c->closing = true;
			char *body = codec_encode_error(0, err, &n);
			conn_send(c, body, n);
			return false;
		}
		if (r == CODEC_BAD_REQUEST)
			log_debug("ipc: connection %llu request %llu: %s", (unsigned long long)c->id,
				  (unsigned long long)rid, err);
		c->pending++;
		s->on_request(c->id, rid, r == CODEC_OK ? &req : NULL, r == CODEC_OK ? NULL : err, s->arg);
	}
	if (c->pending >= MAX_PENDING_REQUESTS) {
		c->throttled = true; /* frames may stay buffered: answers resume processing */
		if (c->want_read)
			conn_update_events(c);
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	return true;
}

static void conn_read(struct conn *c)
{
	for (int rounds = 0; rounds < 16; rounds++) { /* bounded: stay fair to other clients */
		if (c->in_cap - c->in_len < READ_CHUNK) {
			size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
			uint8_t *n = realloc(c->in, cap);
			if (!n) {
				conn_close(c);
				return;
			}
			c->in = n;
			c->in_cap = cap;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n == 0) {
			conn_close(c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c);
			return;
		}
		c->in_len += (size_t)n;
		if (!conn_process_input(c))
			return;
		if (c->pending >= MAX_PENDING_REQUESTS)
			return; /* back-pressure: leave the rest in the socket */
		/* Shrink an idle buffer that grew for one large frame. */
		if (c->in_len == 0 && c->in_cap > 4 * READ_CHUNK) {
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
		if ((size_t)n < READ_CHUNK)
			return;
	}
}

static void conn_event(struct evloop *loop, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;
	if (events & EPOLLOUT) {
		if (!conn_flush(c)) {
			conn_close(c);
			return;
		}
		if (c->closing && c->out_len == c->out_off) {
			conn_close(c);
			return;
		}
		conn_update_events(c);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (c->closing || c->srv->paused) {
			if (events & (EPOLLHUP | EPOLLERR))
				conn_close(c);
			return;
		}
		conn_read(c);
	}
}

static void accept_event(struct evloop *loop, int fd, uint32_t events, void *arg)
{
	struct ipc_server *s = arg;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("ipc: accept failed: %s", strerror(errno));
			return;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->srv = s;
		c->id = ++s->next_conn_id;
		c->want_read = !s->paused;
		c->watch = evloop_watch_fd(loop, cfd, s->paused ? 0 : EPOLLIN, conn_event, c);
		if (!c->watch) {
			log_warn("ipc: cannot watch a new connection: %s", strerror(errno));
			close(cfd);
			free(c);
			continue;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
		log_debug("ipc: connection %llu accepted", (unsigned long long)c->id);
	}
}

struct ipc_server *ipc_server_new(struct evloop *loop, const struct ipc_server_config *cfg, char *err,
				  size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(cfg->path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path %s is too long (max %zu bytes)", cfg->path,
			 sizeof(sun.sun_path) - 1);
		return NULL;
	}
	strcpy(sun.sun_path, cfg->path);
	struct ipc_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(cfg->path))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->on_request = cfg->on_request;
	s->arg = cfg->arg;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	/* Create the socket file with no access, then set the final mode: never briefly world-writable. */
	mode_t old = umask(0777);
	int b = bind(s->listen_fd, (struct sockaddr *)&sun, sizeof(sun));
	int e = errno;
	umask(old);
	if (b < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", cfg->path, strerror(e));
		goto fail;
	}
	if (cfg->gid != (gid_t)-1 && chown(cfg->path, (uid_t)-1, cfg->gid) < 0) {
		snprintf(err, errlen, "cannot set the group of %s: %s", cfg->path, strerror(errno));
		goto fail_unlink;
	}
	if (chmod(cfg->path, cfg->mode) < 0) {
		snprintf(err, errlen, "cannot chmod %s: %s", cfg->path, strerror(errno));
		goto fail_unlink;
	}
	if (listen(s->listen_fd, 128) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", cfg->path, strerror(errno));
		goto fail_unlink;
	}
	s->listen_watch = evloop_watch_fd(loop, s->listen_fd, EPOLLIN, accept_event, s);
	if (!s->listen_watch) {
		snprintf(err, errlen, "cannot watch %s: %s", cfg->path, strerror(errno));
		goto fail_unlink;
	}
	return s;
fail_unlink:
	unlink(cfg->path);
fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s->path);
	free(s);
	return NULL;
}

void ipc_server_free(struct ipc_server *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_close(s->conns);
	evloop_unwatch(s->loop, s->listen_watch);
	close(s->listen_fd);
	if (unlink(s->path) < 0 && errno != ENOENT)
		log_warn("cannot remove socket %s: %s", s->path, strerror(errno));
	free(s->path);
	free(s);
}

void ipc_server_respond(struct ipc_server *s, uint64_t conn_id, uint64_t req_id, const struct ovl_response *resp)
{
	struct conn *c = conn_find(s, conn_id);
	if (!c)
		return; /* the client went away; its answer has nowhere to go */
	size_t n = 0;
	char *body = codec_encode_response(req_id, resp, &n);
	if (!body)
		body = codec_encode_error(req_id, "internal error: out of memory encoding the response", &n);
	if (c->pending)
		c->pending--;
	if (!conn_send(c, body, n))
		return;
	/* Resume a connection that back-pressure had stopped: frames may already be buffered. */
	if (c->throttled && !c->processing && c->pending < MAX_PENDING_REQUESTS / 2) {
		c->throttled = false;
		if (conn_process_input(c))
			conn_update_events(c);
	}
}

void ipc_server_broadcast(struct ipc_server *s, const struct ovl_event *ev)
{
	size_t n;
	char *body = codec_encode_event(ev, &n);
	if (!body) {
		log_warn("ipc: out of memory encoding an event");
		return;
	}
	struct conn *c = s->conns;
	while (c) {
		struct conn *next = c->next; /* conn_send may close c */
		if (!c->closing) {
			char *copy = malloc(n);
			if (copy)
				memcpy(copy, body, n);
			conn_send(c, copy, n);
		}
		c = next;
	}
	free(body);
}

void ipc_server_pause(struct ipc_server *s)
{
	s->paused = true;
	evloop_unwatch(s->loop, s->listen_watch);
	s->listen_watch = NULL;
	for (struct conn *c = s->conns; c; c = c->next)
		conn_update_events(c);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ipc_server_flush(struct ipc_server *s, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		bool pending = false;
		struct conn *c = s->conns;
		while (c) {
			struct conn *next = c->next;
			if (c->out_len > c->out_off) {
				if (!conn_flush(c))
					conn_close(c);
				else if (c->out_len > c->out_off)
					pending = true;
			}
			c = next;
		}
		long long left = deadline - now_ms();
		if (!pending || left <= 0)
			return;
		struct pollfd pfd[64];
		int n = 0;
		for (c = s->conns; c && n < 64; c = c->next)
			if (c->out_len > c->out_off)
				pfd[n++] = (struct pollfd){ .fd = c->fd, .events = POLLOUT };
		if (poll(pfd, (nfds_t)n, (int)(left > 100 ? 100 : left)) < 0 && errno != EINTR)
			return;
	}
}

size_t ipc_server_connection_count(const struct ipc_server *s)
{
	return s->nconns;
}
