/* SPDX-License-Identifier: MIT */
/*
 * The control socket: accepts clients on an event loop, reads length-prefixed
 * frames without blocking (per-connection input buffers), decodes them, and
 * hands each request on with a reply handle.
 *
 * Requests go to on_request in arrival order. The answer is sent later with
 * ipc_reply_send(), from any thread: the engine's worker writes its answers
 * straight to the client (a per-connection output queue under a lock), so a
 * request costs no extra event-loop wake-up, and a slow request never stops
 * the loop from reading other connections. Decode errors go through the same
 * path (on_request with req NULL and a message), which keeps each
 * connection's answers in request order.
 *
 * Frames over 64 KiB are decoded on a decoder thread (ipc/decoder.h); their
 * connection reads nothing more until the result is back.
 *
 * Back-pressure: a connection with 1024 unanswered requests is not read
 * further until answers go out. A client that stops reading its answers is
 * disconnected once 64 MiB are queued for it.
 */
#ifndef OVL_IPC_SERVER_H
#define OVL_IPC_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/request.h"
#include "util/evloop.h"

struct ipc_server;
/* Where one request's answer goes: its connection (which may have gone) and id. */
struct ipc_reply;

/*
 * One decoded frame. req is NULL when the frame was invalid (err_message
 * says why); the callee takes ownership of *req's contents either way, and
 * must pass reply to ipc_reply_send() exactly once.
 */
typedef void (*ipc_request_fn)(struct ipc_reply *reply, struct ovl_request *req, const char *err_message, void *arg);

struct ipc_server_config {
	const char *path; /* socket path; a stale file there must already be removed */
	mode_t mode;	  /* e.g. 0660 */
	gid_t gid;	  /* (gid_t)-1 to keep the default group */
	ipc_request_fn on_request;
	void *arg;
};

/* Binds and listens. NULL with err set on failure. */
struct ipc_server *ipc_server_new(struct evloop *loop, const struct ipc_server_config *cfg, char *err,
				  size_t errlen);
/* Closes every connection and the listener; unlinks the socket file. Every reply must have been sent. */
void ipc_server_free(struct ipc_server *s);

/* Thread-safe. Sends the answer (dropped if the client has gone) and frees reply. */
void ipc_reply_send(struct ipc_reply *reply, const struct ovl_response *resp);
uint64_t ipc_reply_id(const struct ipc_reply *reply);

/* Loop thread: queues an event for every connected client. */
void ipc_server_broadcast(struct ipc_server *s, const struct ovl_event *ev);

/* Loop thread: stops reading new requests (graceful shutdown); queued output still goes out. */
void ipc_server_pause(struct ipc_server *s);
/* Loop thread, best effort: blocks up to timeout_ms writing out every queued answer. */
void ipc_server_flush(struct ipc_server *s, int timeout_ms);

#endif
