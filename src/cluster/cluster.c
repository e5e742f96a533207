// SPDX-License-Identifier: MIT
/*
 * The cluster thread: claims before setup requests, the node's record under a
 * kept-alive lease, and reconciliation of the members into engine peers.
 * See cluster.h.
 */
#include "cluster/cluster.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/claim.h"
#include "cluster/local.h"
#include "cluster/members.h"
#include "cluster/reconcile.h"
#include "ipam/subnets.h"
#include "util/deadline.h"
#include "util/log.h"

#define DEFAULT_WG_PORT 51420
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 5000

struct release {
	char *purpose;
	struct release *next;
};

struct cluster {
	char *prefix, *data_dir;
	int ttl;
	struct ip_addr advertise;
	struct cluster_hooks hooks;
	struct store *store;
	struct cluster_local_state local;
	struct cluster_members members;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Guarded by lock. */
	bool stop, kicked, members_changed, connected;
	struct engine_job *jobs, *jobs_tail;
	unsigned jobs_held; /* taken and not yet forwarded to the worker */
	struct release *releases;

	/* The cluster thread's own. */
	int64_t lease;
	char *published;
	struct cluster_peers applied;
	bool has_cidr;
	struct ip_prefix cidr;
	uint8_t public_key[WG_KEY_LEN];
	char **dedicated;
	size_t n_dedicated;
	unsigned retry_ms;
};

static void set_connected(struct cluster *c, bool up, int why)
{
	pthread_mutex_lock(&c->lock);
	bool was = c->connected;
	c->connected = up;
	pthread_mutex_unlock(&c->lock);
	if (was && !up) {
		log_warn("cluster: the store is unreachable (%s); the data plane keeps the last known peers",
			 strerror(-why));
		c->members.restart = true; /* the watch may hang on a partitioned connection */
	} else if (!was && up) {
		log_info("cluster: connected to the store");
	}
}

/* ---- claims for client requests ---- */

static bool wants_claim(const struct engine_job *job)
{
	return job->has_request &&
	       (job->req.op == OVL_OP_SETUP_GLOBAL_OVERLAY || job->req.op == OVL_OP_SETUP_SERVICE_OVERLAY);
}

static int claim(struct cluster *c, const char *purpose, const struct ip_prefix *want, struct ip_prefix *out, char *err,
		 size_t errlen)
{
	struct cluster_claim_ctx ctx = { .store = c->store, .prefix = c->prefix, .node_id = c->local.id,
					 .cluster = c->cidr };
	int r = cluster_claim(&ctx, purpose, want, out, err, errlen);
	if (r == -EINVAL || r == -EEXIST || r == -ENOSPC)
		return r;
	if (r < 0) {
		set_connected(c, false, r);
		/* The store is down: what we claimed before is still ours (claims have no lease). */
		const struct ip_prefix *known = cluster_local_claim_get(&c->local, purpose);
		if (!known || !ip_prefix_contains(&c->cidr, &known->addr) || (want && !ip_prefix_equal(known, want)))
			return r;
		char p[IP_PREFIX_STRLEN];
		log_warn("cluster: store unreachable; using %s, claimed earlier, for %s", ip_prefix_format(known, p, sizeof(p)),
			 purpose);
		*out = *known;
		return 0;
	}
	if (cluster_local_claim_set(&c->local, purpose, out) < 0 || cluster_local_save(c->data_dir, &c->local) < 0)
		log_warn("cluster: cannot record the claim for %s in %s/cluster.json", purpose, c->data_dir);
	return 0;
}

/* The cluster CIDR, from the engine when this daemon has not seen setup_global_overlay. */
static bool know_cidr(struct cluster *c)
{
	if (c->has_cidr)
		return true;
	struct ovl_request q = { .op = OVL_OP_STATUS };
	struct ovl_response resp;
	c->hooks.call(c->hooks.arg, &q, &resp);
	if (resp.result == OVL_RES_STATUS && resp.status.has_overlay_cidr) {
		c->cidr = ip_prefix_network(&resp.status.overlay_cidr);
		c->has_cidr = true;
	}
	ovl_response_free(&resp);
	return c->has_cidr;
}

/* A taken job goes on to the worker; only then may later ones bypass us. */
static void forward(struct cluster *c, struct engine_job *job)
{
	c->hooks.forward(c->hooks.arg, job);
	pthread_mutex_lock(&c->lock);
	c->jobs_held--;
	pthread_mutex_unlock(&c->lock);
}

static void fail_job(struct cluster *c, struct engine_job *job, const char *what, const char *err)
{
	ovl_request_free(&job->req);
	job->has_request = false;
	ovl_response_err(&job->resp, "%s: cluster: %s", what, err);
	forward(c, job);
}

static void handle_job(struct cluster *c, struct engine_job *job)
{
	struct ovl_request *q = &job->req;
	if (!wants_claim(job)) { /* queued behind one that did */
		forward(c, job);
		return;
	}
	char err[600], purpose[300];
	struct ip_prefix out;
	if (q->op == OVL_OP_SETUP_GLOBAL_OVERLAY) {
		struct ovl_req_setup_global *g = &q->setup_global;
		struct ip_prefix was = c->cidr;
		bool had = c->has_cidr;
		c->cidr = ip_prefix_network(&g->cluster_cidr);
		c->has_cidr = true;
		if (claim(c, "slice", g->has_slice_cidr ? &g->slice_cidr : NULL, &out, err, sizeof(err)) < 0) {
			c->cidr = was; /* a refused request changes nothing */
			c->has_cidr = had;
			fail_job(c, job, "setup_global_overlay", err);
			return;
		}
		g->has_slice_cidr = true;
		g->slice_cidr = out;
		uint16_t port = g->wg_port ? g->wg_port : DEFAULT_WG_PORT;
		if (c->local.wg_port != port) {
			c->local.wg_port = port;
			cluster_local_save(c->data_dir, &c->local);
		}
	} else if (q->op == OVL_OP_SETUP_SERVICE_OVERLAY && know_cidr(c)) {
		/* The engine refuses what it cannot set up; only a service it will carve a subnet for needs one. */
		snprintf(purpose, sizeof(purpose), "service:%s",
			 q->setup_service.mode == OVL_MODE_SHARED ? IPAM_SHARED_BRIDGE_KEY : q->setup_service.service);
		if (claim(c, purpose, NULL, &out, err, sizeof(err)) < 0) {
			fail_job(c, job, "setup_service_overlay", err);
			return;
		}
		q->setup_service.has_subnet = true;
		q->setup_service.subnet = out;
	}
	forward(c, job);
}

bool cluster_take(struct cluster *c, struct engine_job *job)
{
	pthread_mutex_lock(&c->lock);
	bool take = !c->stop && (c->jobs_held > 0 || wants_claim(job));
	if (take) {
		job->next = NULL;
		if (c->jobs_tail)
			c->jobs_tail->next = job;
		else
			c->jobs = job;
		c->jobs_tail = job;
		c->jobs_held++;
		pthread_cond_signal(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return take;
}

void cluster_note_result(struct cluster *c, const struct ovl_request *req, const struct ovl_response *resp)
{
	bool changes = req->op == OVL_OP_SETUP_GLOBAL_OVERLAY || req->op == OVL_OP_TEARDOWN_GLOBAL_OVERLAY ||
		       req->op == OVL_OP_SETUP_SERVICE_OVERLAY || req->op == OVL_OP_TEARDOWN_SERVICE_OVERLAY;
	if (!changes || resp->result == OVL_RES_ERR)
		return;
	struct release *rel = NULL;
	if (req->op == OVL_OP_TEARDOWN_SERVICE_OVERLAY && (rel = calloc(1, sizeof(*rel))) &&
	    asprintf(&rel->purpose, "service:%s", req->teardown_service.service) < 0) {
		free(rel);
		rel = NULL;
	}
	pthread_mutex_lock(&c->lock);
	if (rel) {
		rel->next = c->releases;
		c->releases = rel;
	}
	c->kicked = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void do_releases(struct cluster *c, struct release *list)
{
	while (list) {
		struct release *rel = list;
		list = rel->next;
		const struct ip_prefix *p = cluster_local_claim_get(&c->local, rel->purpose);
		struct cluster_claim_ctx ctx = { .store = c->store, .prefix = c->prefix, .node_id = c->local.id,
						 .cluster = c->cidr };
		if (p && c->has_cidr) {
			int r = cluster_claim_release(&ctx, rel->purpose, p);
			if (r < 0) /* left claimed: ours still, and taken back if the service returns */
				log_warn("cluster: cannot release the claim for %s: %s", rel->purpose, strerror(-r));
			else {
				cluster_local_claim_drop(&c->local, rel->purpose);
				cluster_local_save(c->data_dir, &c->local);
			}
		}
		free(rel->purpose);
		free(rel);
	}
}

/* ---- this node's record ---- */

static void forget_local_view(struct cluster *c)
{
	for (size_t i = 0; i < c->n_dedicated; i++)
		free(c->dedicated[i]);
	free(c->dedicated);
	c->dedicated = NULL;
	c->n_dedicated = 0;
}

/* Builds the record from the engine's status; false when the global overlay is not up. */
static bool build_record(struct cluster *c, char **json)
{
	struct ovl_request q = { .op = OVL_OP_STATUS };
	struct ovl_response st, nat;
	*json = NULL;
	c->hooks.call(c->hooks.arg, &q, &st);
	bool up = st.result == OVL_RES_STATUS && st.status.has_public_key && st.status.has_slice_cidr;
	forget_local_view(c);
	if (!up) {
		ovl_response_free(&st);
		return false;
	}
	struct ovl_res_status *s = &st.status;
	memcpy(c->public_key, s->public_key, WG_KEY_LEN);
	if (s->has_overlay_cidr && !c->has_cidr) {
		c->cidr = ip_prefix_network(&s->overlay_cidr);
		c->has_cidr = true;
	}
	struct cluster_record r = { .slice = s->slice_cidr };
	memcpy(r.id, c->local.id, sizeof(r.id));
	memcpy(r.public_key, s->public_key, WG_KEY_LEN);
	r.endpoint.addr = c->advertise;
	r.endpoint.port = c->local.wg_port ? c->local.wg_port : DEFAULT_WG_PORT;
	struct cluster_subnet svcs[CLUSTER_MAX_LIST];
	struct cluster_dedicated ded[CLUSTER_MAX_LIST];
	for (size_t i = 0; i < s->n_services && r.n_services < CLUSTER_MAX_LIST; i++)
		svcs[r.n_services++] = (struct cluster_subnet){ .service = s->services[i].service,
								.mode = s->services[i].mode,
								.subnet = s->services[i].subnet };
	c->dedicated = calloc(s->n_dedicated + 1, sizeof(*c->dedicated));
	for (size_t i = 0; i < s->n_dedicated && r.n_dedicated < CLUSTER_MAX_LIST; i++) {
		struct cluster_dedicated *d = &ded[r.n_dedicated++];
		d->service = s->dedicated[i].service;
		memcpy(d->public_key, s->dedicated[i].public_key, WG_KEY_LEN);
		d->port = s->dedicated[i].listen_port;
		d->subnet = s->dedicated[i].subnet;
		if (c->dedicated && (c->dedicated[c->n_dedicated] = strdup(d->service)))
			c->n_dedicated++;
	}
	r.services = svcs;
	r.dedicated = ded;
	q.op = OVL_OP_NAT_STATUS;
	c->hooks.call(c->hooks.arg, &q, &nat);
	if (nat.result == OVL_RES_NAT_STATUS) {
		r.candidates = nat.nat_status.candidates;
		r.n_candidates = nat.nat_status.n_candidates > CLUSTER_MAX_LIST ? CLUSTER_MAX_LIST
										 : nat.nat_status.n_candidates;
	}
	*json = cluster_record_encode(&r);
	ovl_response_free(&nat);
	ovl_response_free(&st);
	return *json != NULL;
}

static void node_key(struct cluster *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s/nodes/%s", c->prefix, c->local.id);
}

/* Lease, keep-alive and record. 0, or the store's error (retry later). */
static int maintain(struct cluster *c, bool keepalive_due)
{
	char key[400];
	node_key(c, key, sizeof(key));
	int r;
	if (c->lease && keepalive_due && (r = c->store->ops->lease_keepalive(c->store, c->lease)) < 0) {
		if (r != -ENOENT)
			return r;
		log_warn("cluster: our lease expired (the store was out of reach too long); joining again");
		c->lease = 0;
	}
	if (!c->lease) {
		if ((r = c->store->ops->lease_grant(c->store, c->ttl, &c->lease)) < 0)
			return r;
		free(c->published);
		c->published = NULL; /* the record went with the old lease */
	}
	char *rec;
	if (!build_record(c, &rec)) {
		free(rec);
		if (c->published && (r = c->store->ops->del_if(c->store, key, c->published)) < 0)
			return r;
		free(c->published);
		c->published = NULL;
		return 0;
	}
	if (c->published && strcmp(c->published, rec) == 0) {
		free(rec);
		return 0;
	}
	if ((r = c->store->ops->put(c->store, key, rec, c->lease)) < 0) {
		free(rec);
		if (r == -ENOENT) /* the lease is gone: grant a new one next round */
			c->lease = 0;
		return r;
	}
	log_info("cluster: published our record (%s)", c->published ? "changed" : "joined");
	free(c->published);
	c->published = rec;
	return 0;
}

/* ---- reconciliation ---- */

static void reconcile(struct cluster *c)
{
	struct cluster_local self = { .id = c->local.id, .dedicated = (const char *const *)c->dedicated,
				      .n_dedicated = c->n_dedicated };
	memcpy(self.public_key, c->public_key, WG_KEY_LEN);
	struct cluster_peers want;
	pthread_mutex_lock(&c->lock);
	struct cluster_record *recs = malloc((c->members.n + 1) * sizeof(*recs));
	for (size_t i = 0; recs && i < c->members.n; i++)
		recs[i] = c->members.items[i].rec;
	int r = recs ? cluster_desired(&self, recs, c->members.n, &want) : -ENOMEM;
	pthread_mutex_unlock(&c->lock);
	free(recs);
	if (r < 0)
		return;
	struct ovl_request *reqs;
	size_t n;
	cluster_peers_prune(&c->applied, &self);
	if (cluster_diff(&c->applied, &want, &reqs, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct ovl_response resp;
			c->hooks.call(c->hooks.arg, &reqs[i], &resp);
			char k[WG_KEY_B64_LEN + 1];
			bool add = reqs[i].op == OVL_OP_ADD_PEER;
			key_to_base64(add ? reqs[i].add_peer.peer.public_key : reqs[i].remove_peer.pubkey, k);
			if (resp.result == OVL_RES_ERR)
				log_warn("cluster: %s %s: %s (retried later)", ovl_op_name(reqs[i].op), k, resp.message);
			else if (cluster_peers_apply(&c->applied, &reqs[i]) == 0)
				log_info("cluster: %s %s%s%s", add ? "peer" : "removed peer", k,
					 (add ? reqs[i].add_peer.scope.service : reqs[i].remove_peer.scope.service)
						 ? " for service "
						 : "",
					 (add ? reqs[i].add_peer.scope.service : reqs[i].remove_peer.scope.service) ?: "");
			ovl_response_free(&resp);
			ovl_request_free(&reqs[i]);
		}
		free(reqs);
	}
	cluster_peers_free(&want);
}

/* ---- the thread ---- */

static void *cluster_main(void *arg)
{
	struct cluster *c = arg;
	uint64_t keepalive_every = (uint64_t)c->ttl * 1000 / 3, next_keepalive = 0, next_try = 0;
	bool dirty = true;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		uint64_t now = clock_now_ms(CLOCK_MONOTONIC);
		/* A change to publish is retried on the backoff; otherwise the next keep-alive (or its retry). */
		uint64_t wake = dirty || next_try > next_keepalive ? next_try : next_keepalive;
		while (!c->stop && !c->jobs && !c->kicked && !c->members_changed && !c->releases && now < wake) {
			struct timespec ts = deadline_after_ms(CLOCK_REALTIME, wake - now);
			pthread_cond_timedwait(&c->cond, &c->lock, &ts);
			now = clock_now_ms(CLOCK_MONOTONIC);
		}
		if (c->stop)
			break;
		struct engine_job *jobs = c->jobs;
		struct release *releases = c->releases;
		c->jobs = c->jobs_tail = NULL;
		c->releases = NULL;
		dirty |= c->kicked;
		c->kicked = c->members_changed = false;
		pthread_mutex_unlock(&c->lock);

		while (jobs) {
			struct engine_job *job = jobs;
			jobs = job->next;
			job->next = NULL;
			handle_job(c, job);
		}
		do_releases(c, releases);
		now = clock_now_ms(CLOCK_MONOTONIC);
		if (dirty || now >= next_keepalive) {
			if (now >= next_try) {
				int r = maintain(c, now >= next_keepalive);
				if (r < 0) {
					set_connected(c, false, r);
					c->retry_ms = c->retry_ms ? c->retry_ms * 2 : RETRY_MIN_MS;
					if (c->retry_ms > RETRY_MAX_MS)
						c->retry_ms = RETRY_MAX_MS;
					next_try = now + c->retry_ms;
				} else {
					set_connected(c, true, 0);
					c->retry_ms = 0;
					next_try = 0;
					dirty = false;
					next_keepalive = now + keepalive_every;
				}
			}
		}
		/* Every round, not only on member changes: a cheap diff that also picks up local
		 * changes (a new dedicated service) and retries requests the engine refused. */
		reconcile(c);
		pthread_mutex_lock(&c->lock);
	}
	struct engine_job *left = c->jobs;
	c->jobs = c->jobs_tail = NULL;
	pthread_mutex_unlock(&c->lock);
	while (left) { /* answered, never dropped */
		struct engine_job *job = left;
		left = job->next;
		if (wants_claim(job))
			fail_job(c, job, ovl_op_name(job->req.op), "overlayd is stopping");
		else
			forward(c, job);
	}
	return NULL;
}

struct cluster *cluster_start(const struct cluster_config *cfg, char *err, size_t errlen)
{
	struct cluster *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->ttl = cfg->lease_ttl > 0 ? cfg->lease_ttl : CLUSTER_DEFAULT_LEASE_TTL;
	c->hooks = cfg->hooks;
	c->prefix = strdup(cfg->prefix ? cfg->prefix : CLUSTER_DEFAULT_PREFIX);
	c->data_dir = strdup(cfg->data_dir);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (!c->prefix || !c->data_dir) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (cfg->advertise) {
		if (ip_addr_parse(cfg->advertise, &c->advertise) < 0) {
			snprintf(err, errlen, "--cluster-advertise \"%s\" is not an IP address", cfg->advertise);
			goto fail;
		}
	} else if (cluster_source_address_for(cfg->etcd.endpoints[0], &c->advertise) < 0) {
		snprintf(err, errlen, "cannot tell our address towards %s; give it with --cluster-advertise",
			 cfg->etcd.endpoints[0]);
		goto fail;
	}
	if (cluster_local_load(c->data_dir, &c->local, err, errlen) < 0)
		goto fail;
	if (cluster_local_save(c->data_dir, &c->local) < 0) {
		snprintf(err, errlen, "cannot write %s/cluster.json", c->data_dir);
		goto fail;
	}
	if (!(c->store = etcd_store_new(&cfg->etcd, err, errlen)))
		goto fail;
	c->members.store = c->store;
	c->members.lock = &c->lock;
	c->members.changed_cond = &c->cond;
	c->members.changed = &c->members_changed;
	snprintf(c->members.nodes_prefix, sizeof(c->members.nodes_prefix), "%s/nodes/", c->prefix);
	int r;
	if ((r = cluster_members_start(&c->members)) < 0) {
		snprintf(err, errlen, "cannot start the watch thread: %s", strerror(-r));
		goto fail;
	}
	if ((r = pthread_create(&c->thread, NULL, cluster_main, c)) != 0) {
		snprintf(err, errlen, "cannot start the cluster thread: %s", strerror(r));
		cluster_members_stop(&c->members);
		goto fail;
	}
	char a[IP_ADDR_STRLEN];
	log_info("cluster: member %s, advertising %s, store prefix %s, lease %d s", c->local.id,
		 ip_addr_format(&c->advertise, a, sizeof(a)), c->prefix, c->ttl);
	return c;
fail:
	if (c->store)
		c->store->ops->free(c->store);
	cluster_local_free(&c->local);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c->prefix);
	free(c->data_dir);
	free(c);
	return NULL;
}

void cluster_stop(struct cluster *c, bool leave)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	cluster_members_stop(&c->members);
	if (leave && c->lease && c->store->ops->lease_revoke(c->store, c->lease) == 0)
		log_info("cluster: left the cluster (lease revoked)");
	else if (!leave)
		log_info("cluster: our record stays for the lease TTL (%d s), for the next start to take over", c->ttl);
	do_releases(c, c->releases);
	c->store->ops->free(c->store);
	cluster_local_free(&c->local);
	cluster_peers_free(&c->applied);
	forget_local_view(c);
	free(c->published);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c->prefix);
	free(c->data_dir);
	free(c);
}

void cluster_fill_status(struct cluster *c, struct ovl_res_status *st)
{
	struct ovl_cluster_status *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return;
	pthread_mutex_lock(&c->lock);
	cs->node_id = strdup(c->local.id);
	cs->connected = c->connected && c->members.watching;
	cs->store_requests = c->store->requests;
	cs->members = calloc(c->members.n + 1, sizeof(*cs->members));
	for (size_t i = 0; cs->members && i < c->members.n; i++) {
		const struct cluster_member *m = &c->members.items[i];
		struct ovl_cluster_member *o = &cs->members[cs->n_members];
		if (!(o->id = strdup(m->rec.id)))
			break;
		o->self = strcmp(m->rec.id, c->local.id) == 0;
		memcpy(o->public_key, m->rec.public_key, WG_KEY_LEN);
		o->endpoint = m->rec.endpoint;
		o->slice = m->rec.slice;
		o->last_seen_unix_secs = (uint64_t)m->last_seen;
		cs->n_members++;
	}
	pthread_mutex_unlock(&c->lock);
	st->cluster = cs;
}
