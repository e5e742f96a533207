// SPDX-License-Identifier: MIT
/*
 * Hot-path measurement behind the choice in src/dns/wire.h: parse a query,
 * look the name up, build the answer - with our hand-written code
 * (dns_answer) and with ldns (ldns_wire2pkt, ldns_pkt objects,
 * ldns_pkt2wire). Same queries, same store, one thread. Also the cost of
 * the store's read lock alone, which every answer takes once, to weigh the
 * rwlock against a copy-on-write table. Built and run by bench/dns-parse.sh.
 */
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/answer.h"
#include "dns/store.h"

#define NQ 1000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t make_query(uint8_t *buf, int i)
{
	char text[64];
	struct dns_name n;
	snprintf(text, sizeof(text), "svc%d.bench.local.", i + 1);
	if (dns_name_from_text(text, NULL, false, &n) < 0)
		abort();
	memset(buf, 0, 12);
	buf[0] = (uint8_t)i;
	buf[2] = 1; /* RD */
	buf[5] = 1; /* one question */
	memcpy(buf + 12, n.data, n.len);
	size_t off = 12u + n.len;
	buf[off + 1] = 1; /* A */
	buf[off + 3] = 1; /* IN */
	return off + 4;
}

/* The same work with ldns: parse, look up, build an answer packet, write it. */
static size_t ldns_answer(struct dns_store *st, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap)
{
	ldns_pkt *pkt = NULL;
	if (ldns_wire2pkt(&pkt, q, qlen) != LDNS_STATUS_OK)
		return 0;
	ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	ldns_rdf *owner = ldns_rr_owner(question);
	struct dns_name n;
	n.len = (uint8_t)ldns_rdf_size(owner);
	memcpy(n.data, ldns_rdf_data(owner), n.len);
	dns_name_lower(&n);
	ldns_pkt *ans = ldns_pkt_new();
	ldns_pkt_set_id(ans, ldns_pkt_id(pkt));
	ldns_pkt_set_qr(ans, true);
	ldns_pkt_set_aa(ans, true);
	ldns_pkt_set_rd(ans, ldns_pkt_rd(pkt));
	ldns_pkt_push_rr(ans, LDNS_SECTION_QUESTION, ldns_rr_clone(question));
	dns_store_rdlock(st);
	const struct ip_addr *a = dns_store_find(st, &n);
	if (a) {
		ldns_rr *rr = ldns_rr_new();
		ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
		ldns_rr_set_type(rr, LDNS_RR_TYPE_A);
		ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
		ldns_rr_set_ttl(rr, 5);
		ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, a->bytes));
		ldns_pkt_push_rr(ans, LDNS_SECTION_ANSWER, rr);
	}
	dns_store_unlock(st);
	uint8_t *wire = NULL;
	size_t wlen = 0;
	if (ldns_pkt2wire(&wire, ans, &wlen) != LDNS_STATUS_OK || wlen > cap)
		wlen = 0;
	else
		memcpy(out, wire, wlen);
	free(wire);
	ldns_pkt_free(ans);
	ldns_pkt_free(pkt);
	return wlen;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 1000;
	struct dns_store *st = dns_store_new("zlayer.local", 1);
	static uint8_t qs[NQ][300];
	static size_t qlen[NQ];
	for (int i = 0; i < NQ; i++) {
		struct ip_addr a = { .family = AF_INET, .bytes = { 10, 235, (uint8_t)(i / 250), (uint8_t)(i % 250 + 2) } };
		char name[64];
		snprintf(name, sizeof(name), "svc%d.bench.local.", i + 1);
		if (!st || dns_store_set(st, name, &a) < 0)
			abort();
		qlen[i] = make_query(qs[i], i);
	}
	struct dns_answer_cfg cfg = { .ttl = 5, .negative_ttl = 5 };
	uint8_t out[DNS_ANSWER_BUF];
	size_t total = 0;
	double t0 = now();
	for (long r = 0; r < rounds; r++)
		for (int i = 0; i < NQ; i++) {
			struct dns_query q;
			size_t len = 0;
			dns_answer(st, &cfg, qs[i], qlen[i], false, &q, out, &len);
			total += len;
		}
	double t1 = now();
	for (long r = 0; r < rounds; r++)
		for (int i = 0; i < NQ; i++)
			total += ldns_answer(st, qs[i], qlen[i], out, sizeof(out));
	double t2 = now();
	for (long r = 0; r < rounds; r++)
		for (int i = 0; i < NQ; i++) {
			dns_store_rdlock(st);
			total += dns_store_serial(st) & 1;
			dns_store_unlock(st);
		}
	double t3 = now();
	double n = (double)rounds * NQ;
	printf("hand-written: %.0f ns/query (%.2f M queries/s)\n", (t1 - t0) / n * 1e9, n / (t1 - t0) / 1e6);
	printf("ldns:         %.0f ns/query (%.2f M queries/s)\n", (t2 - t1) / n * 1e9, n / (t2 - t1) / 1e6);
	printf("ratio ldns/hand-written: %.1fx\n", (t2 - t1) / (t1 - t0));
	printf("store read lock + unlock alone: %.0f ns/query (checksum %zu)\n", (t3 - t2) / n * 1e9, total);
	dns_store_free(st);
	return 0;
}
