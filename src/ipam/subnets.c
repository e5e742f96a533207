// SPDX-License-Identifier: MIT
#include "ipam/subnets.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam/fnv.h"

int ipam_subnets_init(struct ipam_subnets *r, const struct ip_prefix *cluster, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->cluster = ip_prefix_network(cluster);
	r->slot_len = cluster->addr.family == AF_INET6 ? IPAM_SUBNET_LEN_V6 : IPAM_SUBNET_LEN_V4;
	if (cluster->len > r->slot_len) {
		char buf[IP_PREFIX_STRLEN];
		snprintf(err, errlen, "cluster CIDR %s is smaller than one /%u service subnet",
			 ip_prefix_format(&r->cluster, buf, sizeof(buf)), r->slot_len);
		return -EINVAL;
	}
	r->nslots = (unsigned __int128)1 << (r->slot_len - cluster->len);
	return 0;
}

void ipam_subnets_free(struct ipam_subnets *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->items[i].service);
	free(r->items);
	memset(r, 0, sizeof(*r));
}

int ipam_subnets_reserve(struct ipam_subnets *r, const struct ip_prefix *p)
{
	if (p->addr.family != r->cluster.addr.family)
		return -EINVAL;
	if (r->nreserved == IPAM_MAX_RESERVED)
		return -ENOSPC;
	r->reserved[r->nreserved++] = ip_prefix_network(p);
	return 0;
}

static struct ip_prefix slot_prefix(const struct ipam_subnets *r, unsigned __int128 slot)
{
	struct ip_prefix p = { .len = r->slot_len };
	unsigned host_bits = ip_addr_bits(&r->cluster.addr) - r->slot_len;
	/* Cannot wrap: slot < nslots keeps the result inside the cluster. */
	if (ip_addr_add(&r->cluster.addr, slot << host_bits, &p.addr) < 0)
		p.addr = r->cluster.addr;
	return p;
}

static unsigned __int128 slot_of(const struct ipam_subnets *r, const struct ip_addr *a)
{
	unsigned host_bits = ip_addr_bits(&r->cluster.addr) - r->slot_len;
	return ip_addr_sub(a, &r->cluster.addr) >> host_bits;
}

/*
 * When slot is unusable, the next slot worth trying (past the whole reserved
 * range, so a huge reserved prefix is skipped in one step); else slot itself.
 */
static unsigned __int128 skip_reserved(const struct ipam_subnets *r, unsigned __int128 slot)
{
	if (slot == 0)
		return 1;
	struct ip_prefix sp = slot_prefix(r, slot);
	for (size_t i = 0; i < r->nreserved; i++) {
		if (!ip_prefix_overlaps(&sp, &r->reserved[i]))
			continue;
		struct ip_addr last = ip_prefix_last(&r->reserved[i]);
		if (!ip_prefix_contains(&r->cluster, &last))
			return r->nslots; /* reserved to the end of the cluster */
		return slot_of(r, &last) + 1;
	}
	return slot;
}

static bool slot_taken(const struct ipam_subnets *r, const struct ip_prefix *sp)
{
	for (size_t i = 0; i < r->n; i++)
		if (ip_prefix_equal(&r->items[i].subnet, sp))
			return true;
	return false;
}

const struct ipam_subnet *ipam_subnets_find(const struct ipam_subnets *r, const char *service, uint64_t node_id)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].node_id == node_id && strcmp(r->items[i].service, service) == 0)
			return &r->items[i];
	return NULL;
}

static int add_item(struct ipam_subnets *r, const char *service, uint64_t node_id, const struct ip_prefix *sp)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct ipam_subnet *n = realloc(r->items, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		r->items = n;
		r->cap = cap;
	}
	char *dup = strdup(service);
	if (!dup)
		return -ENOMEM;
	r->items[r->n++] = (struct ipam_subnet){ .service = dup, .node_id = node_id, .subnet = *sp };
	return 0;
}

int ipam_subnets_assign(struct ipam_subnets *r, const char *service, uint64_t node_id, struct ip_prefix *out,
			char *err, size_t errlen)
{
	const struct ipam_subnet *have = ipam_subnets_find(r, service, node_id);
	if (have) {
		*out = have->subnet;
		return 0;
	}
	char id[24];
	int idlen = snprintf(id, sizeof(id), "%" PRIu64, node_id);
	uint64_t h = fnv1a64_update(FNV1A64_INIT, service, strlen(service) + 1);
	h = fnv1a64_update(h, id, (size_t)idlen);
	unsigned __int128 start = (unsigned __int128)h % r->nslots;

	/*
	 * Linear probing with wrap-around. Every iteration either takes a slot,
	 * moves past a taken one, or jumps over a reserved range, so the walk
	 * visits at most nslots slots and at most n + nreserved + 1 obstacles
	 * before it finds a free slot or wraps back to its start.
	 */
	unsigned __int128 slot = start, walked = 0;
	while (walked < r->nslots) {
		unsigned __int128 next = skip_reserved(r, slot);
		if (next != slot) {
			unsigned __int128 step = next > slot ? next - slot : 1;
			walked += step;
			slot = next >= r->nslots ? 0 : next;
			continue;
		}
		struct ip_prefix sp = slot_prefix(r, slot);
		if (!slot_taken(r, &sp)) {
			int e = add_item(r, service, node_id, &sp);
			if (e < 0) {
				snprintf(err, errlen, "out of memory assigning a service subnet");
				return e;
			}
			*out = sp;
			return 0;
		}
		walked++;
		slot = slot + 1 >= r->nslots ? 0 : slot + 1;
	}
	char buf[IP_PREFIX_STRLEN];
	snprintf(err, errlen, "no free /%u service subnet left in cluster CIDR %s for service %s", r->slot_len,
		 ip_prefix_format(&r->cluster, buf, sizeof(buf)), service);
	return -ENOSPC;
}

int ipam_subnets_release(struct ipam_subnets *r, const char *service, uint64_t node_id)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->items[i].node_id == node_id && strcmp(r->items[i].service, service) == 0) {
			free(r->items[i].service);
			r->items[i] = r->items[--r->n];
			return 0;
		}
	}
	return -ENOENT;
}

int ipam_subnets_restore(struct ipam_subnets *r, const char *service, uint64_t node_id,
			 const struct ip_prefix *subnet)
{
	if (subnet->addr.family != r->cluster.addr.family || subnet->len != r->slot_len ||
	    !ip_prefix_is_network(subnet) || !ip_prefix_contains(&r->cluster, &subnet->addr))
		return -EINVAL;
	if (ipam_subnets_find(r, service, node_id) || slot_taken(r, subnet))
		return -EEXIST;
	return add_item(r, service, node_id, subnet);
}
