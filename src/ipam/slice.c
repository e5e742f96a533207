// SPDX-License-Identifier: MIT
#include "ipam/slice.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NODE_OFFSET 1

int ipam_slice_init(struct ipam_slice *s, const struct ip_prefix *cidr)
{
	memset(s, 0, sizeof(*s));
	if (cidr->addr.family != AF_INET && cidr->addr.family != AF_INET6)
		return -EINVAL;
	if (cidr->len > ip_addr_bits(&cidr->addr))
		return -EINVAL;
	s->cidr = ip_prefix_network(cidr);
	unsigned host_bits = ip_prefix_host_bits(&s->cidr);
	/* The node's own address (offset 1) must be a host of the slice: not its
	 * IPv4 broadcast address, not outside it. */
	if (host_bits < (s->cidr.addr.family == AF_INET ? 2u : 1u))
		return -ERANGE;
	/* Offsets are u64: a larger IPv6 slice simply uses its first 2^64 addresses. */
	uint64_t max_offset = host_bits >= 64 ? UINT64_MAX : (((uint64_t)1 << host_bits) - 1);
	s->first = NODE_OFFSET + 1;
	s->last = max_offset;
	if (s->cidr.addr.family == AF_INET)
		s->last = max_offset >= 1 ? max_offset - 1 : 0; /* no broadcast */
	s->next = s->first;
	return 0;
}

void ipam_slice_free(struct ipam_slice *s)
{
	free(s->used);
	free(s->freed);
	memset(s, 0, sizeof(*s));
}

static struct ip_addr offset_addr(const struct ipam_slice *s, uint64_t off)
{
	struct ip_addr a;
	/* Cannot wrap: off never exceeds the prefix's own size. */
	if (ip_addr_add(&s->cidr.addr, off, &a) < 0)
		memset(&a, 0, sizeof(a));
	return a;
}

struct ip_addr ipam_slice_node_ip(const struct ipam_slice *s)
{
	return offset_addr(s, NODE_OFFSET);
}

/* Offset of ip in the slice when it is a container address, else false. */
static bool addr_offset(const struct ipam_slice *s, const struct ip_addr *ip, uint64_t *off)
{
	if (ip->family != s->cidr.addr.family || !ip_prefix_contains(&s->cidr, ip))
		return false;
	unsigned __int128 d = ip_addr_sub(ip, &s->cidr.addr);
	if (d > UINT64_MAX)
		return false;
	*off = (uint64_t)d;
	return *off >= s->first && *off <= s->last;
}

/* Index of the first element >= off. */
static size_t used_lower_bound(const struct ipam_slice *s, uint64_t off)
{
	size_t lo = 0, hi = s->nused;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->used[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool used_has(const struct ipam_slice *s, uint64_t off)
{
	size_t i = used_lower_bound(s, off);
	return i < s->nused && s->used[i] == off;
}

static int used_insert(struct ipam_slice *s, uint64_t off)
{
	size_t i = used_lower_bound(s, off);
	if (i < s->nused && s->used[i] == off)
		return -EEXIST;
	if (s->nused == s->capused) {
		size_t cap = s->capused ? s->capused * 2 : 16;
		uint64_t *n = realloc(s->used, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->used = n;
		s->capused = cap;
	}
	memmove(s->used + i + 1, s->used + i, (s->nused - i) * sizeof(*s->used));
	s->used[i] = off;
	s->nused++;
	return 0;
}

int ipam_slice_alloc(struct ipam_slice *s, struct ip_addr *out)
{
	/* Released addresses first; skip entries a restore re-reserved meanwhile. */
	while (s->nfreed) {
		uint64_t off = s->freed[--s->nfreed];
		if (used_has(s, off))
			continue;
		int r = used_insert(s, off);
		if (r < 0) {
			s->nfreed++;
			return r;
		}
		*out = offset_addr(s, off);
		return 0;
	}
	while (s->next <= s->last && s->next >= s->first) {
		uint64_t off = s->next;
		if (used_has(s, off)) { /* reserved by a restore */
			if (off == UINT64_MAX)
				break;
			s->next++;
			continue;
		}
		int r = used_insert(s, off);
		if (r < 0)
			return r;
		if (off == UINT64_MAX)
			s->next = 0; /* exhausted: 0 < first stops the loop */
		else
			s->next++;
		*out = offset_addr(s, off);
		return 0;
	}
	return -ENOSPC;
}

bool ipam_slice_release(struct ipam_slice *s, const struct ip_addr *ip)
{
	uint64_t off;
	if (!addr_offset(s, ip, &off))
		return false;
	size_t i = used_lower_bound(s, off);
	if (i >= s->nused || s->used[i] != off)
		return false;
	if (s->nfreed == s->capfreed) {
		size_t cap = s->capfreed ? s->capfreed * 2 : 16;
		uint64_t *n = realloc(s->freed, cap * sizeof(*n));
		if (!n)
			return false; /* stays allocated: a leak of one address, never a double hand-out */
		s->freed = n;
		s->capfreed = cap;
	}
	memmove(s->used + i, s->used + i + 1, (s->nused - i - 1) * sizeof(*s->used));
	s->nused--;
	s->freed[s->nfreed++] = off;
	return true;
}

int ipam_slice_reserve(struct ipam_slice *s, const struct ip_addr *ip)
{
	uint64_t off;
	if (!addr_offset(s, ip, &off))
		return -ERANGE;
	return used_insert(s, off);
}

bool ipam_slice_is_allocated(const struct ipam_slice *s, const struct ip_addr *ip)
{
	uint64_t off;
	return addr_offset(s, ip, &off) && used_has(s, off);
}

size_t ipam_slice_count(const struct ipam_slice *s)
{
	return s->nused;
}

struct ip_addr ipam_slice_at(const struct ipam_slice *s, size_t i)
{
	return offset_addr(s, s->used[i]);
}
