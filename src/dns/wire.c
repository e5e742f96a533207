// SPDX-License-Identifier: MIT
#include "dns/wire.h"

#include <errno.h>
#include <string.h>

static inline uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int dns_rr_skip(const uint8_t *msg, size_t len, size_t *off, uint16_t *type_out)
{
	struct dns_name n;
	size_t o = *off;
	if (dns_name_read(msg, len, &o, &n) < 0 || len - o < 10)
		return -EBADMSG;
	size_t rdlen = be16_get(msg + o + 8);
	if (len - o - 10 < rdlen)
		return -EBADMSG;
	if (type_out)
		*type_out = be16_get(msg + o);
	*off = o + 10 + rdlen;
	return 0;
}

enum dns_parse_result dns_query_parse(const uint8_t *msg, size_t len, struct dns_query *q)
{
	q->has_question = false;
	q->has_edns = false;
	q->edns_version = 0;
	q->udp_limit = DNS_UDP_MIN;
	if (len < DNS_HEADER_LEN)
		return DNS_PARSE_DROP;
	q->id = be16_get(msg);
	q->flags = be16_get(msg + 2);
	if (q->flags & DNS_F_QR) /* a response: answering it could start a loop */
		return DNS_PARSE_DROP;
	if (q->flags & DNS_F_OPCODE)
		return DNS_PARSE_NOTIMP;
	if (be16_get(msg + 4) != 1)
		return DNS_PARSE_FORMERR;
	size_t off = DNS_HEADER_LEN;
	if (dns_name_read(msg, len, &off, &q->qname) < 0 || len - off < 4)
		return DNS_PARSE_FORMERR;
	q->qtype = be16_get(msg + off);
	q->qclass = be16_get(msg + off + 2);
	off += 4;
	q->lname = q->qname;
	dns_name_lower(&q->lname);
	q->has_question = true;

	unsigned skip = (unsigned)be16_get(msg + 6) + be16_get(msg + 8);
	for (unsigned i = 0; i < skip; i++)
		if (dns_rr_skip(msg, len, &off, NULL) < 0)
			return DNS_PARSE_FORMERR;
	unsigned additional = be16_get(msg + 10);
	for (unsigned i = 0; i < additional; i++) {
		size_t start = off;
		uint16_t type;
		if (dns_rr_skip(msg, len, &off, &type) < 0)
			return DNS_PARSE_FORMERR;
		if (type != DNS_T_OPT)
			continue;
		/* RFC 6891 6.1.1: one OPT, owned by the root. */
		if (q->has_edns || msg[start] != 0)
			return DNS_PARSE_FORMERR;
		uint16_t payload = be16_get(msg + start + 3);
		q->has_edns = true;
		q->edns_version = msg[start + 6];
		q->udp_limit = payload > DNS_UDP_MIN ? payload : DNS_UDP_MIN;
	}
	return DNS_PARSE_OK;
}

/* Bounds-checked appends: past the limit they only set b->overflow. */
static void put_bytes(struct dns_builder *b, const void *p, size_t n)
{
	if (b->overflow || b->limit - b->len < n) {
		b->overflow = true;
		return;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void put_u16(struct dns_builder *b, uint16_t v)
{
	uint8_t t[2];
	be16_put(t, v);
	put_bytes(b, t, 2);
}

static void put_u32(struct dns_builder *b, uint32_t v)
{
	uint8_t t[4];
	put32(t, v);
	put_bytes(b, t, 4);
}

/* Does the (lower-case, uncompressed) name at wire equal the name written
 * at buf[off]? Our own output only, so pointers are trusted. */
static bool name_equal_at(const uint8_t *buf, size_t off, const uint8_t *wire)
{
	for (;;) {
		uint8_t l = buf[off];
		if ((l & 0xc0) == 0xc0) {
			off = ((size_t)(l & 0x3f) << 8) | buf[off + 1];
			continue;
		}
		if (l != *wire)
			return false;
		if (l == 0)
			return true;
		for (uint8_t i = 1; i <= l; i++)
			if (ascii_lower(buf[off + i]) != wire[i])
				return false;
		off += 1u + l;
		wire += 1u + l;
	}
}

/* Name compression (RFC 1035 4.1.4): the longest suffix already in the
 * message becomes a pointer; labels written in full become new targets. */
static void put_name(struct dns_builder *b, const struct dns_name *n)
{
	struct dns_name lower = *n;
	dns_name_lower(&lower);
	size_t i = 0;
	while (lower.data[i]) {
		for (unsigned c = 0; c < b->ncomp; c++) {
			if (name_equal_at(b->buf, b->comp[c], lower.data + i)) {
				put_bytes(b, n->data, i);
				put_u16(b, (uint16_t)(0xc000 | b->comp[c]));
				goto record;
			}
		}
		i += 1u + lower.data[i];
	}
	put_bytes(b, n->data, n->len);
record:
	if (b->overflow)
		return;
	/* The labels just written in full start at len - (bytes written). */
	size_t start = b->len - (lower.data[i] ? i + 2 : n->len);
	for (size_t k = 0; k < i && b->ncomp < sizeof(b->comp) / sizeof(b->comp[0]); k += 1u + n->data[k])
		if (start + k < 0x4000)
			b->comp[b->ncomp++] = (uint16_t)(start + k);
}

static void bump_count(struct dns_builder *b, int section)
{
	uint8_t *p = b->buf + 6 + 2 * section;
	be16_put(p, (uint16_t)(be16_get(p) + 1));
}

void dns_builder_init(struct dns_builder *b, uint8_t *buf, size_t limit, const struct dns_query *q,
		      uint16_t flags, uint16_t rcode)
{
	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->edns = q->has_edns;
	b->rcode = rcode;
	/* Keep room for the OPT record we must add at the end. */
	b->limit = limit - (b->edns ? DNS_OPT_RR_LEN : 0);
	uint8_t h[DNS_HEADER_LEN] = { 0 };
	be16_put(h, q->id);
	be16_put(h + 2, (uint16_t)(DNS_F_QR | (q->flags & (DNS_F_OPCODE | DNS_F_RD | DNS_F_CD)) | flags |
				    (rcode & DNS_F_RCODE)));
	put_bytes(b, h, sizeof(h));
	if (q->has_question) {
		be16_put(b->buf + 4, 1);
		put_name(b, &q->qname);
		put_u16(b, q->qtype);
		put_u16(b, q->qclass);
	}
	b->question_end = b->len;
}

static void truncate_to_question(struct dns_builder *b)
{
	b->len = b->question_end;
	b->truncated = true;
	memset(b->buf + 6, 0, 6);
	b->buf[2] |= DNS_F_TC >> 8;
}

/* Starts a record; returns where it began, for the rollback on overflow. */
static size_t rr_begin(struct dns_builder *b, const struct dns_name *owner, uint16_t type, uint32_t ttl)
{
	size_t start = b->len;
	put_name(b, owner);
	put_u16(b, type);
	put_u16(b, DNS_C_IN);
	put_u32(b, ttl);
	put_u16(b, 0); /* rdlength, patched by rr_end */
	return start;
}

static void rr_end(struct dns_builder *b, int section, size_t start, unsigned ncomp_before)
{
	if (b->overflow) {
		b->overflow = false;
		b->ncomp = ncomp_before;
		truncate_to_question(b);
		return;
	}
	/* rdata starts right after the 2-byte rdlength, which is after the
	 * owner name and 8 bytes of type/class/ttl. */
	size_t o = start;
	struct dns_name skip;
	(void)dns_name_read(b->buf, b->len, &o, &skip);
	be16_put(b->buf + o + 8, (uint16_t)(b->len - o - 10));
	bump_count(b, section);
}

void dns_builder_add_rr(struct dns_builder *b, int section, const struct dns_name *owner, uint16_t type,
			uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	if (b->truncated)
		return;
	unsigned nc = b->ncomp;
	size_t start = rr_begin(b, owner, type, ttl);
	put_bytes(b, rdata, rdlen);
	rr_end(b, section, start, nc);
}

void dns_builder_add_ptr(struct dns_builder *b, int section, const struct dns_name *owner, uint32_t ttl,
			 const struct dns_name *target)
{
	if (b->truncated)
		return;
	unsigned nc = b->ncomp;
	size_t start = rr_begin(b, owner, DNS_T_PTR, ttl);
	put_name(b, target);
	rr_end(b, section, start, nc);
}

void dns_builder_add_soa(struct dns_builder *b, int section, const struct dns_name *apex, uint32_t ttl,
			 uint32_t serial, uint32_t minimum)
{
	if (b->truncated)
		return;
	struct dns_name mname = *apex, rname = *apex;
	/* Both fit: a label of 10 on a name of at most 255 is rejected below,
	 * and then the record is written with the apex itself. */
	if (dns_name_prepend(&mname, "ns", 2) < 0)
		mname = *apex;
	if (dns_name_prepend(&rname, "hostmaster", 10) < 0)
		rname = *apex;
	unsigned nc = b->ncomp;
	size_t start = rr_begin(b, apex, DNS_T_SOA, ttl);
	put_name(b, &mname);
	put_name(b, &rname);
	put_u32(b, serial);
	put_u32(b, 3600);   /* refresh: no secondaries, conventional value */
	put_u32(b, 600);    /* retry */
	put_u32(b, 86400);  /* expire */
	put_u32(b, minimum); /* negative-caching TTL (RFC 2308 4) */
	rr_end(b, section, start, nc);
}

static void put_opt(uint8_t *p, uint16_t ext_rcode_bits)
{
	p[0] = 0;
	be16_put(p + 1, DNS_T_OPT);
	be16_put(p + 3, DNS_EDNS_PAYLOAD);
	p[5] = (uint8_t)(ext_rcode_bits >> 4); /* upper 8 bits of the 12-bit rcode */
	p[6] = 0;			      /* version */
	be16_put(p + 7, 0);		      /* flags: no DO, we do not sign */
	be16_put(p + 9, 0);		      /* rdlength */
}

size_t dns_builder_finish(struct dns_builder *b)
{
	if (b->edns) {
		put_opt(b->buf + b->len, b->rcode); /* room was reserved by init */
		b->len += DNS_OPT_RR_LEN;
		bump_count(b, 2);
	}
	return b->len;
}

size_t dns_build_answer1(uint8_t *buf, const struct dns_query *q, uint16_t flags, uint16_t type, uint32_t ttl,
			 const uint8_t *rdata, uint16_t rdlen)
{
	/* What the builder writes for one record owned by the question's
	 * name (its owner compresses to the question at offset 12), without
	 * its compression bookkeeping; it always fits in 512 bytes. */
	uint8_t *p = buf;
	be16_put(p, q->id);
	be16_put(p + 2, (uint16_t)(DNS_F_QR | (q->flags & (DNS_F_OPCODE | DNS_F_RD | DNS_F_CD)) | flags));
	be16_put(p + 4, 1);
	be16_put(p + 6, 1);
	be16_put(p + 8, 0);
	be16_put(p + 10, q->has_edns ? 1 : 0);
	p += DNS_HEADER_LEN;
	memcpy(p, q->qname.data, q->qname.len);
	p += q->qname.len;
	be16_put(p, q->qtype);
	be16_put(p + 2, q->qclass);
	be16_put(p + 4, 0xc000 | DNS_HEADER_LEN);
	be16_put(p + 6, type);
	be16_put(p + 8, DNS_C_IN);
	put32(p + 10, ttl);
	be16_put(p + 14, rdlen);
	memcpy(p + 16, rdata, rdlen);
	p += 16 + rdlen;
	if (q->has_edns) {
		put_opt(p, 0);
		p += DNS_OPT_RR_LEN;
	}
	return (size_t)(p - buf);
}

size_t dns_build_error(uint8_t *buf, const struct dns_query *q, uint16_t rcode)
{
	struct dns_builder b;
	dns_builder_init(&b, buf, DNS_UDP_MIN, q, 0, rcode);
	return dns_builder_finish(&b);
}

size_t dns_build_forward_query(uint8_t *buf, const struct dns_query *q, uint16_t id)
{
	memset(buf, 0, DNS_HEADER_LEN);
	be16_put(buf, id);
	be16_put(buf + 2, q->flags & (DNS_F_RD | DNS_F_CD));
	be16_put(buf + 4, 1);
	be16_put(buf + 10, 1);
	size_t off = DNS_HEADER_LEN;
	memcpy(buf + off, q->qname.data, q->qname.len);
	off += q->qname.len;
	be16_put(buf + off, q->qtype);
	be16_put(buf + off + 2, q->qclass);
	off += 4;
	put_opt(buf + off, 0);
	return off + DNS_OPT_RR_LEN;
}

int dns_response_check(const uint8_t *msg, size_t len, uint16_t id, const struct dns_query *q)
{
	if (len < DNS_HEADER_LEN || be16_get(msg) != id)
		return -EBADMSG;
	uint16_t flags = be16_get(msg + 2);
	if (!(flags & DNS_F_QR) || (flags & DNS_F_OPCODE) || be16_get(msg + 4) != 1)
		return -EBADMSG;
	size_t off = DNS_HEADER_LEN;
	struct dns_name n;
	if (dns_name_read(msg, len, &off, &n) < 0 || len - off < 4)
		return -EBADMSG;
	dns_name_lower(&n);
	if (!dns_name_equal(&n, &q->lname) || be16_get(msg + off) != q->qtype ||
	    be16_get(msg + off + 2) != q->qclass)
		return -EBADMSG;
	off += 4;
	if (flags & DNS_F_TC) /* may be cut anywhere; relayed as header + question */
		return 0;
	unsigned rrs = (unsigned)be16_get(msg + 6) + be16_get(msg + 8) + be16_get(msg + 10);
	for (unsigned i = 0; i < rrs; i++)
		if (dns_rr_skip(msg, len, &off, NULL) < 0)
			return -EBADMSG;
	return 0;
}

size_t dns_response_relay(uint8_t *msg, size_t len, const struct dns_query *client, size_t limit)
{
	be16_put(msg, client->id);
	size_t off = DNS_HEADER_LEN;
	struct dns_name n;
	(void)dns_name_read(msg, len, &off, &n); /* checked by dns_response_check */
	off += 4;
	size_t question_end = off;
	bool cut = (msg[2] & (DNS_F_TC >> 8)) != 0;

	if (!cut && !client->has_edns) {
		/* Remove the OPT record our own query asked for. */
		unsigned an_ns = (unsigned)be16_get(msg + 6) + be16_get(msg + 8), ar = be16_get(msg + 10);
		for (unsigned i = 0; i < an_ns; i++)
			(void)dns_rr_skip(msg, len, &off, NULL);
		for (unsigned i = 0; i < ar; i++) {
			size_t start = off;
			uint16_t type;
			(void)dns_rr_skip(msg, len, &off, &type);
			if (type == DNS_T_OPT) {
				memmove(msg + start, msg + off, len - off);
				len -= off - start;
				be16_put(msg + 10, (uint16_t)(ar - 1));
				break;
			}
		}
	}
	if (cut || len > limit) {
		len = question_end;
		memset(msg + 6, 0, 6);
		msg[2] |= DNS_F_TC >> 8;
		if (client->has_edns) {
			put_opt(msg + len, 0);
			len += DNS_OPT_RR_LEN;
			be16_put(msg + 10, 1);
		}
	}
	return len;
}
