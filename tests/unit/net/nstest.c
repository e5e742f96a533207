// SPDX-License-Identifier: MIT
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/netlink.h"
#include "net/netns.h"
#include "nstest.h"

bool nstest_active;

bool nstest_enter(void)
{
	struct nl_handle *nl;
	int err;

	if (geteuid() != 0) {
		fprintf(stderr, "# not root: kernel tests are skipped\n");
		return false;
	}
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "# unshare(CLONE_NEWNET): %s: kernel tests are skipped\n", strerror(errno));
		return false;
	}
	if ((err = nl_open(&nl)) || (err = nl_link_set_up(nl, "lo"))) {
		fprintf(stderr, "# bringing lo up: %s\n", strerror(-err));
		nl_close(nl);
		return false;
	}
	nl_close(nl);
	nstest_active = true;
	return true;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static uint16_t icmp_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

struct ping_job {
	struct ip_addr dst;
	int timeout_ms;
};

/* Our echo reply? v4 raw sockets see the IP header, v6 ones do not. */
static bool is_our_reply(const uint8_t *buf, ssize_t n, const struct sockaddr_storage *from,
			 const struct ping_job *job, uint16_t id)
{
	struct ip_endpoint src;
	size_t off = 0;

	if (ip_endpoint_from_sockaddr((const struct sockaddr *)from, &src) ||
	    !ip_addr_equal(&src.addr, &job->dst))
		return false;
	if (job->dst.family == AF_INET) {
		const struct iphdr *ip = (const struct iphdr *)buf;
		const struct icmphdr *icmp;

		if (n < (ssize_t)sizeof(*ip))
			return false;
		off = (size_t)ip->ihl * 4;
		if ((size_t)n < off + sizeof(*icmp))
			return false;
		icmp = (const struct icmphdr *)(buf + off);
		return icmp->type == ICMP_ECHOREPLY && icmp->un.echo.id == htons(id);
	} else {
		const struct icmp6_hdr *icmp6 = (const struct icmp6_hdr *)buf;

		return (size_t)n >= sizeof(*icmp6) && icmp6->icmp6_type == ICMP6_ECHO_REPLY &&
		       icmp6->icmp6_id == htons(id);
	}
}

static void build_echo(const struct ping_job *job, uint16_t id, uint16_t seq, uint8_t *pkt, size_t *len)
{
	if (job->dst.family == AF_INET) {
		struct icmphdr req = { .type = ICMP_ECHO };
		req.un.echo.id = htons(id);
		req.un.echo.sequence = htons(seq);
		req.checksum = icmp_checksum(&req, sizeof(req));
		memcpy(pkt, &req, sizeof(req));
		*len = sizeof(req);
	} else {
		/* The kernel computes ICMPv6 checksums on raw sockets itself. */
		struct icmp6_hdr req = { .icmp6_type = ICMP6_ECHO_REQUEST };
		req.icmp6_id = htons(id);
		req.icmp6_seq = htons(seq);
		memcpy(pkt, &req, sizeof(req));
		*len = sizeof(req);
	}
}

static int ping_in_ns(void *arg)
{
	const struct ping_job *job = arg;
	struct ip_endpoint to_ep = { .addr = job->dst };
	struct sockaddr_storage to;
	socklen_t to_len;
	uint16_t id = (uint16_t)(getpid() ^ (now_ms() & 0xffff));
	long deadline = now_ms() + job->timeout_ms, next_send = 0;
	uint16_t seq = 0;
	int fd, ret = -ETIMEDOUT;

	ip_endpoint_to_sockaddr(&to_ep, &to, &to_len);
	fd = job->dst.family == AF_INET ? socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP)
					: socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (fd < 0)
		return -errno;
	while (now_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long t = now_ms();

		if (t >= next_send) {
			uint8_t pkt[64];
			size_t len;
			build_echo(job, id, ++seq, pkt, &len);
			/* Unreachable destinations fail sendto; keep trying until the deadline. */
			sendto(fd, pkt, len, 0, (struct sockaddr *)&to, to_len);
			next_send = t + 100;
		}
		if (poll(&pfd, 1, (int)(next_send - now_ms() > 0 ? next_send - now_ms() : 0)) > 0) {
			uint8_t buf[1500];
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (n > 0 && is_our_reply(buf, n, &from, job, id)) {
				ret = 0;
				break;
			}
		}
	}
	close(fd);
	return ret;
}

int nstest_ping(int ns_fd, const char *dst, int timeout_ms)
{
	struct ping_job job = { .timeout_ms = timeout_ms };

	if (ip_addr_parse(dst, &job.dst))
		return -EINVAL;
	return netns_run(ns_fd, ping_in_ns, &job);
}

struct container_job {
	const char *ip, *gw;
	int prefix_len;
};

static int container_setup(void *arg)
{
	const struct container_job *c = arg;
	struct nl_handle *nl;
	struct ip_addr ip, gw;
	int err;

	if ((err = nl_open(&nl)))
		return err;
	if ((err = ip_addr_parse(c->ip, &ip)) || (c->gw && (err = ip_addr_parse(c->gw, &gw))))
		goto out;
	if ((err = nl_addr_add(nl, "eth0", &ip, (uint8_t)c->prefix_len)) ||
	    (err = nl_link_set_up(nl, "eth0")) || (err = nl_link_set_up(nl, "lo")))
		goto out;
	if (c->gw)
		err = nl_route_add_default(nl, &gw);
out:
	nl_close(nl);
	return err;
}

int nstest_container(struct nl_handle *nl, const char *host, const char *bridge, const char *ip,
		     int prefix_len, const char *gw)
{
	struct container_job job = { ip, gw, prefix_len };
	int fd, err;

	fd = netns_new();
	if (fd < 0)
		return fd;
	if ((err = nl_veth_create_into(nl, host, "eth0", fd, 0)) ||
	    (err = netns_run(fd, container_setup, &job)) || (err = nl_link_set_up(nl, host)) ||
	    (bridge && (err = nl_link_set_master(nl, host, bridge)))) {
		close(fd);
		return err;
	}
	return fd;
}

static int add_addr_in_ns(void *arg)
{
	const struct container_job *c = arg;
	struct nl_handle *nl;
	struct ip_addr ip, gw;
	int err;

	if ((err = nl_open(&nl)))
		return err;
	if (!(err = ip_addr_parse(c->ip, &ip)) && !(err = nl_addr_add(nl, "eth0", &ip, (uint8_t)c->prefix_len)) &&
	    c->gw && !(err = ip_addr_parse(c->gw, &gw)))
		err = nl_route_add_default(nl, &gw);
	nl_close(nl);
	return err;
}

int nstest_container_addr(int ns_fd, const char *ip, int prefix_len, const char *gw)
{
	struct container_job job = { ip, gw, prefix_len };

	return netns_run(ns_fd, add_addr_in_ns, &job);
}
