/* SPDX-License-Identifier: MIT */
/*
 * Domain names in wire form (RFC 1035 3.1): length-prefixed labels ending with
 * the root label. Every name the server stores or compares is kept in this
 * form, lower-cased, so lookups are a hash and a memcmp, never a text parse.
 */
#ifndef OVL_DNS_NAME_H
#define OVL_DNS_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"

#define DNS_NAME_MAX 255  /* wire bytes, including the root label */
#define DNS_LABEL_MAX 63
/* Text form with the trailing dot and NUL; no escaping is ever needed because
 * dns_name_from_text only accepts host-name characters. */
#define DNS_NAME_STRLEN 256

struct dns_name {
	uint8_t len; /* total wire bytes, root label included (>= 1) */
	uint8_t data[DNS_NAME_MAX];
};

/*
 * Parse a text name. Ending with '.' makes it absolute; otherwise it is taken
 * relative to origin (which may be NULL only for absolute names). Accepts
 * letters, digits, '-' and '_'; labels of 1..63 bytes; at most 255 bytes in
 * wire form. The result is lower-cased. "." (the root) is accepted only when
 * allow_root is true. Returns 0 or -EINVAL.
 */
int dns_name_from_text(const char *text, const struct dns_name *origin, bool allow_root,
		       struct dns_name *out);
/*
 * The same parser, for names a user typed: on -EINVAL, why (when not NULL)
 * gets one sentence saying what is wrong and where ("empty label at byte 2
 * (a leading dot or \"..\")"), for an error message that points at the fix.
 */
int dns_name_parse(const char *text, const struct dns_name *origin, bool allow_root, struct dns_name *out,
		   char *why, size_t why_len);
/* "svc.zlayer.local." into buf (>= DNS_NAME_STRLEN). Returns buf. */
const char *dns_name_to_text(const struct dns_name *n, char *buf, size_t len);

void dns_name_lower(struct dns_name *n);
bool dns_name_equal(const struct dns_name *a, const struct dns_name *b); /* exact bytes */
uint32_t dns_name_hash(const struct dns_name *n);
/* True when n equals parent or lies below it (both lower-case). */
bool dns_name_is_subdomain(const struct dns_name *n, const struct dns_name *parent);
/* Drop the leftmost label; returns false at the root. */
bool dns_name_parent(const struct dns_name *n, struct dns_name *out);
/* Prepend one label (text, 1..63 bytes); -EINVAL when it would not fit. */
int dns_name_prepend(struct dns_name *n, const char *label, size_t label_len);

/* "5.0.200.10.in-addr.arpa." / nibble form under ip6.arpa. for an address. */
void dns_name_reverse(const struct ip_addr *a, struct dns_name *out);

/*
 * Read a possibly compressed name at msg[*off]. Pointers must point strictly
 * backwards (so no loop can form) and the expanded name must fit in 255
 * bytes; labels must be 1..63 bytes (0x40 and 0x80 label types are errors).
 * Case is preserved. On success *off is past the name as stored in msg.
 * Returns 0 or -EBADMSG.
 */
int dns_name_read(const uint8_t *msg, size_t len, size_t *off, struct dns_name *out);

#endif
