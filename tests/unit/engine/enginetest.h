/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the engine's request-family tests (test_global.c,
 * test_service.c, test_attach.c, test_peers.c): a real engine with its real
 * data plane (bridges, veths, nftables, userspace WireGuard devices), driven
 * through engine_handle() inside the private network namespace nstest_enter()
 * made, and looked at from outside: the responses, the links, addresses and
 * routes of the namespace, its nftables ruleset and the state file.
 *
 * The tests assert what a client and an operator can see, never the engine's
 * internals, so they hold however the engine goes about it.
 */
#ifndef OVL_TEST_ENGINETEST_H
#define OVL_TEST_ENGINETEST_H

#include <stdbool.h>
#include <sys/types.h>

#include "engine/engine.h"
#include "net/netlink.h"

struct etest {
	char dir[64];     /* data dir: state.json, node.key */
	char wg_dir[80];  /* the WireGuard UAPI sockets */
	struct engine *e;
	struct nl_handle *nl; /* the test's own view of the namespace */
};

/* A fresh engine in a fresh data dir (the namespace must be entered already). */
void etest_open(struct etest *t);
/*
 * Graceful teardown, close and rm -rf, whatever happens; false (with the
 * names on stderr) when teardown left a zl-* or veth-* link behind.
 */
bool etest_close(struct etest *t);

/*
 * cmocka fixtures: *state becomes a struct etest, opened when the namespace
 * could be entered (tests start with NSTEST_REQUIRE()); teardown fails when
 * etest_close() finds leftovers.
 */
int etest_fixture_setup(void **state);
int etest_fixture_teardown(void **state);

/* Runs q; the caller frees *resp. */
void etest_call(struct etest *t, const struct ovl_request *q, struct ovl_response *resp);
/* Runs q, fails the test on OVL_RES_ERR, frees the response. */
void etest_ok(struct etest *t, const struct ovl_request *q);
/*
 * Runs q, which must be refused with a message containing why, and must
 * change nothing: links, addresses, routes, nftables and the state file are
 * as they were before.
 */
void etest_refused(struct etest *t, const struct ovl_request *q, const char *why);

/*
 * What an operator sees of the namespace and the daemon, as text: the state
 * file, every link (name, kind, master, up), its addresses, the routes and the
 * nftables ruleset. IPv6 link-local and multicast entries, which the kernel
 * adds on its own when carrier comes, are left out. malloc'd.
 */
char *etest_snapshot(struct etest *t);
/* The saved state as a restart loads it (state.json, then state.journal), as state.json text; malloc'd ("" when there is none). */
char *etest_state(struct etest *t);
/*
 * The value at a dotted path of the state file ("dataplane.interface",
 * "services.0.name"), as compact JSON ("\"zl-x-g\"", "true"); NULL when the
 * path is not there. malloc'd.
 */
char *etest_state_get(struct etest *t, const char *path);

/* Requests, filled the way the protocol decoder fills them. */
struct ovl_request etest_setup_global(const char *deployment, const char *cluster, const char *slice);
struct ovl_request etest_setup_service(const char *service, enum ovl_mode mode);

/* The global device's name (status "interface"); fails the test when there is none. */
void etest_global_ifname(struct etest *t, char name[IFNAMSIZ]);

/* True when the link has the address ip/len. */
bool etest_has_addr(struct etest *t, const char *link, const char *prefix);
/* The output of a command run in the namespace (e.g. "ip route"); malloc'd. */
char *etest_run(const char *cmd);

/*
 * What wg(8) sees: the device's answer to a UAPI "get=1" on its socket in
 * wg_dir (lines such as "public_key=<hex>", "allowed_ip=10.0.0.0/26"). malloc'd.
 */
char *etest_wg_get(struct etest *t, const char *ifname);

/*
 * A "container": a child process in a network namespace of its own, waiting
 * to be killed. Returns its pid.
 */
pid_t etest_container(void);
/* A pid that was a container's and exited (reaped): no such process now. */
pid_t etest_vanished_pid(void);
/* Kills and reaps it. */
void etest_container_end(pid_t pid);
/* The output of cmd run inside the container's namespace; malloc'd. */
char *etest_run_in(pid_t pid, const char *cmd);

#endif
