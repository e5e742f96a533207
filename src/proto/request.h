/* SPDX-License-Identifier: MIT */
/*
 * Typed requests, responses and events: the engine's whole vocabulary.
 *
 * ipc/codec.c turns protocol JSON into these (validating every field) and
 * back; anything else (a future etcd membership module, tests) can build them
 * directly and call engine_handle(). Strings are heap-owned by the struct;
 * ovl_request_free() / ovl_response_free() / ovl_event_free() release them.
 */
#ifndef OVL_PROTO_REQUEST_H
#define OVL_PROTO_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/model.h"
#include "util/inet.h"
#include "util/key.h"

enum ovl_op {
	OVL_OP_SET_LOCAL_NODE_ID,
	OVL_OP_SET_LOCAL_WG_PUBKEY,
	OVL_OP_SETUP_GLOBAL_OVERLAY,
	OVL_OP_TEARDOWN_GLOBAL_OVERLAY,
	OVL_OP_SETUP_SERVICE_OVERLAY,
	OVL_OP_TEARDOWN_SERVICE_OVERLAY,
	OVL_OP_ALLOCATE_IP,
	OVL_OP_RELEASE_IP,
	OVL_OP_ATTACH_CONTAINER,
	OVL_OP_DETACH_CONTAINER,
	OVL_OP_ADD_PEER,
	OVL_OP_REMOVE_PEER,
	OVL_OP_ADD_ALLOWED_IP,
	OVL_OP_REMOVE_ALLOWED_IP,
	OVL_OP_REGISTER_DNS,
	OVL_OP_UNREGISTER_DNS,
	OVL_OP_WRITE_SCOPED_RESOLVER,
	OVL_OP_REMOVE_SCOPED_RESOLVER,
	OVL_OP_PRUNE_ORPHAN_BRIDGES,
	OVL_OP_STATUS,
	OVL_OP_NAT_TICK,
	OVL_OP_NAT_STATUS,
	OVL_OP_SHUTDOWN,
	OVL_OP_COUNT_
};

/* The wire name ("set_local_node_id"), or NULL. */
const char *ovl_op_name(enum ovl_op op);
int ovl_op_parse(const char *name, enum ovl_op *out); /* 0 or -EINVAL */

enum ovl_handle_platform {
	OVL_HANDLE_LINUX_PID,
	OVL_HANDLE_HOST_SHARED,
	OVL_HANDLE_GUEST_MANAGED,
};

/* AttachHandle. windows_container is rejected by the decoder on Linux. */
struct ovl_handle {
	enum ovl_handle_platform platform;
	uint32_t pid; /* linux_pid */
	char *id;     /* host_shared, guest_managed */
};

/* PeerScope: global (service == NULL) or a service's dedicated device. */
struct ovl_scope {
	char *service;
};

struct ovl_req_setup_global {
	char *deployment;
	char *instance_id;
	struct ip_prefix cluster_cidr;
	bool has_slice_cidr;
	struct ip_prefix slice_cidr;
	uint16_t wg_port; /* 0 = default 51420 */
	bool has_nat;
	struct ovl_nat_config nat;
	bool has_nat_enabled; /* older senders */
	bool nat_enabled;
	bool host_adapter_mandatory;
	bool has_private_key; /* extension */
	uint8_t private_key[WG_KEY_LEN];
};

struct ovl_req_attach {
	struct ovl_handle handle;
	char *service;
	bool join_global;
	bool has_dns_server;
	struct ip_addr dns_server;
	char *dns_domain;	 /* NULL when absent */
	bool ephemeral;
	char *isolation_network; /* NULL when absent */
};

struct ovl_request {
	enum ovl_op op;
	union {
		struct {
			uint64_t node_id;
		} set_local_node_id;
		struct {
			uint8_t pubkey[WG_KEY_LEN];
		} set_local_wg_pubkey;
		struct ovl_req_setup_global setup_global;
		struct {
			char *service;
			enum ovl_mode mode;
			/* Not on the wire: the subnet cluster mode claimed for it. */
			bool has_subnet;
			struct ip_prefix subnet;
		} setup_service;
		struct {
			char *service;
		} teardown_service;
		struct {
			char *service;
			bool join_global;
		} allocate_ip;
		struct {
			struct ip_addr ip;
		} release_ip;
		struct ovl_req_attach attach;
		struct {
			struct ovl_handle handle;
		} detach;
		struct {
			struct ovl_peer_spec peer;
			struct ovl_scope scope;
		} add_peer;
		struct {
			uint8_t pubkey[WG_KEY_LEN];
			struct ovl_scope scope;
		} remove_peer;
		struct {
			uint8_t pubkey[WG_KEY_LEN];
			struct ip_prefix cidr;
			struct ovl_scope scope;
		} allowed_ip; /* add_allowed_ip and remove_allowed_ip */
		struct {
			char *name;
			struct ip_addr ip;
		} register_dns;
		struct {
			char *name;
		} unregister_dns;
		struct {
			char *zone;
			struct ip_addr node_ip;
			uint16_t port;
		} write_resolver;
		struct {
			char *zone;
		} remove_resolver;
		struct {
			char **names;
			size_t n;
		} prune;
	};
};

void ovl_request_free(struct ovl_request *r);

enum ovl_result {
	OVL_RES_OK,
	OVL_RES_ERR,
	OVL_RES_IP,
	OVL_RES_ATTACHED,
	OVL_RES_BRIDGE_NAME,
	OVL_RES_SERVICE_OVERLAY,
	OVL_RES_GUEST_CONFIG,
	OVL_RES_PRUNED_BRIDGES,
	OVL_RES_STATUS,
	OVL_RES_NAT_STATUS,
};

struct ovl_peer_status {
	uint8_t public_key[WG_KEY_LEN];
	bool has_endpoint;
	struct ip_endpoint endpoint;
	char *allowed_ips; /* "a,b" */
	uint64_t last_handshake_unix_secs;
	/* extension: transfer counters and the health job's last verdict (none yet: has_health false) */
	uint64_t rx_bytes, tx_bytes;
	bool has_health, healthy;
};

struct ovl_dedicated_status {
	char *service;
	char *interface;
	uint8_t public_key[WG_KEY_LEN];
	uint16_t listen_port;
	struct ip_addr overlay_ip;
	struct ip_prefix subnet;
	uint32_t peer_count;
};

/* Extension: every service overlay of this node, so peers can be told its subnet. */
struct ovl_service_status {
	char *service;
	enum ovl_mode mode;
	char *bridge;
	struct ip_prefix subnet;
	uint64_t pool_size;	    /* container addresses the bridge's pool can hand out */
	uint64_t addresses_in_use; /* of that pool (a shared bridge's pool serves every shared service) */
	uint32_t attached;	    /* attachments (containers, guests) of this service */
};

/* Extension: one attachment of this node (a container by PID, a guest, a host-shared address). */
struct ovl_attachment_status {
	struct ovl_handle handle;
	char *service; /* NULL: the node slice (guest_managed without a service) */
	struct ip_addr ip;
	bool has_global_ip;
	struct ip_addr global_ip; /* linux_pid joined to the global overlay (eth1) */
};

/* Extension "cluster": membership in cluster mode (overlayd --cluster). */
struct ovl_cluster_member {
	char *id;
	bool self;
	uint8_t public_key[WG_KEY_LEN];
	struct ip_endpoint endpoint;
	struct ip_prefix slice;
	uint64_t last_seen_unix_secs;
};

struct ovl_cluster_status {
	char *node_id;
	bool connected; /* the store answers and the watch is established */
	uint64_t store_requests;
	struct ovl_cluster_member *members;
	size_t n_members;
};

struct ovl_res_status {
	char *interface; /* NULL = omitted */
	bool has_node_ip;
	struct ip_addr node_ip;
	bool has_public_key;
	uint8_t public_key[WG_KEY_LEN];
	bool has_overlay_cidr;
	struct ip_prefix overlay_cidr;
	bool has_slice_cidr;
	struct ip_prefix slice_cidr;
	uint32_t peer_count;
	uint32_t service_count;
	struct ovl_peer_status *peers;
	size_t n_peers;
	struct ovl_dedicated_status *dedicated;
	size_t n_dedicated;
	struct ovl_service_status *services; /* extension "services"; omitted when empty */
	size_t n_services;
	struct ovl_attachment_status *attachments; /* extension "attachments"; omitted when empty */
	size_t n_attachments;
	/*
	 * Nonzero: the version of the engine's attachment list these are, unique
	 * in the process; an encoder may reuse its text of the same version
	 * (ipc/attachments.h) instead of encoding the list again.
	 */
	uint64_t attachments_version;
	char *degraded; /* extension: why the node runs without part of its data plane; NULL = it does not */
	struct ovl_cluster_status *cluster; /* extension "cluster"; NULL = omitted */
};

struct ovl_res_service_overlay {
	char *name;
	enum ovl_mode mode;
	bool has_dedicated; /* the four fields below, for mode dedicated */
	uint8_t wg_public_key[WG_KEY_LEN];
	uint16_t wg_port;
	struct ip_addr overlay_ip;
	struct ip_prefix subnet; /* every mode (extension outside dedicated); family 0 = omitted */
};

struct ovl_res_guest_config {
	struct ip_addr overlay_ip;
	uint8_t prefix_len;
	uint8_t private_key[WG_KEY_LEN];
	uint8_t public_key[WG_KEY_LEN];
	uint16_t listen_port;
	struct ovl_peer_spec *peers;
	size_t n_peers;
	bool has_dns_server;
	struct ip_addr dns_server;
	char *dns_domain;
};

enum ovl_connection_type { OVL_CONN_DIRECT, OVL_CONN_HOLE_PUNCHED, OVL_CONN_RELAYED };

#define OVL_NAT_MAX_PEER_REFLEXIVE 4

struct ovl_nat_peer {
	uint8_t public_key[WG_KEY_LEN]; /* reported as node_id */
	enum ovl_connection_type connection_type;
	bool has_remote_endpoint;
	struct ip_endpoint remote_endpoint;
	/* Extensions (docs/protocol-extensions.md): NULL state = not reported. */
	bool connected;
	const char *state; /* "probing", "quiet", "connected", "idle" (static strings) */
	struct ovl_candidate peer_reflexive[OVL_NAT_MAX_PEER_REFLEXIVE]; /* learned from the peer's packets */
	size_t n_peer_reflexive;
};

/* Extension: one configured TURN server's allocation (never its credentials). */
struct ovl_nat_turn_server {
	char addr[256];	   /* as configured ("host:port") */
	const char *state; /* "idle", "allocating", "allocated", "failed", ... (static strings) */
	bool has_relayed;
	struct ip_endpoint relayed; /* our relayed transport address on it */
	char error[160];	    /* why it last failed; "" when it did not */
};

/* Extension: the built-in relay (relay_server) this node runs, and its counters (never its credential). */
struct ovl_nat_relay_server {
	uint16_t listen_port;
	char external_addr[256];
	uint64_t max_sessions, allocations; /* allocations: now */
	uint64_t max_sessions_per_client;   /* the quota of one client IP in force */
	uint64_t allocations_made, refused_quota, refused_capacity, auth_failures, stale_nonces;
	uint64_t to_peers, to_clients, dropped_no_permission, dropped_fair_share; /* datagrams */
};

struct ovl_res_nat_status {
	struct ovl_candidate *candidates;
	size_t n_candidates;
	struct ovl_nat_peer *peers;
	size_t n_peers;
	uint64_t last_refresh;
	const char *mapping; /* extension: the NAT's mapping behaviour (static string); NULL: not reported */
	/* Extension, with mapping: STUN datagrams dropped, by reason, and requests that got no answer. */
	uint64_t stun_malformed, stun_unknown_server, stun_unknown_txn, stun_errors, stun_timeouts, rx_not_stun;
	struct ovl_nat_turn_server *turn_servers; /* extension; reported when n_turn_servers */
	size_t n_turn_servers;
	bool has_relay_server; /* extension: relay_server is reported */
	struct ovl_nat_relay_server relay_server;
};

struct ovl_response {
	enum ovl_result result;
	union {
		char *message; /* err */
		struct ip_addr ip; /* ip, attached */
		char *name;	   /* bridge_name */
		struct ovl_res_service_overlay service_overlay;
		struct ovl_res_guest_config guest_config;
		struct {
			char **names;
			size_t n;
		} pruned;
		struct ovl_res_status status;
		struct ovl_res_nat_status nat_status;
	};
};

void ovl_response_free(struct ovl_response *r);
void ovl_cluster_status_free(struct ovl_cluster_status *c);
/* Turns r into {"result":"err"} with a formatted message (r must be empty or freed). */
void ovl_response_err(struct ovl_response *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ovl_connection_type_name(enum ovl_connection_type t); /* "direct", "hole-punched", "relayed" */

enum ovl_event_kind {
	OVL_EV_PEER_HEALTH_CHANGED,
	OVL_EV_NAT_ENDPOINT_CHANGED,
	OVL_EV_NAT_REFLEXIVE_CHANGED, /* extension: our own server-reflexive address changed */
};

struct ovl_event {
	enum ovl_event_kind kind;
	uint8_t pubkey[WG_KEY_LEN];
	bool healthy;		     /* peer_health_changed */
	struct ip_endpoint endpoint; /* nat_endpoint_changed; nat_reflexive_changed (unset: none now) */
};

#endif
