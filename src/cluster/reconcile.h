/* SPDX-License-Identifier: MIT */
/*
 * Reconciliation (pure): the other nodes' records become the peers this node
 * should have, and the difference to the peers it has installed becomes the
 * same add_peer / remove_peer requests an orchestrator would send.
 *
 * Global scope: each other node is a peer at its endpoint, allowed its slice
 * and its bridged (non-dedicated) service subnets. Service scope: a dedicated
 * service this node runs too gets the other node's dedicated device as a
 * peer, allowed that service's subnet there.
 */
#ifndef OVL_CLUSTER_RECONCILE_H
#define OVL_CLUSTER_RECONCILE_H

#include <stddef.h>

#include "cluster/record.h"
#include "proto/request.h"

#define CLUSTER_KEEPALIVE_SECS 25 /* through NAT, as the protocol's own default */

struct cluster_peer {
	char *service; /* NULL = global scope */
	struct ovl_peer_spec spec;
};

struct cluster_peers {
	struct cluster_peer *items;
	size_t n;
};

void cluster_peers_free(struct cluster_peers *p);

struct cluster_local {
	const char *id;			 /* this node: its own record is skipped */
	uint8_t public_key[WG_KEY_LEN];	 /* and so is any record claiming our key */
	const char *const *dedicated;	 /* this node's dedicated services */
	size_t n_dedicated;
};

/* The peers the records call for. 0 or -ENOMEM. */
int cluster_desired(const struct cluster_local *self, const struct cluster_record *recs, size_t n,
		    struct cluster_peers *out);

/*
 * The requests that turn applied into desired: removals first, then additions
 * and changes (add_peer replaces a peer's endpoint and allowed IPs). *reqs is
 * an array of *n requests (free each with ovl_request_free, then the array).
 * 0 or -ENOMEM.
 */
int cluster_diff(const struct cluster_peers *applied, const struct cluster_peers *desired, struct ovl_request **reqs,
		 size_t *n);

/*
 * Forgets the service-scope peers of services this node no longer runs as
 * dedicated: they went with the service's device, and a new device starts
 * with none.
 */
void cluster_peers_prune(struct cluster_peers *applied, const struct cluster_local *self);

/* Records in applied that req (an add_peer or remove_peer from cluster_diff) succeeded. 0 or -ENOMEM. */
int cluster_peers_apply(struct cluster_peers *applied, const struct ovl_request *req);

#endif
