// SPDX-License-Identifier: MIT
/*
 * The rtnetlink request core on libmnl: the socket, and one request and its
 * answer at a time. See netlink.h for the contract; link.c, addr.c and
 * route.c build the messages for each kind of object.
 *
 * One request at a time per handle: nl_talk() sends, then reads until the
 * kernel's ACK, error or NLMSG_DONE, so the socket never holds stale answers
 * for the next request. Callbacks given to nl_talk() never abort libmnl's
 * parse loop; they store their first error and let the dump drain.
 */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/netlink_priv.h"

/* Large enough for any multi-part dump message the kernel builds for us. */
#define NL_RECV_SIZE 32768

struct nl_handle {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char *rbuf;
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

/* See netlink_priv.h. */
int nl_talk(struct nl_handle *nl, struct nlmsghdr *req,
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

int nl_check_ifname(const char *name)
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

int nl_check_family(const struct ip_addr *ip)
{
	return ip && (ip->family == AF_INET || ip->family == AF_INET6) ? 0 : -EINVAL;
}

size_t nl_addr_len(const struct ip_addr *ip)
{
	return ip->family == AF_INET6 ? 16 : 4;
}

