// SPDX-License-Identifier: MIT
/*
 * Overlay DNS records: kept and persisted here and served by the DNS library
 * (dns/dns.h) once its server runs (--dns-listen, or the global overlay's
 * <node_ip>:53 listener). Names ending in a dot are absolute, others are
 * relative to the overlay zone; both are stored exactly as given.
 */
#include "engine/dp.h"

#include "dns/dns.h"
#include "util/log.h"

#include <ctype.h>
#include <string.h>

/* RFC 1035 shape: labels of 1..63 letters, digits, '-' or '_', 253 bytes at most. */
static bool dns_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > 254 || (len == 254 && name[253] != '.') || strcmp(name, ".") == 0)
		return false;
	size_t label = 0;
	for (const char *p = name; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

void dns_register(struct engine *e, const char *name, const struct ip_addr *ip, struct ovl_response *resp)
{
	if (!dns_name_valid(name)) {
		ovl_response_err(resp,
				 "register_dns: invalid DNS name \"%.80s\" (labels of 1-63 letters, digits, '-' or "
				 "'_', separated by dots)",
				 name);
		return;
	}
	if (e->dp->dns) {
		int r = dns_record_set(e->dp->dns, name, ip);
		if (r < 0) {
			ovl_response_err(resp, "register_dns: the DNS server refused \"%.80s\" (%s): a relative name "
					       "must fit under the zone, and the address must be specified",
					 name, strerror(-r));
			return;
		}
	}
	if (state_put_dns(&e->st, name, ip) < 0) {
		if (e->dp->dns)
			dns_record_remove(e->dp->dns, name);
		ovl_response_err(resp, "register_dns %s: out of memory", name);
		return;
	}
	e->dirty = true;
	resp_ok(resp);
}

void dns_unregister(struct engine *e, const char *name, struct ovl_response *resp)
{
	if (e->dp->dns)
		dns_record_remove(e->dp->dns, name); /* -ENOENT is fine: idempotent */
	if (state_remove_dns(&e->st, name))
		e->dirty = true;
	resp_ok(resp); /* idempotent */
}

void dns_scoped_resolver(struct engine *e, struct ovl_response *resp)
{
	ovl_response_err(resp, "scoped resolver is macOS-only");
}
