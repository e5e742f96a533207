// SPDX-License-Identifier: MIT
#include "cluster/members.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000

static struct cluster_member *find(struct cluster_members *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->items[i].rec.id, id) == 0)
			return &m->items[i];
	return NULL;
}

static void drop(struct cluster_members *m, struct cluster_member *it)
{
	cluster_record_free(&it->rec);
	*it = m->items[--m->n];
}

void cluster_members_update(struct cluster_members *m, const char *key, const char *value)
{
	const char *id = strrchr(key, '/');
	id = id ? id + 1 : key;
	struct cluster_member *it = find(m, id);
	if (!value) {
		if (it) {
			log_info("cluster: member %s left", id);
			drop(m, it);
		}
		return;
	}
	struct cluster_record rec;
	char err[256] = "";
	int r = cluster_record_decode(value, &rec, err, sizeof(err));
	if (r == 0 && strcmp(rec.id, id) != 0) {
		snprintf(err, sizeof(err), "its id does not match its key");
		cluster_record_free(&rec);
		r = -EINVAL;
	}
	if (r < 0) {
		log_warn("cluster: ignoring the record at %s: %s", key, err);
		if (it)
			drop(m, it); /* what it said before no longer holds */
		return;
	}
	if (!it) {
		struct cluster_member *grown = realloc(m->items, (m->n + 1) * sizeof(*grown));
		if (!grown) {
			cluster_record_free(&rec);
			return;
		}
		m->items = grown;
		it = &m->items[m->n++];
		log_info("cluster: member %s joined", id);
	} else {
		cluster_record_free(&it->rec);
	}
	it->rec = rec;
	it->last_seen = time(NULL);
}

static void mark_changed(struct cluster_members *m)
{
	*m->changed = true;
	pthread_cond_broadcast(m->changed_cond);
}

static void on_events(const struct store_event *evs, size_t n, int64_t revision, void *arg)
{
	struct cluster_members *m = arg;
	pthread_mutex_lock(m->lock);
	if (!m->watching)
		log_info("cluster: watching the members from revision %lld", (long long)m->next_rev);
	m->watching = true;
	for (size_t i = 0; i < n; i++)
		cluster_members_update(m, evs[i].kv.key, evs[i].type == STORE_EV_PUT ? evs[i].kv.value : NULL);
	if (revision + 1 > m->next_rev)
		m->next_rev = revision + 1;
	if (n)
		mark_changed(m);
	pthread_mutex_unlock(m->lock);
}

/* A fresh full read: the view becomes exactly what the store holds. */
static int read_all(struct cluster_members *m)
{
	struct store_kvs kvs;
	int r = m->store->ops->get_prefix(m->store, m->nodes_prefix, &kvs);
	if (r < 0)
		return r;
	pthread_mutex_lock(m->lock);
	for (size_t i = 0; i < m->n; i++)
		cluster_record_free(&m->items[i].rec);
	m->n = 0;
	for (size_t i = 0; i < kvs.n; i++)
		cluster_members_update(m, kvs.items[i].key, kvs.items[i].value);
	m->next_rev = kvs.revision + 1;
	mark_changed(m);
	pthread_mutex_unlock(m->lock);
	store_kvs_free(&kvs);
	return 0;
}

/* Sleeps ms unless stopped. */
static void nap(struct cluster_members *m, unsigned ms)
{
	for (unsigned t = 0; t < ms && !m->stop; t += 50) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static void *watch_main(void *arg)
{
	struct cluster_members *m = arg;
	unsigned backoff = BACKOFF_MIN_MS;
	bool reported = false;
	while (!m->stop) {
		int r = 0;
		pthread_mutex_lock(m->lock);
		int64_t from = m->next_rev;
		pthread_mutex_unlock(m->lock);
		if (from == 0 && (r = read_all(m)) == 0) {
			pthread_mutex_lock(m->lock);
			from = m->next_rev;
			pthread_mutex_unlock(m->lock);
		}
		if (r == 0) {
			r = m->store->ops->watch(m->store, m->nodes_prefix, from, on_events, m, &m->restart);
			/* Consumed; a stop keeps it set, so the next watch returns at once too. */
			m->restart = m->stop;
		}
		pthread_mutex_lock(m->lock);
		bool was_watching = m->watching;
		m->watching = false;
		if (r == -ESTALE)
			m->next_rev = 0;
		pthread_mutex_unlock(m->lock);
		if (m->stop)
			break;
		if (r == -ESTALE) {
			log_info("cluster: revision %lld was compacted; reading every member again", (long long)from);
			continue;
		}
		if (was_watching) {
			backoff = BACKOFF_MIN_MS;
			reported = false;
		}
		if (!reported && r != -ECANCELED) {
			log_warn("cluster: the store's watch failed (%s); keeping the last known members and retrying",
				 strerror(-r));
			reported = true;
		}
		nap(m, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

int cluster_members_start(struct cluster_members *m)
{
	int r = pthread_create(&m->thread, NULL, watch_main, m);
	return r ? -r : 0;
}

void cluster_members_stop(struct cluster_members *m)
{
	m->stop = true;
	m->restart = true;
	pthread_join(m->thread, NULL);
	for (size_t i = 0; i < m->n; i++)
		cluster_record_free(&m->items[i].rec);
	free(m->items);
	m->items = NULL;
	m->n = 0;
}
