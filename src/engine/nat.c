// SPDX-License-Identifier: MIT
/* NAT traversal: nat_tick and nat_status. */
#include "engine/priv.h"

#include <string.h>

void engine_nat_tick(struct engine *e, struct ovl_response *resp)
{
	/* A no-op unless NAT traversal is enabled, which needs the global overlay. */
	if (e->st.global_set && e->st.global.has_nat && e->st.global.nat.enabled) {
		ovl_response_err(resp, "nat_tick: NAT traversal is not available in this build yet");
		return;
	}
	resp_ok(resp);
}

void engine_nat_status(struct engine *e, struct ovl_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->result = OVL_RES_NAT_STATUS;
	resp->nat_status.last_refresh = e->nat_last_refresh;
}
