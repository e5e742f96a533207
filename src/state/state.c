// SPDX-License-Identifier: MIT
#include "state/state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "state/model_json.h"

/*
 * Keys this build reads; everything else lands in st->unknown. "services" is
 * read only to be dropped: older builds listed each service there a second
 * time, beside its data-plane record.
 */
static const char *const known_keys[] = { "version",	 "node_id",  "local_wg_pubkey", "global",
					  "allocator",	 "subnets",  "dns_records",	"global_peers",
					  "services",	 "dns_zone", "dataplane",	"journal_generation" };

int state_init(struct ovl_state *st)
{
	memset(st, 0, sizeof(*st));
	struct ip_prefix def;
	if (ip_prefix_parse(STATE_DEFAULT_CLUSTER_CIDR, &def) < 0 || ipam_slice_init(&st->slice, &def) < 0)
		return -EINVAL;
	return 0;
}

static void global_free(struct state_global *g)
{
	free(g->deployment);
	free(g->instance_id);
	ovl_nat_config_free(&g->nat);
	explicit_bzero(g->private_key, sizeof(g->private_key));
	memset(g, 0, sizeof(*g));
}

void state_free(struct ovl_state *st)
{
	global_free(&st->global);
	ipam_slice_free(&st->slice);
	if (st->has_subnets)
		ipam_subnets_free(&st->subnets);
	free(st->dns_zone);
	for (size_t i = 0; i < st->n_dns; i++)
		free(st->dns[i].name);
	free(st->dns);
	for (size_t i = 0; i < st->n_peers; i++)
		ovl_peer_spec_free(&st->peers[i]);
	free(st->peers);
	state_dataplane_free(&st->dataplane);
	json_decref(st->unknown);
	memset(st, 0, sizeof(*st));
}

/* ---- lookups and mutators ---- */

struct ovl_peer_spec *state_find_peer(struct ovl_state *st, const uint8_t key[WG_KEY_LEN])
{
	for (size_t i = 0; i < st->n_peers; i++)
		if (memcmp(st->peers[i].public_key, key, WG_KEY_LEN) == 0)
			return &st->peers[i];
	return NULL;
}

struct state_dns_record *state_find_dns(struct ovl_state *st, const char *name)
{
	for (size_t i = 0; i < st->n_dns; i++)
		if (strcmp(st->dns[i].name, name) == 0)
			return &st->dns[i];
	return NULL;
}

/* Grows *arr (of n elements of size sz) by one slot. */
static int grow(void **arr, size_t n, size_t sz)
{
	void *p = realloc(*arr, (n + 1) * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

int state_put_peer(struct ovl_state *st, const struct ovl_peer_spec *p)
{
	struct ovl_peer_spec copy;
	if (ovl_peer_spec_copy(&copy, p) < 0)
		return -ENOMEM;
	struct ovl_peer_spec *have = state_find_peer(st, p->public_key);
	if (have) {
		ovl_peer_spec_free(have);
		*have = copy;
		return 0;
	}
	if (grow((void **)&st->peers, st->n_peers, sizeof(*st->peers)) < 0) {
		ovl_peer_spec_free(&copy);
		return -ENOMEM;
	}
	st->peers[st->n_peers++] = copy;
	return 0;
}

bool state_remove_peer(struct ovl_state *st, const uint8_t key[WG_KEY_LEN])
{
	struct ovl_peer_spec *p = state_find_peer(st, key);
	if (!p)
		return false;
	ovl_peer_spec_free(p);
	/* Keep insertion order: status and guest configs list peers as added. */
	size_t i = (size_t)(p - st->peers);
	memmove(p, p + 1, (st->n_peers - i - 1) * sizeof(*p));
	st->n_peers--;
	return true;
}

int state_put_dns(struct ovl_state *st, const char *name, const struct ip_addr *ip)
{
	struct state_dns_record *r = state_find_dns(st, name);
	if (r) {
		r->ip = *ip;
		return 0;
	}
	char *dup = strdup(name);
	if (!dup || grow((void **)&st->dns, st->n_dns, sizeof(*st->dns)) < 0) {
		free(dup);
		return -ENOMEM;
	}
	st->dns[st->n_dns++] = (struct state_dns_record){ .name = dup, .ip = *ip };
	return 0;
}

bool state_remove_dns(struct ovl_state *st, const char *name)
{
	struct state_dns_record *r = state_find_dns(st, name);
	if (!r)
		return false;
	free(r->name);
	*r = st->dns[--st->n_dns];
	return true;
}

int state_set_dns_zone(struct ovl_state *st, const char *zone)
{
	char *dup = NULL;
	if (zone && !(dup = strdup(zone)))
		return -ENOMEM;
	free(st->dns_zone);
	st->dns_zone = dup;
	return 0;
}

/* ---- encoding ---- */

static json_t *encode_global(const struct state_global *g)
{
	json_t *o = json_object();
	if (mj_set_new(o, "deployment", json_string(g->deployment)) < 0 ||
	    mj_set_new(o, "instance_id", json_string(g->instance_id)) < 0 ||
	    mj_set_new(o, "cluster_cidr", mj_prefix_string(&g->cluster_cidr)) < 0 ||
	    mj_set_new(o, "wg_port", json_integer(g->wg_port)) < 0 ||
	    mj_set_new(o, "host_adapter_mandatory", json_boolean(g->host_adapter_mandatory)) < 0 ||
	    (g->has_slice && mj_set_new(o, "slice_cidr", mj_prefix_string(&g->slice_cidr)) < 0) ||
	    (g->has_private_key && mj_set_new(o, "private_key", mj_key_string(g->private_key)) < 0) ||
	    (g->has_nat && mj_set_new(o, "nat", mj_nat_to_json(&g->nat)) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *encode_allocator(const struct ipam_slice *s)
{
	json_t *o = json_object(), *a = json_array();
	if (mj_set_new(o, "cidr", mj_prefix_string(&s->cidr)) < 0 || mj_set_new(o, "allocated", a) < 0)
		goto fail;
	for (size_t i = 0; i < ipam_slice_count(s); i++) {
		struct ip_addr ip = ipam_slice_at(s, i);
		if (json_array_append_new(a, mj_ip_string(&ip)) < 0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *encode_subnets(const struct ipam_subnets *r)
{
	json_t *o = json_object(), *res = json_array(), *as = json_array();
	if (mj_set_new(o, "cluster_cidr", mj_prefix_string(&r->cluster)) < 0 ||
	    mj_set_new(o, "reserved", res) < 0 || mj_set_new(o, "assignments", as) < 0)
		goto fail;
	for (size_t i = 0; i < r->nreserved; i++)
		if (json_array_append_new(res, mj_prefix_string(&r->reserved[i])) < 0)
			goto fail;
	for (size_t i = 0; i < r->n; i++) {
		json_t *e = json_object();
		if (json_array_append_new(as, e) < 0 || mj_set_new(e, "service", json_string(r->items[i].service)) < 0 ||
		    mj_set_new(e, "node_id", json_integer((json_int_t)r->items[i].node_id)) < 0 ||
		    mj_set_new(e, "subnet", mj_prefix_string(&r->items[i].subnet)) < 0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *encode(const struct ovl_state *st)
{
	json_t *o = st->unknown ? json_deep_copy(st->unknown) : json_object();
	json_t *dns = json_object(), *peers = json_array();
	if (mj_set_new(o, "dns_records", dns) < 0 || mj_set_new(o, "global_peers", peers) < 0 ||
	    (!state_dataplane_empty(&st->dataplane) &&
	     mj_set_new(o, "dataplane", state_dataplane_to_json(&st->dataplane)) < 0))
		goto fail;
	if (mj_set_new(o, "version", json_integer(STATE_VERSION)) < 0 ||
	    mj_set_new(o, "node_id", json_integer((json_int_t)st->node_id)) < 0 ||
	    mj_set_new(o, "journal_generation", json_integer((json_int_t)st->journal_generation)) < 0 ||
	    (st->has_local_wg_pubkey && mj_set_new(o, "local_wg_pubkey", mj_key_string(st->local_wg_pubkey)) < 0) ||
	    (st->global_set && mj_set_new(o, "global", encode_global(&st->global)) < 0) ||
	    mj_set_new(o, "allocator", encode_allocator(&st->slice)) < 0 ||
	    (st->has_subnets && mj_set_new(o, "subnets", encode_subnets(&st->subnets)) < 0) ||
	    (st->dns_zone && mj_set_new(o, "dns_zone", json_string(st->dns_zone)) < 0))
		goto fail;
	for (size_t i = 0; i < st->n_dns; i++)
		if (mj_set_new(dns, st->dns[i].name, mj_ip_string(&st->dns[i].ip)) < 0)
			goto fail;
	for (size_t i = 0; i < st->n_peers; i++)
		if (json_array_append_new(peers, mj_peer_to_json(&st->peers[i])) < 0)
			goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* ---- decoding ---- */

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		if ((expr) < 0)                                                                    \
			return -EBADMSG;                                                           \
	} while (0)

static int decode_global(const json_t *o, struct state_global *g, char *err, size_t errlen)
{
	const char *dep, *inst;
	json_t *nat = NULL;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "`global`: expected an object");
		return -EBADMSG;
	}
	CHECK(mj_string(o, "deployment", true, &dep, err, errlen));
	CHECK(mj_string(o, "instance_id", true, &inst, err, errlen));
	CHECK(mj_prefix(o, "cluster_cidr", true, &g->cluster_cidr, err, errlen));
	CHECK(mj_u16(o, "wg_port", true, &g->wg_port, err, errlen));
	CHECK(mj_bool(o, "host_adapter_mandatory", false, &g->host_adapter_mandatory, err, errlen));
	int r = mj_prefix(o, "slice_cidr", false, &g->slice_cidr, err, errlen);
	CHECK(r);
	g->has_slice = r == 0;
	r = mj_key(o, "private_key", false, g->private_key, err, errlen);
	CHECK(r);
	g->has_private_key = r == 0;
	CHECK(mj_object(o, "nat", false, &nat, err, errlen));
	g->deployment = strdup(dep);
	g->instance_id = strdup(inst);
	if (!g->deployment || !g->instance_id)
		return -ENOMEM;
	if (nat) {
		char sub[200];
		if (mj_nat_from_json(nat, &g->nat, sub, sizeof(sub)) < 0) {
			snprintf(err, errlen, "`global.nat`: %s", sub);
			return -EBADMSG;
		}
		g->has_nat = true;
	}
	return 0;
}

static int decode_allocator(const json_t *o, struct ipam_slice *s, char *err, size_t errlen)
{
	struct ip_prefix cidr;
	json_t *arr;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "`allocator`: expected an object");
		return -EBADMSG;
	}
	CHECK(mj_prefix(o, "cidr", true, &cidr, err, errlen));
	CHECK(mj_array(o, "allocated", true, &arr, err, errlen));
	ipam_slice_free(s);
	if (ipam_slice_init(s, &cidr) < 0) {
		snprintf(err, errlen, "`allocator.cidr`: unusable prefix");
		return -EBADMSG;
	}
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		struct ip_addr a;
		if (!json_is_string(v) || ip_addr_parse(json_string_value(v), &a) < 0 ||
		    ipam_slice_reserve(s, &a) < 0) {
			snprintf(err, errlen, "`allocator.allocated[%zu]`: not a free container address of %s", i,
				 json_string_value(json_object_get(o, "cidr")));
			return -EBADMSG;
		}
	}
	return 0;
}

static int decode_subnets(const json_t *o, struct ovl_state *st, char *err, size_t errlen)
{
	struct ip_prefix cluster;
	json_t *res, *as;
	char sub[200];
	if (!json_is_object(o)) {
		snprintf(err, errlen, "`subnets`: expected an object");
		return -EBADMSG;
	}
	CHECK(mj_prefix(o, "cluster_cidr", true, &cluster, err, errlen));
	CHECK(mj_array(o, "reserved", true, &res, err, errlen));
	CHECK(mj_array(o, "assignments", true, &as, err, errlen));
	if (ipam_subnets_init(&st->subnets, &cluster, sub, sizeof(sub)) < 0) {
		snprintf(err, errlen, "`subnets`: %s", sub);
		return -EBADMSG;
	}
	st->has_subnets = true;
	size_t i;
	json_t *v;
	json_array_foreach(res, i, v)
	{
		struct ip_prefix p;
		if (!json_is_string(v) || ip_prefix_parse(json_string_value(v), &p) < 0 ||
		    ipam_subnets_reserve(&st->subnets, &p) < 0) {
			snprintf(err, errlen, "`subnets.reserved[%zu]`: invalid", i);
			return -EBADMSG;
		}
	}
	json_array_foreach(as, i, v)
	{
		const char *svc;
		uint64_t node;
		struct ip_prefix p;
		if (!json_is_object(v) || mj_string(v, "service", true, &svc, sub, sizeof(sub)) < 0 ||
		    mj_u64(v, "node_id", true, &node, sub, sizeof(sub)) < 0 ||
		    mj_prefix(v, "subnet", true, &p, sub, sizeof(sub)) < 0 ||
		    ipam_subnets_restore(&st->subnets, svc, node, &p) < 0) {
			snprintf(err, errlen, "`subnets.assignments[%zu]`: invalid or duplicate assignment", i);
			return -EBADMSG;
		}
	}
	return 0;
}

static int decode(const json_t *root, struct ovl_state *st, char *err, size_t errlen)
{
	uint64_t version;
	json_t *v;
	char sub[200];
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		return -EBADMSG;
	}
	CHECK(mj_u64(root, "version", true, &version, err, errlen));
	if (version != STATE_VERSION) {
		snprintf(err, errlen, "unsupported state version %llu (this overlayd reads version %d)",
			 (unsigned long long)version, STATE_VERSION);
		return -EBADMSG;
	}
	CHECK(mj_u64(root, "node_id", false, &st->node_id, err, errlen));
	CHECK(mj_u64(root, "journal_generation", false, &st->journal_generation, err, errlen));
	int r = mj_key(root, "local_wg_pubkey", false, st->local_wg_pubkey, err, errlen);
	CHECK(r);
	st->has_local_wg_pubkey = r == 0;
	if ((v = json_object_get(root, "global")) && !json_is_null(v)) {
		st->global_set = true;
		CHECK(decode_global(v, &st->global, err, errlen));
	}
	if ((v = json_object_get(root, "allocator")))
		CHECK(decode_allocator(v, &st->slice, err, errlen));
	if ((v = json_object_get(root, "subnets")) && !json_is_null(v))
		CHECK(decode_subnets(v, st, err, errlen));

	if ((v = json_object_get(root, "dns_zone")) && !json_is_null(v)) {
		if (!json_is_string(v) || !json_string_value(v)[0]) {
			snprintf(err, errlen, "`dns_zone`: expected a non-empty string");
			return -EBADMSG;
		}
		if (state_set_dns_zone(st, json_string_value(v)) < 0)
			return -ENOMEM;
	}
	if ((v = json_object_get(root, "dns_records"))) {
		const char *name;
		json_t *ipv;
		if (!json_is_object(v)) {
			snprintf(err, errlen, "`dns_records`: expected an object");
			return -EBADMSG;
		}
		json_object_foreach(v, name, ipv)
		{
			struct ip_addr ip;
			if (!json_is_string(ipv) || ip_addr_parse(json_string_value(ipv), &ip) < 0) {
				snprintf(err, errlen, "`dns_records.%s`: invalid IP", name);
				return -EBADMSG;
			}
			if (state_put_dns(st, name, &ip) < 0)
				return -ENOMEM;
		}
	}
	if ((v = json_object_get(root, "global_peers"))) {
		size_t i;
		json_t *p;
		if (!json_is_array(v)) {
			snprintf(err, errlen, "`global_peers`: expected an array");
			return -EBADMSG;
		}
		json_array_foreach(v, i, p)
		{
			struct ovl_peer_spec spec;
			if (!json_is_object(p) || mj_peer_from_json(p, &spec, sub, sizeof(sub)) < 0) {
				snprintf(err, errlen, "`global_peers[%zu]`: %s", i, json_is_object(p) ? sub : "not an object");
				return -EBADMSG;
			}
			int e = state_put_peer(st, &spec);
			ovl_peer_spec_free(&spec);
			if (e < 0)
				return e;
		}
	}
	if ((v = json_object_get(root, "dataplane")) && !json_is_null(v)) {
		r = state_dataplane_from_json(v, &st->dataplane, err, errlen);
		if (r < 0)
			return r;
	}

	json_t *unknown = json_deep_copy(root);
	if (!unknown)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
		json_object_del(unknown, known_keys[i]);
	st->unknown = unknown;
	return 0;
}

int state_load(const char *path, struct ovl_state *st, char *err, size_t errlen)
{
	int r = state_init(st);
	if (r < 0) {
		snprintf(err, errlen, "cannot initialise state");
		return r;
	}
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 1;
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return r;
	}
	json_error_t jerr;
	json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!root) {
		snprintf(err, errlen, "%s: invalid JSON at line %d column %d: %s", path, jerr.line, jerr.column,
			 jerr.text);
		return -EBADMSG;
	}
	char sub[300] = "";
	r = decode(root, st, sub, sizeof(sub));
	json_decref(root);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", path, r == -ENOMEM ? "out of memory" : sub);
		state_free(st);
		state_init(st);
		return r == -ENOMEM ? r : -EBADMSG;
	}
	return 0;
}

int state_fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int state_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int state_save(const char *path, const struct ovl_state *st, char *err, size_t errlen)
{
	json_t *root = encode(st);
	if (!root) {
		snprintf(err, errlen, "out of memory encoding the state");
		return -ENOMEM;
	}
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	if (!text) {
		snprintf(err, errlen, "out of memory encoding the state");
		return -ENOMEM;
	}
	size_t len = strlen(text);
	char tmp[4096];
	int r = 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid()) >= sizeof(tmp)) {
		free(text);
		snprintf(err, errlen, "state path too long");
		return -ENAMETOOLONG;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		free(text);
		return r;
	}
	r = state_write_all(fd, text, len);
	explicit_bzero(text, len); /* may hold private keys */
	free(text);
	if (r == 0 && (fchmod(fd, 0600) < 0 || fsync(fd) < 0))
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
		unlink(tmp);
		return r;
	}
	r = state_fsync_dir_of(path);
	if (r < 0)
		snprintf(err, errlen, "cannot fsync the directory of %s: %s", path, strerror(-r));
	return r;
}

int state_quarantine(const char *path, char *moved_to, size_t len)
{
	if ((size_t)snprintf(moved_to, len, "%s.corrupt-%lld", path, (long long)time(NULL)) >= len)
		return -ENAMETOOLONG;
	if (rename(path, moved_to) < 0)
		return -errno;
	return state_fsync_dir_of(path);
}
