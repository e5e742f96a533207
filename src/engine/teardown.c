// SPDX-License-Identifier: MIT
/* prune_orphan_bridges and shutdown. */
#include "engine/priv.h"

#include <string.h>

#include "ipam/ifname.h"

void teardown_prune(struct engine *e, char *const *live, size_t nlive, struct ovl_response *resp)
{
	/*
	 * Only links this daemon recorded as created are candidates (never a
	 * blanket sweep of other daemons' zl-* links); each is judged by
	 * ipam_ifname_is_orphan() against `live` and the protected set, then
	 * deleted through the net module. This build creates no links, so
	 * nothing can be reclaimed.
	 */
	memset(resp, 0, sizeof(*resp));
	resp->result = OVL_RES_PRUNED_BRIDGES;
}

void teardown_shutdown(struct engine *e, struct ovl_response *resp)
{
	e->shutdown_requested = true;
	global_teardown(e, resp);
}
