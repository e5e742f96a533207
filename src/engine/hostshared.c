// SPDX-License-Identifier: MIT
/* host_shared handles: containers sharing the node's own network namespace. */
#include "engine/priv.h"

void hostshared_attach(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp)
{
	ovl_response_err(resp,
			 "attach_container: host_shared %s needs the global overlay device, and the Linux data "
			 "plane that creates it is not available in this build yet",
			 r->handle.id);
}

void hostshared_detach(struct engine *e, const char *id, struct ovl_response *resp)
{
	resp_ok(resp); /* idempotent */
}
