// SPDX-License-Identifier: MIT
/*
 * guest_managed handles: a VM that runs its own WireGuard device. The node
 * hands it a config (fresh keypair, an address from the same pool its
 * service's containers use, this node as its single peer with keepalive 25)
 * and registers the guest as a /32 global peer, so this node and, through
 * it, the cluster route to the guest.
 */
#include "engine/dp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/netlink.h"
#include "util/log.h"
#include "wg/wg.h"

#define GUEST_KEEPALIVE_SECS 25

/* The pool a guest of service draws from: its bridge's, else the node slice. */
static struct ipam_slice *guest_pool(struct engine *e, const char *service)
{
	struct dp_bridge *b = service ? dp_service_bridge(e->dp, dp_find_service(e->dp, service)) : NULL;
	return b ? &b->pool : &e->st.slice;
}

void engine_guest_attach(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	const char *id = r->handle.id;
	if (!dp->up || !dp->has_device) {
		ovl_response_err(resp, "attach_container: guest %s: guest-managed attach requires the global overlay "
				       "to be set up first (no node WireGuard device)", id);
		return;
	}
	if (dp_find_guest(dp, id, false)) {
		ovl_response_err(resp, "attach_container: guest %s is already attached; detach it first", id);
		return;
	}
	bool has_bridge = dp_service_bridge(dp, dp_find_service(dp, r->service)) != NULL;
	struct ipam_slice *pool = guest_pool(e, r->service);
	struct state_dp_guest g = { 0 };
	char err[300], sub[IP_PREFIX_STRLEN];
	if (ipam_slice_alloc(pool, &g.ip) < 0) {
		ovl_response_err(resp, "attach_container: guest %s: address pool %s exhausted", id,
				 ip_prefix_format(&pool->cidr, sub, sizeof(sub)));
		return;
	}
	uint8_t priv[WG_KEY_LEN];
	struct ovl_peer_spec node = { 0 }, guest = { 0 };
	struct ip_prefix host = { .addr = g.ip, .len = (uint8_t)ip_addr_bits(&g.ip) };
	struct ip_prefix cluster = e->st.global.cluster_cidr;
	g.id = strdup(id);
	g.service = has_bridge ? strdup(r->service) : NULL;
	g.isolation = r->isolation_network ? strdup(r->isolation_network) : NULL;
	void *grown = realloc(dp->guests, (dp->n_guests + 1) * sizeof(*dp->guests));
	if (!g.id || (has_bridge && !g.service) || (r->isolation_network && !g.isolation) || !grown) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	dp->guests = grown;
	if (wg_keypair_generate(priv, g.public_key) < 0) {
		snprintf(err, sizeof(err), "cannot generate the guest's WireGuard key");
		goto fail;
	}
	/* The guest as a global peer: its /32, endpoint learned from its keepalives. */
	memcpy(guest.public_key, g.public_key, WG_KEY_LEN);
	guest.endpoint.addr.family = g.ip.family; /* 0.0.0.0:0 / [::]:0: none yet */
	guest.allowed_ips = &host;
	guest.n_allowed_ips = 1;
	if (dp_peer_install(e, dp->gdev, NULL, &guest, err, sizeof(err)) < 0)
		goto fail;
	/* Its address may lie in a bridge subnet: the node reaches it through the device, not the bridge. */
	int q = nl_route_replace_host(dp->nl, &g.ip, dp->gname, &dp->node_ip);
	if (q < 0) {
		wg_peer_remove(dp->gdev, g.public_key);
		snprintf(err, sizeof(err), "cannot route the guest address through %s: %s", dp->gname, strerror(-q));
		goto fail;
	}
	/*
	 * A guest address inside a bridge subnet looks on-link to the
	 * containers there: the node answers their ARP for it (proxy ARP; the
	 * route above leads elsewhere) and forwards to the guest. The setting
	 * lives and dies with our bridge.
	 */
	struct dp_bridge *b = has_bridge ? dp_service_bridge(dp, dp_find_service(dp, r->service)) : NULL;
	if (b && (q = sysctl_write("net.ipv4.conf", b->name, "proxy_arp", "1")) < 0)
		log_warn("guest %s: cannot enable proxy ARP on %s (%s); containers there cannot reach it", id, b->name,
			 strerror(-q));
	dp_forwarding_enable(e, &g.ip, dp->gname);
	if (state_put_peer(&e->st, &guest) < 0) {
		wg_peer_remove(dp->gdev, g.public_key);
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	dp_guest_record(e, &g);
	if (g.isolation && dp_fence_failed(e, "guest", id, engine_guest_detach, resp)) {
		explicit_bzero(priv, sizeof(priv));
		return;
	}

	resp->result = OVL_RES_GUEST_CONFIG;
	struct ovl_res_guest_config *c = &resp->guest_config;
	c->overlay_ip = g.ip;
	c->prefix_len = pool->cidr.len;
	memcpy(c->private_key, priv, WG_KEY_LEN);
	memcpy(c->public_key, g.public_key, WG_KEY_LEN);
	c->listen_port = e->st.global.wg_port;
	explicit_bzero(priv, sizeof(priv));
	/* This node, reachable at its overlay identity; the VM runtime rewrites the endpoint it can dial. */
	memcpy(node.public_key, dp->public_key, WG_KEY_LEN);
	node.endpoint.addr = dp->node_ip;
	node.endpoint.port = e->st.global.wg_port;
	node.persistent_keepalive_secs = GUEST_KEEPALIVE_SECS;
	node.allowed_ips = &cluster;
	node.n_allowed_ips = 1;
	c->peers = calloc(1, sizeof(*c->peers));
	if (!c->peers || ovl_peer_spec_copy(&c->peers[0], &node) < 0) {
		free(c->peers);
		c->peers = NULL;
		ovl_response_err(resp, "attach_container: guest %s: out of memory", id);
		return;
	}
	c->n_peers = 1;
	c->has_dns_server = true;
	c->dns_server = r->has_dns_server ? r->dns_server : dp->node_ip;
	const char *domain = r->dns_domain ? r->dns_domain : e->st.dns_zone;
	c->dns_domain = domain ? strdup(domain) : NULL;
	return;
fail:
	explicit_bzero(priv, sizeof(priv));
	ipam_slice_release(pool, &g.ip);
	state_dp_guest_free(&g);
	ovl_response_err(resp, "attach_container: guest %s: %s", id, err);
}

void engine_guest_detach(struct engine *e, const char *id, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	struct state_dp_guest *g = dp_find_guest(dp, id, false);
	if (!g) {
		resp_ok(resp); /* idempotent: an unknown guest id is ok */
		return;
	}
	if (dp->gdev)
		wg_peer_remove(dp->gdev, g->public_key);
	if (dp->nl && dp->gname[0])
		nl_route_delete_host(dp->nl, &g->ip, dp->gname);
	state_remove_peer(&e->st, g->public_key);
	ipam_slice_release(guest_pool(e, g->service), &g->ip);
	dp_guest_forget(e, g);
	resp_ok(resp);
}
