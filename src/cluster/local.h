/* SPDX-License-Identifier: MIT */
/*
 * What a node remembers of its membership across restarts, in
 * <data_dir>/cluster.json: its id, the WireGuard port it announced, and the
 * claims it holds (purpose -> CIDR). The store stays the authority; this file
 * gives a restarted node its id back and lets it set up its claimed
 * addresses while the store is unreachable.
 */
#ifndef OVL_CLUSTER_LOCAL_H
#define OVL_CLUSTER_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/record.h"
#include "util/inet.h"

struct cluster_local_claim {
	char *purpose;
	struct ip_prefix cidr;
};

struct cluster_local_state {
	char id[CLUSTER_ID_LEN + 1];
	uint16_t wg_port; /* 0 = not announced yet */
	struct cluster_local_claim *claims;
	size_t n_claims;
};

/* Loads the file, or starts a fresh state with a random id. 0 or -errno (message in err). */
int cluster_local_load(const char *data_dir, struct cluster_local_state *st, char *err, size_t errlen);
/* Writes it atomically. 0 or -errno. */
int cluster_local_save(const char *data_dir, const struct cluster_local_state *st);
void cluster_local_free(struct cluster_local_state *st);
const struct ip_prefix *cluster_local_claim_get(const struct cluster_local_state *st, const char *purpose);
int cluster_local_claim_set(struct cluster_local_state *st, const char *purpose, const struct ip_prefix *cidr);
void cluster_local_claim_drop(struct cluster_local_state *st, const char *purpose);

/*
 * The address this host uses to reach url's host (the source of a UDP
 * "connection" to it): what other nodes on the same underlay reach us at.
 */
int cluster_source_address_for(const char *url, struct ip_addr *out);

#endif
