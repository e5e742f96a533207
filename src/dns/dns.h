/* SPDX-License-Identifier: MIT */
/*
 * The overlay DNS server: authoritative for the overlay zone and for every
 * registered name, a forwarder for everything else.
 *
 * The engine creates one server, lets it listen on <node_ip>:53 once the
 * global overlay is up, registers names as services come and go, and
 * destroys it at teardown. Every function may be called from any thread
 * while the server's own threads answer queries.
 *
 * Names: "svc" is relative to the zone (and follows it if the zone changes);
 * "svc.bench.local." (trailing dot) is absolute and may lie outside the zone.
 * Names are case-insensitive and stored lower-case.
 *
 * Authority. The configured zone (default "zlayer.local") is ours: names in
 * it without a record get NXDOMAIN, and every negative answer carries the
 * zone's SOA. A registered name outside the zone is authoritative data too,
 * but only that name and the names below it: we act as if it were the apex
 * of its own zone, so its negative answers (e.g. AAAA when it has an A) carry
 * an SOA owned by the name itself. Its parent (bench.local for
 * svc1.bench.local) is NOT claimed: registering "x.example.com." must not
 * turn every other example.com name into NXDOMAIN; those names are
 * forwarded like any other outside name. Reverse names of registered
 * addresses answer PTR the same way (the reverse name is its own apex).
 */
#ifndef OVL_DNS_DNS_H
#define OVL_DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/metrics.h"
#include "util/inet.h"

#define DNS_DEFAULT_ZONE "zlayer.local"
#define DNS_DEFAULT_TTL 5		/* seconds; services move, keep caches short */
#define DNS_DEFAULT_NEGATIVE_TTL 5	/* SOA minimum (RFC 2308) */
#define DNS_DEFAULT_FORWARD_TIMEOUT_MS 2000
#define DNS_MAX_UPSTREAMS 8

struct dns_config {
	const char *zone;		/* NULL = DNS_DEFAULT_ZONE */
	uint32_t ttl;			/* 0 = DNS_DEFAULT_TTL */
	uint32_t negative_ttl;		/* 0 = DNS_DEFAULT_NEGATIVE_TTL */
	/* Names we are not authoritative for are forwarded upstream, unless
	 * no_forward is set: then they are REFUSED. */
	bool no_forward;
	/* Upstreams; when n_upstreams is 0 they come from resolv_conf. */
	const struct ip_endpoint *upstreams;
	size_t n_upstreams;
	const char *resolv_conf;	/* NULL = "/etc/resolv.conf" */
	unsigned forward_timeout_ms;	/* 0 = default; then SERVFAIL */
	/* UDP serving threads; 0 = one per CPU (max 4). While the first keeps
	 * up it serves alone, fewer wake-ups per query; the others join in when
	 * it runs out of CPU (see steer.c). */
	unsigned threads;
	unsigned tcp_max_conns;		/* 0 = 256 */
	unsigned tcp_idle_ms;		/* 0 = 10000 (RFC 7766 suggests seconds) */
};

struct dns_record {
	char name[256];		/* absolute, lower-case, with the trailing dot */
	struct ip_addr addr;
};

struct dns_server;

/* Starts the serving threads (no listener yet). NULL with errno set:
 * EINVAL for a bad zone or config, else the failing call's errno. */
struct dns_server *dns_server_create(const struct dns_config *cfg);
/* Stops every listener and thread, closes every socket, frees everything. */
void dns_server_destroy(struct dns_server *srv);

/*
 * UDP and TCP on ep (port 0 is refused). Several listeners are allowed. A
 * wildcard address (0.0.0.0, ::) works too: UDP answers then leave from the
 * address each query reached. Returns 0, -EEXIST when already listening
 * there, -EINVAL, or the bind error (-EADDRINUSE, -EADDRNOTAVAIL when the
 * address is not local yet).
 */
int dns_server_listen(struct dns_server *srv, const struct ip_endpoint *ep);
/* Closes that listener and its TCP connections. 0 or -ENOENT. */
int dns_server_unlisten(struct dns_server *srv, const struct ip_endpoint *ep);

/* Changes the zone; relative names move with it. 0 or -EINVAL. */
int dns_server_set_zone(struct dns_server *srv, const char *zone);

/* Registers name -> addr, replacing any address it had. 0 or -EINVAL
 * (bad name, unspecified address, or relative name too long for the zone). */
int dns_record_set(struct dns_server *srv, const char *name, const struct ip_addr *addr);
/* 0 or -ENOENT (-EINVAL for a malformed name). */
int dns_record_remove(struct dns_server *srv, const char *name);
/* A malloc'd array (free() it) of every record, sorted by name. 0 or -ENOMEM. */
int dns_record_list(struct dns_server *srv, struct dns_record **out, size_t *count);

/* What became of a query: the rcode we answered, or forwarded upstream. */
enum dns_result {
	DNS_RESULT_NOERROR,
	DNS_RESULT_NXDOMAIN,
	DNS_RESULT_SERVFAIL,
	DNS_RESULT_FORMERR,
	DNS_RESULT_REFUSED,
	DNS_RESULT_OTHER, /* any other rcode */
	DNS_RESULT_FORWARDED,
	DNS_RESULT_COUNT_
};
const char *dns_result_name(enum dns_result r); /* "NOERROR", ..., "forwarded" */

/*
 * Queries by result, and the time from a query's arrival to its answer (a
 * forwarded query: until the upstream's answer, or our SERVFAIL, is relayed).
 */
struct dns_metrics {
	mx_counter queries[DNS_RESULT_COUNT_];
	struct mx_histogram latency;
};
/* A copy of the server's counters so far. */
void dns_server_metrics(struct dns_server *srv, struct dns_metrics *out);

#endif
