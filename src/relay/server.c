// SPDX-License-Identifier: MIT
/*
 * The TURN server's logic (server.h): authentication, the four requests
 * (Allocate, Refresh, CreatePermission, ChannelBind), Binding, and data
 * both ways (Send/Data indications, ChannelData).
 */
#include "relay/server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "nat/stun_build.h"
#include "util/be.h"
#include "util/log.h"

#define LOG_INTERVAL_MS 1000 /* refusals and failed logins: one log line a second at most */

uint32_t relay_allocs_per_client(size_t max_sessions)
{
	size_t q = (max_sessions + 3) / 4;
	return q ? (uint32_t)(q > UINT32_MAX ? UINT32_MAX : q) : 1;
}

int relay_server_init(struct relay_server *s, const struct relay_config *c, const struct relay_sock_ops *ops,
		      int listen_fd)
{
	memset(s, 0, sizeof(*s));
	s->external = c->external;
	s->max_sessions = c->max_sessions;
	s->ops = *ops;
	s->listen_fd = listen_fd;
	s->listen_port = c->listen_port;
	s->password = strdup(c->password);
	if (!s->password || relay_alloc_table_init(&s->table, c->max_sessions) < 0 ||
	    relay_fair_init(&s->fair, c->max_sessions, c->allocs_per_client) < 0) {
		relay_server_free(s);
		return -ENOMEM;
	}
	for (size_t got = 0; got < sizeof(s->nonce_key.secret);) {
		ssize_t n = getrandom(s->nonce_key.secret + got, sizeof(s->nonce_key.secret) - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

static void alloc_delete(struct relay_server *s, struct relay_alloc *a)
{
	if (a->fd >= 0)
		s->ops.close(s->ops.ctx, a);
	a->fd = -1;
	if (a->owner)
		relay_fair_release(&s->fair, a->owner);
	explicit_bzero(a->key, sizeof(a->key));
	relay_alloc_remove(&s->table, a);
}

void relay_server_free(struct relay_server *s)
{
	for (size_t i = 0; s->table.slots && i < s->table.cap; i++)
		if (s->table.slots[i].used)
			alloc_delete(s, &s->table.slots[i]);
	relay_alloc_table_free(&s->table);
	relay_fair_free(&s->fair);
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	s->password = NULL;
	explicit_bzero(&s->nonce_key, sizeof(s->nonce_key));
}

void relay_server_expire(struct relay_server *s, uint64_t now_ms)
{
	for (size_t i = 0; i < s->table.cap; i++) {
		struct relay_alloc *a = &s->table.slots[i];
		if (!a->used)
			continue;
		if (a->expires_ms <= now_ms)
			alloc_delete(s, a);
		else
			relay_alloc_expire_parts(a, now_ms);
	}
}

/* A log line about a client, at most one a second per kind (a flood of requests must not flood the log). */
static void __attribute__((format(printf, 4, 5)))
log_limited(uint64_t *last_ms, uint64_t now_ms, const struct ip_endpoint *client, const char *fmt, ...)
{
	char ep[IP_ENDPOINT_STRLEN], msg[300];
	va_list ap;

	if (*last_ms && now_ms - *last_ms < LOG_INTERVAL_MS)
		return;
	*last_ms = now_ms ? now_ms : 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("relay: %s: %s", ip_endpoint_format(client, ep, sizeof(ep)), msg);
}

/* A username as a log may show it: printable ASCII, at most 64 bytes, the rest '?'. */
static void printable(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t i;
	for (i = 0; i < n && i < 64 && i + 1 < cap; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' ? (char)p[i] : '?';
	out[i] = '\0';
}

/* ---- answers ---- */

struct answer {
	struct stun_builder b;
	struct relay_server *s;
	const struct ip_endpoint *to;
	struct relay_tx *tx;
};

static void answer_start(struct answer *an, uint8_t *scratch, const struct stun_msg *req, uint16_t cls)
{
	stun_build_start(&an->b, scratch, RELAY_TX_SCRATCH, stun_type(stun_type_method(req->type), cls), req->txid);
}

/* Seals the answer (MESSAGE-INTEGRITY with key when authenticated, FINGERPRINT) into *tx. */
static bool answer_send(struct answer *an, const uint8_t *key)
{
	if (key)
		stun_build_integrity(&an->b, key, 16);
	stun_build_fingerprint(&an->b);
	size_t len = stun_build_finish(&an->b);
	if (!len)
		return false;
	*an->tx = (struct relay_tx){ .fd = an->s->listen_fd, .to = *an->to, .head = an->b.buf, .head_len = len };
	return true;
}

static bool answer_error(struct answer *an, uint8_t *scratch, const struct stun_msg *req, uint16_t code,
			 const char *reason, const uint8_t *key)
{
	answer_start(an, scratch, req, STUN_CLASS_ERROR);
	stun_build_error(&an->b, code, reason);
	return answer_send(an, key);
}

/* 401 or 438: the realm and a fresh nonce, so the client can (re)compute its credentials. */
static bool answer_challenge(struct answer *an, uint8_t *scratch, const struct stun_msg *req, uint16_t code,
			     const char *reason, uint64_t now_ms)
{
	char nonce[RELAY_NONCE_LEN];
	relay_nonce_make(&an->s->nonce_key, an->to, now_ms / 1000, nonce);
	answer_start(an, scratch, req, STUN_CLASS_ERROR);
	stun_build_error(&an->b, code, reason);
	stun_build_attr(&an->b, STUN_ATTR_REALM, RELAY_REALM, strlen(RELAY_REALM));
	stun_build_attr(&an->b, STUN_ATTR_NONCE, nonce, sizeof(nonce));
	return answer_send(an, NULL);
}

/* ---- authentication ---- */

/*
 * RFC 8489 9.2.4. Returns the key the request is authenticated with
 * (the allocation's own when it has one), or NULL after answering with
 * the challenge or error the request deserves.
 */
static const uint8_t *authenticate(struct answer *an, uint8_t *scratch, const uint8_t *buf, size_t len,
				   const struct stun_msg *m, const struct relay_alloc *a, uint8_t key[16],
				   uint64_t now_ms, bool *answered)
{
	struct relay_server *s = an->s;
	char who[80];

	*answered = false;
	if (!m->has_integrity) {
		*answered = answer_challenge(an, scratch, m, STUN_ERR_UNAUTHENTICATED, "Unauthenticated", now_ms);
		return NULL;
	}
	if (!m->username || !m->realm || !m->nonce) {
		*answered = answer_error(an, scratch, m, STUN_ERR_BAD_REQUEST, "Missing USERNAME, REALM or NONCE",
					 NULL);
		return NULL;
	}
	if (m->username_len >= RELAY_MAX_USERNAME) {
		*answered = answer_error(an, scratch, m, STUN_ERR_BAD_REQUEST, "USERNAME too long", NULL);
		return NULL;
	}
	switch (relay_nonce_check(&s->nonce_key, an->to, m->nonce, m->nonce_len, now_ms / 1000)) {
	case RELAY_NONCE_VALID:
		break;
	case RELAY_NONCE_STALE:
		s->stats.stale_nonces++;
		*answered = answer_challenge(an, scratch, m, STUN_ERR_STALE_NONCE, "Stale Nonce", now_ms);
		return NULL;
	case RELAY_NONCE_FORGED:
		/* Not ours, or issued to another address: a fresh one, as for a stale nonce. */
		*answered = answer_challenge(an, scratch, m, STUN_ERR_STALE_NONCE, "Stale Nonce", now_ms);
		return NULL;
	}
	bool realm_ok = m->realm_len == strlen(RELAY_REALM) && !memcmp(m->realm, RELAY_REALM, m->realm_len);
	const uint8_t *k = NULL;
	if (a && a->username_len == m->username_len && !memcmp(a->username, m->username, m->username_len))
		k = a->key; /* no MD5 per request on an allocation */
	else if (realm_ok && stun_long_term_key((const char *)m->username, m->username_len, RELAY_REALM,
						strlen(RELAY_REALM), s->password, key) == 0)
		k = key;
	if (!realm_ok || !k || !stun_check_integrity(buf, len, m, k, 16)) {
		s->stats.auth_failures++;
		printable(m->username, m->username_len, who, sizeof(who));
		log_limited(&s->last_auth_log_ms, now_ms, an->to,
			    "authentication failed for user \"%s\" (wrong credentials or realm): 401", who);
		*answered = answer_challenge(an, scratch, m, STUN_ERR_UNAUTHENTICATED, "Unauthenticated", now_ms);
		return NULL;
	}
	return k;
}

/* ---- requests ---- */

static uint32_t granted_lifetime(const struct stun_msg *m)
{
	if (!m->has_lifetime || m->lifetime_s < TURN_DEFAULT_LIFETIME_S)
		return TURN_DEFAULT_LIFETIME_S;
	return m->lifetime_s > RELAY_MAX_LIFETIME_S ? RELAY_MAX_LIFETIME_S : m->lifetime_s;
}

static bool allocate_success(struct answer *an, uint8_t *scratch, const struct stun_msg *m,
			     const struct relay_alloc *a, uint64_t now_ms)
{
	struct ip_endpoint relayed = { .addr = an->s->external, .port = a->relayed_port };
	answer_start(an, scratch, m, STUN_CLASS_SUCCESS);
	stun_build_xor_address(&an->b, TURN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
	stun_build_u32(&an->b, TURN_ATTR_LIFETIME, (uint32_t)((a->expires_ms - now_ms) / 1000));
	stun_build_xor_address(&an->b, STUN_ATTR_XOR_MAPPED_ADDRESS, an->to);
	return answer_send(an, a->key);
}

static bool handle_allocate(struct answer *an, uint8_t *scratch, const struct stun_msg *m, struct relay_alloc *a,
			    const uint8_t *key, uint64_t now_ms)
{
	struct relay_server *s = an->s;
	char who[80];

	if (a) {
		/* A retransmission of the request that made it gets the same answer (RFC 8656 7.2). */
		if (!memcmp(a->txid, m->txid, STUN_TXID_LEN))
			return allocate_success(an, scratch, m, a, now_ms);
		return answer_error(an, scratch, m, TURN_ERR_ALLOCATION_MISMATCH, "Allocation Mismatch", key);
	}
	if (!m->has_transport)
		return answer_error(an, scratch, m, STUN_ERR_BAD_REQUEST, "Missing REQUESTED-TRANSPORT", key);
	if (m->transport != TURN_TRANSPORT_UDP)
		return answer_error(an, scratch, m, TURN_ERR_UNSUPPORTED_TRANSPORT, "Unsupported Transport Protocol",
				    key);
	if (m->has_requested_family &&
	    m->requested_family != (s->external.family == AF_INET6 ? STUN_FAMILY_IPV6 : STUN_FAMILY_IPV4))
		return answer_error(an, scratch, m, TURN_ERR_ADDRESS_FAMILY, "Address Family not Supported", key);
	printable(m->username, m->username_len, who, sizeof(who));
	if (s->table.used >= s->max_sessions) {
		s->stats.refused_capacity++;
		log_limited(&s->last_capacity_log_ms, now_ms, an->to,
			    "allocation for user \"%s\" refused: all %zu sessions (max_sessions) are in use: "
			    "508 Insufficient Capacity", who, s->max_sessions);
		return answer_error(an, scratch, m, TURN_ERR_INSUFFICIENT_CAPACITY, "Insufficient Capacity", key);
	}
	struct relay_client *owner = relay_fair_acquire(&s->fair, &an->to->addr);
	if (!owner) {
		s->stats.refused_quota++;
		log_limited(&s->last_quota_log_ms, now_ms, an->to,
			    "allocation for user \"%s\" refused: its IP already holds %u allocations, the most "
			    "one client may: 486 Allocation Quota Reached", who, s->fair.allocs_per_client);
		return answer_error(an, scratch, m, TURN_ERR_QUOTA_REACHED, "Allocation Quota Reached", key);
	}
	a = relay_alloc_insert(&s->table, an->to);
	int r = a ? s->ops.open(s->ops.ctx, a, s->external.family, m->has_even_port, m->dont_fragment) : -ENOSPC;
	if (r < 0) {
		relay_fair_release(&s->fair, owner);
		if (a)
			relay_alloc_remove(&s->table, a);
		s->stats.refused_capacity++;
		log_limited(&s->last_capacity_log_ms, now_ms, an->to,
			    "allocation for user \"%s\" refused: no relayed socket (%s): 508 Insufficient Capacity",
			    who, strerror(-r));
		return answer_error(an, scratch, m, TURN_ERR_INSUFFICIENT_CAPACITY, "Insufficient Capacity", key);
	}
	a->owner = owner;
	relay_alloc_set_port(&s->table, a);
	memcpy(a->txid, m->txid, STUN_TXID_LEN);
	memcpy(a->username, m->username, m->username_len);
	a->username_len = m->username_len;
	memcpy(a->key, key, 16);
	a->expires_ms = now_ms + (uint64_t)granted_lifetime(m) * 1000;
	s->stats.allocations++;
	return allocate_success(an, scratch, m, a, now_ms);
}

static bool handle_refresh(struct answer *an, uint8_t *scratch, const struct stun_msg *m, struct relay_alloc *a,
			   const uint8_t *key, uint64_t now_ms)
{
	uint32_t lifetime = 0;
	uint8_t k[16];

	if (!a)
		return answer_error(an, scratch, m, TURN_ERR_ALLOCATION_MISMATCH, "Allocation Mismatch", key);
	memcpy(k, key, sizeof(k)); /* key may be a->key, gone with a */
	if (m->has_lifetime && m->lifetime_s == 0)
		alloc_delete(an->s, a);
	else {
		lifetime = granted_lifetime(m);
		a->expires_ms = now_ms + (uint64_t)lifetime * 1000;
	}
	answer_start(an, scratch, m, STUN_CLASS_SUCCESS);
	stun_build_u32(&an->b, TURN_ATTR_LIFETIME, lifetime);
	bool ok = answer_send(an, k);
	explicit_bzero(k, sizeof(k));
	return ok;
}

/*
 * A peer address an allocation may name: of its family, and none that
 * would make the relay a way into its own host (loopback, its own
 * listening port) or a multiplier (multicast, broadcast, unspecified).
 */
static uint16_t peer_check(const struct relay_server *s, const struct ip_endpoint *peer)
{
	const uint8_t *b = peer->addr.bytes;
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (peer->addr.family != s->external.family)
		return 443; /* Peer Address Family Mismatch */
	if (ip_addr_is_unspecified(&peer->addr) || peer->port == 0 ||
	    (peer->addr.family == AF_INET && (b[0] >= 224 || b[0] == 127 || b[0] == 0)) ||
	    (peer->addr.family == AF_INET6 && (b[0] == 0xff || !memcmp(b, v6_loopback, 16))) ||
	    (peer->port == s->listen_port && ip_addr_equal(&peer->addr, &s->external)))
		return STUN_ERR_FORBIDDEN;
	return 0;
}

static bool peer_error(struct answer *an, uint8_t *scratch, const struct stun_msg *m, uint16_t code,
		       const uint8_t *key)
{
	const char *reason = code == STUN_ERR_FORBIDDEN ? "Forbidden" : "Peer Address Family Mismatch";
	return answer_error(an, scratch, m, code, reason, key);
}

static bool handle_create_permission(struct answer *an, uint8_t *scratch, const struct stun_msg *m,
				     struct relay_alloc *a, const uint8_t *key, uint64_t now_ms)
{
	struct relay_alloc trial;

	if (!a)
		return answer_error(an, scratch, m, TURN_ERR_ALLOCATION_MISMATCH, "Allocation Mismatch", key);
	if (!m->n_peers || m->n_peers_seen > m->n_peers)
		return answer_error(an, scratch, m, STUN_ERR_BAD_REQUEST,
				    m->n_peers ? "Too many XOR-PEER-ADDRESS" : "Missing XOR-PEER-ADDRESS", key);
	for (size_t i = 0; i < m->n_peers; i++) {
		uint16_t code = peer_check(an->s, &m->peers[i]);
		if (code)
			return peer_error(an, scratch, m, code, key);
	}
	/* All or none (RFC 8656 9.2): tried on a copy of the permission list first. */
	memcpy(trial.perms, a->perms, sizeof(a->perms));
	trial.n_perms = a->n_perms;
	trial.n_chans = 0;
	for (size_t i = 0; i < m->n_peers; i++)
		if (relay_perm_add(&trial, &m->peers[i].addr, now_ms) < 0)
			return answer_error(an, scratch, m, TURN_ERR_INSUFFICIENT_CAPACITY, "Insufficient Capacity",
					    key);
	memcpy(a->perms, trial.perms, sizeof(a->perms));
	a->n_perms = trial.n_perms;
	answer_start(an, scratch, m, STUN_CLASS_SUCCESS);
	return answer_send(an, key);
}

static bool handle_channel_bind(struct answer *an, uint8_t *scratch, const struct stun_msg *m,
				struct relay_alloc *a, const uint8_t *key, uint64_t now_ms)
{
	if (!a)
		return answer_error(an, scratch, m, TURN_ERR_ALLOCATION_MISMATCH, "Allocation Mismatch", key);
	if (!m->has_channel || m->channel < TURN_CHANNEL_MIN || m->channel > RELAY_CHANNEL_MAX || m->n_peers_seen != 1)
		return answer_error(an, scratch, m, STUN_ERR_BAD_REQUEST,
				    "Needs one CHANNEL-NUMBER (0x4000-0x7FFF) and one XOR-PEER-ADDRESS", key);
	uint16_t code = peer_check(an->s, &m->peers[0]);
	if (code)
		return peer_error(an, scratch, m, code, key);
	/* The binding and its permission, or neither (a failure changes nothing). */
	struct relay_permission saved[RELAY_MAX_PERMISSIONS];
	size_t n_saved = a->n_perms;
	memcpy(saved, a->perms, sizeof(saved));
	if (relay_perm_add(a, &m->peers[0].addr, now_ms) < 0)
		return answer_error(an, scratch, m, TURN_ERR_INSUFFICIENT_CAPACITY, "Insufficient Capacity", key);
	int r = relay_chan_bind(a, m->channel, &m->peers[0], now_ms);
	if (r < 0) {
		memcpy(a->perms, saved, sizeof(saved));
		a->n_perms = n_saved;
		if (r == -EEXIST)
			return answer_error(an, scratch, m, STUN_ERR_BAD_REQUEST,
					    "Channel or peer already bound to another", key);
		return answer_error(an, scratch, m, TURN_ERR_INSUFFICIENT_CAPACITY, "Insufficient Capacity", key);
	}
	answer_start(an, scratch, m, STUN_CLASS_SUCCESS);
	return answer_send(an, key);
}

static bool handle_request(struct answer *an, uint8_t *scratch, const uint8_t *buf, size_t len,
			   const struct stun_msg *m, uint64_t now_ms)
{
	uint16_t method = stun_type_method(m->type);
	uint8_t keybuf[16];
	bool answered;

	if (method == STUN_METHOD_BINDING) {
		/* A plain STUN server too: a client may learn its reflexive address here. */
		answer_start(an, scratch, m, STUN_CLASS_SUCCESS);
		stun_build_xor_address(&an->b, STUN_ATTR_XOR_MAPPED_ADDRESS, an->to);
		return answer_send(an, NULL);
	}
	if (method != TURN_METHOD_ALLOCATE && method != TURN_METHOD_REFRESH &&
	    method != TURN_METHOD_CREATE_PERMISSION && method != TURN_METHOD_CHANNEL_BIND)
		return answer_error(an, scratch, m, STUN_ERR_BAD_REQUEST, "Unknown method", NULL);

	struct relay_alloc *a = relay_alloc_find(&an->s->table, an->to);
	const uint8_t *key = authenticate(an, scratch, buf, len, m, a, keybuf, now_ms, &answered);
	if (!key)
		return answered;
	if (a && (a->username_len != m->username_len || memcmp(a->username, m->username, m->username_len)))
		return answer_error(an, scratch, m, TURN_ERR_WRONG_CREDENTIALS, "Wrong Credentials", key);
	if (m->unknown_required) {
		size_t n = m->unknown_required < STUN_MAX_UNKNOWN ? m->unknown_required : STUN_MAX_UNKNOWN;
		answer_start(an, scratch, m, STUN_CLASS_ERROR);
		stun_build_error(&an->b, STUN_ERR_UNKNOWN_ATTRIBUTE, "Unknown Attribute");
		stun_build_unknown(&an->b, m->unknown_types, n);
		return answer_send(an, key);
	}
	bool sent;
	switch (method) {
	case TURN_METHOD_ALLOCATE:
		sent = handle_allocate(an, scratch, m, a, key, now_ms);
		break;
	case TURN_METHOD_REFRESH:
		sent = handle_refresh(an, scratch, m, a, key, now_ms);
		break;
	case TURN_METHOD_CREATE_PERMISSION:
		sent = handle_create_permission(an, scratch, m, a, key, now_ms);
		break;
	default:
		sent = handle_channel_bind(an, scratch, m, a, key, now_ms);
		break;
	}
	explicit_bzero(keybuf, sizeof(keybuf));
	return sent;
}

/* ---- data ---- */

static bool to_peer(struct relay_server *s, struct relay_alloc *a, const struct ip_endpoint *peer,
		    const uint8_t *data, size_t len, uint64_t now_ms, uint8_t *scratch, struct relay_tx *tx)
{
	if (!relay_perm_check(a, &peer->addr, now_ms)) {
		s->stats.dropped_no_permission++;
		return false;
	}
	if (!relay_fair_admit(&s->fair, a->owner, len, now_ms)) {
		s->stats.dropped_fair_share++;
		return false;
	}
	s->stats.to_peer++;
	a->tx_packets++;
	if (peer->port && ip_addr_equal(&peer->addr, &s->external)) {
		/*
		 * The peer is another allocation here (both ends of a path relayed by
		 * this server): handed over in-process, as if it had come back in on
		 * that allocation's socket, which still needs its own permission.
		 */
		struct relay_alloc *b = relay_alloc_by_port(&s->table, peer->port);
		struct ip_endpoint from = { .addr = s->external, .port = a->relayed_port };
		if (b)
			return relay_server_from_peer(s, b, &from, data, len, now_ms, scratch, tx);
	}
	*tx = (struct relay_tx){ .fd = a->fd, .to = *peer, .body = data, .body_len = len };
	return true;
}

bool relay_server_from_client(struct relay_server *s, const struct ip_endpoint *from, const uint8_t *buf,
			      size_t len, uint64_t now_ms, uint8_t scratch[RELAY_TX_SCRATCH], struct relay_tx *tx)
{
	struct answer an = { .s = s, .to = from, .tx = tx };
	const uint8_t *data;
	struct stun_msg m;
	uint16_t channel;
	size_t dlen;

	if (turn_channel_data_parse_upto(buf, len, RELAY_CHANNEL_MAX, &channel, &data, &dlen)) {
		struct relay_alloc *a = relay_alloc_find(&s->table, from);
		const struct relay_channel *c = a ? relay_chan_by_number(a, channel, now_ms) : NULL;
		return c && to_peer(s, a, &c->peer, data, dlen, now_ms, scratch, tx);
	}
	if (stun_parse(buf, len, &m) < 0)
		return false;
	switch (stun_type_class(m.type)) {
	case STUN_CLASS_REQUEST:
		return handle_request(&an, scratch, buf, len, &m, now_ms);
	case STUN_CLASS_INDICATION:
		if (stun_type_method(m.type) == TURN_METHOD_SEND && m.n_peers_seen == 1 && m.has_data &&
		    !m.unknown_required) {
			struct relay_alloc *a = relay_alloc_find(&s->table, from);
			return a && to_peer(s, a, &m.peers[0], m.data, m.data_len, now_ms, scratch, tx);
		}
		return false;
	default:
		return false; /* responses: a server sends no requests */
	}
}

bool relay_server_from_peer(struct relay_server *s, struct relay_alloc *a, const struct ip_endpoint *from,
			    const uint8_t *buf, size_t len, uint64_t now_ms, uint8_t scratch[RELAY_TX_SCRATCH],
			    struct relay_tx *tx)
{
	if (!a->used || !relay_perm_check(a, &from->addr, now_ms)) {
		s->stats.dropped_no_permission++;
		return false;
	}
	const struct relay_channel *c = relay_chan_by_peer(a, from, now_ms);
	if (!c && len > RELAY_MAX_DATAGRAM)
		return false;
	if (!relay_fair_admit(&s->fair, a->owner, len, now_ms)) {
		s->stats.dropped_fair_share++;
		return false;
	}
	*tx = (struct relay_tx){ .fd = s->listen_fd, .to = a->client };
	if (c) {
		/* ChannelData: a 4-byte header and the datagram as it came, not copied. */
		turn_channel_data_header(scratch, c->number, (uint16_t)len);
		tx->head = scratch;
		tx->head_len = TURN_CHANNEL_HEADER_LEN;
		tx->body = buf;
		tx->body_len = len;
	} else {
		/* A Data indication (no channel for this peer): the one copy. */
		struct stun_builder b;
		uint8_t txid[STUN_TXID_LEN] = { 0 };
		/* Indications need no unpredictable id (nothing answers them): a counter keeps them distinct. */
		be32_put(txid, (uint32_t)s->stats.to_client);
		be32_put(txid + 4, (uint32_t)(s->stats.to_client >> 32));
		stun_build_start(&b, scratch, RELAY_TX_SCRATCH, stun_type(TURN_METHOD_DATA, STUN_CLASS_INDICATION),
				 txid);
		stun_build_xor_address(&b, TURN_ATTR_XOR_PEER_ADDRESS, from);
		stun_build_attr(&b, TURN_ATTR_DATA, buf, len);
		tx->head_len = stun_build_finish(&b);
		if (!tx->head_len)
			return false;
		tx->head = scratch;
	}
	s->stats.to_client++;
	a->rx_packets++;
	return true;
}
