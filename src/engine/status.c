// SPDX-License-Identifier: MIT
/*
 * status: a snapshot of the live overlay. Like the original, peers are read
 * from the live device, so with no device up the list is empty even when
 * peers are recorded (they are installed once the device exists).
 */
#include "engine/priv.h"

#include <string.h>

void status_snapshot(struct engine *e, struct ovl_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->result = OVL_RES_STATUS;
	struct ovl_res_status *s = &resp->status;
	if (e->st.global_set) {
		s->has_overlay_cidr = true;
		s->overlay_cidr = e->st.global.cluster_cidr;
		s->has_slice_cidr = e->st.global.has_slice;
		s->slice_cidr = e->st.global.slice_cidr;
	}
	/* interface, node_ip, public_key and peers come from the live device (none in this build). */
	s->peer_count = (uint32_t)s->n_peers;
	s->service_count = 0; /* no service overlay can be up in this build */
}
