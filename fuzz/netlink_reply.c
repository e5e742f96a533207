// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the parsing of rtnetlink replies (src/net): the
 * public nl_* calls that read what the kernel answers - link get and dump,
 * bridge member count, address dump, route lookup, and a plain ACK - run
 * against a fake kernel. The parsers are static, so the harness replaces
 * libmnl's socket calls (the executable's definitions take precedence over
 * libmnl.so's): the request is swallowed and the reply datagrams are the
 * fuzz input. Everything from mnl_cb_run2() on is the real code.
 *
 * Input: one byte choosing the call (bit 7: leave the sequence numbers and
 * port ids as they are instead of matching them to the request), then
 * datagrams, each a 16-bit little-endian length and that many bytes. When
 * they run out a receive fails with EIO, as a lost socket would. Message
 * lengths are clamped to the datagram, as the kernel frames its messages.
 *
 *   build-fuzz/fuzz/fuzz_netlink_reply fuzz/corpus-netlink_reply/ -max_total_time=60
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/netlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAKE_PORTID 4242u

static struct {
	const uint8_t *data;
	size_t size, off;
	uint32_t seq;   /* of the last request sent */
	bool keep_ids;  /* do not patch seq/portid into the replies */
} fake;

/* ---- the fake kernel: libmnl's socket calls ---- */

struct mnl_socket *mnl_socket_open2(int bus, int flags)
{
	static int token;
	(void)bus;
	(void)flags;
	return (struct mnl_socket *)&token;
}

int mnl_socket_bind(struct mnl_socket *nl, unsigned int groups, pid_t pid)
{
	return 0;
}

int mnl_socket_setsockopt(const struct mnl_socket *nl, int type, void *buf, socklen_t len)
{
	return 0;
}

unsigned int mnl_socket_get_portid(const struct mnl_socket *nl)
{
	return FAKE_PORTID;
}

int mnl_socket_close(struct mnl_socket *nl)
{
	return 0;
}

ssize_t mnl_socket_sendto(const struct mnl_socket *nl, const void *req, size_t len)
{
	const struct nlmsghdr *nlh = req;
	if (len < sizeof(*nlh) || nlh->nlmsg_len != len)
		abort(); /* our own requests must be well formed */
	fake.seq = nlh->nlmsg_seq;
	return (ssize_t)len;
}

ssize_t mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t bufsiz)
{
	if (fake.size - fake.off < 2) {
		errno = EIO;
		return -1;
	}
	size_t len = (size_t)fake.data[fake.off] | (size_t)fake.data[fake.off + 1] << 8;
	fake.off += 2;
	if (len > fake.size - fake.off)
		len = fake.size - fake.off;
	if (len > bufsiz)
		len = bufsiz; /* the kernel truncates a datagram to the buffer */
	memcpy(buf, fake.data + fake.off, len);
	fake.off += len;
	/*
	 * The kernel frames what it sends: every nlmsg_len lies within the
	 * datagram. What is inside the messages is left to the fuzzer. (libmnl's
	 * mnl_nlmsg_ok() casts nlmsg_len to int, so a length of 2^31 or more
	 * would walk it off the buffer: a sender only the kernel can be.)
	 */
	for (size_t off = 0; len - off >= sizeof(struct nlmsghdr);) {
		struct nlmsghdr *h = (struct nlmsghdr *)((uint8_t *)buf + off);
		if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > len - off)
			h->nlmsg_len = (uint32_t)(len - off);
		if (!fake.keep_ids) { /* address the reply to the request, as the kernel does */
			h->nlmsg_seq = fake.seq;
			h->nlmsg_pid = FAKE_PORTID;
		}
		off += NLMSG_ALIGN(h->nlmsg_len);
		if (off > len)
			break;
	}
	return (ssize_t)len;
}

/* ---- the calls under test ---- */

static int count_link(const struct nl_link *l, void *arg)
{
	if (strnlen(l->name, sizeof(l->name)) == sizeof(l->name) || strnlen(l->kind, sizeof(l->kind)) == sizeof(l->kind))
		abort(); /* names must come back terminated */
	(*(int *)arg)++;
	return 0;
}

static int count_addr(const struct ip_prefix *p, void *arg)
{
	/* Only IPv4 and IPv6 addresses reach the caller. (The prefix length is
	 * passed on as the kernel sent it, up to 255: not checked here.) */
	if (p->addr.family != AF_INET && p->addr.family != AF_INET6)
		abort();
	(*(int *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nl_handle *nl;
	struct nl_link link;
	struct nl_route route;
	struct ip_addr dst;
	int n = 0;

	if (size < 1)
		return 0;
	fake.data = data;
	fake.size = size;
	fake.off = 1;
	fake.keep_ids = data[0] & 0x80;
	if (nl_open(&nl))
		return 0;
	switch (data[0] & 0x7f) {
	case 0:
		if (nl_link_get(nl, "br0", &link) == 0)
			count_link(&link, &n);
		break;
	case 1:
		nl_link_list(nl, count_link, &n);
		break;
	case 2:
		nl_bridge_member_count(nl, "br0");
		break;
	case 3:
		nl_addr_list(nl, "br0", count_addr, &n);
		break;
	case 4:
		if (ip_addr_parse("10.0.0.5", &dst) == 0)
			nl_route_lookup(nl, &dst, &route);
		break;
	case 5:
		if (ip_addr_parse("fd00::5", &dst) == 0)
			nl_route_lookup(nl, &dst, &route);
		break;
	case 6:
		nl_link_set_up(nl, "br0");
		break;
	default:
		nl_link_index(nl, "br0");
		break;
	}
	nl_close(nl);
	return 0;
}
