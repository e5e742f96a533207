// SPDX-License-Identifier: MIT
#include "wg/allowedips.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static inline unsigned bit_at(const uint8_t *bits, unsigned i)
{
	return (bits[i / 8] >> (7 - i % 8)) & 1;
}

/* Number of leading bits a and b share, at most max. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned max)
{
	unsigned n = 0;
	for (unsigned byte = 0; n < max; byte++) {
		uint8_t x = a[byte] ^ b[byte];
		if (x) {
			n += (unsigned)__builtin_clz(x) - 24;
			break;
		}
		n += 8;
	}
	return n < max ? n : max;
}

static inline bool node_covers(const struct wg_aip_node *n, const uint8_t *bits)
{
	return common_bits(n->bits, bits, n->cidr) == n->cidr;
}

static void set_owner(struct wg_aip_node *n, struct wg_aip_owner *owner)
{
	if (n->owner == owner)
		return;
	if (n->owner) {
		TAILQ_REMOVE(&n->owner->nodes, n, owner_link);
		n->owner->count--;
	}
	n->owner = owner;
	if (owner) {
		TAILQ_INSERT_TAIL(&owner->nodes, n, owner_link);
		owner->count++;
	}
}

static struct wg_aip_node **root_of(struct wg_allowedips *t, sa_family_t family)
{
	return family == AF_INET6 ? &t->root6 : &t->root4;
}

void wg_allowedips_init(struct wg_allowedips *t)
{
	t->root4 = t->root6 = NULL;
}

void wg_aip_owner_init(struct wg_aip_owner *o)
{
	TAILQ_INIT(&o->nodes);
	o->count = 0;
}

static void free_subtree(struct wg_aip_node *n)
{
	/* Iterative: a deep trie must not exhaust the stack. */
	while (n) {
		if (n->child[0]) {
			struct wg_aip_node *c = n->child[0];
			n->child[0] = c->child[1];
			c->child[1] = n;
			n = c;
			continue;
		}
		struct wg_aip_node *next = n->child[1];
		set_owner(n, NULL);
		free(n);
		n = next;
	}
}

void wg_allowedips_free(struct wg_allowedips *t)
{
	free_subtree(t->root4);
	free_subtree(t->root6);
	wg_allowedips_init(t);
}

static struct wg_aip_node *node_new(const uint8_t *bits, unsigned cidr, sa_family_t family)
{
	struct wg_aip_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	memcpy(n->bits, bits, 16);
	n->cidr = (uint8_t)cidr;
	n->family = family;
	return n;
}

/* Clear the bits past cidr. */
static void mask_bits(uint8_t bits[16], unsigned cidr)
{
	for (unsigned i = cidr; i < 128; i++)
		bits[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

int wg_allowedips_insert(struct wg_allowedips *t, const struct ip_prefix *p,
			 struct wg_aip_owner *owner)
{
	struct wg_aip_node **slot, *cur, *fresh, *branch;
	uint8_t bits[16] = { 0 };
	unsigned cidr = p->len, common;

	if ((p->addr.family != AF_INET && p->addr.family != AF_INET6) ||
	    cidr > ip_addr_bits(&p->addr) || !owner)
		return -EINVAL;
	memcpy(bits, p->addr.bytes, p->addr.family == AF_INET6 ? 16 : 4);
	mask_bits(bits, cidr);

	/* Descend while the current node is a strict ancestor of the prefix. */
	slot = root_of(t, p->addr.family);
	while ((cur = *slot) && cur->cidr <= cidr && node_covers(cur, bits)) {
		if (cur->cidr == cidr) {
			set_owner(cur, owner);
			return 0;
		}
		slot = &cur->child[bit_at(bits, cur->cidr)];
	}
	fresh = node_new(bits, cidr, p->addr.family);
	if (!fresh)
		return -ENOMEM;
	if (!cur) {
		*slot = fresh;
	} else {
		common = common_bits(cur->bits, bits, cidr < cur->cidr ? cidr : cur->cidr);
		if (common == cidr) {
			/* The new prefix contains cur: it slots in above it. */
			fresh->child[bit_at(cur->bits, cidr)] = cur;
			*slot = fresh;
		} else {
			/* They diverge at bit `common`: join them under a branch node. */
			branch = node_new(bits, common, p->addr.family);
			if (!branch) {
				free(fresh);
				return -ENOMEM;
			}
			mask_bits(branch->bits, common);
			branch->child[bit_at(bits, common)] = fresh;
			branch->child[bit_at(cur->bits, common)] = cur;
			*slot = branch;
		}
	}
	set_owner(fresh, owner);
	return 0;
}

/* After slot's node lost its owner: drop it if it no longer branches. */
static void compact(struct wg_aip_node **slot)
{
	struct wg_aip_node *n = *slot;
	if (!n || n->owner || (n->child[0] && n->child[1]))
		return;
	*slot = n->child[0] ? n->child[0] : n->child[1];
	free(n);
}

static int remove_at(struct wg_aip_node **slot, const uint8_t *bits, unsigned cidr,
		     struct wg_aip_owner *owner)
{
	struct wg_aip_node *n = *slot;
	int ret;
	if (!n || n->cidr > cidr || !node_covers(n, bits))
		return -ENOENT;
	if (n->cidr == cidr) {
		if (n->owner != owner)
			return -ENOENT;
		set_owner(n, NULL);
		compact(slot);
		return 0;
	}
	ret = remove_at(&n->child[bit_at(bits, n->cidr)], bits, cidr, owner);
	if (!ret)
		compact(slot);
	return ret;
}

int wg_allowedips_remove(struct wg_allowedips *t, const struct ip_prefix *p,
			 struct wg_aip_owner *owner)
{
	uint8_t bits[16] = { 0 };
	if ((p->addr.family != AF_INET && p->addr.family != AF_INET6) ||
	    p->len > ip_addr_bits(&p->addr))
		return -EINVAL;
	memcpy(bits, p->addr.bytes, p->addr.family == AF_INET6 ? 16 : 4);
	mask_bits(bits, p->len);
	return remove_at(root_of(t, p->addr.family), bits, p->len, owner);
}

void wg_allowedips_remove_owner(struct wg_allowedips *t, struct wg_aip_owner *owner)
{
	struct wg_aip_node *n;
	struct ip_prefix p;
	/* Each removal is one root-to-node descent, so this is O(k * depth). */
	while ((n = TAILQ_FIRST(&owner->nodes))) {
		wg_aip_node_prefix(n, &p);
		if (wg_allowedips_remove(t, &p, owner)) {
			/* Unreachable unless the trie is corrupt; never loop forever. */
			set_owner(n, NULL);
		}
	}
}

struct wg_aip_owner *wg_allowedips_lookup_raw(const struct wg_allowedips *t, sa_family_t family,
					      const uint8_t *addr)
{
	const struct wg_aip_node *n = family == AF_INET6 ? t->root6 : t->root4;
	unsigned maxbits = family == AF_INET6 ? 128 : 32;
	uint8_t bits[16] = { 0 };
	struct wg_aip_owner *best = NULL;

	memcpy(bits, addr, family == AF_INET6 ? 16 : 4);
	while (n && node_covers(n, bits)) {
		if (n->owner)
			best = n->owner;
		if (n->cidr >= maxbits)
			break;
		n = n->child[bit_at(bits, n->cidr)];
	}
	return best;
}

struct wg_aip_owner *wg_allowedips_lookup(const struct wg_allowedips *t, const struct ip_addr *a)
{
	if (a->family != AF_INET && a->family != AF_INET6)
		return NULL;
	return wg_allowedips_lookup_raw(t, a->family, a->bytes);
}

void wg_aip_node_prefix(const struct wg_aip_node *n, struct ip_prefix *out)
{
	memset(out, 0, sizeof(*out));
	out->addr.family = n->family;
	memcpy(out->addr.bytes, n->bits, n->family == AF_INET6 ? 16 : 4);
	out->len = n->cidr;
}
