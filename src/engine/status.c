// SPDX-License-Identifier: MIT
/*
 * status: a snapshot of the live overlay. Peers are read from the live
 * device (keys in base64, handshakes as Unix times), so with no device up
 * the list is empty even when peers are recorded. Extension: "services"
 * lists every service overlay with its bridge and subnet.
 */
#include "engine/dp.h"

#include <errno.h>

#include <stdlib.h>
#include <string.h>

#include "wg/wg.h"

static char *join_prefixes(const struct ip_prefix *p, size_t n)
{
	return ovl_allowed_ips_format(p, n);
}

static int fill_peers(struct wg_device *dev, struct ovl_peer_status **out, size_t *n)
{
	struct wg_device_status *st;
	*out = NULL;
	*n = 0;
	if (!dev || wg_device_status(dev, &st) < 0)
		return 0;
	int r = 0;
	if (st->n_peers && !(*out = calloc(st->n_peers, sizeof(**out))))
		r = -1;
	for (size_t i = 0; r == 0 && i < st->n_peers; i++) {
		const struct wg_peer_status *p = &st->peers[i];
		struct ovl_peer_status *o = &(*out)[i];
		key_from_base64(p->public_key, o->public_key);
		o->has_endpoint = p->has_endpoint;
		o->endpoint = p->endpoint;
		o->last_handshake_unix_secs = p->last_handshake_sec > 0 ? (uint64_t)p->last_handshake_sec : 0;
		o->allowed_ips = join_prefixes(p->allowed_ips, p->n_allowed_ips);
		if (!o->allowed_ips)
			r = -1;
		*n = i + 1;
	}
	wg_device_status_free(st);
	return r;
}

void engine_status_snapshot(struct engine *e, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	memset(resp, 0, sizeof(*resp));
	resp->result = OVL_RES_STATUS;
	struct ovl_res_status *s = &resp->status;
	if (e->st.global_set) {
		s->has_overlay_cidr = true;
		s->overlay_cidr = e->st.global.cluster_cidr;
		s->has_slice_cidr = e->st.global.has_slice;
		s->slice_cidr = e->st.global.slice_cidr;
	}
	if (dp->up) {
		s->has_node_ip = true;
		s->node_ip = dp->node_ip;
		s->has_public_key = true;
		memcpy(s->public_key, dp->public_key, WG_KEY_LEN);
		if (dp->has_device && !(s->interface = strdup(dp->gname)))
			goto oom;
	}
	if (fill_peers(dp->gdev, &s->peers, &s->n_peers) < 0)
		goto oom;
	s->peer_count = (uint32_t)s->n_peers;
	s->service_count = (uint32_t)dp->n_services;
	if (dp->n_services) {
		s->services = calloc(dp->n_services, sizeof(*s->services));
		s->dedicated = calloc(dp->n_services, sizeof(*s->dedicated));
		if (!s->services || !s->dedicated)
			goto oom;
	}
	for (size_t i = 0; i < dp->n_services; i++) {
		struct dp_service *v = &dp->services[i];
		struct dp_bridge *b = dp_service_bridge(dp, v);
		struct ovl_service_status *o = &s->services[s->n_services++];
		o->mode = v->mode;
		o->subnet = b->subnet;
		if (!(o->service = strdup(v->name)) || !(o->bridge = strdup(b->name)))
			goto oom;
		if (!v->dedicated)
			continue;
		struct ovl_dedicated_status *d = &s->dedicated[s->n_dedicated++];
		memcpy(d->public_key, v->dev_public, WG_KEY_LEN);
		d->listen_port = v->dev_port;
		d->overlay_ip = b->gateway;
		d->subnet = b->subnet;
		struct ovl_peer_status *ps;
		size_t np;
		if (fill_peers(v->dev, &ps, &np) == 0) {
			d->peer_count = (uint32_t)np;
			for (size_t j = 0; j < np; j++)
				free(ps[j].allowed_ips);
			free(ps);
		}
		if (!(d->service = strdup(v->name)) || !(d->interface = strdup(v->dev_name)))
			goto oom;
	}
	if (!s->n_dedicated) {
		free(s->dedicated);
		s->dedicated = NULL;
	}
	return;
oom:
	ovl_response_free(resp);
	ovl_response_err(resp, "status: out of memory");
}
