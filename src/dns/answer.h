/* SPDX-License-Identifier: MIT */
/*
 * The authoritative logic: one query in, one answer out (or "forward it").
 * No I/O, so the unit tests and the fuzzer drive it directly.
 */
#ifndef OVL_DNS_ANSWER_H
#define OVL_DNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/store.h"
#include "dns/wire.h"

struct dns_answer_cfg {
	uint32_t ttl;
	uint32_t negative_ttl;
	bool forward; /* outside names: forward (true) or REFUSED */
};

enum dns_verdict {
	DNS_VERDICT_REPLY,	/* send out[0..*out_len) */
	DNS_VERDICT_FORWARD,	/* *q is the parsed query to forward */
	DNS_VERDICT_DROP,	/* say nothing */
};

/* Enough for any answer we build; the builder stops at the client's limit. */
#define DNS_ANSWER_BUF 1024

/*
 * Answer msg. tcp lifts the UDP size limit. out holds DNS_ANSWER_BUF bytes.
 */
enum dns_verdict dns_answer(struct dns_store *st, const struct dns_answer_cfg *cfg, const uint8_t *msg,
			    size_t len, bool tcp, struct dns_query *q, uint8_t *out, size_t *out_len);

#endif
