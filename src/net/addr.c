// SPDX-License-Identifier: MIT
/*
 * rtnetlink addresses: add, delete, list and flush a link's addresses. See netlink.h for the contract.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "net/netlink_priv.h"

static int addr_request(struct nl_handle *nl, uint16_t type, uint16_t flags, int index,
			const struct ip_addr *ip, uint8_t prefix_len)
{
	union nl_msgbuf m;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(m.buf);
	struct ifaddrmsg *ifa;

	if (nl_check_family(ip) || prefix_len > ip_addr_bits(ip))
		return -EINVAL;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)ip->family;
	ifa->ifa_prefixlen = prefix_len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)index;
	if (type == RTM_NEWADDR && ip->family == AF_INET6)
		ifa->ifa_flags = IFA_F_NODAD;
	mnl_attr_put(nlh, IFA_LOCAL, nl_addr_len(ip), ip->bytes);
	if (type == RTM_NEWADDR)
		mnl_attr_put(nlh, IFA_ADDRESS, nl_addr_len(ip), ip->bytes);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_addr_add(struct nl_handle *nl, const char *link, const struct ip_addr *ip, uint8_t prefix_len)
{
	int index, err;

	if (nl_check_family(ip))
		return -EINVAL;
	index = nl_link_index(nl, link);
	if (index < 0)
		return index;
	err = addr_request(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, index, ip, prefix_len);
	return err == -EEXIST ? 0 : err;
}

int nl_addr_del(struct nl_handle *nl, const char *link, const struct ip_addr *ip, uint8_t prefix_len)
{
	int index, err;

	if (nl_check_family(ip))
		return -EINVAL;
	index = nl_link_index(nl, link);
	if (index == -ENODEV)
		return 0;
	if (index < 0)
		return index;
	err = addr_request(nl, RTM_DELADDR, 0, index, ip, prefix_len);
	return err == -EADDRNOTAVAIL || err == -ENODEV ? 0 : err;
}

struct addr_walk {
	int index;
	nl_addr_fn fn;
	void *arg;
};

static int addr_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type == IFA_LOCAL || type == IFA_ADDRESS)
		tb[type] = a;
	return MNL_CB_OK;
}

static int addr_walk_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[IFA_MAX + 1] = { 0 };
	const struct ifaddrmsg *ifa;
	const struct nlattr *a;
	struct addr_walk *w = arg;
	struct ip_prefix p = { 0 };
	size_t len;

	if (nlh->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return 0;
	ifa = mnl_nlmsg_get_payload(nlh);
	/* Without strict checking the kernel dumps every link's addresses. */
	if ((int)ifa->ifa_index != w->index)
		return 0;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return 0;
	mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb);
	/* IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on p2p links. */
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	p.addr.family = ifa->ifa_family;
	len = nl_addr_len(&p.addr);
	if (!a || mnl_attr_get_payload_len(a) != len)
		return 0;
	memcpy(p.addr.bytes, mnl_attr_get_payload(a), len);
	p.len = ifa->ifa_prefixlen;
	return w->fn(&p, w->arg);
}

/* Dumps the link's addresses; fn must not use nl (the dump is in flight). */
static int addr_dump(struct nl_handle *nl, int index, nl_addr_fn fn, void *arg)
{
	struct addr_walk w = { index, fn, arg };
	union nl_msgbuf m;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(m.buf);
	struct ifaddrmsg *ifa;

	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	return nl_talk(nl, nlh, addr_walk_cb, &w);
}

int nl_addr_list(struct nl_handle *nl, const char *link, nl_addr_fn fn, void *arg)
{
	int index = nl_link_index(nl, link);

	if (index < 0)
		return index;
	return addr_dump(nl, index, fn, arg);
}

struct addr_vec {
	struct ip_prefix *v;
	size_t n, cap;
};

static int addr_collect_cb(const struct ip_prefix *p, void *arg)
{
	struct addr_vec *av = arg;

	if (av->n == av->cap) {
		size_t cap = av->cap ? av->cap * 2 : 8;
		struct ip_prefix *v = realloc(av->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		av->v = v;
		av->cap = cap;
	}
	av->v[av->n++] = *p;
	return 0;
}

int nl_addr_flush(struct nl_handle *nl, const char *link)
{
	struct addr_vec av = { 0 };
	int index, err;

	index = nl_link_index(nl, link);
	if (index < 0)
		return index;
	err = addr_dump(nl, index, addr_collect_cb, &av);
	for (size_t i = 0; !err && i < av.n; i++) {
		err = addr_request(nl, RTM_DELADDR, 0, index, &av.v[i].addr, av.v[i].len);
		/* Deleting a primary v4 address also drops its secondaries. */
		if (err == -EADDRNOTAVAIL)
			err = 0;
	}
	free(av.v);
	return err;
}

