/* SPDX-License-Identifier: MIT */
/*
 * What the rtnetlink object files (link.c, addr.c, route.c) share with the
 * request core in netlink.c; not for callers outside src/net (they use
 * netlink.h). Split by object as iproute2 does: each file builds its own
 * messages and hands them to nl_talk().
 */
#ifndef OVL_NET_NETLINK_PRIV_H
#define OVL_NET_NETLINK_PRIV_H

#include <linux/netlink.h>
#include <stddef.h>

#include "net/netlink.h"

/* Our requests are small and bounded (names are checked to fit IFNAMSIZ). */
#define NL_SEND_SIZE 1024

/* A request buffer aligned for struct nlmsghdr. */
union nl_msgbuf {
	char buf[NL_SEND_SIZE];
	struct nlmsghdr align;
};

/*
 * Sends req and reads the answer. fn (may be NULL) sees every data message;
 * it must not use nl, since the answer is still being read. Returns 0, fn's
 * first non-zero result, -EAGAIN when a dump was interrupted by a concurrent
 * change, or the kernel's negative errno.
 */
int nl_talk(struct nl_handle *nl, struct nlmsghdr *req, int (*fn)(const struct nlmsghdr *, void *), void *arg);

/* 0 for a name the kernel accepts as an interface name, else -EINVAL. */
int nl_check_ifname(const char *name);
/* 0 for an IPv4 or IPv6 address, else -EINVAL. */
int nl_check_family(const struct ip_addr *ip);
/* Bytes of the address on the wire: 4 or 16. */
size_t nl_addr_len(const struct ip_addr *ip);

#endif
