// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: what a STUN datagram from the network reaches - the
 * port's demultiplexer, the STUN parser, the MESSAGE-INTEGRITY check and the
 * client's matching of answers to transactions (a configured server with a
 * transaction whose id the input may or may not carry), and the same bytes
 * as a peer's: a check answered (the answer must parse), an answer matched.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nat/stun.h"
#include "nat/stun_client.h"
#include "nat/stun_peer.h"
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
	return 0;
}
