// SPDX-License-Identifier: MIT
/*
 * The global (cluster) overlay: setup_global_overlay, teardown_global_overlay.
 *
 * The node's identity is stable: the request's private_key (extension) or a
 * key generated once and kept in <data_dir>/node.key. (The original minted a
 * fresh key on every call, so a restarted node could never handshake with
 * peers that had its old public key.)
 */
#include "engine/dp.h"
#include "engine/nat.h"
#include "engine/wgdev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/dns.h"
#include "net/firewall.h"
#include "net/netlink.h"
#include "relay/relay.h"
#include "state/model_json.h"
#include "util/log.h"
#include "wg/wg.h"

#define NODE_KEY_FILE "node.key"
#define NO_HOST_ADAPTER "(host-adapter-disabled)"

/* Reads <data_dir>/node.key, creating it (0600, base64) on first use. */
static int node_key_load_or_create(struct engine *e, uint8_t key[WG_KEY_LEN], char *err, size_t errlen)
{
	char path[4200], buf[WG_KEY_B64_LEN + 8];
	snprintf(path, sizeof(path), "%s/%s", e->data_dir, NODE_KEY_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < WG_KEY_B64_LEN) {
			snprintf(err, errlen, "node key %.300s is truncated; remove it to generate a new identity", path);
			return -EBADMSG;
		}
		buf[WG_KEY_B64_LEN] = '\0';
		if (key_from_base64(buf, key) < 0) {
			snprintf(err, errlen, "node key %.300s is not a base64 WireGuard key; remove it to generate a new "
					      "identity", path);
			return -EBADMSG;
		}
		return 0;
	}
	if (errno != ENOENT) {
		int r = -errno;
		snprintf(err, errlen, "cannot read node key %.300s: %s", path, strerror(errno));
		return r;
	}
	uint8_t pub[WG_KEY_LEN];
	if (wg_keypair_generate(key, pub) < 0) {
		snprintf(err, errlen, "cannot generate the node's WireGuard key");
		return -EIO;
	}
	key_to_base64(key, buf);
	strcat(buf, "\n");
	char tmp[4300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r = 0;
	if (fd < 0 || write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf) || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	explicit_bzero(buf, sizeof(buf));
	if (r < 0) {
		unlink(tmp);
		snprintf(err, errlen, "cannot write node key %.300s: %s", path, strerror(-r));
		return r;
	}
	log_info("generated the node's WireGuard identity in %s", path);
	return 0;
}

static int record_global(struct engine *e, const struct ovl_req_setup_global *r, const uint8_t key[WG_KEY_LEN])
{
	struct state_global g = { 0 };
	g.deployment = strdup(r->deployment);
	g.instance_id = strdup(r->instance_id);
	if (!g.deployment || !g.instance_id || (r->has_nat && ovl_nat_config_copy(&g.nat, &r->nat) < 0)) {
		free(g.deployment);
		free(g.instance_id);
		return -ENOMEM;
	}
	g.cluster_cidr = ip_prefix_network(&r->cluster_cidr);
	g.has_slice = r->has_slice_cidr;
	if (g.has_slice)
		g.slice_cidr = ip_prefix_network(&r->slice_cidr);
	g.wg_port = r->wg_port ? r->wg_port : STATE_DEFAULT_WG_PORT;
	g.has_private_key = true;
	memcpy(g.private_key, key, WG_KEY_LEN);
	g.has_nat = r->has_nat;
	if (!r->has_nat && r->has_nat_enabled) {
		g.has_nat = true;
		g.nat.enabled = r->nat_enabled;
	}
	g.host_adapter_mandatory = r->host_adapter_mandatory;
	if (e->st.global_set) {
		free(e->st.global.deployment);
		free(e->st.global.instance_id);
		ovl_nat_config_free(&e->st.global.nat);
	}
	e->st.global = g;
	e->st.global_set = true;
	return 0;
}

/* Binds the node slice to the requested CIDR (the cluster CIDR when none). */
static int bind_slice(struct engine *e, const struct ovl_req_setup_global *r, char *err, size_t errlen)
{
	struct ip_prefix want = ip_prefix_network(r->has_slice_cidr ? &r->slice_cidr : &r->cluster_cidr);
	if (ip_prefix_equal(&e->st.slice.cidr, &want))
		return 0;
	if (ipam_slice_count(&e->st.slice)) {
		char a[IP_PREFIX_STRLEN], b[IP_PREFIX_STRLEN];
		snprintf(err, errlen,
			 "cannot move the node slice from %s to %s: %zu address(es) are still allocated in it; "
			 "detach the containers and release_ip them first",
			 ip_prefix_format(&e->st.slice.cidr, a, sizeof(a)), ip_prefix_format(&want, b, sizeof(b)),
			 ipam_slice_count(&e->st.slice));
		return -EBUSY;
	}
	struct ipam_slice s;
	int rc = ipam_slice_init(&s, &want);
	if (rc < 0) {
		char a[64];
		if (rc == -ERANGE)
			snprintf(err, errlen, "slice %s has no room for the node address",
				 ip_prefix_format(&want, a, sizeof(a)));
		else
			snprintf(err, errlen, "invalid slice CIDR");
		return -EINVAL;
	}
	ipam_slice_free(&e->st.slice);
	e->st.slice = s;
	return 0;
}

/* The overlay DNS follows the global device: <node_ip>:53 while it is up. */
static void dns_node_listener(struct engine *e, bool on)
{
	if (!on) {
		engine_dns_unlisten_node(e);
		return;
	}
	int r = engine_dns_listen_node(e, &e->dp->node_ip);
	if (r < 0) {
		char a[IP_ADDR_STRLEN];
		log_warn("overlay DNS cannot listen on %s:53: %s; containers cannot resolve overlay names",
			 ip_addr_format(&e->dp->node_ip, a, sizeof(a)), strerror(-r));
	}
}

/*
 * Creates the global device from the recorded configuration. Used by
 * setup_global_overlay and by restart recovery. On failure nothing stays.
 */
int dp_global_bringup(struct engine *e, char *err, size_t errlen)
{
	struct dp *dp = e->dp;
	const struct state_global *g = &e->st.global;
	struct nl_handle *nl;
	int r = dp_nl(e, &nl, err, errlen);
	if (r < 0)
		return r;
	dp_ifname(e, NULL, "g", dp->gname);
	dp->node_ip = ipam_slice_node_ip(&e->st.slice);
	if ((r = wg_public_from_private(g->private_key, dp->public_key)) < 0) {
		snprintf(err, errlen, "invalid node private key");
		return -EINVAL;
	}
	struct wg_device_config wc = {
		.ifname = dp->gname,
		.private_key = g->private_key,
		.listen_port = g->wg_port,
		.mtu = DP_MTU,
		.uapi_dir = dp->opts.wg_sock_dir,
		.queues = dp->opts.wg_queues,
	};
	/* The built-in TURN relay first: when it cannot run, nothing else is set up. */
	if (g->has_nat && g->nat.has_relay && !dp->relay) {
		char rerr[300];
		if ((r = relay_start(&g->nat.relay, g->wg_port, &dp->relay, rerr, sizeof(rerr))) < 0) {
			snprintf(err, errlen, "%s", rerr);
			return r;
		}
	}
	if ((r = nat_agent_prepare(e, &wc)) < 0) {
		snprintf(err, errlen, "cannot set up NAT traversal: %s", strerror(-r));
		relay_stop(dp->relay);
		dp->relay = NULL;
		return r;
	}
	/* A link of our deterministic name is our TUN from an earlier run (re-attached) or a leftover. */
	r = wgdev_open(nl, &wc, &dp->gdev);
	if (r < 0) {
		nl_link_delete(nl, dp->gname); /* a leftover that could not be replaced */
		nat_agent_free(e);
		if (!g->host_adapter_mandatory) {
			snprintf(dp->degraded, sizeof(dp->degraded),
				 "the global WireGuard device %s could not be created on UDP port %u: %s", dp->gname,
				 g->wg_port, strerror(-r));
			log_error("DEGRADED: %s. host_adapter_mandatory is false, so overlayd continues with a "
				  "VM-only overlay: this node does not join the overlay itself (its containers reach "
				  "no other node), while IP allocation and guest configs keep working. status reports "
				  "\"degraded\": true until a setup_global_overlay creates the device.",
				  dp->degraded);
			dp->has_device = false;
			dp->up = true;
			return 0;
		}
		snprintf(err, errlen, "cannot create the global WireGuard device %s on UDP port %u: %s", dp->gname,
			 g->wg_port, strerror(-r));
		relay_stop(dp->relay);
		dp->relay = NULL;
		return r;
	}
	const char *step = "assign the node address to";
	if ((r = nl_addr_add(nl, dp->gname, &dp->node_ip, g->cluster_cidr.len)) < 0)
		goto fail;
	step = "bring up";
	if ((r = nl_link_set_up(nl, dp->gname)) < 0)
		goto fail;
	dp->has_device = true;
	dp->up = true;
	dp->degraded[0] = '\0';
	for (size_t i = 0; i < e->st.n_peers; i++) {
		char perr[256];
		if (dp_peer_install(e, dp->gdev, NULL, &e->st.peers[i], perr, sizeof(perr)) < 0)
			log_warn("recorded peer not installed: %s", perr);
	}
	wgdev_kick(dp->gdev, e->st.peers, e->st.n_peers);
	dp_firewall_sync(e);
	if (!dp->opts.no_unmanaged && !dp->unmanaged_marked) {
		struct unmanaged_opts uo = {
			.networkd_dir = dp->opts.networkd_dir,
			.nm_dir = dp->opts.nm_dir,
			.instance = dp->fw_instance[0] ? dp->fw_instance : NULL,
			.networkd_running = -1,
			.nm_running = -1,
			.reload = true,
		};
		int u = unmanaged_mark(&uo, &dp->unmanaged);
		if (u < 0)
			log_warn("cannot declare zl-* links unmanaged to systemd-networkd/NetworkManager: %s",
				 strerror(-u));
		else
			dp->unmanaged_marked = true;
	}
	dns_node_listener(e, true);
	dp_health_start(e);
	nat_agent_start(e, dp->gdev);
	return 0;
fail:
	snprintf(err, errlen, "cannot %s the global device %s: %s", step, dp->gname, strerror(-r));
	wg_device_destroy(dp->gdev);
	dp->gdev = NULL;
	nat_agent_free(e);
	relay_stop(dp->relay);
	dp->relay = NULL;
	nl_link_delete(nl, dp->gname);
	return r;
}

/* Whether the request's NAT configuration (as record_global would record it) is the running one. */
static bool same_nat(const struct state_global *g, const struct ovl_req_setup_global *r)
{
	struct ovl_nat_config only_enabled = { .enabled = r->nat_enabled };
	const struct ovl_nat_config *want = r->has_nat ? &r->nat : r->has_nat_enabled ? &only_enabled : NULL;
	if (!want || !g->has_nat)
		return !want == !g->has_nat;
	json_t *a = mj_nat_to_json(&g->nat), *b = mj_nat_to_json(want);
	bool same = a && b && json_equal(a, b);
	json_decref(a);
	json_decref(b);
	return same;
}

/*
 * A setup of the overlay that is up already changes nothing. An
 * orchestrator that sends other settings (new TURN servers, say) would
 * otherwise believe them applied: the log names what was not.
 */
static void warn_if_not_applied(struct engine *e, const struct ovl_req_setup_global *r)
{
	const struct state_global *g = &e->st.global;
	char what[96] = "";
	struct ip_prefix cluster = ip_prefix_network(&r->cluster_cidr);
	struct ip_prefix slice = ip_prefix_network(&r->slice_cidr);
	if (!ip_prefix_equal(&cluster, &g->cluster_cidr))
		strcat(what, ", cluster_cidr");
	if (r->has_slice_cidr != g->has_slice || (g->has_slice && !ip_prefix_equal(&slice, &g->slice_cidr)))
		strcat(what, ", slice_cidr");
	if ((r->wg_port ? r->wg_port : STATE_DEFAULT_WG_PORT) != g->wg_port)
		strcat(what, ", wg_port");
	if (!same_nat(g, r))
		strcat(what, ", nat");
	if (what[0])
		log_warn("setup_global_overlay: the global overlay is up already for %s/%s, and this request's %s "
			 "differ from the running one's: not applied (teardown_global_overlay first, then set it up "
			 "again)",
			 g->deployment, g->instance_id, what + 2);
}

void engine_global_setup(struct engine *e, const struct ovl_req_setup_global *r, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	char err[600];
	if (dp->up) {
		if (strcmp(e->st.global.deployment, r->deployment) != 0 ||
		    strcmp(e->st.global.instance_id, r->instance_id) != 0) {
			ovl_response_err(resp,
					 "setup_global_overlay: the global overlay is already up for deployment %s "
					 "instance %s; call teardown_global_overlay before switching to %s/%s",
					 e->st.global.deployment, e->st.global.instance_id, r->deployment,
					 r->instance_id);
			return;
		}
		/* Idempotent: same request, same device, nothing recreated. */
		warn_if_not_applied(e, r);
		resp->result = OVL_RES_BRIDGE_NAME;
		resp->name = strdup(dp->has_device ? dp->gname : NO_HOST_ADAPTER);
		if (!resp->name)
			ovl_response_err(resp, "out of memory");
		return;
	}
	uint8_t key[WG_KEY_LEN];
	int q;
	if (r->has_private_key)
		memcpy(key, r->private_key, WG_KEY_LEN);
	else if ((q = node_key_load_or_create(e, key, err, sizeof(err))) < 0) {
		ovl_response_err(resp, "setup_global_overlay: %s", err);
		return;
	}
	if (bind_slice(e, r, err, sizeof(err)) < 0) {
		ovl_response_err(resp, "setup_global_overlay: %s", err);
		return;
	}
	/* Keep what was there, so a failed bring-up changes nothing. */
	bool had = e->st.global_set;
	struct state_global old = e->st.global;
	if (had) {
		old.deployment = strdup(old.deployment);
		old.instance_id = strdup(old.instance_id);
		struct ovl_nat_config nc = { 0 };
		if (!old.deployment || !old.instance_id || ovl_nat_config_copy(&nc, &e->st.global.nat) < 0) {
			free(old.deployment);
			free(old.instance_id);
			ovl_response_err(resp, "setup_global_overlay: out of memory");
			return;
		}
		old.nat = nc;
	}
	if (record_global(e, r, key) < 0) {
		ovl_response_err(resp, "setup_global_overlay: out of memory");
		goto restore_old;
	}
	explicit_bzero(key, sizeof(key));
	if (dp_global_bringup(e, err, sizeof(err)) < 0) {
		ovl_response_err(resp, "setup_global_overlay: %s", err);
		free(e->st.global.deployment);
		free(e->st.global.instance_id);
		ovl_nat_config_free(&e->st.global.nat);
		memset(&e->st.global, 0, sizeof(e->st.global));
		e->st.global_set = false;
		goto restore_old;
	}
	if (had) {
		free(old.deployment);
		free(old.instance_id);
		ovl_nat_config_free(&old.nat);
	}
	e->global_up = dp->has_device;
	char n[IP_ADDR_STRLEN], c[IP_PREFIX_STRLEN];
	log_info("global overlay up: %s, node %s in %s, UDP port %u", dp->has_device ? dp->gname : NO_HOST_ADAPTER,
		 ip_addr_format(&dp->node_ip, n, sizeof(n)), ip_prefix_format(&e->st.global.cluster_cidr, c, sizeof(c)),
		 e->st.global.wg_port);
	dp_commit(e);
	resp->result = OVL_RES_BRIDGE_NAME;
	resp->name = strdup(dp->has_device ? dp->gname : NO_HOST_ADAPTER);
	if (!resp->name)
		ovl_response_err(resp, "out of memory");
	return;
restore_old:
	if (had) {
		e->st.global = old;
		e->st.global_set = true;
	}
}

void dp_relay_status(struct engine *e, struct ovl_res_nat_status *s)
{
	const struct ovl_relay_spec *spec = &e->st.global.nat.relay;
	struct ovl_nat_relay_server *out = &s->relay_server;
	struct relay_stats st;
	size_t allocs;

	if (!e->dp->relay)
		return;
	relay_stats(e->dp->relay, &st, &allocs);
	s->has_relay_server = true;
	out->listen_port = spec->listen_port;
	snprintf(out->external_addr, sizeof(out->external_addr), "%s", spec->external_addr);
	out->max_sessions = relay_spec_max_sessions(spec);
	out->max_sessions_per_client = relay_spec_per_client(spec);
	out->allocations = allocs;
	out->allocations_made = st.allocations;
	out->refused_quota = st.refused_quota;
	out->refused_capacity = st.refused_capacity;
	out->auth_failures = st.auth_failures;
	out->stale_nonces = st.stale_nonces;
	out->to_peers = st.to_peer;
	out->to_clients = st.to_client;
	out->dropped_no_permission = st.dropped_no_permission;
	out->dropped_fair_share = st.dropped_fair_share;
}

/* Reverts every host change of the data plane, in dependency order. */
void dp_global_down(struct engine *e)
{
	struct dp *dp = e->dp;
	dp_health_stop(e);
	nat_agent_stop(e);
	/* Containers first (their veths and host routes), then bridges and devices. */
	while (dp->n_attaches)
		dp_attach_release(e, &dp->attaches[dp->n_attaches - 1], true);
	dp_reaper_flush(e);
	while (dp->n_guests) {
		struct state_dp_guest *g = &dp->guests[dp->n_guests - 1];
		struct ovl_response r = { 0 };
		char *id = strdup(g->id);
		if (!id)
			break;
		if (g->host_shared)
			engine_hostshared_detach(e, id, &r);
		else
			engine_guest_detach(e, id, &r);
		free(id);
		ovl_response_free(&r);
	}
	while (dp->n_services)
		dp_service_remove(e, &dp->services[dp->n_services - 1], false);
	if (dp->has_shared) {
		if (e->st.has_subnets)
			ipam_subnets_release(&e->st.subnets, IPAM_SHARED_BRIDGE_KEY, e->st.node_id);
		dp_bridge_destroy(e, &dp->shared);
		dp->has_shared = false;
	}
	dns_node_listener(e, false);
	if (dp->gdev) {
		pthread_mutex_lock(&dp->health_lock);
		wg_device_destroy(dp->gdev);
		dp->gdev = NULL;
		pthread_mutex_unlock(&dp->health_lock);
	}
	nat_agent_free(e); /* after the device: its receive threads call the agent's hooks */
	relay_stop(dp->relay);
	dp->relay = NULL;
	if (dp->gname[0] && dp->nl)
		nl_link_delete(dp->nl, dp->gname); /* TUN goes with the device; a leftover of a crash too */
	if (dp->fw) {
		int r = fw_remove(dp->fw);
		if (r < 0)
			log_warn("cannot remove firewall table %s: %s (%s)", fw_table_name(dp->fw), strerror(-r),
				 fw_error(dp->fw));
		fw_close(dp->fw);
		dp->fw = NULL;
	}
	dp->fw_applied = false;
	if (dp->unmanaged_marked) {
		struct unmanaged_opts uo = {
			.networkd_dir = dp->opts.networkd_dir,
			.nm_dir = dp->opts.nm_dir,
			.instance = dp->fw_instance[0] ? dp->fw_instance : NULL,
			.reload = true,
		};
		unmanaged_unmark(&uo, &dp->unmanaged);
		dp->unmanaged_marked = false;
	}
	dp_forwarding_revert(e);
	dp->up = false;
	dp->has_device = false;
	dp->degraded[0] = '\0';
	dp->ports_ready = false; /* the band follows the next setup's wg_port */
	dp->gname[0] = '\0';
	free(dp->health);
	dp->health = NULL;
	dp->n_health = 0;
}

void engine_global_teardown(struct engine *e, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	bool anything = dp->up || dp->n_attaches || dp->n_services || dp->has_shared || dp->n_guests ||
			dp->ip_forward.saved || dp->fw || dp->unmanaged_marked;
	if (anything) {
		dp_global_down(e);
		log_info("global overlay torn down; host state reverted");
		dp_commit(e);
	}
	e->global_up = false;
	resp_ok(resp);
}
