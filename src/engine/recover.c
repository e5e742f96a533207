// SPDX-License-Identifier: MIT
/*
 * Restart recovery. After a stop without teardown (SIGTERM, an upgrade) or a
 * crash (SIGKILL) the userspace WireGuard devices' threads and sessions are
 * gone with the process, while their persistent TUN links (wgdev.h), bridges,
 * veths and container addresses survive. The record says what we own: the
 * devices are re-attached (rebuilt when missing) with the same keys, ports,
 * peers and addresses and handshake at once, surviving bridges are adopted
 * (recreated when missing), and everything else is cleaned deliberately.
 *
 * Containers: an attach changes the host before its batch is saved, and only
 * the save lets the answer go out. A crash in between leaves links the record
 * does not know, whose addresses the restored pools would hand out again. So
 * the host is the truth for what exists and the record for what was intended:
 *  1. container links of our naming (veth-<pid>-s|g) that no recorded
 *     attachment explains are deleted first: that request was never answered,
 *     and a retry makes them again;
 *  2. a recorded attachment is kept only when its links are exactly as
 *     recorded (host ends up, on the right bridge or route; the container's
 *     eth0/eth1 carry the recorded addresses), re-created with the recorded
 *     addresses when its link exists but differs (an unsaved detach and
 *     re-attach), and released when its process exited or its link is gone.
 * After this no address is in two places, and every live container is either
 * attached exactly as recorded or not at all.
 */
#include "engine/dp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/netlink.h"
#include "net/netns.h"
#include "util/log.h"

static void adopt_bridge(struct engine *e, struct dp_bridge *b)
{
	char err[300];
	struct dp_bridge fresh;
	struct ip_prefix subnet = b->subnet;
	char name[IFNAMSIZ];
	snprintf(name, sizeof(name), "%s", b->name);
	/* Re-running the creation adopts an existing bridge (flush, gateway, up) or makes a missing one. */
	if (dp_bridge_create(e, &fresh, name, &subnet, err, sizeof(err)) < 0) {
		log_error("recovery: %s", err);
		return;
	}
	/* Keep the restored pool (its allocations); only the link was refreshed. */
	ipam_slice_free(&fresh.pool);
}

static bool process_alive(uint32_t pid)
{
	char proc[32];
	snprintf(proc, sizeof(proc), "/proc/%u", pid);
	return access(proc, F_OK) == 0;
}

/* One interface inside the container: does it carry want, and no other address of its family? */
struct ns_addr_check {
	const char *ifname;
	struct ip_addr want;
	bool found;
	size_t others;
};

static int addr_visit(const struct ip_prefix *p, void *arg)
{
	struct ns_addr_check *c = arg;
	if (ip_addr_equal(&p->addr, &c->want))
		c->found = true;
	else if (p->addr.family == c->want.family)
		c->others++;
	return 0;
}

static int ns_addr_check(void *arg)
{
	struct ns_addr_check *c = arg;
	struct nl_handle *nl;
	int r = nl_open(&nl);
	if (r < 0)
		return r;
	r = nl_addr_list(nl, c->ifname, addr_visit, c);
	nl_close(nl);
	return r;
}

static bool container_addr_is(int ns_fd, const char *ifname, const struct ip_addr *want, char *why, size_t whylen)
{
	struct ns_addr_check c = { .ifname = ifname, .want = *want };
	char ip[IP_ADDR_STRLEN];
	ip_addr_format(want, ip, sizeof(ip));
	int r = netns_run(ns_fd, ns_addr_check, &c);
	if (r < 0)
		snprintf(why, whylen, "its %s cannot be read: %s", ifname, strerror(-r));
	else if (!c.found || c.others)
		snprintf(why, whylen, "its %s does not carry exactly %s", ifname, ip);
	return r >= 0 && c.found && !c.others;
}

/* The host end: up, and enslaved to master_index (0: no bridge, routed instead). */
static bool host_end_is(struct nl_handle *nl, const char *name, int master_index, char *why, size_t whylen)
{
	struct nl_link l;
	if (nl_link_get(nl, name, &l) < 0) {
		snprintf(why, whylen, "%s is missing", name);
		return false;
	}
	if (!(l.flags & IFF_UP) || (master_index && l.master != master_index)) {
		snprintf(why, whylen, "%s is down or not on its bridge", name);
		return false;
	}
	return true;
}

/*
 * Whether a's links are exactly as recorded. The host ends are checked
 * first: attach configures the container's end before it brings the host end
 * up, so an up host end means that end was configured; the addresses say
 * with what.
 */
static bool attach_intact(struct engine *e, const struct state_dp_attach *a, char *why, size_t whylen)
{
	struct nl_handle *nl = e->dp->nl;
	struct dp_bridge *b = dp_service_bridge(e->dp, dp_find_service(e->dp, a->service));
	char s_end[VETH_NAME_SIZE], g_end[VETH_NAME_SIZE];
	snprintf(s_end, sizeof(s_end), "veth-%u-s", a->pid);
	snprintf(g_end, sizeof(g_end), "veth-%u-g", a->pid);
	int master = b ? nl_link_index(nl, b->name) : -ENODEV;
	if (master <= 0) {
		snprintf(why, whylen, "its service's bridge is missing");
		return false;
	}
	if (!host_end_is(nl, s_end, master, why, whylen))
		return false;
	if (a->has_global) {
		if (!host_end_is(nl, g_end, 0, why, whylen))
			return false;
	} else if (nl_link_exists(nl, g_end) != 0) {
		snprintf(why, whylen, "%s exists but no global address is recorded", g_end);
		return false;
	}
	int ns_fd = netns_open_pid((pid_t)a->pid);
	if (ns_fd < 0) {
		snprintf(why, whylen, "its network namespace cannot be opened: %s", strerror(-ns_fd));
		return false;
	}
	bool ok = container_addr_is(ns_fd, "eth0", &a->ip, why, whylen) &&
		  (!a->has_global || container_addr_is(ns_fd, "eth1", &a->global_ip, why, whylen));
	close(ns_fd);
	return ok;
}

/*
 * The host route to a's global address goes with the global device's address
 * (its source) when the device dies with the process; the rebuilt device
 * brings the address back, this the route.
 */
static void restore_global_route(struct engine *e, const struct state_dp_attach *a)
{
	char g_end[VETH_NAME_SIZE];
	if (!a->has_global || !e->dp->has_device)
		return;
	snprintf(g_end, sizeof(g_end), "veth-%u-g", a->pid);
	int r = nl_route_replace_host(e->dp->nl, &a->global_ip, g_end, &e->dp->node_ip);
	if (r < 0)
		log_warn("recovery: container %u: cannot restore the route to its global address through %s: %s",
			 a->pid, g_end, strerror(-r));
}

/* Keeps, re-creates or releases the recorded attachment a (see the top of this file). */
static void recover_attach(struct engine *e, struct state_dp_attach *a)
{
	char why[300], ip[IP_ADDR_STRLEN], s_end[VETH_NAME_SIZE];
	uint32_t pid = a->pid;
	ip_addr_format(&a->ip, ip, sizeof(ip));
	snprintf(s_end, sizeof(s_end), "veth-%u-s", pid);
	if (!process_alive(pid)) {
		log_info("recovery: container %u has exited; releasing its attachment (%s)", pid, ip);
		dp_attach_release(e, a, true);
		return;
	}
	if (attach_intact(e, a, why, sizeof(why))) {
		log_info("recovery: container %u keeps its attachment (%s)", pid, ip);
		restore_global_route(e, a);
		return;
	}
	if (nl_link_exists(e->dp->nl, s_end) != 1) {
		/*
		 * Its link went (an unsaved detach, or its namespace was
		 * replaced): nothing of it is left to match, and the pid may
		 * even belong to another process by now. Released, not rebuilt.
		 */
		log_info("recovery: container %u is running but its link %s is missing; releasing its attachment (%s)",
			 pid, s_end, ip);
		dp_attach_release(e, a, true);
		return;
	}
	log_warn("recovery: container %u is running but its links differ from the record (%s); re-creating them "
		 "with its recorded address %s", pid, why, ip);
	if (dp_attach_replumb(e, a, why, sizeof(why)) == 0)
		return;
	log_error("recovery: container %u: cannot restore its attachment (%s); releasing it (a retried "
		  "attach_container makes it again)", pid, why);
	dp_attach_release(e, a, true);
}

void dp_recover(struct engine *e)
{
	struct dp *dp = e->dp;
	char err[600];
	if (!dp->up && !dp->n_attaches && !dp->n_services && !dp->has_shared) {
		/*
		 * Nothing recorded, yet a crash before the very first save can
		 * have left container links of ours behind (global, service and
		 * attach all in one unsaved batch): they go, or the fresh pools
		 * would hand their addresses out again.
		 */
		if (dp_nl(e, &dp->nl, err, sizeof(err)) == 0)
			dp_sweep_orphan_veths(e, true);
		return;
	}
	if (dp_nl(e, &dp->nl, err, sizeof(err)) < 0) {
		log_error("recovery: %s; the recorded overlay is not restored", err);
		return;
	}
	log_info("recovery: restoring the recorded overlay (%zu service(s), %zu attachment(s), %zu guest(s))",
		 dp->n_services, dp->n_attaches, dp->n_guests);
	if (dp->up && e->st.global_set) {
		dp->up = false;
		if (dp_global_bringup(e, err, sizeof(err)) < 0)
			log_error("recovery: %s", err);
		else
			e->global_up = dp->has_device;
	}
	if (dp->has_shared)
		adopt_bridge(e, &dp->shared);
	for (size_t i = 0; i < dp->n_services; i++) {
		struct dp_service *s = &dp->services[i];
		if (!s->on_shared)
			adopt_bridge(e, &s->bridge);
		if (s->dedicated && dp->up && dp_service_device_up(e, s, err, sizeof(err)) < 0)
			log_error("recovery: %s", err);
	}
	/* Unrecorded container links first, so their addresses are nowhere when the pools hand them out. */
	dp_sweep_orphan_veths(e, true);
	for (size_t i = dp->n_attaches; i-- > 0;)
		recover_attach(e, &dp->attaches[i]);
	for (size_t i = 0; i < dp->n_guests; i++) {
		struct state_dp_guest *g = &dp->guests[i];
		if (!dp->has_device)
			break;
		int r = g->host_shared ? nl_addr_add(dp->nl, dp->gname, &g->ip, (uint8_t)ip_addr_bits(&g->ip))
				       : nl_route_replace_host(dp->nl, &g->ip, dp->gname, &dp->node_ip);
		if (r < 0)
			log_warn("recovery: %s %s: cannot restore its address/route: %s",
				 g->host_shared ? "host_shared" : "guest", g->id, strerror(-r));
	}
	if (dp->up)
		dp_firewall_sync(e);
	dp_commit(e);
}
