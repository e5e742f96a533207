// SPDX-License-Identifier: MIT
/*
 * rtnetlink requests on libmnl. See netlink.h for the contract.
 *
 * One request at a time per handle: nl_talk() sends, then reads until the
 * kernel's ACK, error or NLMSG_DONE, so the socket never holds stale answers
 * for the next request. Callbacks given to nl_talk() never abort libmnl's
 * parse loop; they store their first error and let the dump drain.
 */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/netlink.h"

/* Large enough for any multi-part dump message the kernel builds for us. */
#define NL_RECV_SIZE 32768
/* Our requests are small and bounded (names are checked to fit IFNAMSIZ). */
#define NL_SEND_SIZE 1024

struct nl_handle {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char *rbuf;
};

/* A message buffer aligned for struct nlmsghdr. */
union nl_msgbuf {
	char buf[NL_SEND_SIZE];
	struct nlmsghdr align;
};

/* Per-request parse state, shared by the data and NLMSG_DONE callbacks. */
struct nl_reply {
	int (*fn)(const struct nlmsghdr *nlh, void *arg); /* 0 = go on; else stop with it */
	void *arg;
	int result;   /* first non-zero fn() result */
	bool intr;    /* the kernel flagged the dump as inconsistent */
};

int nl_open(struct nl_handle **out)
{
	struct nl_handle *nl = calloc(1, sizeof(*nl));
	int one = 1, err;

	if (!nl)
		return -ENOMEM;
	nl->rbuf = malloc(NL_RECV_SIZE);
	if (!nl->rbuf) {
		free(nl);
		return -ENOMEM;
	}
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock)
		goto fail;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	/* Errors need not echo our request back; only the errno matters. */
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)getpid() << 8; /* any start; only equality is checked */
	*out = nl;
	return 0;
fail:
	err = -errno;
	nl_close(nl);
	return err ? err : -EIO;
}

void nl_close(struct nl_handle *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl->rbuf);
	free(nl);
}

static int nl_data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_reply *r = data;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		r->intr = true;
	if (r->fn && r->result == 0)
		r->result = r->fn(nlh, r->arg);
	return MNL_CB_OK;
}

/* libmnl 1.0.4 ignores the errno the kernel puts in a dump's NLMSG_DONE. */
static int nl_done_cb(const struct nlmsghdr *nlh, void *data)
{
	const int *err = mnl_nlmsg_get_payload(nlh);

	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(*err) && *err < 0) {
		errno = -*err;
		return MNL_CB_ERROR;
	}
	return MNL_CB_STOP;
}

/* An ACK (error 0) ends a request; a negative error fails it. */
static int nl_error_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e->error < 0) {
		errno = -e->error;
		return MNL_CB_ERROR;
	}
	return MNL_CB_STOP;
}

/* With a control array, libmnl calls only these for types below NLMSG_MIN_TYPE. */
static mnl_cb_t nl_ctl_cbs[NLMSG_MIN_TYPE] = {
	[NLMSG_ERROR] = nl_error_cb,
	[NLMSG_DONE] = nl_done_cb,
};

/*
 * Sends req and reads the answer. fn (may be NULL) sees every data message.
 * Returns 0, fn's first non-zero result, -EAGAIN when a dump was interrupted
 * by a concurrent change, or the kernel's negative errno.
 */
static int nl_talk(struct nl_handle *nl, struct nlmsghdr *req,
		   int (*fn)(const struct nlmsghdr *, void *), void *arg)
{
	struct nl_reply r = { .fn = fn, .arg = arg };
	uint32_t seq = ++nl->seq;
	int ret;

	req->nlmsg_seq = seq;
	/* Dumps end with NLMSG_DONE; every other request gets an explicit ACK. */
	if ((req->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP)
		req->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sock, req, req->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->rbuf, NL_RECV_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		ret = mnl_cb_run2(nl->rbuf, (size_t)n, seq, nl->portid, nl_data_cb, &r,
				  nl_ctl_cbs, NLMSG_MIN_TYPE);
		if (ret == MNL_CB_ERROR)
			return errno ? -errno : -EIO;
		if (ret == MNL_CB_STOP)
			break;
	}
	if (r.result)
		return r.result;
	return r.intr ? -EAGAIN : 0;
}

static int check_ifname(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strlen(name);
	if (len == 0 || len >= IFNAMSIZ || strchr(name, '/') || strchr(name, ':') ||
	    !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	for (const char *p = name; *p; p++)
		if (*p == ' ' || *p == '\t' || *p == '\n')
			return -EINVAL;
	return 0;
}

static int check_family(const struct ip_addr *ip)
{
	return ip && (ip->family == AF_INET || ip->family == AF_INET6) ? 0 : -EINVAL;
}

static size_t addr_len(const struct ip_addr *ip)
{
	return ip->family == AF_INET6 ? 16 : 4;
}

/* ---- links ---------------------------------------------------------------- */

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
	int err = check_ifname(name);

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

/* Puts IFLA_LINKINFO { KIND bridge, DATA { STP_STATE 0 } }. */
static void put_bridge_info(struct nlmsghdr *nlh)
{
	struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	struct nlattr *data;

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
	int err = check_ifname(name);

	if (err)
		return err;
	link_msg(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	mnl_attr_put_strz(&m.align, IFLA_IFNAME, name);
	put_bridge_info(&m.align);
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
	put_bridge_info(&m.align);
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

	if ((err = check_ifname(host)) || (err = check_ifname(peer)))
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

int nl_link_move_to_netns_fd(struct nl_handle *nl, const char *name, int ns_fd, const char *new_name)
{
	union nl_msgbuf m;
	int index, err;

	if (ns_fd < 0 || (new_name && (err = check_ifname(new_name))))
		return -EINVAL;
	/* IFLA_IFNAME below is the new name, so the link is named by index. */
	index = nl_link_index(nl, name);
	if (index < 0)
		return index;
	link_msg(&m, RTM_NEWLINK, 0, index);
	mnl_attr_put_u32(&m.align, IFLA_NET_NS_FD, (uint32_t)ns_fd);
	if (new_name)
		mnl_attr_put_strz(&m.align, IFLA_IFNAME, new_name);
	return nl_talk(nl, &m.align, NULL, NULL);
}

/* RTM_NEWLINK on an existing link named by IFLA_IFNAME: one round trip. */
static struct ifinfomsg *link_set_msg(union nl_msgbuf *m, const char *name)
{
	struct ifinfomsg *ifi = link_msg(m, RTM_NEWLINK, 0, 0);

	mnl_attr_put_strz(&m->align, IFLA_IFNAME, name);
	return ifi;
}

static int link_set_flags(struct nl_handle *nl, const char *name, unsigned int flags)
{
	union nl_msgbuf m;
	struct ifinfomsg *ifi;
	int err = check_ifname(name);

	if (err)
		return err;
	ifi = link_set_msg(&m, name);
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = flags;
	return nl_talk(nl, &m.align, NULL, NULL);
}

int nl_link_set_up(struct nl_handle *nl, const char *name)
{
	return link_set_flags(nl, name, IFF_UP);
}

int nl_link_set_down(struct nl_handle *nl, const char *name)
{
	return link_set_flags(nl, name, 0);
}

int nl_link_set_mtu(struct nl_handle *nl, const char *name, uint32_t mtu)
{
	union nl_msgbuf m;
	int err = check_ifname(name);

	if (err)
		return err;
	link_set_msg(&m, name);
	mnl_attr_put_u32(&m.align, IFLA_MTU, mtu);
	return nl_talk(nl, &m.align, NULL, NULL);
}

int nl_link_set_master(struct nl_handle *nl, const char *link, const char *bridge)
{
	union nl_msgbuf m;
	int master = 0, err = check_ifname(link);

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
	int err = check_ifname(name);

	if (err)
		return err;
	link_msg(&m, RTM_DELLINK, 0, 0);
	mnl_attr_put_strz(&m.align, IFLA_IFNAME, name);
	err = nl_talk(nl, &m.align, NULL, NULL);
	return err == -ENODEV ? 0 : err;
}

/* ---- addresses ------------------------------------------------------------ */

static int addr_request(struct nl_handle *nl, uint16_t type, uint16_t flags, int index,
			const struct ip_addr *ip, uint8_t prefix_len)
{
	union nl_msgbuf m;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(m.buf);
	struct ifaddrmsg *ifa;

	if (check_family(ip) || prefix_len > ip_addr_bits(ip))
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
	mnl_attr_put(nlh, IFA_LOCAL, addr_len(ip), ip->bytes);
	if (type == RTM_NEWADDR)
		mnl_attr_put(nlh, IFA_ADDRESS, addr_len(ip), ip->bytes);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_addr_add(struct nl_handle *nl, const char *link, const struct ip_addr *ip, uint8_t prefix_len)
{
	int index, err;

	if (check_family(ip))
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

	if (check_family(ip))
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
	len = addr_len(&p.addr);
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

/* ---- routes --------------------------------------------------------------- */

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
		mnl_attr_put(nlh, RTA_DST, addr_len(s->dst), s->dst->bytes);
	if (s->oif)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)s->oif);
	if (s->gateway)
		mnl_attr_put(nlh, RTA_GATEWAY, addr_len(s->gateway), s->gateway->bytes);
	if (s->prefsrc)
		mnl_attr_put(nlh, RTA_PREFSRC, addr_len(s->prefsrc), s->prefsrc->bytes);
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

	if (check_family(dst) || dst_len > ip_addr_bits(dst) ||
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
	if (check_family(ip))
		return -EINVAL;
	return route_via_link(nl, RTM_NEWROUTE, ip, (uint8_t)ip_addr_bits(ip), link, preferred_src);
}

int nl_route_delete_host(struct nl_handle *nl, const struct ip_addr *ip, const char *link)
{
	if (check_family(ip))
		return -EINVAL;
	return route_via_link(nl, RTM_DELROUTE, ip, (uint8_t)ip_addr_bits(ip), link, NULL);
}

int nl_route_replace(struct nl_handle *nl, const struct ip_prefix *prefix, const char *link)
{
	struct ip_prefix net;

	if (!prefix || check_family(&prefix->addr))
		return -EINVAL;
	net = ip_prefix_network(prefix);
	return route_via_link(nl, RTM_NEWROUTE, &net.addr, net.len, link, NULL);
}

int nl_route_delete(struct nl_handle *nl, const struct ip_prefix *prefix, const char *link)
{
	struct ip_prefix net;

	if (!prefix || check_family(&prefix->addr))
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

	if (check_family(gw) || ip_addr_is_unspecified(gw))
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

	if (a && mnl_attr_get_payload_len(a) == addr_len(&tmp)) {
		memcpy(tmp.bytes, mnl_attr_get_payload(a), addr_len(&tmp));
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

	if (check_family(dst))
		return -EINVAL;
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)dst->family;
	rtm->rtm_dst_len = (uint8_t)ip_addr_bits(dst);
	mnl_attr_put(nlh, RTA_DST, addr_len(dst), dst->bytes);
	memset(out, 0, sizeof(*out));
	return nl_talk(nl, nlh, route_lookup_cb, out);
}
