// SPDX-License-Identifier: MIT
/*
 * Connections are owned by the event loop (reading, decoding, closing; frames
 * over 64 KiB are decoded by ipc/decoder.c and come back by connection id). Their
 * output side, struct conn_out, is shared with whichever thread answers a
 * request: a mutex guards the queue and the fd, and the loop closes the fd
 * under that mutex, so an answering thread never writes to a closed or
 * reused descriptor. Only the loop touches epoll; another thread that needs
 * the loop (output left queued, a broken client, a throttled connection that
 * may resume) posts a note naming the connection by id.
 */
#include "ipc/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ipc/codec.h"
#include "ipc/decoder.h"
#include "ipc/inbuf.h"
#include "proto/frame.h"
#include "util/log.h"

#define READ_CHUNK 65536
/* Accept back-off while out of descriptors: retry interval, and at most one warning per interval. */
#define ACCEPT_RETRY_MS 100
#define ACCEPT_WARN_INTERVAL_MS 10000
/* A client that stops reading gets cut off rather than growing our memory without bound. */
#define MAX_PENDING_OUTPUT (64u * 1024u * 1024u)
/* Back-pressure: stop reading a connection with this many unanswered requests. */
#define MAX_PENDING_REQUESTS 1024u

struct conn_out {
	pthread_mutex_t lock;
	int fd; /* -1 once the loop closed the connection */
	uint8_t *buf;
	size_t off, len, cap;
	bool broken; /* a write failed or the client fell too far behind: the loop closes it */
	atomic_uint refs;
	atomic_uint pending; /* requests handed out and not yet answered */
	atomic_bool throttled;
};

struct conn {
	uint64_t id;
	int fd;
	struct ipc_server *srv;
	struct evloop_watch *watch;
	struct ipc_inbuf in;
	struct conn_out *out;
	bool closing;	 /* close once the output is written (after a fatal frame error) */
	bool decoding;	 /* a large frame is with the decoder: read nothing more until it is back */
	uint32_t events; /* what the watch is armed for */
	struct conn *prev, *next;
};

struct ipc_reply {
	struct ipc_server *srv;
	struct conn_out *out;
	uint64_t conn_id;
	uint64_t id;
};

struct ipc_server {
	struct evloop *loop;
	int listen_fd;
	struct evloop_watch *listen_watch;
	struct ipc_decoder *decoder; /* large frames are decoded on its thread */
	/*
	 * Accept back-off: when accept() fails for want of descriptors (or
	 * memory), the listener stays readable, so it is disarmed and this timer
	 * (made up front: a new timerfd needs a descriptor too) re-arms it.
	 */
	struct evloop_watch *accept_retry;
	bool accept_suspended;
	unsigned long accept_failures; /* since the last warning */
	long long accept_warned_ms;    /* when the last warning was logged; 0 = never */
	char *path;
	ipc_request_fn on_request;
	void *arg;
	uint64_t next_conn_id;
	struct conn *conns;
	size_t nconns;
	bool paused;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- output (any thread) */

enum out_state { OUT_SENT, OUT_QUEUED, OUT_GONE };

static void out_unref(struct conn_out *o)
{
	if (atomic_fetch_sub(&o->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&o->lock);
	free(o->buf);
	free(o);
}

/* Writes queued bytes until the socket is full. Lock held. */
static enum out_state out_flush_locked(struct conn_out *o)
{
	if (o->fd < 0 || o->broken)
		return OUT_GONE;
	while (o->off < o->len) {
		ssize_t n = send(o->fd, o->buf + o->off, o->len - o->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return OUT_QUEUED;
			o->broken = true;
			return OUT_GONE;
		}
		o->off += (size_t)n;
	}
	o->off = o->len = 0;
	return OUT_SENT;
}

/* Queues one frame (u32 LE length + body) and writes what the socket takes. */
static enum out_state out_write_frame(struct conn_out *o, const char *body, size_t len)
{
	enum out_state st = OUT_GONE;
	pthread_mutex_lock(&o->lock);
	if (o->fd < 0 || o->broken)
		goto out;
	if (o->len - o->off + len + 4 > MAX_PENDING_OUTPUT) {
		o->broken = true;
		goto out;
	}
	if (o->len + len + 4 > o->cap) {
		if (o->off) { /* compact before growing */
			memmove(o->buf, o->buf + o->off, o->len - o->off);
			o->len -= o->off;
			o->off = 0;
		}
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + len + 4)
			cap *= 2;
		uint8_t *n = realloc(o->buf, cap);
		if (!n) {
			o->broken = true;
			goto out;
		}
		o->buf = n;
		o->cap = cap;
	}
	uint8_t *p = o->buf + o->len;
	le32_put(p, (uint32_t)len);
	memcpy(p + 4, body, len);
	o->len += len + 4;
	st = out_flush_locked(o);
out:
	pthread_mutex_unlock(&o->lock);
	return st;
}

/* ---------------------------------------------------------------- connections (loop thread) */

static struct conn *conn_find(struct ipc_server *s, uint64_t id)
{
	for (struct conn *c = s->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void accept_resume(struct ipc_server *s);

static void conn_close(struct conn *c)
{
	struct ipc_server *s = c->srv;
	evloop_unwatch(s->loop, c->watch);
	pthread_mutex_lock(&c->out->lock);
	close(c->fd);
	c->out->fd = -1;
	pthread_mutex_unlock(&c->out->lock);
	out_unref(c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	log_debug("ipc: connection %llu closed", (unsigned long long)c->id);
	ipc_inbuf_free(&c->in);
	free(c);
	accept_resume(s); /* a descriptor came free */
}

/*
 * After anything that may have changed a connection's output or state:
 * closes it when broken or done, else arms the watch for what it needs.
 * Returns false when the connection was closed.
 */
static bool conn_settle(struct conn *c)
{
	pthread_mutex_lock(&c->out->lock);
	bool broken = c->out->broken;
	bool has_output = c->out->len > c->out->off;
	pthread_mutex_unlock(&c->out->lock);
	if (broken || (c->closing && !has_output)) {
		conn_close(c);
		return false;
	}
	bool want_read = !c->srv->paused && !c->closing && !c->decoding && !atomic_load(&c->out->throttled);
	uint32_t ev = (want_read ? EPOLLIN : 0) | (has_output ? EPOLLOUT : 0);
	if (ev != c->events) {
		if (evloop_watch_modify(c->srv->loop, c->watch, ev) < 0)
			log_warn("ipc: cannot update the watch of connection %llu", (unsigned long long)c->id);
		c->events = ev;
	}
	return true;
}

/* A frame the connection cannot recover from: answer with id 0, then close. */
static void conn_fatal(struct conn *c, const char *msg)
{
	size_t n;
	log_warn("ipc: connection %llu: %s; closing", (unsigned long long)c->id, msg);
	c->closing = true;
	char *body = codec_encode_error(0, msg, &n);
	if (body)
		out_write_frame(c->out, body, n);
	free(body);
}

/*
 * Hands one decoded frame on (or closes the connection after an unreadable
 * one). Takes ownership of *req when r is CODEC_OK. False when the connection
 * is closing.
 */
static bool conn_dispatch(struct conn *c, enum codec_result r, uint64_t rid, struct ovl_request *req,
			  const char *err)
{
	struct ipc_server *s = c->srv;
	struct conn_out *o = c->out;
	if (r == CODEC_BAD_FRAME) {
		conn_fatal(c, err);
		return false;
	}
	if (r == CODEC_BAD_REQUEST)
		log_debug("ipc: connection %llu request %llu: %s", (unsigned long long)c->id, (unsigned long long)rid,
			  err);
	struct ipc_reply *reply = malloc(sizeof(*reply));
	if (!reply) {
		if (r == CODEC_OK)
			ovl_request_free(req);
		conn_fatal(c, "overlayd is out of memory");
		return false;
	}
	*reply = (struct ipc_reply){ .srv = s, .out = o, .conn_id = c->id, .id = rid };
	atomic_fetch_add(&o->refs, 1);
	atomic_fetch_add(&o->pending, 1);
	s->on_request(reply, r == CODEC_OK ? req : NULL, r == CODEC_OK ? NULL : err, s->arg);
	return true;
}

/* Hands every complete buffered frame on, until closing, paused, throttled or waiting for the decoder. */
static void conn_process_input(struct conn *c)
{
	struct ipc_server *s = c->srv;
	struct conn_out *o = c->out;
	while (!c->closing && !c->decoding && !s->paused && ipc_inbuf_pending(&c->in) >= PROTO_FRAME_HEADER) {
		if (atomic_load(&o->pending) >= MAX_PENDING_REQUESTS) {
			atomic_store(&o->throttled, true);
			/* Re-check: answers may have gone out before the flag was visible. */
			if (atomic_load(&o->pending) >= MAX_PENDING_REQUESTS / 2 || !atomic_exchange(&o->throttled, false))
				break;
		}
		const uint8_t *body;
		uint32_t len;
		enum ipc_inbuf_result ir = ipc_inbuf_next(&c->in, &body, &len);
		if (ir == IPC_INBUF_OVERSIZE) {
			char msg[128];
			snprintf(msg, sizeof(msg), "frame of %u bytes exceeds the %u-byte limit", len, PROTO_MAX_FRAME);
			conn_fatal(c, msg);
			break;
		}
		if (ir == IPC_INBUF_MORE)
			break;
		if (len > IPC_DECODE_INLINE_MAX) {
			/* This connection waits for the decoder (keeping its order); the others go on. */
			if (ipc_decoder_submit(s->decoder, c->id, body, len) < 0) {
				conn_fatal(c, "overlayd is out of memory");
				break;
			}
			c->decoding = true;
			break;
		}
		uint64_t rid;
		struct ovl_request req;
		char err[512];
		enum codec_result r = codec_decode_request((const char *)body, len, &rid, &req, err, sizeof(err));
		if (!conn_dispatch(c, r, rid, &req, err))
			break;
	}
	/* Also frees a buffer that grew for one large frame once it is idle. */
	ipc_inbuf_compact(&c->in, 4 * READ_CHUNK);
}

static void conn_read(struct conn *c)
{
	for (int rounds = 0; rounds < 16; rounds++) { /* bounded: stay fair to other clients */
		size_t avail;
		uint8_t *space = ipc_inbuf_space(&c->in, READ_CHUNK, &avail);
		if (!space) {
			conn_close(c);
			return;
		}
		ssize_t n = recv(c->fd, space, avail, 0);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
			conn_close(c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		ipc_inbuf_commit(&c->in, (size_t)n);
		conn_process_input(c);
		if (c->closing || c->decoding || atomic_load(&c->out->throttled))
			break; /* the rest stays in the socket */
		if ((size_t)n < READ_CHUNK)
			break;
	}
	conn_settle(c);
}

static void conn_event(struct evloop *loop, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;
	if (events & EPOLLOUT) {
		pthread_mutex_lock(&c->out->lock);
		out_flush_locked(c->out);
		pthread_mutex_unlock(&c->out->lock);
		if (!conn_settle(c))
			return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (c->closing || c->decoding || c->srv->paused || atomic_load(&c->out->throttled)) {
			if (events & (EPOLLHUP | EPOLLERR))
				conn_close(c);
			return;
		}
		conn_read(c);
	}
}

struct loop_note {
	struct ipc_server *srv;
	uint64_t conn_id;
};

/* Loop thread: another thread changed a connection's output or throttling. */
static void on_note(void *arg)
{
	struct loop_note *note = arg;
	struct conn *c = conn_find(note->srv, note->conn_id);
	free(note);
	if (!c)
		return;
	/* Frames left buffered by back-pressure may go on now. */
	if (!atomic_load(&c->out->throttled) && !c->closing)
		conn_process_input(c);
	conn_settle(c);
}

static void post_note(struct ipc_server *s, uint64_t conn_id)
{
	struct loop_note *note = malloc(sizeof(*note));
	if (!note) {
		log_error("ipc: out of memory notifying the event loop");
		return;
	}
	*note = (struct loop_note){ .srv = s, .conn_id = conn_id };
	if (evloop_post(s->loop, on_note, note) < 0) {
		log_error("ipc: cannot notify the event loop");
		free(note);
	}
}

/* Loop thread: a large frame of a connection came back from the decoder. */
static void on_decoded(struct ipc_decode_job *job, void *arg)
{
	struct ipc_server *s = arg;
	struct conn *c = conn_find(s, job->conn_id);
	if (!c || s->paused) { /* gone, or shutting down: like a frame never read */
		ipc_decode_job_free(job, false);
		return;
	}
	c->decoding = false;
	conn_dispatch(c, job->result, job->id, &job->req, job->err);
	ipc_decode_job_free(job, true);
	conn_process_input(c);
	conn_settle(c);
}

/* ---------------------------------------------------------------- replies (any thread) */

uint64_t ipc_reply_id(const struct ipc_reply *reply)
{
	return reply->id;
}

void ipc_reply_send(struct ipc_reply *reply, const struct ovl_response *resp)
{
	struct conn_out *o = reply->out;
	size_t n = 0;
	char *body = codec_encode_response(reply->id, resp, &n);
	if (!body)
		body = codec_encode_error(reply->id, "internal error: out of memory encoding the response", &n);
	enum out_state st = body ? out_write_frame(o, body, n) : OUT_GONE;
	free(body);

	bool notify = st == OUT_QUEUED; /* the loop must wait for the socket to drain */
	if (st == OUT_GONE) {
		pthread_mutex_lock(&o->lock);
		notify = o->fd >= 0; /* broken but still open: the loop closes it */
		pthread_mutex_unlock(&o->lock);
	}
	unsigned left = atomic_fetch_sub(&o->pending, 1) - 1;
	if (left < MAX_PENDING_REQUESTS / 2 && atomic_load(&o->throttled) && atomic_exchange(&o->throttled, false))
		notify = true; /* resume reading */
	if (notify)
		post_note(reply->srv, reply->conn_id);
	out_unref(o);
	free(reply);
}

/* ---------------------------------------------------------------- server (loop thread) */

/* Re-arms the listener after a back-off; a no-op unless suspended (or once paused). */
static void accept_resume(struct ipc_server *s)
{
	if (!s->accept_suspended || !s->listen_watch)
		return;
	s->accept_suspended = false;
	evloop_timer_disarm(s->loop, s->accept_retry);
	if (evloop_watch_modify(s->loop, s->listen_watch, EPOLLIN) < 0)
		log_warn("ipc: cannot re-arm the listening socket: %s", strerror(errno));
}

static void accept_retry_event(struct evloop *loop, void *arg)
{
	accept_resume(arg);
}

/*
 * accept() failed with err (EMFILE, ENFILE, ENOBUFS, ENOMEM...): the pending
 * connection stays queued and the listener readable, so retrying at once would
 * spin. Stop watching it for ACCEPT_RETRY_MS (or until a connection closes);
 * connected clients are served meanwhile. Warn at most once per interval.
 */
static void accept_suspend(struct ipc_server *s, int err)
{
	s->accept_failures++;
	long long now = now_ms();
	if (!s->accept_warned_ms || now - s->accept_warned_ms >= ACCEPT_WARN_INTERVAL_MS) {
		struct rlimit rl = { 0 };
		getrlimit(RLIMIT_NOFILE, &rl);
		log_warn("ipc: cannot accept connections: %s (%zu connected, open-file limit %llu); "
			 "%lu failure(s) since the last report, retrying every %d ms",
			 strerror(err), s->nconns, (unsigned long long)rl.rlim_cur, s->accept_failures,
			 ACCEPT_RETRY_MS);
		s->accept_warned_ms = now;
		s->accept_failures = 0;
	}
	if (s->accept_suspended)
		return;
	if (evloop_watch_modify(s->loop, s->listen_watch, 0) < 0 ||
	    evloop_timer_set(s->loop, s->accept_retry, ACCEPT_RETRY_MS, 0) < 0) {
		/* Cannot happen with valid watches; leave the listener armed rather than deaf. */
		evloop_watch_modify(s->loop, s->listen_watch, EPOLLIN);
		return;
	}
	s->accept_suspended = true;
}

static void accept_event(struct evloop *loop, int fd, uint32_t events, void *arg)
{
	struct ipc_server *s = arg;
	while (!s->accept_suspended) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				accept_suspend(s, errno);
			return;
		}
		struct conn *c = calloc(1, sizeof(*c));
		struct conn_out *o = calloc(1, sizeof(*o));
		if (!c || !o) {
			free(c);
			free(o);
			close(cfd);
			continue;
		}
		pthread_mutex_init(&o->lock, NULL);
		o->fd = cfd;
		atomic_init(&o->refs, 1);
		c->out = o;
		c->fd = cfd;
		c->srv = s;
		c->id = ++s->next_conn_id;
		c->events = s->paused ? 0 : EPOLLIN;
		c->watch = evloop_watch_fd(loop, cfd, c->events, conn_event, c);
		if (!c->watch) {
			log_warn("ipc: cannot watch a new connection: %s", strerror(errno));
			close(cfd);
			out_unref(o);
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
	if (listen(s->listen_fd, SOMAXCONN) < 0) { /* the kernel caps it at net.core.somaxconn */
		snprintf(err, errlen, "cannot listen on %s: %s", cfg->path, strerror(errno));
		goto fail_unlink;
	}
	s->decoder = ipc_decoder_new(loop, on_decoded, s);
	if (!s->decoder) {
		snprintf(err, errlen, "cannot start the decoder thread: %s", strerror(errno));
		goto fail_unlink;
	}
	s->accept_retry = evloop_timer(loop, 0, 0, accept_retry_event, s);
	if (!s->accept_retry || evloop_timer_disarm(loop, s->accept_retry) < 0) {
		snprintf(err, errlen, "cannot create the accept retry timer: %s", strerror(errno));
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
	if (s->accept_retry)
		evloop_unwatch(loop, s->accept_retry);
	ipc_decoder_free(s->decoder);
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
	ipc_decoder_free(s->decoder);
	while (s->conns)
		conn_close(s->conns);
	evloop_unwatch(s->loop, s->listen_watch);
	evloop_unwatch(s->loop, s->accept_retry);
	close(s->listen_fd);
	if (unlink(s->path) < 0 && errno != ENOENT)
		log_warn("cannot remove socket %s: %s", s->path, strerror(errno));
	free(s->path);
	free(s);
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
		struct conn *next = c->next; /* conn_settle may close c */
		if (!c->closing) {
			out_write_frame(c->out, body, n);
			conn_settle(c);
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
	struct conn *c = s->conns;
	while (c) {
		struct conn *next = c->next;
		conn_settle(c);
		c = next;
	}
}

void ipc_server_flush(struct ipc_server *s, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		struct pollfd pfd[64];
		int n = 0;
		struct conn *c = s->conns;
		while (c) {
			struct conn *next = c->next;
			pthread_mutex_lock(&c->out->lock);
			enum out_state st = out_flush_locked(c->out);
			pthread_mutex_unlock(&c->out->lock);
			if (st == OUT_GONE)
				conn_close(c);
			else if (st == OUT_QUEUED && n < 64)
				pfd[n++] = (struct pollfd){ .fd = c->fd, .events = POLLOUT };
			c = next;
		}
		long long left = deadline - now_ms();
		if (!n || left <= 0)
			return;
		if (poll(pfd, (nfds_t)n, (int)(left > 100 ? 100 : left)) < 0 && errno != EINTR)
			return;
	}
}
