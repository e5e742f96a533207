/* SPDX-License-Identifier: MIT */
/*
 * The node-slice allocator: container addresses inside one CIDR.
 *
 * Offset 0 is the network address and offset 1 the node's own overlay IP
 * (ipam_slice_node_ip); neither is ever handed out. Containers get offset 2
 * upwards; for IPv4 the broadcast address (last offset) is excluded too.
 * Released addresses are reused first, most recently released first (LIFO).
 *
 * Allocations are tracked in a sorted set of offsets, so memory grows with
 * the number of live allocations, never with the slice size (an IPv6 /64 is
 * fine). Releasing anything not currently allocated (foreign address, the
 * node IP, network/broadcast, an already free address) is ignored and can
 * never cause one address to be handed out twice.
 */
#ifndef OVL_IPAM_SLICE_H
#define OVL_IPAM_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"

struct ipam_slice {
	struct ip_prefix cidr; /* network form */
	uint64_t first;	       /* first container offset (2) */
	uint64_t last;	       /* last container offset, inclusive; < first when none */
	uint64_t next;	       /* lowest never-handed-out offset candidate */
	uint64_t *used;	       /* sorted allocated offsets */
	size_t nused, capused;
	uint64_t *freed; /* LIFO stack of released offsets (may hold stale entries) */
	size_t nfreed, capfreed;
};

/* Binds the allocator to cidr (host bits ignored). 0, -EINVAL for a bad prefix,
 * or -ERANGE when the slice has no room for the node address (an IPv4 /31 or
 * /32, an IPv6 /128). */
int ipam_slice_init(struct ipam_slice *s, const struct ip_prefix *cidr);
void ipam_slice_free(struct ipam_slice *s);

/* The first usable host (network + 1): the node's overlay IP. */
struct ip_addr ipam_slice_node_ip(const struct ipam_slice *s);

/* 0, or -ENOSPC when the slice is exhausted (-ENOMEM on allocation failure). */
int ipam_slice_alloc(struct ipam_slice *s, struct ip_addr *out);
/* Returns true when ip was allocated and is now free; false (ignored) otherwise. */
bool ipam_slice_release(struct ipam_slice *s, const struct ip_addr *ip);
/* Marks ip allocated (state restore). 0, -EEXIST, -ERANGE (not a container address), -ENOMEM. */
int ipam_slice_reserve(struct ipam_slice *s, const struct ip_addr *ip);
bool ipam_slice_is_allocated(const struct ipam_slice *s, const struct ip_addr *ip);
size_t ipam_slice_count(const struct ipam_slice *s);
/* The i-th allocated address in ascending order (i < ipam_slice_count). */
struct ip_addr ipam_slice_at(const struct ipam_slice *s, size_t i);

#endif
