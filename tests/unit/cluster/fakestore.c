// SPDX-License-Identifier: MIT
#include "fakestore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct fake_store *F(struct store *s)
{
	return (struct fake_store *)s;
}

static struct store_kv *find(struct fake_store *f, const char *key)
{
	for (size_t i = 0; i < f->kvs.n; i++)
		if (strcmp(f->kvs.items[i].key, key) == 0)
			return &f->kvs.items[i];
	return NULL;
}

const char *fake_store_get(struct fake_store *f, const char *key)
{
	struct store_kv *kv = find(f, key);
	return kv ? kv->value : NULL;
}

void fake_store_put(struct fake_store *f, const char *key, const char *value)
{
	struct store_kv *kv = find(f, key);
	f->revision++;
	if (kv) {
		free(kv->value);
		kv->value = strdup(value);
		kv->mod_revision = f->revision;
		return;
	}
	store_kvs_add(&f->kvs, key, value, f->revision, 0);
}

static int fs_create(struct store *s, const char *const *keys, size_t n, const char *value, int64_t lease,
		     bool *created)
{
	struct fake_store *f = F(s);
	if (f->down)
		return -ECONNREFUSED;
	if (f->before_create) {
		void (*hook)(struct fake_store *, const char *const *, size_t) = f->before_create;
		f->before_create = NULL;
		hook(f, keys, n);
	}
	f->creates++;
	*created = false;
	for (size_t i = 0; i < n; i++)
		if (find(f, keys[i])) {
			f->failed_creates++;
			return 0;
		}
	for (size_t i = 0; i < n; i++)
		fake_store_put(f, keys[i], value);
	*created = true;
	return 0;
}

static int fs_put(struct store *s, const char *key, const char *value, int64_t lease)
{
	if (F(s)->down)
		return -ECONNREFUSED;
	fake_store_put(F(s), key, value);
	return 0;
}

static int fs_del_if(struct store *s, const char *key, const char *value)
{
	struct fake_store *f = F(s);
	if (f->down)
		return -ECONNREFUSED;
	struct store_kv *kv = find(f, key);
	if (kv && strcmp(kv->value, value) == 0) {
		free(kv->key);
		free(kv->value);
		*kv = f->kvs.items[--f->kvs.n];
		f->revision++;
	}
	return 0;
}

static int fs_get_prefix(struct store *s, const char *prefix, struct store_kvs *out)
{
	struct fake_store *f = F(s);
	memset(out, 0, sizeof(*out));
	if (f->down)
		return -ECONNREFUSED;
	for (size_t i = 0; i < f->kvs.n; i++)
		if (strncmp(f->kvs.items[i].key, prefix, strlen(prefix)) == 0)
			store_kvs_add(out, f->kvs.items[i].key, f->kvs.items[i].value, f->kvs.items[i].mod_revision, 0);
	out->revision = f->revision;
	return 0;
}

static int fs_unsupported(void)
{
	return -EOPNOTSUPP;
}

static const struct store_ops fake_ops = {
	.create = fs_create,
	.put = fs_put,
	.del_if = fs_del_if,
	.get_prefix = fs_get_prefix,
	.lease_grant = (void *)fs_unsupported,
	.lease_keepalive = (void *)fs_unsupported,
	.lease_revoke = (void *)fs_unsupported,
	.watch = (void *)fs_unsupported,
};

void fake_store_init(struct fake_store *f)
{
	memset(f, 0, sizeof(*f));
	f->base.ops = &fake_ops;
}

void fake_store_fini(struct fake_store *f)
{
	store_kvs_free(&f->kvs);
}
