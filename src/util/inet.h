/* SPDX-License-Identifier: MIT */
/*
 * IP addresses, prefixes (CIDRs) and endpoints: parsing, formatting and the
 * arithmetic the allocators need. Pure; no I/O. Shared by IPAM, IPC, the
 * engine, netlink, WireGuard and DNS so every component reads "10.200.0.0/26"
 * and "[fd00::1]:51420" the same way.
 */
#ifndef OVL_UTIL_INET_H
#define OVL_UTIL_INET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ip_addr {
	sa_family_t family; /* AF_INET or AF_INET6; 0 = unset */
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t bytes[16]; /* network order; first 4 used for AF_INET */
	};
};

struct ip_prefix {
	struct ip_addr addr; /* as written; see ip_prefix_network() for the masked form */
	uint8_t len;
};

struct ip_endpoint {
	struct ip_addr addr;
	uint16_t port;
};

/* Large enough for any formatted value, including the terminating NUL. */
#define IP_ADDR_STRLEN 46
#define IP_PREFIX_STRLEN 50
#define IP_ENDPOINT_STRLEN 56

static inline unsigned ip_addr_bits(const struct ip_addr *a)
{
	return a->family == AF_INET6 ? 128 : 32;
}

/* Parse "10.0.0.1" or "fd00::1". Returns 0, or -EINVAL. */
int ip_addr_parse(const char *s, struct ip_addr *out);
/* Formats into buf (>= IP_ADDR_STRLEN) and returns buf. */
const char *ip_addr_format(const struct ip_addr *a, char *buf, size_t len);
bool ip_addr_equal(const struct ip_addr *a, const struct ip_addr *b);
bool ip_addr_is_unspecified(const struct ip_addr *a);
void ip_addr_from_in(struct ip_addr *out, struct in_addr v4);
void ip_addr_from_in6(struct ip_addr *out, const struct in6_addr *v6);
/* Unsigned comparison within one family; families order v4 < v6. */
int ip_addr_compare(const struct ip_addr *a, const struct ip_addr *b);

/*
 * Parse "10.200.0.0/16" or "fd00::/64". A bare address is taken as a host
 * prefix (/32 or /128), as WireGuard's allowed-ips does. Host bits are kept
 * as written; ip_prefix_network() masks them. Returns 0 or -EINVAL.
 */
int ip_prefix_parse(const char *s, struct ip_prefix *out);
const char *ip_prefix_format(const struct ip_prefix *p, char *buf, size_t len);
/* The prefix with host bits cleared. */
struct ip_prefix ip_prefix_network(const struct ip_prefix *p);
bool ip_prefix_is_network(const struct ip_prefix *p); /* no host bits set */
bool ip_prefix_contains(const struct ip_prefix *p, const struct ip_addr *a);
/* True when the two prefixes share at least one address. */
bool ip_prefix_overlaps(const struct ip_prefix *a, const struct ip_prefix *b);
bool ip_prefix_equal(const struct ip_prefix *a, const struct ip_prefix *b);
/* Last address of the prefix (the IPv4 broadcast address). */
struct ip_addr ip_prefix_last(const struct ip_prefix *p);
/* Number of host bits (32 - len or 128 - len). */
unsigned ip_prefix_host_bits(const struct ip_prefix *p);

/*
 * base + offset. Returns 0, or -ERANGE when the result wraps past the end of
 * the address family.
 */
int ip_addr_add(const struct ip_addr *base, unsigned __int128 offset, struct ip_addr *out);
/* a - b for a >= b of one family; the caller checks the order. */
unsigned __int128 ip_addr_sub(const struct ip_addr *a, const struct ip_addr *b);

/*
 * Parse "1.2.3.4:51820" or "[fd00::1]:51820" (port required, 0..65535;
 * "0.0.0.0:0" is valid and means "no endpoint"). Returns 0 or -EINVAL.
 */
int ip_endpoint_parse(const char *s, struct ip_endpoint *out);
const char *ip_endpoint_format(const struct ip_endpoint *e, char *buf, size_t len);
bool ip_endpoint_is_unset(const struct ip_endpoint *e); /* unspecified addr and port 0 */
bool ip_endpoint_equal(const struct ip_endpoint *a, const struct ip_endpoint *b); /* same address and port */

/* Conversions to/from sockaddr; *len receives the sockaddr's size. */
void ip_endpoint_to_sockaddr(const struct ip_endpoint *e, struct sockaddr_storage *ss, socklen_t *len);
int ip_endpoint_from_sockaddr(const struct sockaddr *sa, struct ip_endpoint *out);

#endif
