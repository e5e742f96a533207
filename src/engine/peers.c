// SPDX-License-Identifier: MIT
/*
 * add_peer / remove_peer / add_allowed_ip / remove_allowed_ip, and the peer
 * health job.
 *
 * Global scope: the peer set is recorded in the state (PeerSpec form, with
 * its NAT candidates) whether or not the device is up, and installed on the
 * global device when it exists (again after a restart). Service scope needs
 * that service's dedicated device; each allowed IP of such a peer also gets
 * a route through the dedicated device, so the service's cross-node traffic
 * leaves by it rather than by the cluster device.
 */
#include "engine/dp.h"
#include "engine/nat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/netlink.h"
#include "util/log.h"
#include "wg/wg.h"

int dp_peer_install(struct engine *e, struct wg_device *dev, const char *route_dev, const struct ovl_peer_spec *p,
		    char *err, size_t errlen)
{
	char k[WG_KEY_B64_LEN + 1];
	key_to_base64(p->public_key, k);
	struct wg_peer_config pc = {
		.set_endpoint = !ip_endpoint_is_unset(&p->endpoint),
		.endpoint = p->endpoint,
		.set_persistent_keepalive = true,
		.persistent_keepalive = (uint16_t)(p->persistent_keepalive_secs > 65535 ? 65535
											 : p->persistent_keepalive_secs),
		.replace_allowed_ips = true,
		.allowed_ips = p->allowed_ips,
		.n_allowed_ips = p->n_allowed_ips,
	};
	memcpy(pc.public_key, p->public_key, WG_KEY_LEN);
	int r = wg_peer_upsert(dev, &pc);
	if (r < 0) {
		snprintf(err, errlen, "peer %s: cannot configure it on %s: %s", k, wg_device_ifname(dev), strerror(-r));
		return r;
	}
	for (size_t i = 0; route_dev && i < p->n_allowed_ips; i++) {
		struct ip_prefix net = ip_prefix_network(&p->allowed_ips[i]);
		if ((r = nl_route_replace(e->dp->nl, &net, route_dev)) < 0) {
			char a[IP_PREFIX_STRLEN];
			log_warn("peer %s: cannot route %s through %s: %s", k, ip_prefix_format(&net, a, sizeof(a)),
				 route_dev, strerror(-r));
		}
	}
	return 0;
}

/* Our own service subnets against a peer's allowed IPs: a registry collision between nodes. */
static void check_peer_collisions(struct engine *e)
{
	struct dp *dp = e->dp;
	if (dp->has_shared)
		dp_check_subnet_collision(e, &dp->shared.subnet, "shared bridge subnet");
	for (size_t i = 0; i < dp->n_services; i++)
		if (!dp->services[i].on_shared)
			dp_check_subnet_collision(e, &dp->services[i].bridge.subnet, "service subnet");
}

/* The device and record a scope addresses. */
struct scope_target {
	struct wg_device *dev;
	const char *route_dev;
	struct dp_service *svc; /* NULL = global */
};

static bool scope_resolve(struct engine *e, const struct ovl_scope *s, struct scope_target *t, const char *op,
			  struct ovl_response *resp)
{
	memset(t, 0, sizeof(*t));
	if (!s->service) {
		t->dev = e->dp->gdev;
		return true;
	}
	struct dp_service *svc = dp_find_service(e->dp, s->service);
	if (!svc || !svc->dedicated) {
		ovl_response_err(resp, "no dedicated overlay for service %s", s->service);
		return false;
	}
	t->svc = svc;
	t->dev = svc->dev;
	t->route_dev = svc->dev_name;
	(void)op;
	return true;
}

static struct ovl_peer_spec *svc_find_peer(struct dp_service *s, const uint8_t key[WG_KEY_LEN])
{
	for (size_t i = 0; i < s->n_peers; i++)
		if (key_equal(s->peers[i].public_key, key))
			return &s->peers[i];
	return NULL;
}

static int svc_put_peer(struct dp_service *s, const struct ovl_peer_spec *p)
{
	struct ovl_peer_spec copy;
	if (ovl_peer_spec_copy(&copy, p) < 0)
		return -ENOMEM;
	struct ovl_peer_spec *old = svc_find_peer(s, p->public_key);
	if (old) {
		ovl_peer_spec_free(old);
		*old = copy;
		return 0;
	}
	void *n = realloc(s->peers, (s->n_peers + 1) * sizeof(*s->peers));
	if (!n) {
		ovl_peer_spec_free(&copy);
		return -ENOMEM;
	}
	s->peers = n;
	s->peers[s->n_peers++] = copy;
	return 0;
}

static void drop_routes(struct engine *e, const char *dev, const struct ip_prefix *ips, size_t n)
{
	for (size_t i = 0; dev && e->dp->nl && i < n; i++) {
		struct ip_prefix net = ip_prefix_network(&ips[i]);
		nl_route_delete(e->dp->nl, &net, dev);
	}
}

void engine_peers_add(struct engine *e, const struct ovl_peer_spec *p, const struct ovl_scope *s, struct ovl_response *resp)
{
	struct scope_target t;
	if (!scope_resolve(e, s, &t, "add_peer", resp))
		return;
	char k[WG_KEY_B64_LEN + 1], err[300];
	key_to_base64(p->public_key, k);
	if (t.svc) {
		struct ovl_peer_spec *old = svc_find_peer(t.svc, p->public_key);
		if (old)
			drop_routes(e, t.route_dev, old->allowed_ips, old->n_allowed_ips);
	}
	/* A path NAT traversal found stays: a repeated add_peer does not reset it to the configured endpoint. */
	struct ovl_peer_spec install = *p;
	if (!t.svc && nat_agent_peer_connected(e, p->public_key))
		memset(&install.endpoint, 0, sizeof(install.endpoint));
	if (t.dev && dp_peer_install(e, t.dev, t.route_dev, &install, err, sizeof(err)) < 0) {
		ovl_response_err(resp, "add_peer: %s", err);
		return;
	}
	if (!t.dev)
		log_warn("add_peer %s: global overlay has no host device yet; peer recorded, to be installed "
			 "when the device is up",
			 k);
	int r = t.svc ? svc_put_peer(t.svc, p) : state_put_peer(&e->st, p);
	if (r < 0) {
		ovl_response_err(resp, "add_peer %s: out of memory", k);
		return;
	}
	if (!t.svc)
		check_peer_collisions(e);
	if (!t.svc && t.dev)
		nat_agent_peer_update(e, p);
	if (t.svc)
		dp_commit(e);
	e->dirty = true;
	resp_ok(resp);
}

void engine_peers_remove(struct engine *e, const uint8_t key[WG_KEY_LEN], const struct ovl_scope *s,
		  struct ovl_response *resp)
{
	struct scope_target t;
	if (!scope_resolve(e, s, &t, "remove_peer", resp))
		return;
	if (t.dev) {
		int r = wg_peer_remove(t.dev, key);
		if (r < 0 && r != -ENOENT) {
			char k[WG_KEY_B64_LEN + 1];
			key_to_base64(key, k);
			ovl_response_err(resp, "remove_peer %s: %s", k, strerror(-r));
			return;
		}
	}
	if (t.svc) {
		struct ovl_peer_spec *p = svc_find_peer(t.svc, key);
		if (p) {
			drop_routes(e, t.route_dev, p->allowed_ips, p->n_allowed_ips);
			ovl_peer_spec_free(p);
			size_t i = (size_t)(p - t.svc->peers);
			memmove(p, p + 1, (t.svc->n_peers - i - 1) * sizeof(*p));
			t.svc->n_peers--;
			dp_commit(e);
		}
	} else {
		nat_agent_peer_forget(e, key);
		if (state_remove_peer(&e->st, key))
			e->dirty = true;
	}
	resp_ok(resp);
}

static bool has_prefix(const struct ovl_peer_spec *p, const struct ip_prefix *c)
{
	for (size_t i = 0; i < p->n_allowed_ips; i++)
		if (ip_prefix_equal(&p->allowed_ips[i], c))
			return true;
	return false;
}

void engine_peers_allowed_ip(struct engine *e, bool add, const uint8_t key[WG_KEY_LEN], const struct ip_prefix *cidr,
		      const struct ovl_scope *s, struct ovl_response *resp)
{
	struct scope_target t;
	if (!scope_resolve(e, s, &t, "allowed_ip", resp))
		return;
	const char *op = add ? "add_allowed_ip" : "remove_allowed_ip";
	char k[WG_KEY_B64_LEN + 1];
	key_to_base64(key, k);
	struct ovl_peer_spec *p = t.svc ? svc_find_peer(t.svc, key) : state_find_peer(&e->st, key);
	if (!p) {
		/* The original's no-device path skips silently; keep it ok but say why. */
		log_warn("%s: peer %s is not known; nothing recorded", op, k);
		resp_ok(resp);
		return;
	}
	if (t.dev) {
		int r = add ? wg_peer_add_allowed_ip(t.dev, key, cidr) : wg_peer_remove_allowed_ip(t.dev, key, cidr);
		if (r < 0 && !(r == -ENOENT && !add)) {
			ovl_response_err(resp, "%s %s: %s", op, k, strerror(-r));
			return;
		}
		struct ip_prefix net = ip_prefix_network(cidr);
		if (t.route_dev && add)
			nl_route_replace(e->dp->nl, &net, t.route_dev);
		else if (t.route_dev)
			nl_route_delete(e->dp->nl, &net, t.route_dev);
	}
	if (add && !has_prefix(p, cidr)) {
		struct ip_prefix *n = realloc(p->allowed_ips, (p->n_allowed_ips + 1) * sizeof(*n));
		if (!n) {
			ovl_response_err(resp, "%s %s: out of memory", op, k);
			return;
		}
		p->allowed_ips = n;
		p->allowed_ips[p->n_allowed_ips++] = *cidr;
		e->dirty = true;
	} else if (!add) {
		for (size_t i = 0; i < p->n_allowed_ips; i++) {
			if (ip_prefix_equal(&p->allowed_ips[i], cidr)) {
				memmove(&p->allowed_ips[i], &p->allowed_ips[i + 1],
					(p->n_allowed_ips - i - 1) * sizeof(*p->allowed_ips));
				p->n_allowed_ips--;
				e->dirty = true;
				break;
			}
		}
	}
	if (t.svc && e->dirty)
		dp_commit(e);
	else if (add && !t.svc)
		check_peer_collisions(e);
	resp_ok(resp);
}

/* ---- peer health ---- */

static struct dp_health *health_slot(struct dp *dp, const uint8_t key[WG_KEY_LEN])
{
	for (size_t i = 0; i < dp->n_health; i++)
		if (key_equal(dp->health[i].key, key))
			return &dp->health[i];
	void *n = realloc(dp->health, (dp->n_health + 1) * sizeof(*dp->health));
	if (!n)
		return NULL;
	dp->health = n;
	struct dp_health *h = &dp->health[dp->n_health++];
	memcpy(h->key, key, WG_KEY_LEN);
	h->healthy = false; /* a new peer starts unhealthy: its first handshake is news */
	return h;
}

/* A handshake within the threshold = healthy; report every change. */
static void health_check_device(struct engine *e, struct wg_device *dev, time_t now)
{
	struct dp *dp = e->dp;
	struct wg_device_status *st = NULL;
	if (!dev || wg_device_status(dev, &st) < 0)
		return;
	for (size_t i = 0; i < st->n_peers; i++) {
		const struct wg_peer_status *ps = &st->peers[i];
		uint8_t key[WG_KEY_LEN];
		if (key_from_base64(ps->public_key, key) < 0)
			continue;
		bool healthy = ps->last_handshake_sec > 0 && now - ps->last_handshake_sec <= DP_HEALTH_THRESHOLD_SECS;
		struct dp_health *h = health_slot(dp, key);
		if (!h || h->healthy == healthy)
			continue;
		h->healthy = healthy;
		log_info("peer %s (%s) is now %s", ps->public_key, wg_device_ifname(dev),
			 healthy ? "healthy" : "unhealthy");
		struct ovl_event ev = { .kind = OVL_EV_PEER_HEALTH_CHANGED, .healthy = healthy };
		memcpy(ev.pubkey, key, WG_KEY_LEN);
		engine_emit_event(e, &ev);
	}
	wg_device_status_free(st);
}

/* One pass over the global device and the watched dedicated ones (health_lock held). */
static void health_pass(struct engine *e)
{
	struct dp *dp = e->dp;
	time_t now = time(NULL);
	health_check_device(e, dp->gdev, now);
	for (size_t i = 0; i < dp->n_watched; i++)
		health_check_device(e, dp->watched[i], now);
}

static void *health_main(void *arg)
{
	struct engine *e = arg;
	struct dp *dp = e->dp;
	pthread_mutex_lock(&dp->health_lock);
	while (!dp->health_stop) {
		health_pass(e);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += DP_HEALTH_INTERVAL_SECS;
		while (!dp->health_stop && pthread_cond_timedwait(&dp->health_cond, &dp->health_lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&dp->health_lock);
	return NULL;
}

void dp_health_start(struct engine *e)
{
	struct dp *dp = e->dp;
	if (dp->health_running || (!dp->gdev && !dp->n_watched))
		return;
	dp->health_stop = false;
	int r = pthread_create(&dp->health_thread, NULL, health_main, e);
	if (r != 0) {
		log_warn("cannot start the peer health job: %s; peer_health_changed events are off", strerror(r));
		return;
	}
	dp->health_running = true;
}

void dp_health_stop(struct engine *e)
{
	struct dp *dp = e->dp;
	if (!dp->health_running)
		return;
	pthread_mutex_lock(&dp->health_lock);
	dp->health_stop = true;
	pthread_cond_signal(&dp->health_cond);
	pthread_mutex_unlock(&dp->health_lock);
	pthread_join(dp->health_thread, NULL);
	dp->health_running = false;
}

void dp_health_watch(struct engine *e, struct wg_device *dev)
{
	struct dp *dp = e->dp;
	pthread_mutex_lock(&dp->health_lock);
	void *n = realloc(dp->watched, (dp->n_watched + 1) * sizeof(*dp->watched));
	if (n) {
		dp->watched = n;
		dp->watched[dp->n_watched++] = dev;
	}
	pthread_mutex_unlock(&dp->health_lock);
	if (!n)
		log_warn("out of memory: no peer_health_changed events for the peers of %s", wg_device_ifname(dev));
	else
		dp_health_start(e); /* a no-op when it runs; started here without a global device */
}

void dp_health_unwatch(struct engine *e, struct wg_device *dev)
{
	struct dp *dp = e->dp;
	pthread_mutex_lock(&dp->health_lock);
	for (size_t i = 0; i < dp->n_watched; i++) {
		if (dp->watched[i] != dev)
			continue;
		dp->watched[i] = dp->watched[--dp->n_watched];
		break;
	}
	pthread_mutex_unlock(&dp->health_lock);
}
