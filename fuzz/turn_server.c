// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: the built-in TURN relay's handling of one datagram
 * (relay/server.h) against a server with one allocation (a permission and
 * a channel to peer P), on fake sockets. Byte 0 of the input chooses:
 *   bits 0-1  0: the datagram comes from the allocation's client
 *             1: from another client (no allocation)
 *             2: from the client (bit 3: the other client), the rest being
 *                a message type and raw attributes that the harness seals
 *                with valid USERNAME, REALM, NONCE and MESSAGE-INTEGRITY
 *                (so the authenticated request handlers are reached), then
 *                FINGERPRINT
 *             3: from a peer to the relayed socket (bit 2: P or another)
 *   bits 4-5  the clock first moves 0, 301, 601 or 3601 s (expiries)
 * It traps when the server would relay to a peer without a permission, or
 * answer outside its buffers; the sanitizers catch the rest.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nat/stun_build.h"
#include "relay/server.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PASS "fuzz-credential"
#define USER "node-a"
#define LISTEN_FD 3
#define RELAYED_FD 10

static int next_fd;

static int fake_open(void *ctx, struct relay_alloc *a, int family, bool even, bool dont_fragment)
{
	(void)ctx, (void)family;
	a->fd = next_fd++;
	a->relayed_port = even ? 50000 : 50001;
	return 0;
}

static void fake_close(void *ctx, struct relay_alloc *a)
{
	(void)ctx, (void)a;
}

static struct ip_endpoint ep(const char *s)
{
	struct ip_endpoint e;
	if (ip_endpoint_parse(s, &e) != 0)
		__builtin_trap();
	return e;
}

/* The allocation, its permission and its channel, made as the request handlers make them. */
static struct relay_alloc *seed_allocation(struct relay_server *s, const struct ip_endpoint *client,
					   const struct ip_endpoint *peer, uint64_t now)
{
	struct relay_alloc *a = relay_alloc_insert(&s->table, client);
	if (!a)
		__builtin_trap();
	a->owner = relay_fair_acquire(&s->fair, &client->addr);
	fake_open(NULL, a, AF_INET, false, false);
	relay_alloc_set_port(&s->table, a);
	memcpy(a->username, USER, strlen(USER));
	a->username_len = strlen(USER);
	stun_long_term_key(USER, strlen(USER), RELAY_REALM, strlen(RELAY_REALM), PASS, a->key);
	a->expires_ms = now + TURN_DEFAULT_LIFETIME_S * 1000ull;
	relay_perm_add(a, &peer->addr, now);
	relay_chan_bind(a, 0x4000, peer, now);
	return a;
}

/* type (2 bytes) and raw attributes from in, then the credentials a real client would add. */
static size_t seal(struct relay_server *s, const struct ip_endpoint *client, const uint8_t *in, size_t n,
		   uint64_t now, uint8_t *out, size_t cap)
{
	static const uint8_t txid[STUN_TXID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	char nonce[RELAY_NONCE_LEN];
	struct stun_builder b;
	uint8_t key[16];

	if (n < 2)
		return 0;
	stun_build_start(&b, out, cap, (uint16_t)((in[0] << 8 | in[1]) & 0x3fff), txid);
	n -= 2;
	if (n > cap - 200)
		n = cap - 200;
	memcpy(out + b.len, in + 2, n); /* raw: the parser must cope with whatever they are */
	b.len += (n + 3) & ~(size_t)3;
	memset(out + STUN_HEADER_LEN + n, 0, b.len - STUN_HEADER_LEN - n);
	relay_nonce_make(&s->nonce_key, client, now / 1000, nonce);
	stun_build_attr(&b, STUN_ATTR_USERNAME, USER, strlen(USER));
	stun_build_attr(&b, STUN_ATTR_REALM, RELAY_REALM, strlen(RELAY_REALM));
	stun_build_attr(&b, STUN_ATTR_NONCE, nonce, sizeof(nonce));
	stun_long_term_key(USER, strlen(USER), RELAY_REALM, strlen(RELAY_REALM), PASS, key);
	stun_build_integrity(&b, key, sizeof(key));
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

static bool inside(const uint8_t *p, size_t len, const uint8_t *buf, size_t cap)
{
	return p >= buf && len <= cap && (size_t)(p - buf) <= cap - len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t scratch[RELAY_TX_SCRATCH], sealed[RELAY_MAX_DATAGRAM];
	static const uint64_t steps_s[4] = { 0, 301, 601, 3601 };
	struct relay_sock_ops ops = { .open = fake_open, .close = fake_close };
	struct relay_config c = { .listen_port = 3478, .max_sessions = 4, .allocs_per_client = 2, .password = PASS };
	struct ip_endpoint client = ep("198.51.100.1:40000"), other = ep("198.51.100.2:40000");
	struct ip_endpoint peer = ep("203.0.113.9:51820"), stranger = ep("203.0.113.10:51820");
	struct relay_server s;
	struct relay_tx tx = { 0 };
	uint64_t now = 1000000;
	const uint8_t *msg;
	size_t len;
	bool out;

	if (size < 1 || ip_addr_parse("192.0.2.10", &c.external) != 0)
		return 0;
	/*
	 * Refusals are still formatted (that code is fuzzed too) but not
	 * written: a fresh server per input is never rate-limited.
	 */
	log_set_level(LOG_LVL_ERROR);
	next_fd = RELAYED_FD;
	if (relay_server_init(&s, &c, &ops, LISTEN_FD) != 0)
		__builtin_trap();
	memset(s.nonce_key.secret, 0x5a, sizeof(s.nonce_key.secret));
	struct relay_alloc *a = seed_allocation(&s, &client, &peer, now);

	now += steps_s[(data[0] >> 4) & 3] * 1000;
	relay_server_expire(&s, now);
	msg = data + 1;
	len = size - 1;
	switch (data[0] & 3) {
	case 0:
	case 1:
		out = relay_server_from_client(&s, data[0] & 1 ? &other : &client, msg, len, now, scratch, &tx);
		break;
	case 2: {
		const struct ip_endpoint *from = data[0] & 8 ? &other : &client;
		len = seal(&s, from, msg, len, now, sealed, sizeof(sealed));
		msg = sealed;
		out = len && relay_server_from_client(&s, from, msg, len, now, scratch, &tx);
		break;
	}
	default:
		if (!a->used || len > RELAY_MAX_DATAGRAM)
			goto done;
		out = relay_server_from_peer(&s, a, data[0] & 4 ? &stranger : &peer, msg, len, now, scratch, &tx);
		break;
	}
	if (out) {
		if (tx.head_len && !inside(tx.head, tx.head_len, scratch, sizeof(scratch)))
			__builtin_trap();
		if (tx.body_len && !inside(tx.body, tx.body_len, msg, len))
			__builtin_trap();
		/* Never an open relay: what leaves a relayed socket goes to a permitted peer of a live allocation. */
		if (tx.fd != LISTEN_FD) {
			struct relay_alloc *owner = NULL;
			for (size_t i = 0; i < s.table.cap; i++)
				if (s.table.slots[i].used && s.table.slots[i].fd == tx.fd)
					owner = &s.table.slots[i];
			if (!owner || !relay_perm_check(owner, &tx.to.addr, now))
				__builtin_trap();
		}
	}
	if (s.table.used > c.max_sessions)
		__builtin_trap();
done:
	relay_server_free(&s);
	return 0;
}
