/* SPDX-License-Identifier: MIT */
/*
 * Cluster mode (overlayd --cluster etcd=URL...): nodes find each other
 * through a shared store instead of add_peer from an orchestrator.
 *
 * A thread of its own (plus one for the store's watch) that never blocks the
 * engine worker or the control socket: it talks to the engine the way a
 * client does, through the hooks below. It
 *  - claims node slices and service subnets in the store (claim.h) before
 *    setup_global_overlay / setup_service_overlay reach the engine;
 *  - publishes this node's record (record.h) under a lease it keeps alive;
 *  - watches every node's record and turns them into add_peer / remove_peer
 *    (reconcile.h);
 *  - rides out an unreachable store: the installed peers stay, it retries
 *    with backoff, re-publishes, and resumes the watch from the last revision
 *    it saw (re-reading everything when that revision was compacted).
 *
 * <data_dir>/cluster.json keeps this node's id and claims, so a restart on
 * the same data dir comes back as the same member with the same addresses.
 */
#ifndef OVL_CLUSTER_CLUSTER_H
#define OVL_CLUSTER_CLUSTER_H

#include <stdbool.h>

#include "cluster/etcd.h"
#include "engine/worker.h"
#include "proto/request.h"

#define CLUSTER_DEFAULT_PREFIX "/overlayd"
#define CLUSTER_DEFAULT_LEASE_TTL 15

struct cluster_hooks {
	/* Runs req on the engine and waits for its answer (resp to be freed by the caller). */
	void (*call)(void *arg, const struct ovl_request *req, struct ovl_response *resp);
	/* Hands a client's job on to the engine worker (after the claims it needed). */
	void (*forward)(void *arg, struct engine_job *job);
	void *arg;
};

struct cluster_config {
	struct etcd_config etcd;
	const char *prefix;	  /* no trailing slash; default CLUSTER_DEFAULT_PREFIX */
	int lease_ttl;		  /* seconds; default CLUSTER_DEFAULT_LEASE_TTL */
	const char *data_dir;
	const char *advertise;	  /* this node's underlay IP; NULL = the source address towards etcd */
	struct cluster_hooks hooks;
};

struct cluster;

/* Loads or creates the node id, starts the threads. NULL with a message in err. */
struct cluster *cluster_start(const struct cluster_config *cfg, char *err, size_t errlen);
/*
 * Joins the threads. leave: revoke the lease, so the others drop this node at
 * once (its data plane is being torn down); otherwise the record outlives us
 * for the lease TTL, so a daemon restarted within it (data plane left up)
 * takes it over without the others ever dropping this node.
 */
void cluster_stop(struct cluster *c, bool leave);

/*
 * Takes a client's job when it needs a claim first (setup_global_overlay,
 * setup_service_overlay), or while jobs taken earlier are still waiting here,
 * so requests reach the engine in the order they arrived; the cluster thread
 * forwards it. False: the caller submits it to the worker itself.
 */
bool cluster_take(struct cluster *c, struct engine_job *job);
/* Any thread: a request the engine finished; changes to what the node publishes wake the publisher. */
void cluster_note_result(struct cluster *c, const struct ovl_request *req, const struct ovl_response *resp);
/* Adds the membership (extension "cluster") to a status answer. */
void cluster_fill_status(struct cluster *c, struct ovl_res_status *st);

#endif
