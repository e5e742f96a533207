/* SPDX-License-Identifier: MIT */
/*
 * The Linux data plane's live objects and their record, shared by the
 * per-family files (global.c, service.c, attach.c, guest.c, hostshared.c,
 * peers.c, status.c, teardown.c, recover.c). Not for other modules.
 *
 * Every host change is entered here the moment it is made and the record is
 * persisted with the request's group commit (dp_record.c converts these
 * lists into the state's typed "dataplane" section), so teardown and restart
 * recovery walk these lists instead of guessing. Names are deterministic (ipam/ifname.h; container
 * veths "veth-<pid>-s|g"), so even a change made just before a crash is found
 * again by name.
 */
#ifndef OVL_ENGINE_DP_H
#define OVL_ENGINE_DP_H

#include <net/if.h>
#include <pthread.h>

#include "engine/priv.h"
#include "ipam/ports.h"
#include "ipam/slice.h"
#include "net/sysctl.h"
#include "net/unmanaged.h"

struct nl_handle;
struct wg_device;
struct relay;
struct fw;

/* A Linux bridge and the address pool of its subnet (gateway = offset 1). */
struct dp_bridge {
	char name[IFNAMSIZ];
	struct ip_prefix subnet;
	struct ip_addr gateway;
	struct ipam_slice pool;
};

struct dp_service {
	char *name;
	enum ovl_mode mode;
	bool on_shared;		/* shared mode: uses dp->shared */
	struct dp_bridge bridge; /* own bridge (every other mode) */
	/* dedicated mode: a second WireGuard device with its own identity */
	bool dedicated;
	char dev_name[IFNAMSIZ];
	uint8_t dev_private[WG_KEY_LEN];
	uint8_t dev_public[WG_KEY_LEN];
	uint16_t dev_port;
	struct ovl_peer_spec *peers; /* service-scope peers */
	size_t n_peers;
	struct wg_device *dev; /* live, not persisted */
};

/*
 * Attachments (linux_pid: struct state_dp_attach; guest_managed and
 * host_shared: struct state_dp_guest) and the identities of dedicated
 * devices (struct state_dp_identity, kept until teardown_service_overlay so a
 * restart brings a service back with the same key and port) are plain
 * records: the engine keeps them in the state's own types
 * (state/dataplane.h).
 */

struct dp {
	struct engine_dp_opts opts;
	struct nl_handle *nl; /* host (node) namespace */

	/* global overlay */
	bool up;		/* setup_global_overlay succeeded */
	bool has_device;	/* false: VM-only overlay (host adapter failed, not mandatory) */
	char degraded[300];	/* why the node runs degraded (status "degraded_reason"); "" = it does not */
	char gname[IFNAMSIZ];
	struct ip_addr node_ip;
	uint8_t public_key[WG_KEY_LEN];
	struct wg_device *gdev;
	struct relay *relay; /* the built-in TURN relay (relay/relay.h); NULL when not configured */

	bool has_shared;
	struct dp_bridge shared;

	struct dp_service *services;
	size_t n_services;
	struct state_dp_identity *identities;
	size_t n_identities;
	struct ipam_ports ports; /* dedicated-device port band */
	bool ports_ready;
	struct state_dp_attach *attaches;
	size_t n_attaches;
	struct state_dp_guest *guests;
	size_t n_guests;
	/* Changes with every change of the two lists above: status's encoder reuses its text of a version. */
	uint64_t attachments_version;

	/* host parameters changed, with the values found before */
	struct sysctl_saved ip_forward;
	char (*v6_fwd)[IFNAMSIZ]; /* devices whose IPv6 forwarding we switched on */
	size_t n_v6_fwd;
	bool v6_force_warned;

	/* firewall: one table pair owned by this daemon */
	struct fw *fw;
	bool fw_applied;
	int fw_host_chains; /* host forward chains given accept rules, as last logged */
	char fw_instance[32];

	bool unmanaged_marked;
	struct unmanaged_state unmanaged;

	/* overlay DNS */

	/* peer health: a background job compares handshakes to the threshold */
	pthread_t health_thread;
	bool health_running;
	pthread_mutex_t health_lock; /* guards gdev and watched[] use by the health job */
	pthread_cond_t health_cond;
	bool health_stop;
	struct dp_health *health; /* last verdict per peer */
	size_t n_health;
	struct wg_device **watched; /* dedicated devices the job checks too (under health_lock) */
	size_t n_watched;
	/* retired container links, deleted in batches off the request path (reaper.c) */
	pthread_t reap_thread;
	bool reap_running;
	pthread_mutex_t reap_lock; /* guards reap_pending, reap_stop */
	pthread_cond_t reap_cond;
	bool reap_pending;
	bool reap_stop;
};

struct dp_health {
	uint8_t key[WG_KEY_LEN];
	bool healthy;
};

#define DP_HEALTH_THRESHOLD_SECS 180
#define DP_HEALTH_INTERVAL_SECS 5
#define DP_MTU 1420
/* "veth-<pid>-s": a pid has at most 7 digits (pid_max 2^22), so the name fits IFNAMSIZ. */
#define VETH_NAME_SIZE 24

/*
 * A retired container link (reaper.c): renamed DP_DYING_PREFIX<ifindex> and
 * in group DP_DYING_GROUP ("OVLD") until the reaper deletes the group.
 */
#define DP_DYING_PREFIX "vdel-"
#define DP_DYING_GROUP 0x4f564c44u

/* dp.c: lifetime, record, shared helpers */
int dp_open(struct engine *e, const struct engine_dp_opts *opts, char *err, size_t errlen);
void dp_close(struct engine *e);
/* After any change of dp->attaches or dp->guests: a new attachments_version. */
void dp_attachments_changed(struct dp *dp);
/* Marks the state dirty: the record is stored with the batch's save (engine_save), before any answer. */
void dp_commit(struct engine *e);
/*
 * For a request whose only change is one container attached (a, as now in
 * dp->attaches) or detached (pid): the change goes into the batch's journal
 * records instead (state/journal.h), so its save does not rewrite the whole
 * record. Any dp_commit in the same batch still writes state.json.
 */
void dp_commit_attach(struct engine *e, const struct state_dp_attach *a);
void dp_commit_detach(struct engine *e, uint32_t pid);
/* The same for dev's entry in dp->v6_fwd, added (on) or dropped; any request may make it. */
void dp_commit_v6_forwarding(struct engine *e, const char *dev, bool on);
int dp_nl(struct engine *e, struct nl_handle **out, char *err, size_t errlen);
struct dp_service *dp_find_service(struct dp *dp, const char *name);
struct state_dp_attach *dp_find_attach(struct dp *dp, uint32_t pid);
struct state_dp_guest *dp_find_guest(struct dp *dp, const char *id, bool host_shared);
/* The bridge a service's containers join (own or shared); NULL if none. */
struct dp_bridge *dp_service_bridge(struct dp *dp, struct dp_service *s);
/* zl-<deployment>-<instance>[-<service>]-<suffix> (service NULL: node-wide). */
void dp_ifname(struct engine *e, const char *service, const char *suffix, char out[IFNAMSIZ]);
/* Creates the DNS server on first use and restores the recorded names. */
/* Creates (or adopts) a bridge with gateway/len up; fills b. */
int dp_bridge_create(struct engine *e, struct dp_bridge *b, const char *name, const struct ip_prefix *subnet,
		     char *err, size_t errlen);
void dp_bridge_destroy(struct engine *e, struct dp_bridge *b);
/* forget_identity: an explicit teardown_service_overlay (not a global teardown or prune). */
void dp_service_remove(struct engine *e, struct dp_service *s, bool forget_identity);
/* Forwarding: ip_forward snapshot once, IPv6 per device only (never conf.all). */
void dp_forwarding_enable(struct engine *e, const struct ip_addr *family_of, const char *dev);
void dp_forwarding_revert(struct engine *e);
void dp_forwarding_forget(struct engine *e, const char *dev); /* device deleted */
/*
 * Rewrites the firewall from the current membership. 0, also when nftables is
 * missing (warned once: the seed runs without rules then); < 0 when nft
 * refused the rules (logged; the previous rules stay).
 */
int dp_firewall_sync(struct engine *e);
/*
 * Whether the node has workloads whose traffic to non-cluster addresses is
 * masqueraded: bridges (services, the shared bridge), guests or host_shared
 * addresses. Without any, the firewall has no nat chain, so the namespace
 * pays no connection tracking; whoever adds the first or drops the last
 * syncs the firewall.
 */
bool dp_masquerade_wanted(const struct dp *dp);
/*
 * A guest or host_shared workload just recorded with an isolation network:
 * syncs the firewall; when that fails, detaches it again and fills resp with
 * the error (true), since an unfenced member must not stay attached.
 */
bool dp_fence_failed(struct engine *e, const char *what, const char *id,
		     void (*detach)(struct engine *, const char *, struct ovl_response *), struct ovl_response *resp);
/*
 * Appends guest or host_shared record g (its strings now owned by
 * dp->guests; room reserved by the caller), syncs the firewall when it is
 * the node's first workload and not fenced, commits.
 */
void dp_guest_record(struct engine *e, const struct state_dp_guest *g);
/* Drops guest record g (freed, removed from dp->guests), drains it from its isolation network, commits. */
void dp_guest_forget(struct engine *e, struct state_dp_guest *g);
/* Logs an error when subnet overlaps a peer's allowed IPs (cross-node registry collision). */
void dp_check_subnet_collision(struct engine *e, const struct ip_prefix *subnet, const char *what);

/* global.c */
int dp_global_bringup(struct engine *e, char *err, size_t errlen);
void dp_global_down(struct engine *e);
/* The built-in relay's part of nat_status (nothing when it does not run). */
void dp_relay_status(struct engine *e, struct ovl_res_nat_status *s);

/* service.c */
int dp_service_device_up(struct engine *e, struct dp_service *s, char *err, size_t errlen);

/* peers.c: installs a PeerSpec on a device (routes for dedicated devices). */
int dp_peer_install(struct engine *e, struct wg_device *dev, const char *route_dev, const struct ovl_peer_spec *p,
		    char *err, size_t errlen);
void dp_health_start(struct engine *e);
void dp_health_stop(struct engine *e);
/*
 * A dedicated device's peers get peer_health_changed events too: watch it once
 * it is up, unwatch it before wg_device_destroy().
 */
void dp_health_watch(struct engine *e, struct wg_device *dev);
void dp_health_unwatch(struct engine *e, struct wg_device *dev);

/*
 * reaper.c: a retired link leaves service at once (down, off its bridge, its
 * name free) and is deleted by a background thread, in batches;
 * dp_reaper_flush deletes every retired link now (teardown, recovery), and
 * dp_reaper_stop waits for the pending ones.
 */
void dp_reaper_retire(struct engine *e, const char *const *names, size_t n);
void dp_reaper_flush(struct engine *e);
void dp_reaper_stop(struct engine *e);
/* attach.c */
void dp_attach_release(struct engine *e, struct state_dp_attach *a, bool delete_links);
/* Re-creates a's links with its recorded addresses (recovery). 0, or -errno with err set and the links deleted. */
int dp_attach_replumb(struct engine *e, struct state_dp_attach *a, char *err, size_t errlen);
/*
 * Deletes container veths (veth-<pid>-s|g) whose process is gone and, with
 * unrecorded, also those of running processes that no recorded attachment
 * explains (restart recovery: remains of an attach that was never saved).
 */
void dp_sweep_orphan_veths(struct engine *e, bool unrecorded);

/* recover.c: re-adopts what the record says we own after a restart. */
void dp_recover(struct engine *e);

/* dp_record.c: e->st.dataplane -> the lists (at open), the lists -> e->st.dataplane (before each save). */
int dp_record_load(struct engine *e, char *err, size_t errlen);
int dp_record_store(struct engine *e); /* 0 or -ENOMEM (the previous record stays) */

#endif
