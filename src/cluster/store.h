/* SPDX-License-Identifier: MIT */
/*
 * The small interface cluster mode needs from a shared store: create keys only
 * when absent (one transaction), read a prefix, plain put/delete, leases with
 * keep-alive, and a watch resumed from a revision. etcd.c implements it over
 * etcd's v3 JSON gateway; the policy (claim.c, publish, reconciliation) only
 * sees this interface, so another store could follow and unit tests use a
 * fake one.
 *
 * Every call is blocking and returns 0 or -errno: -EAGAIN/-ECONNREFUSED/-ETIMEDOUT
 * and friends when the store is unreachable (the caller retries with backoff),
 * -ENOENT for an expired lease, -EPROTO for an answer it cannot read.
 */
#ifndef OVL_CLUSTER_STORE_H
#define OVL_CLUSTER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_kv {
	char *key;
	char *value; /* NUL-terminated (values are JSON text) */
	int64_t mod_revision;
	int64_t lease;
};

struct store_kvs {
	struct store_kv *items;
	size_t n;
	int64_t revision; /* the store's revision the listing reflects */
};

void store_kvs_free(struct store_kvs *kvs);
/* Appends a copy of key/value. 0 or -ENOMEM. */
int store_kvs_add(struct store_kvs *kvs, const char *key, const char *value, int64_t mod_revision, int64_t lease);

enum store_event_type { STORE_EV_PUT, STORE_EV_DELETE };

struct store_event {
	enum store_event_type type;
	struct store_kv kv; /* value NULL for a delete */
};

/* Called by watch with each batch of events (all of one revision or more). */
typedef void (*store_watch_fn)(const struct store_event *evs, size_t n, int64_t revision, void *arg);

struct store;

struct store_ops {
	/*
	 * Creates every key with value (bound to lease unless 0) if none of them
	 * exists yet, atomically. *created says whether it did.
	 */
	int (*create)(struct store *s, const char *const *keys, size_t nkeys, const char *value, int64_t lease,
		      bool *created);
	int (*put)(struct store *s, const char *key, const char *value, int64_t lease);
	/* Deletes key only while its value is still value (a claim we hold). */
	int (*del_if)(struct store *s, const char *key, const char *value);
	int (*get_prefix)(struct store *s, const char *prefix, struct store_kvs *out);
	int (*lease_grant)(struct store *s, int64_t ttl_secs, int64_t *id);
	/* -ENOENT when the lease has expired. */
	int (*lease_keepalive)(struct store *s, int64_t id);
	int (*lease_revoke)(struct store *s, int64_t id);
	/*
	 * Watches prefix from revision from_rev (inclusive) until the connection
	 * fails or *stop becomes true (checked at least once a second). Returns
	 * -ECANCELED when stopped, -ESTALE when from_rev was compacted away (the
	 * caller re-reads the prefix), else the connection error.
	 */
	int (*watch)(struct store *s, const char *prefix, int64_t from_rev, store_watch_fn fn, void *arg,
		     const volatile bool *stop);
	void (*free)(struct store *s);
};

struct store {
	const struct store_ops *ops;
	/* Requests issued, for the steady-state figure in status and the benchmark. */
	volatile uint64_t requests;
};

#endif
