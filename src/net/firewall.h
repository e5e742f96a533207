/* SPDX-License-Identifier: MIT */
/*
 * The daemon's nftables rules: one table per family, owned by this daemon
 * instance ("inet overlayd_<id>" and "bridge overlayd_<id>"), replaced as a
 * whole from a complete description in one nft transaction, deleted whole at
 * teardown. Nothing outside those tables is ever touched.
 *
 * What the tables do:
 *  - allow: traffic from or to the cluster CIDRs is accepted in forward and
 *    input. An accept here ends only this table's chain; it cannot overrule
 *    a drop in another table, e.g. a foreign iptables FORWARD DROP policy:
 *    so the same accepts are also inserted into the host's own forward
 *    chains (hostfw.h; Docker's DOCKER-USER where present; the legacy
 *    iptables filter table too: hostfw_legacy.h), or given to
 *    firewalld as its trusted zone's sources when it runs (firewalld.h),
 *    and removed with the tables.
 *  - masquerade: packets from a cluster address to a non-cluster address,
 *    leaving through an interface that is not an overlay interface, are
 *    source-NATed to the outgoing interface's address (egress). Without
 *    masquerade the table has no nat chain at all: an empty one would still
 *    turn connection tracking on for the whole namespace.
 *  - isolation: a member of isolation network N may exchange packets with
 *    members of N, with the node addresses and with non-cluster addresses;
 *    packets between a member and any other cluster address are dropped, in
 *    both directions. Addresses in no network are not affected. The same rules
 *    run in the inet forward and input hooks (routed traffic, traffic to the
 *    node) and in the bridge forward hook, which sees traffic between two
 *    ports of one Linux bridge that never reaches the IP layer.
 *  Membership lives in named sets (one per network and family); a change of
 *  membership is a new fw_apply() of the whole description.
 *
 * Errors are negative errnos; fw_error() has nft's message for the log.
 * A handle works in the namespace it was opened in and is not thread-safe.
 */
#ifndef OVL_NET_FIREWALL_H
#define OVL_NET_FIREWALL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/inet.h"

struct fw;

struct fw_network {
	const char *name; /* the engine's name; shown as the sets' comment */
	const struct ip_addr *members;
	size_t n_members;
};

struct fw_config {
	/* Cluster (overlay) CIDRs, IPv4 and/or IPv6. */
	const struct ip_prefix *cluster;
	size_t n_cluster;
	/*
	 * Addresses of this node that every isolated member may reach and be
	 * reached from: the node's overlay address, the bridge gateways, the DNS
	 * listener.
	 */
	const struct ip_addr *node_ips;
	size_t n_node_ips;
	/* Interface name patterns traffic is not masqueraded out of ("zl-*"). */
	const char *const *overlay_ifaces;
	size_t n_overlay_ifaces;
	bool masquerade;
	const struct fw_network *networks;
	size_t n_networks;
};

/* Longest instance id fw_open() accepts. */
#define FW_INSTANCE_MAX 24

/*
 * Prepares the tables "overlayd_<instance>" (instance: 1..FW_INSTANCE_MAX
 * characters of [A-Za-z0-9_]) in the calling thread's network namespace;
 * changes nothing yet. -EINVAL for a bad instance; -EPROTONOSUPPORT (or
 * another errno of socket(AF_NETLINK, ..., NETLINK_NETFILTER)) when the kernel
 * has no nftables: the caller logs it as a warning and runs without rules.
 */
int fw_open(const char *instance, struct fw **out);
void fw_close(struct fw *fw);
const char *fw_table_name(const struct fw *fw);
/* nft's message for the last failure of fw_apply/fw_remove. */
const char *fw_error(const struct fw *fw);

/* How many host forward chains the last fw_apply() gave accept rules. */
int fw_host_chains(const struct fw *fw);

/*
 * Replaces the tables' whole contents with cfg, atomically: after an error
 * the previous rules are still in place, unchanged. -EINVAL for a bad cfg
 * (an interface pattern that is not a name, a member of two networks...),
 * -EIO when nft rejects the transaction (see fw_error()).
 */
int fw_apply(struct fw *fw, const struct fw_config *cfg);

/*
 * Deletes both tables, and our rules in the host's forward chains, atomically;
 * tables that are not there count as deleted. Also withdraws firewalld's
 * trust in the cluster prefixes of this handle's last fw_apply().
 */
int fw_remove(struct fw *fw);

/*
 * The nft script fw_apply() runs for cfg on the tables named table (pure;
 * exposed for tests). *script is malloc'd; the caller frees it.
 */
int fw_render(const char *table, const struct fw_config *cfg, char **script);

#endif
