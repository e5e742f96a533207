/* SPDX-License-Identifier: MIT */
/*
 * overlayd's domain values that requests carry, the state file persists and
 * responses report: overlay modes, PeerSpec, NAT candidates and the NAT
 * configuration. Plain C structs (no JSON); model_json.h converts them.
 */
#ifndef OVL_STATE_MODEL_H
#define OVL_STATE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"
#include "util/key.h"

enum ovl_mode { OVL_MODE_AUTO, OVL_MODE_SHARED, OVL_MODE_DEDICATED, OVL_MODE_ISOLATED };

const char *ovl_mode_name(enum ovl_mode m);
int ovl_mode_parse(const char *s, enum ovl_mode *out); /* 0 or -EINVAL */

/* PEER_REFLEXIVE: learned from a peer's packet (RFC 8445 7.3.1.3), never gathered. */
enum ovl_candidate_type { OVL_CAND_HOST, OVL_CAND_SERVER_REFLEXIVE, OVL_CAND_RELAY, OVL_CAND_PEER_REFLEXIVE };

struct ovl_candidate {
	enum ovl_candidate_type type;
	struct ip_endpoint address;
	uint32_t priority;
};

const char *ovl_candidate_type_name(enum ovl_candidate_type t); /* "host", "server-reflexive", "relay", "peer-reflexive" */
int ovl_candidate_type_parse(const char *s, enum ovl_candidate_type *out);

/* PeerSpec: a WireGuard peer as the orchestrator describes it. */
struct ovl_peer_spec {
	uint8_t public_key[WG_KEY_LEN];
	struct ip_endpoint endpoint; /* 0.0.0.0:0 = none yet (learned by roaming) */
	struct ip_prefix *allowed_ips;
	size_t n_allowed_ips;
	uint64_t persistent_keepalive_secs;
	struct ovl_candidate *candidates;
	size_t n_candidates;
};

void ovl_peer_spec_free(struct ovl_peer_spec *p);
int ovl_peer_spec_copy(struct ovl_peer_spec *dst, const struct ovl_peer_spec *src); /* 0 or -ENOMEM */

/*
 * Parses a comma-separated CIDR list ("10.0.0.5/32, 10.1.0.0/24"; whitespace
 * around entries ignored; "" = none). 0, or -EINVAL with a message naming the
 * bad entry, or -ENOMEM.
 */
int ovl_allowed_ips_parse(const char *s, struct ip_prefix **out, size_t *n, char *err, size_t errlen);
/* "a,b,c"; returns a malloc'd string or NULL. */
char *ovl_allowed_ips_format(const struct ip_prefix *ips, size_t n);

struct ovl_turn_server {
	char *addr;
	char *username;
	char *credential;
};

struct ovl_relay_spec {
	uint16_t listen_port;
	char *external_addr;
	uint64_t max_sessions;
	uint64_t max_sessions_per_client; /* of one client IP; 0: a quarter of max_sessions */
	char *auth_credential;		  /* NULL when absent */
};

/* NatConfigSpec. Zero numbers mean "use the default" (see nat_config_resolve). */
struct ovl_nat_config {
	bool enabled;
	char **stun_servers; /* "host:port" */
	size_t n_stun_servers;
	struct ovl_turn_server *turn_servers;
	size_t n_turn_servers;
	uint64_t hole_punch_timeout_secs;
	uint64_t stun_refresh_interval_secs;
	uint64_t max_candidate_pairs;
	bool has_relay;
	struct ovl_relay_spec relay;
};

/*
 * Defaults for zero fields. There is deliberately no default STUN server: with
 * none configured no server-reflexive candidate is gathered (protocol.md).
 */
#define NAT_DEFAULT_HOLE_PUNCH_TIMEOUT_SECS 10
#define NAT_DEFAULT_STUN_REFRESH_SECS 60
#define NAT_DEFAULT_MAX_CANDIDATE_PAIRS 10
#define NAT_DEFAULT_RELAY_MAX_SESSIONS 100

void ovl_nat_config_free(struct ovl_nat_config *c);
int ovl_nat_config_copy(struct ovl_nat_config *dst, const struct ovl_nat_config *src);
/* dst = src with every zero number replaced by its default. 0 or -ENOMEM. */
int ovl_nat_config_resolve(struct ovl_nat_config *dst, const struct ovl_nat_config *src);

/* strdup of an optional string (NULL stays NULL); sets *oom when the copy fails, leaves it alone otherwise. */
char *ovl_strdup_optional(const char *s, bool *oom);

/* "host:port" with a non-empty host and a port 1..65535 (STUN/TURN/relay addresses). */
bool ovl_hostport_valid(const char *s);

#endif
