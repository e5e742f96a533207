// SPDX-License-Identifier: MIT
#include "cluster/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void store_kvs_free(struct store_kvs *kvs)
{
	for (size_t i = 0; i < kvs->n; i++) {
		free(kvs->items[i].key);
		free(kvs->items[i].value);
	}
	free(kvs->items);
	memset(kvs, 0, sizeof(*kvs));
}

int store_kvs_add(struct store_kvs *kvs, const char *key, const char *value, int64_t mod_revision, int64_t lease)
{
	struct store_kv *grown = realloc(kvs->items, (kvs->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	kvs->items = grown;
	struct store_kv *kv = &kvs->items[kvs->n];
	kv->key = strdup(key);
	kv->value = value ? strdup(value) : NULL;
	if (!kv->key || (value && !kv->value)) {
		free(kv->key);
		free(kv->value);
		return -ENOMEM;
	}
	kv->mod_revision = mod_revision;
	kv->lease = lease;
	kvs->n++;
	return 0;
}
