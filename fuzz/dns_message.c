// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the DNS message code: every input is tried as a
 * query (answered over UDP and TCP, with and without forwarding) and as an
 * upstream response to a fixed forwarded query. Checks the answers we build
 * stay within the client's limit and read back as well-formed responses.
 *
 *   build-fuzz/fuzz/fuzz_dns_message fuzz/corpus-dns_message/ -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/answer.h"
#include "dns/store.h"
#include "dns/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dns_store *store(void)
{
	static struct dns_store *st;
	if (!st) {
		struct ip_addr a4, a6;
		st = dns_store_new("zlayer.local", 1);
		if (!st || ip_addr_parse("10.200.0.5", &a4) < 0 || ip_addr_parse("fd00::5", &a6) < 0)
			abort();
		if (dns_store_set(st, "web", &a4) < 0 || dns_store_set(st, "db.backend", &a6) < 0 ||
		    dns_store_set(st, "svc1.bench.local.", &a4) < 0)
			abort();
	}
	return st;
}

/* Our answers must read back: header, question, every record. */
static void check_answer(const uint8_t *m, size_t len, size_t limit)
{
	if (len < DNS_HEADER_LEN || len > limit || !(m[2] & 0x80))
		abort();
	size_t off = DNS_HEADER_LEN;
	struct dns_name n;
	for (unsigned i = 0; i < be16_get(m + 4); i++) {
		if (dns_name_read(m, len, &off, &n) < 0 || len - off < 4)
			abort();
		off += 4;
	}
	unsigned rrs = (unsigned)be16_get(m + 6) + be16_get(m + 8) + be16_get(m + 10);
	for (unsigned i = 0; i < rrs; i++)
		if (dns_rr_skip(m, len, &off, NULL) < 0)
			abort();
	if (off != len)
		abort();
}

static void as_query(const uint8_t *data, size_t size)
{
	static const struct dns_answer_cfg cfgs[2] = { { 5, 5, true }, { 5, 5, false } };
	for (int c = 0; c < 2; c++) {
		for (int tcp = 0; tcp < 2; tcp++) {
			struct dns_query q;
			uint8_t out[DNS_ANSWER_BUF];
			size_t len = 0;
			enum dns_verdict v = dns_answer(store(), &cfgs[c], data, size, tcp, &q, out, &len);
			if (v == DNS_VERDICT_REPLY)
				check_answer(out, len, tcp ? DNS_ANSWER_BUF : q.udp_limit);
			if (v == DNS_VERDICT_FORWARD) {
				uint8_t fq[DNS_FORWARD_QUERY_MAX];
				size_t flen = dns_build_forward_query(fq, &q, 7);
				struct dns_query back;
				if (flen > sizeof(fq) || dns_query_parse(fq, flen, &back) != DNS_PARSE_OK)
					abort();
			}
		}
	}
}

static void as_response(const uint8_t *data, size_t size)
{
	/* The query we "forwarded": example.com A, from a client without EDNS. */
	static const uint8_t query[] = { 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p',
					 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1 };
	struct dns_query q;
	if (dns_query_parse(query, sizeof(query), &q) != DNS_PARSE_OK || size < 2 || size > DNS_MSG_MAX)
		return;
	for (int edns = 0; edns < 2; edns++) {
		q.has_edns = edns;
		uint16_t id = be16_get(data); /* so the ID check passes */
		if (dns_response_check(data, size, id, &q) < 0)
			return;
		uint8_t *copy = malloc(size + DNS_OPT_RR_LEN);
		if (!copy)
			abort();
		memcpy(copy, data, size);
		size_t limit = edns ? 1232 : 512;
		size_t len = dns_response_relay(copy, size, &q, limit);
		if (len > size + DNS_OPT_RR_LEN || (len > limit && !(copy[2] & 0x02)) || be16_get(copy) != q.id)
			abort();
		free(copy);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_query(data, size);
	as_response(data, size);
	return 0;
}
