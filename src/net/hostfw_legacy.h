/* SPDX-License-Identifier: MIT */
/*
 * The accept rules of hostfw.h for the legacy (x_tables) iptables, which
 * nftables cannot see: a host whose iptables is iptables-legacy (Ubuntu
 * 20.04's UFW and Docker, older distributions) drops forwarded packets in
 * the legacy filter table's FORWARD chain, whatever any nft table accepts.
 *
 * The legacy filter table of each family is changed only when it exists
 * already (/proc/net/ip{,6}_tables_names): overlayd never creates one. The
 * rules go into DOCKER-USER when the table has that chain, else first into
 * FORWARD, an accept for each cluster prefix as source and as destination,
 * each with the comment <tag>. As with nft, the comment is the record:
 * removal deletes exactly the rules carrying it.
 *
 * The tables are read and written with the iptables-legacy-save and
 * iptables-legacy-restore tools (ip6tables-legacy-* for IPv6): a legacy
 * table is only ever replaced whole, and those tools take the xtables lock
 * that the host's other writers (Docker, UFW) also take, so a concurrent
 * change is waited for rather than overwritten. One restore applies the
 * deletions and insertions of a family atomically.
 */
#ifndef OVL_NET_HOSTFW_LEGACY_H
#define OVL_NET_HOSTFW_LEGACY_H

#include <stdio.h>
#include <sys/socket.h>

#include "net/hostfw.h"

/*
 * Writes to f the iptables-restore --noflush input that replaces our rules
 * in the legacy filter table listed by save (iptables-save -t filter output)
 * for family af: a -D of each rule tagged opts->tag, then the inserts for
 * opts->cluster's prefixes of af. Writes nothing when there is nothing to
 * do. Pure. Returns the number of chains given rules (0 or 1), or -EINVAL
 * for a listing that is not iptables-save output.
 */
int hostfw_legacy_render(const char *save, sa_family_t af, const struct hostfw_opts *opts, FILE *f);

/*
 * Replaces our rules in the legacy filter tables that exist in this network
 * namespace (opts->n_cluster 0: removes them). Returns the number of chains
 * given rules; a failure is logged with the tool's message and counts none.
 */
int hostfw_legacy_apply(const struct hostfw_opts *opts);

#endif
