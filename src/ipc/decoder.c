// SPDX-License-Identifier: MIT
#include "ipc/decoder.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct job_list {
	struct ipc_decode_job *head, *tail;
};

struct ipc_decoder {
	struct evloop *loop;
	ipc_decoded_fn fn;
	void *arg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	bool delivery_posted; /* deliver() is queued on the loop and will take d->done */
	struct job_list todo, done;
};

static void list_push(struct job_list *l, struct ipc_decode_job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct ipc_decode_job *list_take_all(struct job_list *l)
{
	struct ipc_decode_job *j = l->head;
	l->head = l->tail = NULL;
	return j;
}

void ipc_decode_job_free(struct ipc_decode_job *job, bool request_taken)
{
	if (job->result == CODEC_OK && !request_taken)
		ovl_request_free(&job->req);
	free(job->body);
	free(job);
}

static void free_jobs(struct ipc_decode_job *j)
{
	while (j) {
		struct ipc_decode_job *next = j->next;
		ipc_decode_job_free(j, false);
		j = next;
	}
}

/* Loop thread: hands every decoded job on, in order. */
static void deliver(void *arg)
{
	struct ipc_decoder *d = arg;
	pthread_mutex_lock(&d->lock);
	struct ipc_decode_job *j = list_take_all(&d->done);
	d->delivery_posted = false;
	pthread_mutex_unlock(&d->lock);
	while (j) {
		struct ipc_decode_job *next = j->next;
		d->fn(j, d->arg);
		j = next;
	}
}

static void *decoder_main(void *arg)
{
	struct ipc_decoder *d = arg;
	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (!d->stop && !d->todo.head)
			pthread_cond_wait(&d->wake, &d->lock);
		if (d->stop)
			break;
		struct ipc_decode_job *j = d->todo.head;
		d->todo.head = j->next;
		if (!d->todo.head)
			d->todo.tail = NULL;
		pthread_mutex_unlock(&d->lock);

		j->result = codec_decode_request(j->body, j->len, &j->id, &j->req, j->err, sizeof(j->err));

		pthread_mutex_lock(&d->lock);
		/*
		 * One wake-up of the loop per batch: deliver() drains the whole
		 * list. A failed post (out of memory) is retried with the next job.
		 */
		list_push(&d->done, j);
		if (!d->delivery_posted) {
			if (evloop_post(d->loop, deliver, d) == 0)
				d->delivery_posted = true;
			else
				log_error("ipc: cannot hand a decoded frame back to the event loop");
		}
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

struct ipc_decoder *ipc_decoder_new(struct evloop *loop, ipc_decoded_fn fn, void *arg)
{
	struct ipc_decoder *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->loop = loop;
	d->fn = fn;
	d->arg = arg;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	int r = pthread_create(&d->thread, NULL, decoder_main, d);
	if (r != 0) {
		pthread_cond_destroy(&d->wake);
		pthread_mutex_destroy(&d->lock);
		free(d);
		errno = r;
		return NULL;
	}
	pthread_setname_np(d->thread, "ovl-ipc-decode");
	return d;
}

int ipc_decoder_submit(struct ipc_decoder *d, uint64_t conn_id, const void *body, size_t len)
{
	struct ipc_decode_job *j = calloc(1, sizeof(*j));
	char *copy = malloc(len ? len : 1);
	if (!j || !copy) {
		free(j);
		free(copy);
		return -ENOMEM;
	}
	memcpy(copy, body, len);
	j->conn_id = conn_id;
	j->body = copy;
	j->len = len;
	j->result = CODEC_BAD_FRAME; /* nothing to free until decoded */
	pthread_mutex_lock(&d->lock);
	list_push(&d->todo, j);
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void ipc_decoder_free(struct ipc_decoder *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	free_jobs(list_take_all(&d->todo));
	free_jobs(list_take_all(&d->done));
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
