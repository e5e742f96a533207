// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "wg/device.h"

struct wg_peer *wg_peer_find(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	struct wg_peer *p;
	TAILQ_FOREACH(p, &dev->peers, link)
		if (memcmp(p->public_key, key, WG_KEY_LEN) == 0)
			return p;
	return NULL;
}

struct wg_peer *wg_peer_create(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	struct wg_peer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (pthread_mutex_init(&p->lock, NULL) || wg_cookie_maker_init(&p->cookie, key)) {
		free(p);
		return NULL;
	}
	p->dev = dev;
	memcpy(p->public_key, key, WG_KEY_LEN);
	wg_aip_owner_init(&p->aips);
	noise_handshake_init(&p->hs, &dev->identity, key, NULL);
	STAILQ_INIT(&p->staged);
	atomic_init(&p->rx_bytes, 0);
	atomic_init(&p->tx_bytes, 0);
	atomic_init(&p->rx_packets, 0);
	atomic_init(&p->tx_packets, 0);
	atomic_init(&p->handshake_initiations, 0);
	atomic_init(&p->handshake_failures, 0);
	atomic_init(&p->endpoint_changes, 0);
	TAILQ_INSERT_TAIL(&dev->peers, p, link);
	dev->n_peers++;
	return p;
}

static void drop_keypair(struct wg_peer *peer, struct noise_keypair **slot)
{
	struct noise_keypair *kp = *slot;
	if (!kp)
		return;
	*slot = NULL;
	atomic_store(&kp->valid, false);
	wg_index_remove(&peer->dev->index, kp->local_index);
	noise_keypair_put(kp);
}

static void drop_staged(struct wg_peer *peer)
{
	struct wg_staged *s;
	while ((s = STAILQ_FIRST(&peer->staged))) {
		STAILQ_REMOVE_HEAD(&peer->staged, link);
		free(s);
	}
	peer->n_staged = 0;
}

void wg_peer_zero_keys(struct wg_peer *peer)
{
	drop_keypair(peer, &peer->kp_previous);
	drop_keypair(peer, &peer->kp_current);
	drop_keypair(peer, &peer->kp_next);
	if (peer->hs.state != NOISE_ZEROED)
		wg_index_remove(&peer->dev->index, peer->hs.local_index);
	noise_handshake_clear(&peer->hs);
}

void wg_peer_destroy(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	TAILQ_REMOVE(&dev->peers, peer, link);
	dev->n_peers--;
	wg_allowedips_remove_owner(&dev->aips, &peer->aips);
	pthread_mutex_lock(&peer->lock);
	wg_timers_stop(peer);
	wg_peer_zero_keys(peer);
	drop_staged(peer);
	pthread_mutex_unlock(&peer->lock);
	pthread_mutex_destroy(&peer->lock);
	wg_memzero(&peer->hs, sizeof(peer->hs));
	free(peer);
}

void wg_peer_add_keypair(struct wg_peer *peer, struct noise_keypair *kp)
{
	if (kp->initiator) {
		/*
		 * Our own handshake: use the new session at once. A still
		 * unconfirmed next keypair becomes previous (the responder may
		 * yet send on it), else the current one does.
		 */
		if (peer->kp_next) {
			drop_keypair(peer, &peer->kp_previous);
			peer->kp_previous = peer->kp_next;
			peer->kp_next = NULL;
			drop_keypair(peer, &peer->kp_current);
		} else {
			drop_keypair(peer, &peer->kp_previous);
			peer->kp_previous = peer->kp_current;
		}
		peer->kp_current = kp;
	} else {
		/* As responder we may not send until the initiator has used it. */
		drop_keypair(peer, &peer->kp_next);
		drop_keypair(peer, &peer->kp_previous);
		peer->kp_next = kp;
	}
}

bool wg_peer_confirm_keypair(struct wg_peer *peer, struct noise_keypair *kp)
{
	if (!peer->kp_next || peer->kp_next != kp)
		return false;
	drop_keypair(peer, &peer->kp_previous);
	peer->kp_previous = peer->kp_current;
	peer->kp_current = kp;
	peer->kp_next = NULL;
	return true;
}

/* Whether ep is a change: the peer has no endpoint, or another one. */
static bool endpoint_differs(const struct wg_peer *peer, const struct ip_endpoint *ep)
{
	return !peer->has_endpoint || !ip_addr_equal(&peer->endpoint.addr, &ep->addr) ||
	       peer->endpoint.port != ep->port;
}

void wg_peer_set_endpoint(struct wg_peer *peer, const struct ip_endpoint *ep, const struct ip_addr *local)
{
	/* Through a TURN relay (relay.c): the relayed path stays as the NAT agent set it. */
	if (wg_relay_is_server(peer->dev, ep))
		return;
	bool differs = endpoint_differs(peer, ep);
	if (local && local->family == ep->addr.family)
		peer->src = *local;
	else if (differs)
		memset(&peer->src, 0, sizeof(peer->src));
	if (!differs)
		return;
	peer->endpoint = *ep;
	peer->has_endpoint = true;
	atomic_fetch_add_explicit(&peer->endpoint_changes, 1, memory_order_relaxed);
	if (peer->dev->cfg.on_endpoint)
		peer->dev->cfg.on_endpoint(peer->dev->cfg.user, peer->public_key, ep);
}

/* With dev->lock held for writing. */
int wg_peer_apply(struct wg_device *dev, const struct wg_peer_config *cfg)
{
	struct wg_peer *peer = wg_peer_find(dev, cfg->public_key);
	bool created = false;
	int ret = 0;

	if (dev->identity.has_key && memcmp(cfg->public_key, dev->identity.public_key, WG_KEY_LEN) == 0)
		return 0; /* our own key: a peer with it could never handshake */
	if (!peer) {
		if (cfg->update_only)
			return 0;
		peer = wg_peer_create(dev, cfg->public_key);
		if (!peer)
			return -ENOMEM;
		created = true;
	}
	pthread_mutex_lock(&peer->lock);
	if (cfg->set_preshared_key)
		memcpy(peer->hs.preshared_key, cfg->preshared_key, WG_KEY_LEN);
	if (cfg->set_endpoint) {
		if (ip_endpoint_is_unset(&cfg->endpoint))
			peer->has_endpoint = false;
		else {
			if (endpoint_differs(peer, &cfg->endpoint))
				atomic_fetch_add_explicit(&peer->endpoint_changes, 1, memory_order_relaxed);
			peer->endpoint = cfg->endpoint;
			peer->has_endpoint = true;
		}
		memset(&peer->src, 0, sizeof(peer->src)); /* a configured endpoint: the kernel picks the source */
	}
	if (cfg->set_persistent_keepalive) {
		bool was_off = peer->persistent_keepalive == 0;
		peer->persistent_keepalive = cfg->persistent_keepalive;
		peer->t_persistent = 0;
		/* Like the kernel: switching it on sends one at once (keeps a NAT open). */
		if (was_off && cfg->persistent_keepalive && peer->has_endpoint && dev->identity.has_key)
			wg_send_keepalive(peer);
	}
	pthread_mutex_unlock(&peer->lock);
	if (cfg->replace_allowed_ips)
		wg_allowedips_remove_owner(&dev->aips, &peer->aips);
	for (size_t i = 0; i < cfg->n_allowed_ips && !ret; i++)
		ret = wg_allowedips_insert(&dev->aips, &cfg->allowed_ips[i], &peer->aips);
	if (ret) {
		log_error("wg %s: cannot add allowed IP: %s", dev->ifname, strerror(-ret));
		if (created)
			wg_peer_destroy(peer);
	}
	return ret;
}
