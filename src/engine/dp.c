// SPDX-License-Identifier: MIT
/* The data plane's lifetime and the helpers its request families share. */
#include "engine/dp.h"
#include "engine/nat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam/ifname.h"
#include "net/firewall.h"
#include "net/netlink.h"
#include "relay/relay.h"
#include "util/log.h"
#include "wg/wg.h"

int dp_open(struct engine *e, const struct engine_dp_opts *opts, char *err, size_t errlen)
{
	struct dp *dp = calloc(1, sizeof(*dp));
	if (!dp) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&dp->health_lock, NULL);
	pthread_cond_init(&dp->health_cond, NULL);
	pthread_mutex_init(&dp->reap_lock, NULL);
	pthread_condattr_t monotonic; /* the reaper's coalescing wait must not follow wall-clock jumps */
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&dp->reap_cond, &monotonic);
	pthread_condattr_destroy(&monotonic);
	dp->opts = *opts;
	e->dp = dp;
	int r = dp_record_load(e, err, errlen);
	dp_attachments_changed(dp);
	if (r < 0)
		return r;
	dp_recover(e);
	return 0;
}

void dp_close(struct engine *e)
{
	struct dp *dp = e->dp;
	if (!dp)
		return;
	dp_health_stop(e);
	dp_reaper_stop(e);
	nat_agent_stop(e);
	/*
	 * A close without teardown (tests, a crash-like exit) leaves bridges and
	 * veths for the next start to adopt; the userspace devices die with us.
	 */
	for (size_t i = 0; i < dp->n_services; i++) {
		struct dp_service *s = &dp->services[i];
		if (s->dev)
			wg_device_destroy(s->dev);
		free(s->name);
		ipam_slice_free(&s->bridge.pool);
		for (size_t j = 0; j < s->n_peers; j++)
			ovl_peer_spec_free(&s->peers[j]);
		free(s->peers);
		explicit_bzero(s->dev_private, sizeof(s->dev_private));
	}
	free(dp->services);
	state_dp_records_free(dp->identities, dp->n_identities, dp->attaches, dp->n_attaches, dp->guests, dp->n_guests);
	if (dp->gdev)
		wg_device_destroy(dp->gdev);
	nat_agent_free(e);
	relay_stop(dp->relay); /* its clients re-allocate with the next start's relay */
	dp->relay = NULL;
	ipam_slice_free(&dp->shared.pool);
	free(dp->v6_fwd);
	free(dp->health);
	free(dp->watched); /* the devices themselves were destroyed above */
	if (dp->fw)
		fw_close(dp->fw);
	if (dp->nl)
		nl_close(dp->nl);
	pthread_mutex_destroy(&dp->health_lock);
	pthread_cond_destroy(&dp->health_cond);
	pthread_mutex_destroy(&dp->reap_lock);
	pthread_cond_destroy(&dp->reap_cond);
	free(dp);
	e->dp = NULL;
}

void dp_attachments_changed(struct dp *dp)
{
	/* Unique in the process, so an answer's encoder never mixes up two engines' lists (tests run several). */
	static _Atomic uint64_t versions;
	dp->attachments_version = ++versions;
}

void dp_commit(struct engine *e)
{
	e->dirty = true; /* the record is converted once, when the batch is saved (engine_save) */
}

static void commit_record(struct engine *e, const struct state_journal_record *rec)
{
	if (state_journal_batch_add(&e->jbatch, rec) < 0)
		dp_commit(e); /* out of memory for the record: the snapshot has it all */
	else
		e->journaled = true;
}

void dp_commit_attach(struct engine *e, const struct state_dp_attach *a)
{
	commit_record(e, &(struct state_journal_record){ .type = STATE_JOURNAL_ATTACH, .attach = *a });
}

void dp_commit_detach(struct engine *e, uint32_t pid)
{
	commit_record(e, &(struct state_journal_record){ .type = STATE_JOURNAL_DETACH, .attach.pid = pid });
}

void dp_commit_v6_forwarding(struct engine *e, const char *dev, bool on)
{
	struct state_journal_record rec = { .type = on ? STATE_JOURNAL_V6_FORWARDING_ON : STATE_JOURNAL_V6_FORWARDING_OFF };
	snprintf(rec.dev, sizeof(rec.dev), "%s", dev);
	commit_record(e, &rec);
}

int dp_nl(struct engine *e, struct nl_handle **out, char *err, size_t errlen)
{
	if (!e->dp->nl) {
		int r = nl_open(&e->dp->nl);
		if (r < 0) {
			snprintf(err, errlen, "cannot open a netlink socket: %s (overlayd needs CAP_NET_ADMIN)",
				 strerror(-r));
			return r;
		}
	}
	*out = e->dp->nl;
	return 0;
}

struct dp_service *dp_find_service(struct dp *dp, const char *name)
{
	for (size_t i = 0; i < dp->n_services; i++)
		if (strcmp(dp->services[i].name, name) == 0)
			return &dp->services[i];
	return NULL;
}

struct state_dp_attach *dp_find_attach(struct dp *dp, uint32_t pid)
{
	for (size_t i = 0; i < dp->n_attaches; i++)
		if (dp->attaches[i].pid == pid)
			return &dp->attaches[i];
	return NULL;
}

struct state_dp_guest *dp_find_guest(struct dp *dp, const char *id, bool host_shared)
{
	for (size_t i = 0; i < dp->n_guests; i++)
		if (dp->guests[i].host_shared == host_shared && strcmp(dp->guests[i].id, id) == 0)
			return &dp->guests[i];
	return NULL;
}

struct dp_bridge *dp_service_bridge(struct dp *dp, struct dp_service *s)
{
	if (!s)
		return NULL;
	if (s->on_shared)
		return dp->has_shared ? &dp->shared : NULL;
	return &s->bridge;
}

void dp_ifname(struct engine *e, const char *service, const char *suffix, char out[IFNAMSIZ])
{
	const char *parts[3] = { e->st.global.deployment, e->st.global.instance_id, service };
	ipam_ifname(parts, service ? 3 : 2, suffix, out);
}

int dp_bridge_create(struct engine *e, struct dp_bridge *b, const char *name, const struct ip_prefix *subnet,
		     char *err, size_t errlen)
{
	struct nl_handle *nl;
	int r = dp_nl(e, &nl, err, errlen);
	if (r < 0)
		return r;
	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->subnet = ip_prefix_network(subnet);
	if ((r = ipam_slice_init(&b->pool, &b->subnet)) < 0) {
		snprintf(err, errlen, "bad bridge subnet for %s", name);
		return r;
	}
	b->gateway = ipam_slice_node_ip(&b->pool);
	char gw[IP_ADDR_STRLEN];
	ip_addr_format(&b->gateway, gw, sizeof(gw));
	const char *step = "create";
	if ((r = nl_bridge_create(nl, name)) < 0)
		goto fail;
	/*
	 * A bridge that survived a restart may carry an older gateway: flush
	 * first so the address set is exactly ours (the seed's dual-address bug).
	 */
	step = "flush the addresses of";
	if ((r = nl_addr_flush(nl, name)) < 0)
		goto fail_del;
	step = "set the MTU of";
	if ((r = nl_link_set_mtu(nl, name, DP_MTU)) < 0)
		goto fail_del;
	step = "assign the gateway to";
	if ((r = nl_addr_add(nl, name, &b->gateway, b->subnet.len)) < 0)
		goto fail_del;
	step = "bring up";
	if ((r = nl_link_set_up(nl, name)) < 0)
		goto fail_del;
	return 0;
fail_del:
	nl_link_delete(nl, name);
fail:
	snprintf(err, errlen, "cannot %s bridge %s (gateway %s): %s", step, name, gw, strerror(-r));
	ipam_slice_free(&b->pool);
	return r;
}

void dp_bridge_destroy(struct engine *e, struct dp_bridge *b)
{
	char err[256];
	struct nl_handle *nl;
	if (b->name[0] && dp_nl(e, &nl, err, sizeof(err)) == 0) {
		int r = nl_link_delete(nl, b->name);
		if (r < 0)
			log_warn("cannot delete bridge %s: %s", b->name, strerror(-r));
	}
	dp_forwarding_forget(e, b->name);
	ipam_slice_free(&b->pool);
	memset(b, 0, sizeof(*b));
}

static bool v6_fwd_has(struct dp *dp, const char *dev)
{
	for (size_t i = 0; i < dp->n_v6_fwd; i++)
		if (strcmp(dp->v6_fwd[i], dev) == 0)
			return true;
	return false;
}

void dp_forwarding_enable(struct engine *e, const struct ip_addr *family_of, const char *dev)
{
	struct dp *dp = e->dp;
	/*
	 * IPv4 has no per-device forwarding knob that routes, so ip_forward is
	 * global; its value from before we ever touched it is kept to restore.
	 */
	/* Once set (and its old value recorded) it stays set: no write per attach. */
	if (!dp->ip_forward.saved) {
		int r = sysctl_set_saved(&dp->ip_forward, "net.ipv4.ip_forward", NULL, NULL, "1");
		if (r < 0)
			log_warn("cannot enable net.ipv4.ip_forward: %s; containers cannot reach other nodes",
				 strerror(-r));
		if (dp->ip_forward.saved)
			dp_commit(e); /* the old value is recorded: not a journal record */
	}
	/*
	 * IPv6: only on our own devices. conf.all.forwarding=1 would switch off
	 * accept_ra on every interface and drop the host's RA default route.
	 * Per-device "forwarding" alone does not route (the kernel checks
	 * conf.all); since Linux 6.17 "force_forwarding" makes a device forward
	 * on its own. On older kernels IPv6 overlay routing needs the operator
	 * to enable conf.all.forwarding, which we never do.
	 */
	if (family_of->family != AF_INET6 || v6_fwd_has(dp, dev))
		return;
	int r = sysctl_write("net.ipv6.conf", dev, "forwarding", "1");
	if (r < 0) {
		log_warn("cannot enable IPv6 forwarding on %s: %s", dev, strerror(-r));
		return;
	}
	r = sysctl_write("net.ipv6.conf", dev, "force_forwarding", "1");
	if (r == -ENOENT && !dp->v6_force_warned) {
		dp->v6_force_warned = true;
		log_warn("this kernel has no net.ipv6.conf.<dev>.force_forwarding (Linux < 6.17): IPv6 overlay "
			 "traffic is routed only if net.ipv6.conf.all.forwarding=1, which overlayd never sets "
			 "(it would drop the host's RA-learned routes)");
	}
	void *n = realloc(dp->v6_fwd, (dp->n_v6_fwd + 1) * sizeof(*dp->v6_fwd));
	if (!n)
		return;
	dp->v6_fwd = n;
	snprintf(dp->v6_fwd[dp->n_v6_fwd++], IFNAMSIZ, "%s", dev);
	dp_commit_v6_forwarding(e, dev, true);
}

void dp_forwarding_forget(struct engine *e, const char *dev)
{
	struct dp *dp = e->dp;
	for (size_t i = 0; i < dp->n_v6_fwd; i++) {
		if (strcmp(dp->v6_fwd[i], dev) == 0) {
			memmove(&dp->v6_fwd[i], &dp->v6_fwd[i + 1], (dp->n_v6_fwd - i - 1) * sizeof(*dp->v6_fwd));
			dp->n_v6_fwd--;
			dp_commit_v6_forwarding(e, dev, false);
			return;
		}
	}
}

void dp_forwarding_revert(struct engine *e)
{
	struct dp *dp = e->dp;
	int r = sysctl_restore(&dp->ip_forward);
	if (r < 0)
		log_warn("cannot restore net.ipv4.ip_forward: %s", strerror(-r));
	for (size_t i = 0; i < dp->n_v6_fwd; i++) {
		/* A device that is gone took its settings along: errors are fine here. */
		sysctl_write("net.ipv6.conf", dp->v6_fwd[i], "force_forwarding", "0");
		sysctl_write("net.ipv6.conf", dp->v6_fwd[i], "forwarding", "0");
	}
	dp->n_v6_fwd = 0;
}

/* The isolation network of fenced member i: attachments first, then guests (NULL = none). */
static const char *member_network(const struct dp *dp, size_t i, struct ip_addr *ip)
{
	if (i < dp->n_attaches) {
		*ip = dp->attaches[i].ip;
		return dp->attaches[i].isolation;
	}
	*ip = dp->guests[i - dp->n_attaches].ip;
	return dp->guests[i - dp->n_attaches].isolation;
}

/* Every isolation network with its members (containers, guests, host_shared), for a full fw_apply(). */
static int collect_networks(struct dp *dp, struct fw_network **out, size_t *n, struct ip_addr **mem)
{
	size_t total = dp->n_attaches + dp->n_guests;
	struct fw_network *nets = calloc(total + 1, sizeof(*nets));
	struct ip_addr *members = calloc(total + 1, sizeof(*members));
	size_t nn = 0, nm = 0;
	struct ip_addr ip;
	if (!nets || !members) {
		free(nets);
		free(members);
		return -ENOMEM;
	}
	/* Group members by network: for each network not seen yet, gather its members contiguously. */
	for (size_t i = 0; i < total; i++) {
		const char *net = member_network(dp, i, &ip);
		if (!net)
			continue;
		bool seen = false;
		for (size_t j = 0; j < nn; j++)
			seen = seen || strcmp(nets[j].name, net) == 0;
		if (seen)
			continue;
		nets[nn].name = net;
		nets[nn].members = &members[nm];
		for (size_t k = i; k < total; k++) {
			const char *other = member_network(dp, k, &ip);
			if (other && strcmp(other, net) == 0) {
				members[nm++] = ip;
				nets[nn].n_members++;
			}
		}
		nn++;
	}
	*out = nets;
	*n = nn;
	*mem = members;
	return 0;
}

bool dp_fence_failed(struct engine *e, const char *what, const char *id,
		     void (*detach)(struct engine *, const char *, struct ovl_response *), struct ovl_response *resp)
{
	if (dp_firewall_sync(e) == 0)
		return false;
	struct ovl_response undo = { 0 };
	detach(e, id, &undo); /* unfenced must not stay attached */
	ovl_response_free(&undo);
	ovl_response_err(resp, "attach_container: %s %s: cannot install the isolation rules for its network", what,
			 id);
	return true;
}

void dp_guest_record(struct engine *e, const struct state_dp_guest *g)
{
	struct dp *dp = e->dp;
	bool masqueraded = dp_masquerade_wanted(dp);
	dp->guests[dp->n_guests++] = *g;
	dp_attachments_changed(dp);
	/* The node's first workload brings the masquerade chain; a fenced one's caller syncs (dp_fence_failed). */
	if (!masqueraded && !g->isolation)
		dp_firewall_sync(e);
	dp_commit(e);
}

void dp_guest_forget(struct engine *e, struct state_dp_guest *g)
{
	struct dp *dp = e->dp;
	bool fenced = g->isolation != NULL;
	state_dp_guest_free(g);
	size_t i = (size_t)(g - dp->guests);
	memmove(g, g + 1, (dp->n_guests - i - 1) * sizeof(*g));
	dp->n_guests--;
	dp_attachments_changed(dp);
	/* Drains the member from its network; the last workload takes the masquerade chain along. */
	if (fenced || !dp_masquerade_wanted(dp))
		dp_firewall_sync(e);
	dp_commit(e);
}

bool dp_masquerade_wanted(const struct dp *dp)
{
	return dp->has_shared || dp->n_services > 0 || dp->n_guests > 0;
}

int dp_firewall_sync(struct engine *e)
{
	struct dp *dp = e->dp;
	if (!dp->fw) {
		/* The table name carries the data dir's identity: deployment and instance. */
		char inst[FW_INSTANCE_MAX + 1];
		size_t k = 0;
		const char *parts[2] = { e->st.global.deployment, e->st.global.instance_id };
		for (int p = 0; p < 2; p++) {
			for (const char *c = parts[p]; c && *c && k < FW_INSTANCE_MAX; c++)
				inst[k++] = (char)((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
							   (*c >= '0' && *c <= '9')
						   ? *c
						   : '_');
			if (p == 0 && k < FW_INSTANCE_MAX)
				inst[k++] = '_';
		}
		inst[k] = '\0';
		int r = fw_open(inst, &dp->fw);
		if (r < 0) {
			log_warn("nftables unavailable (%s): running without overlay allow, masquerade and "
				 "isolation rules",
				 strerror(-r));
			dp->fw = NULL;
			return 0;
		}
		snprintf(dp->fw_instance, sizeof(dp->fw_instance), "%s", inst);
	}
	/* Bridge gateways are node addresses too: isolated members must reach their gateway. */
	struct ip_addr *all_nodes = calloc(dp->n_services + 2, sizeof(*all_nodes));
	if (!all_nodes) {
		log_error("firewall: out of memory");
		return -ENOMEM;
	}
	size_t na = 0;
	all_nodes[na++] = dp->node_ip;
	if (dp->has_shared)
		all_nodes[na++] = dp->shared.gateway;
	for (size_t i = 0; i < dp->n_services; i++)
		if (!dp->services[i].on_shared)
			all_nodes[na++] = dp->services[i].bridge.gateway;
	struct fw_network *nets = NULL;
	struct ip_addr *members = NULL;
	size_t nn = 0;
	if (collect_networks(dp, &nets, &nn, &members) < 0) {
		free(all_nodes);
		log_error("firewall: out of memory");
		return -ENOMEM;
	}
	static const char *const overlay_ifaces[] = { "zl-*", "veth-*" };
	struct fw_config cfg = {
		.cluster = &e->st.global.cluster_cidr,
		.n_cluster = 1,
		.node_ips = all_nodes,
		.n_node_ips = na,
		.overlay_ifaces = overlay_ifaces,
		.n_overlay_ifaces = 2,
		.masquerade = dp_masquerade_wanted(dp),
		.networks = nets,
		.n_networks = nn,
	};
	int r = fw_apply(dp->fw, &cfg);
	if (r < 0)
		log_error("firewall: cannot apply table %s: %s (%s)", fw_table_name(dp->fw), strerror(-r),
			  fw_error(dp->fw));
	else if (!dp->fw_applied) {
		dp->fw_applied = true;
		dp_commit(e); /* the table is recorded: not a journal record */
		log_info("firewall: table %s installed", fw_table_name(dp->fw));
	}
	/* Said once per change: the host's own forward chains that now accept the cluster. */
	if (r == 0 && fw_host_chains(dp->fw) != dp->fw_host_chains) {
		dp->fw_host_chains = fw_host_chains(dp->fw);
		log_info("firewall: accept rules for the cluster in %d forward chain(s) of the host's own firewall",
			 dp->fw_host_chains);
	}
	free(nets);
	free(members);
	free(all_nodes);
	return r;
}

void dp_check_subnet_collision(struct engine *e, const struct ip_prefix *subnet, const char *what)
{
	char s[IP_PREFIX_STRLEN], a[IP_PREFIX_STRLEN], k[WG_KEY_B64_LEN + 1];
	for (size_t i = 0; i < e->st.n_peers; i++) {
		const struct ovl_peer_spec *p = &e->st.peers[i];
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			/* A peer's whole-cluster route (a guest's catch-all) is not a collision. */
			if (p->allowed_ips[j].len <= e->st.global.cluster_cidr.len)
				continue;
			if (!ip_prefix_overlaps(subnet, &p->allowed_ips[j]))
				continue;
			key_to_base64(p->public_key, k);
			log_error("SUBNET COLLISION: %s %s overlaps %s, an allowed IP of peer %s. Each node carves "
				  "service subnets from the cluster CIDR on its own, so two nodes picked overlapping "
				  "ranges; traffic for the overlap goes to one of them only. Tear the service down "
				  "on one node (or give the nodes distinct node ids) to move it.",
				  what, ip_prefix_format(subnet, s, sizeof(s)),
				  ip_prefix_format(&p->allowed_ips[j], a, sizeof(a)), k);
		}
	}
}
