// SPDX-License-Identifier: MIT
/* Candidate priorities, de-duplication and host candidate gathering. */
#include "nat/candidates.h"

#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint32_t nat_priority(unsigned type_pref, unsigned local_pref, unsigned component)
{
	return (uint32_t)(type_pref & 0x7f) << 24 | (uint32_t)(local_pref & 0xffff) << 8 |
	       (uint32_t)((256 - component) & 0xff);
}

unsigned nat_type_preference(enum ovl_candidate_type t)
{
	switch (t) {
	case OVL_CAND_HOST:
		return NAT_TYPE_PREF_HOST;
	case OVL_CAND_SERVER_REFLEXIVE:
		return NAT_TYPE_PREF_SERVER_REFLEXIVE;
	case OVL_CAND_PEER_REFLEXIVE:
		return NAT_TYPE_PREF_PEER_REFLEXIVE;
	case OVL_CAND_RELAY:
	default:
		return NAT_TYPE_PREF_RELAY;
	}
}

unsigned nat_local_preference(int family, unsigned index)
{
	unsigned base = family == AF_INET6 ? 65535 : 32767;
	return index > 32767 ? base - 32767 : base - index;
}

static bool sysfs_exists(const char *root, const char *ifname, const char *leaf)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s/%s", root, ifname, leaf);
	return access(path, F_OK) == 0;
}

bool nat_interface_eligible(const char *ifname, unsigned flags, const char *sysfs_root)
{
	if (flags & (IFF_LOOPBACK | IFF_POINTOPOINT))
		return false;
	if (!(flags & IFF_UP))
		return false;
	if (strncmp(ifname, "zl-", 3) == 0 || strncmp(ifname, "veth-", 5) == 0)
		return false;
	return !sysfs_exists(sysfs_root, ifname, "bridge") && !sysfs_exists(sysfs_root, ifname, "tun_flags");
}

bool nat_candidate_add(struct ovl_candidate *list, size_t *n, const struct ovl_candidate *c)
{
	for (size_t i = 0; i < *n; i++) {
		if (ip_endpoint_equal(&list[i].address, &c->address)) {
			if (c->priority > list[i].priority)
				list[i] = *c;
			return true;
		}
	}
	if (*n >= NAT_MAX_CANDIDATES)
		return false;
	list[(*n)++] = *c;
	return true;
}

void nat_candidates_sort(struct ovl_candidate *list, size_t n)
{
	/* Insertion sort: a handful of entries, and stable. */
	for (size_t i = 1; i < n; i++) {
		struct ovl_candidate c = list[i];
		size_t j = i;
		for (; j > 0 && list[j - 1].priority < c.priority; j--)
			list[j] = list[j - 1];
		list[j] = c;
	}
}

static bool lists(const struct ovl_candidate *list, size_t n, const struct ip_endpoint *ep)
{
	for (size_t i = 0; i < n; i++)
		if (ip_endpoint_equal(&list[i].address, ep))
			return true;
	return false;
}

bool nat_prflx_learn(struct nat_prflx *r, const struct ovl_candidate *known, size_t n_known,
		     const struct ip_endpoint *from)
{
	if (lists(known, n_known, from) || lists(r->cands, r->n, from))
		return false;
	struct ovl_candidate c = {
		.type = OVL_CAND_PEER_REFLEXIVE,
		.address = *from,
		.priority = nat_priority(NAT_TYPE_PREF_PEER_REFLEXIVE, nat_local_preference(from->addr.family, 0),
					 NAT_COMPONENT_ID),
	};
	if (r->n < NAT_MAX_PEER_REFLEXIVE) {
		r->cands[r->n++] = c;
		return true;
	}
	r->cands[r->oldest] = c;
	r->oldest = (r->oldest + 1) % NAT_MAX_PEER_REFLEXIVE;
	return true;
}

void nat_prflx_prune(struct nat_prflx *r, const struct ovl_candidate *known, size_t n_known)
{
	struct ovl_candidate keep[NAT_MAX_PEER_REFLEXIVE];
	size_t kept = 0;
	/* Oldest first, so that the survivors' order is their age again. */
	for (size_t k = 0; k < r->n; k++) {
		const struct ovl_candidate *c = &r->cands[(r->oldest + k) % r->n];
		if (!lists(known, n_known, &c->address))
			keep[kept++] = *c;
	}
	memcpy(r->cands, keep, kept * sizeof(keep[0]));
	r->n = kept;
	r->oldest = 0;
}

size_t nat_probe_targets(const struct ip_endpoint *configured, const struct ovl_candidate *cands, size_t n_cands,
			 bool skip_relay,
			 const struct nat_prflx *prflx, struct ip_endpoint *out, size_t cap)
{
	struct ovl_candidate all[NAT_MAX_CANDIDATES + NAT_MAX_PEER_REFLEXIVE];
	size_t n = 0, n_all = 0;
	if (!ip_endpoint_is_unset(configured) && n < cap)
		out[n++] = *configured;
	for (size_t i = 0; i < n_cands && n_all < NAT_MAX_CANDIDATES; i++)
		if (!skip_relay || cands[i].type != OVL_CAND_RELAY)
			all[n_all++] = cands[i];
	for (size_t i = 0; i < prflx->n; i++)
		all[n_all++] = prflx->cands[i];
	nat_candidates_sort(all, n_all);
	for (size_t i = 0; i < n_all && n < cap; i++) {
		bool dup = false;
		for (size_t j = 0; j < n && !dup; j++)
			dup = ip_endpoint_equal(&out[j], &all[i].address);
		if (!dup)
			out[n++] = all[i].address;
	}
	return n;
}

/* Addresses a remote node could send to: not link-local, multicast or unspecified. */
static bool address_usable(const struct ip_addr *a)
{
	if (a->family == AF_INET)
		return a->bytes[0] != 0 && a->bytes[0] != 127 && !(a->bytes[0] == 169 && a->bytes[1] == 254) &&
		       a->bytes[0] < 224;
	return !IN6_IS_ADDR_LINKLOCAL(&a->v6) && !IN6_IS_ADDR_MULTICAST(&a->v6) &&
	       !IN6_IS_ADDR_UNSPECIFIED(&a->v6) && !IN6_IS_ADDR_LOOPBACK(&a->v6);
}

int nat_gather_host(uint16_t port, struct ovl_candidate *out, size_t cap)
{
	struct ifaddrs *ifs, *it;
	size_t n = 0;
	unsigned index[2] = { 0, 0 };

	if (getifaddrs(&ifs) < 0)
		return -errno;
	for (it = ifs; it; it = it->ifa_next) {
		struct ovl_candidate c = { .type = OVL_CAND_HOST };
		if (!it->ifa_addr || (it->ifa_addr->sa_family != AF_INET && it->ifa_addr->sa_family != AF_INET6))
			continue;
		if (!nat_interface_eligible(it->ifa_name, it->ifa_flags, "/sys/class/net"))
			continue;
		if (ip_endpoint_from_sockaddr(it->ifa_addr, &c.address) < 0 || !address_usable(&c.address.addr))
			continue;
		c.address.port = port;
		int fam = c.address.addr.family == AF_INET6;
		c.priority = nat_priority(NAT_TYPE_PREF_HOST, nat_local_preference(c.address.addr.family, index[fam]++),
					  NAT_COMPONENT_ID);
		if (n < cap && n < NAT_MAX_CANDIDATES)
			nat_candidate_add(out, &n, &c);
	}
	freeifaddrs(ifs);
	return (int)n;
}
