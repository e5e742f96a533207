// SPDX-License-Identifier: MIT
/*
 * Overlay DNS in the engine: the server's lifetime and listeners, and the
 * register_dns / unregister_dns requests, which change the server and the
 * state together so records survive a restart.
 *
 * Names ending in a dot are absolute, others are relative to the overlay
 * zone. The state keeps each name lower-cased in the form it was given
 * (relative ones follow the zone, as in the server); two spellings of one
 * name ("web" and "web.zlayer.local.") are one record, so registering either
 * replaces the other in the state too.
 */
#include "engine/priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static const struct dns_name root_name = { .len = 1 };

/* Zone text ("zlayer.local", trailing dot optional) to its wire form. */
static int zone_parse(const char *zone, struct dns_name *out)
{
	return dns_name_from_text(zone, &root_name, false, out);
}

/* The absolute wire name a state key stands for under the current zone. */
static int resolve(const struct engine *e, const char *name, struct dns_name *out)
{
	return dns_name_from_text(name, &e->dns_zone, false, out);
}

/* Removes every state record that is a spelling of n; true when any was. */
static bool state_remove_aliases(struct engine *e, const struct dns_name *n)
{
	bool removed = false;
	for (size_t i = e->st.n_dns; i-- > 0;) {
		struct dns_name other;
		if (resolve(e, e->st.dns[i].name, &other) == 0 && dns_name_equal(&other, n))
			removed |= state_remove_dns(&e->st, e->st.dns[i].name);
	}
	return removed;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

void engine_dns_register(struct engine *e, const char *name, const struct ip_addr *ip, struct ovl_response *resp)
{
	char why[160], key[DNS_NAME_STRLEN], a[IP_ADDR_STRLEN];
	struct dns_name n;
	/* A name that parses is at most 254 characters, so it fits in key. */
	if (dns_name_parse(name, &e->dns_zone, false, &n, why, sizeof(why)) < 0) {
		ovl_response_err(resp, "register_dns: invalid DNS name \"%.80s\": %s", name, why);
		return;
	}
	if (ip_addr_is_unspecified(ip)) {
		ovl_response_err(resp, "register_dns %s: %s is the unspecified address, not a host's", name,
				 ip_addr_format(ip, a, sizeof(a)));
		return;
	}
	strcpy(key, name);
	lower(key);
	if (e->dns) {
		int r = dns_record_set(e->dns, key, ip);
		if (r < 0) {
			ovl_response_err(resp, "register_dns %s -> %s: the DNS server refused it: %s", name,
					 ip_addr_format(ip, a, sizeof(a)), strerror(-r));
			return;
		}
	}
	state_remove_aliases(e, &n);
	e->dirty = true;
	if (state_put_dns(&e->st, key, ip) < 0) {
		ovl_response_err(resp, "register_dns %s: out of memory", name);
		return;
	}
	log_debug("dns: registered %s -> %s", key, ip_addr_format(ip, a, sizeof(a)));
	resp_ok(resp);
}

void engine_dns_unregister(struct engine *e, const char *name, struct ovl_response *resp)
{
	char why[160], key[DNS_NAME_STRLEN];
	struct dns_name n;
	if (dns_name_parse(name, &e->dns_zone, false, &n, why, sizeof(why)) < 0) {
		ovl_response_err(resp, "unregister_dns: invalid DNS name \"%.80s\": %s", name, why);
		return;
	}
	strcpy(key, name);
	lower(key);
	if (e->dns) {
		int r = dns_record_remove(e->dns, key);
		if (r < 0 && r != -ENOENT) {
			ovl_response_err(resp, "unregister_dns %s: the DNS server refused it: %s", name, strerror(-r));
			return;
		}
	}
	if (state_remove_aliases(e, &n)) {
		e->dirty = true;
		log_debug("dns: unregistered %s", key);
	}
	resp_ok(resp); /* idempotent: an unknown name is already gone */
}

void engine_dns_scoped_resolver(struct engine *e, struct ovl_response *resp)
{
	ovl_response_err(resp, "scoped resolver is macOS-only");
}

int engine_dns_set_zone(struct engine *e, const char *zone)
{
	struct dns_name z;
	if (!zone || zone_parse(zone, &z) < 0) {
		log_warn("dns: ignoring invalid zone \"%.80s\" (want a domain name such as \"zlayer.local\")",
			 zone ? zone : "(null)");
		return -EINVAL;
	}
	if (dns_name_equal(&z, &e->dns_zone))
		return 0;
	/* Every relative name must still fit under the new zone. */
	for (size_t i = 0; i < e->st.n_dns; i++) {
		struct dns_name n;
		if (dns_name_from_text(e->st.dns[i].name, &z, false, &n) < 0) {
			log_warn("dns: zone \"%.80s\" refused: the registered name %s would be too long under it",
				 zone, e->st.dns[i].name);
			return -EINVAL;
		}
	}
	if (e->dns) {
		int r = dns_server_set_zone(e->dns, zone);
		if (r < 0) {
			log_warn("dns: the server refused zone \"%.80s\": %s", zone, strerror(-r));
			return r;
		}
	}
	char text[DNS_NAME_STRLEN];
	if (state_set_dns_zone(&e->st, dns_name_to_text(&z, text, sizeof(text))) < 0)
		return -ENOMEM;
	e->dns_zone = z;
	e->dirty = true;
	log_info("dns: overlay zone is now %s", text);
	return 0;
}

static int server_create(struct engine *e, const struct engine_dns_config *cfg, const char *zone)
{
	struct dns_config dcfg = {
		.zone = zone,
		.upstreams = cfg->upstreams,
		.n_upstreams = cfg->n_upstreams,
		.resolv_conf = cfg->resolv_conf,
		.threads = cfg->threads,
		.forward_timeout_ms = cfg->forward_timeout_ms,
	};
	e->dns = dns_server_create(&dcfg);
	if (!e->dns)
		return errno ? -errno : -ENOMEM;
	size_t restored = 0;
	for (size_t i = 0; i < e->st.n_dns; i++) {
		int r = dns_record_set(e->dns, e->st.dns[i].name, &e->st.dns[i].ip);
		if (r < 0)
			log_warn("dns: cannot restore the record %s from the state: %s", e->st.dns[i].name,
				 strerror(-r));
		else
			restored++;
	}
	log_info("dns: zone %s, %zu record(s) restored from the state", zone, restored);
	return 0;
}

int engine_dns_start(struct engine *e, const struct engine_dns_config *cfg, char *err, size_t errlen)
{
	/* An explicit zone wins over the recorded one; the result is recorded. */
	const char *zone = cfg->zone ? cfg->zone : e->st.dns_zone ? e->st.dns_zone : DNS_DEFAULT_ZONE;
	char text[DNS_NAME_STRLEN];
	if (zone_parse(zone, &e->dns_zone) < 0) {
		snprintf(err, errlen, "invalid DNS zone \"%.80s\"%s: want a domain name such as \"zlayer.local\"",
			 zone, cfg->zone ? "" : " in the state file");
		return -EINVAL;
	}
	dns_name_to_text(&e->dns_zone, text, sizeof(text));
	if (cfg->zone && (!e->st.dns_zone || strcmp(e->st.dns_zone, text) != 0)) {
		if (e->st.dns_zone)
			log_info("dns: zone %s (--dns-zone) replaces %s from the state", text, e->st.dns_zone);
		if (state_set_dns_zone(&e->st, text) < 0) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		e->dirty = true;
	}
	if (cfg->disabled) {
		log_info("dns: disabled (--no-dns); records are kept in the state only");
		return 0;
	}
	int r = server_create(e, cfg, text);
	if (r < 0) {
		if (cfg->n_listen) {
			snprintf(err, errlen, "cannot start the DNS server: %s", strerror(-r));
			return r;
		}
		log_warn("dns: cannot start the DNS server (%s); running without overlay DNS", strerror(-r));
		return 0;
	}
	for (size_t i = 0; i < cfg->n_listen; i++) {
		char ep[IP_ENDPOINT_STRLEN];
		ip_endpoint_format(&cfg->listen[i], ep, sizeof(ep));
		r = dns_server_listen(e->dns, &cfg->listen[i]);
		if (r == -EEXIST) {
			log_warn("dns: %s is listed twice; listening once", ep);
			continue;
		}
		if (r < 0) {
			snprintf(err, errlen, "cannot listen for DNS on %s: %s%s", ep, strerror(-r),
				 r == -EACCES ? " (a port below 1024 needs CAP_NET_BIND_SERVICE)" : "");
			engine_dns_stop(e);
			return r;
		}
		const struct ip_endpoint *l = &cfg->listen[i];
		if (l->port == 53 && ip_addr_is_unspecified(&l->addr)) {
			if (l->addr.family == AF_INET6)
				e->dns_wildcard53_v6 = true;
			else
				e->dns_wildcard53_v4 = true;
		}
	}
	return 0;
}

void engine_dns_stop(struct engine *e)
{
	dns_server_destroy(e->dns);
	e->dns = NULL;
	e->dns_node_listening = false;
	e->dns_wildcard53_v4 = e->dns_wildcard53_v6 = false;
}

int engine_dns_listen_node(struct engine *e, const struct ip_addr *node_ip)
{
	struct ip_endpoint ep = { .addr = *node_ip, .port = 53 };
	char text[IP_ENDPOINT_STRLEN];
	ip_endpoint_format(&ep, text, sizeof(text));
	if (!e->dns) {
		log_debug("dns: no DNS server running; not listening on %s", text);
		return 0;
	}
	if (e->dns_node_listening) {
		if (ip_addr_equal(&e->dns_node_ep.addr, node_ip))
			return 0;
		engine_dns_unlisten_node(e);
	}
	if (node_ip->family == AF_INET6 ? e->dns_wildcard53_v6 : e->dns_wildcard53_v4) {
		/* Binding the node address next to that wildcard would fail (EADDRINUSE), and is not needed. */
		log_debug("dns: %s is served by the wildcard listener on port 53", text);
		return 0;
	}
	int r = dns_server_listen(e->dns, &ep);
	if (r == -EEXIST) {
		/* An operator's --dns-listen already serves it; it is not ours to close. */
		log_debug("dns: %s is already served", text);
		return 0;
	}
	if (r < 0)
		return r; /* the DNS module logged why; the caller says what it was doing */
	e->dns_node_listening = true;
	e->dns_node_ep = ep;
	return 0;
}

void engine_dns_unlisten_node(struct engine *e)
{
	if (!e->dns || !e->dns_node_listening)
		return;
	char text[IP_ENDPOINT_STRLEN];
	int r = dns_server_unlisten(e->dns, &e->dns_node_ep);
	if (r < 0 && r != -ENOENT)
		log_warn("dns: closing the listener on %s: %s",
			 ip_endpoint_format(&e->dns_node_ep, text, sizeof(text)), strerror(-r));
	e->dns_node_listening = false;
}
