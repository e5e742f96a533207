// SPDX-License-Identifier: MIT
#include "state/model.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[] = {
	[OVL_MODE_AUTO] = "auto",
	[OVL_MODE_SHARED] = "shared",
	[OVL_MODE_DEDICATED] = "dedicated",
	[OVL_MODE_ISOLATED] = "isolated",
};

const char *ovl_mode_name(enum ovl_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

int ovl_mode_parse(const char *s, enum ovl_mode *out)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*out = (enum ovl_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *const cand_names[] = {
	[OVL_CAND_HOST] = "host",
	[OVL_CAND_SERVER_REFLEXIVE] = "server-reflexive",
	[OVL_CAND_RELAY] = "relay",
	[OVL_CAND_PEER_REFLEXIVE] = "peer-reflexive",
};

const char *ovl_candidate_type_name(enum ovl_candidate_type t)
{
	return (unsigned)t < sizeof(cand_names) / sizeof(cand_names[0]) ? cand_names[t] : "?";
}

int ovl_candidate_type_parse(const char *s, enum ovl_candidate_type *out)
{
	for (size_t i = 0; i < sizeof(cand_names) / sizeof(cand_names[0]); i++) {
		if (strcmp(s, cand_names[i]) == 0) {
			*out = (enum ovl_candidate_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

void ovl_peer_spec_free(struct ovl_peer_spec *p)
{
	free(p->allowed_ips);
	free(p->candidates);
	memset(p, 0, sizeof(*p));
}

static void *dup_array(const void *src, size_t n, size_t size)
{
	if (n == 0)
		return NULL;
	void *d = malloc(n * size);
	if (d)
		memcpy(d, src, n * size);
	return d;
}

int ovl_peer_spec_copy(struct ovl_peer_spec *dst, const struct ovl_peer_spec *src)
{
	*dst = *src;
	dst->allowed_ips = dup_array(src->allowed_ips, src->n_allowed_ips, sizeof(*src->allowed_ips));
	dst->candidates = dup_array(src->candidates, src->n_candidates, sizeof(*src->candidates));
	if ((src->n_allowed_ips && !dst->allowed_ips) || (src->n_candidates && !dst->candidates)) {
		ovl_peer_spec_free(dst);
		return -ENOMEM;
	}
	return 0;
}

int ovl_allowed_ips_parse(const char *s, struct ip_prefix **out, size_t *n, char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	const char *p = s;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *a = p, *b = p + len;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		char entry[IP_PREFIX_STRLEN + 1];
		struct ip_prefix pfx;
		size_t elen = (size_t)(b - a);
		if (elen == 0 && !end && *n == 0 && a == s + strlen(s))
			break; /* only whitespace: no entries */
		if (elen == 0 || elen >= sizeof(entry)) {
			snprintf(err, errlen, "invalid allowed_ips entry \"%.*s\" (expected a CIDR like 10.0.0.0/24)",
				 (int)(elen > 60 ? 60 : elen), a);
			goto fail;
		}
		memcpy(entry, a, elen);
		entry[elen] = '\0';
		if (ip_prefix_parse(entry, &pfx) < 0) {
			snprintf(err, errlen, "invalid allowed_ips entry \"%s\" (expected a CIDR like 10.0.0.0/24)",
				 entry);
			goto fail;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			struct ip_prefix *np = realloc(*out, cap * sizeof(*np));
			if (!np) {
				snprintf(err, errlen, "out of memory");
				free(*out);
				*out = NULL;
				*n = 0;
				return -ENOMEM;
			}
			*out = np;
		}
		(*out)[(*n)++] = pfx;
		if (!end)
			break;
		p = end + 1;
		if (!*p) {
			snprintf(err, errlen, "invalid allowed_ips: trailing comma");
			goto fail;
		}
	}
	return 0;
fail:
	free(*out);
	*out = NULL;
	*n = 0;
	return -EINVAL;
}

char *ovl_allowed_ips_format(const struct ip_prefix *ips, size_t n)
{
	char *s = malloc(n * IP_PREFIX_STRLEN + 1);
	if (!s)
		return NULL;
	size_t off = 0;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char buf[IP_PREFIX_STRLEN];
		ip_prefix_format(&ips[i], buf, sizeof(buf));
		off += (size_t)sprintf(s + off, "%s%s", i ? "," : "", buf);
	}
	return s;
}

void ovl_nat_config_free(struct ovl_nat_config *c)
{
	for (size_t i = 0; i < c->n_stun_servers; i++)
		free(c->stun_servers[i]);
	free(c->stun_servers);
	for (size_t i = 0; i < c->n_turn_servers; i++) {
		free(c->turn_servers[i].addr);
		free(c->turn_servers[i].username);
		free(c->turn_servers[i].credential);
	}
	free(c->turn_servers);
	free(c->relay.external_addr);
	free(c->relay.auth_credential);
	memset(c, 0, sizeof(*c));
}

char *ovl_strdup_optional(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;
	*oom |= s && !d;
	return d;
}

int ovl_nat_config_copy(struct ovl_nat_config *dst, const struct ovl_nat_config *src)
{
	bool oom = false;
	*dst = *src;
	dst->stun_servers = NULL;
	dst->turn_servers = NULL;
	dst->n_stun_servers = dst->n_turn_servers = 0;
	dst->relay.external_addr = ovl_strdup_optional(src->relay.external_addr, &oom);
	dst->relay.auth_credential = ovl_strdup_optional(src->relay.auth_credential, &oom);
	if (src->n_stun_servers) {
		dst->stun_servers = calloc(src->n_stun_servers, sizeof(char *));
		if (!dst->stun_servers)
			oom = true;
		for (size_t i = 0; !oom && i < src->n_stun_servers; i++, dst->n_stun_servers++)
			dst->stun_servers[i] = ovl_strdup_optional(src->stun_servers[i], &oom);
	}
	if (!oom && src->n_turn_servers) {
		dst->turn_servers = calloc(src->n_turn_servers, sizeof(*dst->turn_servers));
		if (!dst->turn_servers)
			oom = true;
		for (size_t i = 0; !oom && i < src->n_turn_servers; i++, dst->n_turn_servers++) {
			dst->turn_servers[i].addr = ovl_strdup_optional(src->turn_servers[i].addr, &oom);
			dst->turn_servers[i].username = ovl_strdup_optional(src->turn_servers[i].username, &oom);
			dst->turn_servers[i].credential = ovl_strdup_optional(src->turn_servers[i].credential, &oom);
		}
	}
	if (oom) {
		ovl_nat_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

int ovl_nat_config_resolve(struct ovl_nat_config *dst, const struct ovl_nat_config *src)
{
	int r = ovl_nat_config_copy(dst, src);
	if (r < 0)
		return r;
	if (!dst->hole_punch_timeout_secs)
		dst->hole_punch_timeout_secs = NAT_DEFAULT_HOLE_PUNCH_TIMEOUT_SECS;
	if (!dst->stun_refresh_interval_secs)
		dst->stun_refresh_interval_secs = NAT_DEFAULT_STUN_REFRESH_SECS;
	if (!dst->max_candidate_pairs)
		dst->max_candidate_pairs = NAT_DEFAULT_MAX_CANDIDATE_PAIRS;
	if (dst->has_relay && !dst->relay.max_sessions)
		dst->relay.max_sessions = NAT_DEFAULT_RELAY_MAX_SESSIONS;
	return 0;
}

bool ovl_hostport_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return false;
	if (s[0] == '[') {
		struct ip_endpoint e;
		return ip_endpoint_parse(s, &e) == 0 && e.port != 0;
	}
	for (const char *p = s; p < colon; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
			return false;
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	return colon[1] && !*end && errno == 0 && port >= 1 && port <= 65535 && isdigit((unsigned char)colon[1]);
}
