/* SPDX-License-Identifier: MIT */
/*
 * Address claims in the store, so no two nodes ever hold overlapping
 * prefixes. The cluster CIDR is cut into slots of the service-subnet size
 * (/26, /120: ipam/subnets.h); node slices and service subnets are both made
 * of slots, and each slot taken is one key
 *
 *   <prefix>/claims/<network>_<len>  =  {"cidr":C,"for":PURPOSE,"node":ID}
 *
 * created only if absent, every slot of one claim in one transaction. Claims
 * carry no lease: a node restarted on the same data dir (same id) finds its
 * claims and gets the same slice and subnets back; release deletes them.
 * PURPOSE is "slice" or "service:<name>".
 */
#ifndef OVL_CLUSTER_CLAIM_H
#define OVL_CLUSTER_CLAIM_H

#include <stddef.h>

#include "cluster/store.h"
#include "util/inet.h"

#define CLUSTER_CLAIM_MAX_SLOTS 64 /* slots one claim may cover (a /20 slice in /26 slots) */

struct cluster_claim_ctx {
	struct store *store;
	const char *prefix;  /* "/overlayd" */
	const char *node_id; /* CLUSTER_ID_LEN hex */
	struct ip_prefix cluster; /* network form */
};

/*
 * Claims a prefix for purpose: the one this node already holds for it, else
 * want (when given: -EEXIST, with the holder named in err, when another node
 * holds any part of it), else a free slot (-ENOSPC when none is left).
 * 0 or -errno (store errors pass through) with a message in err.
 */
int cluster_claim(const struct cluster_claim_ctx *c, const char *purpose, const struct ip_prefix *want,
		  struct ip_prefix *out, char *err, size_t errlen);
/* Deletes this node's claim of p for purpose (slots others hold are left alone). */
int cluster_claim_release(const struct cluster_claim_ctx *c, const char *purpose, const struct ip_prefix *p);

/* The slot length for the cluster's family. */
unsigned cluster_slot_len(const struct ip_prefix *cluster);

#endif
