/* SPDX-License-Identifier: MIT */
/*
 * The control socket: accepts clients on an event loop, reads length-prefixed
 * frames without blocking (per-connection input buffers), decodes them, and
 * writes responses and broadcast events through per-connection output queues.
 *
 * Requests are handed to on_request in arrival order, tagged with the
 * connection's id; the answer comes back later through ipc_server_respond()
 * (on the loop thread), so a slow request never stops the loop from serving
 * other connections. Decode errors are answered through the same path
 * (on_request with req NULL and an error message), keeping each connection's
 * responses in request order.
 */
#ifndef OVL_IPC_SERVER_H
#define OVL_IPC_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/request.h"
#include "util/evloop.h"

struct ipc_server;

/*
 * One decoded frame. req is NULL when the frame was invalid (err_message
 * says why); the callee takes ownership of *req's contents either way.
 */
typedef void (*ipc_request_fn)(uint64_t conn_id, uint64_t req_id, struct ovl_request *req, const char *err_message,
			       void *arg);

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
/* Closes every connection and the listener; unlinks the socket file. */
void ipc_server_free(struct ipc_server *s);

/* Queues a response for conn_id (dropped if that client has gone). */
void ipc_server_respond(struct ipc_server *s, uint64_t conn_id, uint64_t req_id, const struct ovl_response *resp);
/* Queues an event for every connected client. */
void ipc_server_broadcast(struct ipc_server *s, const struct ovl_event *ev);

/* Stops reading new requests (graceful shutdown); queued output still goes out. */
void ipc_server_pause(struct ipc_server *s);
/* Best effort: blocks up to timeout_ms writing out every queued response. */
void ipc_server_flush(struct ipc_server *s, int timeout_ms);
size_t ipc_server_connection_count(const struct ipc_server *s);

#endif
