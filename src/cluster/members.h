/* SPDX-License-Identifier: MIT */
/*
 * The members as the store shows them: every record under <prefix>/nodes/,
 * kept current by a watch thread. The watch resumes from the revision after
 * the last one it saw, so a reconnect misses nothing and replays nothing; a
 * resume point the store has compacted away means a fresh full read.
 * While the store is unreachable the last view stays as it is.
 */
#ifndef OVL_CLUSTER_MEMBERS_H
#define OVL_CLUSTER_MEMBERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cluster/record.h"
#include "cluster/store.h"

struct cluster_member {
	struct cluster_record rec;
	time_t last_seen; /* wall clock of the last put we saw */
};

struct cluster_members {
	struct store *store;
	char nodes_prefix[300];
	/* Signalled (with lock held) whenever the view changes. */
	pthread_mutex_t *lock;
	pthread_cond_t *changed_cond;
	bool *changed;
	/* Guarded by *lock. */
	struct cluster_member *items;
	size_t n;
	int64_t next_rev; /* 0 = read everything first */
	bool watching;	  /* the watch is established */
	/* The watch thread. */
	pthread_t thread;
	volatile bool stop;
	volatile bool restart; /* set by the cluster thread when the store looks down: reconnect */
};

/* Starts the watch thread. 0 or -errno. */
int cluster_members_start(struct cluster_members *m);
void cluster_members_stop(struct cluster_members *m);

/* Applies one put (value) or delete (value NULL) of key; with lock held. Bad records are logged and dropped. */
void cluster_members_update(struct cluster_members *m, const char *key, const char *value);

#endif
