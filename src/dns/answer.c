// SPDX-License-Identifier: MIT
#include "dns/answer.h"

#include <string.h>

/*
 * The apex whose SOA speaks for name, if we are authoritative for it: the
 * configured zone when name lies in it, else the nearest registered
 * ancestor-or-self (each registered outside name is its own apex; see dns.h).
 */
static bool find_apex(const struct dns_store *st, const struct dns_name *name, struct dns_name *apex)
{
	const struct dns_name *zone = dns_store_zone(st);
	if (dns_name_is_subdomain(name, zone)) {
		*apex = *zone;
		return true;
	}
	struct dns_name p = *name;
	do {
		if (dns_store_find(st, &p)) {
			*apex = p;
			return true;
		}
	} while (dns_name_parent(&p, &p));
	return false;
}

static bool type_matches(uint16_t qtype, const struct ip_addr *a)
{
	return qtype == DNS_T_ANY || (qtype == DNS_T_A && a->family == AF_INET) ||
	       (qtype == DNS_T_AAAA && a->family == AF_INET6);
}

static void add_negative_soa(struct dns_builder *b, const struct dns_store *st, const struct dns_answer_cfg *cfg,
			     const struct dns_name *apex)
{
	/* RFC 2308 5: the SOA's TTL in a negative answer is min(TTL, MINIMUM);
	 * both are the negative TTL here. */
	dns_builder_add_soa(b, 1, apex, cfg->negative_ttl, dns_store_serial(st), cfg->negative_ttl);
}

/* A negative answer (or the apex's SOA) from the zone whose apex is given;
 * a is the name's record, of another type, or NULL. */
static void answer_authoritative(struct dns_builder *b, const struct dns_store *st, const struct dns_answer_cfg *cfg,
				 const struct dns_query *q, const struct dns_name *apex, const struct ip_addr *a)
{
	bool at_apex = dns_name_equal(&q->lname, apex);
	if (at_apex && (q->qtype == DNS_T_SOA || q->qtype == DNS_T_ANY)) {
		dns_builder_add_soa(b, 0, &q->qname, cfg->ttl, dns_store_serial(st), cfg->negative_ttl);
	} else if (a || at_apex || dns_store_is_ent(st, &q->lname)) {
		add_negative_soa(b, st, cfg, apex); /* NODATA */
	} else {
		b->buf[3] = (uint8_t)((b->buf[3] & ~DNS_F_RCODE) | DNS_R_NXDOMAIN);
		add_negative_soa(b, st, cfg, apex);
	}
}

enum dns_verdict dns_answer(struct dns_store *st, const struct dns_answer_cfg *cfg, const uint8_t *msg,
			    size_t len, bool tcp, struct dns_query *q, uint8_t *out, size_t *out_len)
{
	switch (dns_query_parse(msg, len, q)) {
	case DNS_PARSE_DROP:
		return DNS_VERDICT_DROP;
	case DNS_PARSE_FORMERR:
		*out_len = dns_build_error(out, q, DNS_R_FORMERR);
		return DNS_VERDICT_REPLY;
	case DNS_PARSE_NOTIMP:
		*out_len = dns_build_error(out, q, DNS_R_NOTIMP);
		return DNS_VERDICT_REPLY;
	case DNS_PARSE_OK:
		break;
	}
	uint16_t rcode = 0;
	if (q->has_edns && q->edns_version > 0)
		rcode = DNS_R_BADVERS; /* RFC 6891 6.1.3 */
	else if (q->qclass != DNS_C_IN && q->qclass != DNS_C_ANY)
		rcode = DNS_R_REFUSED;
	else if (q->qtype == DNS_T_OPT)
		rcode = DNS_R_FORMERR;
	else if (q->qtype == DNS_T_AXFR || q->qtype == DNS_T_IXFR)
		rcode = DNS_R_REFUSED; /* no zone transfers: nothing to be secondary to */
	if (rcode) {
		*out_len = dns_build_error(out, q, rcode);
		return DNS_VERDICT_REPLY;
	}

	size_t limit = tcp ? DNS_ANSWER_BUF : q->udp_limit;
	if (limit > DNS_ANSWER_BUF)
		limit = DNS_ANSWER_BUF;
	uint16_t ra = cfg->forward ? DNS_F_RA : 0;
	struct dns_builder b;
	struct dns_name apex;
	const struct dns_name *target;
	dns_store_rdlock(st);
	const struct ip_addr *a = dns_store_find(st, &q->lname);
	if (a && type_matches(q->qtype, a)) {
		/* Most queries, with one lookup: a registered name is always
		 * ours (its apex is the zone or the name itself), and the
		 * answer is the query's own question and one record. */
		bool v4 = a->family == AF_INET;
		*out_len = dns_build_answer1(out, q, DNS_F_AA | ra, v4 ? DNS_T_A : DNS_T_AAAA, cfg->ttl, a->bytes,
					     v4 ? 4 : 16);
		dns_store_unlock(st);
		return DNS_VERDICT_REPLY;
	}
	if (find_apex(st, &q->lname, &apex)) {
		dns_builder_init(&b, out, limit, q, DNS_F_AA | ra, DNS_R_NOERROR);
		answer_authoritative(&b, st, cfg, q, &apex, a);
	} else if ((target = dns_store_find_ptr(st, &q->lname))) {
		dns_builder_init(&b, out, limit, q, DNS_F_AA | ra, DNS_R_NOERROR);
		if (q->qtype == DNS_T_PTR || q->qtype == DNS_T_ANY)
			dns_builder_add_ptr(&b, 0, &q->qname, cfg->ttl, target);
		else
			add_negative_soa(&b, st, cfg, &q->lname);
	} else {
		dns_store_unlock(st);
		if (cfg->forward)
			return DNS_VERDICT_FORWARD;
		*out_len = dns_build_error(out, q, DNS_R_REFUSED);
		return DNS_VERDICT_REPLY;
	}
	dns_store_unlock(st);
	*out_len = dns_builder_finish(&b);
	return DNS_VERDICT_REPLY;
}
