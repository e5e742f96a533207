/* SPDX-License-Identifier: MIT */
/*
 * The overlay zone's data: one address per registered name (registering a
 * name again replaces it, and the family may change), the reverse (PTR)
 * names of those addresses, the empty non-terminals above them, the zone
 * apex and the SOA serial.
 *
 * Concurrency: the engine thread writes, the serving threads read. A
 * writer-preferring rwlock guards everything: a read section is a few hash
 * lookups, and registrations are rare, so readers almost never wait. The
 * uncontended lock + unlock costs about 20 ns of a 270-440 ns answer
 * (bench/dns-parse.sh), and two workers still scale (bench/dns.sh -t 1 vs
 * -t 2), so an RCU-style copy-on-write table, which would copy every record
 * on each registration, is not worth its complexity here.
 */
#ifndef OVL_DNS_STORE_H
#define OVL_DNS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"
#include "dns/name.h"
#include "util/inet.h"

struct dns_store;

struct dns_rec; /* opaque except through the accessors below */

/* zone: text, absolute or not ("zlayer.local"). NULL on a bad zone (errno
 * EINVAL) or allocation failure (ENOMEM). */
struct dns_store *dns_store_new(const char *zone, uint32_t serial);
void dns_store_free(struct dns_store *st);

/* Writers (take the lock themselves). Names as in dns_record_set(). */
int dns_store_set(struct dns_store *st, const char *name, const struct ip_addr *addr);
int dns_store_remove(struct dns_store *st, const char *name);
int dns_store_set_zone(struct dns_store *st, const char *zone);
int dns_store_list(struct dns_store *st, struct dns_record **out, size_t *count);

/* Readers: everything between rdlock and unlock sees one consistent state;
 * pointers returned are valid only until unlock. Names are lower-case. */
void dns_store_rdlock(struct dns_store *st);
void dns_store_unlock(struct dns_store *st);
const struct dns_name *dns_store_zone(const struct dns_store *st);
uint32_t dns_store_serial(const struct dns_store *st);
const struct ip_addr *dns_store_find(const struct dns_store *st, const struct dns_name *name);
/* True when name has no record but some registered name lies below it. */
bool dns_store_is_ent(const struct dns_store *st, const struct dns_name *name);
/* The registered name a reverse name (in-addr.arpa / ip6.arpa) points to:
 * the most recently registered holder of that address. */
const struct dns_name *dns_store_find_ptr(const struct dns_store *st, const struct dns_name *rname);

#endif
