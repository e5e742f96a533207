// SPDX-License-Identifier: MIT
/*
 * The data plane's record: the live lists (struct dp) converted to and from
 * the state's typed data-plane section (state/dataplane.h). dp_commit only
 * marks the state dirty; dp_record_store runs once per group commit, right
 * before the state is written.
 */
#include "engine/dp.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wg/wg.h"

_Static_assert(STATE_DP_SYSCTL_PATH_MAX == SYSCTL_PATH_MAX && STATE_DP_SYSCTL_VALUE_MAX == SYSCTL_VALUE_MAX &&
		       STATE_DP_PATH_MAX == PATH_MAX,
	       "the state's copies of the host-parameter records must fit them");

static int bridge_store(const struct dp_bridge *b, struct state_bridge *out)
{
	snprintf(out->name, sizeof(out->name), "%s", b->name);
	out->subnet = b->subnet;
	size_t n = ipam_slice_count(&b->pool);
	if (n && !(out->allocated = calloc(n, sizeof(*out->allocated))))
		return -ENOMEM;
	for (out->n_allocated = 0; out->n_allocated < n; out->n_allocated++)
		out->allocated[out->n_allocated] = ipam_slice_at(&b->pool, out->n_allocated);
	return 0;
}

static int service_store(const struct dp_service *s, struct state_dp_service *out)
{
	out->mode = s->mode;
	out->on_shared = s->on_shared;
	out->dedicated = s->dedicated;
	snprintf(out->dev_name, sizeof(out->dev_name), "%s", s->dev_name);
	memcpy(out->dev_private, s->dev_private, WG_KEY_LEN);
	out->dev_port = s->dev_port;
	if (!(out->name = strdup(s->name)) || (!s->on_shared && bridge_store(&s->bridge, &out->bridge) < 0))
		return -ENOMEM;
	if (s->n_peers && !(out->peers = calloc(s->n_peers, sizeof(*out->peers))))
		return -ENOMEM;
	for (; out->n_peers < s->n_peers; out->n_peers++)
		if (ovl_peer_spec_copy(&out->peers[out->n_peers], &s->peers[out->n_peers]) < 0)
			return -ENOMEM;
	return 0;
}

/*
 * The plain records (identities, attachments, guests) are the state's own
 * types: both directions copy the lists element by element. *n counts the
 * copies made, so a failure leaves a list its owner frees as usual.
 */
#define COPY_LIST(dst, n, src, count, copy)                                                   \
	({                                                                                   \
		int r_ = 0;                                                                  \
		for (*(n) = 0; *(n) < (count); (*(n))++)                                     \
			if ((r_ = copy(&(dst)[*(n)], &(src)[*(n)])) < 0)                     \
				break;                                                       \
		r_;                                                                          \
	})

/* The lists of rec, each sized for n items; -ENOMEM. */
static int alloc_lists(struct dp *dp, struct state_dataplane *rec)
{
	if ((dp->n_v6_fwd && !(rec->ipv6_forwarding = calloc(dp->n_v6_fwd, sizeof(*rec->ipv6_forwarding)))) ||
	    (dp->n_identities && !(rec->identities = calloc(dp->n_identities, sizeof(*rec->identities)))) ||
	    (dp->n_services && !(rec->services = calloc(dp->n_services, sizeof(*rec->services)))) ||
	    (dp->n_attaches && !(rec->attaches = calloc(dp->n_attaches, sizeof(*rec->attaches)))) ||
	    (dp->n_guests && !(rec->guests = calloc(dp->n_guests, sizeof(*rec->guests)))))
		return -ENOMEM;
	return 0;
}

static int store(struct dp *dp, struct state_dataplane *rec)
{
	rec->up = dp->up;
	rec->has_device = dp->has_device;
	snprintf(rec->interface, sizeof(rec->interface), "%s", dp->gname);
	rec->has_firewall = dp->fw_applied;
	snprintf(rec->firewall_table, sizeof(rec->firewall_table), "%s", dp->fw_applied ? dp->fw_instance : "");
	rec->has_ip_forward = dp->ip_forward.saved;
	snprintf(rec->ip_forward_path, sizeof(rec->ip_forward_path), "%s", dp->ip_forward.path);
	snprintf(rec->ip_forward_old, sizeof(rec->ip_forward_old), "%s", dp->ip_forward.old_value);
	rec->has_unmanaged = dp->unmanaged_marked;
	snprintf(rec->networkd_file, sizeof(rec->networkd_file), "%s", dp->unmanaged.networkd_file);
	snprintf(rec->nm_file, sizeof(rec->nm_file), "%s", dp->unmanaged.nm_file);
	snprintf(rec->networkd_dir, sizeof(rec->networkd_dir), "%s", dp->unmanaged.networkd_dir);
	snprintf(rec->nm_dir, sizeof(rec->nm_dir), "%s", dp->unmanaged.nm_dir);
	if ((dp->has_shared && bridge_store(&dp->shared, &rec->shared) < 0) || alloc_lists(dp, rec) < 0)
		return -ENOMEM;
	rec->has_shared = dp->has_shared;
	for (; rec->n_ipv6_forwarding < dp->n_v6_fwd; rec->n_ipv6_forwarding++)
		memcpy(rec->ipv6_forwarding[rec->n_ipv6_forwarding], dp->v6_fwd[rec->n_ipv6_forwarding], IFNAMSIZ);
	for (size_t i = 0; i < dp->n_services; i++, rec->n_services++)
		if (service_store(&dp->services[i], &rec->services[i]) < 0)
			return -ENOMEM;
	if (COPY_LIST(rec->identities, &rec->n_identities, dp->identities, dp->n_identities, state_dp_identity_copy) < 0 ||
	    COPY_LIST(rec->attaches, &rec->n_attaches, dp->attaches, dp->n_attaches, state_dp_attach_copy) < 0 ||
	    COPY_LIST(rec->guests, &rec->n_guests, dp->guests, dp->n_guests, state_dp_guest_copy) < 0)
		return -ENOMEM;
	return 0;
}

int dp_record_store(struct engine *e)
{
	struct state_dataplane rec = { 0 };
	int r = store(e->dp, &rec);
	if (r < 0) {
		state_dataplane_free(&rec);
		return r; /* the previous record stays */
	}
	state_dataplane_free(&e->st.dataplane);
	e->st.dataplane = rec;
	return 0;
}

/* A bridge from its record; its pool holds the recorded allocations. */
static int bridge_load(const struct state_bridge *in, struct dp_bridge *b, char *why, size_t whylen)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", in->name);
	b->subnet = in->subnet;
	if (ipam_slice_init(&b->pool, &b->subnet) < 0) {
		snprintf(why, whylen, "bridge %s: unusable subnet", in->name);
		return -EBADMSG;
	}
	b->gateway = ipam_slice_node_ip(&b->pool);
	for (size_t i = 0; i < in->n_allocated; i++) {
		if (ipam_slice_reserve(&b->pool, &in->allocated[i]) < 0) {
			char ip[IP_ADDR_STRLEN];
			snprintf(why, whylen, "bridge %s: allocation %s is its gateway, outside its pool or listed twice",
				 in->name, ip_addr_format(&in->allocated[i], ip, sizeof(ip)));
			ipam_slice_free(&b->pool);
			return -EBADMSG;
		}
	}
	return 0;
}

static int service_load(struct dp *dp, const struct state_dp_service *in, char *why, size_t whylen)
{
	struct dp_service *s = &dp->services[dp->n_services];
	memset(s, 0, sizeof(*s));
	s->mode = in->mode;
	s->on_shared = in->on_shared;
	if (!in->on_shared && bridge_load(&in->bridge, &s->bridge, why, whylen) < 0)
		return -EBADMSG;
	if (!(s->name = strdup(in->name)))
		goto oom;
	dp->n_services++; /* from here dp_close frees it */
	if (in->dedicated) {
		s->dedicated = true;
		snprintf(s->dev_name, sizeof(s->dev_name), "%s", in->dev_name);
		memcpy(s->dev_private, in->dev_private, WG_KEY_LEN);
		wg_public_from_private(s->dev_private, s->dev_public);
		s->dev_port = in->dev_port;
		if (in->n_peers && !(s->peers = calloc(in->n_peers, sizeof(*s->peers))))
			goto oom;
		for (; s->n_peers < in->n_peers; s->n_peers++)
			if (ovl_peer_spec_copy(&s->peers[s->n_peers], &in->peers[s->n_peers]) < 0)
				goto oom;
	}
	return 0;
oom:
	if (!s->name)
		ipam_slice_free(&s->bridge.pool);
	snprintf(why, whylen, "out of memory");
	return -ENOMEM;
}

/* Marks ip taken in the pool of service's bridge, when it has one (the pool's own list has it already). */
static void pool_reserve(struct dp *dp, const char *service, const struct ip_addr *ip)
{
	struct dp_bridge *b = service ? dp_service_bridge(dp, dp_find_service(dp, service)) : NULL;
	if (b)
		ipam_slice_reserve(&b->pool, ip);
}

static int lists_load(struct dp *dp, const struct state_dataplane *rec, char *why, size_t whylen)
{
	if ((rec->n_ipv6_forwarding && !(dp->v6_fwd = calloc(rec->n_ipv6_forwarding, sizeof(*dp->v6_fwd)))) ||
	    (rec->n_identities && !(dp->identities = calloc(rec->n_identities, sizeof(*dp->identities)))) ||
	    (rec->n_services && !(dp->services = calloc(rec->n_services, sizeof(*dp->services)))) ||
	    (rec->n_attaches && !(dp->attaches = calloc(rec->n_attaches, sizeof(*dp->attaches)))) ||
	    (rec->n_guests && !(dp->guests = calloc(rec->n_guests, sizeof(*dp->guests)))))
		goto oom;
	for (; dp->n_v6_fwd < rec->n_ipv6_forwarding; dp->n_v6_fwd++)
		memcpy(dp->v6_fwd[dp->n_v6_fwd], rec->ipv6_forwarding[dp->n_v6_fwd], IFNAMSIZ);
	if (COPY_LIST(dp->identities, &dp->n_identities, rec->identities, rec->n_identities, state_dp_identity_copy) < 0)
		goto oom;
	for (size_t i = 0; i < rec->n_services; i++) {
		int r = service_load(dp, &rec->services[i], why, whylen);
		if (r < 0)
			return r;
	}
	if (COPY_LIST(dp->attaches, &dp->n_attaches, rec->attaches, rec->n_attaches, state_dp_attach_copy) < 0 ||
	    COPY_LIST(dp->guests, &dp->n_guests, rec->guests, rec->n_guests, state_dp_guest_copy) < 0)
		goto oom;
	for (size_t i = 0; i < dp->n_attaches; i++)
		pool_reserve(dp, dp->attaches[i].service, &dp->attaches[i].ip);
	for (size_t i = 0; i < dp->n_guests; i++)
		pool_reserve(dp, dp->guests[i].service, &dp->guests[i].ip);
	return 0;
oom:
	snprintf(why, whylen, "out of memory");
	return -ENOMEM;
}

int dp_record_load(struct engine *e, char *err, size_t errlen)
{
	struct dp *dp = e->dp;
	const struct state_dataplane *rec = &e->st.dataplane;
	char why[300];
	dp->up = rec->up;
	dp->has_device = rec->has_device;
	snprintf(dp->gname, sizeof(dp->gname), "%s", rec->interface);
	dp->fw_applied = rec->has_firewall;
	snprintf(dp->fw_instance, sizeof(dp->fw_instance), "%s", rec->firewall_table);
	if ((dp->ip_forward.saved = rec->has_ip_forward)) {
		snprintf(dp->ip_forward.path, sizeof(dp->ip_forward.path), "%s", rec->ip_forward_path);
		snprintf(dp->ip_forward.old_value, sizeof(dp->ip_forward.old_value), "%s", rec->ip_forward_old);
	}
	if ((dp->unmanaged_marked = rec->has_unmanaged)) {
		snprintf(dp->unmanaged.networkd_file, sizeof(dp->unmanaged.networkd_file), "%s", rec->networkd_file);
		snprintf(dp->unmanaged.nm_file, sizeof(dp->unmanaged.nm_file), "%s", rec->nm_file);
		snprintf(dp->unmanaged.networkd_dir, sizeof(dp->unmanaged.networkd_dir), "%s", rec->networkd_dir);
		snprintf(dp->unmanaged.nm_dir, sizeof(dp->unmanaged.nm_dir), "%s", rec->nm_dir);
	}
	int r = 0;
	if (rec->has_shared) {
		if ((r = bridge_load(&rec->shared, &dp->shared, why, sizeof(why))) < 0)
			goto bad;
		dp->has_shared = true;
	}
	if ((r = lists_load(dp, rec, why, sizeof(why))) < 0)
		goto bad;
	return 0;
bad:
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory loading the data plane record");
	else
		snprintf(err, errlen, "state.json: the \"dataplane\" record is malformed (%s); move state.json aside "
				      "(the links it describes are named zl-* and veth-<pid>-*)", why);
	return r;
}
