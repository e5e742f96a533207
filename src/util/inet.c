// SPDX-License-Identifier: MIT
#include "util/inet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ip_addr_parse(const char *s, struct ip_addr *out)
{
	struct ip_addr a;
	memset(&a, 0, sizeof(a));
	if (!s || !*s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &a.v4) == 1) {
		a.family = AF_INET;
	} else if (inet_pton(AF_INET6, s, &a.v6) == 1) {
		a.family = AF_INET6;
	} else {
		return -EINVAL;
	}
	*out = a;
	return 0;
}

const char *ip_addr_format(const struct ip_addr *a, char *buf, size_t len)
{
	if (!a->family || !inet_ntop(a->family, a->bytes, buf, (socklen_t)len))
		snprintf(buf, len, "<unset>");
	return buf;
}

bool ip_addr_equal(const struct ip_addr *a, const struct ip_addr *b)
{
	if (a->family != b->family)
		return false;
	return memcmp(a->bytes, b->bytes, ip_addr_bits(a) / 8) == 0;
}

bool ip_addr_is_unspecified(const struct ip_addr *a)
{
	static const uint8_t zero[16];
	return !a->family || memcmp(a->bytes, zero, ip_addr_bits(a) / 8) == 0;
}

void ip_addr_from_in(struct ip_addr *out, struct in_addr v4)
{
	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	out->v4 = v4;
}

void ip_addr_from_in6(struct ip_addr *out, const struct in6_addr *v6)
{
	memset(out, 0, sizeof(*out));
	out->family = AF_INET6;
	out->v6 = *v6;
}

int ip_addr_compare(const struct ip_addr *a, const struct ip_addr *b)
{
	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	return memcmp(a->bytes, b->bytes, ip_addr_bits(a) / 8);
}

static unsigned __int128 to_u128(const struct ip_addr *a)
{
	unsigned __int128 v = 0;
	for (unsigned i = 0; i < ip_addr_bits(a) / 8; i++)
		v = (v << 8) | a->bytes[i];
	return v;
}

static void from_u128(struct ip_addr *a, sa_family_t family, unsigned __int128 v)
{
	memset(a, 0, sizeof(*a));
	a->family = family;
	unsigned n = family == AF_INET6 ? 16 : 4;
	for (unsigned i = n; i-- > 0;) {
		a->bytes[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static unsigned __int128 family_max(sa_family_t family)
{
	return family == AF_INET6 ? ~(unsigned __int128)0 : (unsigned __int128)0xffffffffu;
}

int ip_addr_add(const struct ip_addr *base, unsigned __int128 offset, struct ip_addr *out)
{
	unsigned __int128 v = to_u128(base);
	unsigned __int128 max = family_max(base->family);
	if (offset > max - v)
		return -ERANGE;
	from_u128(out, base->family, v + offset);
	return 0;
}

unsigned __int128 ip_addr_sub(const struct ip_addr *a, const struct ip_addr *b)
{
	return to_u128(a) - to_u128(b);
}

/* A decimal number of at most max_digits digits, no sign or spaces, <= max. */
static int parse_decimal(const char *s, unsigned max_digits, unsigned max, unsigned *out)
{
	if (!*s || strlen(s) > max_digits)
		return -EINVAL;
	unsigned v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int ip_prefix_parse(const char *s, struct ip_prefix *out)
{
	char buf[IP_PREFIX_STRLEN];
	struct ip_prefix p;
	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (ip_addr_parse(buf, &p.addr) < 0)
		return -EINVAL;
	if (slash) {
		unsigned len;
		if (parse_decimal(slash + 1, 3, ip_addr_bits(&p.addr), &len) < 0)
			return -EINVAL;
		p.len = (uint8_t)len;
	} else {
		p.len = (uint8_t)ip_addr_bits(&p.addr);
	}
	*out = p;
	return 0;
}

const char *ip_prefix_format(const struct ip_prefix *p, char *buf, size_t len)
{
	char a[IP_ADDR_STRLEN];
	snprintf(buf, len, "%s/%u", ip_addr_format(&p->addr, a, sizeof(a)), p->len);
	return buf;
}

static unsigned __int128 host_mask(const struct ip_prefix *p)
{
	unsigned hb = ip_prefix_host_bits(p);
	if (hb >= 128)
		return ~(unsigned __int128)0;
	return (((unsigned __int128)1) << hb) - 1;
}

unsigned ip_prefix_host_bits(const struct ip_prefix *p)
{
	return ip_addr_bits(&p->addr) - p->len;
}

struct ip_prefix ip_prefix_network(const struct ip_prefix *p)
{
	struct ip_prefix n = *p;
	from_u128(&n.addr, p->addr.family, to_u128(&p->addr) & ~host_mask(p) & family_max(p->addr.family));
	return n;
}

bool ip_prefix_is_network(const struct ip_prefix *p)
{
	return (to_u128(&p->addr) & host_mask(p)) == 0;
}

bool ip_prefix_contains(const struct ip_prefix *p, const struct ip_addr *a)
{
	if (p->addr.family != a->family)
		return false;
	unsigned __int128 m = ~host_mask(p);
	return (to_u128(&p->addr) & m) == (to_u128(a) & m);
}

bool ip_prefix_overlaps(const struct ip_prefix *a, const struct ip_prefix *b)
{
	if (a->addr.family != b->addr.family)
		return false;
	/* Two prefixes overlap iff the shorter one contains the other's network. */
	return a->len <= b->len ? ip_prefix_contains(a, &b->addr) : ip_prefix_contains(b, &a->addr);
}

bool ip_prefix_equal(const struct ip_prefix *a, const struct ip_prefix *b)
{
	return a->len == b->len && ip_addr_equal(&a->addr, &b->addr);
}

struct ip_addr ip_prefix_last(const struct ip_prefix *p)
{
	struct ip_addr last;
	from_u128(&last, p->addr.family, (to_u128(&p->addr) | host_mask(p)) & family_max(p->addr.family));
	return last;
}

int ip_endpoint_parse(const char *s, struct ip_endpoint *out)
{
	char buf[IP_ENDPOINT_STRLEN];
	struct ip_endpoint e;
	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	char *host, *port;
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		*close = '\0';
		host = buf + 1;
		port = close + 2;
		if (ip_addr_parse(host, &e.addr) < 0 || e.addr.family != AF_INET6)
			return -EINVAL;
	} else {
		char *colon = strrchr(buf, ':');
		if (!colon)
			return -EINVAL;
		*colon = '\0';
		host = buf;
		port = colon + 1;
		/* An unbracketed IPv6 address is ambiguous with its port: refuse it. */
		if (ip_addr_parse(host, &e.addr) < 0 || e.addr.family != AF_INET)
			return -EINVAL;
	}
	unsigned portnum;
	if (parse_decimal(port, 5, 65535, &portnum) < 0)
		return -EINVAL;
	e.port = (uint16_t)portnum;
	*out = e;
	return 0;
}

const char *ip_endpoint_format(const struct ip_endpoint *e, char *buf, size_t len)
{
	char a[IP_ADDR_STRLEN];
	ip_addr_format(&e->addr, a, sizeof(a));
	if (e->addr.family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, e->port);
	else
		snprintf(buf, len, "%s:%u", a, e->port);
	return buf;
}

bool ip_endpoint_is_unset(const struct ip_endpoint *e)
{
	return e->port == 0 && ip_addr_is_unspecified(&e->addr);
}

bool ip_endpoint_equal(const struct ip_endpoint *a, const struct ip_endpoint *b)
{
	return ip_addr_equal(&a->addr, &b->addr) && a->port == b->port;
}

void ip_endpoint_to_sockaddr(const struct ip_endpoint *e, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (e->addr.family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(e->port);
		s6->sin6_addr = e->addr.v6;
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(e->port);
		s4->sin_addr = e->addr.v4;
		*len = sizeof(*s4);
	}
}

int ip_endpoint_from_sockaddr(const struct sockaddr *sa, struct ip_endpoint *out)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		ip_addr_from_in(&out->addr, s4->sin_addr);
		out->port = ntohs(s4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		/* Report v4-mapped peers as plain IPv4, as wg(8) does. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			struct in_addr v4;
			memcpy(&v4, &s6->sin6_addr.s6_addr[12], 4);
			ip_addr_from_in(&out->addr, v4);
		} else {
			ip_addr_from_in6(&out->addr, &s6->sin6_addr);
		}
		out->port = ntohs(s6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}
