/* SPDX-License-Identifier: MIT */
/*
 * The service-subnet registry: carves the cluster CIDR into fixed slots (/26
 * for IPv4, /120 for IPv6) and assigns one per (service, node id) key.
 *
 * The slot for a key is FNV-1a-64(service NUL node_id-as-decimal) mod nslots,
 * then linear probing past slots already taken or reserved. Reserved slots
 * are those overlapping any reserved prefix (the node slice, the node IP) and
 * slot 0, which holds the cluster's network address. Assignment is
 * idempotent (same key, same subnet) and deterministic, so a registry
 * restored from a snapshot (ipam_subnets_restore) hands out what it did
 * before a restart.
 */
#ifndef OVL_IPAM_SUBNETS_H
#define OVL_IPAM_SUBNETS_H

#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"

/* Registry key of the single node-wide shared bridge (never a real service name). */
#define IPAM_SHARED_BRIDGE_KEY "__zlayer_shared_bridge__"
#define IPAM_SUBNET_LEN_V4 26
#define IPAM_SUBNET_LEN_V6 120
#define IPAM_MAX_RESERVED 8

struct ipam_subnet {
	char *service;
	uint64_t node_id;
	struct ip_prefix subnet;
};

struct ipam_subnets {
	struct ip_prefix cluster; /* network form */
	uint8_t slot_len;
	unsigned __int128 nslots;
	struct ip_prefix reserved[IPAM_MAX_RESERVED];
	size_t nreserved;
	struct ipam_subnet *items;
	size_t n, cap;
};

/* 0, or -EINVAL when the cluster CIDR is too small for one slot (message in err). */
int ipam_subnets_init(struct ipam_subnets *r, const struct ip_prefix *cluster, char *err, size_t errlen);
void ipam_subnets_free(struct ipam_subnets *r);
/* Keeps every future assignment off p. 0, -ENOSPC (too many), -EINVAL (other family). */
int ipam_subnets_reserve(struct ipam_subnets *r, const struct ip_prefix *p);
/*
 * The subnet for (service, node_id), assigning one when new. 0; -ENOSPC when
 * every slot is taken or reserved; -ENOMEM. err gets a message on failure.
 */
int ipam_subnets_assign(struct ipam_subnets *r, const char *service, uint64_t node_id, struct ip_prefix *out,
			char *err, size_t errlen);
/* The existing assignment, or NULL. */
const struct ipam_subnet *ipam_subnets_find(const struct ipam_subnets *r, const char *service, uint64_t node_id);
/* Frees the key's slot. 0, or -ENOENT. */
int ipam_subnets_release(struct ipam_subnets *r, const char *service, uint64_t node_id);
/*
 * Re-installs a snapshot entry exactly. -EINVAL when subnet is not a slot of
 * this cluster, -EEXIST when the slot or key is already taken, -ENOMEM.
 */
int ipam_subnets_restore(struct ipam_subnets *r, const char *service, uint64_t node_id,
			 const struct ip_prefix *subnet);

#endif
