/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the net tests that need the kernel: each test program moves
 * itself into a fresh network namespace first, so nothing it does can reach
 * the host's links, routes, sysctls or firewall, and everything it creates
 * disappears with the process.
 */
#ifndef OVL_TEST_NSTEST_H
#define OVL_TEST_NSTEST_H

#include <stdbool.h>

struct nl_handle;

/*
 * When root: unshare(CLONE_NEWNET) for the whole (still single-threaded)
 * process and bring "lo" up. Returns false (with a note on stderr) when not
 * root or when unshare fails; the kernel tests then skip.
 */
bool nstest_enter(void);
extern bool nstest_active;

/* In a cmocka test: skip it unless nstest_enter() succeeded. */
#define NSTEST_REQUIRE()                                                                            \
	do {                                                                                        \
		if (!nstest_active)                                                                 \
			skip();                                                                     \
	} while (0)

/*
 * Sends ICMP echo requests from the namespace behind ns_fd to dst (v4 or v6)
 * every 100 ms until a reply comes or timeout_ms pass. Returns 0 on a reply,
 * -ETIMEDOUT without one, another negative errno on a local failure.
 */
int nstest_ping(int ns_fd, const char *dst, int timeout_ms);

/*
 * A "container": a fresh namespace holding eth0 = the peer of host-side veth
 * `host` (created here), address ip/prefix_len, lo and eth0 up, default route
 * via gw (when not NULL). When bridge is not NULL the host end is enslaved to
 * it; the host end is always up. Returns the namespace fd or a negative errno.
 */
int nstest_container(struct nl_handle *nl, const char *host, const char *bridge, const char *ip,
		     int prefix_len, const char *gw);

/* Adds another address (and default route via gw, if not NULL) to a container's eth0. */
int nstest_container_addr(int ns_fd, const char *ip, int prefix_len, const char *gw);

#endif
