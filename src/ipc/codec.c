// SPDX-License-Identifier: MIT
#include "ipc/codec.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/attachments.h"
#include "ipc/bounds.h"
#include "state/model_json.h"

/* ---------------------------------------------------------------- decoding */

/* A string field copied to the heap, not empty when required; 1 = absent (optional). */
static int dup_str(const json_t *o, const char *key, bool required, char **out, char *err, size_t errlen)
{
	int r = mj_string_dup(o, key, required, out, err, errlen);
	if (r == 0 && required && !**out) {
		free(*out);
		*out = NULL;
		snprintf(err, errlen, "field `%s`: must not be empty", key);
		return -EINVAL;
	}
	return r;
}

static int decode_scope(const json_t *o, struct ovl_scope *s, char *err, size_t errlen)
{
	json_t *sc;
	const char *tag;
	s->service = NULL;
	int r = mj_object(o, "scope", false, &sc, err, errlen);
	if (r)
		return r > 0 ? 0 : r; /* absent = global */
	char sub[200];
	if (mj_string(sc, "scope", true, &tag, sub, sizeof(sub)) < 0) {
		snprintf(err, errlen, "field `scope`: %s", sub);
		return -EINVAL;
	}
	if (strcmp(tag, "global") == 0)
		return 0;
	if (strcmp(tag, "service") == 0) {
		if (dup_str(sc, "service", true, &s->service, sub, sizeof(sub)) < 0) {
			snprintf(err, errlen, "field `scope`: %s", sub);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(err, errlen, "field `scope`: unknown scope \"%.40s\" (expected global or service)", tag);
	return -EINVAL;
}

static int decode_handle(const json_t *o, struct ovl_handle *h, char *err, size_t errlen)
{
	json_t *ho;
	const char *platform;
	char sub[200];
	memset(h, 0, sizeof(*h));
	if (mj_object(o, "handle", true, &ho, err, errlen) < 0)
		return -EINVAL;
	if (mj_string(ho, "platform", true, &platform, sub, sizeof(sub)) < 0)
		goto bad;
	if (strcmp(platform, "linux_pid") == 0) {
		h->platform = OVL_HANDLE_LINUX_PID;
		if (mj_u32(ho, "pid", true, &h->pid, sub, sizeof(sub)) < 0)
			goto bad;
		if (h->pid == 0) {
			snprintf(err, errlen, "field `handle`: pid must be > 0");
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(platform, "host_shared") == 0 || strcmp(platform, "guest_managed") == 0) {
		h->platform = platform[0] == 'h' ? OVL_HANDLE_HOST_SHARED : OVL_HANDLE_GUEST_MANAGED;
		if (dup_str(ho, "id", true, &h->id, sub, sizeof(sub)) < 0)
			goto bad;
		return 0;
	}
	if (strcmp(platform, "windows_container") == 0) {
		snprintf(err, errlen, "field `handle`: windows_container handles are not supported on Linux");
		return -EINVAL;
	}
	snprintf(err, errlen,
		 "field `handle`: unknown platform \"%.40s\" (expected linux_pid, host_shared or guest_managed)",
		 platform);
	return -EINVAL;
bad:
	snprintf(err, errlen, "field `handle`: %s", sub);
	return -EINVAL;
}

static int decode_setup_global(const json_t *o, struct ovl_req_setup_global *g, char *err, size_t errlen)
{
	json_t *nat;
	int r;
	if (dup_str(o, "deployment", true, &g->deployment, err, errlen) < 0 ||
	    dup_str(o, "instance_id", true, &g->instance_id, err, errlen) < 0 ||
	    mj_prefix(o, "cluster_cidr", true, &g->cluster_cidr, err, errlen) < 0 ||
	    mj_u16(o, "wg_port", false, &g->wg_port, err, errlen) < 0 ||
	    mj_bool(o, "host_adapter_mandatory", false, &g->host_adapter_mandatory, err, errlen) < 0)
		return -EINVAL;
	if ((r = mj_prefix(o, "slice_cidr", false, &g->slice_cidr, err, errlen)) < 0)
		return r;
	g->has_slice_cidr = r == 0;
	if ((r = mj_bool(o, "nat_enabled", false, &g->nat_enabled, err, errlen)) < 0)
		return r;
	g->has_nat_enabled = r == 0;
	if ((r = mj_key(o, "private_key", false, g->private_key, err, errlen)) < 0)
		return r;
	g->has_private_key = r == 0;
	if ((r = mj_object(o, "nat", false, &nat, err, errlen)) < 0)
		return r;
	if (r == 0) {
		char sub[200];
		if (mj_nat_from_json(nat, &g->nat, sub, sizeof(sub)) < 0) {
			snprintf(err, errlen, "field `nat`: %s", sub);
			return -EINVAL;
		}
		g->has_nat = true;
	}
	if (g->has_slice_cidr) {
		struct ip_prefix s = ip_prefix_network(&g->slice_cidr);
		if (s.addr.family != g->cluster_cidr.addr.family || s.len < g->cluster_cidr.len ||
		    !ip_prefix_contains(&g->cluster_cidr, &s.addr)) {
			snprintf(err, errlen, "field `slice_cidr`: must lie inside cluster_cidr");
			return -EINVAL;
		}
	}
	return 0;
}

static int decode_prune(const json_t *o, struct ovl_request *q, char *err, size_t errlen)
{
	json_t *arr;
	if (mj_array(o, "live_bridge_names", true, &arr, err, errlen) < 0)
		return -EINVAL;
	size_t n = json_array_size(arr);
	q->prune.names = n ? calloc(n, sizeof(char *)) : NULL;
	if (n && !q->prune.names) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_string(v)) {
			snprintf(err, errlen, "field `live_bridge_names[%zu]`: expected a string", i);
			return -EINVAL;
		}
		q->prune.names[i] = strdup(json_string_value(v));
		if (!q->prune.names[i]) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		q->prune.n++;
	}
	return 0;
}

/* Per-op field decoding; on error the partially filled request is freed by the caller. */
static int decode_op(const json_t *o, struct ovl_request *q, char *err, size_t errlen)
{
	const char *mode;
	int r;
	switch (q->op) {
	case OVL_OP_SET_LOCAL_NODE_ID:
		return mj_u64(o, "node_id", true, &q->set_local_node_id.node_id, err, errlen);
	case OVL_OP_SET_LOCAL_WG_PUBKEY:
		return mj_key(o, "pubkey", true, q->set_local_wg_pubkey.pubkey, err, errlen);
	case OVL_OP_SETUP_GLOBAL_OVERLAY:
		return decode_setup_global(o, &q->setup_global, err, errlen);
	case OVL_OP_SETUP_SERVICE_OVERLAY:
		if ((r = dup_str(o, "service", true, &q->setup_service.service, err, errlen)) < 0 ||
		    (r = mj_string(o, "mode", true, &mode, err, errlen)) < 0)
			return r;
		if (ovl_mode_parse(mode, &q->setup_service.mode) < 0) {
			snprintf(err, errlen,
				 "field `mode`: unknown mode \"%.40s\" (expected auto, shared, dedicated or isolated)",
				 mode);
			return -EINVAL;
		}
		return 0;
	case OVL_OP_TEARDOWN_SERVICE_OVERLAY:
		return dup_str(o, "service", true, &q->teardown_service.service, err, errlen);
	case OVL_OP_ALLOCATE_IP:
		if ((r = dup_str(o, "service", true, &q->allocate_ip.service, err, errlen)) < 0)
			return r;
		return mj_bool(o, "join_global", true, &q->allocate_ip.join_global, err, errlen);
	case OVL_OP_RELEASE_IP:
		return mj_ip(o, "ip", true, &q->release_ip.ip, err, errlen);
	case OVL_OP_ATTACH_CONTAINER: {
		struct ovl_req_attach *a = &q->attach;
		if ((r = decode_handle(o, &a->handle, err, errlen)) < 0 ||
		    (r = dup_str(o, "service", true, &a->service, err, errlen)) < 0 ||
		    (r = mj_bool(o, "join_global", true, &a->join_global, err, errlen)) < 0 ||
		    (r = mj_bool(o, "ephemeral", false, &a->ephemeral, err, errlen)) < 0 ||
		    (r = dup_str(o, "dns_domain", false, &a->dns_domain, err, errlen)) < 0 ||
		    (r = dup_str(o, "isolation_network", false, &a->isolation_network, err, errlen)) < 0)
			return r;
		if ((r = mj_ip(o, "dns_server", false, &a->dns_server, err, errlen)) < 0)
			return r;
		a->has_dns_server = r == 0;
		return 0;
	}
	case OVL_OP_DETACH_CONTAINER:
		return decode_handle(o, &q->detach.handle, err, errlen);
	case OVL_OP_ADD_PEER:
		if ((r = mj_peer_from_json(o, &q->add_peer.peer, err, errlen)) < 0)
			return r;
		return decode_scope(o, &q->add_peer.scope, err, errlen);
	case OVL_OP_REMOVE_PEER:
		if ((r = mj_key(o, "pubkey", true, q->remove_peer.pubkey, err, errlen)) < 0)
			return r;
		return decode_scope(o, &q->remove_peer.scope, err, errlen);
	case OVL_OP_ADD_ALLOWED_IP:
	case OVL_OP_REMOVE_ALLOWED_IP:
		if ((r = mj_key(o, "pubkey", true, q->allowed_ip.pubkey, err, errlen)) < 0 ||
		    (r = mj_prefix(o, "cidr", true, &q->allowed_ip.cidr, err, errlen)) < 0)
			return r;
		return decode_scope(o, &q->allowed_ip.scope, err, errlen);
	case OVL_OP_REGISTER_DNS:
		if ((r = dup_str(o, "name", true, &q->register_dns.name, err, errlen)) < 0)
			return r;
		return mj_ip(o, "ip", true, &q->register_dns.ip, err, errlen);
	case OVL_OP_UNREGISTER_DNS:
		return dup_str(o, "name", true, &q->unregister_dns.name, err, errlen);
	case OVL_OP_WRITE_SCOPED_RESOLVER:
		if ((r = dup_str(o, "zone", true, &q->write_resolver.zone, err, errlen)) < 0 ||
		    (r = mj_ip(o, "node_ip", true, &q->write_resolver.node_ip, err, errlen)) < 0)
			return r;
		return mj_u16(o, "port", true, &q->write_resolver.port, err, errlen);
	case OVL_OP_REMOVE_SCOPED_RESOLVER:
		return dup_str(o, "zone", true, &q->remove_resolver.zone, err, errlen);
	case OVL_OP_PRUNE_ORPHAN_BRIDGES:
		return decode_prune(o, q, err, errlen);
	case OVL_OP_TEARDOWN_GLOBAL_OVERLAY:
	case OVL_OP_STATUS:
	case OVL_OP_NAT_TICK:
	case OVL_OP_NAT_STATUS:
	case OVL_OP_SHUTDOWN:
	case OVL_OP_COUNT_:
		return 0;
	}
	return 0;
}

enum codec_result codec_decode_request(const char *body, size_t len, uint64_t *id, struct ovl_request *req,
				       char *err, size_t errlen)
{
	json_error_t jerr;
	memset(req, 0, sizeof(*req));
	*id = 0;
	if (!ipc_frame_within_bounds(body, len, err, errlen))
		return CODEC_BAD_FRAME;
	/* jansson rejects invalid UTF-8 by itself. */
	json_t *root = json_loadb(body, len, 0, &jerr);
	if (!root) {
		snprintf(err, errlen, "invalid JSON frame: %s (at byte %d)", jerr.text, jerr.position);
		return CODEC_BAD_FRAME;
	}
	enum codec_result res = CODEC_BAD_FRAME;
	json_t *jid = json_object_get(root, "id");
	if (!json_is_object(root)) {
		snprintf(err, errlen, "invalid frame: expected a JSON object");
		goto out;
	}
	if (!json_is_integer(jid) || json_integer_value(jid) < 0) {
		snprintf(err, errlen, "invalid frame: missing or invalid `id` (expected an unsigned integer)");
		goto out;
	}
	*id = (uint64_t)json_integer_value(jid);
	res = CODEC_BAD_REQUEST;

	const char *frame, *op;
	json_t *rq;
	char sub[300];
	if (mj_string(root, "frame", true, &frame, err, errlen) < 0)
		goto out;
	if (strcmp(frame, "request") != 0) {
		snprintf(err, errlen, "invalid frame: `frame` must be \"request\", got \"%.40s\"", frame);
		goto out;
	}
	if (mj_object(root, "request", true, &rq, err, errlen) < 0)
		goto out;
	if (mj_string(rq, "op", true, &op, err, errlen) < 0)
		goto out;
	if (ovl_op_parse(op, &req->op) < 0) {
		snprintf(err, errlen, "unknown op \"%.60s\"", op);
		goto out;
	}
	sub[0] = '\0';
	if (decode_op(rq, req, sub, sizeof(sub)) < 0) {
		snprintf(err, errlen, "%s: %s", op, sub);
		ovl_request_free(req);
		goto out;
	}
	res = CODEC_OK;
out:
	json_decref(root);
	return res;
}

/* ---------------------------------------------------------------- encoding */

/*
 * A JSON string that is always valid UTF-8: error messages quote client
 * input cut to a length, which can split a multi-byte character.
 */
static json_t *safe_string(const char *s)
{
	json_t *v = json_string(s);
	if (v)
		return v;
	char *copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

/* One pass (json_dumpb would encode twice: once to size the buffer); NUL-terminated for callers that print it. */
static char *dump(json_t *o, size_t *len)
{
	if (!o)
		return NULL;
	char *buf = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	*len = buf ? strlen(buf) : 0;
	return buf;
}

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* Extension "cluster": {"node_id", "connected", "store_requests", "members": [...]}. */
static int encode_cluster(json_t *o, const struct ovl_cluster_status *c)
{
	json_t *cl = json_object(), *a = json_array();
	if (mj_set_new(o, "cluster", cl) < 0 || mj_set_new(cl, "members", a) < 0 ||
	    mj_set_new(cl, "node_id", json_string(c->node_id ? c->node_id : "")) < 0 ||
	    mj_set_new(cl, "connected", json_boolean(c->connected)) < 0 ||
	    mj_set_new(cl, "store_requests", json_integer((json_int_t)c->store_requests)) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_members; i++) {
		const struct ovl_cluster_member *m = &c->members[i];
		char ep[IP_ENDPOINT_STRLEN];
		json_t *e = json_object();
		if (json_array_append_new(a, e) < 0 || mj_set_new(e, "node_id", json_string(m->id)) < 0 ||
		    mj_set_new(e, "self", json_boolean(m->self)) < 0 ||
		    mj_set_new(e, "public_key", mj_key_string(m->public_key)) < 0 ||
		    mj_set_new(e, "endpoint", json_string(ip_endpoint_format(&m->endpoint, ep, sizeof(ep)))) < 0 ||
		    mj_set_new(e, "slice", mj_prefix_string(&m->slice)) < 0 ||
		    mj_set_new(e, "last_seen_unix_secs", json_integer((json_int_t)m->last_seen_unix_secs)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int encode_status(json_t *o, const struct ovl_res_status *s)
{
	if ((s->interface && mj_set_new(o, "interface", json_string(s->interface)) < 0) ||
	    (s->has_node_ip && mj_set_new(o, "node_ip", mj_ip_string(&s->node_ip)) < 0) ||
	    (s->has_public_key && mj_set_new(o, "public_key", mj_key_string(s->public_key)) < 0) ||
	    (s->has_overlay_cidr && mj_set_new(o, "overlay_cidr", mj_prefix_string(&s->overlay_cidr)) < 0) ||
	    (s->has_slice_cidr && mj_set_new(o, "slice_cidr", mj_prefix_string(&s->slice_cidr)) < 0) ||
	    mj_set_new(o, "peer_count", json_integer(s->peer_count)) < 0 ||
	    mj_set_new(o, "service_count", json_integer(s->service_count)) < 0)
		return -ENOMEM;
	if (s->n_peers) {
		json_t *a = json_array();
		if (mj_set_new(o, "peers", a) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_peers; i++) {
			const struct ovl_peer_status *p = &s->peers[i];
			char ep[IP_ENDPOINT_STRLEN] = "";
			if (p->has_endpoint)
				ip_endpoint_format(&p->endpoint, ep, sizeof(ep));
			json_t *e = json_object();
			if (json_array_append_new(a, e) < 0 || mj_set_new(e, "public_key", mj_key_string(p->public_key)) < 0 ||
			    mj_set_new(e, "endpoint", json_string(ep)) < 0 ||
			    mj_set_new(e, "allowed_ips", json_string(p->allowed_ips ? p->allowed_ips : "")) < 0 ||
			    mj_set_new(e, "last_handshake_unix_secs", json_integer((json_int_t)p->last_handshake_unix_secs)) <
				    0 ||
			    mj_set_new(e, "rx_bytes", json_integer((json_int_t)p->rx_bytes)) < 0 || /* extension */
			    mj_set_new(e, "tx_bytes", json_integer((json_int_t)p->tx_bytes)) < 0 ||
			    (p->has_health && mj_set_new(e, "healthy", json_boolean(p->healthy)) < 0))
				return -ENOMEM;
		}
	}
	if (s->n_dedicated) {
		json_t *a = json_array();
		if (mj_set_new(o, "dedicated_services", a) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_dedicated; i++) {
			const struct ovl_dedicated_status *d = &s->dedicated[i];
			json_t *e = json_object();
			if (json_array_append_new(a, e) < 0 || mj_set_new(e, "service", json_string(d->service)) < 0 ||
			    mj_set_new(e, "interface", json_string(d->interface)) < 0 ||
			    mj_set_new(e, "public_key", mj_key_string(d->public_key)) < 0 ||
			    mj_set_new(e, "listen_port", json_integer(d->listen_port)) < 0 ||
			    mj_set_new(e, "overlay_ip", mj_ip_string(&d->overlay_ip)) < 0 ||
			    mj_set_new(e, "subnet", mj_prefix_string(&d->subnet)) < 0 ||
			    mj_set_new(e, "peer_count", json_integer(d->peer_count)) < 0)
				return -ENOMEM;
		}
	}
	if (s->degraded && (mj_set_new(o, "degraded", json_true()) < 0 || /* extension */
			    mj_set_new(o, "degraded_reason", json_string(s->degraded)) < 0))
		return -ENOMEM;
	if (s->n_services) { /* extension */
		json_t *a = json_array();
		if (mj_set_new(o, "services", a) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_services; i++) {
			const struct ovl_service_status *v = &s->services[i];
			json_t *e = json_object();
			if (json_array_append_new(a, e) < 0 || mj_set_new(e, "service", json_string(v->service)) < 0 ||
			    mj_set_new(e, "mode", json_string(ovl_mode_name(v->mode))) < 0 ||
			    mj_set_new(e, "bridge", json_string(v->bridge)) < 0 ||
			    mj_set_new(e, "subnet", mj_prefix_string(&v->subnet)) < 0 ||
			    mj_set_new(e, "pool_size", json_integer((json_int_t)v->pool_size)) < 0 ||
			    mj_set_new(e, "addresses_in_use", json_integer((json_int_t)v->addresses_in_use)) < 0 ||
			    mj_set_new(e, "attached", json_integer(v->attached)) < 0)
				return -ENOMEM;
		}
	}
	/* Extension; its text is added to the encoded answer, often from a cache (ipc/attachments.h). */
	if (s->n_attachments && mj_set_new(o, "attachments", json_null()) < 0)
		return -ENOMEM;
	return s->cluster ? encode_cluster(o, s->cluster) : 0;
}

/* "turn_servers": each configured TURN server's allocation (extension; no credentials). */
static int encode_turn_servers(json_t *o, const struct ovl_res_nat_status *s)
{
	json_t *list;
	if (!s->n_turn_servers)
		return 0;
	list = json_array();
	if (mj_set_new(o, "turn_servers", list) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_turn_servers; i++) {
		const struct ovl_nat_turn_server *t = &s->turn_servers[i];
		char ep[IP_ENDPOINT_STRLEN];
		json_t *e = json_object();
		if (json_array_append_new(list, e) < 0 || mj_set_new(e, "addr", json_string(t->addr)) < 0 ||
		    mj_set_new(e, "state", json_string(t->state)) < 0 ||
		    mj_set_new(e, "relayed_address",
			       t->has_relayed ? json_string(ip_endpoint_format(&t->relayed, ep, sizeof(ep)))
					      : json_null()) < 0 ||
		    mj_set_new(e, "error", t->error[0] ? json_string(t->error) : json_null()) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* "relay_server": the built-in relay this node runs (extension; never its credential). */
static int encode_relay_server(json_t *o, const struct ovl_nat_relay_server *r)
{
	json_t *v = json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "listen_port",
			      (int)r->listen_port, "external_addr", r->external_addr, "max_sessions",
			      (json_int_t)r->max_sessions, "max_sessions_per_client",
			      (json_int_t)r->max_sessions_per_client, "allocations", (json_int_t)r->allocations,
			      "allocations_made", (json_int_t)r->allocations_made, "refused_quota",
			      (json_int_t)r->refused_quota, "refused_capacity", (json_int_t)r->refused_capacity,
			      "auth_failures", (json_int_t)r->auth_failures, "stale_nonces", (json_int_t)r->stale_nonces,
			      "to_peers", (json_int_t)r->to_peers, "to_clients", (json_int_t)r->to_clients,
			      "dropped_no_permission", (json_int_t)r->dropped_no_permission, "dropped_fair_share",
			      (json_int_t)r->dropped_fair_share);
	return mj_set_new(o, "relay_server", v);
}

static int encode_nat_status(json_t *o, const struct ovl_res_nat_status *s)
{
	json_t *c = json_array(), *p = json_array();
	if (mj_set_new(o, "candidates", c) < 0 || mj_set_new(o, "peers", p) < 0 ||
	    mj_set_new(o, "last_refresh", json_integer((json_int_t)s->last_refresh)) < 0 ||
	    (s->mapping && mj_set_new(o, "mapping", json_string(s->mapping)) < 0) ||
	    (s->mapping &&
	     mj_set_new(o, "stun",
			json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "malformed", (json_int_t)s->stun_malformed,
				  "unknown_server", (json_int_t)s->stun_unknown_server, "unknown_transaction",
				  (json_int_t)s->stun_unknown_txn, "error_responses", (json_int_t)s->stun_errors,
				  "timeouts", (json_int_t)s->stun_timeouts, "not_stun",
				  (json_int_t)s->rx_not_stun)) < 0))
		return -ENOMEM;
	for (size_t i = 0; i < s->n_candidates; i++)
		if (json_array_append_new(c, mj_candidate_to_json(&s->candidates[i])) < 0)
			return -ENOMEM;
	if (encode_turn_servers(o, s) < 0 || (s->has_relay_server && encode_relay_server(o, &s->relay_server) < 0))
		return -ENOMEM;
	for (size_t i = 0; i < s->n_peers; i++) {
		const struct ovl_nat_peer *np = &s->peers[i];
		json_t *e = json_object();
		char ep[IP_ENDPOINT_STRLEN];
		if (json_array_append_new(p, e) < 0 || mj_set_new(e, "node_id", mj_key_string(np->public_key)) < 0 ||
		    mj_set_new(e, "connection_type", json_string(ovl_connection_type_name(np->connection_type))) < 0 ||
		    (np->has_remote_endpoint &&
		     mj_set_new(e, "remote_endpoint",
				json_string(ip_endpoint_format(&np->remote_endpoint, ep, sizeof(ep)))) < 0) ||
		    (np->state && (mj_set_new(e, "connected", json_boolean(np->connected)) < 0 ||
				   mj_set_new(e, "state", json_string(np->state)) < 0)))
			return -ENOMEM;
		if (np->n_peer_reflexive) {
			json_t *prflx = json_array();
			if (mj_set_new(e, "peer_reflexive", prflx) < 0)
				return -ENOMEM;
			for (size_t j = 0; j < np->n_peer_reflexive; j++)
				if (json_array_append_new(prflx, mj_candidate_to_json(&np->peer_reflexive[j])) < 0)
					return -ENOMEM;
		}
	}
	return 0;
}

static int encode_guest(json_t *o, const struct ovl_res_guest_config *g)
{
	json_t *peers = json_array();
	if (mj_set_new(o, "overlay_ip", mj_ip_string(&g->overlay_ip)) < 0 ||
	    mj_set_new(o, "prefix_len", json_integer(g->prefix_len)) < 0 ||
	    mj_set_new(o, "private_key", mj_key_string(g->private_key)) < 0 ||
	    mj_set_new(o, "public_key", mj_key_string(g->public_key)) < 0 ||
	    mj_set_new(o, "listen_port", json_integer(g->listen_port)) < 0 || mj_set_new(o, "peers", peers) < 0 ||
	    (g->has_dns_server && mj_set_new(o, "dns_server", mj_ip_string(&g->dns_server)) < 0) ||
	    (g->dns_domain && mj_set_new(o, "dns_domain", json_string(g->dns_domain)) < 0))
		return -ENOMEM;
	for (size_t i = 0; i < g->n_peers; i++)
		if (json_array_append_new(peers, mj_peer_to_json(&g->peers[i])) < 0)
			return -ENOMEM;
	return 0;
}

static json_t *response_json(const struct ovl_response *r)
{
	static const char *const names[] = {
		[OVL_RES_OK] = "ok",
		[OVL_RES_ERR] = "err",
		[OVL_RES_IP] = "ip",
		[OVL_RES_ATTACHED] = "attached",
		[OVL_RES_BRIDGE_NAME] = "bridge_name",
		[OVL_RES_SERVICE_OVERLAY] = "service_overlay",
		[OVL_RES_GUEST_CONFIG] = "guest_config",
		[OVL_RES_PRUNED_BRIDGES] = "pruned_bridges",
		[OVL_RES_STATUS] = "status",
		[OVL_RES_NAT_STATUS] = "nat_status",
	};
	json_t *o = json_object();
	int e = mj_set_new(o, "result", json_string(names[r->result]));
	switch (r->result) {
	case OVL_RES_OK:
		break;
	case OVL_RES_ERR:
		e = e ?: mj_set_new(o, "message", safe_string(r->message ? r->message : "internal error (out of memory)"));
		break;
	case OVL_RES_IP:
	case OVL_RES_ATTACHED:
		e = e ?: mj_set_new(o, "ip", mj_ip_string(&r->ip));
		break;
	case OVL_RES_BRIDGE_NAME:
		e = e ?: mj_set_new(o, "name", json_string(r->name));
		break;
	case OVL_RES_SERVICE_OVERLAY: {
		const struct ovl_res_service_overlay *s = &r->service_overlay;
		e = e ?: mj_set_new(o, "name", json_string(s->name));
		e = e ?: mj_set_new(o, "mode", json_string(ovl_mode_name(s->mode)));
		if (s->has_dedicated) {
			e = e ?: mj_set_new(o, "wg_public_key", mj_key_string(s->wg_public_key));
			e = e ?: mj_set_new(o, "wg_port", json_integer(s->wg_port));
			e = e ?: mj_set_new(o, "overlay_ip", mj_ip_string(&s->overlay_ip));
		}
		/* The subnet is protocol for dedicated, an extension for the other modes. */
		if (s->subnet.addr.family)
			e = e ?: mj_set_new(o, "subnet", mj_prefix_string(&s->subnet));
		break;
	}
	case OVL_RES_GUEST_CONFIG:
		e = e ?: encode_guest(o, &r->guest_config);
		break;
	case OVL_RES_PRUNED_BRIDGES:
		e = e ?: mj_set_new(o, "reclaimed", strv_json(r->pruned.names, r->pruned.n));
		break;
	case OVL_RES_STATUS:
		e = e ?: encode_status(o, &r->status);
		break;
	case OVL_RES_NAT_STATUS:
		e = e ?: encode_nat_status(o, &r->nat_status);
		break;
	}
	if (e) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *codec_encode_response(uint64_t id, const struct ovl_response *resp, size_t *len)
{
	json_t *body = response_json(resp);
	if (!body)
		return NULL;
	char *frame = dump(json_pack("{s:s, s:I, s:o}", "frame", "response", "id", (json_int_t)id, "response", body), len);
	if (frame && resp->result == OVL_RES_STATUS && resp->status.n_attachments)
		frame = codec_add_attachments(frame, len, &resp->status);
	return frame;
}

char *codec_encode_error(uint64_t id, const char *message, size_t *len)
{
	return dump(json_pack("{s:s, s:I, s:{s:s, s:o}}", "frame", "response", "id", (json_int_t)id, "response",
			      "result", "err", "message", safe_string(message)),
		    len);
}

char *codec_encode_event(const struct ovl_event *ev, size_t *len)
{
	char key[WG_KEY_B64_LEN + 1], ep[IP_ENDPOINT_STRLEN];
	key_to_base64(ev->pubkey, key);
	switch (ev->kind) {
	case OVL_EV_PEER_HEALTH_CHANGED:
		return dump(json_pack("{s:s, s:s, s:s, s:b}", "frame", "event", "event", "peer_health_changed",
				      "pubkey", key, "healthy", ev->healthy),
			    len);
	case OVL_EV_NAT_ENDPOINT_CHANGED:
		return dump(json_pack("{s:s, s:s, s:s, s:s}", "frame", "event", "event", "nat_endpoint_changed",
				      "pubkey", key, "endpoint", ip_endpoint_format(&ev->endpoint, ep, sizeof(ep))),
			    len);
	case OVL_EV_NAT_REFLEXIVE_CHANGED:
		return dump(json_pack("{s:s, s:s, s:o}", "frame", "event", "event", "nat_reflexive_changed", "endpoint",
				      ip_endpoint_is_unset(&ev->endpoint)
					      ? json_null()
					      : json_string(ip_endpoint_format(&ev->endpoint, ep, sizeof(ep)))),
			    len);
	}
	return NULL;
}
