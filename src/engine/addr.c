// SPDX-License-Identifier: MIT
/*
 * allocate_ip / release_ip. Like the original: a service with a bridge draws
 * from that bridge's pool (so addresses handed out here never collide with
 * attached containers); without one the address comes from the node slice.
 * join_global allocates nothing extra here: the companion global address is
 * reserved at attach time.
 */
#include "engine/dp.h"

#include <errno.h>

#include "util/log.h"

void engine_addr_allocate(struct engine *e, const char *service, bool join_global, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	struct dp_service *s = dp_find_service(dp, service);
	struct dp_bridge *b = dp_service_bridge(dp, s);
	struct ipam_slice *pool = b ? &b->pool : &e->st.slice;
	struct ip_addr ip;
	if (ipam_slice_alloc(pool, &ip) < 0) {
		char buf[IP_PREFIX_STRLEN];
		ovl_response_err(resp, "IP allocator exhausted: no free address left in %s %s (service %s)",
				 b ? "service subnet" : "slice", ip_prefix_format(&pool->cidr, buf, sizeof(buf)), service);
		return;
	}
	if (b)
		dp_commit(e);
	e->dirty = true;
	resp->result = OVL_RES_IP;
	resp->ip = ip;
}

void engine_addr_release(struct engine *e, const struct ip_addr *ip, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	/* Releasing an address that is not allocated is a harmless no-op (idempotent). */
	bool released = ipam_slice_release(&e->st.slice, ip);
	if (!released && dp->has_shared)
		released = ipam_slice_release(&dp->shared.pool, ip);
	for (size_t i = 0; !released && i < dp->n_services; i++)
		if (!dp->services[i].on_shared)
			released = ipam_slice_release(&dp->services[i].bridge.pool, ip);
	if (released) {
		dp_commit(e);
	} else if (log_enabled(LOG_LVL_DEBUG)) {
		char buf[IP_ADDR_STRLEN];
		log_debug("release_ip %s: not an allocated address of this node, ignored",
			  ip_addr_format(ip, buf, sizeof(buf)));
	}
	resp_ok(resp);
}
