// SPDX-License-Identifier: MIT
/*
 * The data plane's record in state.json, under the top-level "dataplane"
 * key: every link, address pool, attachment, dedicated identity and host
 * parameter this daemon changed. The state module keeps top-level keys it
 * does not model verbatim (st->unknown), so the record rides the same atomic
 * save as the rest of the state without the state model knowing its shape.
 */
#include "engine/dp.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/model_json.h"
#include "util/log.h"
#include "wg/wg.h"

#define RECORD_KEY "dataplane"

/* A bridge with its pool's allocations (containers, guests, allocate_ip). */
static json_t *bridge_json(const struct dp_bridge *b)
{
	json_t *ips = json_array();
	for (size_t i = 0; ips && i < ipam_slice_count(&b->pool); i++) {
		struct ip_addr a = ipam_slice_at(&b->pool, i);
		if (json_array_append_new(ips, mj_ip_string(&a)) < 0) {
			json_decref(ips);
			return NULL;
		}
	}
	if (!ips)
		return NULL;
	return json_pack("{s:s, s:o, s:o}", "name", b->name, "subnet", mj_prefix_string(&b->subnet), "allocated", ips);
}

static json_t *encode(struct dp *dp)
{
	json_t *o = json_object(), *svcs = json_array(), *atts = json_array(), *guests = json_array(),
	       *v6 = json_array(), *ids = json_array();
	if (!o || !svcs || !atts || !guests || !v6 || !ids || mj_set_new(o, "services", svcs) < 0 ||
	    mj_set_new(o, "dedicated_identities", ids) < 0 ||
	    mj_set_new(o, "attachments", atts) < 0 || mj_set_new(o, "guests", guests) < 0 ||
	    mj_set_new(o, "ipv6_forwarding", v6) < 0)
		goto fail;
	if (mj_set_new(o, "up", json_boolean(dp->up)) < 0 || mj_set_new(o, "has_device", json_boolean(dp->has_device)) < 0 ||
	    (dp->gname[0] && mj_set_new(o, "interface", json_string(dp->gname)) < 0) ||
	    (dp->has_shared && mj_set_new(o, "shared_bridge", bridge_json(&dp->shared)) < 0) ||
	    (dp->fw_applied && mj_set_new(o, "firewall_table", json_string(dp->fw_instance)) < 0))
		goto fail;
	if (dp->ip_forward.saved &&
	    mj_set_new(o, "ip_forward", json_pack("{s:s, s:s}", "path", dp->ip_forward.path, "old", dp->ip_forward.old_value)) < 0)
		goto fail;
	if (dp->unmanaged_marked &&
	    mj_set_new(o, "unmanaged", json_pack("{s:s, s:s, s:s, s:s}", "networkd_file", dp->unmanaged.networkd_file,
						 "nm_file", dp->unmanaged.nm_file, "networkd_dir",
						 dp->unmanaged.networkd_dir, "nm_dir", dp->unmanaged.nm_dir)) < 0)
		goto fail;
	for (size_t i = 0; i < dp->n_v6_fwd; i++)
		if (json_array_append_new(v6, json_string(dp->v6_fwd[i])) < 0)
			goto fail;
	for (size_t i = 0; i < dp->n_identities; i++)
		if (json_array_append_new(ids, json_pack("{s:s, s:o, s:i}", "service", dp->identities[i].service,
							 "private_key", mj_key_string(dp->identities[i].private_key),
							 "port", dp->identities[i].port)) < 0)
			goto fail;
	for (size_t i = 0; i < dp->n_services; i++) {
		const struct dp_service *s = &dp->services[i];
		json_t *j = json_pack("{s:s, s:s, s:b}", "name", s->name, "mode", ovl_mode_name(s->mode), "on_shared",
				      s->on_shared);
		if (!j || json_array_append_new(svcs, j) < 0)
			goto fail;
		if (!s->on_shared && mj_set_new(j, "bridge", bridge_json(&s->bridge)) < 0)
			goto fail;
		if (s->dedicated) {
			json_t *peers = json_array();
			if (mj_set_new(j, "dedicated",
				       json_pack("{s:s, s:o, s:i, s:o}", "interface", s->dev_name, "private_key",
						 mj_key_string(s->dev_private), "port", s->dev_port, "peers", peers)) < 0)
				goto fail;
			for (size_t k = 0; k < s->n_peers; k++)
				if (json_array_append_new(peers, mj_peer_to_json(&s->peers[k])) < 0)
					goto fail;
		}
	}
	for (size_t i = 0; i < dp->n_attaches; i++) {
		const struct dp_attach *a = &dp->attaches[i];
		json_t *j = json_pack("{s:I, s:s, s:o, s:b}", "pid", (json_int_t)a->pid, "service", a->service, "ip",
				      mj_ip_string(&a->ip), "ephemeral", a->ephemeral);
		if (!j || json_array_append_new(atts, j) < 0 ||
		    (a->has_global && mj_set_new(j, "global_ip", mj_ip_string(&a->global_ip)) < 0) ||
		    (a->isolation && mj_set_new(j, "isolation_network", json_string(a->isolation)) < 0))
			goto fail;
	}
	for (size_t i = 0; i < dp->n_guests; i++) {
		const struct dp_guest *g = &dp->guests[i];
		json_t *j = json_pack("{s:s, s:o, s:o, s:b}", "id", g->id, "ip", mj_ip_string(&g->ip), "public_key",
				      mj_key_string(g->public_key), "host_shared", g->host_shared);
		if (!j || json_array_append_new(guests, j) < 0 ||
		    (g->service && mj_set_new(j, "service", json_string(g->service)) < 0))
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

int dp_record_store(struct engine *e)
{
	json_t *rec = encode(e->dp);
	if (!rec)
		return -ENOMEM;
	if (!e->st.unknown && !(e->st.unknown = json_object())) {
		json_decref(rec);
		return -ENOMEM;
	}
	return json_object_set_new(e->st.unknown, RECORD_KEY, rec) < 0 ? -ENOMEM : 0;
}

static int load_bridge(const json_t *o, struct dp_bridge *b)
{
	const char *name;
	struct ip_prefix subnet;
	char err[200];
	if (!o || mj_string(o, "name", true, &name, err, sizeof(err)) < 0 ||
	    mj_prefix(o, "subnet", true, &subnet, err, sizeof(err)) < 0 || strlen(name) >= IFNAMSIZ)
		return -EBADMSG;
	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->subnet = ip_prefix_network(&subnet);
	if (ipam_slice_init(&b->pool, &b->subnet) < 0)
		return -EBADMSG;
	b->gateway = ipam_slice_node_ip(&b->pool);
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(o, "allocated"), i, v) {
		struct ip_addr a;
		if (!json_is_string(v) || ip_addr_parse(json_string_value(v), &a) < 0 ||
		    ipam_slice_reserve(&b->pool, &a) < 0) {
			ipam_slice_free(&b->pool);
			return -EBADMSG;
		}
	}
	return 0;
}

static int load_service(struct dp *dp, const json_t *j)
{
	const char *name, *mode;
	char err[200];
	struct dp_service s = { 0 };
	if (mj_string(j, "name", true, &name, err, sizeof(err)) < 0 || mj_string(j, "mode", true, &mode, err, sizeof(err)) < 0 ||
	    ovl_mode_parse(mode, &s.mode) < 0 || mj_bool(j, "on_shared", false, &s.on_shared, err, sizeof(err)) < 0)
		return -EBADMSG;
	if (!s.on_shared && load_bridge(json_object_get(j, "bridge"), &s.bridge) < 0)
		return -EBADMSG;
	json_t *d = json_object_get(j, "dedicated");
	if (d) {
		const char *ifn;
		json_t *peers;
		if (mj_string(d, "interface", true, &ifn, err, sizeof(err)) < 0 || strlen(ifn) >= IFNAMSIZ ||
		    mj_key(d, "private_key", true, s.dev_private, err, sizeof(err)) < 0 ||
		    mj_u16(d, "port", true, &s.dev_port, err, sizeof(err)) < 0 ||
		    mj_array(d, "peers", false, &peers, err, sizeof(err)) < 0)
			goto fail;
		s.dedicated = true;
		snprintf(s.dev_name, sizeof(s.dev_name), "%s", ifn);
		wg_public_from_private(s.dev_private, s.dev_public);
		size_t i;
		json_t *p;
		if (peers && json_array_size(peers) &&
		    !(s.peers = calloc(json_array_size(peers), sizeof(*s.peers))))
			goto fail;
		json_array_foreach(peers, i, p) {
			if (mj_peer_from_json(p, &s.peers[s.n_peers], err, sizeof(err)) < 0)
				goto fail;
			s.n_peers++;
		}
	}
	if (!(s.name = strdup(name)))
		goto fail;
	void *n = realloc(dp->services, (dp->n_services + 1) * sizeof(*dp->services));
	if (!n)
		goto fail;
	dp->services = n;
	dp->services[dp->n_services++] = s;
	return 0;
fail:
	free(s.name);
	for (size_t i = 0; i < s.n_peers; i++)
		ovl_peer_spec_free(&s.peers[i]);
	free(s.peers);
	ipam_slice_free(&s.bridge.pool);
	return -EBADMSG;
}

static int load_attach(struct engine *e, const json_t *j)
{
	struct dp *dp = e->dp;
	struct dp_attach a = { 0 };
	const char *svc, *iso = NULL;
	uint64_t pid;
	char err[200];
	int r;
	if (mj_u64(j, "pid", true, &pid, err, sizeof(err)) < 0 || pid > UINT32_MAX ||
	    mj_string(j, "service", true, &svc, err, sizeof(err)) < 0 || mj_ip(j, "ip", true, &a.ip, err, sizeof(err)) < 0 ||
	    mj_bool(j, "ephemeral", false, &a.ephemeral, err, sizeof(err)) < 0 ||
	    (r = mj_ip(j, "global_ip", false, &a.global_ip, err, sizeof(err))) < 0 ||
	    mj_string(j, "isolation_network", false, &iso, err, sizeof(err)) < 0)
		return -EBADMSG;
	a.pid = (uint32_t)pid;
	a.has_global = r == 0;
	a.service = strdup(svc);
	a.isolation = iso ? strdup(iso) : NULL;
	void *n = realloc(dp->attaches, (dp->n_attaches + 1) * sizeof(*dp->attaches));
	if (!a.service || (iso && !a.isolation) || !n) {
		free(a.service);
		free(a.isolation);
		return -ENOMEM;
	}
	dp->attaches = n;
	struct dp_bridge *b = dp_service_bridge(dp, dp_find_service(dp, svc));
	if (b)
		ipam_slice_reserve(&b->pool, &a.ip);
	dp->attaches[dp->n_attaches++] = a;
	return 0;
}

static int load_guest(struct engine *e, const json_t *j)
{
	struct dp *dp = e->dp;
	struct dp_guest g = { 0 };
	const char *id, *svc = NULL;
	char err[200];
	if (mj_string(j, "id", true, &id, err, sizeof(err)) < 0 || mj_ip(j, "ip", true, &g.ip, err, sizeof(err)) < 0 ||
	    mj_key(j, "public_key", true, g.public_key, err, sizeof(err)) < 0 ||
	    mj_bool(j, "host_shared", false, &g.host_shared, err, sizeof(err)) < 0 ||
	    mj_string(j, "service", false, &svc, err, sizeof(err)) < 0)
		return -EBADMSG;
	g.id = strdup(id);
	g.service = svc ? strdup(svc) : NULL;
	void *n = realloc(dp->guests, (dp->n_guests + 1) * sizeof(*dp->guests));
	if (!g.id || (svc && !g.service) || !n) {
		free(g.id);
		free(g.service);
		return -ENOMEM;
	}
	dp->guests = n;
	struct dp_bridge *b = svc ? dp_service_bridge(dp, dp_find_service(dp, svc)) : NULL;
	if (b)
		ipam_slice_reserve(&b->pool, &g.ip);
	dp->guests[dp->n_guests++] = g;
	return 0;
}

int dp_record_load(struct engine *e, char *err, size_t errlen)
{
	struct dp *dp = e->dp;
	json_t *rec = e->st.unknown ? json_object_get(e->st.unknown, RECORD_KEY) : NULL;
	if (!rec)
		return 0;
	char why[200];
	const char *s;
	bool b;
	if (mj_bool(rec, "up", false, &b, why, sizeof(why)) == 0)
		dp->up = b;
	if (mj_bool(rec, "has_device", false, &b, why, sizeof(why)) == 0)
		dp->has_device = b;
	if (mj_string(rec, "interface", false, &s, why, sizeof(why)) == 0)
		snprintf(dp->gname, sizeof(dp->gname), "%s", s);
	if (mj_string(rec, "firewall_table", false, &s, why, sizeof(why)) == 0) {
		snprintf(dp->fw_instance, sizeof(dp->fw_instance), "%s", s);
		dp->fw_applied = true;
	}
	json_t *o = json_object_get(rec, "shared_bridge");
	if (o) {
		if (load_bridge(o, &dp->shared) < 0)
			goto bad;
		dp->has_shared = true;
	}
	if ((o = json_object_get(rec, "ip_forward"))) {
		const char *path, *old;
		if (mj_string(o, "path", true, &path, why, sizeof(why)) < 0 || mj_string(o, "old", true, &old, why, sizeof(why)) < 0)
			goto bad;
		snprintf(dp->ip_forward.path, sizeof(dp->ip_forward.path), "%s", path);
		snprintf(dp->ip_forward.old_value, sizeof(dp->ip_forward.old_value), "%s", old);
		dp->ip_forward.saved = true;
	}
	if ((o = json_object_get(rec, "unmanaged"))) {
		const char *f[4];
		static const char *const keys[4] = { "networkd_file", "nm_file", "networkd_dir", "nm_dir" };
		for (int i = 0; i < 4; i++)
			if (mj_string(o, keys[i], true, &f[i], why, sizeof(why)) < 0)
				goto bad;
		snprintf(dp->unmanaged.networkd_file, sizeof(dp->unmanaged.networkd_file), "%s", f[0]);
		snprintf(dp->unmanaged.nm_file, sizeof(dp->unmanaged.nm_file), "%s", f[1]);
		snprintf(dp->unmanaged.networkd_dir, sizeof(dp->unmanaged.networkd_dir), "%s", f[2]);
		snprintf(dp->unmanaged.nm_dir, sizeof(dp->unmanaged.nm_dir), "%s", f[3]);
		dp->unmanaged_marked = true;
	}
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(rec, "ipv6_forwarding"), i, v) {
		if (!json_is_string(v))
			goto bad;
		void *n = realloc(dp->v6_fwd, (dp->n_v6_fwd + 1) * sizeof(*dp->v6_fwd));
		if (!n)
			goto oom;
		dp->v6_fwd = n;
		snprintf(dp->v6_fwd[dp->n_v6_fwd++], IFNAMSIZ, "%s", json_string_value(v));
	}
	json_array_foreach(json_object_get(rec, "dedicated_identities"), i, v) {
		struct dp_identity id = { 0 };
		const char *svc;
		if (mj_string(v, "service", true, &svc, why, sizeof(why)) < 0 ||
		    mj_key(v, "private_key", true, id.private_key, why, sizeof(why)) < 0 ||
		    mj_u16(v, "port", true, &id.port, why, sizeof(why)) < 0)
			goto bad;
		void *n = realloc(dp->identities, (dp->n_identities + 1) * sizeof(*dp->identities));
		if (!n)
			goto oom;
		dp->identities = n;
		if (!(id.service = strdup(svc)))
			goto oom;
		dp->identities[dp->n_identities++] = id;
	}
	json_array_foreach(json_object_get(rec, "services"), i, v)
		if (load_service(dp, v) < 0)
			goto bad;
	json_array_foreach(json_object_get(rec, "attachments"), i, v)
		if (load_attach(e, v) < 0)
			goto bad;
	json_array_foreach(json_object_get(rec, "guests"), i, v)
		if (load_guest(e, v) < 0)
			goto bad;
	return 0;
bad:
	snprintf(err, errlen, "state.json: the \"%s\" record is malformed; move state.json aside (the links it "
			      "describes are named zl-* and veth-<pid>-*)", RECORD_KEY);
	return -EBADMSG;
oom:
	snprintf(err, errlen, "out of memory loading the data plane record");
	return -ENOMEM;
}
