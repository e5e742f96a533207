// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: what a STUN datagram from the network reaches - the
 * port's demultiplexer, the STUN parser, the MESSAGE-INTEGRITY check, the
 * Binding client's matching of answers to transactions (a configured server
 * with a transaction whose id the input may or may not carry), the same
 * bytes as a peer's (a check answered - the answer must parse -, an answer
 * matched), and the TURN client's answer handling in each of its states: an
 * Allocate without credentials, one with them (after a scripted 401), and an
 * allocation with a peer's CreatePermission and ChannelBind in flight (Data
 * indications too).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nat/stun.h"
#include "nat/stun_build.h"
#include "nat/stun_client.h"
#include "nat/stun_peer.h"
#include "nat/turn_client.h"
#include "wg/socket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fixed_id(uint8_t *buf, size_t len)
{
	/* The RFC 5769 responses' transaction id, so the seed corpus matches it. */
	static const uint8_t id[STUN_TXID_LEN] = { 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae };
	memcpy(buf, id, len < sizeof(id) ? len : sizeof(id));
}

static long any_peer(void *ctx, const char *name, size_t len)
{
	(void)ctx;
	return len ? (long)(name[0] & 1) : -1;
}

static long txid_peer(void *ctx, const uint8_t txid[STUN_TXID_LEN])
{
	(void)ctx;
	return txid[0] & 1 ? 0 : -1;
}

/* The server's scripted answer to the request just sent (out), of class cls. */
static void scripted(struct turn_client *c, const struct turn_send *out, uint16_t cls, uint16_t error,
		     const uint8_t *key)
{
	struct stun_msg req;
	struct stun_builder b;
	uint8_t buf[512];
	struct ip_endpoint relayed, peer;
	const uint8_t *d;
	size_t dl;

	if (stun_parse(out->buf, out->len, &req) != 0 || ip_endpoint_parse("192.0.2.1:49152", &relayed) != 0)
		__builtin_trap();
	stun_build_start(&b, buf, sizeof(buf), stun_type(stun_type_method(req.type), cls), req.txid);
	if (error) {
		stun_build_error(&b, error, "Unauthorized");
		stun_build_attr(&b, STUN_ATTR_REALM, "example.org", 11);
		stun_build_attr(&b, STUN_ATTR_NONCE, "f//499k954d6OL34oL9FSTvy64sA", 28);
	} else {
		stun_build_xor_address(&b, TURN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
	}
	if (key)
		stun_build_integrity(&b, key, 16);
	if (turn_client_on_message(c, buf, stun_build_finish(&b), 0, &peer, &d, &dl) != TURN_RX_ANSWER)
		__builtin_trap();
}

/* The input as the TURN server's message to c; the client's invariants after it. */
static void turn_answer(struct turn_client *c, const uint8_t *data, size_t size)
{
	struct ip_endpoint peer;
	const uint8_t *d = NULL;
	size_t dl = 0;
	enum turn_rx rx = turn_client_on_message(c, data, size, 1, &peer, &d, &dl);
	if (rx == TURN_RX_DATA && (!d || d < data || d + dl > data + size))
		__builtin_trap(); /* a Data indication's contents lie within the datagram */
	if (c->state == TURN_STATE_ALLOCATED && !c->relayed.addr.family)
		__builtin_trap(); /* no allocation without a relayed address */
	if (memchr(c->error, '\0', sizeof(c->error)) == NULL)
		__builtin_trap();
	struct turn_send out[4];
	(void)turn_client_tick(c, 2, out, 4);
}

static void fuzz_turn_client(const uint8_t *data, size_t size)
{
	/* The RFC 5769 2.4 user (its password SASLprep'ed) and realm. */
	static const char user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
	struct turn_client c;
	struct turn_send out[4];
	struct ip_endpoint server, peer;

	if (ip_endpoint_parse("192.0.2.1:3478", &server) != 0 || ip_endpoint_parse("198.51.100.1:51820", &peer) != 0 ||
	    turn_client_init(&c, &server, user, "TheMatrIX", fixed_id) != 0)
		__builtin_trap();
	/* 1: Allocate without credentials. */
	turn_client_start(&c, 0);
	if (turn_client_tick(&c, 0, out, 4) != 1)
		__builtin_trap();
	struct turn_client fresh = c;
	turn_answer(&fresh, data, size);

	/* 2: Allocate with credentials, after the server's 401. */
	scripted(&c, &out[0], STUN_CLASS_ERROR, STUN_ERR_UNAUTHENTICATED, NULL);
	if (!c.has_key || turn_client_tick(&c, 0, out, 4) != 1)
		__builtin_trap();
	struct turn_client authed = c;
	turn_answer(&authed, data, size);

	/* 3: Allocated, a peer's permission and channel in flight. */
	scripted(&c, &out[0], STUN_CLASS_SUCCESS, 0, c.key);
	if (c.state != TURN_STATE_ALLOCATED || turn_client_bind(&c, &peer, 0) != TURN_CHANNEL_MIN ||
	    turn_client_tick(&c, 0, out, 4) != 2)
		__builtin_trap();
	turn_answer(&c, data, size);
	explicit_bzero(&c, sizeof(c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct stun_peer_lookup lk = { any_peer, txid_peer, NULL };
	struct stun_peer_counters pc = { 0 };
	struct stun_peer_rx rx;
	static const uint8_t key[] = "VOkJxbRl1RmTxUk/WvJxBt";
	struct stun_client c = { 0 };
	struct stun_send out[2];
	struct ip_endpoint server;
	struct stun_msg m;

	(void)wg_datagram_classify(data, size);
	if (stun_parse(data, size, &m) == 0 && m.has_integrity)
		(void)stun_check_integrity(data, size, &m, key, sizeof(key) - 1);

	if (ip_endpoint_parse("192.0.2.1:3478", &server) != 0)
		__builtin_trap();
	stun_client_add_server(&c, &server);
	stun_client_refresh(&c, 0, fixed_id);
	if (stun_client_tick(&c, 0, out, 2) != 1)
		__builtin_trap();
	if (stun_client_on_datagram(&c, data, size, &server, 1) && !c.servers[0].has_mapped)
		__builtin_trap(); /* an accepted answer always leaves a mapping */
	if (stun_peer_on_datagram(data, size, &server, &lk, &pc, &rx) == STUN_PEER_CHECK &&
	    stun_parse(rx.reply, rx.reply_len, &m) != 0)
		__builtin_trap(); /* what we answer is well-formed */
	fuzz_turn_client(data, size);
	return 0;
}
