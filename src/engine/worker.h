/* SPDX-License-Identifier: MIT */
/*
 * The engine's worker thread: executes jobs one at a time, strictly in
 * submission order, and hands each finished job to a completion callback
 * (called on the worker thread; the daemon posts it to its event loop).
 * Jobs queued together are persisted with one state write (group commit)
 * before any of their answers is handed back.
 *
 * Fast path: a quick read-only job (engine_request_is_quick_read) or an
 * already-answered one, submitted while the worker is idle with nothing
 * queued, runs on the submitting thread instead; done() is then called there.
 * Order is kept (everything submitted earlier has been answered), the engine
 * is still used by one thread at a time, and slow requests always go to the
 * worker, so the submitter (the event loop) never waits on them.
 */
#ifndef OVL_ENGINE_WORKER_H
#define OVL_ENGINE_WORKER_H

#include "engine/engine.h"

struct engine_job {
	/* Filled by the submitter. has_request false = resp is already set (e.g. a decode error). */
	bool has_request;
	struct ovl_request req;
	struct ovl_response resp;
	void *ctx;
	bool changed;		 /* internal */
	struct engine_job *next; /* internal */
};

typedef void (*engine_job_done_fn)(struct engine_job *job, void *arg);

struct engine_worker;

/* Starts the thread. NULL on failure (errno set). */
struct engine_worker *engine_worker_start(struct engine *e, engine_job_done_fn done, void *arg);
/* Queues (or, see above, runs) job; ownership passes until done() is called. Thread-safe. */
void engine_worker_submit(struct engine_worker *w, struct engine_job *job);
/* Finishes every queued job, then joins the thread and frees w. */
void engine_worker_stop(struct engine_worker *w);

#endif
