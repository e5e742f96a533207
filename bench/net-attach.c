// SPDX-License-Identifier: MIT
/*
 * Cost of the net-layer part of a container attach + detach, the sequence
 * the engine runs: pre-clean, veth pair born in the container's namespace
 * under its final name (nl_veth_create_into), address, lo/eth0 up and
 * default route in there, host end up and enslaved; detach deletes the veth.
 * "Containers" are fresh namespaces made beforehand, so only our work is
 * timed. Runs inside a private namespace; prints p50/p99. Not a test: run it
 * with `meson test -C build --benchmark net_attach`.
 *   bench_net_attach [CYCLES]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/netlink.h"
#include "net/netns.h"
#include "nstest.h"

struct inside {
	struct ip_addr ip, gw;
};

static int configure_inside(void *arg)
{
	struct inside *in = arg;
	struct nl_handle *nl;
	int err;

	if ((err = nl_open(&nl)))
		return err;
	if (!(err = nl_addr_add(nl, "eth0", &in->ip, 24)) && !(err = nl_link_set_up(nl, "eth0")) &&
	    !(err = nl_link_set_up(nl, "lo")))
		err = nl_route_add_default(nl, &in->gw);
	nl_close(nl);
	return err;
}

static int attach(struct nl_handle *nl, int ns_fd, int i, struct inside *in)
{
	char host[IFNAMSIZ];
	int err;

	snprintf(host, sizeof(host), "veth-%u-s", (unsigned)i % 100000u);
	if ((err = nl_link_delete(nl, host)) || (err = nl_veth_create_into(nl, host, "eth0", ns_fd, 0)) || (err = netns_run(ns_fd, configure_inside, in)) || (err = nl_link_set_up(nl, host)) ||
	    (err = nl_link_set_master(nl, host, "zl-bench")))
		return err;
	return 0;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	struct nl_handle *nl;
	struct inside in;
	double *t;
	int err;

	if (n <= 0 || !nstest_enter())
		return 77;
	t = calloc((size_t)n, sizeof(*t));
	if (!t || nl_open(&nl))
		return 1;
	ip_addr_parse("10.88.0.1", &in.gw);
	if ((err = nl_bridge_create(nl, "zl-bench")) || (err = nl_addr_add(nl, "zl-bench", &in.gw, 24)) ||
	    (err = nl_link_set_up(nl, "zl-bench"))) {
		fprintf(stderr, "bridge: %s\n", strerror(-err));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		int ns = netns_new();
		char host[IFNAMSIZ];
		double t0;

		if (ns < 0)
			return 1;
		ip_addr_parse("10.88.0.2", &in.ip);
		snprintf(host, sizeof(host), "veth-%u-s", (unsigned)i % 100000u);
		t0 = now_us();
		if ((err = attach(nl, ns, i, &in)) || (err = nl_link_delete(nl, host))) {
			fprintf(stderr, "cycle %d: %s\n", i, strerror(-err));
			return 1;
		}
		t[i] = now_us() - t0;
		close(ns);
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("net attach+detach (veth born in netns), %d cycles: p50 %.0f us, p99 %.0f us\n", n, t[n / 2],
	       t[(size_t)(n * 0.99) < (size_t)n ? (size_t)(n * 0.99) : (size_t)n - 1]);
	nl_link_delete(nl, "zl-bench");
	nl_close(nl);
	free(t);
	return 0;
}
