/* SPDX-License-Identifier: MIT */
/*
 * The store (cluster/store.h) over etcd's v3 JSON gateway (etcd 3.4:
 * /v3/kv/range, /v3/kv/txn, /v3/lease/..., /v3/watch), with libcurl. Keys and
 * values travel base64-encoded; int64 fields as JSON strings.
 *
 * Several endpoints: a request that cannot reach one tries the next, and the
 * one that answered is tried first next time. https:// endpoints use the TLS
 * files given (CA bundle, client certificate and key), all optional.
 * Each call makes its own curl handle, so the store is safe to use from two
 * threads at once (the cluster thread and its watch thread).
 */
#ifndef OVL_CLUSTER_ETCD_H
#define OVL_CLUSTER_ETCD_H

#include <stddef.h>

#include "cluster/store.h"

#define ETCD_MAX_ENDPOINTS 8

struct etcd_config {
	char *endpoints[ETCD_MAX_ENDPOINTS]; /* "http://host:2379", no trailing slash */
	size_t n_endpoints;
	const char *cacert, *cert, *key;     /* NULL = curl's defaults / none */
	long timeout_ms;		     /* per request (not the watch); 0 = 3000 */
};

/*
 * Parses "etcd=URL[,URL...]" into cfg (strings heap-owned; etcd_config_free).
 * 0 or -EINVAL with a message.
 */
int etcd_config_parse(struct etcd_config *cfg, const char *spec, char *err, size_t errlen);
void etcd_config_free(struct etcd_config *cfg);

/* The store, or NULL (message in err). cfg's strings are copied. */
struct store *etcd_store_new(const struct etcd_config *cfg, char *err, size_t errlen);

#endif
