// SPDX-License-Identifier: MIT
/*
 * The TURN server's logic (relay/server.h) on fake sockets and a fake
 * clock: the long-term credential exchange (401, 438, wrong credentials),
 * the requests and their errors (400, 420, 437, 441, 442, 486, 508),
 * lifetimes, and data both ways only through a permission.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nat/stun_build.h"
#include "relay/server.h"

#define PASS "s3cret"
#define LISTEN_FD 3

struct fake_sockets {
	int opened, closed;
	uint16_t next_port;
	bool fail;
	bool dont_fragment; /* the last open's */
};

static int fake_open(void *ctx, struct relay_alloc *a, int family, bool even, bool dont_fragment)
{
	struct fake_sockets *f = ctx;
	if (f->fail)
		return -EMFILE;
	f->opened++;
	f->dont_fragment = dont_fragment;
	a->fd = 100 + f->opened;
	a->relayed_port = f->next_port;
	f->next_port += 2;
	return 0;
}

static void fake_close(void *ctx, struct relay_alloc *a)
{
	struct fake_sockets *f = ctx;
	f->closed++;
}

struct env {
	struct relay_server s;
	struct fake_sockets f;
	uint64_t now;
	uint8_t scratch[RELAY_TX_SCRATCH];
	struct relay_tx tx;
	struct stun_msg ans;
	uint8_t ans_buf[RELAY_TX_SCRATCH];
	struct ip_endpoint client, peer;
	char nonce[64];
	uint8_t txid;
};

static struct ip_endpoint ep(const char *s)
{
	struct ip_endpoint e;
	assert_int_equal(ip_endpoint_parse(s, &e), 0);
	return e;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct relay_config c = { .listen_port = 3478, .max_sessions = 8, .allocs_per_client = 2, .password = PASS };
	struct relay_sock_ops ops = { .open = fake_open, .close = fake_close, .ctx = &e->f };

	assert_int_equal(ip_addr_parse("192.0.2.10", &c.external), 0);
	e->f.next_port = 50000;
	assert_int_equal(relay_server_init(&e->s, &c, &ops, LISTEN_FD), 0);
	e->now = 5000 * 1000;
	e->client = ep("198.51.100.1:40000");
	e->peer = ep("203.0.113.9:51820");
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	relay_server_free(&e->s);
	assert_int_equal(e->f.opened, e->f.closed); /* every socket closed */
	free(e);
	return 0;
}

/* ---- a client ---- */

static void begin(struct env *e, struct stun_builder *b, uint8_t *buf, uint16_t method, uint16_t cls)
{
	uint8_t txid[STUN_TXID_LEN] = { 0x11, ++e->txid };
	stun_build_start(b, buf, 1024, stun_type(method, cls), txid);
}

/* USERNAME, REALM, NONCE, MESSAGE-INTEGRITY (long-term key of user and pass), FINGERPRINT. */
static size_t seal(struct env *e, struct stun_builder *b, const char *user, const char *pass)
{
	uint8_t key[16];
	stun_build_attr(b, STUN_ATTR_USERNAME, user, strlen(user));
	stun_build_attr(b, STUN_ATTR_REALM, RELAY_REALM, strlen(RELAY_REALM));
	stun_build_attr(b, STUN_ATTR_NONCE, e->nonce, strlen(e->nonce));
	assert_int_equal(stun_long_term_key(user, strlen(user), RELAY_REALM, strlen(RELAY_REALM), pass, key), 0);
	stun_build_integrity(b, key, sizeof(key));
	stun_build_fingerprint(b);
	return stun_build_finish(b);
}

/* Sends buf from `from`; true when the server answered with a STUN message (parsed into e->ans). */
static bool send_from(struct env *e, const struct ip_endpoint *from, const uint8_t *buf, size_t len)
{
	memset(&e->tx, 0, sizeof(e->tx));
	if (!relay_server_from_client(&e->s, from, buf, len, e->now, e->scratch, &e->tx))
		return false;
	assert_int_equal(e->tx.body_len, 0);
	assert_int_equal(e->tx.fd, LISTEN_FD);
	assert_true(ip_addr_equal(&e->tx.to.addr, &from->addr) && e->tx.to.port == from->port);
	memcpy(e->ans_buf, e->tx.head, e->tx.head_len);
	assert_int_equal(stun_parse(e->ans_buf, e->tx.head_len, &e->ans), 0);
	assert_true(e->ans.has_fingerprint);
	return true;
}

/* The error code of the answer to buf (0 for a success). */
static uint16_t answer_to(struct env *e, const struct ip_endpoint *from, const uint8_t *buf, size_t len)
{
	assert_true(send_from(e, from, buf, len));
	if (stun_type_class(e->ans.type) == STUN_CLASS_SUCCESS)
		return 0;
	assert_int_equal(stun_type_class(e->ans.type), STUN_CLASS_ERROR);
	return e->ans.error_code;
}

/* An unauthenticated Allocate: the challenge, whose nonce the client keeps. */
static void get_nonce(struct env *e, const struct ip_endpoint *from)
{
	struct stun_builder b;
	uint8_t buf[1024];
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_transport(&b, TURN_TRANSPORT_UDP);
	assert_int_equal(answer_to(e, from, buf, stun_build_finish(&b)), STUN_ERR_UNAUTHENTICATED);
	assert_non_null(e->ans.realm);
	assert_memory_equal(e->ans.realm, RELAY_REALM, e->ans.realm_len);
	assert_non_null(e->ans.nonce);
	assert_false(e->ans.has_integrity);
	memcpy(e->nonce, e->ans.nonce, e->ans.nonce_len);
	e->nonce[e->ans.nonce_len] = '\0';
}

static uint16_t allocate_as(struct env *e, const struct ip_endpoint *from, const char *user, const char *pass)
{
	struct stun_builder b;
	uint8_t buf[1024];
	get_nonce(e, from);
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_transport(&b, TURN_TRANSPORT_UDP);
	return answer_to(e, from, buf, seal(e, &b, user, pass));
}

static uint16_t request(struct env *e, uint16_t method, const struct ip_endpoint *peer, uint16_t channel,
			int lifetime, const char *user)
{
	struct stun_builder b;
	uint8_t buf[1024];
	begin(e, &b, buf, method, STUN_CLASS_REQUEST);
	if (peer)
		stun_build_xor_address(&b, TURN_ATTR_XOR_PEER_ADDRESS, peer);
	if (channel)
		stun_build_channel(&b, channel);
	if (lifetime >= 0)
		stun_build_u32(&b, TURN_ATTR_LIFETIME, (uint32_t)lifetime);
	return answer_to(e, &e->client, buf, seal(e, &b, user, PASS));
}

/* ---- tests ---- */

/* DONT-FRAGMENT reaches the relayed socket (relay.c sets DF on it); without it, no DF. */
static void dont_fragment_reaches_the_socket(void **state)
{
	struct env *e = *state;
	struct ip_endpoint second = ep("192.0.2.10:40001");
	struct stun_builder b;
	uint8_t buf[1024];

	assert_int_equal(allocate_as(e, &e->client, "node-a", PASS), 0);
	assert_int_equal(e->f.opened, 1);
	assert_false(e->f.dont_fragment);
	get_nonce(e, &second);
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_transport(&b, TURN_TRANSPORT_UDP);
	stun_build_attr(&b, TURN_ATTR_DONT_FRAGMENT, NULL, 0);
	assert_int_equal(answer_to(e, &second, buf, seal(e, &b, "node-a", PASS)), 0);
	assert_int_equal(e->f.opened, 2);
	assert_true(e->f.dont_fragment);
}

static void allocate_long_term_credentials(void **state)
{
	struct env *e = *state;
	uint8_t key[16];

	assert_int_equal(allocate_as(e, &e->client, "node-a", PASS), 0);
	assert_true(e->ans.has_relayed);
	struct ip_addr ext;
	ip_addr_parse("192.0.2.10", &ext);
	assert_true(ip_addr_equal(&e->ans.relayed.addr, &ext));
	assert_int_equal(e->ans.relayed.port, 50000);
	assert_true(e->ans.has_lifetime);
	assert_int_equal(e->ans.lifetime_s, TURN_DEFAULT_LIFETIME_S);
	assert_true(e->ans.has_mapped);
	assert_int_equal(e->ans.mapped.port, 40000);
	/* The answer is authenticated with the same key. */
	stun_long_term_key("node-a", 6, RELAY_REALM, strlen(RELAY_REALM), PASS, key);
	assert_true(stun_check_integrity(e->ans_buf, e->tx.head_len, &e->ans, key, 16));
	assert_int_equal(e->s.stats.allocations, 1);
	assert_int_equal(e->f.opened, 1);
}

static void wrong_password_refused(void **state)
{
	struct env *e = *state;
	assert_int_equal(allocate_as(e, &e->client, "node-a", "guess"), STUN_ERR_UNAUTHENTICATED);
	assert_non_null(e->ans.nonce); /* a new challenge */
	assert_int_equal(e->s.stats.auth_failures, 1);
	assert_int_equal(e->s.table.used, 0);
	assert_int_equal(e->f.opened, 0);
}

static void nonce_stale_and_foreign(void **state)
{
	struct env *e = *state;
	struct stun_builder b;
	uint8_t buf[1024];
	struct ip_endpoint other = ep("198.51.100.2:40000");

	get_nonce(e, &e->client);
	/* Another address presenting this client's nonce: 438 and a fresh one. */
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_transport(&b, TURN_TRANSPORT_UDP);
	assert_int_equal(answer_to(e, &other, buf, seal(e, &b, "node-b", PASS)), STUN_ERR_STALE_NONCE);
	/* Ten minutes later: stale. */
	e->now += RELAY_NONCE_LIFETIME_S * 1000;
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_transport(&b, TURN_TRANSPORT_UDP);
	assert_int_equal(answer_to(e, &e->client, buf, seal(e, &b, "node-a", PASS)), STUN_ERR_STALE_NONCE);
	assert_non_null(e->ans.nonce);
	assert_int_equal(e->s.stats.stale_nonces, 1);
	/* The new nonce works. */
	memcpy(e->nonce, e->ans.nonce, e->ans.nonce_len);
	e->nonce[e->ans.nonce_len] = '\0';
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_transport(&b, TURN_TRANSPORT_UDP);
	assert_int_equal(answer_to(e, &e->client, buf, seal(e, &b, "node-a", PASS)), 0);
}

static void allocate_errors(void **state)
{
	struct env *e = *state;
	struct stun_builder b;
	uint8_t buf[1024];
	uint16_t odd = 0x0fff; /* comprehension-required, unknown */

	get_nonce(e, &e->client);
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	assert_int_equal(answer_to(e, &e->client, buf, seal(e, &b, "u", PASS)), STUN_ERR_BAD_REQUEST);
	assert_true(e->ans.has_integrity); /* authenticated errors carry MESSAGE-INTEGRITY */
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_transport(&b, 6);
	assert_int_equal(answer_to(e, &e->client, buf, seal(e, &b, "u", PASS)), TURN_ERR_UNSUPPORTED_TRANSPORT);
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_transport(&b, TURN_TRANSPORT_UDP);
	stun_build_attr(&b, odd, "x", 1);
	assert_int_equal(answer_to(e, &e->client, buf, seal(e, &b, "u", PASS)), STUN_ERR_UNKNOWN_ATTRIBUTE);
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_transport(&b, TURN_TRANSPORT_UDP);
	stun_build_family(&b, TURN_ATTR_REQUESTED_ADDRESS_FAMILY, AF_INET6);
	assert_int_equal(answer_to(e, &e->client, buf, seal(e, &b, "u", PASS)), TURN_ERR_ADDRESS_FAMILY);
	assert_int_equal(e->s.table.used, 0);
	/* No relayed socket to be had: 508, nothing kept. */
	e->f.fail = true;
	assert_int_equal(allocate_as(e, &e->client, "u", PASS), TURN_ERR_INSUFFICIENT_CAPACITY);
	assert_int_equal(e->s.table.used, 0);
	assert_null(e->s.fair.clients[0].used ? &e->s.fair.clients[0] : NULL);
}

static void quota_then_capacity(void **state)
{
	struct env *e = *state;
	char addr[64];

	/* Two per client IP (allocs_per_client), whatever the port. */
	for (int port = 1; port <= 2; port++) {
		struct ip_endpoint c = ep("198.51.100.1:1");
		c.port = (uint16_t)port;
		assert_int_equal(allocate_as(e, &c, "a", PASS), 0);
	}
	struct ip_endpoint third = ep("198.51.100.1:3");
	assert_int_equal(allocate_as(e, &third, "a", PASS), TURN_ERR_QUOTA_REACHED);
	assert_int_equal(e->s.stats.refused_quota, 1);
	/* Other IPs fill the rest of max_sessions (8); the ninth allocation: 508. */
	for (int i = 2; i <= 4; i++)
		for (int port = 1; port <= 2; port++) {
			snprintf(addr, sizeof(addr), "198.51.100.%d:%d", i, port);
			struct ip_endpoint c = ep(addr);
			assert_int_equal(allocate_as(e, &c, "b", PASS), 0);
		}
	struct ip_endpoint late = ep("198.51.100.9:1");
	assert_int_equal(allocate_as(e, &late, "c", PASS), TURN_ERR_INSUFFICIENT_CAPACITY);
	assert_int_equal(e->s.stats.refused_capacity, 1);
	assert_int_equal(e->s.table.used, 8);
}

static void mismatch_and_wrong_user(void **state)
{
	struct env *e = *state;

	assert_int_equal(request(e, TURN_METHOD_REFRESH, NULL, 0, 600, "a") == 0, false); /* no nonce yet */
	get_nonce(e, &e->client);
	assert_int_equal(request(e, TURN_METHOD_REFRESH, NULL, 0, 600, "a"), TURN_ERR_ALLOCATION_MISMATCH);
	assert_int_equal(request(e, TURN_METHOD_CREATE_PERMISSION, &e->peer, 0, -1, "a"),
			 TURN_ERR_ALLOCATION_MISMATCH);
	assert_int_equal(allocate_as(e, &e->client, "a", PASS), 0);
	/* A second Allocate (another transaction) on the same 5-tuple. */
	assert_int_equal(allocate_as(e, &e->client, "a", PASS), TURN_ERR_ALLOCATION_MISMATCH);
	/* Another user on this allocation. */
	assert_int_equal(request(e, TURN_METHOD_REFRESH, NULL, 0, 600, "b"), TURN_ERR_WRONG_CREDENTIALS);
}

static void allocate_retransmission_same_answer(void **state)
{
	struct env *e = *state;
	struct stun_builder b;
	uint8_t buf[1024];
	size_t len;

	get_nonce(e, &e->client);
	begin(e, &b, buf, TURN_METHOD_ALLOCATE, STUN_CLASS_REQUEST);
	stun_build_transport(&b, TURN_TRANSPORT_UDP);
	len = seal(e, &b, "a", PASS);
	assert_int_equal(answer_to(e, &e->client, buf, len), 0);
	uint16_t port = e->ans.relayed.port;
	assert_int_equal(answer_to(e, &e->client, buf, len), 0);
	assert_int_equal(e->ans.relayed.port, port);
	assert_int_equal(e->f.opened, 1);
}

static void lifetimes_refresh_and_delete(void **state)
{
	struct env *e = *state;

	assert_int_equal(allocate_as(e, &e->client, "a", PASS), 0);
	assert_int_equal(request(e, TURN_METHOD_REFRESH, NULL, 0, 100000, "a"), 0);
	assert_int_equal(e->ans.lifetime_s, RELAY_MAX_LIFETIME_S); /* capped */
	e->now += (RELAY_MAX_LIFETIME_S - 1) * 1000ull;
	relay_server_expire(&e->s, e->now);
	assert_int_equal(e->s.table.used, 1);
	get_nonce(e, &e->client);
	assert_int_equal(request(e, TURN_METHOD_REFRESH, NULL, 0, 0, "a"), 0); /* LIFETIME 0: deleted */
	assert_int_equal(e->ans.lifetime_s, 0);
	assert_int_equal(e->s.table.used, 0);
	assert_int_equal(e->f.closed, 1);
	/* Expiry closes the socket too. */
	assert_int_equal(allocate_as(e, &e->client, "a", PASS), 0);
	e->now += TURN_DEFAULT_LIFETIME_S * 1000ull;
	relay_server_expire(&e->s, e->now);
	assert_int_equal(e->s.table.used, 0);
	assert_int_equal(e->f.closed, 2);
}

/* A Send indication from the client to peer with data. */
static bool send_indication(struct env *e, const struct ip_endpoint *from, const char *data)
{
	struct stun_builder b;
	uint8_t buf[1024];
	begin(e, &b, buf, TURN_METHOD_SEND, STUN_CLASS_INDICATION);
	stun_build_xor_address(&b, TURN_ATTR_XOR_PEER_ADDRESS, &e->peer);
	stun_build_attr(&b, TURN_ATTR_DATA, data, strlen(data));
	memset(&e->tx, 0, sizeof(e->tx));
	bool out = relay_server_from_client(&e->s, from, buf, stun_build_finish(&b), e->now, e->scratch, &e->tx);
	/* The body points into buf, which goes away with this frame: compare it here. */
	if (out)
		assert_memory_equal(e->tx.body, data, strlen(data));
	return out;
}

static void data_only_with_permission(void **state)
{
	struct env *e = *state;
	const uint8_t hello[] = "hello";

	assert_int_equal(allocate_as(e, &e->client, "a", PASS), 0);
	struct relay_alloc *a = relay_alloc_find(&e->s.table, &e->client);
	/* No permission: nothing leaves, either way. */
	assert_false(send_indication(e, &e->client, "x"));
	assert_false(relay_server_from_peer(&e->s, a, &e->peer, hello, 5, e->now, e->scratch, &e->tx));
	assert_int_equal(e->s.stats.dropped_no_permission, 2);
	assert_int_equal(request(e, TURN_METHOD_CREATE_PERMISSION, &e->peer, 0, -1, "a"), 0);
	assert_true(send_indication(e, &e->client, "ping"));
	assert_int_equal(e->tx.fd, a->fd);
	assert_int_equal(e->tx.head_len, 0);
	assert_int_equal(e->tx.to.port, e->peer.port);
	/* From the peer: a Data indication to the client, with the peer's address. */
	assert_true(relay_server_from_peer(&e->s, a, &e->peer, hello, 5, e->now, e->scratch, &e->tx));
	assert_int_equal(e->tx.fd, LISTEN_FD);
	assert_int_equal(e->tx.to.port, e->client.port);
	assert_int_equal(stun_parse(e->tx.head, e->tx.head_len, &e->ans), 0);
	assert_int_equal(e->ans.type, stun_type(TURN_METHOD_DATA, STUN_CLASS_INDICATION));
	assert_int_equal(e->ans.n_peers, 1);
	assert_int_equal(e->ans.peers[0].port, e->peer.port);
	assert_int_equal(e->ans.data_len, 5);
	assert_memory_equal(e->ans.data, hello, 5);
	/* Another client's Send indication (no allocation of its own) goes nowhere. */
	struct ip_endpoint stranger = ep("198.51.100.77:40000");
	assert_false(send_indication(e, &stranger, "x"));
	/* Permissions last 300 s unless refreshed. */
	e->now += TURN_PERMISSION_LIFETIME_S * 1000ull;
	assert_false(send_indication(e, &e->client, "late"));
	/* Forbidden and mismatched peers. */
	struct ip_endpoint mcast = ep("224.0.0.1:9"), v6 = ep("[2001:db8::9]:9");
	struct ip_endpoint loopback = ep("127.0.0.1:22"), zero = ep("0.1.2.3:9"), self = ep("192.0.2.10:3478");
	get_nonce(e, &e->client);
	assert_int_equal(request(e, TURN_METHOD_CREATE_PERMISSION, &mcast, 0, -1, "a"), STUN_ERR_FORBIDDEN);
	/* Never a way into the relay's own host: its loopback, its own listening port. */
	assert_int_equal(request(e, TURN_METHOD_CREATE_PERMISSION, &loopback, 0, -1, "a"), STUN_ERR_FORBIDDEN);
	assert_int_equal(request(e, TURN_METHOD_CHANNEL_BIND, &loopback, 0x4002, -1, "a"), STUN_ERR_FORBIDDEN);
	assert_int_equal(request(e, TURN_METHOD_CREATE_PERMISSION, &zero, 0, -1, "a"), STUN_ERR_FORBIDDEN);
	assert_int_equal(request(e, TURN_METHOD_CREATE_PERMISSION, &self, 0, -1, "a"), STUN_ERR_FORBIDDEN);
	assert_int_equal(request(e, TURN_METHOD_CREATE_PERMISSION, &v6, 0, -1, "a"), 443);
	assert_int_equal(request(e, TURN_METHOD_CREATE_PERMISSION, NULL, 0, -1, "a"), STUN_ERR_BAD_REQUEST);
}

static void channels_both_ways(void **state)
{
	struct env *e = *state;
	uint8_t cd[4 + 5], payload[] = "abcde";

	assert_int_equal(allocate_as(e, &e->client, "a", PASS), 0);
	struct relay_alloc *a = relay_alloc_find(&e->s.table, &e->client);
	/* ChannelData on a channel not bound: dropped. */
	turn_channel_data_header(cd, 0x4001, 5);
	memcpy(cd + 4, payload, 5);
	assert_false(relay_server_from_client(&e->s, &e->client, cd, sizeof(cd), e->now, e->scratch, &e->tx));
	assert_int_equal(request(e, TURN_METHOD_CHANNEL_BIND, &e->peer, 0x3fff, -1, "a"), STUN_ERR_BAD_REQUEST);
	assert_int_equal(request(e, TURN_METHOD_CHANNEL_BIND, &e->peer, 0x4001, -1, "a"), 0);
	/* RFC 5766's range as well (coturn's clients use it). */
	struct ip_endpoint p2 = ep("203.0.113.9:51821");
	assert_int_equal(request(e, TURN_METHOD_CHANNEL_BIND, &p2, 0x6b62, -1, "a"), 0);
	assert_int_equal(request(e, TURN_METHOD_CHANNEL_BIND, &p2, 0x4001, -1, "a"), STUN_ERR_BAD_REQUEST);
	/* Client to peer: the data, not copied. */
	assert_true(relay_server_from_client(&e->s, &e->client, cd, sizeof(cd), e->now, e->scratch, &e->tx));
	assert_int_equal(e->tx.fd, a->fd);
	assert_ptr_equal(e->tx.body, cd + 4);
	assert_int_equal(e->tx.body_len, 5);
	assert_int_equal(e->tx.to.port, e->peer.port);
	/* Peer to client: a ChannelData header before the datagram as it came. */
	assert_true(relay_server_from_peer(&e->s, a, &e->peer, payload, 5, e->now, e->scratch, &e->tx));
	assert_int_equal(e->tx.head_len, 4);
	assert_memory_equal(e->tx.head, cd, 4);
	assert_ptr_equal(e->tx.body, payload);
	/* The peer's other port has no channel of its own... it has 0x6b62. A third port: Data indication. */
	struct ip_endpoint p3 = ep("203.0.113.9:7");
	assert_true(relay_server_from_peer(&e->s, a, &p3, payload, 5, e->now, e->scratch, &e->tx));
	assert_int_equal(e->tx.body_len, 0);
	/* The binding installs the permission; after 600 s the channel is gone. */
	e->now += TURN_CHANNEL_LIFETIME_S * 1000ull;
	assert_false(relay_server_from_client(&e->s, &e->client, cd, sizeof(cd), e->now, e->scratch, &e->tx));
}

/* Both ends on this relay: a's channel names b's relayed address, handed over without the kernel. */
static void relay_to_relay_in_process(void **state)
{
	struct env *e = *state;
	struct ip_endpoint b_client = ep("198.51.100.2:40000"), ext_a, ext_b;
	uint8_t cd[4 + 5], payload[] = "abcde";

	assert_int_equal(allocate_as(e, &b_client, "b", PASS), 0);
	ext_b = e->ans.relayed;
	assert_int_equal(allocate_as(e, &e->client, "a", PASS), 0);
	ext_a = e->ans.relayed;
	assert_int_equal(request(e, TURN_METHOD_CHANNEL_BIND, &ext_b, 0x4000, -1, "a"), 0);
	turn_channel_data_header(cd, 0x4000, 5);
	memcpy(cd + 4, payload, 5);
	/* b has no permission for a's relayed address yet: nothing reaches b. */
	assert_false(relay_server_from_client(&e->s, &e->client, cd, sizeof(cd), e->now, e->scratch, &e->tx));
	assert_int_equal(e->s.stats.dropped_no_permission, 1);
	/* b binds a channel to a's relayed address: a's ChannelData reaches b's client as b's ChannelData. */
	struct ip_endpoint saved = e->client;
	e->client = b_client;
	get_nonce(e, &b_client);
	assert_int_equal(request(e, TURN_METHOD_CHANNEL_BIND, &ext_a, 0x4123, -1, "b"), 0);
	e->client = saved;
	assert_true(relay_server_from_client(&e->s, &e->client, cd, sizeof(cd), e->now, e->scratch, &e->tx));
	assert_int_equal(e->tx.fd, LISTEN_FD);
	assert_int_equal(e->tx.to.port, b_client.port);
	assert_true(ip_addr_equal(&e->tx.to.addr, &b_client.addr));
	assert_int_equal(e->tx.head_len, 4);
	assert_int_equal(e->tx.head[0] << 8 | e->tx.head[1], 0x4123);
	assert_ptr_equal(e->tx.body, cd + 4);
	assert_int_equal(e->tx.body_len, 5);
}

/* A relay with an IPv6 external address: IPv6 relayed addresses, IPv4 peers refused (443). */
static void ipv6_relay(void **state)
{
	struct env *e = *state;
	struct relay_config c = { .listen_port = 3478, .max_sessions = 2, .allocs_per_client = 1, .password = PASS };
	struct relay_sock_ops ops = { .open = fake_open, .close = fake_close, .ctx = &e->f };
	struct ip_endpoint v6_peer = ep("[2001:db8::9]:51820");

	relay_server_free(&e->s);
	assert_int_equal(ip_addr_parse("2001:db8::10", &c.external), 0);
	assert_int_equal(relay_server_init(&e->s, &c, &ops, LISTEN_FD), 0);
	e->client = ep("[2001:db8:1::1]:40000");
	assert_int_equal(allocate_as(e, &e->client, "a", PASS), 0);
	assert_int_equal(e->ans.relayed.addr.family, AF_INET6);
	assert_true(ip_addr_equal(&e->ans.relayed.addr, &c.external));
	assert_int_equal(e->ans.mapped.addr.family, AF_INET6);
	assert_int_equal(request(e, TURN_METHOD_CREATE_PERMISSION, &e->peer, 0, -1, "a"), 443);
	assert_int_equal(request(e, TURN_METHOD_CREATE_PERMISSION, &v6_peer, 0, -1, "a"), 0);
}

static void garbage_is_ignored(void **state)
{
	struct env *e = *state;
	uint8_t junk[64];
	memset(junk, 0xab, sizeof(junk));
	assert_false(relay_server_from_client(&e->s, &e->client, junk, sizeof(junk), e->now, e->scratch, &e->tx));
	assert_false(relay_server_from_client(&e->s, &e->client, junk, 0, e->now, e->scratch, &e->tx));
	/* A Binding request is answered, unauthenticated: the relay is a STUN server too. */
	struct stun_builder b;
	uint8_t buf[64];
	begin(e, &b, buf, STUN_METHOD_BINDING, STUN_CLASS_REQUEST);
	assert_int_equal(answer_to(e, &e->client, buf, stun_build_finish(&b)), 0);
	assert_true(e->ans.has_mapped);
	assert_int_equal(e->ans.mapped.port, e->client.port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(allocate_long_term_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_password_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(nonce_stale_and_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(allocate_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(dont_fragment_reaches_the_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(quota_then_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(mismatch_and_wrong_user, setup, teardown),
		cmocka_unit_test_setup_teardown(allocate_retransmission_same_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(lifetimes_refresh_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(data_only_with_permission, setup, teardown),
		cmocka_unit_test_setup_teardown(channels_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(relay_to_relay_in_process, setup, teardown),
		cmocka_unit_test_setup_teardown(ipv6_relay, setup, teardown),
		cmocka_unit_test_setup_teardown(garbage_is_ignored, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
