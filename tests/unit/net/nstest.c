// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
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
	struct in_addr dst;
	int timeout_ms;
};

static bool is_our_reply(const uint8_t *buf, ssize_t n, const struct sockaddr_in *from,
			 const struct ping_job *job, uint16_t id)
{
	const struct iphdr *ip = (const struct iphdr *)buf;
	const struct icmphdr *icmp;
	size_t hl;

	if (n < (ssize_t)sizeof(*ip))
		return false;
	hl = (size_t)ip->ihl * 4;
	if ((size_t)n < hl + sizeof(*icmp) || from->sin_addr.s_addr != job->dst.s_addr)
		return false;
	icmp = (const struct icmphdr *)(buf + hl);
	return icmp->type == ICMP_ECHOREPLY && icmp->un.echo.id == htons(id);
}

static int ping_in_ns(void *arg)
{
	const struct ping_job *job = arg;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = job->dst };
	uint16_t id = (uint16_t)(getpid() ^ (now_ms() & 0xffff));
	long deadline = now_ms() + job->timeout_ms, next_send = 0;
	uint16_t seq = 0;
	int fd, ret = -ETIMEDOUT;

	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (fd < 0)
		return -errno;
	while (now_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long t = now_ms();

		if (t >= next_send) {
			struct icmphdr req = { .type = ICMP_ECHO };
			req.un.echo.id = htons(id);
			req.un.echo.sequence = htons(++seq);
			req.checksum = icmp_checksum(&req, sizeof(req));
			/* Unreachable destinations fail sendto; keep trying until the deadline. */
			sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&to, sizeof(to));
			next_send = t + 100;
		}
		if (poll(&pfd, 1, (int)(next_send - now_ms() > 0 ? next_send - now_ms() : 0)) > 0) {
			uint8_t buf[1500];
			struct sockaddr_in from;
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

	if (inet_pton(AF_INET, dst, &job.dst) != 1)
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
	char pending[IFNAMSIZ];
	int fd, err;

	fd = netns_new();
	if (fd < 0)
		return fd;
	snprintf(pending, sizeof(pending), "p-%s", host);
	if ((err = nl_veth_create(nl, host, pending)) ||
	    (err = nl_link_move_to_netns_fd(nl, pending, fd, "eth0")) ||
	    (err = netns_run(fd, container_setup, &job)) || (err = nl_link_set_up(nl, host)) ||
	    (bridge && (err = nl_link_set_master(nl, host, bridge)))) {
		close(fd);
		return err;
	}
	return fd;
}
