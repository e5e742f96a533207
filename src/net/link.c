// SPDX-License-Identifier: MIT
/*
 * rtnetlink links: get, list, create (bridges, veths), change and delete. See netlink.h for the contract.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdio.h>
#include <string.h>

#include "net/netlink_priv.h"

static struct ifinfomsg *link_msg(union nl_msgbuf *m, uint16_t type, uint16_t flags, int index)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(m->buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	return ifi;
}

static int link_parse_info_data_cb(const struct nlattr *a, void *data)
{
	struct nl_link *l = data;

	if (mnl_attr_get_type(a) == IFLA_BR_STP_STATE && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		l->stp_state = (int)mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static int link_parse_info_cb(const struct nlattr *a, void *data)
{
	struct nl_link *l = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_INFO_KIND:
		if (mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
			snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(a));
		break;
	case IFLA_INFO_DATA:
		/* Only bridge data is read; its kind precedes it in the nest. */
		if (!strcmp(l->kind, "bridge") && mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			mnl_attr_parse_nested(a, link_parse_info_data_cb, l);
		break;
	}
	return MNL_CB_OK;
}

static int link_parse_attr_cb(const struct nlattr *a, void *data)
{
	struct nl_link *l = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
			snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(a));
		break;
	case IFLA_MASTER:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			l->master = (int)mnl_attr_get_u32(a);
		break;
	case IFLA_MTU:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			l->mtu = mnl_attr_get_u32(a);
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			mnl_attr_parse_nested(a, link_parse_info_cb, l);
		break;
	}
	return MNL_CB_OK;
}

/* Fills *l from an RTM_NEWLINK; returns false for anything else. */
static bool link_parse(const struct nlmsghdr *nlh, struct nl_link *l)
{
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return false;
	ifi = mnl_nlmsg_get_payload(nlh);
	memset(l, 0, sizeof(*l));
	l->index = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	l->stp_state = -1;
	mnl_attr_parse(nlh, sizeof(*ifi), link_parse_attr_cb, l);
	return true;
}

static int link_get_cb(const struct nlmsghdr *nlh, void *arg)
{
	link_parse(nlh, arg);
	return 0;
}

int nl_link_get(struct nl_handle *nl, const char *name, struct nl_link *out)
{
	union nl_msgbuf m;
	int err = nl_check_ifname(name);

	if (err)
		return err;
	link_msg(&m, RTM_GETLINK, 0, 0);
	mnl_attr_put_strz(&m.align, IFLA_IFNAME, name);
	mnl_attr_put_u32(&m.align, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	memset(out, 0, sizeof(*out));
	err = nl_talk(nl, &m.align, link_get_cb, out);
	if (err)
		return err;
	return out->index > 0 ? 0 : -ENODEV;
}

int nl_link_index(struct nl_handle *nl, const char *name)
{
	struct nl_link l;
	int err = nl_link_get(nl, name, &l);

	return err ? err : l.index;
}

int nl_link_exists(struct nl_handle *nl, const char *name)
{
	int ret = nl_link_index(nl, name);

	if (ret == -ENODEV)
		return 0;
	return ret < 0 ? ret : 1;
}

struct link_walk {
	nl_link_fn fn;
	void *arg;
};

static int link_walk_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct link_walk *w = arg;
	struct nl_link l;

	if (!link_parse(nlh, &l))
		return 0;
	return w->fn(&l, w->arg);
}

int nl_link_list(struct nl_handle *nl, nl_link_fn fn, void *arg)
{
	struct link_walk w = { fn, arg };
	union nl_msgbuf m;

	link_msg(&m, RTM_GETLINK, NLM_F_DUMP, 0);
	mnl_attr_put_u32(&m.align, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return nl_talk(nl, &m.align, link_walk_cb, &w);
}

/*
 * A bridge whose address was never set takes the lowest MAC of its ports, so
 * it changes whenever a container's veth comes or goes, and every other
 * container keeps sending to the old gateway MAC (flooded, never routed)
 * until its ARP entry times out: seconds without traffic. A fixed address
 * derived from the name (FNV-1a; locally administered, unicast) never
 * changes, and is the same for the bridge a restart adopts.
 */
static void bridge_mac(const char *name, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *c = name; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
	mac[0] = 0x02;
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}

/* Puts IFLA_ADDRESS (bridge_mac) and IFLA_LINKINFO { KIND bridge, DATA { STP_STATE 0 } }. */
static void put_bridge_info(struct nlmsghdr *nlh, const char *name)
{
	struct nlattr *info;
	struct nlattr *data;
	uint8_t mac[6];

	bridge_mac(name, mac);
	mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(mac), mac);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);

	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
}

int nl_bridge_create(struct nl_handle *nl, const char *name)
{
	union nl_msgbuf m;
	struct nl_link l;
	int err = nl_check_ifname(name);

	if (err)
		return err;
	link_msg(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	mnl_attr_put_strz(&m.align, IFLA_IFNAME, name);
	put_bridge_info(&m.align, name);
	err = nl_talk(nl, &m.align, NULL, NULL);
	if (err != -EEXIST)
		return err;

	/* Already there (a restart, a retry): fine if it is a bridge. */
	err = nl_link_get(nl, name, &l);
	if (err)
		return err;
	if (strcmp(l.kind, "bridge"))
		return -EEXIST;
	link_msg(&m, RTM_NEWLINK, 0, l.index);
	put_bridge_info(&m.align, name);
	return nl_talk(nl, &m.align, NULL, NULL);
}

struct member_count {
	int bridge;
	int count;
};

static int member_count_cb(const struct nl_link *l, void *arg)
{
	struct member_count *mc = arg;

	if (l->master == mc->bridge)
		mc->count++;
	return 0;
}

int nl_bridge_member_count(struct nl_handle *nl, const char *bridge)
{
	struct member_count mc = { 0 };
	int err, tries = 0;

	mc.bridge = nl_link_index(nl, bridge);
	if (mc.bridge < 0)
		return mc.bridge;
	do {
		mc.count = 0;
		err = nl_link_list(nl, member_count_cb, &mc);
	} while (err == -EAGAIN && ++tries < 3);
	return err ? err : mc.count;
}

static int veth_create(struct nl_handle *nl, const char *host, const char *peer, int peer_ns_fd, uint32_t mtu)
{
	union nl_msgbuf m;
	struct nlattr *info, *data, *peer_nest;
	struct ifinfomsg *peer_ifi;
	int err;

	if ((err = nl_check_ifname(host)) || (err = nl_check_ifname(peer)))
		return err;
	link_msg(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	mnl_attr_put_strz(&m.align, IFLA_IFNAME, host);
	if (mtu)
		mnl_attr_put_u32(&m.align, IFLA_MTU, mtu);
	info = mnl_attr_nest_start(&m.align, IFLA_LINKINFO);
	mnl_attr_put_strz(&m.align, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(&m.align, IFLA_INFO_DATA);
	/* VETH_INFO_PEER holds an ifinfomsg followed by the peer's attributes. */
	peer_nest = mnl_attr_nest_start(&m.align, VETH_INFO_PEER);
	peer_ifi = mnl_nlmsg_put_extra_header(&m.align, sizeof(*peer_ifi));
	peer_ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(&m.align, IFLA_IFNAME, peer);
	if (mtu)
		mnl_attr_put_u32(&m.align, IFLA_MTU, mtu);
	if (peer_ns_fd >= 0)
		mnl_attr_put_u32(&m.align, IFLA_NET_NS_FD, (uint32_t)peer_ns_fd);
	mnl_attr_nest_end(&m.align, peer_nest);
	mnl_attr_nest_end(&m.align, data);
	mnl_attr_nest_end(&m.align, info);
	return nl_talk(nl, &m.align, NULL, NULL);
}

int nl_veth_create(struct nl_handle *nl, const char *host, const char *peer)
{
	return veth_create(nl, host, peer, -1, 0);
}

int nl_veth_create_into(struct nl_handle *nl, const char *host, const char *peer, int peer_ns_fd, uint32_t mtu)
{
	if (peer_ns_fd < 0)
		return -EINVAL;
	return veth_create(nl, host, peer, peer_ns_fd, mtu);
}

/* RTM_NEWLINK on an existing link named by IFLA_IFNAME: one round trip. */
static struct ifinfomsg *link_set_msg(union nl_msgbuf *m, const char *name)
{
	struct ifinfomsg *ifi = link_msg(m, RTM_NEWLINK, 0, 0);

	mnl_attr_put_strz(&m->align, IFLA_IFNAME, name);
	return ifi;
}

int nl_link_set_up(struct nl_handle *nl, const char *name)
{
	union nl_msgbuf m;
	struct ifinfomsg *ifi;
	int err = nl_check_ifname(name);

	if (err)
		return err;
	ifi = link_set_msg(&m, name);
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = IFF_UP;
	return nl_talk(nl, &m.align, NULL, NULL);
}

int nl_link_set_mtu(struct nl_handle *nl, const char *name, uint32_t mtu)
{
	union nl_msgbuf m;
	int err = nl_check_ifname(name);

	if (err)
		return err;
	link_set_msg(&m, name);
	mnl_attr_put_u32(&m.align, IFLA_MTU, mtu);
	return nl_talk(nl, &m.align, NULL, NULL);
}

int nl_link_set_master(struct nl_handle *nl, const char *link, const char *bridge)
{
	union nl_msgbuf m;
	int master = 0, err = nl_check_ifname(link);

	if (err)
		return err;
	if (bridge) {
		master = nl_link_index(nl, bridge);
		if (master < 0)
			return master;
	}
	link_set_msg(&m, link);
	mnl_attr_put_u32(&m.align, IFLA_MASTER, (uint32_t)master);
	return nl_talk(nl, &m.align, NULL, NULL);
}

int nl_link_delete(struct nl_handle *nl, const char *name)
{
	union nl_msgbuf m;
	int err = nl_check_ifname(name);

	if (err)
		return err;
	link_msg(&m, RTM_DELLINK, 0, 0);
	mnl_attr_put_strz(&m.align, IFLA_IFNAME, name);
	err = nl_talk(nl, &m.align, NULL, NULL);
	return err == -ENODEV ? 0 : err;
}

