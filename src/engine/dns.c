// SPDX-License-Identifier: MIT
/*
 * Overlay DNS records: kept and persisted here; serving them is the DNS
 * module's job. Names ending in a dot are absolute, others are relative to
 * the overlay zone; both are stored exactly as given.
 */
#include "engine/priv.h"

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
	if (state_put_dns(&e->st, name, ip) < 0) {
		ovl_response_err(resp, "register_dns %s: out of memory", name);
		return;
	}
	e->dirty = true;
	resp_ok(resp);
}

void dns_unregister(struct engine *e, const char *name, struct ovl_response *resp)
{
	if (state_remove_dns(&e->st, name))
		e->dirty = true;
	resp_ok(resp); /* idempotent */
}

void dns_scoped_resolver(struct engine *e, struct ovl_response *resp)
{
	ovl_response_err(resp, "scoped resolver is macOS-only");
}
