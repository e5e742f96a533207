// SPDX-License-Identifier: MIT
#include "cluster/reconcile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void peer_free(struct cluster_peer *p)
{
	free(p->service);
	ovl_peer_spec_free(&p->spec);
}

void cluster_peers_free(struct cluster_peers *p)
{
	for (size_t i = 0; i < p->n; i++)
		peer_free(&p->items[i]);
	free(p->items);
	memset(p, 0, sizeof(*p));
}

static bool same_scope(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static struct cluster_peer *find(const struct cluster_peers *set, const char *service, const uint8_t key[WG_KEY_LEN])
{
	for (size_t i = 0; i < set->n; i++)
		if (same_scope(set->items[i].service, service) && key_equal(set->items[i].spec.public_key, key))
			return &set->items[i];
	return NULL;
}

/* Appends a peer; takes ownership of the spec's arrays. */
static int push(struct cluster_peers *set, const char *service, struct ovl_peer_spec *spec)
{
	struct cluster_peer *grown = realloc(set->items, (set->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	set->items = grown;
	struct cluster_peer *p = &set->items[set->n];
	p->service = NULL;
	if (service && !(p->service = strdup(service)))
		return -ENOMEM;
	p->spec = *spec;
	memset(spec, 0, sizeof(*spec));
	set->n++;
	return 0;
}

static int add_prefix(struct ovl_peer_spec *s, const struct ip_prefix *p)
{
	for (size_t i = 0; i < s->n_allowed_ips; i++)
		if (ip_prefix_equal(&s->allowed_ips[i], p))
			return 0; /* services on the shared bridge share a subnet */
	struct ip_prefix *grown = realloc(s->allowed_ips, (s->n_allowed_ips + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	s->allowed_ips = grown;
	s->allowed_ips[s->n_allowed_ips++] = *p;
	return 0;
}

static bool runs_dedicated(const struct cluster_local *self, const char *service)
{
	for (size_t i = 0; i < self->n_dedicated; i++)
		if (strcmp(self->dedicated[i], service) == 0)
			return true;
	return false;
}

static int global_peer(const struct cluster_record *r, struct cluster_peers *out)
{
	struct ovl_peer_spec s = { .endpoint = r->endpoint, .persistent_keepalive_secs = CLUSTER_KEEPALIVE_SECS };
	memcpy(s.public_key, r->public_key, WG_KEY_LEN);
	int rc = add_prefix(&s, &r->slice);
	for (size_t i = 0; rc == 0 && i < r->n_services; i++)
		if (r->services[i].mode != OVL_MODE_DEDICATED)
			rc = add_prefix(&s, &r->services[i].subnet);
	if (rc == 0 && r->n_candidates) {
		if (!(s.candidates = malloc(r->n_candidates * sizeof(*s.candidates))))
			rc = -ENOMEM;
		else
			memcpy(s.candidates, r->candidates, r->n_candidates * sizeof(*s.candidates));
		s.n_candidates = s.candidates ? r->n_candidates : 0;
	}
	if (rc == 0)
		rc = push(out, NULL, &s);
	ovl_peer_spec_free(&s);
	return rc;
}

int cluster_desired(const struct cluster_local *self, const struct cluster_record *recs, size_t n,
		    struct cluster_peers *out)
{
	memset(out, 0, sizeof(*out));
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct cluster_record *r = &recs[i];
		if (strcmp(r->id, self->id) == 0 || key_equal(r->public_key, self->public_key) ||
		    find(out, NULL, r->public_key))
			continue;
		rc = global_peer(r, out);
		for (size_t d = 0; rc == 0 && d < r->n_dedicated; d++) {
			const struct cluster_dedicated *dd = &r->dedicated[d];
			if (!runs_dedicated(self, dd->service) || find(out, dd->service, dd->public_key))
				continue;
			struct ovl_peer_spec s = { .endpoint = { .addr = r->endpoint.addr, .port = dd->port },
						   .persistent_keepalive_secs = CLUSTER_KEEPALIVE_SECS };
			memcpy(s.public_key, dd->public_key, WG_KEY_LEN);
			if ((rc = add_prefix(&s, &dd->subnet)) == 0)
				rc = push(out, dd->service, &s);
			ovl_peer_spec_free(&s);
		}
	}
	if (rc < 0)
		cluster_peers_free(out);
	return rc;
}

static bool same_spec(const struct ovl_peer_spec *a, const struct ovl_peer_spec *b)
{
	if (!ip_addr_equal(&a->endpoint.addr, &b->endpoint.addr) || a->endpoint.port != b->endpoint.port ||
	    a->persistent_keepalive_secs != b->persistent_keepalive_secs || a->n_allowed_ips != b->n_allowed_ips ||
	    a->n_candidates != b->n_candidates)
		return false;
	for (size_t i = 0; i < a->n_allowed_ips; i++)
		if (!ip_prefix_equal(&a->allowed_ips[i], &b->allowed_ips[i]))
			return false;
	for (size_t i = 0; i < a->n_candidates; i++)
		if (a->candidates[i].type != b->candidates[i].type || a->candidates[i].priority != b->candidates[i].priority ||
		    !ip_addr_equal(&a->candidates[i].address.addr, &b->candidates[i].address.addr) ||
		    a->candidates[i].address.port != b->candidates[i].address.port)
			return false;
	return true;
}

static int scope_dup(struct ovl_scope *s, const char *service)
{
	s->service = NULL;
	return service && !(s->service = strdup(service)) ? -ENOMEM : 0;
}

int cluster_diff(const struct cluster_peers *applied, const struct cluster_peers *desired, struct ovl_request **reqs,
		 size_t *n)
{
	*reqs = calloc(applied->n + desired->n + 1, sizeof(**reqs));
	*n = 0;
	if (!*reqs)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < applied->n; i++) {
		const struct cluster_peer *a = &applied->items[i];
		if (find(desired, a->service, a->spec.public_key))
			continue;
		struct ovl_request *q = &(*reqs)[(*n)++];
		q->op = OVL_OP_REMOVE_PEER;
		memcpy(q->remove_peer.pubkey, a->spec.public_key, WG_KEY_LEN);
		rc = scope_dup(&q->remove_peer.scope, a->service);
	}
	for (size_t i = 0; rc == 0 && i < desired->n; i++) {
		const struct cluster_peer *d = &desired->items[i];
		const struct cluster_peer *a = find(applied, d->service, d->spec.public_key);
		if (a && same_spec(&a->spec, &d->spec))
			continue;
		struct ovl_request *q = &(*reqs)[(*n)++];
		q->op = OVL_OP_ADD_PEER;
		if ((rc = scope_dup(&q->add_peer.scope, d->service)) == 0)
			rc = ovl_peer_spec_copy(&q->add_peer.peer, &d->spec);
	}
	if (rc < 0) {
		for (size_t i = 0; i < *n; i++)
			ovl_request_free(&(*reqs)[i]);
		free(*reqs);
		*reqs = NULL;
		*n = 0;
	}
	return rc;
}

void cluster_peers_prune(struct cluster_peers *applied, const struct cluster_local *self)
{
	for (size_t i = 0; i < applied->n;) {
		struct cluster_peer *p = &applied->items[i];
		if (p->service && !runs_dedicated(self, p->service)) {
			peer_free(p);
			*p = applied->items[--applied->n];
		} else {
			i++;
		}
	}
}

int cluster_peers_apply(struct cluster_peers *applied, const struct ovl_request *req)
{
	if (req->op == OVL_OP_REMOVE_PEER) {
		struct cluster_peer *p = find(applied, req->remove_peer.scope.service, req->remove_peer.pubkey);
		if (p) {
			peer_free(p);
			*p = applied->items[--applied->n];
		}
		return 0;
	}
	if (req->op != OVL_OP_ADD_PEER)
		return 0;
	struct ovl_peer_spec copy;
	if (ovl_peer_spec_copy(&copy, &req->add_peer.peer) < 0)
		return -ENOMEM;
	struct cluster_peer *p = find(applied, req->add_peer.scope.service, copy.public_key);
	if (p) {
		ovl_peer_spec_free(&p->spec);
		p->spec = copy;
		return 0;
	}
	int rc = push(applied, req->add_peer.scope.service, &copy);
	ovl_peer_spec_free(&copy);
	return rc;
}
