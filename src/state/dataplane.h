/* SPDX-License-Identifier: MIT */
/*
 * The data-plane section of the state file ("dataplane"): every host change
 * the engine made and must find again after a restart (bridges and their
 * address pools, services, dedicated identities, container attachments,
 * guests, host parameters). One entry per service: its mode lives here, not
 * in a second list.
 *
 * Plain typed values: the engine converts its live data plane into this once
 * per group commit (engine/dp_record.c), and the state file encodes it with
 * the rest of the state. The JSON shape is the one older builds kept in their
 * bucket for unknown keys, so files stay readable both ways.
 */
#ifndef OVL_STATE_DATAPLANE_H
#define OVL_STATE_DATAPLANE_H

#include <jansson.h>
#include <net/if.h>

#include "state/model.h"

/* The sizes of net/sysctl.h's and net/unmanaged.h's records (the state does not depend on net/). */
#define STATE_DP_PATH_MAX 4096
#define STATE_DP_SYSCTL_PATH_MAX 160
#define STATE_DP_SYSCTL_VALUE_MAX 64

/* A bridge and the addresses of its pool that are handed out. */
struct state_bridge {
	char name[IFNAMSIZ];
	struct ip_prefix subnet;
	struct ip_addr *allocated;
	size_t n_allocated;
};

struct state_dp_service {
	char *name;
	enum ovl_mode mode;
	bool on_shared;		   /* no bridge of its own */
	struct state_bridge bridge; /* when !on_shared */
	bool dedicated;
	char dev_name[IFNAMSIZ];
	uint8_t dev_private[WG_KEY_LEN];
	uint16_t dev_port;
	struct ovl_peer_spec *peers;
	size_t n_peers;
};

/* A dedicated device's identity, kept until teardown_service_overlay. */
struct state_dp_identity {
	char *service;
	uint8_t private_key[WG_KEY_LEN];
	uint16_t port;
};

/* A linux_pid attachment. */
struct state_dp_attach {
	uint32_t pid;
	char *service;
	struct ip_addr ip; /* eth0, from the service's bridge pool */
	bool has_global;
	struct ip_addr global_ip; /* eth1, from the node slice */
	bool ephemeral;
	char *isolation; /* NULL = none */
};

/* guest_managed and host_shared attachments. */
struct state_dp_guest {
	char *id;
	char *service; /* pool owner; NULL = node slice */
	struct ip_addr ip;
	uint8_t public_key[WG_KEY_LEN];
	bool host_shared; /* a /32 alias on the global device instead of a peer */
	char *isolation;  /* NULL = none */
};

struct state_dataplane {
	bool up;
	bool has_device;
	char interface[IFNAMSIZ]; /* "" = none */
	bool has_firewall;
	char firewall_table[32];
	bool has_shared;
	struct state_bridge shared;
	bool has_ip_forward;
	char ip_forward_path[STATE_DP_SYSCTL_PATH_MAX];
	char ip_forward_old[STATE_DP_SYSCTL_VALUE_MAX];
	bool has_unmanaged;
	char networkd_file[STATE_DP_PATH_MAX], nm_file[STATE_DP_PATH_MAX];
	char networkd_dir[STATE_DP_PATH_MAX], nm_dir[STATE_DP_PATH_MAX];
	char (*ipv6_forwarding)[IFNAMSIZ];
	size_t n_ipv6_forwarding;
	struct state_dp_identity *identities;
	size_t n_identities;
	struct state_dp_service *services;
	size_t n_services;
	struct state_dp_attach *attaches;
	size_t n_attaches;
	struct state_dp_guest *guests;
	size_t n_guests;
};

/* One element: free its strings (keys wiped); copy into a zeroed dst (0, or -ENOMEM with dst freed). */
void state_dp_identity_free(struct state_dp_identity *id);
void state_dp_attach_free(struct state_dp_attach *a);
void state_dp_guest_free(struct state_dp_guest *g);
int state_dp_identity_copy(struct state_dp_identity *dst, const struct state_dp_identity *src);
int state_dp_attach_copy(struct state_dp_attach *dst, const struct state_dp_attach *src);
int state_dp_guest_copy(struct state_dp_guest *dst, const struct state_dp_guest *src);

/* Frees the plain record lists with their elements (as dataplane and the engine's live lists hold them). */
void state_dp_records_free(struct state_dp_identity *ids, size_t n_ids, struct state_dp_attach *attaches,
			   size_t n_attaches, struct state_dp_guest *guests, size_t n_guests);
/* Frees every list and string (keys are wiped) and zeroes dp. */
void state_dataplane_free(struct state_dataplane *dp);
/* True when nothing is recorded (the section is then left out of the file). */
bool state_dataplane_empty(const struct state_dataplane *dp);

/* The "dataplane" object, or NULL on allocation failure. */
json_t *state_dataplane_to_json(const struct state_dataplane *dp);
/*
 * Reads the "dataplane" object into dp (zeroed first; freed again on error).
 * 0, -EBADMSG with err naming the malformed entry ("`dataplane.services[0]`:
 * malformed: ..."), or -ENOMEM.
 */
int state_dataplane_from_json(const json_t *o, struct state_dataplane *dp, char *err, size_t errlen);

/*
 * One attachment as an element of "attachments" (also the state journal's
 * attach record). to_json: NULL on allocation failure. from_json: into a
 * zeroed a; 0, -EINVAL with err saying which field is wrong, or -ENOMEM; on
 * failure a may hold strings for state_dp_attach_free.
 */
json_t *state_dp_attach_to_json(const struct state_dp_attach *a);
int state_dp_attach_from_json(const json_t *j, struct state_dp_attach *a, char *err, size_t errlen);

#endif
