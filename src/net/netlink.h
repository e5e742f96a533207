/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink on libmnl: the one place that changes links, addresses and routes.
 *
 * A handle owns one NETLINK_ROUTE socket and is bound to the network namespace
 * it was opened in: open one inside netns_run() to work in a container's
 * namespace, keep one open in the host namespace for the hot path (every call
 * reuses the socket; only the calls whose comment says "dump" read a whole
 * table).
 *
 * Every change carries NLM_F_ACK and waits for the kernel's answer, so a
 * return of 0 means the kernel applied it. Every function returns 0 (or a
 * documented non-negative value) on success and a negative errno on failure;
 * callers word the error message, since only they know what the link was for.
 * Links are named by their name in the handle's namespace.
 *
 * The code is split by object as in iproute2: netlink.c (socket and request
 * core), link.c, addr.c, route.c.
 *
 * A handle is not thread-safe; use one per thread.
 */
#ifndef OVL_NET_NETLINK_H
#define OVL_NET_NETLINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/inet.h"

struct nl_handle;

/* Opens a NETLINK_ROUTE socket in the calling thread's namespace. */
int nl_open(struct nl_handle **out);
void nl_close(struct nl_handle *nl);

/* What the kernel reports about one link (RTM_NEWLINK). */
struct nl_link {
	char name[IFNAMSIZ];
	int index;
	char kind[16];      /* IFLA_INFO_KIND ("bridge", "veth", "tun"...); "" when none */
	int master;         /* ifindex of the bridge it is enslaved to; 0 = none */
	unsigned int flags; /* IFF_* (IFF_UP...) */
	uint32_t mtu;
	int stp_state;      /* bridges only: IFLA_BR_STP_STATE; -1 otherwise */
};

/* Index of the link (> 0), or -ENODEV. */
int nl_link_index(struct nl_handle *nl, const char *name);
/* 1 when the link exists, 0 when it does not, or a negative errno. */
int nl_link_exists(struct nl_handle *nl, const char *name);
/* One link's attributes; -ENODEV when missing. */
int nl_link_get(struct nl_handle *nl, const char *name, struct nl_link *out);

/*
 * Calls fn for every link in the namespace (one dump). A non-zero return from
 * fn stops the walk and is returned; the rest of the dump is still drained.
 * fn must not use nl (the dump is in flight). -EAGAIN when a concurrent change
 * interrupted the dump: the caller may walk again.
 */
typedef int (*nl_link_fn)(const struct nl_link *link, void *arg);
int nl_link_list(struct nl_handle *nl, nl_link_fn fn, void *arg);

/*
 * Creates a bridge with STP off (STP would hold new ports in "listening" for
 * seconds) and a fixed MAC derived from its name (a bridge otherwise takes
 * its lowest port's, which changes as ports come and go). An existing bridge
 * of that name is fine: its STP is switched off, its MAC set, and 0 returned.
 * -EEXIST when the name belongs to a link of another kind.
 */
int nl_bridge_create(struct nl_handle *nl, const char *name);
/* Number of links enslaved to the bridge (one dump); -ENODEV when missing. */
int nl_bridge_member_count(struct nl_handle *nl, const char *bridge);

/* Creates a veth pair host <-> peer, both in this namespace, both down. */
int nl_veth_create(struct nl_handle *nl, const char *host, const char *peer);
/*
 * Creates the pair with peer born in the namespace behind peer_ns_fd under
 * its final name, both ends with mtu (0: the default), in one request: no
 * move and rename afterwards (a move costs the kernel an RCU grace period),
 * and nothing is created when peer's name is taken there (-EEXIST).
 */
int nl_veth_create_into(struct nl_handle *nl, const char *host, const char *peer, int peer_ns_fd, uint32_t mtu);

int nl_link_set_up(struct nl_handle *nl, const char *name);
int nl_link_set_mtu(struct nl_handle *nl, const char *name, uint32_t mtu);
/* Enslaves link to bridge; bridge NULL releases it. */
int nl_link_set_master(struct nl_handle *nl, const char *link, const char *bridge);
/*
 * Deletes the link (for a veth, both ends). A link that does not exist counts
 * as deleted: returns 0, so teardown can be re-run.
 */
int nl_link_delete(struct nl_handle *nl, const char *name);

/*
 * Adds ip/prefix_len to the link; an identical address already there is fine.
 * IPv6 addresses skip duplicate address detection (IFA_F_NODAD): IPAM hands
 * out unique addresses, and DAD would leave the address unusable for ~1s.
 */
int nl_addr_add(struct nl_handle *nl, const char *link, const struct ip_addr *ip, uint8_t prefix_len);
/* Removes it; an address that is not there counts as removed (0). */
int nl_addr_del(struct nl_handle *nl, const char *link, const struct ip_addr *ip, uint8_t prefix_len);
/* Removes every IPv4 and IPv6 address (including link-local) from the link (one dump). */
int nl_addr_flush(struct nl_handle *nl, const char *link);
/* Calls fn for each address on the link (one dump), as nl_link_list() does. */
typedef int (*nl_addr_fn)(const struct ip_prefix *addr, void *arg);
int nl_addr_list(struct nl_handle *nl, const char *link, nl_addr_fn fn, void *arg);

/*
 * Host route ip/32 (or /128) out of link, scope link, in the main table,
 * replacing any route to the same destination. preferred_src (may be NULL)
 * becomes RTA_PREFSRC, the source the node uses to reach ip; it must be an
 * address of this namespace (else -EINVAL).
 */
int nl_route_replace_host(struct nl_handle *nl, const struct ip_addr *ip, const char *link,
			  const struct ip_addr *preferred_src);
/*
 * Deletes the host route to ip (through link when link is non-NULL). A route
 * or link that is already gone counts as deleted (0).
 */
int nl_route_delete_host(struct nl_handle *nl, const struct ip_addr *ip, const char *link);
/* Installs (or replaces) the default route of gw's family via gw. */
int nl_route_add_default(struct nl_handle *nl, const struct ip_addr *gw);
/* Route prefix out of link (scope link), replacing any route to that prefix. */
int nl_route_replace(struct nl_handle *nl, const struct ip_prefix *prefix, const char *link);
/* Deletes the route to prefix (through link when non-NULL); missing = 0. */
int nl_route_delete(struct nl_handle *nl, const struct ip_prefix *prefix, const char *link);

/* The route the kernel would use to reach dst (RTM_GETROUTE). */
struct nl_route {
	int oif;               /* 0 when none */
	struct ip_addr gateway; /* family 0 when on-link */
	struct ip_addr prefsrc; /* family 0 when unset */
};
/* -ENETUNREACH (or another negative errno) when there is no route. */
int nl_route_lookup(struct nl_handle *nl, const struct ip_addr *dst, struct nl_route *out);

#endif
