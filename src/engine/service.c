// SPDX-License-Identifier: MIT
/*
 * Service overlays, as the seed describes its four modes:
 *  - auto:      a per-service bridge whose subnet rides the cluster device;
 *  - isolated:  the auto topology; the L3 fence comes per attach
 *               (isolation_network);
 *  - shared:    every shared service on the one node-wide bridge;
 *  - dedicated: a per-service bridge plus a second WireGuard device with its
 *               own key and port; peers added with a service scope land on
 *               it, with routes for their allowed IPs (the service's traffic
 *               to other nodes never touches the cluster device).
 * Subnets come from the service-subnet registry keyed by (service, node id).
 * Every response carries the subnet (extension), so the orchestrator can
 * add_peer it on the other nodes.
 */
#include "engine/dp.h"
#include "engine/wgdev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam/ifname.h"
#include "net/netlink.h"
#include "util/log.h"
#include "wg/wg.h"

static int subnets_ready(struct engine *e, char *err, size_t errlen)
{
	if (e->st.has_subnets)
		return 0;
	int r = ipam_subnets_init(&e->st.subnets, &e->st.global.cluster_cidr, err, errlen);
	if (r < 0)
		return r;
	e->st.has_subnets = true;
	/* Keep service subnets off the node slice (container and node addresses). */
	struct ip_prefix slice = e->st.slice.cidr;
	if (ip_prefix_overlaps(&slice, &e->st.global.cluster_cidr) && slice.len > e->st.global.cluster_cidr.len)
		ipam_subnets_reserve(&e->st.subnets, &slice);
	return 0;
}

/*
 * The registry's subnet for key, or (cluster mode) the one claimed for it
 * cluster-wide, which replaces whatever the registry would have carved.
 */
static int assign_subnet(struct engine *e, const char *key, const struct ip_prefix *want, struct ip_prefix *out,
			 char *why, size_t whylen)
{
	if (!want)
		return ipam_subnets_assign(&e->st.subnets, key, e->st.node_id, out, why, whylen);
	const struct ipam_subnet *have = ipam_subnets_find(&e->st.subnets, key, e->st.node_id);
	if (have && ip_prefix_equal(&have->subnet, want)) {
		*out = *want;
		return 0;
	}
	if (have)
		ipam_subnets_release(&e->st.subnets, key, e->st.node_id);
	int r = ipam_subnets_restore(&e->st.subnets, key, e->st.node_id, want);
	if (r < 0) {
		char p[IP_PREFIX_STRLEN];
		snprintf(why, whylen, "the claimed subnet %s %s", ip_prefix_format(want, p, sizeof(p)),
			 r == -EEXIST ? "is in use on this node" : "is not a subnet slot of the cluster CIDR");
		return r;
	}
	*out = *want;
	return 0;
}

static int ensure_shared(struct engine *e, const struct ip_prefix *want, char *err, size_t errlen)
{
	struct dp *dp = e->dp;
	if (dp->has_shared)
		return 0;
	struct ip_prefix subnet;
	char why[256];
	int r = subnets_ready(e, err, errlen);
	if (r < 0)
		return r;
	if ((r = assign_subnet(e, IPAM_SHARED_BRIDGE_KEY, want, &subnet, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "no subnet for the shared bridge: %s", why);
		return r;
	}
	char name[IFNAMSIZ];
	dp_ifname(e, NULL, "sh", name);
	if ((r = dp_bridge_create(e, &dp->shared, name, &subnet, err, errlen)) < 0) {
		ipam_subnets_release(&e->st.subnets, IPAM_SHARED_BRIDGE_KEY, e->st.node_id);
		return r;
	}
	dp->has_shared = true;
	dp_check_subnet_collision(e, &subnet, "shared bridge subnet");
	return 0;
}

int dp_service_device_up(struct engine *e, struct dp_service *s, char *err, size_t errlen)
{
	struct nl_handle *nl;
	int r = dp_nl(e, &nl, err, errlen);
	if (r < 0)
		return r;
	struct wg_device_config wc = {
		.ifname = s->dev_name,
		.private_key = s->dev_private,
		.listen_port = s->dev_port,
		.mtu = DP_MTU,
		.uapi_dir = e->dp->opts.wg_sock_dir,
		.queues = e->dp->opts.wg_queues,
	};
	/* Our persistent TUN from an earlier run is re-attached; a leftover is replaced. */
	if ((r = wgdev_open(nl, &wc, &s->dev)) < 0) {
		snprintf(err, errlen, "cannot create dedicated WireGuard device %s for service %s on UDP port %u: %s",
			 s->dev_name, s->name, s->dev_port, strerror(-r));
		return r;
	}
	/*
	 * The device's address is the service gateway as a /32: the subnet's
	 * connected route stays on the bridge, and each peer's allowed IPs get
	 * their own route through this device (dp_peer_install).
	 */
	const char *step = "assign the service address to";
	if ((r = nl_addr_add(nl, s->dev_name, &s->bridge.gateway, (uint8_t)ip_addr_bits(&s->bridge.gateway))) < 0)
		goto fail;
	step = "bring up";
	if ((r = nl_link_set_up(nl, s->dev_name)) < 0)
		goto fail;
	for (size_t i = 0; i < s->n_peers; i++) {
		char perr[256];
		if (dp_peer_install(e, s->dev, s->dev_name, &s->peers[i], perr, sizeof(perr)) < 0)
			log_warn("service %s: recorded peer not installed: %s", s->name, perr);
	}
	wgdev_kick(s->dev, s->peers, s->n_peers);
	dp_health_watch(e, s->dev);
	return 0;
fail:
	snprintf(err, errlen, "cannot %s dedicated device %s: %s", step, s->dev_name, strerror(-r));
	wg_device_destroy(s->dev);
	s->dev = NULL;
	nl_link_delete(nl, s->dev_name);
	return r;
}

static void fill_response(struct engine *e, struct dp_service *s, struct ovl_response *resp)
{
	struct dp_bridge *b = dp_service_bridge(e->dp, s);
	memset(resp, 0, sizeof(*resp));
	resp->result = OVL_RES_SERVICE_OVERLAY;
	struct ovl_res_service_overlay *o = &resp->service_overlay;
	o->mode = s->mode;
	o->subnet = b->subnet;
	o->name = strdup(b->name);
	if (s->dedicated) {
		o->has_dedicated = true;
		memcpy(o->wg_public_key, s->dev_public, WG_KEY_LEN);
		o->wg_port = s->dev_port;
		o->overlay_ip = b->gateway;
	}
	if (!o->name) {
		ovl_response_free(resp);
		ovl_response_err(resp, "out of memory");
	}
}

static int ports_ready(struct engine *e)
{
	struct dp *dp = e->dp;
	if (!dp->ports_ready) {
		ipam_ports_init(&dp->ports, e->st.global.wg_port);
		for (size_t i = 0; i < dp->n_services; i++)
			if (dp->services[i].dedicated)
				ipam_ports_reserve(&dp->ports, dp->services[i].dev_port);
		dp->ports_ready = true;
	}
	return 0;
}

static struct state_dp_identity *identity_find(struct dp *dp, const char *service)
{
	for (size_t i = 0; i < dp->n_identities; i++)
		if (strcmp(dp->identities[i].service, service) == 0)
			return &dp->identities[i];
	return NULL;
}

static void identity_forget(struct dp *dp, const char *service)
{
	struct state_dp_identity *id = identity_find(dp, service);
	if (!id)
		return;
	free(id->service);
	explicit_bzero(id->private_key, sizeof(id->private_key));
	size_t i = (size_t)(id - dp->identities);
	memmove(id, id + 1, (dp->n_identities - i - 1) * sizeof(*id));
	dp->n_identities--;
}

static int identity_keep(struct dp *dp, const struct dp_service *s)
{
	if (identity_find(dp, s->name))
		return 0;
	void *n = realloc(dp->identities, (dp->n_identities + 1) * sizeof(*dp->identities));
	if (!n)
		return -ENOMEM;
	dp->identities = n;
	struct state_dp_identity *id = &dp->identities[dp->n_identities];
	if (!(id->service = strdup(s->name)))
		return -ENOMEM;
	memcpy(id->private_key, s->dev_private, WG_KEY_LEN);
	id->port = s->dev_port;
	dp->n_identities++;
	return 0;
}

/* The lowest free port of the band that no remembered identity will want back. */
static int alloc_port(struct dp *dp, uint16_t *out)
{
	uint16_t skipped[IPAM_PORT_BAND];
	size_t n = 0;
	int r;
	for (;;) {
		if ((r = ipam_ports_alloc(&dp->ports, out)) < 0)
			break;
		bool taken = false;
		for (size_t i = 0; i < dp->n_identities && !taken; i++)
			taken = dp->identities[i].port == *out;
		if (!taken)
			break;
		skipped[n++] = *out;
	}
	while (n)
		ipam_ports_release(&dp->ports, skipped[--n]);
	return r;
}

void engine_service_setup(struct engine *e, const char *service, enum ovl_mode mode, const struct ip_prefix *want,
			  struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	char err[600];
	if (!dp->up) {
		ovl_response_err(resp, "setup_service_overlay %s: global overlay not set up; call setup_global_overlay "
				       "first", service);
		return;
	}
	if (!*service || strcmp(service, IPAM_SHARED_BRIDGE_KEY) == 0) {
		ovl_response_err(resp, "setup_service_overlay: invalid service name \"%.80s\"", service);
		return;
	}
	struct dp_service *s = dp_find_service(dp, service);
	if (s) {
		if (s->mode != mode) {
			ovl_response_err(resp,
					 "setup_service_overlay %s: already set up in mode %s; call "
					 "teardown_service_overlay before switching to %s",
					 service, ovl_mode_name(s->mode), ovl_mode_name(mode));
			return;
		}
		fill_response(e, s, resp); /* idempotent */
		return;
	}
	void *grown = realloc(dp->services, (dp->n_services + 1) * sizeof(*dp->services));
	if (!grown) {
		ovl_response_err(resp, "setup_service_overlay %s: out of memory", service);
		return;
	}
	dp->services = grown;
	struct dp_service ns = { .mode = mode };
	if (!(ns.name = strdup(service))) {
		ovl_response_err(resp, "setup_service_overlay %s: out of memory", service);
		return;
	}
	int r;
	if (mode == OVL_MODE_SHARED) {
		if ((r = ensure_shared(e, want, err, sizeof(err))) < 0)
			goto fail;
		ns.on_shared = true;
	} else {
		struct ip_prefix subnet;
		char why[256];
		if ((r = subnets_ready(e, err, sizeof(err))) < 0)
			goto fail;
		if ((r = assign_subnet(e, service, want, &subnet, why, sizeof(why))) < 0) {
			snprintf(err, sizeof(err), "no subnet left for the service: %s", why);
			goto fail;
		}
		char name[IFNAMSIZ];
		dp_ifname(e, service, "b", name);
		if ((r = dp_bridge_create(e, &ns.bridge, name, &subnet, err, sizeof(err))) < 0) {
			ipam_subnets_release(&e->st.subnets, service, e->st.node_id);
			goto fail;
		}
		dp_check_subnet_collision(e, &subnet, "service subnet");
		if (mode == OVL_MODE_DEDICATED) {
			ports_ready(e);
			ns.dedicated = true;
			dp_ifname(e, service, "d", ns.dev_name);
			struct state_dp_identity *known = identity_find(dp, service);
			if (known && ipam_ports_reserve(&dp->ports, known->port) == 0) {
				/* The identity this service had before a restart: peers elsewhere know it. */
				ns.dev_port = known->port;
				memcpy(ns.dev_private, known->private_key, WG_KEY_LEN);
				wg_public_from_private(ns.dev_private, ns.dev_public);
			} else {
				if ((r = alloc_port(dp, &ns.dev_port)) < 0) {
					snprintf(err, sizeof(err), "no free UDP port for a dedicated device in %u..%u",
						 e->st.global.wg_port + 1, e->st.global.wg_port + IPAM_PORT_BAND);
					goto fail_bridge;
				}
				if ((r = wg_keypair_generate(ns.dev_private, ns.dev_public)) < 0) {
					snprintf(err, sizeof(err), "cannot generate a WireGuard key");
					goto fail_port;
				}
			}
			if (identity_keep(dp, &ns) < 0) {
				snprintf(err, sizeof(err), "out of memory");
				r = -ENOMEM;
				goto fail_port;
			}
			if ((r = dp_service_device_up(e, &ns, err, sizeof(err))) < 0)
				goto fail_port;
		}
	}
	dp->services[dp->n_services++] = ns;
	s = &dp->services[dp->n_services - 1];
	dp_firewall_sync(e);
	struct dp_bridge *b = dp_service_bridge(dp, s);
	char sub[IP_PREFIX_STRLEN];
	log_info("service %s (%s): bridge %s, subnet %s%s%s", service, ovl_mode_name(mode), b->name,
		 ip_prefix_format(&b->subnet, sub, sizeof(sub)), s->dedicated ? ", dedicated device " : "",
		 s->dedicated ? s->dev_name : "");
	dp_commit(e);
	fill_response(e, s, resp);
	return;
fail_port:
	if (ns.dedicated)
		ipam_ports_release(&dp->ports, ns.dev_port);
fail_bridge:
	if (!ns.on_shared) {
		dp_bridge_destroy(e, &ns.bridge);
		ipam_subnets_release(&e->st.subnets, service, e->st.node_id);
	}
fail:
	explicit_bzero(ns.dev_private, sizeof(ns.dev_private));
	free(ns.name);
	ovl_response_err(resp, "setup_service_overlay %s (%s): %s", service, ovl_mode_name(mode), err);
}

void dp_service_remove(struct engine *e, struct dp_service *s, bool forget_identity)
{
	struct dp *dp = e->dp;
	if (forget_identity)
		identity_forget(dp, s->name);
	/* Containers on the service go first: their veths hang off its bridge. */
	for (size_t i = dp->n_attaches; i-- > 0;)
		if (strcmp(dp->attaches[i].service, s->name) == 0)
			dp_attach_release(e, &dp->attaches[i], true);
	dp_reaper_flush(e); /* their links go now, in one batch: the service leaves nothing behind */
	if (s->dev) {
		dp_health_unwatch(e, s->dev);
		wg_device_destroy(s->dev);
		s->dev = NULL;
	}
	if (s->dedicated) {
		if (dp->nl)
			nl_link_delete(dp->nl, s->dev_name); /* its peer routes go with it */
		dp_forwarding_forget(e, s->dev_name);
		if (dp->ports_ready)
			ipam_ports_release(&dp->ports, s->dev_port);
	}
	if (!s->on_shared)
		dp_bridge_destroy(e, &s->bridge);
	if (e->st.has_subnets && !s->on_shared)
		ipam_subnets_release(&e->st.subnets, s->name, e->st.node_id);
	free(s->name);
	for (size_t j = 0; j < s->n_peers; j++)
		ovl_peer_spec_free(&s->peers[j]);
	free(s->peers);
	explicit_bzero(s->dev_private, sizeof(s->dev_private));
	size_t idx = (size_t)(s - dp->services);
	memmove(s, s + 1, (dp->n_services - idx - 1) * sizeof(*s));
	dp->n_services--;
}

void engine_service_teardown(struct engine *e, const char *service, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	struct dp_service *s = dp_find_service(dp, service);
	if (s) {
		dp_service_remove(e, s, true);
		dp_firewall_sync(e);
		log_info("service %s torn down", service);
		dp_commit(e);
	} else if (e->st.global_set && dp->nl) {
		/*
		 * Not in the record (a crash before it was saved): the names are
		 * deterministic, so whatever exists of it can still be removed.
		 */
		char name[IFNAMSIZ];
		dp_ifname(e, service, "b", name);
		nl_link_delete(dp->nl, name);
		dp_ifname(e, service, "d", name);
		nl_link_delete(dp->nl, name);
	}
	/* Idempotent like the original: tearing down an absent overlay is ok. */
	resp_ok(resp);
}
