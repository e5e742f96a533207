// SPDX-License-Identifier: MIT
/*
 * NAT traversal: nat_tick, nat_status and the NAT agent (nat.h).
 *
 * The agent's thread wakes every NAT_TICK_MS (or when kicked) and does, in
 * order: STUN retransmissions and refreshes (nat/stun_client.h), host
 * candidate gathering on refresh, TURN relays (nat_turn.h), one step of
 * every peer's path selection (nat_path.h: a relay or the direct path, and
 * the direct path's punch rounds of nat/punch.h) from the device's status,
 * the probes, silences and path changes that asks for, and the events
 * queued meanwhile. Lock order: the device's own
 * locks (held by the receive threads that call our hooks) before a->lock;
 * so the thread never calls into the device while it holds a->lock.
 */
#include "engine/nat.h"
#include "engine/dp.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "engine/nat_path.h"
#include "engine/nat_turn.h"
#include "nat/candidates.h"
#include "nat/punch.h"
#include "nat/round.h"
#include "nat/stun_client.h"
#include "nat/stun_peer.h"
#include "util/deadline.h"
#include "util/log.h"
#include "wg/wg.h"

#define NAT_TICK_MS 50
/* Keepalive well under conntrack's 30 s for unanswered UDP (and home routers' like it). */
#define NAT_KEEPALIVE_SECS 5
#define NAT_MAX_EVENTS 64
#define NAT_MAX_SENDS 16
#define NAT_TURN_CLOSE_MS 1000 /* the most teardown waits for Deallocate answers */
#define NAT_MAX_REPLIES 16 /* answers to peers' checks waiting for the thread */

_Static_assert(OVL_NAT_MAX_PEER_REFLEXIVE == NAT_MAX_PEER_REFLEXIVE, "nat_status holds every learned candidate");


struct nat_peer {
	uint8_t key[WG_KEY_LEN];
	struct ip_endpoint configured; /* unset: none */
	struct ovl_candidate cands[NAT_MAX_CANDIDATES];
	size_t n_cands;
	struct nat_pathsel sel; /* which path; the direct path's punch rounds */
	bool session;		/* a handshake in the last NAT_PATH_PROOF_FRESH_MS */
	struct nat_prflx prflx;
	uint8_t check_txid[STUN_TXID_LEN]; /* of our last check (non-initiator) */
	bool probe_now;			    /* a check came from probe_to: probe it at once */
	struct ip_endpoint probe_to;
	struct nat_round round; /* for the line that says why a round failed */
	uint64_t rx_bytes;	/* the device's count, for the round's account */
	uint64_t tx_bytes, tx_changed_ms; /* the device's count, and when it last moved (monotonic) */
	bool has_endpoint;
	struct ip_endpoint endpoint;
	uint16_t keepalive;  /* what add_peer asked for */
	bool keepalive_done; /* ours applied */
};

struct nat_agent {
	struct engine *e;
	struct wg_device *dev;
	uint8_t own_key[WG_KEY_LEN];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	struct ovl_nat_config cfg; /* resolved: no zero numbers */
	struct nat_punch_params punch;
	struct stun_client stun;
	struct nat_turn *turn; /* NULL: no turn_servers configured */
	uint64_t next_refresh_ms; /* monotonic */
	bool gather_hosts;
	struct ovl_candidate host[NAT_MAX_CANDIDATES];
	size_t n_host;
	bool has_reflexive[2];
	struct ip_endpoint reflexive[2];
	uint64_t last_refresh; /* Unix time */
	struct nat_peer *peers;
	size_t n_peers;
	struct ovl_event events[NAT_MAX_EVENTS];
	size_t n_events;
	uint64_t rx_not_stun;
	struct stun_peer_counters peer_stun;
	struct nat_reply {
		struct ip_endpoint to;
		uint8_t buf[STUN_PEER_REPLY_MAX];
		size_t len;
	} replies[NAT_MAX_REPLIES];
	size_t n_replies;
};

static void random_bytes(uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t got = getrandom(buf, len, 0);
		if (got <= 0)
			continue;
		buf += got;
		len -= (size_t)got;
	}
}

static int family_slot(int family)
{
	return family == AF_INET6;
}

static struct nat_peer *find_peer(struct nat_agent *a, const uint8_t key[WG_KEY_LEN])
{
	for (size_t i = 0; i < a->n_peers; i++)
		if (key_equal(a->peers[i].key, key))
			return &a->peers[i];
	return NULL;
}

/* With a->lock held. A full queue drops the event (logged): the status still tells. */
static void queue_event(struct nat_agent *a, const struct ovl_event *ev)
{
	if (a->n_events >= NAT_MAX_EVENTS) {
		log_warn("nat: event queue full; an event is dropped");
		return;
	}
	a->events[a->n_events++] = *ev;
	pthread_cond_signal(&a->cond);
}

/* ---- hooks, on the device's receive threads ---- */

/* The reflexive address of family from the first server that answered; events on change. */
static void update_reflexive(struct nat_agent *a)
{
	for (int fam = 0; fam < 2; fam++) {
		bool has = false;
		struct ip_endpoint ep = { 0 };
		for (size_t i = 0; i < a->stun.n_servers && !has; i++) {
			const struct stun_server *s = &a->stun.servers[i];
			if (s->has_mapped && family_slot(s->addr.addr.family) == fam) {
				has = true;
				ep = s->mapped;
			}
		}
		if (has == a->has_reflexive[fam] && (!has || ip_endpoint_equal(&ep, &a->reflexive[fam])))
			continue;
		char s[IP_ENDPOINT_STRLEN];
		log_info("nat: server-reflexive address (%s) is now %s", fam ? "IPv6" : "IPv4",
			 has ? ip_endpoint_format(&ep, s, sizeof(s)) : "unknown");
		a->has_reflexive[fam] = has;
		a->reflexive[fam] = ep;
		struct ovl_event ev = { .kind = OVL_EV_NAT_REFLEXIVE_CHANGED, .endpoint = ep };
		queue_event(a, &ev);
	}
}

/* With a->lock held. from reached us on the peer's behalf: learned when new (RFC 8445 7.3.1.3). */
static bool learn_peer_reflexive(struct nat_peer *p, const struct ip_endpoint *from, const char *how)
{
	if (ip_endpoint_is_unset(from) ||
	    (!ip_endpoint_is_unset(&p->configured) && ip_endpoint_equal(&p->configured, from)))
		return false;
	if (!nat_prflx_learn(&p->prflx, p->cands, p->n_cands, from))
		return false;
	char k[WG_KEY_B64_LEN + 1], s[IP_ENDPOINT_STRLEN];
	key_to_base64(p->key, k);
	log_info("nat: peer %s: %s from %s, none of its candidates: learned as peer-reflexive", k, how,
		 ip_endpoint_format(from, s, sizeof(s)));
	return true;
}

static long peer_by_username(void *ctx, const char *name, size_t len)
{
	struct nat_agent *a = ctx;
	char k[WG_KEY_B64_LEN + 1];
	for (size_t i = 0; len == WG_KEY_B64_LEN && i < a->n_peers; i++) {
		key_to_base64(a->peers[i].key, k);
		if (memcmp(k, name, len) == 0)
			return (long)i;
	}
	return -1;
}

static long peer_by_txid(void *ctx, const uint8_t txid[STUN_TXID_LEN])
{
	struct nat_agent *a = ctx;
	for (size_t i = 0; i < a->n_peers; i++)
		if (memcmp(a->peers[i].check_txid, txid, STUN_TXID_LEN) == 0)
			return (long)i;
	return -1;
}

/* With a->lock held: a STUN datagram from no configured server. */
static void peer_stun(struct nat_agent *a, const uint8_t *buf, size_t len, const struct ip_endpoint *from)
{
	const struct stun_peer_lookup lk = { peer_by_username, peer_by_txid, a };
	struct stun_peer_rx rx;
	char s[IP_ENDPOINT_STRLEN];

	switch (stun_peer_on_datagram(buf, len, from, &lk, &a->peer_stun, &rx)) {
	case STUN_PEER_CHECK: {
		struct nat_peer *p = &a->peers[rx.peer];
		/*
		 * A new source gets our initiation at once (a triggered check); a known one
		 * is in the rounds' probes already, and an extra initiation would only
		 * replace the one whose answer may be on its way.
		 */
		if (learn_peer_reflexive(p, from, "a connectivity check") && p->sel.path.punch.state != NAT_PUNCH_UP) {
			p->probe_now = true;
			p->probe_to = *from;
		}
		nat_round_heard(&p->round, from, false);
		if (a->n_replies < NAT_MAX_REPLIES && rx.reply_len) {
			struct nat_reply *r = &a->replies[a->n_replies++];
			r->to = *from;
			memcpy(r->buf, rx.reply, rx.reply_len);
			r->len = rx.reply_len;
		}
		pthread_cond_signal(&a->cond);
		break;
	}
	case STUN_PEER_ANSWER: {
		char m[IP_ENDPOINT_STRLEN];
		nat_round_heard(&a->peers[rx.peer].round, from, true);
		log_debug("nat: %s answered our check: it sees us as %s", ip_endpoint_format(from, s, sizeof(s)),
			  ip_endpoint_format(&rx.mapped, m, sizeof(m)));
		break;
	}
	case STUN_PEER_DROPPED:
		break;
	}
}

static void on_datagram(void *user, const uint8_t *buf, size_t len, const struct ip_endpoint *from)
{
	struct nat_agent *a = user;
	if (a->turn && nat_turn_on_datagram(a->turn, buf, len, from, clock_now_ms(CLOCK_MONOTONIC)))
		return;
	pthread_mutex_lock(&a->lock);
	if (!wg_is_stun(buf, len)) {
		a->rx_not_stun++;
	} else if (!stun_client_has_server(&a->stun, from)) {
		peer_stun(a, buf, len, from);
	} else if (stun_client_on_datagram(&a->stun, buf, len, from, clock_now_ms(CLOCK_MONOTONIC))) {
		a->last_refresh = (uint64_t)time(NULL);
		update_reflexive(a);
	}
	pthread_mutex_unlock(&a->lock);
}

static void on_endpoint(void *user, const uint8_t peer_key[WG_KEY_LEN], const struct ip_endpoint *endpoint)
{
	struct nat_agent *a = user;
	struct ovl_event ev = { .kind = OVL_EV_NAT_ENDPOINT_CHANGED, .endpoint = *endpoint };
	memcpy(ev.pubkey, peer_key, WG_KEY_LEN);
	pthread_mutex_lock(&a->lock);
	struct nat_peer *p = find_peer(a, peer_key);
	if (p)
		learn_peer_reflexive(p, endpoint, "an authenticated packet");
	queue_event(a, &ev);
	pthread_mutex_unlock(&a->lock);
}

/* ---- the agent's thread ---- */

/* "host:port" to one address per family, added to the STUN client. Blocks this thread only. */
static void resolve_servers(struct nat_agent *a)
{
	for (size_t i = 0; i < a->cfg.n_stun_servers; i++) {
		struct ip_endpoint eps[2];
		const char *why;
		int n = ip_hostport_resolve(a->cfg.stun_servers[i], eps, &why);
		if (n < 0)
			log_warn("nat: cannot resolve STUN server %s: %s", a->cfg.stun_servers[i], why);
		pthread_mutex_lock(&a->lock);
		for (int j = 0; j < n; j++)
			stun_client_add_server(&a->stun, &eps[j]);
		pthread_mutex_unlock(&a->lock);
	}
}

static void stun_pass(struct nat_agent *a)
{
	struct stun_send sends[NAT_MAX_SENDS];
	uint64_t now = clock_now_ms(CLOCK_MONOTONIC);
	bool gather;
	size_t n;

	pthread_mutex_lock(&a->lock);
	if (now >= a->next_refresh_ms) {
		stun_client_refresh(&a->stun, now, random_bytes);
		a->next_refresh_ms = now + a->cfg.stun_refresh_interval_secs * 1000;
		a->gather_hosts = true;
	}
	n = stun_client_tick(&a->stun, now, sends, NAT_MAX_SENDS);
	if (a->stun.timeouts)
		update_reflexive(a); /* a server that stopped answering takes its mapping along */
	gather = a->gather_hosts;
	a->gather_hosts = false;
	pthread_mutex_unlock(&a->lock);

	for (size_t i = 0; i < n; i++) {
		int r = wg_device_send_raw(a->dev, &sends[i].to, sends[i].buf, sends[i].len);
		if (r < 0 && r != -EAFNOSUPPORT)
			log_debug("nat: STUN request not sent: %s", strerror(-r));
	}
	if (a->turn)
		nat_turn_tick(a->turn, a->dev, now);
	if (gather) {
		struct ovl_candidate host[NAT_MAX_CANDIDATES];
		int got = nat_gather_host(wg_device_listen_port(a->dev), host, NAT_MAX_CANDIDATES);
		if (got >= 0) {
			pthread_mutex_lock(&a->lock);
			memcpy(a->host, host, (size_t)got * sizeof(host[0]));
			a->n_host = (size_t)got;
			if (!a->stun.n_servers)
				a->last_refresh = (uint64_t)time(NULL);
			pthread_mutex_unlock(&a->lock);
		}
	}
}

/* What one peer needs done after a->lock is dropped. */
struct peer_job {
	uint8_t key[WG_KEY_LEN];
	struct nat_pathsel_step sel; /* sel.direct: the direct path's punch action */
	struct ip_endpoint eps[NAT_MAX_CANDIDATES + 1];
	size_t n_eps;
	bool set_keepalive;
	uint16_t keepalive;
	bool keepalive_now;	     /* nothing sent on the path in use for NAT_KEEPALIVE_SECS */
	uint8_t txid[STUN_TXID_LEN]; /* of the check, when we probe with STUN */
	char why[512];		     /* SILENCE: what the round probed and what came back */
};

/* See nat_probe_targets(); at most max_candidate_pairs. */
static size_t probe_targets(const struct nat_agent *a, const struct nat_peer *p, struct ip_endpoint *out)
{
	size_t cap = a->cfg.max_candidate_pairs < NAT_MAX_CANDIDATES + 1 ? a->cfg.max_candidate_pairs
									: NAT_MAX_CANDIDATES + 1;
	return nat_probe_targets(&p->configured, p->cands, p->n_cands, a->turn != NULL, &p->prflx, out, cap);
}

/*
 * One probe of every candidate. Only one node of a pair initiates
 * handshakes: the one with the larger public key. A WireGuard peer holds
 * one handshake at a time, so two initiations crossing every 250 ms would
 * each wipe the other's pending one and neither would ever complete. The
 * other node sends a STUN Binding request to each candidate instead, from
 * the same port: it opens its own NAT towards the peer just the same, and
 * answers the initiations that then come through. The check names us
 * (nat/stun_peer.h): the peer answers it, learns its source when new, and
 * sends an initiation there at once.
 */
static void probe(struct nat_agent *a, const struct peer_job *job)
{
	if (!job->n_eps)
		return;
	if (memcmp(a->own_key, job->key, WG_KEY_LEN) > 0) {
		wg_peer_probe(a->dev, job->key, job->eps, job->n_eps);
		return;
	}
	uint8_t buf[STUN_HEADER_LEN + 4 + WG_KEY_B64_LEN + 8 + 8];
	char own[WG_KEY_B64_LEN + 1];
	key_to_base64(a->own_key, own);
	size_t len = stun_write_binding_request_user(buf, sizeof(buf), job->txid, own);
	for (size_t i = 0; len && i < job->n_eps; i++)
		wg_device_send_raw(a->dev, &job->eps[i], buf, len);
}

static struct nat_pathsel_peer pathsel_peer(const struct nat_peer *p)
{
	return (struct nat_pathsel_peer){ .cands = p->cands, .n_cands = p->n_cands, .configured = &p->configured };
}

/* A move of the peer's path (a->lock held): logged and reported. */
static void path_moved(struct nat_agent *a, const struct nat_peer *p, const struct nat_pathsel_step *st)
{
	char k[WG_KEY_B64_LEN + 1], ep[IP_ENDPOINT_STRLEN];
	key_to_base64(p->key, k);
	log_info("nat: peer %s: %s path, %s", k, nat_path_kind_name(p->sel.path.cur.kind),
		 ip_endpoint_format(&st->endpoint, ep, sizeof(ep)));
	struct ovl_event ev = { .kind = OVL_EV_NAT_ENDPOINT_CHANGED, .endpoint = st->endpoint };
	memcpy(ev.pubkey, p->key, WG_KEY_LEN);
	queue_event(a, &ev);
}

/*
 * With a->lock held: the probe the direct path's step asked for, or one to
 * where a peer's check just came from.
 */
static void plan_probe(struct nat_agent *a, struct nat_peer *p, struct peer_job *job)
{
	const struct nat_punch *punch = &p->sel.path.punch;
	if (job->sel.direct == NAT_PUNCH_NOTHING && p->probe_now && punch->state != NAT_PUNCH_UP) {
		/* Out of the policy's rhythm, and quiet or not: the check shows our NAT lets that address in. */
		job->sel.direct = NAT_PUNCH_PROBE;
		job->eps[0] = p->probe_to;
		job->n_eps = 1;
	} else if (job->sel.direct == NAT_PUNCH_PROBE) {
		nat_round_probe(&p->round, punch->round_start_ms, p->rx_bytes);
		job->n_eps = probe_targets(a, p, job->eps);
	} else if (job->sel.direct == NAT_PUNCH_SILENCE) {
		job->n_eps = probe_targets(a, p, job->eps);
		nat_round_describe(&p->round, job->eps, job->n_eps, p->rx_bytes, job->why, sizeof(job->why));
	}
	p->probe_now = false;
	if (job->sel.direct == NAT_PUNCH_PROBE) {
		random_bytes(job->txid, sizeof(job->txid));
		memcpy(p->check_txid, job->txid, sizeof(job->txid));
	}
}

/* Returns when (CLOCK_REALTIME ms) a peer's direct path next wants a step: see nat_punch_next_ms(). */
static uint64_t peers_pass(struct nat_agent *a)
{
	uint64_t wake = UINT64_MAX;
	struct wg_device_status *st = NULL;
	struct peer_job *jobs;
	size_t n_jobs = 0;
	uint64_t now = clock_now_ms(CLOCK_REALTIME), mono = clock_now_ms(CLOCK_MONOTONIC);

	if (wg_device_status(a->dev, &st) < 0)
		return wake;
	pthread_mutex_lock(&a->lock);
	jobs = a->n_peers ? calloc(a->n_peers, sizeof(*jobs)) : NULL;
	for (size_t i = 0; jobs && i < a->n_peers; i++) {
		struct nat_peer *p = &a->peers[i];
		const struct wg_peer_status *ps = NULL;
		char k[WG_KEY_B64_LEN + 1];
		key_to_base64(p->key, k);
		for (size_t j = 0; j < st->n_peers && !ps; j++)
			if (strcmp(st->peers[j].public_key, k) == 0)
				ps = &st->peers[j];
		if (!ps)
			continue;
		p->rx_bytes = ps->rx_bytes;
		p->has_endpoint = ps->has_endpoint;
		p->endpoint = ps->endpoint;
		p->session = ps->last_handshake_sec > 0 &&
			     now - (uint64_t)ps->last_handshake_sec * 1000 <= NAT_PATH_PROOF_FRESH_MS;
		struct peer_job *job = &jobs[n_jobs];
		memcpy(job->key, p->key, WG_KEY_LEN);
		struct nat_pathsel_peer peer = pathsel_peer(p);
		nat_pathsel_step(&p->sel, a->turn, &a->punch, now, mono, ps, &peer, &job->sel);
		if (job->sel.moved)
			path_moved(a, p, &job->sel);
		plan_probe(a, p, job);
		/*
		 * Both ends of a path in use send at least every NAT_KEEPALIVE_SECS:
		 * WireGuard's persistent keepalive waits for silence both ways, so
		 * of an idle pair one side would only receive, and the other would
		 * see its path (relay or direct) carry nothing and take it for dead.
		 */
		if (ps->tx_bytes != p->tx_bytes) {
			p->tx_bytes = ps->tx_bytes;
			p->tx_changed_ms = mono;
		} else if (p->sel.path.cur.kind != NAT_PATH_NONE && mono - p->tx_changed_ms >= NAT_KEEPALIVE_SECS * 1000) {
			job->keepalive_now = true;
			p->tx_changed_ms = mono;
		}
		if (!p->keepalive_done) {
			p->keepalive_done = true;
			job->set_keepalive = true;
			job->keepalive = p->keepalive && p->keepalive < NAT_KEEPALIVE_SECS ? p->keepalive
											    : NAT_KEEPALIVE_SECS;
		}
		if (job->sel.direct != NAT_PUNCH_NOTHING || job->set_keepalive || job->keepalive_now ||
		    job->sel.change != NAT_PATHSEL_KEEP)
			n_jobs++;
		uint64_t next = nat_punch_next_ms(&p->sel.path.punch, &a->punch);
		wake = next < wake ? next : wake;
	}
	pthread_mutex_unlock(&a->lock);
	wg_device_status_free(st);

	for (size_t i = 0; i < n_jobs; i++) {
		struct peer_job *job = &jobs[i];
		struct wg_peer_config pc = { .update_only = true };
		char k[WG_KEY_B64_LEN + 1];
		key_to_base64(job->key, k);
		memcpy(pc.public_key, job->key, WG_KEY_LEN);
		if (job->set_keepalive) {
			pc.set_persistent_keepalive = true;
			pc.persistent_keepalive = job->keepalive;
		}
		switch (job->sel.direct) {
		case NAT_PUNCH_PROBE:
			probe(a, job);
			break;
		case NAT_PUNCH_SILENCE:
			/*
			 * Nothing may reach the peer's NAT until the retry: no endpoint, no keepalive, no
			 * retry. A relay in use carries on (its packets reach the NAT from the relay).
			 */
			log_info("nat: peer %s: no path within the hole-punching timeout (%s); quiet until the next round", k,
				 job->why);
			pc.set_endpoint = true;
			memset(&pc.endpoint, 0, sizeof(pc.endpoint));
			break;
		case NAT_PUNCH_CONNECTED:
			log_info("nat: peer %s connected", k);
			break;
		case NAT_PUNCH_NOTHING:
			break;
		}
		if (pc.set_endpoint || pc.set_persistent_keepalive)
			wg_peer_upsert(a->dev, &pc);
		nat_pathsel_apply(a->dev, job->key, memcmp(a->own_key, job->key, WG_KEY_LEN) > 0, &job->sel);
		if (job->keepalive_now)
			wg_peer_send_keepalive(a->dev, job->key);
	}
	free(jobs);
	return wake;
}

/* What the receive threads queued: answers to peers' checks (sent), events (emitted). */
static void drain_queues(struct nat_agent *a)
{
	struct nat_reply replies[NAT_MAX_REPLIES];
	struct ovl_event evs[NAT_MAX_EVENTS];
	size_t n_replies, n_evs;
	pthread_mutex_lock(&a->lock);
	n_replies = a->n_replies;
	memcpy(replies, a->replies, n_replies * sizeof(replies[0]));
	a->n_replies = 0;
	n_evs = a->n_events;
	memcpy(evs, a->events, n_evs * sizeof(evs[0]));
	a->n_events = 0;
	pthread_mutex_unlock(&a->lock);
	for (size_t i = 0; i < n_replies; i++)
		wg_device_send_raw(a->dev, &replies[i].to, replies[i].buf, replies[i].len);
	for (size_t i = 0; i < n_evs; i++)
		engine_emit_event(a->e, &evs[i]);
}

static void *agent_main(void *arg)
{
	struct nat_agent *a = arg;
	resolve_servers(a);
	if (a->turn)
		nat_turn_start(a->turn, a->dev, clock_now_ms(CLOCK_MONOTONIC));
	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		pthread_mutex_unlock(&a->lock);
		/* The peers first: a retry's probes leave at their slot's millisecond. */
		drain_queues(a);
		uint64_t wake = peers_pass(a);
		stun_pass(a);
		pthread_mutex_lock(&a->lock);
		if (a->stop || a->n_events || a->n_replies)
			continue;
		struct timespec until = deadline_after_ms(CLOCK_REALTIME, NAT_TICK_MS);
		if (wake < (uint64_t)until.tv_sec * 1000 + (uint64_t)until.tv_nsec / 1000000)
			until = (struct timespec){ .tv_sec = (time_t)(wake / 1000), .tv_nsec = (long)(wake % 1000) * 1000000L };
		pthread_cond_timedwait(&a->cond, &a->lock, &until);
	}
	pthread_mutex_unlock(&a->lock);
	/* Release the allocations while the device still answers (its threads deliver the replies). */
	if (a->turn)
		nat_turn_close(a->turn, a->dev, NAT_TURN_CLOSE_MS);
	return NULL;
}

/* ---- lifetime ---- */

int nat_agent_prepare(struct engine *e, struct wg_device_config *cfg)
{
	const struct state_global *g = &e->st.global;
	if (!g->has_nat || !g->nat.enabled || e->nat)
		return 0;
	struct nat_agent *a = calloc(1, sizeof(*a));
	if (!a || ovl_nat_config_resolve(&a->cfg, &g->nat) < 0) {
		free(a);
		return -ENOMEM;
	}
	a->e = e;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	nat_punch_params_default(&a->punch, a->cfg.hole_punch_timeout_secs);
	if (a->cfg.n_turn_servers && !(a->turn = nat_turn_new(&a->cfg, random_bytes))) {
		ovl_nat_config_free(&a->cfg);
		free(a);
		return -ENOMEM;
	}
	cfg->on_datagram = on_datagram;
	cfg->on_endpoint = on_endpoint;
	cfg->user = a;
	e->nat = a;
	return 0;
}

void nat_agent_start(struct engine *e, struct wg_device *dev)
{
	struct nat_agent *a = e->nat;
	if (!a || a->running)
		return;
	a->dev = dev;
	a->stop = false;
	if (wg_public_from_private(e->st.global.private_key, a->own_key) < 0)
		memset(a->own_key, 0, sizeof(a->own_key));
	for (size_t i = 0; i < e->st.n_peers; i++)
		nat_agent_peer_update(e, &e->st.peers[i]);
	int r = pthread_create(&a->thread, NULL, agent_main, a);
	if (r != 0) {
		log_error("cannot start the NAT traversal thread: %s; peers behind NAT will not connect", strerror(r));
		return;
	}
	a->running = true;
}

void nat_agent_stop(struct engine *e)
{
	struct nat_agent *a = e->nat;
	if (!a || !a->running)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	a->running = false;
}

void nat_agent_free(struct engine *e)
{
	struct nat_agent *a = e->nat;
	if (!a)
		return;
	nat_agent_stop(e);
	nat_turn_free(a->turn);
	ovl_nat_config_free(&a->cfg);
	free(a->peers);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	free(a);
	e->nat = NULL;
}

void nat_agent_peer_update(struct engine *e, const struct ovl_peer_spec *spec)
{
	struct nat_agent *a = e->nat;
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	struct nat_peer *p = find_peer(a, spec->public_key);
	if (!p) {
		void *n = realloc(a->peers, (a->n_peers + 1) * sizeof(*a->peers));
		if (!n) {
			pthread_mutex_unlock(&a->lock);
			log_error("nat: out of memory; peer not tracked");
			return;
		}
		a->peers = n;
		p = &a->peers[a->n_peers++];
		memset(p, 0, sizeof(*p));
		memcpy(p->key, spec->public_key, WG_KEY_LEN);
	}
	p->configured = spec->endpoint;
	p->n_cands = 0;
	for (size_t i = 0; i < spec->n_candidates; i++)
		nat_candidate_add(p->cands, &p->n_cands, &spec->candidates[i]);
	nat_candidates_sort(p->cands, p->n_cands);
	nat_prflx_prune(&p->prflx, p->cands, p->n_cands);
	p->keepalive = (uint16_t)(spec->persistent_keepalive_secs > 65535 ? 65535 : spec->persistent_keepalive_secs);
	p->keepalive_done = false; /* add_peer just set the orchestrator's value again */
	nat_path_kick(&p->sel.path, clock_now_ms(CLOCK_REALTIME));
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

void nat_agent_peer_forget(struct engine *e, const uint8_t key[WG_KEY_LEN])
{
	struct nat_agent *a = e->nat;
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	struct nat_peer *p = find_peer(a, key);
	if (p)
		nat_pathsel_forget(&p->sel, a->turn);
	if (p)
		*p = a->peers[--a->n_peers];
	pthread_mutex_unlock(&a->lock);
}

bool nat_agent_peer_connected(struct engine *e, const uint8_t key[WG_KEY_LEN])
{
	struct nat_agent *a = e->nat;
	bool up = false;
	if (!a)
		return false;
	pthread_mutex_lock(&a->lock);
	struct nat_peer *p = find_peer(a, key);
	up = p && p->sel.path.cur.kind != NAT_PATH_NONE;
	pthread_mutex_unlock(&a->lock);
	return up;
}

/* ---- requests ---- */

void engine_nat_tick(struct engine *e, struct ovl_response *resp)
{
	struct nat_agent *a = e->nat;
	if (a) {
		uint64_t now = clock_now_ms(CLOCK_REALTIME);
		pthread_mutex_lock(&a->lock);
		a->next_refresh_ms = 0; /* STUN and host candidates now */
		for (size_t i = 0; i < a->n_peers; i++)
			nat_path_kick(&a->peers[i].sel.path, now);
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->lock);
	}
	resp_ok(resp);
}

/* "connected" on a path (relayed or direct); else the direct path's punch state. */
static const char *peer_state_name(const struct nat_path *path, bool connected)
{
	if (connected)
		return "connected";
	switch (path->punch.state) {
	case NAT_PUNCH_PROBING:
		return "probing";
	case NAT_PUNCH_UP:
		return "connected";
	case NAT_PUNCH_QUIET:
		return "quiet";
	case NAT_PUNCH_IDLE:
	default:
		return "idle";
	}
}

static void status_candidates(struct nat_agent *a, struct ovl_res_nat_status *s)
{
	struct ovl_candidate list[NAT_MAX_CANDIDATES];
	size_t n = 0;
	for (size_t i = 0; i < a->n_host; i++)
		nat_candidate_add(list, &n, &a->host[i]);
	for (size_t i = 0; i < a->stun.n_servers; i++) {
		const struct stun_server *srv = &a->stun.servers[i];
		if (!srv->has_mapped)
			continue;
		struct ovl_candidate c = {
			.type = OVL_CAND_SERVER_REFLEXIVE,
			.address = srv->mapped,
			.priority = nat_priority(NAT_TYPE_PREF_SERVER_REFLEXIVE,
						 nat_local_preference(srv->mapped.addr.family, 0), NAT_COMPONENT_ID),
		};
		nat_candidate_add(list, &n, &c);
	}
	if (a->turn)
		nat_turn_candidates(a->turn, list, &n);
	nat_candidates_sort(list, n);
	s->candidates = n ? malloc(n * sizeof(*s->candidates)) : NULL;
	if (s->candidates) {
		memcpy(s->candidates, list, n * sizeof(*list));
		s->n_candidates = n;
	}
}

void engine_nat_status(struct engine *e, struct ovl_response *resp)
{
	struct nat_agent *a = e->nat;
	memset(resp, 0, sizeof(*resp));
	resp->result = OVL_RES_NAT_STATUS;
	resp->nat_status.last_refresh = e->nat_last_refresh;
	dp_relay_status(e, &resp->nat_status); /* the built-in relay runs with NAT traversal off too */
	if (!a)
		return;
	struct ovl_res_nat_status *s = &resp->nat_status;
	pthread_mutex_lock(&a->lock);
	s->last_refresh = a->last_refresh;
	s->mapping = stun_mapping_name(stun_client_mapping(&a->stun, AF_INET));
	s->stun_malformed = a->stun.rx_malformed + a->peer_stun.malformed;
	s->stun_unknown_server = a->stun.rx_unknown_server + a->peer_stun.unknown;
	s->stun_unknown_txn = a->stun.rx_unknown_txn;
	s->stun_errors = a->stun.rx_errors;
	s->stun_timeouts = a->stun.timeouts;
	s->rx_not_stun = a->rx_not_stun;
	status_candidates(a, s);
	if (a->turn)
		s->turn_servers = nat_turn_status(a->turn, &s->n_turn_servers);
	s->peers = a->n_peers ? calloc(a->n_peers, sizeof(*s->peers)) : NULL;
	for (size_t i = 0; s->peers && i < a->n_peers; i++) {
		const struct nat_peer *p = &a->peers[i];
		struct ovl_nat_peer *np = &s->peers[s->n_peers++];
		memcpy(np->public_key, p->key, WG_KEY_LEN);
		struct nat_pathsel_peer peer = pathsel_peer(p);
		np->connected = p->sel.path.cur.kind != NAT_PATH_NONE && p->session;
		np->state = peer_state_name(&p->sel.path, np->connected);
		np->has_remote_endpoint = nat_pathsel_describe(&p->sel, &peer, p->has_endpoint, &p->endpoint,
							       &np->connection_type, &np->remote_endpoint);
		np->n_peer_reflexive = p->prflx.n;
		memcpy(np->peer_reflexive, p->prflx.cands, p->prflx.n * sizeof(p->prflx.cands[0]));
	}
	pthread_mutex_unlock(&a->lock);
}
