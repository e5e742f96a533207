// SPDX-License-Identifier: MIT
/*
 * host_shared handles: workloads sharing the node's own network namespace.
 * Each gets an address from the node slice as a /32 alias on the global
 * device, so the cluster reaches it through the node's slice route.
 */
#include "engine/dp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/netlink.h"
#include "util/log.h"

void engine_hostshared_attach(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	const char *id = r->handle.id;
	if (!dp->up || !dp->has_device) {
		ovl_response_err(resp, "attach_container: host_shared %s needs the global overlay device; call "
				       "setup_global_overlay first", id);
		return;
	}
	struct state_dp_guest *old = dp_find_guest(dp, id, true);
	if (old) {
		resp->result = OVL_RES_ATTACHED; /* idempotent */
		resp->ip = old->ip;
		return;
	}
	struct state_dp_guest g = { .host_shared = true };
	char sub[IP_PREFIX_STRLEN];
	if (ipam_slice_alloc(&e->st.slice, &g.ip) < 0) {
		ovl_response_err(resp, "attach_container: host_shared %s: node slice %s exhausted", id,
				 ip_prefix_format(&e->st.slice.cidr, sub, sizeof(sub)));
		return;
	}
	void *grown = realloc(dp->guests, (dp->n_guests + 1) * sizeof(*dp->guests));
	g.id = strdup(id);
	g.isolation = r->isolation_network ? strdup(r->isolation_network) : NULL;
	if (!grown || !g.id || (r->isolation_network && !g.isolation)) {
		state_dp_guest_free(&g);
		ipam_slice_release(&e->st.slice, &g.ip);
		ovl_response_err(resp, "attach_container: host_shared %s: out of memory", id);
		return;
	}
	dp->guests = grown;
	int q = nl_addr_add(dp->nl, dp->gname, &g.ip, (uint8_t)ip_addr_bits(&g.ip));
	if (q < 0) {
		char a[IP_ADDR_STRLEN];
		ovl_response_err(resp, "attach_container: host_shared %s: cannot add %s to %s: %s", id,
				 ip_addr_format(&g.ip, a, sizeof(a)), dp->gname, strerror(-q));
		state_dp_guest_free(&g);
		ipam_slice_release(&e->st.slice, &g.ip);
		return;
	}
	dp_guest_record(e, &g);
	if (g.isolation && dp_fence_failed(e, "host_shared", id, engine_hostshared_detach, resp))
		return;
	resp->result = OVL_RES_ATTACHED;
	resp->ip = g.ip;
}

void engine_hostshared_detach(struct engine *e, const char *id, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	struct state_dp_guest *g = dp_find_guest(dp, id, true);
	if (!g) {
		resp_ok(resp); /* idempotent */
		return;
	}
	if (dp->nl && dp->gname[0]) {
		int q = nl_addr_del(dp->nl, dp->gname, &g->ip, (uint8_t)ip_addr_bits(&g->ip));
		if (q < 0)
			log_warn("host_shared %s: cannot remove its address from %s: %s", id, dp->gname, strerror(-q));
	}
	ipam_slice_release(&e->st.slice, &g->ip);
	dp_guest_forget(e, g);
	resp_ok(resp);
}
