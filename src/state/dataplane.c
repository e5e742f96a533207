// SPDX-License-Identifier: MIT
#include "state/dataplane.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/model_json.h"

static void bridge_free(struct state_bridge *b)
{
	free(b->allocated);
	memset(b, 0, sizeof(*b));
}

static void service_free(struct state_dp_service *s)
{
	free(s->name);
	bridge_free(&s->bridge);
	for (size_t i = 0; i < s->n_peers; i++)
		ovl_peer_spec_free(&s->peers[i]);
	free(s->peers);
	explicit_bzero(s->dev_private, sizeof(s->dev_private));
}

void state_dp_identity_free(struct state_dp_identity *id)
{
	free(id->service);
	explicit_bzero(id->private_key, sizeof(id->private_key));
}

void state_dp_attach_free(struct state_dp_attach *a)
{
	free(a->service);
	free(a->isolation);
}

void state_dp_guest_free(struct state_dp_guest *g)
{
	free(g->id);
	free(g->service);
	free(g->isolation);
}

int state_dp_identity_copy(struct state_dp_identity *dst, const struct state_dp_identity *src)
{
	bool oom = false;
	*dst = *src;
	dst->service = ovl_strdup_optional(src->service, &oom);
	if (oom)
		state_dp_identity_free(dst);
	return oom ? -ENOMEM : 0;
}

int state_dp_attach_copy(struct state_dp_attach *dst, const struct state_dp_attach *src)
{
	bool oom = false;
	*dst = *src;
	dst->service = ovl_strdup_optional(src->service, &oom);
	dst->isolation = ovl_strdup_optional(src->isolation, &oom);
	if (oom)
		state_dp_attach_free(dst);
	return oom ? -ENOMEM : 0;
}

int state_dp_guest_copy(struct state_dp_guest *dst, const struct state_dp_guest *src)
{
	bool oom = false;
	*dst = *src;
	dst->id = ovl_strdup_optional(src->id, &oom);
	dst->service = ovl_strdup_optional(src->service, &oom);
	dst->isolation = ovl_strdup_optional(src->isolation, &oom);
	if (oom)
		state_dp_guest_free(dst);
	return oom ? -ENOMEM : 0;
}

void state_dp_records_free(struct state_dp_identity *ids, size_t n_ids, struct state_dp_attach *attaches,
			   size_t n_attaches, struct state_dp_guest *guests, size_t n_guests)
{
	for (size_t i = 0; i < n_ids; i++)
		state_dp_identity_free(&ids[i]);
	free(ids);
	for (size_t i = 0; i < n_attaches; i++)
		state_dp_attach_free(&attaches[i]);
	free(attaches);
	for (size_t i = 0; i < n_guests; i++)
		state_dp_guest_free(&guests[i]);
	free(guests);
}

void state_dataplane_free(struct state_dataplane *dp)
{
	bridge_free(&dp->shared);
	free(dp->ipv6_forwarding);
	for (size_t i = 0; i < dp->n_services; i++)
		service_free(&dp->services[i]);
	free(dp->services);
	state_dp_records_free(dp->identities, dp->n_identities, dp->attaches, dp->n_attaches, dp->guests, dp->n_guests);
	memset(dp, 0, sizeof(*dp));
}

bool state_dataplane_empty(const struct state_dataplane *dp)
{
	return !dp->up && !dp->has_device && !dp->interface[0] && !dp->has_firewall && !dp->has_shared &&
	       !dp->has_ip_forward && !dp->has_unmanaged && !dp->n_ipv6_forwarding && !dp->n_identities &&
	       !dp->n_services && !dp->n_attaches && !dp->n_guests;
}

/* ---- encoding ---- */

static json_t *bridge_json(const struct state_bridge *b)
{
	json_t *ips = json_array();
	for (size_t i = 0; ips && i < b->n_allocated; i++) {
		if (json_array_append_new(ips, mj_ip_string(&b->allocated[i])) < 0) {
			json_decref(ips);
			return NULL;
		}
	}
	if (!ips)
		return NULL;
	return json_pack("{s:s, s:o, s:o}", "name", b->name, "subnet", mj_prefix_string(&b->subnet), "allocated", ips);
}

static json_t *service_json(const struct state_dp_service *s)
{
	json_t *j = json_pack("{s:s, s:s, s:b}", "name", s->name, "mode", ovl_mode_name(s->mode), "on_shared",
			      s->on_shared);
	if (!j || (!s->on_shared && mj_set_new(j, "bridge", bridge_json(&s->bridge)) < 0))
		goto fail;
	if (s->dedicated) {
		json_t *peers = json_array();
		if (mj_set_new(j, "dedicated", json_pack("{s:s, s:o, s:i, s:o}", "interface", s->dev_name, "private_key",
							 mj_key_string(s->dev_private), "port", s->dev_port,
							 "peers", peers)) < 0)
			goto fail;
		for (size_t k = 0; k < s->n_peers; k++)
			if (json_array_append_new(peers, mj_peer_to_json(&s->peers[k])) < 0)
				goto fail;
	}
	return j;
fail:
	json_decref(j);
	return NULL;
}

json_t *state_dp_attach_to_json(const struct state_dp_attach *a)
{
	json_t *j = json_pack("{s:I, s:s, s:o, s:b}", "pid", (json_int_t)a->pid, "service", a->service, "ip",
			      mj_ip_string(&a->ip), "ephemeral", a->ephemeral);
	if (!j || (a->has_global && mj_set_new(j, "global_ip", mj_ip_string(&a->global_ip)) < 0) ||
	    (a->isolation && mj_set_new(j, "isolation_network", json_string(a->isolation)) < 0)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *guest_json(const struct state_dp_guest *g)
{
	json_t *j = json_pack("{s:s, s:o, s:o, s:b}", "id", g->id, "ip", mj_ip_string(&g->ip), "public_key",
			      mj_key_string(g->public_key), "host_shared", g->host_shared);
	if (!j || (g->service && mj_set_new(j, "service", json_string(g->service)) < 0) ||
	    (g->isolation && mj_set_new(j, "isolation_network", json_string(g->isolation)) < 0)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Appends f(item) for each of n items of size sz; -ENOMEM. */
static int append_all(json_t *arr, const void *items, size_t n, size_t sz, json_t *(*f)(const void *))
{
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(arr, f((const char *)items + i * sz)) < 0)
			return -ENOMEM;
	return 0;
}

static json_t *service_json_v(const void *p) { return service_json(p); }
static json_t *attach_json_v(const void *p) { return state_dp_attach_to_json(p); }
static json_t *guest_json_v(const void *p) { return guest_json(p); }

static json_t *identity_json_v(const void *p)
{
	const struct state_dp_identity *id = p;
	return json_pack("{s:s, s:o, s:i}", "service", id->service, "private_key", mj_key_string(id->private_key),
			 "port", id->port);
}

json_t *state_dataplane_to_json(const struct state_dataplane *dp)
{
	json_t *o = json_object(), *svcs = json_array(), *atts = json_array(), *guests = json_array(),
	       *v6 = json_array(), *ids = json_array();
	if (mj_set_new(o, "services", svcs) < 0 || mj_set_new(o, "dedicated_identities", ids) < 0 ||
	    mj_set_new(o, "attachments", atts) < 0 || mj_set_new(o, "guests", guests) < 0 ||
	    mj_set_new(o, "ipv6_forwarding", v6) < 0)
		goto fail;
	if (mj_set_new(o, "up", json_boolean(dp->up)) < 0 || mj_set_new(o, "has_device", json_boolean(dp->has_device)) < 0 ||
	    (dp->interface[0] && mj_set_new(o, "interface", json_string(dp->interface)) < 0) ||
	    (dp->has_shared && mj_set_new(o, "shared_bridge", bridge_json(&dp->shared)) < 0) ||
	    (dp->has_firewall && mj_set_new(o, "firewall_table", json_string(dp->firewall_table)) < 0))
		goto fail;
	if (dp->has_ip_forward &&
	    mj_set_new(o, "ip_forward", json_pack("{s:s, s:s}", "path", dp->ip_forward_path, "old", dp->ip_forward_old)) < 0)
		goto fail;
	if (dp->has_unmanaged &&
	    mj_set_new(o, "unmanaged", json_pack("{s:s, s:s, s:s, s:s}", "networkd_file", dp->networkd_file, "nm_file",
						 dp->nm_file, "networkd_dir", dp->networkd_dir, "nm_dir", dp->nm_dir)) < 0)
		goto fail;
	for (size_t i = 0; i < dp->n_ipv6_forwarding; i++)
		if (json_array_append_new(v6, json_string(dp->ipv6_forwarding[i])) < 0)
			goto fail;
	if (append_all(ids, dp->identities, dp->n_identities, sizeof(*dp->identities), identity_json_v) < 0 ||
	    append_all(svcs, dp->services, dp->n_services, sizeof(*dp->services), service_json_v) < 0 ||
	    append_all(atts, dp->attaches, dp->n_attaches, sizeof(*dp->attaches), attach_json_v) < 0 ||
	    append_all(guests, dp->guests, dp->n_guests, sizeof(*dp->guests), guest_json_v) < 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* ---- decoding ---- */

/* Copies a string field into a fixed buffer; -EBADMSG when missing (required) or too long. */
static int fixed_string(const json_t *o, const char *key, bool required, char *out, size_t size, char *err,
			size_t errlen)
{
	const char *s;
	int r = mj_string(o, key, required, &s, err, errlen);
	if (r != 0)
		return r;
	if (strlen(s) >= size) {
		snprintf(err, errlen, "field `%s`: longer than %zu bytes", key, size - 1);
		return -EINVAL;
	}
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int bridge_from_json(const json_t *o, struct state_bridge *b, char *err, size_t errlen)
{
	json_t *arr = NULL;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "bridge: expected an object");
		return -EINVAL;
	}
	if (fixed_string(o, "name", true, b->name, sizeof(b->name), err, errlen) < 0 ||
	    mj_prefix(o, "subnet", true, &b->subnet, err, errlen) < 0 ||
	    mj_array(o, "allocated", false, &arr, err, errlen) < 0)
		return -EINVAL;
	b->subnet = ip_prefix_network(&b->subnet);
	size_t n = arr ? json_array_size(arr) : 0;
	if (n && !(b->allocated = calloc(n, sizeof(*b->allocated))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		struct ip_addr a;
		if (!json_is_string(v) || ip_addr_parse(json_string_value(v), &a) < 0 ||
		    !ip_prefix_contains(&b->subnet, &a)) {
			snprintf(err, errlen, "bridge %s: `allocated[%zu]` is not an address of its subnet", b->name, i);
			return -EINVAL;
		}
		b->allocated[b->n_allocated++] = a;
	}
	return 0;
}

static int service_from_json(const json_t *j, void *item, char *err, size_t errlen)
{
	struct state_dp_service *s = item;
	const char *mode;
	json_t *d = NULL, *peers = NULL;
	int r;
	if ((r = mj_string_dup(j, "name", true, &s->name, err, errlen)) < 0 ||
	    (r = mj_string(j, "mode", true, &mode, err, errlen)) < 0 ||
	    (r = mj_bool(j, "on_shared", false, &s->on_shared, err, errlen)) < 0 ||
	    (r = mj_object(j, "dedicated", false, &d, err, errlen)) < 0)
		return r;
	if (ovl_mode_parse(mode, &s->mode) < 0) {
		snprintf(err, errlen, "field `mode`: unknown mode \"%.40s\"", mode);
		return -EINVAL;
	}
	if (!s->on_shared && (r = bridge_from_json(json_object_get(j, "bridge"), &s->bridge, err, errlen)) < 0)
		return r;
	if (!d)
		return 0;
	s->dedicated = true;
	if ((r = fixed_string(d, "interface", true, s->dev_name, sizeof(s->dev_name), err, errlen)) < 0 ||
	    (r = mj_key(d, "private_key", true, s->dev_private, err, errlen)) < 0 ||
	    (r = mj_u16(d, "port", true, &s->dev_port, err, errlen)) < 0 ||
	    (r = mj_array(d, "peers", false, &peers, err, errlen)) < 0)
		return r;
	size_t n = peers ? json_array_size(peers) : 0;
	if (n && !(s->peers = calloc(n, sizeof(*s->peers))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((r = mj_peer_from_json(json_array_get(peers, i), &s->peers[i], err, errlen)) < 0)
			return r;
		s->n_peers++;
	}
	return 0;
}

int state_dp_attach_from_json(const json_t *j, struct state_dp_attach *a, char *err, size_t errlen)
{
	uint64_t pid;
	int r, g;
	if ((r = mj_u64(j, "pid", true, &pid, err, errlen)) < 0 ||
	    (r = mj_string_dup(j, "service", true, &a->service, err, errlen)) < 0 ||
	    (r = mj_ip(j, "ip", true, &a->ip, err, errlen)) < 0 ||
	    (r = mj_bool(j, "ephemeral", false, &a->ephemeral, err, errlen)) < 0 ||
	    (r = g = mj_ip(j, "global_ip", false, &a->global_ip, err, errlen)) < 0 ||
	    (r = mj_string_dup(j, "isolation_network", false, &a->isolation, err, errlen)) < 0)
		return r;
	if (pid == 0 || pid > UINT32_MAX) {
		snprintf(err, errlen, "field `pid`: expected a process id 1..%u", UINT32_MAX);
		return -EINVAL;
	}
	a->pid = (uint32_t)pid;
	a->has_global = g == 0;
	return 0;
}

static int attach_from_json(const json_t *j, void *item, char *err, size_t errlen)
{
	return state_dp_attach_from_json(j, item, err, errlen);
}

static int guest_from_json(const json_t *j, void *item, char *err, size_t errlen)
{
	struct state_dp_guest *g = item;
	int r;
	if ((r = mj_string_dup(j, "id", true, &g->id, err, errlen)) < 0 ||
	    (r = mj_ip(j, "ip", true, &g->ip, err, errlen)) < 0 ||
	    (r = mj_key(j, "public_key", true, g->public_key, err, errlen)) < 0 ||
	    (r = mj_bool(j, "host_shared", false, &g->host_shared, err, errlen)) < 0 ||
	    (r = mj_string_dup(j, "service", false, &g->service, err, errlen)) < 0 ||
	    (r = mj_string_dup(j, "isolation_network", false, &g->isolation, err, errlen)) < 0)
		return r;
	return 0;
}

static int identity_from_json(const json_t *j, void *item, char *err, size_t errlen)
{
	struct state_dp_identity *id = item;
	int r;
	if ((r = mj_string_dup(j, "service", true, &id->service, err, errlen)) < 0 ||
	    (r = mj_key(j, "private_key", true, id->private_key, err, errlen)) < 0 ||
	    (r = mj_u16(j, "port", true, &id->port, err, errlen)) < 0)
		return r;
	return 0;
}

static int ipv6_from_json(const json_t *j, void *item, char *err, size_t errlen)
{
	char (*out)[IFNAMSIZ] = item;
	if (!json_is_string(j) || strlen(json_string_value(j)) >= IFNAMSIZ) {
		snprintf(err, errlen, "expected an interface name");
		return -EINVAL;
	}
	snprintf(*out, IFNAMSIZ, "%s", json_string_value(j));
	return 0;
}

typedef int (*item_reader)(const json_t *j, void *out, char *err, size_t errlen);

/*
 * Reads the array o[key] (absent = empty) with one reader per element into a
 * fresh calloc'd list; *n counts the elements read (also on failure, so the
 * caller frees exactly those). err names the failing element.
 */
static int read_list(const json_t *o, const char *key, void **items, size_t *n, size_t sz, item_reader read,
		     char *err, size_t errlen)
{
	char why[300];
	json_t *arr = NULL;
	int r = mj_array(o, key, false, &arr, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "`dataplane.%s`: malformed: expected an array", key);
		return -EBADMSG;
	}
	size_t len = r == 0 ? json_array_size(arr) : 0;
	if (len && !(*items = calloc(len, sz)))
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		json_t *v = json_array_get(arr, i);
		void *slot = (char *)*items + i * sz;
		/* A non-object element fails its reader's first required field. */
		r = read(v, slot, why, sizeof(why));
		(*n)++; /* counted even when half-read: its strings are freed with the list */
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			snprintf(err, errlen, "`dataplane.%s[%zu]`: malformed: %s", key, i, why);
			return -EBADMSG;
		}
	}
	return 0;
}

static int read_object(const json_t *o, const char *key, json_t **out, char *err, size_t errlen)
{
	char why[200];
	*out = NULL;
	if (mj_object(o, key, false, out, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "`dataplane.%s`: malformed: expected an object", key);
		return -EBADMSG;
	}
	return 0;
}

static int read_scalars(const json_t *o, struct state_dataplane *dp, char *why, size_t whylen)
{
	if (mj_bool(o, "up", false, &dp->up, why, whylen) < 0 ||
	    mj_bool(o, "has_device", false, &dp->has_device, why, whylen) < 0 ||
	    fixed_string(o, "interface", false, dp->interface, sizeof(dp->interface), why, whylen) < 0)
		return -EINVAL;
	int r = fixed_string(o, "firewall_table", false, dp->firewall_table, sizeof(dp->firewall_table), why, whylen);
	dp->has_firewall = r == 0;
	return r < 0 ? r : 0;
}

static int read_host_params(const json_t *o, struct state_dataplane *dp, char *err, size_t errlen)
{
	char why[300];
	json_t *fwd, *um;
	if (read_object(o, "ip_forward", &fwd, err, errlen) < 0 || read_object(o, "unmanaged", &um, err, errlen) < 0)
		return -EBADMSG;
	if (fwd && (fixed_string(fwd, "path", true, dp->ip_forward_path, sizeof(dp->ip_forward_path), why, sizeof(why)) < 0 ||
		    fixed_string(fwd, "old", true, dp->ip_forward_old, sizeof(dp->ip_forward_old), why, sizeof(why)) < 0)) {
		snprintf(err, errlen, "`dataplane.ip_forward`: malformed: %s", why);
		return -EBADMSG;
	}
	dp->has_ip_forward = fwd != NULL;
	if (um && (fixed_string(um, "networkd_file", true, dp->networkd_file, sizeof(dp->networkd_file), why, sizeof(why)) < 0 ||
		   fixed_string(um, "nm_file", true, dp->nm_file, sizeof(dp->nm_file), why, sizeof(why)) < 0 ||
		   fixed_string(um, "networkd_dir", true, dp->networkd_dir, sizeof(dp->networkd_dir), why, sizeof(why)) < 0 ||
		   fixed_string(um, "nm_dir", true, dp->nm_dir, sizeof(dp->nm_dir), why, sizeof(why)) < 0)) {
		snprintf(err, errlen, "`dataplane.unmanaged`: malformed: %s", why);
		return -EBADMSG;
	}
	dp->has_unmanaged = um != NULL;
	return 0;
}

int state_dataplane_from_json(const json_t *o, struct state_dataplane *dp, char *err, size_t errlen)
{
	char why[300];
	json_t *shared;
	int r;
	memset(dp, 0, sizeof(*dp));
	if (!json_is_object(o)) {
		snprintf(err, errlen, "`dataplane`: malformed: expected an object");
		return -EBADMSG;
	}
	if (read_scalars(o, dp, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "`dataplane`: malformed: %s", why);
		r = -EBADMSG;
		goto fail;
	}
	if ((r = read_object(o, "shared_bridge", &shared, err, errlen)) < 0 || (r = read_host_params(o, dp, err, errlen)) < 0)
		goto fail;
	if (shared && (r = bridge_from_json(shared, &dp->shared, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "`dataplane.shared_bridge`: malformed: %s", why);
		r = r == -ENOMEM ? r : -EBADMSG;
		goto fail;
	}
	dp->has_shared = shared != NULL;
	if ((r = read_list(o, "ipv6_forwarding", (void **)&dp->ipv6_forwarding, &dp->n_ipv6_forwarding,
			   sizeof(*dp->ipv6_forwarding), ipv6_from_json, err, errlen)) < 0 ||
	    (r = read_list(o, "dedicated_identities", (void **)&dp->identities, &dp->n_identities,
			   sizeof(*dp->identities), identity_from_json, err, errlen)) < 0 ||
	    (r = read_list(o, "services", (void **)&dp->services, &dp->n_services, sizeof(*dp->services),
			   service_from_json, err, errlen)) < 0 ||
	    (r = read_list(o, "attachments", (void **)&dp->attaches, &dp->n_attaches, sizeof(*dp->attaches),
			   attach_from_json, err, errlen)) < 0 ||
	    (r = read_list(o, "guests", (void **)&dp->guests, &dp->n_guests, sizeof(*dp->guests),
			   guest_from_json, err, errlen)) < 0)
		goto fail;
	return 0;
fail:
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory reading `dataplane`");
	state_dataplane_free(dp);
	return r;
}
