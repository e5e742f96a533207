// SPDX-License-Identifier: MIT
#include "cluster/claim.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam/fnv.h"
#include "ipam/subnets.h"

/* Rounds of "list, pick a free slot, try it" before giving up on a busy store. */
#define CLAIM_ROUNDS 32

unsigned cluster_slot_len(const struct ip_prefix *cluster)
{
	return cluster->addr.family == AF_INET6 ? IPAM_SUBNET_LEN_V6 : IPAM_SUBNET_LEN_V4;
}

static void slot_key(const struct cluster_claim_ctx *c, const struct ip_prefix *slot, char *buf, size_t len)
{
	char a[IP_ADDR_STRLEN];
	snprintf(buf, len, "%s/claims/%s_%u", c->prefix, ip_addr_format(&slot->addr, a, sizeof(a)), slot->len);
}

/* The claim's value; byte-for-byte stable so a release can compare it. */
static char *claim_value(const struct cluster_claim_ctx *c, const char *purpose, const struct ip_prefix *p)
{
	char cidr[IP_PREFIX_STRLEN];
	json_t *j = json_pack("{s:s, s:s, s:s}", "cidr", ip_prefix_format(p, cidr, sizeof(cidr)), "for", purpose, "node",
			      c->node_id);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return s;
}

struct held {
	char node[64];
	char purpose[300];
	struct ip_prefix cidr;
};

static bool parse_claim(const char *value, struct held *h)
{
	json_t *j = json_loads(value, 0, NULL);
	const char *node = json_string_value(json_object_get(j, "node"));
	const char *purpose = json_string_value(json_object_get(j, "for"));
	const char *cidr = json_string_value(json_object_get(j, "cidr"));
	bool ok = node && purpose && cidr && ip_prefix_parse(cidr, &h->cidr) == 0;
	if (ok) {
		snprintf(h->node, sizeof(h->node), "%s", node);
		snprintf(h->purpose, sizeof(h->purpose), "%s", purpose);
	}
	json_decref(j);
	return ok;
}

/* The slots of p (p's length is at most the slot length). */
static size_t slots_of(const struct ip_prefix *p, unsigned slot_len, struct ip_prefix *out, size_t max)
{
	unsigned bits = ip_addr_bits(&p->addr);
	size_t n = (size_t)1 << (slot_len - p->len);
	if (n > max)
		return 0;
	struct ip_prefix net = ip_prefix_network(p);
	for (size_t i = 0; i < n; i++) {
		out[i].len = (uint8_t)slot_len;
		ip_addr_add(&net.addr, (unsigned __int128)i << (bits - slot_len), &out[i].addr);
	}
	return n;
}

/* Creates every slot key of p in one transaction. */
static int try_create(const struct cluster_claim_ctx *c, const char *purpose, const struct ip_prefix *p, bool *created)
{
	struct ip_prefix slots[CLUSTER_CLAIM_MAX_SLOTS];
	size_t n = slots_of(p, cluster_slot_len(&c->cluster), slots, CLUSTER_CLAIM_MAX_SLOTS);
	char keybuf[CLUSTER_CLAIM_MAX_SLOTS][400];
	const char *keys[CLUSTER_CLAIM_MAX_SLOTS];
	for (size_t i = 0; i < n; i++) {
		slot_key(c, &slots[i], keybuf[i], sizeof(keybuf[i]));
		keys[i] = keybuf[i];
	}
	char *value = claim_value(c, purpose, p);
	if (!value)
		return -ENOMEM;
	int r = c->store->ops->create(c->store, keys, n, value, 0, created);
	free(value);
	return r;
}

static int list_claims(const struct cluster_claim_ctx *c, struct store_kvs *kvs)
{
	char pfx[300];
	snprintf(pfx, sizeof(pfx), "%s/claims/", c->prefix);
	return c->store->ops->get_prefix(c->store, pfx, kvs);
}

/* This node's claim for purpose in the listing, or the holder of any slot overlapping want. */
static bool find_own(const struct cluster_claim_ctx *c, const struct store_kvs *kvs, const char *purpose,
		     struct ip_prefix *out)
{
	for (size_t i = 0; i < kvs->n; i++) {
		struct held h;
		if (parse_claim(kvs->items[i].value, &h) && strcmp(h.node, c->node_id) == 0 &&
		    strcmp(h.purpose, purpose) == 0) {
			*out = h.cidr;
			return true;
		}
	}
	return false;
}

static bool slot_taken(const struct store_kvs *kvs, const struct ip_prefix *slot, struct held *who)
{
	for (size_t i = 0; i < kvs->n; i++)
		if (parse_claim(kvs->items[i].value, who) && ip_prefix_overlaps(&who->cidr, slot))
			return true;
	return false;
}

/* A slot's key with a value we cannot read (not ours to judge) still holds the slot. */
static bool key_present(const struct cluster_claim_ctx *c, const struct store_kvs *kvs, const struct ip_prefix *slot)
{
	char key[400];
	slot_key(c, slot, key, sizeof(key));
	for (size_t i = 0; i < kvs->n; i++)
		if (strcmp(kvs->items[i].key, key) == 0)
			return true;
	return false;
}

static int claim_wanted(const struct cluster_claim_ctx *c, const char *purpose, const struct ip_prefix *want,
			struct ip_prefix *out, char *err, size_t errlen)
{
	char w[IP_PREFIX_STRLEN];
	ip_prefix_format(want, w, sizeof(w));
	unsigned slot_len = cluster_slot_len(&c->cluster);
	if (want->addr.family != c->cluster.addr.family || want->len < c->cluster.len ||
	    !ip_prefix_contains(&c->cluster, &want->addr) || want->len > slot_len ||
	    slot_len - want->len > 6) {
		snprintf(err, errlen, "%s must lie inside the cluster CIDR and be a /%u to /%u in cluster mode", w,
			 slot_len - 6, slot_len);
		return -EINVAL;
	}
	struct store_kvs kvs;
	int r = list_claims(c, &kvs);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the claims from the store: %s", strerror(-r));
		return r;
	}
	struct ip_prefix mine;
	bool own = find_own(c, &kvs, purpose, &mine) && ip_prefix_equal(&mine, want);
	bool created = own;
	if (!own && (r = try_create(c, purpose, want, &created)) < 0)
		snprintf(err, errlen, "cannot claim %s in the store: %s", w, strerror(-r));
	if (r == 0 && !created) {
		struct held who = { 0 };
		store_kvs_free(&kvs);
		if (list_claims(c, &kvs) == 0 && slot_taken(&kvs, want, &who))
			snprintf(err, errlen, "%s is held by node %s (%s %s)", w, who.node, who.purpose,
				 ip_prefix_format(&who.cidr, w, sizeof(w)));
		else
			snprintf(err, errlen, "%s is held by another node", w);
		r = -EEXIST;
	}
	store_kvs_free(&kvs);
	if (r == 0)
		*out = ip_prefix_network(want);
	return r;
}

int cluster_claim(const struct cluster_claim_ctx *c, const char *purpose, const struct ip_prefix *want,
		  struct ip_prefix *out, char *err, size_t errlen)
{
	if (want)
		return claim_wanted(c, purpose, want, out, err, errlen);
	unsigned slot_len = cluster_slot_len(&c->cluster);
	if (c->cluster.len >= slot_len) {
		snprintf(err, errlen, "the cluster CIDR has no room for a /%u", slot_len);
		return -EINVAL;
	}
	unsigned shift = slot_len - c->cluster.len;
	unsigned __int128 nslots = shift >= 127 ? ~(unsigned __int128)0 : (unsigned __int128)1 << shift;
	unsigned bits = ip_addr_bits(&c->cluster.addr);
	/* Start where this node's hash points, so concurrent claimers rarely race for one slot. */
	uint64_t h = fnv1a64_update(FNV1A64_INIT, c->node_id, strlen(c->node_id));
	h = fnv1a64_update(h, purpose, strlen(purpose));
	for (int round = 0; round < CLAIM_ROUNDS; round++) {
		struct store_kvs kvs;
		int r = list_claims(c, &kvs);
		if (r < 0) {
			snprintf(err, errlen, "cannot read the claims from the store: %s", strerror(-r));
			return r;
		}
		if (find_own(c, &kvs, purpose, out)) {
			store_kvs_free(&kvs);
			return 0;
		}
		bool found = false;
		struct ip_prefix slot = { .len = (uint8_t)slot_len };
		unsigned __int128 start = (h + (uint64_t)round) % nslots;
		/* Slot 0 holds the cluster's network address; probing is bounded by the listing's size. */
		for (unsigned __int128 k = 0; k < nslots && k <= kvs.n + 1; k++) {
			unsigned __int128 idx = (start + k) % nslots;
			if (idx == 0)
				continue;
			ip_addr_add(&c->cluster.addr, idx << (bits - slot_len), &slot.addr);
			struct held who;
			if (!slot_taken(&kvs, &slot, &who) && !key_present(c, &kvs, &slot)) {
				found = true;
				break;
			}
		}
		store_kvs_free(&kvs);
		if (!found) {
			snprintf(err, errlen, "no free /%u left in the cluster CIDR", slot_len);
			return -ENOSPC;
		}
		bool created;
		if ((r = try_create(c, purpose, &slot, &created)) < 0) {
			snprintf(err, errlen, "cannot claim a /%u in the store: %s", slot_len, strerror(-r));
			return r;
		}
		if (created) {
			*out = slot;
			return 0;
		}
		/* Another node took it between our listing and our transaction: look again. */
	}
	snprintf(err, errlen, "the store is too busy: no claim succeeded in %d rounds", CLAIM_ROUNDS);
	return -EBUSY;
}

int cluster_claim_release(const struct cluster_claim_ctx *c, const char *purpose, const struct ip_prefix *p)
{
	struct ip_prefix slots[CLUSTER_CLAIM_MAX_SLOTS];
	size_t n = slots_of(p, cluster_slot_len(&c->cluster), slots, CLUSTER_CLAIM_MAX_SLOTS);
	char *value = claim_value(c, purpose, p);
	if (!value)
		return -ENOMEM;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		char key[400];
		slot_key(c, &slots[i], key, sizeof(key));
		r = c->store->ops->del_if(c->store, key, value);
	}
	free(value);
	return r;
}
