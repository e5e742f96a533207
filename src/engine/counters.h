/* SPDX-License-Identifier: MIT */
/*
 * The engine's own metrics (metrics.c): control requests by op and result,
 * attach and detach latency and failures, state saves. Counted where the
 * request runs, read by a scrape on another thread (relaxed atomics).
 */
#ifndef OVL_ENGINE_COUNTERS_H
#define OVL_ENGINE_COUNTERS_H

#include "metrics/metrics.h"
#include "proto/request.h"

/* Why an attach or detach failed, from its error (engine_fail_reason_name). */
enum engine_fail_reason {
	ENGINE_FAIL_INVALID,	      /* a malformed or contradictory request */
	ENGINE_FAIL_NO_GLOBAL,	      /* the global overlay is not set up */
	ENGINE_FAIL_NO_SERVICE,	      /* the service overlay is not set up */
	ENGINE_FAIL_ALREADY_ATTACHED, /* the handle is attached elsewhere */
	ENGINE_FAIL_NO_PROCESS,	      /* the pid is gone */
	ENGINE_FAIL_POOL_EXHAUSTED,   /* no free address */
	ENGINE_FAIL_OTHER,	      /* the host refused (netlink, nftables, memory) */
	ENGINE_FAIL_COUNT_
};

struct engine_counters {
	mx_counter requests[OVL_OP_COUNT_][2]; /* [op][0: ok, 1: err] */
	struct mx_histogram attach_seconds, detach_seconds;
	mx_counter attach_failures[ENGINE_FAIL_COUNT_], detach_failures[ENGINE_FAIL_COUNT_];
	mx_counter saves[2]; /* [0: ok, 1: failed] */
	struct mx_histogram save_seconds;
};

/* Counts one executed request (resp is its final answer); start_ns from mx_now_ns(). */
void engine_count_request(struct engine_counters *c, const struct ovl_request *q, const struct ovl_response *resp,
			  uint64_t start_ns);
void engine_count_save(struct engine_counters *c, int result, uint64_t start_ns);
/* The reason an attach or detach error message names. */
enum engine_fail_reason engine_fail_reason_of(const char *message);
const char *engine_fail_reason_name(enum engine_fail_reason r);

#endif
