// SPDX-License-Identifier: MIT
/* The global (cluster) overlay: setup_global_overlay, teardown_global_overlay. */
#include "engine/priv.h"

void global_setup(struct engine *e, const struct ovl_req_setup_global *r, struct ovl_response *resp)
{
	/*
	 * The data-plane work goes here: create the WireGuard device and
	 * bridge, rebind e->st.slice to r->slice_cidr, record r in
	 * e->st.global (global_set) and mark e->dirty.
	 */
	ovl_response_err(resp, "setup_global_overlay: the Linux data plane is not available in this build yet");
}

void global_teardown(struct engine *e, struct ovl_response *resp)
{
	/* Idempotent: with no global overlay up there is nothing to undo. */
	e->global_up = false;
	resp_ok(resp);
}
