/* SPDX-License-Identifier: MIT */
/*
 * Cryptokey routing table: a path-compressed binary trie per address family
 * mapping prefixes to their owning peer, with longest-prefix-match lookup
 * (which peer receives an outgoing packet; whether an incoming packet's
 * source belongs to the peer that sent it). Each owner also keeps a list of
 * its own prefixes so listing and removing by peer do not walk the trie.
 * Not locked: the device serialises writers against readers.
 */
#ifndef OVL_WG_ALLOWEDIPS_H
#define OVL_WG_ALLOWEDIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "util/inet.h"

struct wg_aip_node;

/* Embedded in whatever owns prefixes (a peer). */
struct wg_aip_owner {
	TAILQ_HEAD(, wg_aip_node) nodes; /* in insertion order, as wg show lists them */
	size_t count;
};

struct wg_aip_node {
	struct wg_aip_node *child[2];
	struct wg_aip_owner *owner; /* NULL for a pure branching node */
	TAILQ_ENTRY(wg_aip_node) owner_link;
	uint8_t bits[16]; /* the prefix, host bits cleared */
	uint8_t cidr;
	sa_family_t family;
};

struct wg_allowedips {
	struct wg_aip_node *root4, *root6;
};

void wg_allowedips_init(struct wg_allowedips *t);
void wg_allowedips_free(struct wg_allowedips *t);
void wg_aip_owner_init(struct wg_aip_owner *o);

/* Map prefix to owner, taking it from any previous owner. 0 or -ENOMEM/-EINVAL. */
int wg_allowedips_insert(struct wg_allowedips *t, const struct ip_prefix *p,
			 struct wg_aip_owner *owner);
/* Remove prefix if owner owns it: 0, or -ENOENT. */
int wg_allowedips_remove(struct wg_allowedips *t, const struct ip_prefix *p,
			 struct wg_aip_owner *owner);
/* Remove every prefix of owner. */
void wg_allowedips_remove_owner(struct wg_allowedips *t, struct wg_aip_owner *owner);
/* Longest-prefix match; NULL when nothing covers addr. */
struct wg_aip_owner *wg_allowedips_lookup(const struct wg_allowedips *t, const struct ip_addr *a);
/* Same, straight from packet bytes (4 or 16 of them). */
struct wg_aip_owner *wg_allowedips_lookup_raw(const struct wg_allowedips *t, sa_family_t family,
					      const uint8_t *addr);
/* The prefix a node holds. */
void wg_aip_node_prefix(const struct wg_aip_node *n, struct ip_prefix *out);

#define wg_aip_owner_foreach(node, o) TAILQ_FOREACH(node, &(o)->nodes, owner_link)

#endif
