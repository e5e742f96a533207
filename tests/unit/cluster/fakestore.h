/* SPDX-License-Identifier: MIT */
/* An in-memory store (cluster/store.h) for the policy's unit tests. */
#ifndef OVL_TEST_FAKESTORE_H
#define OVL_TEST_FAKESTORE_H

#include "cluster/store.h"

struct fake_store {
	struct store base;
	struct store_kvs kvs;
	int64_t revision;
	bool down; /* every call fails with -ECONNREFUSED */
	/* Called once before the next create, with its keys: another node's move in a race. */
	void (*before_create)(struct fake_store *f, const char *const *keys, size_t n);
	unsigned creates, failed_creates;
};

void fake_store_init(struct fake_store *f);
void fake_store_fini(struct fake_store *f);
/* A put as another node would make it. */
void fake_store_put(struct fake_store *f, const char *key, const char *value);
const char *fake_store_get(struct fake_store *f, const char *key);

#endif
