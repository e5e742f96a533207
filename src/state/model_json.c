// SPDX-License-Identifier: MIT
#include "state/model_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fetches key; 1 when absent or null (an error when required). */
static int field(const json_t *obj, const char *key, bool required, json_t **v, char *err, size_t errlen)
{
	*v = json_object_get(obj, key);
	if (*v && !json_is_null(*v))
		return 0;
	if (required) {
		snprintf(err, errlen, "missing field `%s`", key);
		return -EINVAL;
	}
	return 1;
}

int mj_string(const json_t *obj, const char *key, bool required, const char **out, char *err, size_t errlen)
{
	json_t *v;
	int r = field(obj, key, required, &v, err, errlen);
	if (r)
		return r;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "field `%s`: expected a string", key);
		return -EINVAL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "field `%s`: string contains a NUL character", key);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

int mj_string_dup(const json_t *obj, const char *key, bool required, char **out, char *err, size_t errlen)
{
	const char *s;
	int r = mj_string(obj, key, required, &s, err, errlen);
	if (r)
		return r;
	if (!(*out = strdup(s))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int uint_field(const json_t *obj, const char *key, bool required, uint64_t max, const char *what,
		      uint64_t *out, char *err, size_t errlen)
{
	json_t *v;
	int r = field(obj, key, required, &v, err, errlen);
	if (r)
		return r;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
		snprintf(err, errlen, "field `%s`: expected %s", key, what);
		return -EINVAL;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int mj_u64(const json_t *obj, const char *key, bool required, uint64_t *out, char *err, size_t errlen)
{
	/* jansson integers are signed 64-bit: larger values fail at parse time. */
	return uint_field(obj, key, required, INT64_MAX, "an unsigned integer", out, err, errlen);
}

int mj_u16(const json_t *obj, const char *key, bool required, uint16_t *out, char *err, size_t errlen)
{
	uint64_t v;
	int r = uint_field(obj, key, required, 65535, "an integer 0..65535", &v, err, errlen);
	if (r == 0)
		*out = (uint16_t)v;
	return r;
}

int mj_u32(const json_t *obj, const char *key, bool required, uint32_t *out, char *err, size_t errlen)
{
	uint64_t v;
	int r = uint_field(obj, key, required, UINT32_MAX, "an integer 0..4294967295", &v, err, errlen);
	if (r == 0)
		*out = (uint32_t)v;
	return r;
}

int mj_bool(const json_t *obj, const char *key, bool required, bool *out, char *err, size_t errlen)
{
	json_t *v;
	int r = field(obj, key, required, &v, err, errlen);
	if (r)
		return r;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "field `%s`: expected true or false", key);
		return -EINVAL;
	}
	*out = json_is_true(v);
	return 0;
}

int mj_ip(const json_t *obj, const char *key, bool required, struct ip_addr *out, char *err, size_t errlen)
{
	const char *s;
	int r = mj_string(obj, key, required, &s, err, errlen);
	if (r)
		return r;
	if (ip_addr_parse(s, out) < 0) {
		snprintf(err, errlen, "field `%s`: invalid IP address \"%.64s\"", key, s);
		return -EINVAL;
	}
	return 0;
}

int mj_prefix(const json_t *obj, const char *key, bool required, struct ip_prefix *out, char *err, size_t errlen)
{
	const char *s;
	int r = mj_string(obj, key, required, &s, err, errlen);
	if (r)
		return r;
	if (ip_prefix_parse(s, out) < 0) {
		snprintf(err, errlen, "field `%s`: invalid CIDR \"%.64s\" (expected e.g. 10.200.0.0/16)", key, s);
		return -EINVAL;
	}
	return 0;
}

int mj_key(const json_t *obj, const char *key, bool required, uint8_t out[WG_KEY_LEN], char *err, size_t errlen)
{
	const char *s;
	int r = mj_string(obj, key, required, &s, err, errlen);
	if (r)
		return r;
	if (key_from_base64(s, out) < 0) {
		snprintf(err, errlen, "field `%s`: invalid key \"%.64s\" (expected 44 characters of base64)", key, s);
		return -EINVAL;
	}
	return 0;
}

static int typed_field(const json_t *obj, const char *key, bool required, json_t **out, bool want_array,
		       char *err, size_t errlen)
{
	json_t *v;
	int r = field(obj, key, required, &v, err, errlen);
	if (r)
		return r;
	if (want_array ? !json_is_array(v) : !json_is_object(v)) {
		snprintf(err, errlen, "field `%s`: expected %s", key, want_array ? "an array" : "an object");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int mj_array(const json_t *obj, const char *key, bool required, json_t **out, char *err, size_t errlen)
{
	return typed_field(obj, key, required, out, true, err, errlen);
}

int mj_object(const json_t *obj, const char *key, bool required, json_t **out, char *err, size_t errlen)
{
	return typed_field(obj, key, required, out, false, err, errlen);
}

int mj_candidate_from_json(const json_t *obj, struct ovl_candidate *out, char *err, size_t errlen)
{
	const char *type, *addr;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "expected an object");
		return -EINVAL;
	}
	if (mj_string(obj, "candidate_type", true, &type, err, errlen) < 0 ||
	    mj_string(obj, "address", true, &addr, err, errlen) < 0 ||
	    mj_u32(obj, "priority", true, &out->priority, err, errlen) < 0)
		return -EINVAL;
	if (ovl_candidate_type_parse(type, &out->type) < 0) {
		snprintf(err, errlen,
			 "field `candidate_type`: unknown type \"%.32s\" (host, server-reflexive, relay, peer-reflexive)",
			 type);
		return -EINVAL;
	}
	if (ip_endpoint_parse(addr, &out->address) < 0) {
		snprintf(err, errlen, "field `address`: invalid address \"%.64s\" (expected ip:port)", addr);
		return -EINVAL;
	}
	return 0;
}

json_t *mj_candidate_to_json(const struct ovl_candidate *c)
{
	char buf[IP_ENDPOINT_STRLEN];
	return json_pack("{s:s, s:s, s:I}", "candidate_type", ovl_candidate_type_name(c->type), "address",
			 ip_endpoint_format(&c->address, buf, sizeof(buf)), "priority", (json_int_t)c->priority);
}

int mj_peer_from_json(const json_t *obj, struct ovl_peer_spec *out, char *err, size_t errlen)
{
	const char *endpoint, *allowed;
	json_t *cands = NULL;
	memset(out, 0, sizeof(*out));
	if (mj_key(obj, "public_key", true, out->public_key, err, errlen) < 0 ||
	    mj_string(obj, "endpoint", true, &endpoint, err, errlen) < 0 ||
	    mj_string(obj, "allowed_ips", true, &allowed, err, errlen) < 0 ||
	    mj_u64(obj, "persistent_keepalive_secs", false, &out->persistent_keepalive_secs, err, errlen) < 0 ||
	    mj_array(obj, "candidates", false, &cands, err, errlen) < 0)
		return -EINVAL;
	if (ip_endpoint_parse(endpoint, &out->endpoint) < 0) {
		snprintf(err, errlen, "field `endpoint`: invalid endpoint \"%.64s\" (expected ip:port or [v6]:port)",
			 endpoint);
		return -EINVAL;
	}
	char sub[200];
	int r = ovl_allowed_ips_parse(allowed, &out->allowed_ips, &out->n_allowed_ips, sub, sizeof(sub));
	if (r < 0) {
		snprintf(err, errlen, "field `allowed_ips`: %s", sub);
		return r;
	}
	size_t n = cands ? json_array_size(cands) : 0;
	if (n) {
		out->candidates = calloc(n, sizeof(*out->candidates));
		if (!out->candidates) {
			ovl_peer_spec_free(out);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		for (size_t i = 0; i < n; i++) {
			if (mj_candidate_from_json(json_array_get(cands, i), &out->candidates[i], sub, sizeof(sub)) < 0) {
				snprintf(err, errlen, "field `candidates[%zu]`: %s", i, sub);
				ovl_peer_spec_free(out);
				return -EINVAL;
			}
		}
		out->n_candidates = n;
	}
	return 0;
}

json_t *mj_peer_to_json(const struct ovl_peer_spec *p)
{
	char ep[IP_ENDPOINT_STRLEN];
	char *allowed = ovl_allowed_ips_format(p->allowed_ips, p->n_allowed_ips);
	json_t *o = json_object();
	if (!allowed || !o)
		goto fail;
	if (mj_set_new(o, "public_key", mj_key_string(p->public_key)) < 0 ||
	    mj_set_new(o, "endpoint", json_string(ip_endpoint_format(&p->endpoint, ep, sizeof(ep)))) < 0 ||
	    mj_set_new(o, "allowed_ips", json_string(allowed)) < 0 ||
	    mj_set_new(o, "persistent_keepalive_secs", json_integer((json_int_t)p->persistent_keepalive_secs)) < 0)
		goto fail;
	if (p->n_candidates) {
		json_t *a = json_array();
		if (mj_set_new(o, "candidates", a) < 0)
			goto fail;
		for (size_t i = 0; i < p->n_candidates; i++)
			if (json_array_append_new(a, mj_candidate_to_json(&p->candidates[i])) < 0)
				goto fail;
	}
	free(allowed);
	return o;
fail:
	free(allowed);
	json_decref(o);
	return NULL;
}

static int hostport_list(const json_t *arr, const char *key, char ***out, size_t *n, char *err, size_t errlen)
{
	size_t cnt = json_array_size(arr);
	*out = cnt ? calloc(cnt, sizeof(char *)) : NULL;
	if (cnt && !*out)
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_string(v) || !ovl_hostport_valid(json_string_value(v))) {
			snprintf(err, errlen, "field `%s[%zu]`: expected a \"host:port\" string", key, i);
			return -EINVAL;
		}
		(*out)[i] = strdup(json_string_value(v));
		if (!(*out)[i])
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

int mj_nat_from_json(const json_t *obj, struct ovl_nat_config *out, char *err, size_t errlen)
{
	json_t *stun = NULL, *turn = NULL, *relay = NULL;
	char sub[200];
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "expected an object");
		return -EINVAL;
	}
	if (mj_bool(obj, "enabled", false, &out->enabled, err, errlen) < 0 ||
	    mj_array(obj, "stun_servers", false, &stun, err, errlen) < 0 ||
	    mj_array(obj, "turn_servers", false, &turn, err, errlen) < 0 ||
	    mj_u64(obj, "hole_punch_timeout_secs", false, &out->hole_punch_timeout_secs, err, errlen) < 0 ||
	    mj_u64(obj, "stun_refresh_interval_secs", false, &out->stun_refresh_interval_secs, err, errlen) < 0 ||
	    mj_u64(obj, "max_candidate_pairs", false, &out->max_candidate_pairs, err, errlen) < 0 ||
	    mj_object(obj, "relay_server", false, &relay, err, errlen) < 0)
		goto fail;
	if (stun && hostport_list(stun, "stun_servers", &out->stun_servers, &out->n_stun_servers, err, errlen) < 0)
		goto fail;
	size_t nt = turn ? json_array_size(turn) : 0;
	if (nt) {
		out->turn_servers = calloc(nt, sizeof(*out->turn_servers));
		if (!out->turn_servers)
			goto fail;
		for (size_t i = 0; i < nt; i++, out->n_turn_servers++) {
			json_t *t = json_array_get(turn, i);
			const char *addr, *user, *cred;
			if (!json_is_object(t)) {
				snprintf(err, errlen, "field `turn_servers[%zu]`: expected an object", i);
				goto fail;
			}
			if (mj_string(t, "addr", true, &addr, sub, sizeof(sub)) < 0 ||
			    mj_string(t, "username", true, &user, sub, sizeof(sub)) < 0 ||
			    mj_string(t, "credential", true, &cred, sub, sizeof(sub)) < 0) {
				snprintf(err, errlen, "field `turn_servers[%zu]`: %s", i, sub);
				goto fail;
			}
			if (!ovl_hostport_valid(addr)) {
				snprintf(err, errlen, "field `turn_servers[%zu].addr`: expected \"host:port\"", i);
				goto fail;
			}
			struct ovl_turn_server *ts = &out->turn_servers[i];
			ts->addr = strdup(addr);
			ts->username = strdup(user);
			ts->credential = strdup(cred);
			if (!ts->addr || !ts->username || !ts->credential)
				goto fail;
		}
	}
	if (relay) {
		const char *ext, *cred = NULL;
		out->has_relay = true;
		if (mj_u16(relay, "listen_port", true, &out->relay.listen_port, sub, sizeof(sub)) < 0 ||
		    mj_string(relay, "external_addr", true, &ext, sub, sizeof(sub)) < 0 ||
		    mj_u64(relay, "max_sessions", false, &out->relay.max_sessions, sub, sizeof(sub)) < 0 ||
		    mj_u64(relay, "max_sessions_per_client", false, &out->relay.max_sessions_per_client, sub,
			   sizeof(sub)) < 0 ||
		    mj_string(relay, "auth_credential", false, &cred, sub, sizeof(sub)) < 0) {
			snprintf(err, errlen, "field `relay_server`: %s", sub);
			goto fail;
		}
		out->relay.external_addr = strdup(ext);
		out->relay.auth_credential = cred ? strdup(cred) : NULL;
		if (!out->relay.external_addr || (cred && !out->relay.auth_credential))
			goto fail;
	}
	return 0;
fail:
	if (!err[0])
		snprintf(err, errlen, "out of memory");
	ovl_nat_config_free(out);
	return -EINVAL;
}

json_t *mj_nat_to_json(const struct ovl_nat_config *c)
{
	json_t *o = json_object(), *stun = json_array(), *turn = json_array();
	/* Arrays are owned by o from here on, so one decref of o cleans up. */
	if (mj_set_new(o, "stun_servers", stun) < 0 || mj_set_new(o, "turn_servers", turn) < 0)
		goto fail;
	for (size_t i = 0; i < c->n_stun_servers; i++)
		if (json_array_append_new(stun, json_string(c->stun_servers[i])) < 0)
			goto fail;
	for (size_t i = 0; i < c->n_turn_servers; i++)
		if (json_array_append_new(turn, json_pack("{s:s, s:s, s:s}", "addr", c->turn_servers[i].addr,
							  "username", c->turn_servers[i].username, "credential",
							  c->turn_servers[i].credential)) < 0)
			goto fail;
	if (mj_set_new(o, "enabled", json_boolean(c->enabled)) < 0 ||
	    mj_set_new(o, "hole_punch_timeout_secs", json_integer((json_int_t)c->hole_punch_timeout_secs)) < 0 ||
	    mj_set_new(o, "stun_refresh_interval_secs", json_integer((json_int_t)c->stun_refresh_interval_secs)) <
		    0 ||
	    mj_set_new(o, "max_candidate_pairs", json_integer((json_int_t)c->max_candidate_pairs)) < 0)
		goto fail;
	if (c->has_relay) {
		json_t *r = json_pack("{s:I, s:s, s:I}", "listen_port", (json_int_t)c->relay.listen_port,
				      "external_addr", c->relay.external_addr ? c->relay.external_addr : "",
				      "max_sessions", (json_int_t)c->relay.max_sessions);
		if (mj_set_new(o, "relay_server", r) < 0)
			goto fail;
		if (c->relay.auth_credential && mj_set_new(r, "auth_credential", json_string(c->relay.auth_credential)) < 0)
			goto fail;
		if (c->relay.max_sessions_per_client &&
		    mj_set_new(r, "max_sessions_per_client", json_integer((json_int_t)c->relay.max_sessions_per_client)) <
			    0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

int mj_set_new(json_t *obj, const char *key, json_t *value)
{
	if (!value)
		return -ENOMEM;
	return json_object_set_new(obj, key, value) < 0 ? -ENOMEM : 0;
}

json_t *mj_ip_string(const struct ip_addr *a)
{
	char buf[IP_ADDR_STRLEN];
	return json_string(ip_addr_format(a, buf, sizeof(buf)));
}

json_t *mj_prefix_string(const struct ip_prefix *p)
{
	char buf[IP_PREFIX_STRLEN];
	return json_string(ip_prefix_format(p, buf, sizeof(buf)));
}

json_t *mj_key_string(const uint8_t key[WG_KEY_LEN])
{
	char buf[WG_KEY_B64_LEN + 1];
	key_to_base64(key, buf);
	return json_string(buf);
}
