// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "dns/answer.h"
#include "querybuf.h"

static struct dns_answer_cfg cfg = { .ttl = 5, .negative_ttl = 7, .forward = true };

struct result {
	enum dns_verdict v;
	uint8_t out[DNS_ANSWER_BUF];
	size_t len;
	struct dns_query q;
};

static void ask(struct dns_store *st, const char *name, uint16_t qtype, uint16_t edns, struct result *r)
{
	uint8_t m[512];
	size_t len = make_query(m, 0x4242, name, qtype, edns);
	assert_true(len > 0);
	r->v = dns_answer(st, &cfg, m, len, false, &r->q, r->out, &r->len);
}

static void set(struct dns_store *st, const char *name, const char *ip)
{
	struct ip_addr a;
	assert_int_equal(ip_addr_parse(ip, &a), 0);
	assert_int_equal(dns_store_set(st, name, &a), 0);
}

static int setup(void **state)
{
	struct dns_store *st = dns_store_new("zlayer.local", 100);
	assert_non_null(st);
	set(st, "web", "10.200.0.5");
	set(st, "db.backend", "fd00::7");
	set(st, "svc1.bench.local.", "10.235.0.3");
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	dns_store_free(*state);
	return 0;
}

static void assert_soa_authority(const struct result *r, const char *apex, uint32_t ttl)
{
	struct rr_view rr;
	char buf[DNS_NAME_STRLEN];
	assert_int_equal(msg_count(r->out, 2), 1);
	assert_int_equal(msg_rr(r->out, r->len, 2, 0, &rr), 0);
	assert_int_equal(rr.type, DNS_T_SOA);
	assert_int_equal(rr.ttl, ttl);
	assert_string_equal(dns_name_to_text(&rr.owner, buf, sizeof(buf)), apex);
	/* MINIMUM, the last field, is the negative TTL. */
	size_t min = rr.rdata + rr.rdlen - 4;
	assert_int_equal(be16_get(r->out + min + 2), cfg.negative_ttl);
}

static void answers_a_and_aaaa(void **state)
{
	struct result r;
	struct rr_view rr;
	ask(*state, "WEB.zlayer.LOCAL.", DNS_T_A, 0, &r);
	assert_int_equal(r.v, DNS_VERDICT_REPLY);
	assert_int_equal(msg_rcode(r.out), DNS_R_NOERROR);
	assert_true(r.out[2] & (DNS_F_AA >> 8));
	assert_int_equal(msg_count(r.out, 1), 1);
	assert_int_equal(msg_rr(r.out, r.len, 1, 0, &rr), 0);
	assert_int_equal(rr.type, DNS_T_A);
	assert_int_equal(rr.ttl, 5);
	assert_memory_equal(r.out + rr.rdata, "\x0a\xc8\x00\x05", 4);
	assert_memory_equal(r.out + 12, "\3WEB", 4); /* the client's case */

	ask(*state, "db.backend.zlayer.local.", DNS_T_AAAA, 0, &r);
	assert_int_equal(msg_count(r.out, 1), 1);
	assert_int_equal(msg_rr(r.out, r.len, 1, 0, &rr), 0);
	assert_int_equal(rr.type, DNS_T_AAAA);
	assert_int_equal(rr.rdlen, 16);
}

static void negative_answers_carry_the_soa(void **state)
{
	struct result r;
	/* NXDOMAIN inside the zone. */
	ask(*state, "nope.zlayer.local.", DNS_T_A, 0, &r);
	assert_int_equal(msg_rcode(r.out), DNS_R_NXDOMAIN);
	assert_true(r.out[2] & (DNS_F_AA >> 8));
	assert_int_equal(msg_count(r.out, 1), 0);
	assert_soa_authority(&r, "zlayer.local.", 7);
	/* NODATA: the name exists, not with that type. */
	ask(*state, "web.zlayer.local.", DNS_T_AAAA, 0, &r);
	assert_int_equal(msg_rcode(r.out), DNS_R_NOERROR);
	assert_int_equal(msg_count(r.out, 1), 0);
	assert_soa_authority(&r, "zlayer.local.", 7);
	ask(*state, "web.zlayer.local.", 16 /* TXT */, 0, &r);
	assert_int_equal(msg_rcode(r.out), DNS_R_NOERROR);
	assert_soa_authority(&r, "zlayer.local.", 7);
	/* An empty non-terminal is NODATA, not NXDOMAIN (RFC 8020). */
	ask(*state, "backend.zlayer.local.", DNS_T_A, 0, &r);
	assert_int_equal(msg_rcode(r.out), DNS_R_NOERROR);
	assert_soa_authority(&r, "zlayer.local.", 7);
	/* The apex answers its SOA. */
	ask(*state, "zlayer.local.", DNS_T_SOA, 0, &r);
	assert_int_equal(msg_count(r.out, 1), 1);
	assert_int_equal(msg_count(r.out, 2), 0);
}

static void outside_registered_names_are_their_own_apex(void **state)
{
	struct result r;
	ask(*state, "svc1.bench.local.", DNS_T_A, 0, &r);
	assert_int_equal(msg_count(r.out, 1), 1);
	assert_true(r.out[2] & (DNS_F_AA >> 8));
	ask(*state, "svc1.bench.local.", DNS_T_AAAA, 0, &r);
	assert_int_equal(msg_rcode(r.out), DNS_R_NOERROR);
	assert_soa_authority(&r, "svc1.bench.local.", 7);
	ask(*state, "x.svc1.bench.local.", DNS_T_A, 0, &r);
	assert_int_equal(msg_rcode(r.out), DNS_R_NXDOMAIN);
	assert_soa_authority(&r, "svc1.bench.local.", 7);
	/* Siblings are not ours: forwarded. */
	ask(*state, "svc2.bench.local.", DNS_T_A, 0, &r);
	assert_int_equal(r.v, DNS_VERDICT_FORWARD);
	assert_int_equal(r.q.id, 0x4242);
}

static void reverse_lookups(void **state)
{
	struct result r;
	struct rr_view rr;
	char buf[DNS_NAME_STRLEN];
	ask(*state, "5.0.200.10.in-addr.arpa.", DNS_T_PTR, 0, &r);
	assert_int_equal(r.v, DNS_VERDICT_REPLY);
	assert_int_equal(msg_count(r.out, 1), 1);
	assert_int_equal(msg_rr(r.out, r.len, 1, 0, &rr), 0);
	assert_int_equal(rr.type, DNS_T_PTR);
	size_t off = rr.rdata;
	struct dns_name target;
	assert_int_equal(dns_name_read(r.out, r.len, &off, &target), 0);
	assert_string_equal(dns_name_to_text(&target, buf, sizeof(buf)), "web.zlayer.local.");
	ask(*state, "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", DNS_T_PTR, 0, &r);
	assert_int_equal(msg_count(r.out, 1), 1);
	/* An address nobody registered is not ours. */
	ask(*state, "6.0.200.10.in-addr.arpa.", DNS_T_PTR, 0, &r);
	assert_int_equal(r.v, DNS_VERDICT_FORWARD);
}

static void refusals_and_errors(void **state)
{
	struct result r;
	cfg.forward = false;
	ask(*state, "example.com.", DNS_T_A, 0, &r);
	cfg.forward = true;
	assert_int_equal(r.v, DNS_VERDICT_REPLY);
	assert_int_equal(msg_rcode(r.out), DNS_R_REFUSED);
	assert_false(r.out[2] & (DNS_F_AA >> 8));

	ask(*state, "zlayer.local.", DNS_T_AXFR, 0, &r);
	assert_int_equal(msg_rcode(r.out), DNS_R_REFUSED);

	uint8_t m[512];
	size_t len = make_query(m, 1, "web.zlayer.local.", DNS_T_A, 0);
	be16_put(m + len - 2, 3); /* class CH */
	r.v = dns_answer(*state, &cfg, m, len, false, &r.q, r.out, &r.len);
	assert_int_equal(msg_rcode(r.out), DNS_R_REFUSED);

	len = make_query(m, 1, "web.zlayer.local.", DNS_T_A, 1232);
	m[len - 5] = 1; /* EDNS version 1 */
	r.v = dns_answer(*state, &cfg, m, len, false, &r.q, r.out, &r.len);
	assert_int_equal(msg_count(r.out, 3), 1);
	assert_int_equal(r.out[r.len - 6], 1); /* BADVERS = 16: upper bits in OPT */

	len = make_query(m, 1, "web.zlayer.local.", DNS_T_A, 0);
	be16_put(m + 4, 0);
	r.v = dns_answer(*state, &cfg, m, len, false, &r.q, r.out, &r.len);
	assert_int_equal(r.v, DNS_VERDICT_REPLY);
	assert_int_equal(msg_rcode(r.out), DNS_R_FORMERR);

	m[2] |= 0x28; /* opcode 5 (UPDATE) */
	r.v = dns_answer(*state, &cfg, m, len, false, &r.q, r.out, &r.len);
	assert_int_equal(msg_rcode(r.out), DNS_R_NOTIMP);

	r.v = dns_answer(*state, &cfg, m, 5, false, &r.q, r.out, &r.len);
	assert_int_equal(r.v, DNS_VERDICT_DROP);
}

static void edns_is_echoed(void **state)
{
	struct result r;
	struct rr_view rr;
	ask(*state, "web.zlayer.local.", DNS_T_A, 4096, &r);
	assert_int_equal(msg_count(r.out, 3), 1);
	assert_int_equal(msg_rr(r.out, r.len, 3, 0, &rr), 0);
	assert_int_equal(rr.type, DNS_T_OPT);
	assert_int_equal(be16_get(r.out + rr.rdata - 8), DNS_EDNS_PAYLOAD); /* class = payload */
	ask(*state, "web.zlayer.local.", DNS_T_A, 0, &r);
	assert_int_equal(msg_count(r.out, 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(answers_a_and_aaaa, setup, teardown),
		cmocka_unit_test_setup_teardown(negative_answers_carry_the_soa, setup, teardown),
		cmocka_unit_test_setup_teardown(outside_registered_names_are_their_own_apex, setup, teardown),
		cmocka_unit_test_setup_teardown(reverse_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(edns_is_echoed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
