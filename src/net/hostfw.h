/* SPDX-License-Identifier: MIT */
/*
 * Accept rules for the cluster's traffic in the host's own ("foreign")
 * nftables forward chains: an iptables(-nft) filter FORWARD chain whose policy
 * drops (Docker, UFW, a hardened host), Docker's DOCKER-USER chain, or an nft
 * table of the administrator's with a forward hook. A drop in any table is
 * final, so the accept rules of our own table cannot overrule these; Flannel
 * and Calico insert rules like these for the same reason.
 *
 * Every rule carries the comment <tag> (our table's name), which is its
 * record: removal deletes exactly the rules with that comment, by handle,
 * and never deletes or flushes a table or chain. The rules are kept by the
 * kernel, so they survive a restart of the daemon and are found again by
 * their tag.
 */
#ifndef OVL_NET_HOSTFW_H
#define OVL_NET_HOSTFW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/inet.h"

/* Docker's chain for the administrator's rules, evaluated before its own. */
#define HOSTFW_DOCKER_USER "DOCKER-USER"

struct hostfw_opts {
	const char *tag;		/* the rules' comment: [A-Za-z0-9_]+ */
	const struct ip_prefix *cluster; /* accepted as source or destination */
	size_t n_cluster;		/* 0: only remove */
	bool skip_firewalld;		/* firewalld runs: its table is its business */
};

/*
 * Writes to f the nft commands that replace our rules in the foreign chains
 * of the ruleset (nft's JSON listing, with handles): a delete of each rule
 * tagged opts->tag, then, for each filter base chain on the forward hook of
 * an ip, ip6 or inet table not named prefix*, an "insert" (first in the
 * chain) of an accept for the cluster prefixes as source and as destination.
 * In an iptables-nft table with a DOCKER-USER chain the rules go there
 * instead. Pure. Returns the number of chains given rules, or -EINVAL for a
 * listing that is not nft JSON.
 */
int hostfw_render(const char *ruleset_json, const char *own_prefix, const struct hostfw_opts *opts,
		  FILE *f);

/* The current ruleset as nft JSON with handles (malloc'd), or NULL with errno set. */
char *hostfw_list_ruleset(void);

#endif
