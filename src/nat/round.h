/* SPDX-License-Identifier: MIT */
/*
 * What came of one round of probes to a peer (nat/punch.h), for the log
 * line that says why a failed round failed: which addresses were probed,
 * and whether anything came back (the peer's checks, answers to ours,
 * WireGuard bytes that never completed a handshake). Pure.
 */
#ifndef OVL_NAT_ROUND_H
#define OVL_NAT_ROUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"

struct nat_round {
	uint64_t start_ms; /* the policy's round_start_ms of the round described */
	unsigned probes;
	uint64_t rx_bytes;	  /* the peer's received bytes when the round began */
	unsigned checks, answers; /* the peer's STUN checks that reached us; its answers to ours */
	bool heard;
	struct ip_endpoint heard_from; /* the last source of either */
};

/*
 * Before a probe of the round that began at start_ms: a new account when r
 * describes another round. rx_bytes: the peer's received-bytes counter now.
 */
void nat_round_probe(struct nat_round *r, uint64_t start_ms, uint64_t rx_bytes);
/* A check of the peer's (answer false) or an answer to ours (true) came from `from`. */
void nat_round_heard(struct nat_round *r, const struct ip_endpoint *from, bool answer);
/*
 * "20 probes each to A, B; nothing came back" or "...; came back: ..." into
 * buf (truncated to len). targets: the round's addresses; rx_bytes: the
 * peer's counter now.
 */
void nat_round_describe(const struct nat_round *r, const struct ip_endpoint *targets, size_t n, uint64_t rx_bytes,
			char *buf, size_t len);

#endif
