// SPDX-License-Identifier: MIT
/*
 * etcd's v3 JSON gateway over libcurl: see etcd.h. One curl handle per call
 * (the steady state is a keep-alive every few seconds, so connection reuse
 * would buy nothing and a shared handle would need a lock).
 */
#include "cluster/etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct etcd {
	struct store base;
	struct etcd_config cfg;
	char *cacert, *cert, *key;
	volatile size_t current; /* the endpoint that answered last */
};

/* ---- configuration ---- */

void etcd_config_free(struct etcd_config *cfg)
{
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		free(cfg->endpoints[i]);
	cfg->n_endpoints = 0;
}

int etcd_config_parse(struct etcd_config *cfg, const char *spec, char *err, size_t errlen)
{
	memset(cfg->endpoints, 0, sizeof(cfg->endpoints));
	cfg->n_endpoints = 0;
	if (strncmp(spec, "etcd=", 5) != 0) {
		snprintf(err, errlen, "--cluster \"%s\": want etcd=http://HOST:2379[,http://HOST2:2379...]", spec);
		return -EINVAL;
	}
	const char *p = spec + 5;
	while (*p) {
		size_t len = strcspn(p, ",");
		bool http = len > 7 && strncmp(p, "http://", 7) == 0;
		bool https = len > 8 && strncmp(p, "https://", 8) == 0;
		if (!http && !https) {
			snprintf(err, errlen, "--cluster: endpoint \"%.*s\" is not an http:// or https:// URL", (int)len, p);
			goto fail;
		}
		if (cfg->n_endpoints == ETCD_MAX_ENDPOINTS) {
			snprintf(err, errlen, "--cluster: at most %d etcd endpoints", ETCD_MAX_ENDPOINTS);
			goto fail;
		}
		while (len > 0 && p[len - 1] == '/')
			len--;
		if (!(cfg->endpoints[cfg->n_endpoints++] = strndup(p, len))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	if (cfg->n_endpoints == 0) {
		snprintf(err, errlen, "--cluster: no etcd endpoint given");
		return -EINVAL;
	}
	return 0;
fail:
	etcd_config_free(cfg);
	return -EINVAL;
}

/* ---- base64 (etcd's JSON carries bytes as base64) ---- */

static char *b64_encode(const char *s, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
	return out;
}

static char *b64_decode(const char *s)
{
	size_t len = strlen(s);
	if (len % 4)
		return NULL;
	char *out = malloc(len / 4 * 3 + 1);
	if (!out)
		return NULL;
	int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
	if (n < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	for (size_t i = len; i > 0 && s[i - 1] == '='; i--)
		n--;
	out[n] = '\0';
	return out;
}

static json_t *b64_json(const char *s, size_t len)
{
	char *e = b64_encode(s, len);
	json_t *j = e ? json_string(e) : NULL;
	free(e);
	return j;
}

/* The byte after the last key with this prefix: etcd's range_end for "every key under prefix". */
static json_t *prefix_end_json(const char *prefix)
{
	size_t len = strlen(prefix);
	char *end = strdup(prefix);
	if (!end)
		return NULL;
	while (len > 0 && (unsigned char)end[len - 1] == 0xff)
		len--;
	if (len == 0) {
		free(end);
		return b64_json("\0", 1);
	}
	end[len - 1]++;
	json_t *j = b64_json(end, len);
	free(end);
	return j;
}

static int64_t json_int64(json_t *obj, const char *field)
{
	json_t *v = json_object_get(obj, field);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return json_integer_value(v);
	return 0;
}

static json_t *int64_json(int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

/* ---- HTTP ---- */

struct body {
	char *data;
	size_t len;
	size_t limit;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	if (b->len + n > b->limit)
		return 0; /* curl fails the transfer */
	char *grown = realloc(b->data, b->len + n + 1);
	if (!grown)
		return 0;
	memcpy(grown + b->len, ptr, n);
	b->data = grown;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static CURL *easy_for(struct etcd *s, const char *endpoint, const char *path, const char *payload,
		      struct curl_slist *hdrs, char *url, size_t urllen)
{
	CURL *c = curl_easy_init();
	if (!c)
		return NULL;
	snprintf(url, urllen, "%s%s", endpoint, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* a proxy from the environment never sees cluster state */
	if (s->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, s->cacert);
	if (s->cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, s->cert);
	if (s->key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, s->key);
	return c;
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
		return -EKEYREJECTED; /* TLS: the certificates given do not fit this etcd */
	default:
		return -EIO;
	}
}

/* etcd's error answer: gRPC code 5 (NotFound: a lease) is -ENOENT, the rest -EIO. */
static int grpc_error(json_t *ans, const char *path)
{
	json_t *code = json_object_get(ans, "code");
	const char *msg = json_string_value(json_object_get(ans, "message"));
	if (!msg)
		msg = json_string_value(json_object_get(ans, "error"));
	log_debug("etcd %s: %s", path, msg ? msg : "error");
	if (json_integer_value(code) == 5 || (msg && strstr(msg, "not found")))
		return -ENOENT;
	return -EIO;
}

/* POSTs body (stolen) to path; *ans gets the parsed answer. Tries each endpoint once. */
static int call(struct etcd *s, const char *path, json_t *body, json_t **ans)
{
	*ans = NULL;
	char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!payload)
		return -ENOMEM;
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	int r = -EIO;
	size_t start = s->current;
	for (size_t i = 0; i < s->cfg.n_endpoints; i++) {
		size_t idx = (start + i) % s->cfg.n_endpoints;
		char url[512];
		struct body b = { .limit = 64u << 20 };
		CURL *c = easy_for(s, s->cfg.endpoints[idx], path, payload, hdrs, url, sizeof(url));
		if (!c) {
			r = -ENOMEM;
			break;
		}
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->cfg.timeout_ms ? s->cfg.timeout_ms : 3000L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		__atomic_add_fetch(&s->base.requests, 1, __ATOMIC_RELAXED);
		CURLcode rc = curl_easy_perform(c);
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(c);
		if (rc != CURLE_OK) {
			log_debug("etcd %s: %s", url, curl_easy_strerror(rc));
			r = curl_errno(rc);
			free(b.data);
			continue;
		}
		s->current = idx;
		json_error_t je;
		json_t *j = b.data ? json_loads(b.data, 0, &je) : NULL;
		free(b.data);
		if (!json_is_object(j)) {
			json_decref(j);
			r = -EPROTO;
			break;
		}
		if (status != 200 || json_object_get(j, "code") || json_object_get(j, "error")) {
			r = grpc_error(j, path);
			json_decref(j);
			/* An unavailable member (no leader, stopping) may be fine on the next one. */
			if (status >= 500 && r == -EIO)
				continue;
			break;
		}
		*ans = j;
		r = 0;
		break;
	}
	curl_slist_free_all(hdrs);
	free(payload);
	return r;
}

/* ---- the store operations ---- */

static struct etcd *E(struct store *s)
{
	return (struct etcd *)s;
}

static json_t *put_op(const char *key, const char *value, int64_t lease)
{
	json_t *put = json_pack("{s:o, s:o}", "key", b64_json(key, strlen(key)), "value", b64_json(value, strlen(value)));
	if (put && lease)
		json_object_set_new(put, "lease", int64_json(lease));
	return put;
}

static int etcd_create(struct store *s, const char *const *keys, size_t nkeys, const char *value, int64_t lease,
		       bool *created)
{
	json_t *cmp = json_array(), *ok = json_array();
	for (size_t i = 0; i < nkeys; i++) {
		/* create_revision == 0: the key does not exist. */
		json_array_append_new(cmp, json_pack("{s:o, s:s, s:s, s:s}", "key", b64_json(keys[i], strlen(keys[i])),
						     "target", "CREATE", "result", "EQUAL", "create_revision", "0"));
		json_array_append_new(ok, json_pack("{s:o}", "request_put", put_op(keys[i], value, lease)));
	}
	json_t *ans;
	int r = call(E(s), "/v3/kv/txn", json_pack("{s:o, s:o}", "compare", cmp, "success", ok), &ans);
	if (r < 0)
		return r;
	*created = json_is_true(json_object_get(ans, "succeeded"));
	json_decref(ans);
	return 0;
}

static int etcd_put(struct store *s, const char *key, const char *value, int64_t lease)
{
	json_t *ans;
	int r = call(E(s), "/v3/kv/put", put_op(key, value, lease), &ans);
	json_decref(ans);
	return r;
}

static int etcd_del_if(struct store *s, const char *key, const char *value)
{
	json_t *cmp = json_pack("[{s:o, s:s, s:s, s:o}]", "key", b64_json(key, strlen(key)), "target", "VALUE", "result",
				"EQUAL", "value", b64_json(value, strlen(value)));
	json_t *del = json_pack("[{s:{s:o}}]", "request_delete_range", "key", b64_json(key, strlen(key)));
	json_t *ans;
	int r = call(E(s), "/v3/kv/txn", json_pack("{s:o, s:o}", "compare", cmp, "success", del), &ans);
	json_decref(ans);
	return r;
}

static int kv_from_json(json_t *kv, struct store_kvs *out)
{
	char *key = b64_decode(json_string_value(json_object_get(kv, "key")) ?: "");
	const char *v64 = json_string_value(json_object_get(kv, "value"));
	char *value = b64_decode(v64 ? v64 : "");
	int r = key && value ? store_kvs_add(out, key, value, json_int64(kv, "mod_revision"), json_int64(kv, "lease"))
			     : -EPROTO;
	free(key);
	free(value);
	return r;
}

static int etcd_get_prefix(struct store *s, const char *prefix, struct store_kvs *out)
{
	memset(out, 0, sizeof(*out));
	json_t *ans;
	int r = call(E(s), "/v3/kv/range",
		     json_pack("{s:o, s:o}", "key", b64_json(prefix, strlen(prefix)), "range_end", prefix_end_json(prefix)),
		     &ans);
	if (r < 0)
		return r;
	out->revision = json_int64(json_object_get(ans, "header"), "revision");
	size_t i;
	json_t *kv;
	json_array_foreach(json_object_get(ans, "kvs"), i, kv) {
		if ((r = kv_from_json(kv, out)) < 0) {
			store_kvs_free(out);
			break;
		}
	}
	json_decref(ans);
	return r;
}

static int etcd_lease_grant(struct store *s, int64_t ttl, int64_t *id)
{
	json_t *ans;
	int r = call(E(s), "/v3/lease/grant", json_pack("{s:o}", "TTL", int64_json(ttl)), &ans);
	if (r < 0)
		return r;
	*id = json_int64(ans, "ID");
	json_decref(ans);
	return *id ? 0 : -EPROTO;
}

static int etcd_lease_keepalive(struct store *s, int64_t id)
{
	json_t *ans;
	int r = call(E(s), "/v3/lease/keepalive", json_pack("{s:o}", "ID", int64_json(id)), &ans);
	if (r < 0)
		return r;
	/* An expired lease answers TTL 0 (omitted in JSON). */
	int64_t ttl = json_int64(json_object_get(ans, "result"), "TTL");
	json_decref(ans);
	return ttl > 0 ? 0 : -ENOENT;
}

static int etcd_lease_revoke(struct store *s, int64_t id)
{
	json_t *ans;
	int r = call(E(s), "/v3/lease/revoke", json_pack("{s:o}", "ID", int64_json(id)), &ans);
	json_decref(ans);
	return r;
}

/* ---- watch: a streaming POST, one JSON object per line ---- */

struct watch_ctx {
	struct body buf;
	store_watch_fn fn;
	void *arg;
	const volatile bool *stop;
	int result; /* set by a line that ends the watch */
};

static void watch_line(struct watch_ctx *w, const char *line, size_t len)
{
	json_error_t je;
	json_t *j = json_loadb(line, len, 0, &je);
	json_t *res = json_object_get(j, "result");
	if (!res) {
		if (j && json_object_get(j, "error"))
			w->result = -EIO;
		json_decref(j);
		return;
	}
	if (json_int64(res, "compact_revision") > 0) {
		w->result = -ESTALE;
	} else if (json_is_true(json_object_get(res, "canceled"))) {
		w->result = -EIO;
	} else {
		json_t *evs = json_object_get(res, "events");
		size_t n = json_array_size(evs), i;
		struct store_kvs kvs = { 0 };
		struct store_event *out = calloc(n ? n : 1, sizeof(*out));
		json_t *ev;
		bool ok = out != NULL;
		json_array_foreach(evs, i, ev) {
			if (!ok || kv_from_json(json_object_get(ev, "kv"), &kvs) < 0) {
				ok = false;
				break;
			}
			/* PUT is the enum's zero value, which the gateway omits. */
			const char *type = json_string_value(json_object_get(ev, "type"));
			out[i].type = type && strcmp(type, "DELETE") == 0 ? STORE_EV_DELETE : STORE_EV_PUT;
			out[i].kv = kvs.items[i];
			if (out[i].type == STORE_EV_DELETE)
				out[i].kv.value = NULL;
		}
		int64_t rev = json_int64(json_object_get(res, "header"), "revision");
		if (ok)
			w->fn(out, n, rev, w->arg);
		else
			w->result = -EPROTO;
		free(out);
		store_kvs_free(&kvs);
	}
	json_decref(j);
}

static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct watch_ctx *w = arg;
	size_t n = size * nmemb;
	if (body_write(ptr, size, nmemb, &w->buf) != n)
		return 0;
	char *nl;
	while ((nl = memchr(w->buf.data, '\n', w->buf.len))) {
		size_t len = (size_t)(nl - w->buf.data);
		if (len)
			watch_line(w, w->buf.data, len);
		memmove(w->buf.data, nl + 1, w->buf.len - len - 1);
		w->buf.len -= len + 1;
		w->buf.data[w->buf.len] = '\0';
		if (w->result)
			return 0;
	}
	return n;
}

static int watch_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct watch_ctx *w = arg;
	return *w->stop ? 1 : 0;
}

static int etcd_watch(struct store *st, const char *prefix, int64_t from_rev, store_watch_fn fn, void *arg,
		      const volatile bool *stop)
{
	struct etcd *s = E(st);
	json_t *create = json_pack("{s:o, s:o, s:o}", "key", b64_json(prefix, strlen(prefix)), "range_end",
				   prefix_end_json(prefix), "start_revision", int64_json(from_rev));
	json_t *body = json_pack("{s:o}", "create_request", create);
	char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!payload)
		return -ENOMEM;
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	size_t idx = s->current % s->cfg.n_endpoints;
	char url[512];
	struct watch_ctx w = { .buf = { .limit = 64u << 20 }, .fn = fn, .arg = arg, .stop = stop };
	CURL *c = easy_for(s, s->cfg.endpoints[idx], "/v3/watch", payload, hdrs, url, sizeof(url));
	int r = -ENOMEM;
	if (c) {
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, watch_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, &w);
		curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 5L);
		curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 2L);
		__atomic_add_fetch(&s->base.requests, 1, __ATOMIC_RELAXED);
		CURLcode rc = curl_easy_perform(c);
		curl_easy_cleanup(c);
		if (w.result)
			r = w.result;
		else if (*stop)
			r = -ECANCELED;
		else
			r = rc == CURLE_OK ? -EPIPE : curl_errno(rc);
		if (r != -ECANCELED && r != -ESTALE)
			s->current = idx + 1; /* the next attempt tries another member */
	}
	free(w.buf.data);
	curl_slist_free_all(hdrs);
	free(payload);
	return r;
}

static void etcd_free(struct store *st)
{
	struct etcd *s = E(st);
	if (!s)
		return;
	etcd_config_free(&s->cfg);
	free(s->cacert);
	free(s->cert);
	free(s->key);
	free(s);
}

static const struct store_ops etcd_ops = {
	.create = etcd_create,
	.put = etcd_put,
	.del_if = etcd_del_if,
	.get_prefix = etcd_get_prefix,
	.lease_grant = etcd_lease_grant,
	.lease_keepalive = etcd_lease_keepalive,
	.lease_revoke = etcd_lease_revoke,
	.watch = etcd_watch,
	.free = etcd_free,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct store *etcd_store_new(const struct etcd_config *cfg, char *err, size_t errlen)
{
	pthread_once(&curl_once, curl_init_once);
	struct etcd *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->base.ops = &etcd_ops;
	s->cfg.timeout_ms = cfg->timeout_ms;
	bool oom = false;
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		oom |= !(s->cfg.endpoints[s->cfg.n_endpoints++] = strdup(cfg->endpoints[i]));
	if (cfg->cacert)
		oom |= !(s->cacert = strdup(cfg->cacert));
	if (cfg->cert)
		oom |= !(s->cert = strdup(cfg->cert));
	if (cfg->key)
		oom |= !(s->key = strdup(cfg->key));
	if (oom || !s->cfg.n_endpoints) {
		snprintf(err, errlen, oom ? "out of memory" : "no etcd endpoint");
		etcd_free(&s->base);
		return NULL;
	}
	return &s->base;
}
