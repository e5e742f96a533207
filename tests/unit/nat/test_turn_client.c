// SPDX-License-Identifier: MIT
/*
 * The TURN client's state machine on a fake clock against scripted server
 * answers: the long-term credential challenge, stale nonces, answers with a
 * wrong MESSAGE-INTEGRITY, retransmission and backoff, refreshes of the
 * allocation, permissions and channels, the failures a server can answer
 * (401 after credentials, 441, 486, 437) and Deallocate; an allocation
 * found on our 5-tuple (437 to the Allocate) released and allocated again,
 * or, when it is not ours to release, a failure; how the data path
 * may reach a peer (ChannelData, or Send indications without a channel).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "nat/stun_build.h"
#include "nat/stun_client.h"
#include "nat/turn_client.h"

#define USER "node-a"
#define PASS "s3cret-pass"
#define REALM "overlay.test"

static uint8_t next_id;

static void fake_rand(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(next_id + i);
	next_id += 31;
}

static struct ip_endpoint ep(const char *s)
{
	struct ip_endpoint e;
	assert_int_equal(ip_endpoint_parse(s, &e), 0);
	return e;
}

static void key_of(const char *pass, uint8_t key[16])
{
	assert_int_equal(stun_long_term_key(USER, strlen(USER), REALM, strlen(REALM), pass, key), 0);
}

/* The one request a tick sent, parsed. */
static struct stun_msg one_request(struct turn_client *c, uint64_t now, struct turn_send *out)
{
	struct stun_msg m;
	assert_int_equal(turn_client_tick(c, now, out, 1), 1);
	assert_int_equal(stun_parse(out->buf, out->len, &m), 0);
	assert_int_equal(stun_type_class(m.type), STUN_CLASS_REQUEST);
	assert_true(m.has_fingerprint);
	return m;
}

/* An answer to req of class cls; error code when non-zero; integrity with key when non-NULL. */
struct answer {
	uint16_t error;
	const char *nonce;
	bool relayed;
	uint32_t lifetime;
	const uint8_t *key;
};

static size_t answer(const struct stun_msg *req, uint16_t cls, const struct answer *a, uint8_t *buf, size_t cap)
{
	struct stun_builder b;
	stun_build_start(&b, buf, cap, stun_type(stun_type_method(req->type), cls), req->txid);
	if (a->error)
		stun_build_error(&b, a->error, a->error == 401 ? "Unauthorized" : "Refused");
	if (a->nonce) {
		stun_build_attr(&b, STUN_ATTR_REALM, REALM, strlen(REALM));
		stun_build_attr(&b, STUN_ATTR_NONCE, a->nonce, strlen(a->nonce));
	}
	if (a->relayed) {
		struct ip_endpoint r = ep("203.0.113.100:49152"), m = ep("198.51.100.7:51820");
		stun_build_xor_address(&b, TURN_ATTR_XOR_RELAYED_ADDRESS, &r);
		stun_build_xor_address(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &m);
	}
	if (a->lifetime)
		stun_build_u32(&b, TURN_ATTR_LIFETIME, a->lifetime);
	if (a->key)
		stun_build_integrity(&b, a->key, 16);
	stun_build_fingerprint(&b);
	size_t len = stun_build_finish(&b);
	assert_true(len > 0);
	return len;
}

static enum turn_rx deliver(struct turn_client *c, const uint8_t *buf, size_t len, uint64_t now)
{
	struct ip_endpoint peer;
	const uint8_t *data;
	size_t dlen;
	return turn_client_on_message(c, buf, len, now, &peer, &data, &dlen);
}

static void init(struct turn_client *c)
{
	struct ip_endpoint server = ep("203.0.113.100:3478");
	assert_int_equal(turn_client_init(c, &server, USER, PASS, fake_rand), 0);
	turn_client_start(c, 0);
	assert_int_equal(c->state, TURN_STATE_ALLOCATING);
}

/* Allocate, 401, Allocate with credentials, success: ALLOCATED at now. */
static void allocate(struct turn_client *c, uint64_t now)
{
	static struct turn_send out;
	uint8_t key[16], buf[512];
	key_of(PASS, key);
	struct stun_msg req = one_request(c, now, &out);
	assert_int_equal(req.type, stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST));
	assert_true(req.has_transport);
	assert_int_equal(req.transport, TURN_TRANSPORT_UDP);
	assert_false(req.has_integrity);
	assert_null(req.username);
	size_t len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 401, .nonce = "nonce-1" }, buf, sizeof(buf));
	assert_int_equal(deliver(c, buf, len, now), TURN_RX_ANSWER);
	assert_int_equal(c->state, TURN_STATE_ALLOCATING);

	req = one_request(c, now, &out);
	assert_int_equal(req.type, stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST));
	assert_true(req.has_integrity);
	assert_int_equal(req.username_len, strlen(USER));
	assert_memory_equal(req.username, USER, strlen(USER));
	assert_memory_equal(req.realm, REALM, strlen(REALM));
	assert_memory_equal(req.nonce, "nonce-1", 7);
	assert_true(stun_check_integrity(out.buf, out.len, &req, key, sizeof(key)));
	len = answer(&req, STUN_CLASS_SUCCESS, &(struct answer){ .relayed = true, .lifetime = 600, .key = key }, buf,
		     sizeof(buf));
	assert_int_equal(deliver(c, buf, len, now), TURN_RX_ANSWER);
	assert_int_equal(c->state, TURN_STATE_ALLOCATED);
	char s[IP_ENDPOINT_STRLEN];
	assert_string_equal(ip_endpoint_format(&c->relayed, s, sizeof(s)), "203.0.113.100:49152");
	assert_string_equal(ip_endpoint_format(&c->mapped, s, sizeof(s)), "198.51.100.7:51820");
	assert_int_equal(c->lifetime_s, 600);
}

/* A client of the test's credentials, allocated at now; key gets the long-term key. */
static void allocated_client(struct turn_client *c, uint8_t key[16], uint64_t now)
{
	key_of(PASS, key);
	init(c);
	allocate(c, now);
}

static void long_term_challenge(void **state)
{
	struct turn_client c;
	init(&c);
	allocate(&c, 0);
	assert_string_equal(c.error, "");
	/* Nothing more until the refresh, 60 s before the 600 s are over. */
	struct turn_send out[4];
	assert_int_equal(turn_client_tick(&c, 539999, out, 4), 0);
}

static void answer_with_wrong_integrity_dropped(void **state)
{
	struct turn_client c;
	struct turn_send out;
	uint8_t key[16], wrong[16], buf[512];
	init(&c);
	key_of(PASS, key);
	key_of("other", wrong);
	struct stun_msg req = one_request(&c, 0, &out);
	size_t len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 401, .nonce = "n" }, buf, sizeof(buf));
	deliver(&c, buf, len, 0);
	req = one_request(&c, 0, &out);
	/* A success with another key's MAC, or none at all: not ours, still allocating. */
	len = answer(&req, STUN_CLASS_SUCCESS, &(struct answer){ .relayed = true, .key = wrong }, buf, sizeof(buf));
	assert_int_equal(deliver(&c, buf, len, 0), TURN_RX_DROPPED);
	len = answer(&req, STUN_CLASS_SUCCESS, &(struct answer){ .relayed = true }, buf, sizeof(buf));
	assert_int_equal(deliver(&c, buf, len, 0), TURN_RX_DROPPED);
	assert_int_equal(c.rx_bad_integrity, 2);
	assert_int_equal(c.state, TURN_STATE_ALLOCATING);
	/* An answer to a transaction we never started: dropped. */
	req.txid[0] ^= 0xff;
	len = answer(&req, STUN_CLASS_SUCCESS, &(struct answer){ .relayed = true, .key = key }, buf, sizeof(buf));
	assert_int_equal(deliver(&c, buf, len, 0), TURN_RX_DROPPED);
	assert_int_equal(c.rx_unknown_txn, 1);
	assert_int_equal(c.state, TURN_STATE_ALLOCATING);
}

static void stale_nonce_refresh(void **state)
{
	struct turn_client c;
	struct turn_send out;
	uint8_t key[16], buf[512];
	allocated_client(&c, key, 0);
	struct stun_msg req = one_request(&c, 540000, &out);
	assert_int_equal(req.type, stun_type(TURN_METHOD_REFRESH, STUN_CLASS_REQUEST));
	assert_true(req.has_lifetime);
	assert_int_equal(req.lifetime_s, 600);
	size_t len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 438, .nonce = "nonce-2" }, buf,
			    sizeof(buf));
	assert_int_equal(deliver(&c, buf, len, 540000), TURN_RX_ANSWER);
	assert_int_equal(c.stale_nonces, 1);
	struct stun_msg again = one_request(&c, 540000, &out);
	assert_int_equal(again.type, stun_type(TURN_METHOD_REFRESH, STUN_CLASS_REQUEST));
	assert_memory_not_equal(again.txid, req.txid, STUN_TXID_LEN);
	assert_memory_equal(again.nonce, "nonce-2", 7);
	assert_true(stun_check_integrity(out.buf, out.len, &again, key, sizeof(key)));
	len = answer(&again, STUN_CLASS_SUCCESS, &(struct answer){ .lifetime = 300, .key = key }, buf, sizeof(buf));
	assert_int_equal(deliver(&c, buf, len, 540000), TURN_RX_ANSWER);
	assert_int_equal(c.state, TURN_STATE_ALLOCATED);
	assert_int_equal(c.lifetime_s, 300);
	assert_int_equal(c.refresh_at_ms, 540000 + 240000);
}

static void retransmission_then_backoff(void **state)
{
	struct turn_client c;
	struct turn_send out[2];
	static const uint64_t at[] = { 0, 500, 1500, 3500, 7500, 15500, 31500 };
	init(&c);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		if (at[i])
			assert_int_equal(turn_client_tick(&c, at[i] - 1, out, 2), 0);
		assert_int_equal(turn_client_tick(&c, at[i], out, 2), 1);
	}
	/* Rm = 16 RTOs after the last send: failed, retried 5 s later, then 10 s after the next failure. */
	assert_int_equal(turn_client_tick(&c, 31500 + 7999, out, 2), 0);
	assert_int_equal(c.state, TURN_STATE_ALLOCATING);
	assert_int_equal(turn_client_tick(&c, 39500, out, 2), 0);
	assert_int_equal(c.state, TURN_STATE_FAILED);
	assert_string_equal(c.error, "no answer from the TURN server");
	assert_int_equal(c.retry_at_ms, 39500 + TURN_RETRY_MIN_MS);
	assert_int_equal(turn_client_tick(&c, 44499, out, 2), 0);
	assert_int_equal(turn_client_tick(&c, 44500, out, 2), 1);
	assert_int_equal(c.state, TURN_STATE_ALLOCATING);
	for (uint64_t t = 44500; c.state == TURN_STATE_ALLOCATING; t += 500)
		turn_client_tick(&c, t, out, 2);
	assert_int_equal(c.state, TURN_STATE_FAILED);
	assert_int_equal(c.failures, 2);
	assert_int_equal(c.retry_at_ms - (44500 + 39500), 2 * TURN_RETRY_MIN_MS);
}

/* The server answers the Allocate with credentials with err; the failure's reason. */
static const char *refused_with(struct turn_client *c, uint16_t err)
{
	struct turn_send out;
	uint8_t key[16], buf[512];
	key_of(PASS, key);
	init(c);
	struct stun_msg req = one_request(c, 0, &out);
	size_t len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 401, .nonce = "n" }, buf, sizeof(buf));
	deliver(c, buf, len, 0);
	req = one_request(c, 0, &out);
	/* 401 comes without integrity (the server does not trust our key); the others with it. */
	len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = err, .key = err == 401 ? NULL : key }, buf,
		     sizeof(buf));
	assert_int_equal(deliver(c, buf, len, 0), TURN_RX_ANSWER);
	assert_int_equal(c->state, TURN_STATE_FAILED);
	assert_int_equal(c->error_code, err);
	assert_null(strstr(c->error, PASS));
	assert_int_equal(turn_client_tick(c, TURN_RETRY_MIN_MS - 1, &out, 1), 0);
	assert_int_equal(turn_client_tick(c, TURN_RETRY_MIN_MS, &out, 1), 1); /* retried later */
	return c->error;
}

static void failures_have_reasons(void **state)
{
	struct turn_client c;
	assert_non_null(strstr(refused_with(&c, 401), "wrong credentials"));
	assert_non_null(strstr(refused_with(&c, 441), "wrong credentials (441"));
	assert_non_null(strstr(refused_with(&c, 486), "allocation quota reached (486"));
	assert_non_null(strstr(refused_with(&c, 508), "508"));
}

static void stale_nonce_loop_gives_up(void **state)
{
	struct turn_client c;
	struct turn_send out;
	uint8_t buf[512];
	init(&c);
	for (int i = 0; i <= TURN_MAX_STALE_RETRIES + 1 && c.state == TURN_STATE_ALLOCATING; i++) {
		struct stun_msg req = one_request(&c, 0, &out);
		size_t len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = i ? 438 : 401, .nonce = "x" },
				    buf, sizeof(buf));
		deliver(&c, buf, len, 0);
	}
	assert_int_equal(c.state, TURN_STATE_FAILED);
	assert_non_null(strstr(c.error, "stale"));
}

static void permissions_and_channels(void **state)
{
	struct turn_client c;
	struct turn_send out[4];
	uint8_t key[16], buf[512];
	struct ip_endpoint peer = ep("198.51.100.20:51820");
	key_of(PASS, key);
	init(&c);
	assert_int_equal(turn_client_bind(&c, &peer, 0), TURN_CHANNEL_MIN);
	assert_int_equal(turn_client_bind(&c, &peer, 0), TURN_CHANNEL_MIN); /* the same peer, the same channel */
	allocate(&c, 1000);
	assert_false(turn_client_channel_ready(&c, TURN_CHANNEL_MIN));
	assert_int_equal(turn_client_tick(&c, 1000, out, 4), 2);
	for (int i = 0; i < 2; i++) {
		struct stun_msg req;
		assert_int_equal(stun_parse(out[i].buf, out[i].len, &req), 0);
		assert_true(stun_check_integrity(out[i].buf, out[i].len, &req, key, sizeof(key)));
		assert_int_equal(req.n_peers, 1);
		assert_true(ip_endpoint_equal(&req.peers[0], &peer));
		if (stun_type_method(req.type) == TURN_METHOD_CHANNEL_BIND) {
			assert_true(req.has_channel);
			assert_int_equal(req.channel, TURN_CHANNEL_MIN);
		} else {
			assert_int_equal(stun_type_method(req.type), TURN_METHOD_CREATE_PERMISSION);
		}
		size_t len = answer(&req, STUN_CLASS_SUCCESS, &(struct answer){ .key = key }, buf, sizeof(buf));
		assert_int_equal(deliver(&c, buf, len, 1000), TURN_RX_ANSWER);
	}
	assert_true(turn_client_channel_ready(&c, TURN_CHANNEL_MIN));
	assert_true(turn_client_channel(&c, TURN_CHANNEL_MIN)->permitted);
	/* The permission is refreshed before its 300 s, the channel before its 600 s. */
	assert_int_equal(turn_client_tick(&c, 1000 + TURN_PERMISSION_REFRESH_MS - 1, out, 4), 0);
	assert_int_equal(turn_client_tick(&c, 1000 + TURN_PERMISSION_REFRESH_MS, out, 4), 1);
	struct stun_msg req;
	assert_int_equal(stun_parse(out[0].buf, out[0].len, &req), 0);
	assert_int_equal(stun_type_method(req.type), TURN_METHOD_CREATE_PERMISSION);
	assert_true(TURN_PERMISSION_REFRESH_MS < 300000 && TURN_CHANNEL_REFRESH_MS < 600000);
	size_t n = turn_client_tick(&c, 1000 + TURN_CHANNEL_REFRESH_MS, out, 4);
	bool channel = false;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(stun_parse(out[i].buf, out[i].len, &req), 0);
		channel |= stun_type_method(req.type) == TURN_METHOD_CHANNEL_BIND;
	}
	assert_true(channel);

	/* A second peer gets the next channel. */
	struct ip_endpoint other = ep("198.51.100.21:51820");
	assert_int_equal(turn_client_bind(&c, &other, 2000), TURN_CHANNEL_MIN + 1);

	/* Unbound: nothing more is sent for it; bound again, a new channel (the old one may live on there). */
	turn_client_unbind(&c, &peer);
	assert_null(turn_client_binding(&c, &peer));
	assert_false(turn_client_channel_ready(&c, TURN_CHANNEL_MIN));
	n = turn_client_tick(&c, 2000, out, 4);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(stun_parse(out[i].buf, out[i].len, &req), 0);
		assert_true(ip_endpoint_equal(&req.peers[0], &other));
	}
	assert_int_equal(turn_client_bind(&c, &peer, 3000), TURN_CHANNEL_MIN + 2);
	/* The table has room for TURN_MAX_BINDINGS peers, then refuses. */
	for (unsigned i = 0; c.n_bindings < TURN_MAX_BINDINGS; i++) {
		struct ip_endpoint more = ep("192.0.2.1:1000");
		more.port = (uint16_t)(2000 + i);
		assert_int_not_equal(turn_client_bind(&c, &more, 3000), 0);
	}
	struct ip_endpoint full = ep("192.0.2.99:1");
	assert_int_equal(turn_client_bind(&c, &full, 3000), 0);
}

static void data_indications_only_from_permitted_peers(void **state)
{
	struct turn_client c;
	struct turn_send out[4];
	uint8_t key[16], buf[512];
	struct ip_endpoint permitted = ep("198.51.100.20:51820"), stranger = ep("192.0.2.66:4000");
	key_of(PASS, key);
	init(&c);
	turn_client_bind(&c, &permitted, 0);
	allocate(&c, 0);
	assert_int_equal(turn_client_tick(&c, 0, out, 4), 2);
	for (int i = 0; i < 2; i++) {
		struct stun_msg req;
		assert_int_equal(stun_parse(out[i].buf, out[i].len, &req), 0);
		size_t len = answer(&req, STUN_CLASS_SUCCESS, &(struct answer){ .key = key }, buf, sizeof(buf));
		deliver(&c, buf, len, 0);
	}
	for (int i = 0; i < 2; i++) {
		struct stun_builder b;
		uint8_t txid[STUN_TXID_LEN] = { 9 };
		/* Another port of a permitted address is permitted too: permissions are per address. */
		struct ip_endpoint from = i ? stranger : (struct ip_endpoint){ .addr = permitted.addr, .port = 9999 };
		stun_build_start(&b, buf, sizeof(buf), stun_type(TURN_METHOD_DATA, STUN_CLASS_INDICATION), txid);
		stun_build_xor_address(&b, TURN_ATTR_XOR_PEER_ADDRESS, &from);
		stun_build_attr(&b, TURN_ATTR_DATA, "hello", 5);
		size_t len = stun_build_finish(&b);
		struct ip_endpoint peer;
		const uint8_t *data;
		size_t dlen;
		enum turn_rx rx = turn_client_on_message(&c, buf, len, 0, &peer, &data, &dlen);
		if (i) {
			assert_int_equal(rx, TURN_RX_DROPPED);
			assert_int_equal(c.rx_data_unpermitted, 1);
		} else {
			assert_int_equal(rx, TURN_RX_DATA);
			assert_true(ip_endpoint_equal(&peer, &from));
			assert_int_equal(dlen, 5);
			assert_memory_equal(data, "hello", 5);
		}
	}
}

static void mismatch_on_refresh_reallocates(void **state)
{
	struct turn_client c;
	struct turn_send out;
	uint8_t key[16], buf[512];
	allocated_client(&c, key, 0);
	struct stun_msg req = one_request(&c, 540000, &out);
	size_t len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 437, .key = key }, buf, sizeof(buf));
	assert_int_equal(deliver(&c, buf, len, 540000), TURN_RX_ANSWER);
	assert_int_equal(c.state, TURN_STATE_ALLOCATING);
	req = one_request(&c, 540000, &out);
	assert_int_equal(req.type, stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST));
	assert_true(req.has_integrity); /* the nonce is still good: credentials at once */
}

/* Allocate (401, then with credentials) answered 437: the request that follows, parsed. */
static struct stun_msg allocate_mismatched(struct turn_client *c, uint8_t key[16], struct turn_send *out)
{
	uint8_t buf[512];
	key_of(PASS, key);
	init(c);
	struct stun_msg req = one_request(c, 0, out);
	size_t len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 401, .nonce = "n" }, buf, sizeof(buf));
	deliver(c, buf, len, 0);
	req = one_request(c, 0, out);
	assert_int_equal(req.type, stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST));
	len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 437, .key = key }, buf, sizeof(buf));
	assert_int_equal(deliver(c, buf, len, 0), TURN_RX_ANSWER);
	assert_int_equal(c->state, TURN_STATE_ALLOCATING);
	return one_request(c, 0, out);
}

/* A Refresh with LIFETIME 0 and our credentials: what releases the allocation of its 5-tuple. */
static void assert_release(const struct stun_msg *req)
{
	assert_int_equal(req->type, stun_type(TURN_METHOD_REFRESH, STUN_CLASS_REQUEST));
	assert_true(req->has_lifetime);
	assert_int_equal(req->lifetime_s, 0);
	assert_true(req->has_integrity);
	assert_non_null(req->username);
}

static void mismatch_on_allocate_releases_and_allocates_again(void **state)
{
	struct turn_client c;
	struct turn_send out;
	uint8_t key[16], buf[512];
	struct stun_msg req = allocate_mismatched(&c, key, &out);
	assert_release(&req);
	size_t len = answer(&req, STUN_CLASS_SUCCESS, &(struct answer){ .key = key }, buf, sizeof(buf));
	assert_int_equal(deliver(&c, buf, len, 0), TURN_RX_ANSWER);
	assert_int_equal(c.reclaims, 1);
	req = one_request(&c, 0, &out); /* at once, not after a backoff */
	assert_int_equal(req.type, stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST));
	assert_true(req.has_integrity);
	len = answer(&req, STUN_CLASS_SUCCESS, &(struct answer){ .relayed = true, .lifetime = 600, .key = key }, buf,
		     sizeof(buf));
	assert_int_equal(deliver(&c, buf, len, 0), TURN_RX_ANSWER);
	assert_int_equal(c.state, TURN_STATE_ALLOCATED);
	assert_int_equal(c.failures, 0);

	/* Gone by the time the release arrived (437 to it): allocated all the same. */
	req = allocate_mismatched(&c, key, &out);
	len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 437, .key = key }, buf, sizeof(buf));
	deliver(&c, buf, len, 0);
	req = one_request(&c, 0, &out);
	assert_int_equal(req.type, stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST));
	assert_int_equal(c.reclaims, 0);
}

static void mismatch_that_is_not_ours_fails(void **state)
{
	struct turn_client c;
	struct turn_send out;
	uint8_t key[16], buf[512];

	/* Made with other credentials: the server refuses the release (441). */
	struct stun_msg req = allocate_mismatched(&c, key, &out);
	assert_release(&req);
	size_t len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 441, .key = key }, buf, sizeof(buf));
	assert_int_equal(deliver(&c, buf, len, 0), TURN_RX_ANSWER);
	assert_int_equal(c.state, TURN_STATE_FAILED);
	assert_int_equal(c.error_code, 441);
	assert_non_null(strstr(c.error, "cannot release it (441"));
	assert_int_equal(c.reclaims, 0);
	assert_int_equal(turn_client_tick(&c, TURN_RETRY_MIN_MS - 1, &out, 1), 0);
	assert_int_equal(turn_client_tick(&c, TURN_RETRY_MIN_MS, &out, 1), 1); /* retried later */

	/*
	 * Released, yet the Allocate meets a mismatch again (coturn deletes on a
	 * timer after it answers): the Allocate again TURN_RECLAIM_WAIT_MS later,
	 * TURN_RECLAIM_RETRIES times, no second release; then a failure.
	 */
	req = allocate_mismatched(&c, key, &out);
	len = answer(&req, STUN_CLASS_SUCCESS, &(struct answer){ .key = key }, buf, sizeof(buf));
	deliver(&c, buf, len, 0);
	uint64_t now = 0;
	for (int i = 0; i <= TURN_RECLAIM_RETRIES; i++) {
		req = one_request(&c, now, &out);
		assert_int_equal(req.type, stun_type(TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST));
		len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 437, .key = key }, buf, sizeof(buf));
		deliver(&c, buf, len, now);
		if (i < TURN_RECLAIM_RETRIES) {
			assert_int_equal(c.state, TURN_STATE_ALLOCATING);
			assert_int_equal(turn_client_tick(&c, now + TURN_RECLAIM_WAIT_MS - 1, &out, 1), 0);
		}
		now += TURN_RECLAIM_WAIT_MS;
	}
	assert_int_equal(c.state, TURN_STATE_FAILED);
	assert_non_null(strstr(c.error, "allocation mismatch (437"));
	now -= TURN_RECLAIM_WAIT_MS;
	assert_int_equal(turn_client_tick(&c, now + TURN_RETRY_MIN_MS - 1, &out, 1), 0);
	/* The retry may release again. */
	req = one_request(&c, now + TURN_RETRY_MIN_MS, &out);
	len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 437, .key = key }, buf, sizeof(buf));
	deliver(&c, buf, len, now + TURN_RETRY_MIN_MS);
	req = one_request(&c, now + TURN_RETRY_MIN_MS, &out);
	assert_release(&req);
}

static void deallocate_at_teardown(void **state)
{
	struct turn_client c;
	struct turn_send out;
	uint8_t key[16], buf[512];
	allocated_client(&c, key, 0);
	turn_client_close(&c, 100);
	assert_int_equal(c.state, TURN_STATE_DEALLOCATING);
	struct stun_msg req = one_request(&c, 100, &out);
	assert_int_equal(req.type, stun_type(TURN_METHOD_REFRESH, STUN_CLASS_REQUEST));
	assert_true(req.has_lifetime);
	assert_int_equal(req.lifetime_s, 0);
	assert_true(stun_check_integrity(out.buf, out.len, &req, key, sizeof(key)));
	/* A stale nonce meanwhile: Deallocate again with the new one. */
	size_t len = answer(&req, STUN_CLASS_ERROR, &(struct answer){ .error = 438, .nonce = "n3" }, buf, sizeof(buf));
	deliver(&c, buf, len, 100);
	req = one_request(&c, 100, &out);
	assert_int_equal(req.lifetime_s, 0);
	len = answer(&req, STUN_CLASS_SUCCESS, &(struct answer){ .lifetime = 0, .key = key }, buf, sizeof(buf));
	assert_int_equal(deliver(&c, buf, len, 100), TURN_RX_ANSWER);
	assert_int_equal(c.state, TURN_STATE_CLOSED);
	assert_int_equal(turn_client_tick(&c, 10000000, &out, 1), 0);

	/* Never allocated: closed at once, nothing sent. */
	init(&c);
	turn_client_close(&c, 0);
	assert_int_equal(c.state, TURN_STATE_CLOSED);
	assert_int_equal(turn_client_tick(&c, 0, &out, 1), 0);
}

static void bad_configuration_refused(void **state)
{
	struct turn_client c;
	struct ip_endpoint server = ep("203.0.113.100:3478");
	char longer[TURN_MAX_TEXT + 1];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(turn_client_init(&c, &server, "", PASS, fake_rand), -EINVAL);
	assert_int_equal(turn_client_init(&c, &server, USER, "", fake_rand), -EINVAL);
	assert_int_equal(turn_client_init(&c, &server, longer, PASS, fake_rand), -EINVAL);
}

/* The peer's CreatePermission or ChannelBind among the n requests in out, answered (error: that code). */
static void answer_binding_request(struct turn_client *c, struct turn_send *out, size_t n, uint16_t method,
				   uint16_t error, uint64_t now)
{
	uint8_t key[16], buf[512];
	key_of(PASS, key);
	for (size_t i = 0; i < n; i++) {
		struct stun_msg req;
		assert_int_equal(stun_parse(out[i].buf, out[i].len, &req), 0);
		if (stun_type_method(req.type) != method)
			continue;
		size_t len = answer(&req, error ? STUN_CLASS_ERROR : STUN_CLASS_SUCCESS,
				    &(struct answer){ .error = error, .key = key }, buf, sizeof(buf));
		assert_int_equal(deliver(c, buf, len, now), TURN_RX_ANSWER);
		return;
	}
	fail_msg("no request of method 0x%x", method);
}

/*
 * How the data path reaches a peer (turn_client_carry): nothing before the
 * permission; Send indications with the permission alone (ChannelBind not
 * answered yet, refused by the server, or no channel number left); ChannelData
 * once the channel is bound, and indications again when the channel is lost.
 */
static void carry_falls_back_to_indications(void **state)
{
	struct turn_client c;
	struct turn_send out[4];
	struct ip_endpoint peer = ep("198.51.100.20:51820");
	uint16_t channel = 1;
	init(&c);
	assert_int_equal(turn_client_bind(&c, &peer, 0), TURN_CHANNEL_MIN);
	assert_int_equal(turn_client_carry(&c, &peer, &channel), TURN_CARRY_NONE); /* not allocated */
	assert_int_equal(channel, 0);
	allocate(&c, 1000);
	size_t n = turn_client_tick(&c, 1000, out, 4);
	assert_int_equal(n, 2);
	assert_int_equal(turn_client_carry(&c, &peer, &channel), TURN_CARRY_NONE); /* no permission yet */

	/* The permission first, the ChannelBind still unanswered: indications. */
	answer_binding_request(&c, out, n, TURN_METHOD_CREATE_PERMISSION, 0, 1000);
	assert_int_equal(turn_client_carry(&c, &peer, &channel), TURN_CARRY_INDICATION);
	assert_int_equal(channel, 0);

	/* The channel bound: ChannelData on it. */
	answer_binding_request(&c, out, n, TURN_METHOD_CHANNEL_BIND, 0, 1000);
	assert_int_equal(turn_client_carry(&c, &peer, &channel), TURN_CARRY_CHANNEL);
	assert_int_equal(channel, TURN_CHANNEL_MIN);

	/* Its refresh refused (a server that stopped taking channels): indications, the permission stays. */
	n = turn_client_tick(&c, 1000 + TURN_CHANNEL_REFRESH_MS, out, 4);
	answer_binding_request(&c, out, n, TURN_METHOD_CHANNEL_BIND, 403, 1000 + TURN_CHANNEL_REFRESH_MS);
	answer_binding_request(&c, out, n, TURN_METHOD_CREATE_PERMISSION, 0, 1000 + TURN_CHANNEL_REFRESH_MS);
	assert_int_equal(turn_client_carry(&c, &peer, &channel), TURN_CARRY_INDICATION);
	assert_int_equal(channel, 0);

	/* A second peer whose very first ChannelBind is refused: indications as soon as it is permitted. */
	struct ip_endpoint other = ep("198.51.100.21:51820");
	uint64_t now = 1000 + TURN_CHANNEL_REFRESH_MS + 1;
	assert_int_equal(turn_client_bind(&c, &other, now), TURN_CHANNEL_MIN + 1);
	n = turn_client_tick(&c, now, out, 4);
	answer_binding_request(&c, out, n, TURN_METHOD_CHANNEL_BIND, 508, now);
	assert_int_equal(turn_client_binding(&c, &other)->error_code, 508);
	assert_int_equal(turn_client_carry(&c, &other, &channel), TURN_CARRY_NONE);
	answer_binding_request(&c, out, n, TURN_METHOD_CREATE_PERMISSION, 0, now);
	assert_int_equal(turn_client_carry(&c, &other, &channel), TURN_CARRY_INDICATION);

	/* Every channel number given out: a new peer gets a permission only, and no ChannelBind is sent. */
	turn_client_unbind(&c, &other);
	c.next_channel = TURN_CHANNEL_MAX + 1;
	struct ip_endpoint late = ep("198.51.100.22:51820");
	now += 10;
	assert_int_equal(turn_client_bind(&c, &late, now), 0);
	assert_non_null(turn_client_binding(&c, &late));
	assert_null(turn_client_channel(&c, 0));
	n = turn_client_tick(&c, now, out, 4);
	for (size_t i = 0; i < n; i++) {
		struct stun_msg req;
		assert_int_equal(stun_parse(out[i].buf, out[i].len, &req), 0);
		assert_false(stun_type_method(req.type) == TURN_METHOD_CHANNEL_BIND && ip_endpoint_equal(&req.peers[0], &late));
	}
	answer_binding_request(&c, out, n, TURN_METHOD_CREATE_PERMISSION, 0, now);
	assert_int_equal(turn_client_carry(&c, &late, &channel), TURN_CARRY_INDICATION);
	assert_int_equal(channel, 0);
	n = turn_client_tick(&c, now + TURN_RETRY_MIN_MS, out, 4); /* the first peer's ChannelBind again, not late's */
	for (size_t i = 0; i < n; i++) {
		struct stun_msg req;
		assert_int_equal(stun_parse(out[i].buf, out[i].len, &req), 0);
		assert_false(stun_type_method(req.type) == TURN_METHOD_CHANNEL_BIND && ip_endpoint_equal(&req.peers[0], &late));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(long_term_challenge),
		cmocka_unit_test(answer_with_wrong_integrity_dropped),
		cmocka_unit_test(stale_nonce_refresh),
		cmocka_unit_test(retransmission_then_backoff),
		cmocka_unit_test(failures_have_reasons),
		cmocka_unit_test(stale_nonce_loop_gives_up),
		cmocka_unit_test(permissions_and_channels),
		cmocka_unit_test(data_indications_only_from_permitted_peers),
		cmocka_unit_test(mismatch_on_refresh_reallocates),
		cmocka_unit_test(mismatch_on_allocate_releases_and_allocates_again),
		cmocka_unit_test(mismatch_that_is_not_ours_fails),
		cmocka_unit_test(deallocate_at_teardown),
		cmocka_unit_test(bad_configuration_refused),
		cmocka_unit_test(carry_falls_back_to_indications),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
