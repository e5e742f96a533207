/* SPDX-License-Identifier: MIT */
/* Builds query messages for the dns unit tests. */
#ifndef TEST_DNS_QUERYBUF_H
#define TEST_DNS_QUERYBUF_H

#include <string.h>

#include "dns/name.h"
#include "dns/wire.h"

/* A query for name/qtype (IN); edns_size 0 = no OPT record. */
static inline size_t make_query(uint8_t *buf, uint16_t id, const char *name, uint16_t qtype, uint16_t edns_size)
{
	struct dns_name n;
	if (dns_name_from_text(name, NULL, true, &n) < 0) {
		/* Keep case for the case-insensitivity tests: copy by hand. */
		return 0;
	}
	/* dns_name_from_text lower-cases; restore the caller's case. */
	size_t t = 0;
	for (size_t i = 0; i < n.len && n.data[i]; i += 1u + n.data[i]) {
		memcpy(n.data + i + 1, name + t, n.data[i]);
		t += n.data[i] + 1u;
	}
	memset(buf, 0, DNS_HEADER_LEN);
	be16_put(buf, id);
	be16_put(buf + 2, DNS_F_RD);
	be16_put(buf + 4, 1);
	size_t off = DNS_HEADER_LEN;
	memcpy(buf + off, n.data, n.len);
	off += n.len;
	be16_put(buf + off, qtype);
	be16_put(buf + off + 2, DNS_C_IN);
	off += 4;
	if (edns_size) {
		be16_put(buf + 10, 1);
		buf[off] = 0;
		be16_put(buf + off + 1, DNS_T_OPT);
		be16_put(buf + off + 3, edns_size);
		memset(buf + off + 5, 0, 6);
		off += DNS_OPT_RR_LEN;
	}
	return off;
}

static inline uint16_t msg_rcode(const uint8_t *m)
{
	return m[3] & 0xf;
}

static inline uint16_t msg_count(const uint8_t *m, int section) /* 0 qd, 1 an, 2 ns, 3 ar */
{
	return be16_get(m + 4 + 2 * section);
}

/* The idx-th record of section (1 an, 2 ns, 3 ar): owner, type, ttl and
 * where its rdata starts. Returns 0 or -1. */
struct rr_view {
	struct dns_name owner;
	uint16_t type;
	uint32_t ttl;
	size_t rdata;
	uint16_t rdlen;
};

static inline int msg_rr(const uint8_t *m, size_t len, int section, unsigned idx, struct rr_view *rr)
{
	size_t off = DNS_HEADER_LEN;
	struct dns_name n;
	for (unsigned i = 0; i < msg_count(m, 0); i++) {
		if (dns_name_read(m, len, &off, &n) < 0)
			return -1;
		off += 4;
	}
	unsigned skip = idx;
	for (int s = 1; s < section; s++)
		skip += msg_count(m, s);
	if (idx >= msg_count(m, section))
		return -1;
	for (unsigned i = 0; i < skip; i++)
		if (dns_rr_skip(m, len, &off, NULL) < 0)
			return -1;
	if (dns_name_read(m, len, &off, &rr->owner) < 0 || len - off < 10)
		return -1;
	rr->type = be16_get(m + off);
	rr->ttl = ((uint32_t)be16_get(m + off + 4) << 16) | be16_get(m + off + 6);
	rr->rdlen = be16_get(m + off + 8);
	rr->rdata = off + 10;
	return rr->rdata + rr->rdlen <= len ? 0 : -1;
}

#endif
