// SPDX-License-Identifier: MIT
#include "engine/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "engine/crashpoint.h"

struct engine_worker {
	struct engine *engine;
	engine_job_done_fn done;
	void *arg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct engine_job *head, *tail;
	bool busy; /* a batch (worker) or a fast-path job (submitter) is running */
	bool stopping;
};

/*
 * Group commit: run a batch, save the state once, then answer. No answer
 * leaves before the change it reports is durable. Called with busy set.
 */
static void run_batch(struct engine_worker *w, struct engine_job *batch)
{
	bool any_changed = false;
	for (struct engine_job *job = batch; job; job = job->next) {
		job->changed = false;
		if (job->has_request)
			engine_execute(w->engine, &job->req, &job->resp, &job->changed);
		any_changed |= job->changed;
	}
	char err[600];
	if (any_changed)
		crashpoint("before-save");
	bool saved = !any_changed || engine_persist(w->engine, err, sizeof(err)) == 0;
	while (batch) {
		struct engine_job *job = batch;
		batch = job->next;
		job->next = NULL;
		if (!saved && job->changed)
			engine_fail_unsaved(&job->resp, &job->req, err);
		w->done(job, w->arg);
	}
}

static void *worker_main(void *p)
{
	struct engine_worker *w = p;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while ((!w->head || w->busy) && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->head)
			break;
		/* Take the whole batch: one lock round per burst of requests. */
		struct engine_job *batch = w->head;
		w->head = w->tail = NULL;
		w->busy = true;
		pthread_mutex_unlock(&w->lock);
		run_batch(w, batch);
		pthread_mutex_lock(&w->lock);
		w->busy = false;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct engine_worker *engine_worker_start(struct engine *e, engine_job_done_fn done, void *arg)
{
	struct engine_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->engine = e;
	w->done = done;
	w->arg = arg;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	int r = pthread_create(&w->thread, NULL, worker_main, w);
	if (r != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		errno = r;
		return NULL;
	}
	return w;
}

static bool quick(const struct engine_job *job)
{
	return !job->has_request || engine_request_is_quick_read(&job->req);
}

void engine_worker_submit(struct engine_worker *w, struct engine_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (quick(job) && !w->head && !w->busy && !w->stopping) {
		w->busy = true;
		pthread_mutex_unlock(&w->lock);
		run_batch(w, job);
		pthread_mutex_lock(&w->lock);
		w->busy = false;
		bool pending = w->head != NULL;
		pthread_mutex_unlock(&w->lock);
		/* Jobs queued meanwhile (by other submitters) waited for us. */
		if (pending)
			pthread_cond_signal(&w->cond);
		return;
	}
	bool was_empty = !w->head;
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	pthread_mutex_unlock(&w->lock);
	/* Signalled after unlocking, so the woken worker does not block on the mutex at once. */
	if (was_empty)
		pthread_cond_signal(&w->cond);
}

void engine_worker_stop(struct engine_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
