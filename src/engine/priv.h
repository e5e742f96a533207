/* SPDX-License-Identifier: MIT */
/* Engine internals shared by the per-family files; not for other modules. */
#ifndef OVL_ENGINE_PRIV_H
#define OVL_ENGINE_PRIV_H

#include "dns/dns.h"
#include "dns/name.h"
#include "engine/counters.h"
#include "engine/engine.h"
#include "state/journal.h"
#include "state/state.h"

struct engine {
	char *data_dir;
	char *state_path;
	char *journal_path;
	struct ovl_state st;
	bool dirty;	  /* set by handlers that changed st beyond what they journaled, during one request */
	bool journaled;	  /* set by handlers that added their change to jbatch, during one request */
	bool unsaved;	  /* st differs from state.json and its journal */
	bool snapshot_due; /* a change not in jbatch is unsaved: the next save writes state.json */
	/*
	 * The state journal (state/journal.h): an attach or detach is appended
	 * as a record instead of rewriting state.json; jbatch holds the batch's
	 * records until its save.
	 */
	struct state_journal journal;
	struct state_journal_batch jbatch;
	uint64_t snapshot_size; /* of state.json when last written: the journal may grow as large */
	bool shutdown_requested;

	/* Live data plane (engine/dp.h). */
	struct dp *dp;
	bool global_up;
	uint64_t nat_last_refresh;
	struct nat_agent *nat; /* NAT traversal (nat.h); NULL unless enabled and the device is up */

	/*
	 * Overlay DNS (dns.c). dns is NULL when disabled or when it could not
	 * start; the zone and the records are kept in st either way.
	 */
	struct dns_server *dns;
	struct dns_name dns_zone;  /* the zone in effect, for name checks */
	bool dns_node_listening;   /* we opened dns_node_ep (engine_dns_listen_node) */
	struct ip_endpoint dns_node_ep;
	/* An operator's --dns-listen on 0.0.0.0:53 / [::]:53 already serves every node address. */
	bool dns_wildcard53_v4, dns_wildcard53_v6;

	engine_event_fn event_fn;
	void *event_arg;

	/* Metrics (metrics.c): held by every request while it runs, and by a scrape while it copies. */
	pthread_mutex_t view_lock;
	struct engine_counters counters;
};

/* One handler per op, grouped by family (global.c, service.c, ...). */
void engine_global_setup(struct engine *e, const struct ovl_req_setup_global *r, struct ovl_response *resp);
void engine_global_teardown(struct engine *e, struct ovl_response *resp);
/* want: the subnet cluster mode claimed (NULL = the registry carves one). */
void engine_service_setup(struct engine *e, const char *service, enum ovl_mode mode, const struct ip_prefix *want,
			  struct ovl_response *resp);
void engine_service_teardown(struct engine *e, const char *service, struct ovl_response *resp);
void engine_addr_allocate(struct engine *e, const char *service, bool join_global, struct ovl_response *resp);
void engine_addr_release(struct engine *e, const struct ip_addr *ip, struct ovl_response *resp);
void engine_attach_container(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp);
void engine_detach_container(struct engine *e, const struct ovl_handle *h, struct ovl_response *resp);
void engine_guest_attach(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp);
void engine_guest_detach(struct engine *e, const char *id, struct ovl_response *resp);
void engine_hostshared_attach(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp);
void engine_hostshared_detach(struct engine *e, const char *id, struct ovl_response *resp);
void engine_peers_add(struct engine *e, const struct ovl_peer_spec *p, const struct ovl_scope *s, struct ovl_response *resp);
void engine_peers_remove(struct engine *e, const uint8_t key[WG_KEY_LEN], const struct ovl_scope *s,
		  struct ovl_response *resp);
void engine_peers_allowed_ip(struct engine *e, bool add, const uint8_t key[WG_KEY_LEN], const struct ip_prefix *cidr,
		      const struct ovl_scope *s, struct ovl_response *resp);
void engine_dns_register(struct engine *e, const char *name, const struct ip_addr *ip, struct ovl_response *resp);
void engine_dns_unregister(struct engine *e, const char *name, struct ovl_response *resp);
void engine_dns_scoped_resolver(struct engine *e, struct ovl_response *resp);

/* DNS server lifetime, called by engine_open / engine_teardown / engine_close. */
int engine_dns_start(struct engine *e, const struct engine_dns_config *cfg, char *err, size_t errlen);
void engine_dns_stop(struct engine *e);
/*
 * Sets the overlay zone (an attach's dns_domain): relative names follow it,
 * and the state records it (marks e->dirty when it changed). 0, -EINVAL for
 * a malformed zone or one too long for a registered relative name (nothing
 * changes then), or -ENOMEM.
 */
int engine_dns_set_zone(struct engine *e, const char *zone);
/*
 * UDP + TCP on <node_ip>:53, for setup_global_overlay; a previous node
 * listener moves. 0 (also when DNS is disabled, or when an operator's
 * --dns-listen already serves that address, exactly or as a wildcard on
 * port 53) or -errno from the bind
 * (-EADDRNOTAVAIL when node_ip is not on an interface yet, -EACCES without
 * CAP_NET_BIND_SERVICE).
 */
int engine_dns_listen_node(struct engine *e, const struct ip_addr *node_ip);
/* Closes the node listener (teardown). Idempotent. */
void engine_dns_unlisten_node(struct engine *e);
void engine_status_snapshot(struct engine *e, struct ovl_response *resp);
/*
 * For status.c and metrics.c. The health job's last verdicts on the global
 * device's peers, copied and sorted once for many lookups (a peer not judged
 * yet is unhealthy); and one service's status entry (pool use, attachments).
 */
struct dp;
struct dp_health;
struct dp_service;
struct engine_status_health {
	struct dp_health *v;
	size_t n;
};
int engine_status_health_take(struct dp *dp, struct engine_status_health *h); /* 0 or -ENOMEM */
/* The health job's verdict on key: 1 healthy, 0 unhealthy, -1 not judged yet. */
int engine_status_health_of(const struct engine_status_health *h, const uint8_t key[WG_KEY_LEN]);
void engine_status_health_free(struct engine_status_health *h);
int engine_status_service_fill(struct dp *dp, struct dp_service *v, struct ovl_service_status *o);
void engine_nat_tick(struct engine *e, struct ovl_response *resp);
void engine_nat_status(struct engine *e, struct ovl_response *resp);
void engine_teardown_prune(struct engine *e, char *const *live, size_t nlive, struct ovl_response *resp);
void engine_teardown_shutdown(struct engine *e, struct ovl_response *resp);

static inline void resp_ok(struct ovl_response *resp)
{
	resp->result = OVL_RES_OK;
}

#endif
