// SPDX-License-Identifier: MIT
/* attach_container / detach_container: routes by handle platform. */
#include "engine/priv.h"

void attach_container(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp)
{
	switch (r->handle.platform) {
	case OVL_HANDLE_GUEST_MANAGED:
		guest_attach(e, r, resp);
		return;
	case OVL_HANDLE_HOST_SHARED:
		hostshared_attach(e, r, resp);
		return;
	case OVL_HANDLE_LINUX_PID:
		break;
	}
	ovl_response_err(resp,
			 "attach_container: attaching pid %u needs the Linux data plane (veth into the container's "
			 "namespace), which is not available in this build yet",
			 r->handle.pid);
}

void detach_container(struct engine *e, const struct ovl_handle *h, struct ovl_response *resp)
{
	switch (h->platform) {
	case OVL_HANDLE_GUEST_MANAGED:
		guest_detach(e, h->id, resp);
		return;
	case OVL_HANDLE_HOST_SHARED:
		hostshared_detach(e, h->id, resp);
		return;
	case OVL_HANDLE_LINUX_PID:
		break;
	}
	/* Idempotent: nothing is ever attached in this build, so the pid is unknown. */
	resp_ok(resp);
}
