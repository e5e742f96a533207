/* SPDX-License-Identifier: MIT */
/* Engine internals shared by the per-family files; not for other modules. */
#ifndef OVL_ENGINE_PRIV_H
#define OVL_ENGINE_PRIV_H

#include "engine/engine.h"
#include "state/state.h"

struct engine {
	char *data_dir;
	char *state_path;
	struct ovl_state st;
	bool dirty; /* set by handlers that changed st; engine_handle persists it */
	bool shutdown_requested;

	/* Live data plane (engine/dp.h). */
	struct dp *dp;
	bool global_up;
	uint64_t nat_last_refresh;

	engine_event_fn event_fn;
	void *event_arg;
};

/* One handler per op, grouped by family (global.c, service.c, ...). */
void global_setup(struct engine *e, const struct ovl_req_setup_global *r, struct ovl_response *resp);
void global_teardown(struct engine *e, struct ovl_response *resp);
void service_setup(struct engine *e, const char *service, enum ovl_mode mode, struct ovl_response *resp);
void service_teardown(struct engine *e, const char *service, struct ovl_response *resp);
void addr_allocate(struct engine *e, const char *service, bool join_global, struct ovl_response *resp);
void addr_release(struct engine *e, const struct ip_addr *ip, struct ovl_response *resp);
void attach_container(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp);
void detach_container(struct engine *e, const struct ovl_handle *h, struct ovl_response *resp);
void guest_attach(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp);
void guest_detach(struct engine *e, const char *id, struct ovl_response *resp);
void hostshared_attach(struct engine *e, const struct ovl_req_attach *r, struct ovl_response *resp);
void hostshared_detach(struct engine *e, const char *id, struct ovl_response *resp);
void peers_add(struct engine *e, const struct ovl_peer_spec *p, const struct ovl_scope *s, struct ovl_response *resp);
void peers_remove(struct engine *e, const uint8_t key[WG_KEY_LEN], const struct ovl_scope *s,
		  struct ovl_response *resp);
void peers_allowed_ip(struct engine *e, bool add, const uint8_t key[WG_KEY_LEN], const struct ip_prefix *cidr,
		      const struct ovl_scope *s, struct ovl_response *resp);
void dns_register(struct engine *e, const char *name, const struct ip_addr *ip, struct ovl_response *resp);
void dns_unregister(struct engine *e, const char *name, struct ovl_response *resp);
void dns_scoped_resolver(struct engine *e, struct ovl_response *resp);
void status_snapshot(struct engine *e, struct ovl_response *resp);
void nat_tick(struct engine *e, struct ovl_response *resp);
void nat_status(struct engine *e, struct ovl_response *resp);
void teardown_prune(struct engine *e, char *const *live, size_t nlive, struct ovl_response *resp);
void teardown_shutdown(struct engine *e, struct ovl_response *resp);

static inline void resp_ok(struct ovl_response *resp)
{
	resp->result = OVL_RES_OK;
}

#endif
