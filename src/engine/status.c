// SPDX-License-Identifier: MIT
/*
 * status: a snapshot of the live overlay. Peers are read from the live
 * device (keys in base64, handshakes as Unix times), so with no device up
 * the list is empty even when peers are recorded. Extensions (additive, see
 * docs/protocol-extensions.md): each peer's transfer counters and health
 * verdict; "services" lists every service overlay with its bridge, subnet,
 * pool use and attachment count; "attachments" lists every attachment;
 * "degraded" and "degraded_reason" say why a node runs without its global
 * device.
 */
#include "engine/dp.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wg/wg.h"

static char *join_prefixes(const struct ip_prefix *p, size_t n)
{
	return ovl_allowed_ips_format(p, n);
}

/* Public keys are not secrets: a plain memcmp orders them. */
static int health_cmp(const void *a, const void *b)
{
	return memcmp(((const struct dp_health *)a)->key, ((const struct dp_health *)b)->key, WG_KEY_LEN);
}

int engine_status_health_take(struct dp *dp, struct engine_status_health *h)
{
	int r = 0;
	h->n = 0;
	pthread_mutex_lock(&dp->health_lock);
	h->v = dp->n_health ? malloc(dp->n_health * sizeof(*h->v)) : NULL;
	if (h->v) {
		memcpy(h->v, dp->health, dp->n_health * sizeof(*h->v));
		h->n = dp->n_health;
	} else if (dp->n_health) {
		r = -ENOMEM;
	}
	pthread_mutex_unlock(&dp->health_lock);
	if (h->n)
		qsort(h->v, h->n, sizeof(*h->v), health_cmp);
	return r;
}

int engine_status_health_of(const struct engine_status_health *h, const uint8_t key[WG_KEY_LEN])
{
	struct dp_health probe;
	memcpy(probe.key, key, WG_KEY_LEN);
	const struct dp_health *found = h->n ? bsearch(&probe, h->v, h->n, sizeof(*h->v), health_cmp) : NULL;
	return found ? found->healthy : -1;
}

void engine_status_health_free(struct engine_status_health *h)
{
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

/* The peers of dev, with the health job's verdicts on them. */
static int fill_peers(struct wg_device *dev, const struct engine_status_health *health, struct ovl_peer_status **out,
		      size_t *n)
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
		o->rx_bytes = p->rx_bytes;
		o->tx_bytes = p->tx_bytes;
		int verdict = engine_status_health_of(health, o->public_key);
		o->has_health = verdict >= 0;
		o->healthy = verdict == 1;
		o->allowed_ips = join_prefixes(p->allowed_ips, p->n_allowed_ips);
		if (!o->allowed_ips)
			r = -1;
		*n = i + 1;
	}
	wg_device_status_free(st);
	return r;
}

/* How many peers dev has (0 without a device): a dedicated device's status shows only the count. */
static uint32_t count_peers(struct wg_device *dev)
{
	struct wg_device_status *st;
	uint32_t n;
	if (!dev || wg_device_status(dev, &st) < 0)
		return 0;
	n = (uint32_t)st->n_peers;
	wg_device_status_free(st);
	return n;
}

static bool same_service(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static uint32_t count_attached(struct dp *dp, const char *service)
{
	uint32_t n = 0;
	for (size_t i = 0; i < dp->n_attaches; i++)
		n += same_service(dp->attaches[i].service, service);
	for (size_t i = 0; i < dp->n_guests; i++)
		n += same_service(dp->guests[i].service, service);
	return n;
}

int engine_status_service_fill(struct dp *dp, struct dp_service *v, struct ovl_service_status *o)
{
	struct dp_bridge *b = dp_service_bridge(dp, v);
	o->mode = v->mode;
	o->subnet = b->subnet;
	o->pool_size = b->pool.last >= b->pool.first ? b->pool.last - b->pool.first + 1 : 0;
	o->addresses_in_use = ipam_slice_count(&b->pool);
	o->attached = count_attached(dp, v->name);
	if (!(o->service = strdup(v->name)) || !(o->bridge = strdup(b->name)))
		return -ENOMEM;
	return 0;
}

/* Every attachment: containers by PID, then guests and host-shared addresses. 0 or -ENOMEM. */
static int fill_attachments(struct dp *dp, struct ovl_res_status *s)
{
	size_t total = dp->n_attaches + dp->n_guests;
	if (!total)
		return 0;
	if (!(s->attachments = calloc(total, sizeof(*s->attachments))))
		return -ENOMEM;
	for (size_t i = 0; i < dp->n_attaches; i++) {
		const struct state_dp_attach *a = &dp->attaches[i];
		struct ovl_attachment_status *o = &s->attachments[s->n_attachments++];
		o->handle.platform = OVL_HANDLE_LINUX_PID;
		o->handle.pid = a->pid;
		o->ip = a->ip;
		o->has_global_ip = a->has_global;
		o->global_ip = a->global_ip;
		if (a->service && !(o->service = strdup(a->service)))
			return -ENOMEM;
	}
	for (size_t i = 0; i < dp->n_guests; i++) {
		const struct state_dp_guest *g = &dp->guests[i];
		struct ovl_attachment_status *o = &s->attachments[s->n_attachments++];
		o->handle.platform = g->host_shared ? OVL_HANDLE_HOST_SHARED : OVL_HANDLE_GUEST_MANAGED;
		o->ip = g->ip;
		if (!(o->handle.id = strdup(g->id)) || (g->service && !(o->service = strdup(g->service))))
			return -ENOMEM;
	}
	return 0;
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
	if (dp->degraded[0] && !(s->degraded = strdup(dp->degraded)))
		goto oom;
	struct engine_status_health health;
	if (engine_status_health_take(dp, &health) < 0)
		goto oom;
	int r = fill_peers(dp->gdev, &health, &s->peers, &s->n_peers);
	engine_status_health_free(&health);
	if (r < 0)
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
		if (engine_status_service_fill(dp, v, &s->services[s->n_services++]) < 0)
			goto oom;
		if (!v->dedicated)
			continue;
		struct ovl_dedicated_status *d = &s->dedicated[s->n_dedicated++];
		memcpy(d->public_key, v->dev_public, WG_KEY_LEN);
		d->listen_port = v->dev_port;
		d->overlay_ip = b->gateway;
		d->subnet = b->subnet;
		d->peer_count = count_peers(v->dev);
		if (!(d->service = strdup(v->name)) || !(d->interface = strdup(v->dev_name)))
			goto oom;
	}
	if (fill_attachments(dp, s) < 0)
		goto oom;
	s->attachments_version = dp->attachments_version;
	if (!s->n_dedicated) {
		free(s->dedicated);
		s->dedicated = NULL;
	}
	return;
oom:
	ovl_response_free(resp);
	ovl_response_err(resp, "status: out of memory");
}
