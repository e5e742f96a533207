// SPDX-License-Identifier: MIT
/*
 * rtnetlink routes: host and prefix routes out of a link, the default route, lookups. See netlink.h for the contract.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "net/netlink_priv.h"

struct route_spec {
	uint16_t type;  /* RTM_NEWROUTE / RTM_DELROUTE */
	uint16_t flags;
	const struct ip_addr *dst; /* NULL = default route */
	uint8_t dst_len;
	sa_family_t family;
	int oif;                   /* 0 = none */
	const struct ip_addr *gateway;
	const struct ip_addr *prefsrc;
};

static int route_request(struct nl_handle *nl, const struct route_spec *s)
{
	union nl_msgbuf m;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(m.buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = s->type;
	nlh->nlmsg_flags = NLM_F_REQUEST | s->flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)s->family;
	rtm->rtm_dst_len = s->dst_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	if (s->type == RTM_NEWROUTE) {
		rtm->rtm_protocol = RTPROT_BOOT;
		rtm->rtm_type = RTN_UNICAST;
		/* No gateway: the destination is on the link itself. */
		rtm->rtm_scope = s->gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	} else {
		rtm->rtm_scope = RT_SCOPE_NOWHERE; /* matches any scope */
	}
	if (s->dst)
		mnl_attr_put(nlh, RTA_DST, nl_addr_len(s->dst), s->dst->bytes);
	if (s->oif)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)s->oif);
	if (s->gateway)
		mnl_attr_put(nlh, RTA_GATEWAY, nl_addr_len(s->gateway), s->gateway->bytes);
	if (s->prefsrc)
		mnl_attr_put(nlh, RTA_PREFSRC, nl_addr_len(s->prefsrc), s->prefsrc->bytes);
	return nl_talk(nl, nlh, NULL, NULL);
}

/* Replace (or delete) the route to dst/dst_len out of link. */
static int route_via_link(struct nl_handle *nl, uint16_t type, const struct ip_addr *dst,
			  uint8_t dst_len, const char *link, const struct ip_addr *prefsrc)
{
	struct route_spec s = {
		.type = type,
		.flags = type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0,
		.dst = dst,
		.dst_len = dst_len,
		.family = dst->family,
		.prefsrc = prefsrc,
	};
	int err;

	if (nl_check_family(dst) || dst_len > ip_addr_bits(dst) ||
	    (prefsrc && prefsrc->family != dst->family))
		return -EINVAL;
	if (type == RTM_NEWROUTE && !link)
		return -EINVAL;
	if (link) {
		s.oif = nl_link_index(nl, link);
		if (s.oif < 0)
			/* A deleted link took its routes with it. */
			return type == RTM_DELROUTE && s.oif == -ENODEV ? 0 : s.oif;
	}
	err = route_request(nl, &s);
	if (type == RTM_DELROUTE && (err == -ESRCH || err == -ENODEV))
		return 0;
	return err;
}

int nl_route_replace_host(struct nl_handle *nl, const struct ip_addr *ip, const char *link,
			  const struct ip_addr *preferred_src)
{
	if (nl_check_family(ip))
		return -EINVAL;
	return route_via_link(nl, RTM_NEWROUTE, ip, (uint8_t)ip_addr_bits(ip), link, preferred_src);
}

int nl_route_delete_host(struct nl_handle *nl, const struct ip_addr *ip, const char *link)
{
	if (nl_check_family(ip))
		return -EINVAL;
	return route_via_link(nl, RTM_DELROUTE, ip, (uint8_t)ip_addr_bits(ip), link, NULL);
}

int nl_route_replace(struct nl_handle *nl, const struct ip_prefix *prefix, const char *link)
{
	struct ip_prefix net;

	if (!prefix || nl_check_family(&prefix->addr))
		return -EINVAL;
	net = ip_prefix_network(prefix);
	return route_via_link(nl, RTM_NEWROUTE, &net.addr, net.len, link, NULL);
}

int nl_route_delete(struct nl_handle *nl, const struct ip_prefix *prefix, const char *link)
{
	struct ip_prefix net;

	if (!prefix || nl_check_family(&prefix->addr))
		return -EINVAL;
	net = ip_prefix_network(prefix);
	return route_via_link(nl, RTM_DELROUTE, &net.addr, net.len, link, NULL);
}

int nl_route_add_default(struct nl_handle *nl, const struct ip_addr *gw)
{
	struct route_spec s = {
		.type = RTM_NEWROUTE,
		.flags = NLM_F_CREATE | NLM_F_REPLACE,
		.gateway = gw,
	};

	if (nl_check_family(gw) || ip_addr_is_unspecified(gw))
		return -EINVAL;
	s.family = gw->family;
	return route_request(nl, &s);
}

static int route_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type == RTA_OIF || type == RTA_GATEWAY || type == RTA_PREFSRC)
		tb[type] = a;
	return MNL_CB_OK;
}

static void route_addr_attr(const struct nlattr *a, sa_family_t family, struct ip_addr *out)
{
	struct ip_addr tmp = { .family = family };

	if (a && mnl_attr_get_payload_len(a) == nl_addr_len(&tmp)) {
		memcpy(tmp.bytes, mnl_attr_get_payload(a), nl_addr_len(&tmp));
		*out = tmp;
	}
}

static int route_lookup_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	const struct rtmsg *rtm;
	struct nl_route *r = arg;

	if (nlh->nlmsg_type != RTM_NEWROUTE || mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return 0;
	rtm = mnl_nlmsg_get_payload(nlh);
	mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb);
	if (tb[RTA_OIF] && mnl_attr_validate(tb[RTA_OIF], MNL_TYPE_U32) == 0)
		r->oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	route_addr_attr(tb[RTA_GATEWAY], rtm->rtm_family, &r->gateway);
	route_addr_attr(tb[RTA_PREFSRC], rtm->rtm_family, &r->prefsrc);
	return 0;
}

int nl_route_lookup(struct nl_handle *nl, const struct ip_addr *dst, struct nl_route *out)
{
	union nl_msgbuf m;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(m.buf);
	struct rtmsg *rtm;

	if (nl_check_family(dst))
		return -EINVAL;
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)dst->family;
	rtm->rtm_dst_len = (uint8_t)ip_addr_bits(dst);
	mnl_attr_put(nlh, RTA_DST, nl_addr_len(dst), dst->bytes);
	memset(out, 0, sizeof(*out));
	return nl_talk(nl, nlh, route_lookup_cb, out);
}
