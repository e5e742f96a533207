// SPDX-License-Identifier: MIT
#include "dns/store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A chained hash keyed by wire-form name; the three tables below embed
 * struct name_node as their first member. */
struct name_node {
	struct name_node *next;
	uint32_t hash;
	struct dns_name name;
};

struct name_table {
	struct name_node **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
};

struct dns_rec {
	struct name_node node;
	struct ip_addr addr;
	uint8_t rel_len; /* bytes of the relative part; 0 = registered absolute */
	uint64_t seq;	 /* registration order, for the PTR of shared addresses */
};

struct ent_node {
	struct name_node node;
	unsigned refs; /* registered names below this one */
};

struct ptr_node {
	struct name_node node;
	struct dns_rec *rec;
};

struct dns_store {
	pthread_rwlock_t lock;
	struct dns_name zone;
	uint32_t serial;
	uint64_t seq;
	struct name_table recs, ents, ptrs;
};

static int table_init(struct name_table *t)
{
	t->nbuckets = 64;
	t->count = 0;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -ENOMEM;
}

static struct name_node *table_find(const struct name_table *t, const struct dns_name *n)
{
	uint32_t h = dns_name_hash(n);
	for (struct name_node *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && dns_name_equal(&e->name, n))
			return e;
	return NULL;
}

static void table_insert(struct name_table *t, struct name_node *e)
{
	if (t->count >= t->nbuckets) {
		/* Grow; on allocation failure keep the longer chains. */
		size_t nb = t->nbuckets * 2;
		struct name_node **b = calloc(nb, sizeof(*b));
		if (b) {
			for (size_t i = 0; i < t->nbuckets; i++) {
				for (struct name_node *x = t->buckets[i], *next; x; x = next) {
					next = x->next;
					x->next = b[x->hash & (nb - 1)];
					b[x->hash & (nb - 1)] = x;
				}
			}
			free(t->buckets);
			t->buckets = b;
			t->nbuckets = nb;
		}
	}
	e->hash = dns_name_hash(&e->name);
	struct name_node **head = &t->buckets[e->hash & (t->nbuckets - 1)];
	e->next = *head;
	*head = e;
	t->count++;
}

static void table_unlink(struct name_table *t, struct name_node *e)
{
	for (struct name_node **p = &t->buckets[e->hash & (t->nbuckets - 1)]; *p; p = &(*p)->next) {
		if (*p == e) {
			*p = e->next;
			t->count--;
			return;
		}
	}
}

static void table_free_all(struct name_table *t)
{
	for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
		for (struct name_node *x = t->buckets[i], *next; x; x = next) {
			next = x->next;
			free(x);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
}

/* Drops the references on the first n proper ancestors of name. */
static void ents_del(struct dns_store *st, const struct dns_name *name, unsigned n)
{
	struct dns_name p = *name;
	while (n-- && dns_name_parent(&p, &p)) {
		struct ent_node *e = (struct ent_node *)table_find(&st->ents, &p);
		if (e && --e->refs == 0) {
			table_unlink(&st->ents, &e->node);
			free(e);
		}
	}
}

/* Empty non-terminals: a reference on every proper ancestor of name.
 * All or nothing. */
static int ents_add(struct dns_store *st, const struct dns_name *name)
{
	struct dns_name p = *name;
	unsigned done = 0;
	while (dns_name_parent(&p, &p)) {
		struct ent_node *e = (struct ent_node *)table_find(&st->ents, &p);
		if (!e) {
			e = calloc(1, sizeof(*e));
			if (!e) {
				ents_del(st, name, done);
				return -ENOMEM;
			}
			e->node.name = p;
			table_insert(&st->ents, &e->node);
		}
		e->refs++;
		done++;
	}
	return 0;
}

static int ptr_add(struct dns_store *st, struct dns_rec *r)
{
	struct dns_name rn;
	dns_name_reverse(&r->addr, &rn);
	struct ptr_node *p = (struct ptr_node *)table_find(&st->ptrs, &rn);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->node.name = rn;
		table_insert(&st->ptrs, &p->node);
	}
	p->rec = r; /* the newest holder of an address names it */
	return 0;
}

static void ptr_del(struct dns_store *st, struct dns_rec *r)
{
	struct dns_name rn;
	dns_name_reverse(&r->addr, &rn);
	struct ptr_node *p = (struct ptr_node *)table_find(&st->ptrs, &rn);
	if (!p || p->rec != r)
		return;
	/* Hand the address to the newest other holder, if any (rare: O(n)). */
	struct dns_rec *best = NULL;
	for (size_t i = 0; i < st->recs.nbuckets; i++)
		for (struct name_node *x = st->recs.buckets[i]; x; x = x->next) {
			struct dns_rec *o = (struct dns_rec *)x;
			if (o != r && ip_addr_equal(&o->addr, &r->addr) && (!best || o->seq > best->seq))
				best = o;
		}
	if (best) {
		p->rec = best;
	} else {
		table_unlink(&st->ptrs, &p->node);
		free(p);
	}
}

static void rec_unlink(struct dns_store *st, struct dns_rec *r)
{
	ptr_del(st, r);
	ents_del(st, &r->node.name, UINT_MAX);
	table_unlink(&st->recs, &r->node);
}

/* Inserts r (name and addr filled in), replacing any record of that name. */
static int rec_insert(struct dns_store *st, struct dns_rec *r)
{
	struct dns_rec *old = (struct dns_rec *)table_find(&st->recs, &r->node.name);
	if (old) {
		rec_unlink(st, old);
		free(old);
	}
	r->seq = ++st->seq;
	table_insert(&st->recs, &r->node);
	int err = ents_add(st, &r->node.name);
	if (err) {
		table_unlink(&st->recs, &r->node);
		free(r);
		return err;
	}
	err = ptr_add(st, r);
	if (err) {
		ents_del(st, &r->node.name, UINT_MAX);
		table_unlink(&st->recs, &r->node);
		free(r);
	}
	return err;
}

static int zone_parse(const char *zone, struct dns_name *out)
{
	/* The zone is always absolute, with or without the dot. */
	static const struct dns_name root = { .len = 1 };
	if (!zone)
		return -EINVAL;
	return dns_name_from_text(zone, &root, false, out);
}

struct dns_store *dns_store_new(const char *zone, uint32_t serial)
{
	struct dns_store *st = calloc(1, sizeof(*st));
	if (!st) {
		errno = ENOMEM;
		return NULL;
	}
	if (zone_parse(zone, &st->zone) < 0) {
		free(st);
		errno = EINVAL;
		return NULL;
	}
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	/* Queries never stop arriving; a registration must not starve. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	int err = pthread_rwlock_init(&st->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (err) {
		free(st);
		errno = err;
		return NULL;
	}
	st->serial = serial;
	if (table_init(&st->recs) < 0 || table_init(&st->ents) < 0 || table_init(&st->ptrs) < 0) {
		dns_store_free(st);
		errno = ENOMEM;
		return NULL;
	}
	return st;
}

void dns_store_free(struct dns_store *st)
{
	if (!st)
		return;
	table_free_all(&st->recs);
	table_free_all(&st->ents);
	table_free_all(&st->ptrs);
	pthread_rwlock_destroy(&st->lock);
	free(st);
}

static int name_parse(const struct dns_store *st, const char *name, struct dns_name *out, uint8_t *rel_len)
{
	if (dns_name_from_text(name, &st->zone, false, out) < 0)
		return -EINVAL;
	size_t tlen = strlen(name);
	*rel_len = name[tlen - 1] == '.' ? 0 : (uint8_t)(out->len - st->zone.len);
	return 0;
}

int dns_store_set(struct dns_store *st, const char *name, const struct ip_addr *addr)
{
	if (!addr || (addr->family != AF_INET && addr->family != AF_INET6) || ip_addr_is_unspecified(addr))
		return -EINVAL;
	struct dns_rec *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->addr = *addr;
	pthread_rwlock_wrlock(&st->lock);
	int err = name_parse(st, name, &r->node.name, &r->rel_len);
	if (err) {
		free(r);
	} else {
		err = rec_insert(st, r);
		st->serial++;
	}
	pthread_rwlock_unlock(&st->lock);
	return err;
}

int dns_store_remove(struct dns_store *st, const char *name)
{
	struct dns_name n;
	uint8_t rel;
	pthread_rwlock_wrlock(&st->lock);
	int err = name_parse(st, name, &n, &rel);
	if (!err) {
		struct dns_rec *r = (struct dns_rec *)table_find(&st->recs, &n);
		if (r) {
			rec_unlink(st, r);
			free(r);
			st->serial++;
		} else {
			err = -ENOENT;
		}
	}
	pthread_rwlock_unlock(&st->lock);
	return err;
}

int dns_store_set_zone(struct dns_store *st, const char *zone)
{
	struct dns_name z;
	if (zone_parse(zone, &z) < 0)
		return -EINVAL;
	pthread_rwlock_wrlock(&st->lock);
	int err = 0;
	/* Collect the relative records; fail before changing anything if one
	 * would not fit under the new zone. */
	size_t n = 0;
	struct dns_rec **moved = calloc(st->recs.count + 1, sizeof(*moved));
	if (!moved) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < st->recs.nbuckets; i++)
		for (struct name_node *x = st->recs.buckets[i]; x; x = x->next) {
			struct dns_rec *r = (struct dns_rec *)x;
			if (!r->rel_len)
				continue;
			if (r->rel_len + z.len > DNS_NAME_MAX) {
				err = -EINVAL;
				goto out;
			}
			moved[n++] = r;
		}
	/* Re-insert in registration order so a later registration still wins
	 * if two names now coincide. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (moved[j]->seq < moved[i]->seq) {
				struct dns_rec *t = moved[i];
				moved[i] = moved[j];
				moved[j] = t;
			}
	for (size_t i = 0; i < n; i++)
		rec_unlink(st, moved[i]);
	for (size_t i = 0; i < n; i++) {
		struct dns_rec *r = moved[i];
		memcpy(r->node.name.data + r->rel_len, z.data, z.len);
		r->node.name.len = (uint8_t)(r->rel_len + z.len);
		int e = rec_insert(st, r);
		if (e && !err)
			err = e;
	}
	st->zone = z;
	st->serial++;
out:
	free(moved);
	pthread_rwlock_unlock(&st->lock);
	return err;
}

static int record_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dns_record *)a)->name, ((const struct dns_record *)b)->name);
}

int dns_store_list(struct dns_store *st, struct dns_record **out, size_t *count)
{
	pthread_rwlock_rdlock(&st->lock);
	size_t n = 0;
	struct dns_record *v = calloc(st->recs.count + 1, sizeof(*v));
	if (v) {
		for (size_t i = 0; i < st->recs.nbuckets; i++)
			for (struct name_node *x = st->recs.buckets[i]; x; x = x->next) {
				dns_name_to_text(&x->name, v[n].name, sizeof(v[n].name));
				v[n++].addr = ((struct dns_rec *)x)->addr;
			}
	}
	pthread_rwlock_unlock(&st->lock);
	if (!v)
		return -ENOMEM;
	qsort(v, n, sizeof(*v), record_cmp);
	*out = v;
	*count = n;
	return 0;
}

void dns_store_rdlock(struct dns_store *st)
{
	pthread_rwlock_rdlock(&st->lock);
}

void dns_store_unlock(struct dns_store *st)
{
	pthread_rwlock_unlock(&st->lock);
}

const struct dns_name *dns_store_zone(const struct dns_store *st)
{
	return &st->zone;
}

uint32_t dns_store_serial(const struct dns_store *st)
{
	return st->serial;
}

const struct ip_addr *dns_store_find(const struct dns_store *st, const struct dns_name *name)
{
	const struct dns_rec *r = (const struct dns_rec *)table_find(&st->recs, name);
	return r ? &r->addr : NULL;
}

bool dns_store_is_ent(const struct dns_store *st, const struct dns_name *name)
{
	return table_find(&st->ents, name) != NULL;
}

const struct dns_name *dns_store_find_ptr(const struct dns_store *st, const struct dns_name *rname)
{
	const struct ptr_node *p = (const struct ptr_node *)table_find(&st->ptrs, rname);
	return p ? &p->rec->node.name : NULL;
}
