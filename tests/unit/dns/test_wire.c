// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "dns/wire.h"
#include "querybuf.h"

static void parses_plain_and_edns_queries(void **state)
{
	uint8_t m[512];
	struct dns_query q;
	size_t len = make_query(m, 0x1234, "Web.ZLayer.local.", DNS_T_A, 0);
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_OK);
	assert_int_equal(q.id, 0x1234);
	assert_int_equal(q.qtype, DNS_T_A);
	assert_false(q.has_edns);
	assert_int_equal(q.udp_limit, 512);
	assert_memory_equal(q.qname.data, "\3Web\6ZLayer\5local", 17);
	assert_memory_equal(q.lname.data, "\3web\6zlayer\5local", 17);

	len = make_query(m, 1, "a.b.", DNS_T_AAAA, 4096);
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_OK);
	assert_true(q.has_edns);
	assert_int_equal(q.udp_limit, 4096);
	/* A payload size below 512 means 512 (RFC 6891 6.2.5). */
	len = make_query(m, 1, "a.b.", DNS_T_AAAA, 100);
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_OK);
	assert_int_equal(q.udp_limit, 512);
}

static void drops_garbage_and_responses(void **state)
{
	uint8_t m[512] = { 0 };
	struct dns_query q;
	assert_int_equal(dns_query_parse(m, 0, &q), DNS_PARSE_DROP);
	assert_int_equal(dns_query_parse(m, 11, &q), DNS_PARSE_DROP);
	size_t len = make_query(m, 1, "a.", DNS_T_A, 0);
	m[2] |= 0x80; /* QR: a response */
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_DROP);
}

static void rejects_malformed_queries(void **state)
{
	uint8_t m[600];
	struct dns_query q;
	size_t len = make_query(m, 7, "a.example.", DNS_T_A, 0);

	m[2] = (uint8_t)(m[2] | (2 << 3)); /* opcode STATUS */
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_NOTIMP);
	assert_int_equal(q.id, 7);

	len = make_query(m, 7, "a.example.", DNS_T_A, 0);
	be16_put(m + 4, 0); /* no question */
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_FORMERR);
	be16_put(m + 4, 2); /* two questions, one present */
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_FORMERR);
	be16_put(m + 4, 1);
	/* Question cut in the middle of the name / of the type. */
	assert_int_equal(dns_query_parse(m, 15, &q), DNS_PARSE_FORMERR);
	assert_int_equal(dns_query_parse(m, len - 1, &q), DNS_PARSE_FORMERR);
	/* Counts claiming records that are not there. */
	be16_put(m + 6, 1);
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_FORMERR);
	be16_put(m + 6, 0);
	be16_put(m + 10, 0xffff);
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_FORMERR);

	/* Two OPT records. */
	len = make_query(m, 7, "a.example.", DNS_T_A, 1232);
	memcpy(m + len, m + len - DNS_OPT_RR_LEN, DNS_OPT_RR_LEN);
	be16_put(m + 10, 2);
	assert_int_equal(dns_query_parse(m, len + DNS_OPT_RR_LEN, &q), DNS_PARSE_FORMERR);
	/* An OPT record not owned by the root. */
	len = make_query(m, 7, "a.example.", DNS_T_A, 0);
	const uint8_t bad_opt[] = { 0xc0, 12, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0 };
	memcpy(m + len, bad_opt, sizeof(bad_opt));
	be16_put(m + 10, 1);
	assert_int_equal(dns_query_parse(m, len + sizeof(bad_opt), &q), DNS_PARSE_FORMERR);
	/* A question name that loops. */
	len = make_query(m, 7, "a.", DNS_T_A, 0);
	m[12] = 0xc0;
	m[13] = 12;
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_FORMERR);
}

static void builder_compresses_names(void **state)
{
	uint8_t m[512], out[1024];
	struct dns_query q;
	size_t len = make_query(m, 9, "Web.zlayer.local.", DNS_T_A, 0);
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_OK);
	struct dns_builder b;
	dns_builder_init(&b, out, 512, &q, DNS_F_AA, DNS_R_NOERROR);
	const uint8_t addr[4] = { 10, 200, 0, 5 };
	dns_builder_add_rr(&b, 0, &q.qname, DNS_T_A, 5, addr, 4);
	struct dns_name apex;
	assert_int_equal(dns_name_from_text("zlayer.local.", NULL, false, &apex), 0);
	dns_builder_add_soa(&b, 1, &apex, 5, 42, 5);
	size_t olen = dns_builder_finish(&b);
	/* header 12 + question 18+4; A: pointer 2 + 10 + 4; SOA: pointer to
	 * "zlayer" (2) + 10, mname "ns"+ptr (5), rname "hostmaster"+ptr (13), 20. */
	assert_int_equal(olen, 12 + 22 + 16 + 12 + 5 + 13 + 20);
	assert_int_equal(be16_get(out), 9);
	assert_true(out[2] & 0x80);		  /* QR */
	assert_true(out[2] & (DNS_F_AA >> 8));	  /* AA */
	assert_true(out[2] & (DNS_F_RD >> 8));	  /* RD copied */
	assert_int_equal(out[34], 0xc0);	  /* answer owner: pointer */
	assert_int_equal(out[35], 12);		  /* ... to the question */
	assert_memory_equal(out + 12, "\3Web", 4); /* case kept */
	struct rr_view rr;
	assert_int_equal(msg_rr(out, olen, 2, 0, &rr), 0);
	assert_int_equal(rr.type, DNS_T_SOA);
	char buf[DNS_NAME_STRLEN];
	assert_string_equal(dns_name_to_text(&rr.owner, buf, sizeof(buf)), "zlayer.local.");
	size_t off = rr.rdata;
	struct dns_name mname, rname;
	assert_int_equal(dns_name_read(out, olen, &off, &mname), 0);
	assert_int_equal(dns_name_read(out, olen, &off, &rname), 0);
	assert_string_equal(dns_name_to_text(&mname, buf, sizeof(buf)), "ns.zlayer.local.");
	assert_string_equal(dns_name_to_text(&rname, buf, sizeof(buf)), "hostmaster.zlayer.local.");
	assert_int_equal(be16_get(out + off + 2), 42); /* serial (low half) */
}

/* The one-record answer is the builder's, byte for byte: A and AAAA, with
 * and without EDNS, case kept, RD and CD copied, both flag sets. */
static void answer1_is_the_builders(void **state)
{
	static const struct {
		const char *name;
		uint16_t qtype, edns, flags, extra;
	} cases[] = {
		{ "Web.zlayer.local.", DNS_T_A, 0, DNS_F_AA | DNS_F_RA, 0 },
		{ "svc1.BENCH.local.", DNS_T_A, 1232, DNS_F_AA, DNS_F_CD },
		{ "db.backend.zlayer.local.", DNS_T_AAAA, 4096, DNS_F_AA | DNS_F_RA, DNS_F_CD },
		{ "x.", DNS_T_AAAA, 0, DNS_F_AA, 0 },
	};
	const uint8_t rdata[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t m[512], built[1024], fast[1024];
		struct dns_query q;
		size_t len = make_query(m, (uint16_t)(100 + i), cases[i].name, cases[i].qtype, cases[i].edns);
		m[3] |= (uint8_t)cases[i].extra;
		assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_OK);
		uint16_t rdlen = cases[i].qtype == DNS_T_A ? 4 : 16;
		struct dns_builder b;
		dns_builder_init(&b, built, 512, &q, cases[i].flags, DNS_R_NOERROR);
		dns_builder_add_rr(&b, 0, &q.qname, cases[i].qtype, 5, rdata, rdlen);
		size_t blen = dns_builder_finish(&b);
		size_t flen = dns_build_answer1(fast, &q, cases[i].flags, cases[i].qtype, 5, rdata, rdlen);
		assert_int_equal(flen, blen);
		assert_memory_equal(fast, built, blen);
	}
}

static void builder_truncates_at_limit(void **state)
{
	uint8_t m[512], out[1024];
	struct dns_query q;
	size_t len = make_query(m, 9, "a.", DNS_T_A, 0);
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_OK);
	struct dns_builder b;
	dns_builder_init(&b, out, 512, &q, 0, 0);
	uint8_t big[400] = { 0 };
	dns_builder_add_rr(&b, 0, &q.qname, 16, 5, big, sizeof(big)); /* fits */
	dns_builder_add_rr(&b, 0, &q.qname, 16, 5, big, sizeof(big)); /* does not */
	size_t olen = dns_builder_finish(&b);
	assert_true(b.truncated);
	assert_int_equal(olen, b.question_end);
	assert_true(out[2] & (DNS_F_TC >> 8));
	assert_int_equal(msg_count(out, 1), 0);
	assert_int_equal(msg_count(out, 0), 1);
}

static void errors_echo_question_and_opt(void **state)
{
	uint8_t m[512], out[512];
	struct dns_query q;
	size_t len = make_query(m, 3, "x.y.", DNS_T_A, 1400);
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_OK);
	size_t olen = dns_build_error(out, &q, DNS_R_BADVERS);
	assert_int_equal(olen, len);
	assert_int_equal(msg_rcode(out), 0); /* 16 = 0x10: all in the OPT */
	assert_int_equal(msg_count(out, 3), 1);
	assert_int_equal(out[olen - 6], 1); /* extended rcode upper bits */
	assert_int_equal(be16_get(out + olen - 8), DNS_EDNS_PAYLOAD);
}

static void forward_and_relay(void **state)
{
	uint8_t m[512], fq[DNS_FORWARD_QUERY_MAX];
	struct dns_query q, up;
	size_t len = make_query(m, 0xaaaa, "Ext.Example.", DNS_T_A, 0);
	assert_int_equal(dns_query_parse(m, len, &q), DNS_PARSE_OK);
	size_t flen = dns_build_forward_query(fq, &q, 0x5555);
	/* The forwarded query parses as a query with our ID and an OPT. */
	assert_int_equal(dns_query_parse(fq, flen, &up), DNS_PARSE_OK);
	assert_int_equal(up.id, 0x5555);
	assert_true(up.has_edns);
	assert_int_equal(up.udp_limit, DNS_EDNS_PAYLOAD);

	/* Upstream's answer: one A record and its OPT. */
	uint8_t r[2048];
	struct dns_builder b;
	dns_builder_init(&b, r, sizeof(r), &up, DNS_F_RA, 0);
	const uint8_t a[4] = { 192, 0, 2, 1 };
	dns_builder_add_rr(&b, 0, &up.qname, DNS_T_A, 60, a, 4);
	size_t rlen = dns_builder_finish(&b);
	assert_int_equal(dns_response_check(r, rlen, 0x5555, &q), 0);
	assert_int_equal(dns_response_check(r, rlen, 0x5556, &q), -EBADMSG); /* wrong ID */
	assert_int_equal(dns_response_check(r, rlen - 1, 0x5555, &q), -EBADMSG); /* cut */
	struct dns_query other;
	len = make_query(m, 1, "other.example.", DNS_T_A, 0);
	assert_int_equal(dns_query_parse(m, len, &other), DNS_PARSE_OK);
	assert_int_equal(dns_response_check(r, rlen, 0x5555, &other), -EBADMSG); /* wrong question */

	/* Relayed to a client without EDNS: its ID back, the OPT removed. */
	uint8_t copy[2048];
	memcpy(copy, r, rlen);
	size_t out = dns_response_relay(copy, rlen, &q, 512);
	assert_int_equal(out, rlen - DNS_OPT_RR_LEN);
	assert_int_equal(be16_get(copy), 0xaaaa);
	assert_int_equal(msg_count(copy, 1), 1);
	assert_int_equal(msg_count(copy, 3), 0);
	/* Too large for the client: cut to the question, TC set. */
	memcpy(copy, r, rlen);
	out = dns_response_relay(copy, rlen, &q, 30);
	assert_true(copy[2] & (DNS_F_TC >> 8));
	assert_int_equal(msg_count(copy, 1), 0);
	assert_int_equal(out, DNS_HEADER_LEN + q.qname.len + 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_plain_and_edns_queries),
		cmocka_unit_test(drops_garbage_and_responses),
		cmocka_unit_test(rejects_malformed_queries),
		cmocka_unit_test(builder_compresses_names),
		cmocka_unit_test(answer1_is_the_builders),
		cmocka_unit_test(builder_truncates_at_limit),
		cmocka_unit_test(errors_echo_question_and_opt),
		cmocka_unit_test(forward_and_relay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
