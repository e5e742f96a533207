// SPDX-License-Identifier: MIT
#include "dns/name.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static inline uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_';
}

/* Writes the reason into why (when given) and returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The characters and labels of text[0..end); the first fault goes to why. */
static int check_labels(const char *text, size_t end, char *why, size_t why_len)
{
	size_t label = 0;

	for (size_t i = 0; i < end; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '.') {
			if (label == 0)
				return refuse(why, why_len, "empty label at byte %zu (a leading dot or \"..\")", i);
			label = 0;
			continue;
		}
		if (!host_char((char)c)) {
			if (c >= 0x20 && c < 0x7f)
				return refuse(why, why_len,
					      "character '%c' is not allowed (letters, digits, '-' and '_' only)", c);
			return refuse(why, why_len, "byte 0x%02x is not allowed (letters, digits, '-' and '_' only)",
				      c);
		}
		if (++label > DNS_LABEL_MAX)
			return refuse(why, why_len, "label \"%.16s...\" is longer than %d bytes", text + i + 1 - label,
				      DNS_LABEL_MAX);
	}
	/* "a.." ends in an empty label just before the root's dot. */
	if (label == 0)
		return refuse(why, why_len, "empty label at byte %zu (a leading dot or \"..\")", end);
	return 0;
}

int dns_name_parse(const char *text, const struct dns_name *origin, bool allow_root, struct dns_name *out,
		   char *why, size_t why_len)
{
	struct dns_name n = { 0 };
	size_t tlen = text ? strlen(text) : 0, end, wire, w = 0;
	bool absolute;
	int err;

	if (!tlen)
		return refuse(why, why_len, "the name is empty");
	if (tlen == 1 && text[0] == '.') {
		if (!allow_root)
			return refuse(why, why_len, "the root \".\" is not allowed here");
		n.len = 1;
		*out = n;
		return 0;
	}
	absolute = text[tlen - 1] == '.';
	end = absolute ? tlen - 1 : tlen;
	if ((err = check_labels(text, end, why, why_len)))
		return err;
	if (!absolute && !origin)
		return refuse(why, why_len, "the name is relative (no trailing dot) and has no zone to complete it");
	/* Each label's length byte stands in for its dot; the root label (or
	 * the origin, which ends with one) follows. */
	wire = absolute ? tlen + 1 : tlen + 1 + origin->len;
	if (wire > DNS_NAME_MAX) {
		char zone[DNS_NAME_STRLEN];

		return refuse(why, why_len, "the name is %zu bytes long in DNS wire form%s%s, more than %d", wire,
			      absolute ? "" : " with the zone ",
			      absolute ? "" : dns_name_to_text(origin, zone, sizeof(zone)), DNS_NAME_MAX);
	}
	for (size_t pos = 0; pos < end;) {
		size_t l = strcspn(text + pos, "."); /* text[end] is a dot or the NUL */

		n.data[w++] = (uint8_t)l;
		for (size_t i = 0; i < l; i++)
			n.data[w++] = ascii_lower((uint8_t)text[pos + i]);
		pos += l + 1; /* past the dot (or end) */
	}
	if (absolute) {
		n.data[w++] = 0;
	} else {
		memcpy(n.data + w, origin->data, origin->len);
		w += origin->len;
	}
	n.len = (uint8_t)w;
	*out = n;
	return 0;
}

int dns_name_from_text(const char *text, const struct dns_name *origin, bool allow_root,
		       struct dns_name *out)
{
	return dns_name_parse(text, origin, allow_root, out, NULL, 0);
}

const char *dns_name_to_text(const struct dns_name *n, char *buf, size_t len)
{
	size_t w = 0, i = 0;
	if (len == 0)
		return buf;
	if (n->len <= 1) {
		snprintf(buf, len, ".");
		return buf;
	}
	while (i < n->len && n->data[i]) {
		uint8_t l = n->data[i++];
		for (uint8_t k = 0; k < l && w + 2 < len; k++)
			buf[w++] = (char)n->data[i + k];
		i += l;
		if (w + 1 < len)
			buf[w++] = '.';
	}
	buf[w] = '\0';
	return buf;
}

void dns_name_lower(struct dns_name *n)
{
	for (size_t i = 0; i < n->len && n->data[i];) {
		uint8_t l = n->data[i++];
		for (uint8_t k = 0; k < l; k++)
			n->data[i + k] = ascii_lower(n->data[i + k]);
		i += l;
	}
}

bool dns_name_equal(const struct dns_name *a, const struct dns_name *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

uint32_t dns_name_hash(const struct dns_name *n)
{
	/* FNV-1a: names are short and this sits on the per-query path. */
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n->len; i++)
		h = (h ^ n->data[i]) * 16777619u;
	return h;
}

bool dns_name_is_subdomain(const struct dns_name *n, const struct dns_name *parent)
{
	if (parent->len > n->len)
		return false;
	/* Walk to the label boundary that leaves exactly parent->len bytes. */
	size_t i = 0;
	while (n->len - i > parent->len)
		i += 1u + n->data[i];
	return n->len - i == parent->len && memcmp(n->data + i, parent->data, parent->len) == 0;
}

bool dns_name_parent(const struct dns_name *n, struct dns_name *out)
{
	if (n->len <= 1)
		return false;
	size_t skip = 1u + n->data[0];
	struct dns_name p;
	p.len = (uint8_t)(n->len - skip);
	memcpy(p.data, n->data + skip, p.len);
	*out = p;
	return true;
}

int dns_name_prepend(struct dns_name *n, const char *label, size_t label_len)
{
	if (label_len == 0 || label_len > DNS_LABEL_MAX || n->len + 1 + label_len > DNS_NAME_MAX)
		return -EINVAL;
	memmove(n->data + 1 + label_len, n->data, n->len);
	n->data[0] = (uint8_t)label_len;
	memcpy(n->data + 1, label, label_len);
	n->len = (uint8_t)(n->len + 1 + label_len);
	return 0;
}

void dns_name_reverse(const struct ip_addr *a, struct dns_name *out)
{
	static const char hex[] = "0123456789abcdef";
	static const uint8_t in_addr_arpa[] = "\7in-addr\4arpa";
	static const uint8_t ip6_arpa[] = "\3ip6\4arpa";
	size_t w = 0;
	if (a->family == AF_INET) {
		for (int i = 3; i >= 0; i--) {
			char d[4];
			int l = snprintf(d, sizeof(d), "%u", a->bytes[i]);
			out->data[w++] = (uint8_t)l;
			memcpy(out->data + w, d, (size_t)l);
			w += (size_t)l;
		}
		memcpy(out->data + w, in_addr_arpa, sizeof(in_addr_arpa)); /* with the root label */
		w += sizeof(in_addr_arpa);
	} else {
		for (int i = 15; i >= 0; i--) {
			out->data[w++] = 1;
			out->data[w++] = (uint8_t)hex[a->bytes[i] & 0xf];
			out->data[w++] = 1;
			out->data[w++] = (uint8_t)hex[a->bytes[i] >> 4];
		}
		memcpy(out->data + w, ip6_arpa, sizeof(ip6_arpa));
		w += sizeof(ip6_arpa);
	}
	out->len = (uint8_t)w;
}

int dns_name_read(const uint8_t *msg, size_t len, size_t *off, struct dns_name *out)
{
	size_t pos = *off, end = 0, w = 0;
	bool jumped = false;
	for (;;) {
		if (pos >= len)
			return -EBADMSG;
		uint8_t l = msg[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return -EBADMSG;
			size_t target = ((size_t)(l & 0x3f) << 8) | msg[pos + 1];
			/* Strictly backwards, so every jump makes progress towards 0:
			 * no loop can form however the pointers are arranged. */
			if (target >= pos)
				return -EBADMSG;
			if (!jumped)
				end = pos + 2;
			jumped = true;
			pos = target;
			continue;
		}
		if (l & 0xc0) /* 0x40 extended / 0x80 reserved label types */
			return -EBADMSG;
		if (w + 1 + l > DNS_NAME_MAX || pos + 1 + l > len)
			return -EBADMSG;
		out->data[w++] = l;
		if (l == 0)
			break;
		memcpy(out->data + w, msg + pos + 1, l);
		w += l;
		pos += 1u + l;
	}
	out->len = (uint8_t)w;
	*off = jumped ? end : pos + 1;
	return 0;
}
