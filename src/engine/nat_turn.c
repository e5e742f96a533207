// SPDX-License-Identifier: MIT
/*
 * The NAT agent's TURN relays (nat_turn.h): the glue between the pure TURN
 * clients and the global device. Requests leave from the device's own port
 * (wg_device_send_raw), so the allocation's 5-tuple is the one WireGuard's
 * ChannelData uses; answers come back through the port's demultiplexer.
 * State changes are logged once, with the reason and never a credential.
 */
#include "engine/nat_turn.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nat/candidates.h"
#include "nat/turn_client.h"
#include "util/deadline.h"
#include "util/log.h"
#include "wg/wg.h"

#define NAT_TURN_MAX_SENDS 16
#define NAT_TURN_QUEUE 8 /* Data indications waiting for the agent's thread */

/* A WireGuard message from a Data indication, for wg_device_receive_relayed. */
struct nat_turn_relayed {
	struct ip_endpoint server;
	size_t len;
	uint8_t buf[WG_RELAYED_MAX];
};

struct nat_turn_server {
	char *addr; /* as configured */
	bool resolved;
	int device_slot; /* index among the device's relay servers; -1: not given to it */
	struct turn_client client;
	enum turn_state logged; /* the state last logged, to log each change once */
	char logged_error[sizeof(((struct turn_client *)0)->error)];
};

struct nat_turn {
	pthread_mutex_t lock;
	struct nat_turn_server *servers;
	size_t n_servers;
	const struct ovl_nat_config *cfg; /* the agent's; outlives us */
	void (*rand)(uint8_t *, size_t);
	/*
	 * Data indications: the hook runs on a device thread, which cannot call
	 * back into the device, so their contents wait here for the next tick.
	 */
	struct nat_turn_relayed queue[NAT_TURN_QUEUE];
	size_t n_queued;
	uint64_t queue_dropped;
};

struct nat_turn *nat_turn_new(const struct ovl_nat_config *cfg, void (*rand)(uint8_t *, size_t))
{
	struct nat_turn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->servers = cfg->n_turn_servers ? calloc(cfg->n_turn_servers, sizeof(*t->servers)) : NULL;
	if (cfg->n_turn_servers && !t->servers) {
		free(t);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_turn_servers; i++) {
		t->servers[i].addr = strdup(cfg->turn_servers[i].addr);
		if (!t->servers[i].addr) {
			t->n_servers = i;
			nat_turn_free(t);
			return NULL;
		}
	}
	t->n_servers = cfg->n_turn_servers;
	t->cfg = cfg;
	t->rand = rand;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void nat_turn_free(struct nat_turn *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_servers; i++) {
		free(t->servers[i].addr);
		explicit_bzero(&t->servers[i].client, sizeof(t->servers[i].client)); /* the password, the key */
	}
	free(t->servers);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* A client's state change, logged once (with t->lock held). */
static void log_change(struct nat_turn_server *s)
{
	const struct turn_client *c = &s->client;
	char ep[IP_ENDPOINT_STRLEN];
	if (c->state == s->logged && strcmp(c->error, s->logged_error) == 0)
		return;
	s->logged = c->state;
	memcpy(s->logged_error, c->error, sizeof(s->logged_error));
	if (c->state == TURN_STATE_ALLOCATED)
		log_info("nat: TURN server %s: relayed address %s", s->addr,
			 ip_endpoint_format(&c->relayed, ep, sizeof(ep)));
	else if (c->state == TURN_STATE_FAILED)
		log_warn("nat: TURN server %s: %s; retrying later", s->addr, c->error);
	else if (c->state == TURN_STATE_CLOSED)
		log_info("nat: TURN server %s: allocation released", s->addr);
}

void nat_turn_start(struct nat_turn *t, struct wg_device *dev, uint64_t now_ms)
{
	struct ip_endpoint relays[WG_MAX_RELAY_SERVERS];
	size_t n_relays = 0;

	for (size_t i = 0; i < t->n_servers; i++) {
		const struct ovl_turn_server *spec = &t->cfg->turn_servers[i];
		struct nat_turn_server *s = &t->servers[i];
		struct ip_endpoint eps[2];
		const char *why = NULL;
		int n = ip_hostport_resolve(spec->addr, eps, &why);

		pthread_mutex_lock(&t->lock);
		if (n < 0) {
			/* The client is never started: its state stays as this reason says. */
			memset(&s->client, 0, sizeof(s->client));
			s->client.state = TURN_STATE_FAILED;
			snprintf(s->client.error, sizeof(s->client.error), "cannot resolve %s: %s", spec->addr, why);
		} else if (turn_client_init(&s->client, &eps[0], spec->username, spec->credential, t->rand) < 0) {
			s->client.state = TURN_STATE_FAILED;
			snprintf(s->client.error, sizeof(s->client.error), "%s",
				 "username or credential empty or too long");
		} else {
			s->resolved = true;
			turn_client_start(&s->client, now_ms);
			s->device_slot = -1;
			if (n_relays < sizeof(relays) / sizeof(relays[0])) {
				s->device_slot = (int)n_relays;
				relays[n_relays++] = eps[0];
			}
		}
		log_change(s);
		pthread_mutex_unlock(&t->lock);
	}
	if (n_relays && wg_device_set_relay_servers(dev, relays, n_relays) < 0)
		log_warn("nat: the device cannot take %zu TURN servers", n_relays);
}

/* The Data indications' WireGuard messages, to the device (t->lock not held). */
static void deliver_queued(struct nat_turn *t, struct wg_device *dev)
{
	struct nat_turn_relayed *q;
	size_t n;
	pthread_mutex_lock(&t->lock);
	n = t->n_queued;
	q = n ? malloc(n * sizeof(*q)) : NULL;
	if (q)
		memcpy(q, t->queue, n * sizeof(*q));
	t->n_queued = 0;
	pthread_mutex_unlock(&t->lock);
	for (size_t i = 0; q && i < n; i++)
		if (wg_device_receive_relayed(dev, &q[i].server, q[i].buf, q[i].len) < 0)
			log_debug("nat: a Data indication held no WireGuard message");
	free(q);
}

void nat_turn_tick(struct nat_turn *t, struct wg_device *dev, uint64_t now_ms)
{
	deliver_queued(t, dev);
	for (size_t i = 0; i < t->n_servers; i++) {
		struct nat_turn_server *s = &t->servers[i];
		struct turn_send sends[NAT_TURN_MAX_SENDS];
		struct ip_endpoint to;
		size_t n = 0;

		pthread_mutex_lock(&t->lock);
		if (s->resolved) {
			n = turn_client_tick(&s->client, now_ms, sends, NAT_TURN_MAX_SENDS);
			to = s->client.server;
			log_change(s);
		}
		pthread_mutex_unlock(&t->lock);
		for (size_t j = 0; j < n; j++) {
			int r = wg_device_send_raw(dev, &to, sends[j].buf, sends[j].len);
			if (r < 0)
				log_debug("nat: TURN request to %s not sent: %s", s->addr, strerror(-r));
		}
	}
}

bool nat_turn_on_datagram(struct nat_turn *t, const uint8_t *buf, size_t len, const struct ip_endpoint *from,
			  uint64_t now_ms)
{
	bool consumed = false;
	if (!wg_is_stun(buf, len))
		return false;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_servers && !consumed; i++) {
		struct nat_turn_server *s = &t->servers[i];
		struct ip_endpoint peer;
		const uint8_t *data;
		size_t data_len;
		if (!s->resolved || !ip_endpoint_equal(&s->client.server, from))
			continue;
		uint64_t stale = s->client.stale_nonces, reclaims = s->client.reclaims;
		enum turn_rx rx = turn_client_on_message(&s->client, buf, len, now_ms, &peer, &data, &data_len);
		consumed = rx != TURN_RX_DROPPED;
		if (s->client.stale_nonces != stale)
			log_debug("nat: TURN server %s: stale nonce (438); sent again with the new one", s->addr);
		if (s->client.reclaims != reclaims)
			log_info("nat: TURN server %s: released the allocation an earlier run left on this port "
				 "(437 Allocation Mismatch); allocating again", s->addr);
		log_change(s);
		/* A Data indication: the relay's fallback while no channel to that peer is bound. */
		if (rx != TURN_RX_DATA)
			continue;
		if (t->n_queued < NAT_TURN_QUEUE && data_len <= WG_RELAYED_MAX) {
			struct nat_turn_relayed *q = &t->queue[t->n_queued++];
			q->server = s->client.server;
			q->len = data_len;
			memcpy(q->buf, data, data_len);
		} else {
			t->queue_dropped++;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return consumed;
}

size_t nat_turn_count(struct nat_turn *t)
{
	return t->n_servers < NAT_TURN_MAX_RELAYS ? t->n_servers : NAT_TURN_MAX_RELAYS;
}

void nat_turn_unbind(struct nat_turn *t, size_t i, const struct ip_endpoint *target)
{
	pthread_mutex_lock(&t->lock);
	if (t->servers[i].resolved)
		turn_client_unbind(&t->servers[i].client, target);
	pthread_mutex_unlock(&t->lock);
}

void nat_turn_relay(struct nat_turn *t, size_t i, struct nat_turn_relay *out)
{
	pthread_mutex_lock(&t->lock);
	const struct nat_turn_server *s = &t->servers[i];
	*out = (struct nat_turn_relay){
		.allocated = s->resolved && s->client.state == TURN_STATE_ALLOCATED,
		.server = s->client.server,
		.relayed = s->client.relayed,
		.device_slot = s->resolved ? s->device_slot : -1,
	};
	pthread_mutex_unlock(&t->lock);
}

bool nat_turn_carry(struct nat_turn *t, size_t i, const struct ip_endpoint *target, uint64_t now_ms,
		    uint16_t *channel)
{
	enum turn_carry carry = TURN_CARRY_NONE;
	*channel = 0;
	pthread_mutex_lock(&t->lock);
	struct turn_client *c = &t->servers[i].client;
	if (t->servers[i].resolved && c->state == TURN_STATE_ALLOCATED && target->addr.family == c->relayed.addr.family) {
		turn_client_bind(c, target, now_ms);
		carry = turn_client_carry(c, target, channel);
	}
	pthread_mutex_unlock(&t->lock);
	return carry != TURN_CARRY_NONE;
}

void nat_turn_candidates(struct nat_turn *t, struct ovl_candidate *list, size_t *n)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_servers; i++) {
		const struct turn_client *c = &t->servers[i].client;
		if (c->state != TURN_STATE_ALLOCATED)
			continue;
		struct ovl_candidate cand = {
			.type = OVL_CAND_RELAY,
			.address = c->relayed,
			.priority = nat_priority(NAT_TYPE_PREF_RELAY, nat_local_preference(c->relayed.addr.family, (unsigned)i),
						 NAT_COMPONENT_ID),
		};
		nat_candidate_add(list, n, &cand);
	}
	pthread_mutex_unlock(&t->lock);
}

struct ovl_nat_turn_server *nat_turn_status(struct nat_turn *t, size_t *n)
{
	struct ovl_nat_turn_server *out = t->n_servers ? calloc(t->n_servers, sizeof(*out)) : NULL;
	*n = 0;
	if (!out)
		return NULL;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_servers; i++) {
		const struct turn_client *c = &t->servers[i].client;
		snprintf(out[i].addr, sizeof(out[i].addr), "%s", t->servers[i].addr);
		out[i].state = turn_state_name(c->state);
		out[i].has_relayed = c->state == TURN_STATE_ALLOCATED;
		out[i].relayed = c->relayed;
		memcpy(out[i].error, c->error, sizeof(out[i].error));
	}
	*n = t->n_servers;
	pthread_mutex_unlock(&t->lock);
	return out;
}

void nat_turn_close(struct nat_turn *t, struct wg_device *dev, uint64_t timeout_ms)
{
	uint64_t start = clock_now_ms(CLOCK_MONOTONIC), now = start;
	bool open = true;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_servers; i++)
		if (t->servers[i].resolved)
			turn_client_close(&t->servers[i].client, now);
	pthread_mutex_unlock(&t->lock);
	/* The answers come through the device's receive threads; poll for them. */
	while (open && now - start < timeout_ms) {
		nat_turn_tick(t, dev, now);
		usleep(10000);
		now = clock_now_ms(CLOCK_MONOTONIC);
		open = false;
		pthread_mutex_lock(&t->lock);
		for (size_t i = 0; i < t->n_servers; i++)
			open |= t->servers[i].resolved && t->servers[i].client.state == TURN_STATE_DEALLOCATING;
		pthread_mutex_unlock(&t->lock);
	}
	wg_device_set_relay_servers(dev, NULL, 0);
}
