/* SPDX-License-Identifier: MIT */
/*
 * DNS messages on the wire: parsing a query, building an answer with name
 * compression, and the few edits the forwarder makes to messages it relays.
 *
 * Hand-written rather than ldns: a query is one header, one question and at
 * most an OPT record, and the answers we build hold one or two records. ldns
 * turns every message into a tree of heap-allocated rdf/rr objects and back
 * (ldns_wire2pkt + ldns_pkt2wire). bench/dns-parse.sh measures both on the
 * same 1,000 queries against the same store: 180-440 ns per query
 * hand-written vs 1900-3600 ns with ldns (6-13x over several runs on a
 * shared 2-core machine), with no allocation on our path, which is what
 * lets the server outrun dnsmasq (bench/dns.sh).
 * Every read is bounds-checked against the message length; fuzz/dns_message.c
 * exercises these functions.
 */
#ifndef OVL_DNS_WIRE_H
#define OVL_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/name.h"
#include "util/be.h"

#define DNS_HEADER_LEN 12
#define DNS_UDP_MIN 512		/* RFC 1035 limit without EDNS0 */
#define DNS_EDNS_PAYLOAD 1232	/* what we advertise (DNS flag day 2020) */
#define DNS_MSG_MAX 65535
#define DNS_OPT_RR_LEN 11	/* root name, type, class, ttl, rdlen=0 */

enum dns_type {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_SOA = 6,
	DNS_T_PTR = 12,
	DNS_T_AAAA = 28,
	DNS_T_OPT = 41,
	DNS_T_IXFR = 251,
	DNS_T_AXFR = 252,
	DNS_T_ANY = 255,
};

enum dns_class { DNS_C_IN = 1, DNS_C_ANY = 255 };

enum dns_rcode {
	DNS_R_NOERROR = 0,
	DNS_R_FORMERR = 1,
	DNS_R_SERVFAIL = 2,
	DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4,
	DNS_R_REFUSED = 5,
	DNS_R_BADVERS = 16, /* extended: upper 8 bits go in the OPT TTL */
};

/* Header flag bits (second 16-bit word). */
#define DNS_F_QR 0x8000
#define DNS_F_OPCODE 0x7800
#define DNS_F_AA 0x0400
#define DNS_F_TC 0x0200
#define DNS_F_RD 0x0100
#define DNS_F_RA 0x0080
#define DNS_F_CD 0x0010
#define DNS_F_RCODE 0x000f

struct dns_query {
	uint16_t id;
	uint16_t flags;
	uint16_t qtype, qclass;
	struct dns_name qname;	/* as the client wrote it (case kept, for the echo) */
	struct dns_name lname;	/* lower-cased, for lookups */
	bool has_question;
	bool has_edns;
	uint8_t edns_version;
	uint16_t udp_limit;	/* largest UDP answer the client takes (>= 512) */
};

enum dns_parse_result {
	DNS_PARSE_OK,
	DNS_PARSE_DROP,		/* not a query or no readable header: no answer */
	DNS_PARSE_FORMERR,	/* readable header, malformed body */
	DNS_PARSE_NOTIMP,	/* opcode other than QUERY */
};

/* Parse a query. On DROP nothing in *q is valid; on FORMERR/NOTIMP only
 * id and flags are, plus the question and EDNS fields if they were read. */
enum dns_parse_result dns_query_parse(const uint8_t *msg, size_t len, struct dns_query *q);

/*
 * Answer builder. Writes into buf, never past limit; names are compressed
 * against names already written. When a record does not fit, the message is
 * cut back to the question and the TC bit set (RFC 2181 9).
 */
struct dns_builder {
	uint8_t *buf;
	size_t limit;	/* the client's limit, less room kept for the OPT record */
	size_t len;
	size_t question_end;
	bool truncated;
	bool overflow;	/* a write in the current record hit the limit */
	bool edns;
	uint16_t rcode;
	unsigned ncomp;
	uint16_t comp[32]; /* offsets of names written, for compression */
};

/* Header + echoed question (as the client wrote it, when q->has_question).
 * limit is the most the client takes (>= 512); buf must hold limit bytes.
 * rcode may be extended (BADVERS); its upper bits go in the OPT record. */
void dns_builder_init(struct dns_builder *b, uint8_t *buf, size_t limit, const struct dns_query *q,
		      uint16_t flags, uint16_t rcode);
/* Append a record to section 0 = answer, 1 = authority, 2 = additional. */
void dns_builder_add_rr(struct dns_builder *b, int section, const struct dns_name *owner, uint16_t type,
			uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);
/* Same, for records whose rdata holds names (PTR, SOA): rdata is built from
 * the given pieces, names compressed. */
void dns_builder_add_ptr(struct dns_builder *b, int section, const struct dns_name *owner, uint32_t ttl,
			 const struct dns_name *target);
void dns_builder_add_soa(struct dns_builder *b, int section, const struct dns_name *apex, uint32_t ttl,
			 uint32_t serial, uint32_t minimum);
/* Append our OPT record when the query had one; returns the final length. */
size_t dns_builder_finish(struct dns_builder *b);

/*
 * The answer of one record owned by the question's name (type, ttl, rdata
 * of at most 16 bytes: A or AAAA), NOERROR with flags, our OPT when q had
 * one: byte for byte what the builder writes, with none of its work. q must
 * have a question. buf holds >= 512 bytes. Returns the length.
 */
size_t dns_build_answer1(uint8_t *buf, const struct dns_query *q, uint16_t flags, uint16_t type, uint32_t ttl,
			 const uint8_t *rdata, uint16_t rdlen);

/* A bare answer with rcode (FORMERR, NOTIMP, SERVFAIL, REFUSED, BADVERS):
 * question echoed when q has one, OPT when q had one. buf holds >= 512 bytes.
 * Returns the length. */
size_t dns_build_error(uint8_t *buf, const struct dns_query *q, uint16_t rcode);

/* Skip one resource record at msg[*off] (name, fixed fields, rdata); its
 * type goes to *type_out when not NULL. Returns 0 or -EBADMSG. */
int dns_rr_skip(const uint8_t *msg, size_t len, size_t *off, uint16_t *type_out);

/*
 * Checks that msg is a response to our forwarded query: QR set, the ID we
 * chose, one question equal (case-insensitively) to qname/qtype/qclass, and
 * all sections well formed. Returns 0 or -EBADMSG.
 */
int dns_response_check(const uint8_t *msg, size_t len, uint16_t id, const struct dns_query *q);

/*
 * Prepares an upstream response for the client: puts the client's ID back,
 * removes the OPT record when the client sent none (we add one upstream), and
 * when the message exceeds limit cuts it to the question with TC set. The
 * message must have passed dns_response_check. Returns the new length.
 */
size_t dns_response_relay(uint8_t *msg, size_t len, const struct dns_query *client, size_t limit);

/* The query we send upstream for q: our ID, the client's RD and CD bits, its
 * question, and an OPT record with our payload size whatever the client sent
 * (so upstream answers are not cut to 512 bytes needlessly). buf must hold
 * DNS_HEADER_LEN + DNS_NAME_MAX + 4 + DNS_OPT_RR_LEN bytes. Returns the length. */
#define DNS_FORWARD_QUERY_MAX (DNS_HEADER_LEN + DNS_NAME_MAX + 4 + DNS_OPT_RR_LEN)
size_t dns_build_forward_query(uint8_t *buf, const struct dns_query *q, uint16_t id);

#endif
