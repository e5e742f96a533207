// SPDX-License-Identifier: MIT
/* Service overlays (auto, shared, dedicated, isolated modes). */
#include "engine/priv.h"

void service_setup(struct engine *e, const char *service, enum ovl_mode mode, struct ovl_response *resp)
{
	ovl_response_err(resp,
			 "setup_service_overlay: service overlays (mode %s) need the Linux data plane, which is "
			 "not available in this build yet",
			 ovl_mode_name(mode));
}

void service_teardown(struct engine *e, const char *service, struct ovl_response *resp)
{
	/* Idempotent like the original: tearing down an absent overlay is ok. */
	if (state_remove_service(&e->st, service))
		e->dirty = true;
	resp_ok(resp);
}
