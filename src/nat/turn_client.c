// SPDX-License-Identifier: MIT
/* The TURN client's allocation, permissions and channels (see turn_client.h). */
#include "nat/turn_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nat/stun_build.h"
#include "nat/stun_client.h"

/* Refresh an allocation of lifetime s this long before it expires (at most half of it). */
static uint64_t refresh_after_ms(uint32_t lifetime_s)
{
	return (lifetime_s > 120 ? lifetime_s - 60 : lifetime_s / 2) * 1000ull;
}

int turn_client_init(struct turn_client *c, const struct ip_endpoint *server, const char *username,
		     const char *password, void (*rand)(uint8_t *, size_t))
{
	size_t ul = strlen(username), pl = strlen(password);
	if (!ul || !pl || ul >= TURN_MAX_TEXT || pl >= TURN_MAX_TEXT)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->server = *server;
	memcpy(c->username, username, ul + 1);
	memcpy(c->password, password, pl + 1);
	c->rand = rand;
	c->next_channel = TURN_CHANNEL_MIN;
	return 0;
}

static void txn_start(struct turn_client *c, struct turn_txn *t, enum turn_request kind, uint64_t now_ms)
{
	t->active = true;
	t->kind = kind;
	t->with_credentials = c->has_key;
	c->rand(t->txid, sizeof(t->txid));
	t->next_send_ms = now_ms;
	t->rto_ms = STUN_RTO_MS;
	t->sent = 0;
}

/* The binding's requests start over (a new allocation, or the first one). */
static void binding_restart(struct turn_binding *b, uint64_t now_ms)
{
	b->permitted = b->bound = false;
	b->permission_refresh_ms = b->channel_refresh_ms = now_ms;
	b->permission_txn.active = b->channel_txn.active = false;
}

static void fail(struct turn_client *c, uint64_t now_ms, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct turn_client *c, uint64_t now_ms, uint16_t code, const char *fmt, ...)
{
	va_list ap;
	uint64_t backoff = TURN_RETRY_MIN_MS;
	for (unsigned i = 0; i < c->failures && backoff < TURN_RETRY_MAX_MS; i++)
		backoff *= 2;
	if (backoff > TURN_RETRY_MAX_MS)
		backoff = TURN_RETRY_MAX_MS;
	c->failures++;
	c->state = TURN_STATE_FAILED;
	c->error_code = code;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->retry_at_ms = now_ms + backoff;
	c->txn.active = false;
	memset(&c->reclaim, 0, sizeof(c->reclaim));
	for (size_t i = 0; i < c->n_bindings; i++)
		binding_restart(&c->bindings[i], now_ms);
}

void turn_client_start(struct turn_client *c, uint64_t now_ms)
{
	if (c->state != TURN_STATE_IDLE && c->state != TURN_STATE_FAILED && c->state != TURN_STATE_CLOSED)
		return;
	c->state = TURN_STATE_ALLOCATING;
	txn_start(c, &c->txn, TURN_REQ_ALLOCATE, now_ms);
}

static uint16_t request_method(enum turn_request kind)
{
	switch (kind) {
	case TURN_REQ_ALLOCATE:
		return TURN_METHOD_ALLOCATE;
	case TURN_REQ_PERMISSION:
		return TURN_METHOD_CREATE_PERMISSION;
	case TURN_REQ_CHANNEL:
		return TURN_METHOD_CHANNEL_BIND;
	case TURN_REQ_REFRESH:
	case TURN_REQ_DEALLOCATE:
	case TURN_REQ_RECLAIM:
	default:
		return TURN_METHOD_REFRESH;
	}
}

/*
 * The request of t (for binding b when it is a peer's), built again for
 * each retransmission: the same transaction id and attributes give the same
 * bytes. Returns its length (0: did not fit, which cannot happen within
 * TURN_MAX_TEXT).
 */
static size_t build_request(const struct turn_client *c, const struct turn_txn *t, const struct turn_binding *b,
			    uint8_t *buf, size_t cap)
{
	struct stun_builder sb;
	stun_build_start(&sb, buf, cap, stun_type(request_method(t->kind), STUN_CLASS_REQUEST), t->txid);
	switch (t->kind) {
	case TURN_REQ_ALLOCATE:
		stun_build_transport(&sb, TURN_TRANSPORT_UDP);
		break;
	case TURN_REQ_REFRESH:
		stun_build_u32(&sb, TURN_ATTR_LIFETIME, TURN_DEFAULT_LIFETIME_S);
		break;
	case TURN_REQ_DEALLOCATE:
	case TURN_REQ_RECLAIM:
		stun_build_u32(&sb, TURN_ATTR_LIFETIME, 0);
		break;
	case TURN_REQ_CHANNEL:
		stun_build_channel(&sb, b->channel);
		stun_build_xor_address(&sb, TURN_ATTR_XOR_PEER_ADDRESS, &b->peer);
		break;
	case TURN_REQ_PERMISSION:
		stun_build_xor_address(&sb, TURN_ATTR_XOR_PEER_ADDRESS, &b->peer);
		break;
	}
	if (t->with_credentials) {
		stun_build_attr(&sb, STUN_ATTR_USERNAME, c->username, strlen(c->username));
		stun_build_attr(&sb, STUN_ATTR_REALM, c->realm, c->realm_len);
		stun_build_attr(&sb, STUN_ATTR_NONCE, c->nonce, c->nonce_len);
		stun_build_integrity(&sb, c->key, sizeof(c->key));
	}
	stun_build_fingerprint(&sb);
	return stun_build_finish(&sb);
}

/* One transaction's send at now_ms, if due; false when it gave up (no answer). */
static bool txn_due(struct turn_client *c, struct turn_txn *t, const struct turn_binding *b, uint64_t now_ms,
		    struct turn_send *out, size_t cap, size_t *n)
{
	if (!t->active || now_ms < t->next_send_ms)
		return true;
	if (t->sent >= STUN_RC) {
		t->active = false;
		c->timeouts++;
		return false;
	}
	if (*n >= cap)
		return true; /* next tick */
	out[*n].len = build_request(c, t, b, out[*n].buf, sizeof(out[*n].buf));
	if (!out[*n].len) {
		t->active = false;
		return true;
	}
	(*n)++;
	t->sent++;
	c->sent++;
	t->next_send_ms = stun_next_send_ms(t->sent, now_ms, &t->rto_ms);
	return true;
}

static void bindings_tick(struct turn_client *c, uint64_t now_ms, struct turn_send *out, size_t cap, size_t *n)
{
	for (size_t i = 0; i < c->n_bindings; i++) {
		struct turn_binding *b = &c->bindings[i];
		if (!b->permission_txn.active && now_ms >= b->permission_refresh_ms)
			txn_start(c, &b->permission_txn, TURN_REQ_PERMISSION, now_ms);
		if (b->channel && !b->channel_txn.active && now_ms >= b->channel_refresh_ms)
			txn_start(c, &b->channel_txn, TURN_REQ_CHANNEL, now_ms);
		/* A peer's request without an answer: that peer is unreachable for now, not the server. */
		if (!txn_due(c, &b->permission_txn, b, now_ms, out, cap, n)) {
			b->permitted = false;
			b->permission_refresh_ms = now_ms + TURN_RETRY_MIN_MS;
		}
		if (!txn_due(c, &b->channel_txn, b, now_ms, out, cap, n)) {
			b->bound = false;
			b->channel_refresh_ms = now_ms + TURN_RETRY_MIN_MS;
		}
	}
}

size_t turn_client_tick(struct turn_client *c, uint64_t now_ms, struct turn_send *out, size_t cap)
{
	size_t n = 0;
	switch (c->state) {
	case TURN_STATE_FAILED:
		if (now_ms < c->retry_at_ms)
			return 0;
		turn_client_start(c, now_ms);
		break;
	case TURN_STATE_ALLOCATED:
		if (!c->txn.active && now_ms >= c->refresh_at_ms)
			txn_start(c, &c->txn, TURN_REQ_REFRESH, now_ms);
		break;
	case TURN_STATE_IDLE:
	case TURN_STATE_CLOSED:
		return 0;
	case TURN_STATE_ALLOCATING:
	case TURN_STATE_DEALLOCATING:
		break;
	}
	if (!txn_due(c, &c->txn, NULL, now_ms, out, cap, &n)) {
		if (c->state == TURN_STATE_DEALLOCATING)
			c->state = TURN_STATE_CLOSED; /* it expires on its own */
		else
			fail(c, now_ms, 0, "%s", "no answer from the TURN server");
		return n;
	}
	if (c->state == TURN_STATE_ALLOCATED)
		bindings_tick(c, now_ms, out, cap, &n);
	return n;
}

/* The transaction (and its binding, for a peer's) whose id m carries; NULL when none. */
static struct turn_txn *find_txn(struct turn_client *c, const struct stun_msg *m, struct turn_binding **binding)
{
	*binding = NULL;
	if (c->txn.active && memcmp(c->txn.txid, m->txid, STUN_TXID_LEN) == 0)
		return &c->txn;
	for (size_t i = 0; i < c->n_bindings; i++) {
		struct turn_binding *b = &c->bindings[i];
		*binding = b;
		if (b->permission_txn.active && memcmp(b->permission_txn.txid, m->txid, STUN_TXID_LEN) == 0)
			return &b->permission_txn;
		if (b->channel_txn.active && memcmp(b->channel_txn.txid, m->txid, STUN_TXID_LEN) == 0)
			return &b->channel_txn;
	}
	*binding = NULL;
	return NULL;
}

/* REALM and NONCE of a 401 or 438; the key when the realm is new. False when unusable. */
static bool take_realm_nonce(struct turn_client *c, const struct stun_msg *m)
{
	if (!m->nonce || !m->nonce_len || m->nonce_len >= TURN_MAX_TEXT ||
	    (m->realm && (!m->realm_len || m->realm_len >= TURN_MAX_TEXT)) || (!m->realm && !c->realm_len))
		return false;
	memcpy(c->nonce, m->nonce, m->nonce_len);
	c->nonce_len = m->nonce_len;
	if (m->realm && (m->realm_len != c->realm_len || memcmp(m->realm, c->realm, m->realm_len) != 0 || !c->has_key)) {
		memcpy(c->realm, m->realm, m->realm_len);
		c->realm[m->realm_len] = '\0';
		c->realm_len = m->realm_len;
		c->has_key = stun_long_term_key(c->username, strlen(c->username), c->realm, c->realm_len, c->password,
						c->key) == 0;
	}
	return c->has_key;
}

/* "437 Allocation Mismatch" and the like, for the reason text (the server's phrase, made printable). */
static void error_text(const struct stun_msg *m, char *out, size_t cap)
{
	size_t n = 0;
	int w = snprintf(out, cap, "%u ", m->error_code);
	if (w < 0 || (size_t)w >= cap)
		return;
	n = (size_t)w;
	for (size_t i = 0; m->error_reason && i < m->error_reason_len && n + 1 < cap && i < 64; i++)
		out[n++] = m->error_reason[i] >= 0x20 && m->error_reason[i] < 0x7f ? (char)m->error_reason[i] : '?';
	out[n] = '\0';
}

static void allocated(struct turn_client *c, const struct stun_msg *m, uint64_t now_ms)
{
	c->state = TURN_STATE_ALLOCATED;
	c->relayed = m->relayed;
	if (m->has_mapped)
		c->mapped = m->mapped;
	c->lifetime_s = m->has_lifetime ? m->lifetime_s : TURN_DEFAULT_LIFETIME_S;
	c->refresh_at_ms = now_ms + refresh_after_ms(c->lifetime_s);
	c->expires_ms = now_ms + c->lifetime_s * 1000ull;
	c->failures = 0;
	memset(&c->reclaim, 0, sizeof(c->reclaim));
	c->error[0] = '\0';
	c->error_code = 0;
	for (size_t i = 0; i < c->n_bindings; i++)
		binding_restart(&c->bindings[i], now_ms);
}

/* An answer to the allocation's own request (Allocate, Refresh, Deallocate). */
static void on_allocation_answer(struct turn_client *c, struct turn_txn *t, const struct stun_msg *m,
				 uint64_t now_ms)
{
	char why[96];
	bool success = stun_type_class(m->type) == STUN_CLASS_SUCCESS;

	t->active = false;
	if (t->kind == TURN_REQ_DEALLOCATE) {
		c->state = TURN_STATE_CLOSED; /* released, or already gone (437): either way over */
		return;
	}
	if (t->kind == TURN_REQ_RECLAIM) {
		if (!success && m->error_code != TURN_ERR_ALLOCATION_MISMATCH) {
			error_text(m, why, sizeof(why));
			fail(c, now_ms, m->error_code,
			     "allocation mismatch: an allocation from this port exists and these credentials cannot "
			     "release it (%s)", why);
			return;
		}
		/* Released (or gone meanwhile: 437): the Allocate again. */
		c->reclaims += success;
		c->reclaim.released = true;
		txn_start(c, &c->txn, TURN_REQ_ALLOCATE, now_ms);
		return;
	}
	if (success && t->kind == TURN_REQ_ALLOCATE) {
		if (!m->has_relayed) {
			fail(c, now_ms, 0, "%s", "Allocate answered without a relayed address");
			return;
		}
		allocated(c, m, now_ms);
		return;
	}
	if (success) { /* Refresh */
		c->lifetime_s = m->has_lifetime ? m->lifetime_s : TURN_DEFAULT_LIFETIME_S;
		c->refresh_at_ms = now_ms + refresh_after_ms(c->lifetime_s);
		c->expires_ms = now_ms + c->lifetime_s * 1000ull;
		return;
	}
	error_text(m, why, sizeof(why));
	switch (m->error_code) {
	case TURN_ERR_ALLOCATION_MISMATCH:
		if (t->kind == TURN_REQ_REFRESH) {
			/* The server forgot the allocation: make a new one at once. */
			c->state = TURN_STATE_ALLOCATING;
			txn_start(c, &c->txn, TURN_REQ_ALLOCATE, now_ms);
			return;
		}
		if (!c->reclaim.tried) {
			/* Most likely our own, left by a run that ended without its Deallocate. */
			c->reclaim.tried = true;
			txn_start(c, &c->txn, TURN_REQ_RECLAIM, now_ms);
			return;
		}
		if (c->reclaim.released && c->reclaim.retries < TURN_RECLAIM_RETRIES) {
			/* Released, but not deleted yet on the server's side: again in a moment. */
			c->reclaim.retries++;
			txn_start(c, &c->txn, TURN_REQ_ALLOCATE, now_ms);
			c->txn.next_send_ms = now_ms + TURN_RECLAIM_WAIT_MS;
			return;
		}
		fail(c, now_ms, m->error_code, "allocation mismatch (%s): an allocation from this port exists", why);
		return;
	case TURN_ERR_WRONG_CREDENTIALS:
		fail(c, now_ms, m->error_code, "wrong credentials (%s)", why);
		return;
	case TURN_ERR_QUOTA_REACHED:
		fail(c, now_ms, m->error_code, "allocation quota reached (%s)", why);
		return;
	default:
		fail(c, now_ms, m->error_code, "TURN server refused (%s)", why);
		return;
	}
}

/* An answer to a peer's CreatePermission or ChannelBind. */
static void on_binding_answer(struct turn_client *c, struct turn_binding *b, struct turn_txn *t,
			      const struct stun_msg *m, uint64_t now_ms)
{
	bool success = stun_type_class(m->type) == STUN_CLASS_SUCCESS;
	bool channel = t->kind == TURN_REQ_CHANNEL;

	t->active = false;
	b->error_code = success ? 0 : m->error_code;
	if (channel) {
		b->bound = success;
		b->channel_refresh_ms = now_ms + (success ? TURN_CHANNEL_REFRESH_MS : TURN_RETRY_MIN_MS);
	} else {
		b->permitted = success;
		b->permission_refresh_ms = now_ms + (success ? TURN_PERMISSION_REFRESH_MS : TURN_RETRY_MIN_MS);
	}
	if (!success && m->error_code == TURN_ERR_ALLOCATION_MISMATCH) {
		/* No allocation any more on the server's side: make a new one. */
		c->state = TURN_STATE_ALLOCATING;
		txn_start(c, &c->txn, TURN_REQ_ALLOCATE, now_ms);
	}
}

static enum turn_rx on_data_indication(struct turn_client *c, const struct stun_msg *m, struct ip_endpoint *peer,
				       const uint8_t **data, size_t *data_len)
{
	if (c->state != TURN_STATE_ALLOCATED || m->n_peers != 1 || !m->has_data) {
		c->rx_malformed++;
		return TURN_RX_DROPPED;
	}
	/* Permissions are per IP address (RFC 8656 9): the server only relays from those. */
	for (size_t i = 0; i < c->n_bindings; i++)
		if (c->bindings[i].permitted && ip_addr_equal(&c->bindings[i].peer.addr, &m->peers[0].addr)) {
			*peer = m->peers[0];
			*data = m->data;
			*data_len = m->data_len;
			return TURN_RX_DATA;
		}
	c->rx_data_unpermitted++;
	return TURN_RX_DROPPED;
}

enum turn_rx turn_client_on_message(struct turn_client *c, const uint8_t *buf, size_t len, uint64_t now_ms,
				    struct ip_endpoint *peer, const uint8_t **data, size_t *data_len)
{
	struct turn_binding *b;
	struct turn_txn *t;
	struct stun_msg m;
	uint16_t cls;

	if (stun_parse(buf, len, &m) < 0 || m.unknown_required) {
		c->rx_malformed++;
		return TURN_RX_DROPPED;
	}
	cls = stun_type_class(m.type);
	if (cls == STUN_CLASS_INDICATION && stun_type_method(m.type) == TURN_METHOD_DATA)
		return on_data_indication(c, &m, peer, data, data_len);
	if (cls != STUN_CLASS_SUCCESS && cls != STUN_CLASS_ERROR) {
		c->rx_malformed++;
		return TURN_RX_DROPPED;
	}
	t = find_txn(c, &m, &b);
	if (!t || stun_type_method(m.type) != request_method(t->kind)) {
		c->rx_unknown_txn++;
		return TURN_RX_DROPPED;
	}
	bool challenge = cls == STUN_CLASS_ERROR &&
			 (m.error_code == STUN_ERR_UNAUTHENTICATED || m.error_code == STUN_ERR_STALE_NONCE);
	/*
	 * An answer to a request with credentials carries a MESSAGE-INTEGRITY
	 * made with the same key (RFC 8489 9.2.5), except the challenges (401,
	 * 438), which the server answers before it knows the key is right.
	 * Some servers send error answers without one: those may only fail a
	 * request, never give us an allocation.
	 */
	if (t->with_credentials && !challenge && (m.has_integrity || cls == STUN_CLASS_SUCCESS) &&
	    (!m.has_integrity || !stun_check_integrity(buf, len, &m, c->key, sizeof(c->key)))) {
		c->rx_bad_integrity++;
		return TURN_RX_DROPPED;
	}
	if (challenge) {
		bool stale = m.error_code == STUN_ERR_STALE_NONCE;
		const char *why = NULL;
		if (t->with_credentials && !stale)
			why = "wrong credentials (401 Unauthorized)";
		else if (stale && ++t->stale_retries > TURN_MAX_STALE_RETRIES)
			why = "the server keeps saying the nonce is stale (438)";
		else if (!take_realm_nonce(c, &m))
			why = "an authentication challenge without a usable REALM and NONCE";
		if (why) {
			if (b)
				on_binding_answer(c, b, t, &m, now_ms);
			else if (t->kind == TURN_REQ_DEALLOCATE || t->kind == TURN_REQ_RECLAIM)
				on_allocation_answer(c, t, &m, now_ms);
			else
				fail(c, now_ms, m.error_code, "%s", why);
			return TURN_RX_ANSWER;
		}
		c->stale_nonces += stale;
		unsigned stale_retries = t->stale_retries;
		txn_start(c, t, t->kind, now_ms); /* again, a new transaction with the credentials */
		t->stale_retries = stale_retries;
		return TURN_RX_ANSWER;
	}
	t->stale_retries = 0;
	if (b)
		on_binding_answer(c, b, t, &m, now_ms);
	else
		on_allocation_answer(c, t, &m, now_ms);
	return TURN_RX_ANSWER;
}

uint16_t turn_client_bind(struct turn_client *c, const struct ip_endpoint *peer, uint64_t now_ms)
{
	for (size_t i = 0; i < c->n_bindings; i++)
		if (ip_endpoint_equal(&c->bindings[i].peer, peer))
			return c->bindings[i].channel;
	if (c->n_bindings >= TURN_MAX_BINDINGS)
		return 0;
	struct turn_binding *b = &c->bindings[c->n_bindings++];
	memset(b, 0, sizeof(*b));
	b->peer = *peer;
	/* Numbers are never reused (see turn_client_unbind): once they run out, a permission alone. */
	if (c->next_channel <= TURN_CHANNEL_MAX)
		b->channel = c->next_channel++;
	binding_restart(b, now_ms);
	return b->channel;
}

void turn_client_unbind(struct turn_client *c, const struct ip_endpoint *peer)
{
	for (size_t i = 0; i < c->n_bindings; i++)
		if (ip_endpoint_equal(&c->bindings[i].peer, peer)) {
			c->bindings[i] = c->bindings[--c->n_bindings];
			return;
		}
}

const struct turn_binding *turn_client_binding(const struct turn_client *c, const struct ip_endpoint *peer)
{
	for (size_t i = 0; i < c->n_bindings; i++)
		if (ip_endpoint_equal(&c->bindings[i].peer, peer))
			return &c->bindings[i];
	return NULL;
}

const struct turn_binding *turn_client_channel(const struct turn_client *c, uint16_t channel)
{
	if (!channel)
		return NULL; /* the bindings without a channel */
	for (size_t i = 0; i < c->n_bindings; i++)
		if (c->bindings[i].channel == channel)
			return &c->bindings[i];
	return NULL;
}

bool turn_client_channel_ready(const struct turn_client *c, uint16_t channel)
{
	const struct turn_binding *b = turn_client_channel(c, channel);
	return c->state == TURN_STATE_ALLOCATED && b && b->bound;
}

enum turn_carry turn_client_carry(const struct turn_client *c, const struct ip_endpoint *peer, uint16_t *channel)
{
	const struct turn_binding *b = turn_client_binding(c, peer);
	*channel = 0;
	if (c->state != TURN_STATE_ALLOCATED || !b || !b->permitted)
		return TURN_CARRY_NONE;
	if (!b->bound)
		return TURN_CARRY_INDICATION;
	*channel = b->channel;
	return TURN_CARRY_CHANNEL;
}

void turn_client_close(struct turn_client *c, uint64_t now_ms)
{
	if (c->state != TURN_STATE_ALLOCATED) {
		c->state = TURN_STATE_CLOSED;
		c->txn.active = false;
		return;
	}
	c->state = TURN_STATE_DEALLOCATING;
	txn_start(c, &c->txn, TURN_REQ_DEALLOCATE, now_ms);
	for (size_t i = 0; i < c->n_bindings; i++)
		c->bindings[i].permission_txn.active = c->bindings[i].channel_txn.active = false;
}

const char *turn_state_name(enum turn_state s)
{
	switch (s) {
	case TURN_STATE_ALLOCATING:
		return "allocating";
	case TURN_STATE_ALLOCATED:
		return "allocated";
	case TURN_STATE_FAILED:
		return "failed";
	case TURN_STATE_DEALLOCATING:
		return "deallocating";
	case TURN_STATE_CLOSED:
		return "closed";
	case TURN_STATE_IDLE:
	default:
		return "idle";
	}
}
