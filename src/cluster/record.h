/* SPDX-License-Identifier: MIT */
/*
 * A node's record in the store (<prefix>/nodes/<id>, under the node's lease):
 * what every other node needs to reach it. JSON:
 *
 *   {"v":1, "id":"<32 hex>", "public_key":"<b64>", "endpoint":"IP:PORT",
 *    "candidates":[{"type":"host","address":"IP:PORT","priority":N}],
 *    "slice":"CIDR", "services":[{"service":S,"mode":M,"subnet":CIDR}],
 *    "dedicated":[{"service":S,"public_key":K,"port":P,"subnet":CIDR}]}
 *
 * Decoding validates every field: a record written by a broken or hostile
 * node is refused as a whole (with a message), never half-applied.
 */
#ifndef OVL_CLUSTER_RECORD_H
#define OVL_CLUSTER_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "state/model.h"
#include "util/inet.h"
#include "util/key.h"

#define CLUSTER_ID_LEN 32 /* hex digits of a node id */
#define CLUSTER_MAX_LIST 256 /* services, dedicated services, candidates per record */

struct cluster_subnet {
	char *service;
	enum ovl_mode mode;
	struct ip_prefix subnet;
};

struct cluster_dedicated {
	char *service;
	uint8_t public_key[WG_KEY_LEN];
	uint16_t port;
	struct ip_prefix subnet;
};

struct cluster_record {
	char id[CLUSTER_ID_LEN + 1];
	uint8_t public_key[WG_KEY_LEN];
	struct ip_endpoint endpoint;
	struct ovl_candidate *candidates;
	size_t n_candidates;
	struct ip_prefix slice;
	struct cluster_subnet *services;
	size_t n_services;
	struct cluster_dedicated *dedicated;
	size_t n_dedicated;
};

void cluster_record_free(struct cluster_record *r);
/* The JSON text (malloc'ed), or NULL on allocation failure. */
char *cluster_record_encode(const struct cluster_record *r);
/* 0, or -EINVAL with a message in err (r is then empty). */
int cluster_record_decode(const char *json, struct cluster_record *r, char *err, size_t errlen);
/* True when id is CLUSTER_ID_LEN lowercase hex digits. */
bool cluster_id_valid(const char *id);

#endif
