// SPDX-License-Identifier: MIT
/* allocate_ip / release_ip on the node slice (service bridge pools come with the data plane). */
#include "engine/priv.h"

#include <errno.h>

#include "util/log.h"

void addr_allocate(struct engine *e, const char *service, bool join_global, struct ovl_response *resp)
{
	/*
	 * Like the original: a service with its own bridge would draw from
	 * that bridge's pool; without one (always, in this build) the address
	 * comes from the node slice. join_global allocates nothing extra here:
	 * the companion global address is reserved at attach time.
	 */
	struct ip_addr ip;
	int r = ipam_slice_alloc(&e->st.slice, &ip);
	if (r < 0) {
		char buf[IP_PREFIX_STRLEN];
		ovl_response_err(resp, "IP allocator exhausted: no free address left in slice %s (service %s)",
				 ip_prefix_format(&e->st.slice.cidr, buf, sizeof(buf)), service);
		return;
	}
	e->dirty = true;
	resp->result = OVL_RES_IP;
	resp->ip = ip;
}

void addr_release(struct engine *e, const struct ip_addr *ip, struct ovl_response *resp)
{
	/* Releasing an address that is not allocated is a harmless no-op (idempotent). */
	if (ipam_slice_release(&e->st.slice, ip)) {
		e->dirty = true;
	} else if (log_enabled(LOG_LVL_DEBUG)) {
		char buf[IP_ADDR_STRLEN];
		log_debug("release_ip %s: not an allocated address of this node, ignored",
			  ip_addr_format(ip, buf, sizeof(buf)));
	}
	resp_ok(resp);
}
