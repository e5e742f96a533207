// SPDX-License-Identifier: MIT
/*
 * Restart recovery. After a crash (SIGKILL) the userspace WireGuard devices
 * are gone with the process, while bridges, veths and container addresses
 * survive. The record says what we own: the devices are rebuilt with the
 * same keys, ports and addresses, surviving bridges are adopted (recreated
 * when missing), attachments whose process still lives and whose veth is
 * still there keep working, and everything else is cleaned deliberately.
 */
#include "engine/dp.h"

#include <errno.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/netlink.h"
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

static bool attach_alive(struct engine *e, const struct dp_attach *a)
{
	char proc[32], veth[VETH_NAME_SIZE];
	snprintf(proc, sizeof(proc), "/proc/%u", a->pid);
	snprintf(veth, sizeof(veth), "veth-%u-s", a->pid);
	return access(proc, F_OK) == 0 && nl_link_exists(e->dp->nl, veth) == 1;
}

void dp_recover(struct engine *e)
{
	struct dp *dp = e->dp;
	char err[600];
	if (!dp->up && !dp->n_attaches && !dp->n_services && !dp->has_shared)
		return;
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
	for (size_t i = dp->n_attaches; i-- > 0;) {
		struct dp_attach *a = &dp->attaches[i];
		if (attach_alive(e, a)) {
			log_info("recovery: container %u keeps its attachment", a->pid);
			continue;
		}
		log_info("recovery: container %u is gone; releasing its attachment", a->pid);
		dp_attach_release(e, a, true);
	}
	for (size_t i = 0; i < dp->n_guests; i++) {
		struct dp_guest *g = &dp->guests[i];
		if (!dp->has_device)
			break;
		int r = g->host_shared ? nl_addr_add(dp->nl, dp->gname, &g->ip, (uint8_t)ip_addr_bits(&g->ip))
				       : nl_route_replace_host(dp->nl, &g->ip, dp->gname, &dp->node_ip);
		if (r < 0)
			log_warn("recovery: %s %s: cannot restore its address/route: %s",
				 g->host_shared ? "host_shared" : "guest", g->id, strerror(-r));
	}
	dp_sweep_orphan_veths(e);
	if (dp->up)
		dp_firewall_sync(e);
	dp_commit(e);
}
