// SPDX-License-Identifier: MIT
/* prune_orphan_bridges and shutdown. */
#include "engine/dp.h"

#include <errno.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include "ipam/ifname.h"
#include "net/netlink.h"
#include "util/log.h"

struct prune_walk {
	char (*names)[IFNAMSIZ];
	size_t n;
	int err;
};

static int collect_candidates(const struct nl_link *l, void *arg)
{
	struct prune_walk *w = arg;
	void *n = realloc(w->names, (w->n + 1) * sizeof(*w->names));
	if (!n)
		return w->err = -1;
	w->names = n;
	memcpy(w->names[w->n++], l->name, IFNAMSIZ);
	return 0;
}

/*
 * The seed's rules: a zl-*-b / zl-*-d link that is neither live (the
 * orchestrator's list) nor protected (the global device, the shared bridge,
 * every dedicated device) is reclaimed once it has zero members.
 */
void engine_teardown_prune(struct engine *e, char *const *live, size_t nlive, struct ovl_response *resp)
{
	struct dp *dp = e->dp;
	memset(resp, 0, sizeof(*resp));
	resp->result = OVL_RES_PRUNED_BRIDGES;
	char err[256];
	if (!dp->up || dp_nl(e, &dp->nl, err, sizeof(err)) < 0)
		return;
	/* The periodic prune is also the backstop for veths of containers that died unseen. */
	dp_sweep_orphan_veths(e, false);
	const char **prot = calloc(dp->n_services + 2, sizeof(*prot));
	if (!prot) {
		ovl_response_err(resp, "prune_orphan_bridges: out of memory");
		return;
	}
	size_t np = 0;
	if (dp->has_device)
		prot[np++] = dp->gname;
	if (dp->has_shared)
		prot[np++] = dp->shared.name;
	for (size_t i = 0; i < dp->n_services; i++)
		if (dp->services[i].dedicated)
			prot[np++] = dp->services[i].dev_name;
	struct prune_walk w = { 0 };
	nl_link_list(dp->nl, collect_candidates, &w);
	char **out = NULL;
	size_t nout = 0;
	for (size_t i = 0; i < w.n; i++) {
		const char *name = w.names[i];
		if (!ipam_ifname_is_orphan(name, (const char *const *)live, nlive, prot, np))
			continue;
		int members = nl_bridge_member_count(dp->nl, name);
		if (members > 0)
			continue;
		/* Ours by record: drop the service that owned it, keeping state in sync. */
		struct dp_service *owner = NULL;
		for (size_t j = 0; j < dp->n_services && !owner; j++)
			if (!dp->services[j].on_shared && strcmp(dp->services[j].bridge.name, name) == 0)
				owner = &dp->services[j];
		if (owner)
			dp_service_remove(e, owner, true);
		else if (nl_link_delete(dp->nl, name) < 0)
			continue;
		log_info("prune_orphan_bridges: reclaimed %s", name);
		void *g = realloc(out, (nout + 1) * sizeof(*out));
		if (!g)
			break;
		out = g;
		if (!(out[nout] = strdup(name)))
			break;
		nout++;
	}
	free(w.names);
	free(prot);
	resp->pruned.names = out;
	resp->pruned.n = nout;
	if (nout) {
		dp_firewall_sync(e);
		dp_commit(e);
	}
}

void engine_teardown_shutdown(struct engine *e, struct ovl_response *resp)
{
	e->shutdown_requested = true;
	engine_global_teardown(e, resp);
}
