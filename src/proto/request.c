// SPDX-License-Identifier: MIT
#include "proto/request.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[OVL_OP_COUNT_] = {
	[OVL_OP_SET_LOCAL_NODE_ID] = "set_local_node_id",
	[OVL_OP_SET_LOCAL_WG_PUBKEY] = "set_local_wg_pubkey",
	[OVL_OP_SETUP_GLOBAL_OVERLAY] = "setup_global_overlay",
	[OVL_OP_TEARDOWN_GLOBAL_OVERLAY] = "teardown_global_overlay",
	[OVL_OP_SETUP_SERVICE_OVERLAY] = "setup_service_overlay",
	[OVL_OP_TEARDOWN_SERVICE_OVERLAY] = "teardown_service_overlay",
	[OVL_OP_ALLOCATE_IP] = "allocate_ip",
	[OVL_OP_RELEASE_IP] = "release_ip",
	[OVL_OP_ATTACH_CONTAINER] = "attach_container",
	[OVL_OP_DETACH_CONTAINER] = "detach_container",
	[OVL_OP_ADD_PEER] = "add_peer",
	[OVL_OP_REMOVE_PEER] = "remove_peer",
	[OVL_OP_ADD_ALLOWED_IP] = "add_allowed_ip",
	[OVL_OP_REMOVE_ALLOWED_IP] = "remove_allowed_ip",
	[OVL_OP_REGISTER_DNS] = "register_dns",
	[OVL_OP_UNREGISTER_DNS] = "unregister_dns",
	[OVL_OP_WRITE_SCOPED_RESOLVER] = "write_scoped_resolver",
	[OVL_OP_REMOVE_SCOPED_RESOLVER] = "remove_scoped_resolver",
	[OVL_OP_PRUNE_ORPHAN_BRIDGES] = "prune_orphan_bridges",
	[OVL_OP_STATUS] = "status",
	[OVL_OP_NAT_TICK] = "nat_tick",
	[OVL_OP_NAT_STATUS] = "nat_status",
	[OVL_OP_SHUTDOWN] = "shutdown",
};

const char *ovl_op_name(enum ovl_op op)
{
	return (unsigned)op < OVL_OP_COUNT_ ? op_names[op] : NULL;
}

int ovl_op_parse(const char *name, enum ovl_op *out)
{
	for (int i = 0; i < OVL_OP_COUNT_; i++) {
		if (strcmp(name, op_names[i]) == 0) {
			*out = (enum ovl_op)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void ovl_request_free(struct ovl_request *r)
{
	switch (r->op) {
	case OVL_OP_SETUP_GLOBAL_OVERLAY:
		free(r->setup_global.deployment);
		free(r->setup_global.instance_id);
		ovl_nat_config_free(&r->setup_global.nat);
		explicit_bzero(r->setup_global.private_key, WG_KEY_LEN);
		break;
	case OVL_OP_SETUP_SERVICE_OVERLAY:
		free(r->setup_service.service);
		break;
	case OVL_OP_TEARDOWN_SERVICE_OVERLAY:
		free(r->teardown_service.service);
		break;
	case OVL_OP_ALLOCATE_IP:
		free(r->allocate_ip.service);
		break;
	case OVL_OP_ATTACH_CONTAINER:
		free(r->attach.handle.id);
		free(r->attach.service);
		free(r->attach.dns_domain);
		free(r->attach.isolation_network);
		break;
	case OVL_OP_DETACH_CONTAINER:
		free(r->detach.handle.id);
		break;
	case OVL_OP_ADD_PEER:
		ovl_peer_spec_free(&r->add_peer.peer);
		free(r->add_peer.scope.service);
		break;
	case OVL_OP_REMOVE_PEER:
		free(r->remove_peer.scope.service);
		break;
	case OVL_OP_ADD_ALLOWED_IP:
	case OVL_OP_REMOVE_ALLOWED_IP:
		free(r->allowed_ip.scope.service);
		break;
	case OVL_OP_REGISTER_DNS:
		free(r->register_dns.name);
		break;
	case OVL_OP_UNREGISTER_DNS:
		free(r->unregister_dns.name);
		break;
	case OVL_OP_WRITE_SCOPED_RESOLVER:
		free(r->write_resolver.zone);
		break;
	case OVL_OP_REMOVE_SCOPED_RESOLVER:
		free(r->remove_resolver.zone);
		break;
	case OVL_OP_PRUNE_ORPHAN_BRIDGES:
		free_strv(r->prune.names, r->prune.n);
		break;
	default:
		break;
	}
	memset(r, 0, sizeof(*r));
}

void ovl_cluster_status_free(struct ovl_cluster_status *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_members; i++)
		free(c->members[i].id);
	free(c->members);
	free(c->node_id);
	free(c);
}

void ovl_response_free(struct ovl_response *r)
{
	switch (r->result) {
	case OVL_RES_ERR:
		free(r->message);
		break;
	case OVL_RES_BRIDGE_NAME:
		free(r->name);
		break;
	case OVL_RES_SERVICE_OVERLAY:
		free(r->service_overlay.name);
		break;
	case OVL_RES_GUEST_CONFIG:
		for (size_t i = 0; i < r->guest_config.n_peers; i++)
			ovl_peer_spec_free(&r->guest_config.peers[i]);
		free(r->guest_config.peers);
		free(r->guest_config.dns_domain);
		explicit_bzero(r->guest_config.private_key, WG_KEY_LEN);
		break;
	case OVL_RES_PRUNED_BRIDGES:
		free_strv(r->pruned.names, r->pruned.n);
		break;
	case OVL_RES_STATUS:
		free(r->status.interface);
		free(r->status.degraded);
		for (size_t i = 0; i < r->status.n_peers; i++)
			free(r->status.peers[i].allowed_ips);
		free(r->status.peers);
		for (size_t i = 0; i < r->status.n_dedicated; i++) {
			free(r->status.dedicated[i].service);
			free(r->status.dedicated[i].interface);
		}
		free(r->status.dedicated);
		for (size_t i = 0; i < r->status.n_services; i++) {
			free(r->status.services[i].service);
			free(r->status.services[i].bridge);
		}
		free(r->status.services);
		for (size_t i = 0; i < r->status.n_attachments; i++) {
			free(r->status.attachments[i].handle.id);
			free(r->status.attachments[i].service);
		}
		free(r->status.attachments);
		ovl_cluster_status_free(r->status.cluster);
		break;
	case OVL_RES_NAT_STATUS:
		free(r->nat_status.candidates);
		free(r->nat_status.peers);
		free(r->nat_status.turn_servers);
		break;
	default:
		break;
	}
	memset(r, 0, sizeof(*r));
}

void ovl_response_err(struct ovl_response *r, const char *fmt, ...)
{
	va_list ap;
	memset(r, 0, sizeof(*r));
	r->result = OVL_RES_ERR;
	va_start(ap, fmt);
	if (vasprintf(&r->message, fmt, ap) < 0)
		r->message = NULL; /* the encoder reports a generic message */
	va_end(ap);
}

const char *ovl_connection_type_name(enum ovl_connection_type t)
{
	switch (t) {
	case OVL_CONN_DIRECT:
		return "direct";
	case OVL_CONN_HOLE_PUNCHED:
		return "hole-punched";
	case OVL_CONN_RELAYED:
		return "relayed";
	}
	return "direct";
}
