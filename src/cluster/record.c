// SPDX-License-Identifier: MIT
#include "cluster/record.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cluster_record_free(struct cluster_record *r)
{
	for (size_t i = 0; i < r->n_services; i++)
		free(r->services[i].service);
	for (size_t i = 0; i < r->n_dedicated; i++)
		free(r->dedicated[i].service);
	free(r->services);
	free(r->dedicated);
	free(r->candidates);
	memset(r, 0, sizeof(*r));
}

bool cluster_id_valid(const char *id)
{
	if (!id || strlen(id) != CLUSTER_ID_LEN)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static json_t *prefix_json(const struct ip_prefix *p)
{
	char buf[IP_PREFIX_STRLEN];
	return json_string(ip_prefix_format(p, buf, sizeof(buf)));
}

static json_t *key_json(const uint8_t k[WG_KEY_LEN])
{
	char buf[WG_KEY_B64_LEN + 1];
	key_to_base64(k, buf);
	return json_string(buf);
}

static json_t *endpoint_json(const struct ip_endpoint *e)
{
	char buf[IP_ENDPOINT_STRLEN];
	return json_string(ip_endpoint_format(e, buf, sizeof(buf)));
}

char *cluster_record_encode(const struct cluster_record *r)
{
	json_t *cands = json_array(), *svcs = json_array(), *ded = json_array();
	for (size_t i = 0; i < r->n_candidates; i++)
		json_array_append_new(cands, json_pack("{s:s, s:o, s:I}", "type",
						       ovl_candidate_type_name(r->candidates[i].type), "address",
						       endpoint_json(&r->candidates[i].address), "priority",
						       (json_int_t)r->candidates[i].priority));
	for (size_t i = 0; i < r->n_services; i++)
		json_array_append_new(svcs, json_pack("{s:s, s:s, s:o}", "service", r->services[i].service, "mode",
						      ovl_mode_name(r->services[i].mode), "subnet",
						      prefix_json(&r->services[i].subnet)));
	for (size_t i = 0; i < r->n_dedicated; i++)
		json_array_append_new(ded, json_pack("{s:s, s:o, s:i, s:o}", "service", r->dedicated[i].service,
						     "public_key", key_json(r->dedicated[i].public_key), "port",
						     (int)r->dedicated[i].port, "subnet", prefix_json(&r->dedicated[i].subnet)));
	json_t *j = json_pack("{s:i, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "v", 1, "id", r->id, "public_key",
			      key_json(r->public_key), "endpoint", endpoint_json(&r->endpoint), "candidates", cands,
			      "slice", prefix_json(&r->slice), "services", svcs, "dedicated", ded);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return s;
}

/* ---- decoding: every field checked ---- */

static const char *str_field(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

static int want_prefix(json_t *o, const char *name, struct ip_prefix *out, const char *what, char *err, size_t errlen)
{
	const char *s = str_field(o, name);
	if (!s || ip_prefix_parse(s, out) < 0 || !ip_prefix_is_network(out)) {
		snprintf(err, errlen, "%s: \"%s\" is not a network CIDR", what, name);
		return -EINVAL;
	}
	return 0;
}

static int want_key(json_t *o, const char *name, uint8_t k[WG_KEY_LEN], const char *what, char *err, size_t errlen)
{
	const char *s = str_field(o, name);
	if (!s || key_from_base64(s, k) < 0 || key_is_zero(k)) {
		snprintf(err, errlen, "%s: \"%s\" is not a WireGuard public key", what, name);
		return -EINVAL;
	}
	return 0;
}

static int want_service(json_t *o, char **out, const char *what, char *err, size_t errlen)
{
	const char *s = str_field(o, "service");
	if (!s || !*s || strlen(s) > 253) {
		snprintf(err, errlen, "%s: missing or bad \"service\"", what);
		return -EINVAL;
	}
	return (*out = strdup(s)) ? 0 : -ENOMEM;
}

/* Allocates an array for a JSON list of at most CLUSTER_MAX_LIST entries. */
static int want_list(json_t *j, const char *name, size_t elem, void **items, size_t *n, char *err, size_t errlen)
{
	json_t *a = json_object_get(j, name);
	*items = NULL;
	*n = 0;
	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > CLUSTER_MAX_LIST) {
		snprintf(err, errlen, "\"%s\" is not a list of at most %d entries", name, CLUSTER_MAX_LIST);
		return -EINVAL;
	}
	if (json_array_size(a) && !(*items = calloc(json_array_size(a), elem)))
		return -ENOMEM;
	return 0;
}

static int decode(json_t *j, struct cluster_record *r, char *err, size_t errlen)
{
	if (!json_is_object(j)) {
		snprintf(err, errlen, "not a JSON object");
		return -EINVAL;
	}
	const char *id = str_field(j, "id");
	if (!cluster_id_valid(id)) {
		snprintf(err, errlen, "\"id\" is not %d hex digits", CLUSTER_ID_LEN);
		return -EINVAL;
	}
	memcpy(r->id, id, CLUSTER_ID_LEN + 1);
	const char *ep = str_field(j, "endpoint");
	int rc;
	if ((rc = want_key(j, "public_key", r->public_key, "record", err, errlen)) < 0 ||
	    (rc = want_prefix(j, "slice", &r->slice, "record", err, errlen)) < 0)
		return rc;
	if (!ep || ip_endpoint_parse(ep, &r->endpoint) < 0 || r->endpoint.port == 0) {
		snprintf(err, errlen, "record: \"endpoint\" is not IP:PORT");
		return -EINVAL;
	}
	size_t i;
	json_t *e;
	if ((rc = want_list(j, "candidates", sizeof(*r->candidates), (void **)&r->candidates, &r->n_candidates, err,
			    errlen)) < 0)
		return rc;
	json_array_foreach(json_object_get(j, "candidates"), i, e) {
		struct ovl_candidate *c = &r->candidates[r->n_candidates];
		const char *t = str_field(e, "type"), *a = str_field(e, "address");
		json_t *prio = json_object_get(e, "priority");
		if (!t || ovl_candidate_type_parse(t, &c->type) < 0 || !a || ip_endpoint_parse(a, &c->address) < 0 ||
		    !json_is_integer(prio) || json_integer_value(prio) < 0 || json_integer_value(prio) > UINT32_MAX) {
			snprintf(err, errlen, "candidate %zu: want type, address IP:PORT and priority", i);
			return -EINVAL;
		}
		c->priority = (uint32_t)json_integer_value(prio);
		r->n_candidates++;
	}
	if ((rc = want_list(j, "services", sizeof(*r->services), (void **)&r->services, &r->n_services, err, errlen)) <
	    0)
		return rc;
	json_array_foreach(json_object_get(j, "services"), i, e) {
		struct cluster_subnet *s = &r->services[r->n_services];
		const char *mode = str_field(e, "mode");
		if ((rc = want_service(e, &s->service, "service", err, errlen)) < 0)
			return rc;
		r->n_services++;
		if (!mode || ovl_mode_parse(mode, &s->mode) < 0) {
			snprintf(err, errlen, "service %s: bad \"mode\"", s->service);
			return -EINVAL;
		}
		if ((rc = want_prefix(e, "subnet", &s->subnet, "service", err, errlen)) < 0)
			return rc;
	}
	if ((rc = want_list(j, "dedicated", sizeof(*r->dedicated), (void **)&r->dedicated, &r->n_dedicated, err,
			    errlen)) < 0)
		return rc;
	json_array_foreach(json_object_get(j, "dedicated"), i, e) {
		struct cluster_dedicated *d = &r->dedicated[r->n_dedicated];
		json_t *port = json_object_get(e, "port");
		if ((rc = want_service(e, &d->service, "dedicated", err, errlen)) < 0)
			return rc;
		r->n_dedicated++;
		if ((rc = want_key(e, "public_key", d->public_key, "dedicated", err, errlen)) < 0 ||
		    (rc = want_prefix(e, "subnet", &d->subnet, "dedicated", err, errlen)) < 0)
			return rc;
		if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535) {
			snprintf(err, errlen, "dedicated %s: bad \"port\"", d->service);
			return -EINVAL;
		}
		d->port = (uint16_t)json_integer_value(port);
	}
	return 0;
}

int cluster_record_decode(const char *json, struct cluster_record *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	json_error_t je;
	json_t *j = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		snprintf(err, errlen, "not JSON: %s", je.text);
		return -EINVAL;
	}
	int rc = decode(j, r, err, errlen);
	json_decref(j);
	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		cluster_record_free(r);
	}
	return rc;
}
