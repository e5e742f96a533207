// SPDX-License-Identifier: MIT
#include "wg/uapi.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "wg/device.h"

/* No legitimate line is longer: keys and values are short. */
#define MAX_LINE 512

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int code,
							const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_true(const char *s)
{
	/* wireguard-go accepts exactly "true"; "false" is a no-op. */
	if (strcmp(s, "true") == 0)
		return 1;
	if (strcmp(s, "false") == 0)
		return 0;
	return -EINVAL;
}

static int add_aip(struct wg_uapi_peer *p, const struct ip_prefix *pfx)
{
	if (p->cfg.n_allowed_ips == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct ip_prefix *n = realloc(p->aips, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->aips = n;
		p->cap = cap;
	}
	p->aips[p->cfg.n_allowed_ips++] = *pfx;
	return 0;
}

static struct wg_uapi_peer *add_peer(struct wg_uapi_set *set)
{
	if (set->n_peers == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 4;
		struct wg_uapi_peer *n = realloc(set->peers, cap * sizeof(*n));
		if (!n)
			return NULL;
		set->peers = n;
		set->cap = cap;
	}
	memset(&set->peers[set->n_peers], 0, sizeof(set->peers[0]));
	return &set->peers[set->n_peers++];
}

static int parse_device_key(struct wg_uapi_set *set, const char *key, const char *value,
			    char *err, size_t errlen)
{
	unsigned long v;
	int b;
	if (strcmp(key, "private_key") == 0) {
		if (key_from_hex(value, set->private_key))
			return fail(err, errlen, -EINVAL, "invalid private_key");
		set->set_private_key = true;
	} else if (strcmp(key, "listen_port") == 0) {
		if (parse_uint(value, 65535, &v))
			return fail(err, errlen, -EINVAL, "invalid listen_port \"%s\"", value);
		set->set_listen_port = true;
		set->listen_port = (uint16_t)v;
	} else if (strcmp(key, "fwmark") == 0) {
		v = 0;
		if (*value && parse_uint(value, UINT32_MAX, &v))
			return fail(err, errlen, -EINVAL, "invalid fwmark \"%s\"", value);
		set->set_fwmark = true;
		set->fwmark = (uint32_t)v;
	} else if (strcmp(key, "replace_peers") == 0) {
		if ((b = parse_true(value)) < 0)
			return fail(err, errlen, -EINVAL, "invalid replace_peers \"%s\"", value);
		set->replace_peers = set->replace_peers || b;
	} else {
		return fail(err, errlen, -EINVAL, "invalid device key \"%s\"", key);
	}
	return 0;
}

static int parse_peer_key(struct wg_uapi_peer *p, const char *key, const char *value, char *err,
			  size_t errlen)
{
	unsigned long v;
	int b;
	if (strcmp(key, "remove") == 0) {
		if ((b = parse_true(value)) < 0)
			return fail(err, errlen, -EINVAL, "invalid remove \"%s\"", value);
		p->remove = p->remove || b;
	} else if (strcmp(key, "update_only") == 0) {
		if ((b = parse_true(value)) < 0)
			return fail(err, errlen, -EINVAL, "invalid update_only \"%s\"", value);
		p->cfg.update_only = p->cfg.update_only || b;
	} else if (strcmp(key, "preshared_key") == 0) {
		if (key_from_hex(value, p->cfg.preshared_key))
			return fail(err, errlen, -EINVAL, "invalid preshared_key");
		p->cfg.set_preshared_key = true;
	} else if (strcmp(key, "endpoint") == 0) {
		if (ip_endpoint_parse(value, &p->cfg.endpoint))
			return fail(err, errlen, -EINVAL, "invalid endpoint \"%s\"", value);
		p->cfg.set_endpoint = true;
	} else if (strcmp(key, "persistent_keepalive_interval") == 0) {
		if (parse_uint(value, 65535, &v))
			return fail(err, errlen, -EINVAL, "invalid persistent_keepalive_interval \"%s\"", value);
		p->cfg.set_persistent_keepalive = true;
		p->cfg.persistent_keepalive = (uint16_t)v;
	} else if (strcmp(key, "replace_allowed_ips") == 0) {
		if ((b = parse_true(value)) < 0)
			return fail(err, errlen, -EINVAL, "invalid replace_allowed_ips \"%s\"", value);
		/* Ordered: a replace after some allowed_ip lines drops those too. */
		if (b) {
			p->cfg.replace_allowed_ips = true;
			p->cfg.n_allowed_ips = 0;
		}
	} else if (strcmp(key, "allowed_ip") == 0) {
		struct ip_prefix pfx;
		if (ip_prefix_parse(value, &pfx) || !strchr(value, '/'))
			return fail(err, errlen, -EINVAL, "invalid allowed_ip \"%s\"", value);
		if (add_aip(p, &pfx))
			return fail(err, errlen, -ENOMEM, "out of memory");
	} else if (strcmp(key, "protocol_version") == 0) {
		if (strcmp(value, "1") != 0)
			return fail(err, errlen, -EPROTO, "unsupported protocol_version \"%s\"", value);
	} else {
		return fail(err, errlen, -EINVAL, "invalid peer key \"%s\"", key);
	}
	return 0;
}

int wg_uapi_parse_set(FILE *in, struct wg_uapi_set *set, char *err, size_t errlen)
{
	char line[MAX_LINE];
	struct wg_uapi_peer *peer = NULL;
	int ret = 0;
	bool ended = false;

	memset(set, 0, sizeof(*set));
	if (err && errlen)
		err[0] = 0;
	while (fgets(line, sizeof(line), in)) {
		size_t len = strlen(line);
		char *eq;
		if (len == 0 || line[len - 1] != '\n') {
			/* Overlong line (or EOF mid-line): swallow the rest of it. */
			int c;
			while ((c = fgetc(in)) != EOF && c != '\n')
				;
			if (!ret)
				ret = fail(err, errlen, -EPROTO, "line too long or unterminated");
			continue;
		}
		line[--len] = 0;
		if (len == 0) {
			ended = true;
			break;
		}
		if (ret)
			continue; /* keep reading to the blank line, but ignore the rest */
		eq = strchr(line, '=');
		if (!eq) {
			ret = fail(err, errlen, -EPROTO, "line without '=': \"%.64s\"", line);
			continue;
		}
		*eq = 0;
		const char *key = line, *value = eq + 1;
		if (strcmp(key, "public_key") == 0) {
			peer = add_peer(set);
			if (!peer) {
				ret = fail(err, errlen, -ENOMEM, "out of memory");
				continue;
			}
			if (key_from_hex(value, peer->cfg.public_key))
				ret = fail(err, errlen, -EINVAL, "invalid public_key");
		} else if (!peer) {
			ret = parse_device_key(set, key, value, err, errlen);
		} else {
			ret = parse_peer_key(peer, key, value, err, errlen);
		}
	}
	if (!ended && !ret)
		ret = fail(err, errlen, -EPROTO, "request not terminated by a blank line");
	for (size_t i = 0; i < set->n_peers; i++)
		set->peers[i].cfg.allowed_ips = set->peers[i].aips;
	return ret;
}

void wg_uapi_set_free(struct wg_uapi_set *set)
{
	for (size_t i = 0; i < set->n_peers; i++)
		free(set->peers[i].aips);
	free(set->peers);
	wg_memzero(set, sizeof(*set));
}

int wg_uapi_apply_set(struct wg_device *dev, const struct wg_uapi_set *set)
{
	int ret = 0;
	pthread_mutex_lock(&dev->config_lock);
	/* The only step that can fail on a valid request goes first. */
	if (set->set_listen_port)
		ret = wg_device_rebind(dev, set->listen_port);
	if (ret) {
		pthread_mutex_unlock(&dev->config_lock);
		return ret;
	}
	pthread_rwlock_wrlock(&dev->lock);
	if (set->set_private_key)
		ret = wg_device_set_private_key_locked(dev, set->private_key);
	if (!ret && set->set_fwmark)
		ret = wg_device_set_fwmark_locked(dev, set->fwmark);
	if (!ret && set->replace_peers) {
		struct wg_peer *peer;
		while ((peer = TAILQ_FIRST(&dev->peers)))
			wg_peer_destroy(peer);
	}
	for (size_t i = 0; !ret && i < set->n_peers; i++) {
		const struct wg_uapi_peer *p = &set->peers[i];
		if (p->remove) {
			struct wg_peer *peer = wg_peer_find(dev, p->cfg.public_key);
			if (peer)
				wg_peer_destroy(peer);
			continue;
		}
		ret = wg_peer_apply(dev, &p->cfg);
	}
	pthread_rwlock_unlock(&dev->lock);
	pthread_mutex_unlock(&dev->config_lock);
	return ret;
}

static void write_key(FILE *out, const char *name, const uint8_t key[WG_KEY_LEN])
{
	char hex[WG_KEY_HEX_LEN + 1];
	key_to_hex(key, hex);
	fprintf(out, "%s=%s\n", name, hex);
	wg_memzero(hex, sizeof(hex));
}

int wg_uapi_write_get(struct wg_device *dev, FILE *out)
{
	struct wg_peer *peer;
	char buf[IP_PREFIX_STRLEN > IP_ENDPOINT_STRLEN ? IP_PREFIX_STRLEN : IP_ENDPOINT_STRLEN];

	pthread_rwlock_rdlock(&dev->lock);
	if (dev->identity.has_key)
		write_key(out, "private_key", dev->identity.private_key);
	if (dev->port)
		fprintf(out, "listen_port=%u\n", dev->port);
	if (dev->fwmark)
		fprintf(out, "fwmark=%u\n", dev->fwmark);
	TAILQ_FOREACH(peer, &dev->peers, link) {
		struct wg_aip_node *n;
		write_key(out, "public_key", peer->public_key);
		pthread_mutex_lock(&peer->lock);
		write_key(out, "preshared_key", peer->hs.preshared_key);
		fprintf(out, "protocol_version=1\n");
		if (peer->has_endpoint)
			fprintf(out, "endpoint=%s\n", ip_endpoint_format(&peer->endpoint, buf, sizeof(buf)));
		fprintf(out, "last_handshake_time_sec=%llu\nlast_handshake_time_nsec=%llu\n",
			(unsigned long long)(peer->last_handshake_unix_ns / NSEC_PER_SEC),
			(unsigned long long)(peer->last_handshake_unix_ns % NSEC_PER_SEC));
		fprintf(out, "tx_bytes=%llu\nrx_bytes=%llu\n",
			(unsigned long long)atomic_load(&peer->tx_bytes),
			(unsigned long long)atomic_load(&peer->rx_bytes));
		fprintf(out, "persistent_keepalive_interval=%u\n", peer->persistent_keepalive);
		pthread_mutex_unlock(&peer->lock);
		wg_aip_owner_foreach(n, &peer->aips) {
			struct ip_prefix p;
			wg_aip_node_prefix(n, &p);
			fprintf(out, "allowed_ip=%s\n", ip_prefix_format(&p, buf, sizeof(buf)));
		}
	}
	pthread_rwlock_unlock(&dev->lock);
	return ferror(out) ? -EIO : 0;
}

/* Returns 1 after a request, 0 at a clean end of input, -errno on failure. */
int wg_uapi_serve(struct wg_device *dev, FILE *in, FILE *out)
{
	char line[32];
	int ret;

	if (!fgets(line, sizeof(line), in))
		return 0;
	if (strcmp(line, "get=1\n") == 0) {
		char *body = NULL;
		size_t len = 0;
		FILE *mem;
		int c = fgetc(in);
		if (c != '\n') {
			log_warn("wg %s: UAPI get request not followed by a blank line", dev->ifname);
			return -EPROTO;
		}
		/* Render into memory first: a slow client must not hold the device lock. */
		mem = open_memstream(&body, &len);
		if (!mem)
			return -ENOMEM;
		ret = wg_uapi_write_get(dev, mem);
		if (fclose(mem) != 0 && !ret)
			ret = -ENOMEM;
		if (!ret)
			fwrite(body, 1, len, out);
		free(body);
		fprintf(out, "errno=%d\n\n", ret);
	} else if (strcmp(line, "set=1\n") == 0) {
		struct wg_uapi_set set;
		char err[160];
		ret = wg_uapi_parse_set(in, &set, err, sizeof(err));
		if (ret)
			log_warn("wg %s: UAPI set rejected: %s", dev->ifname, err);
		else
			ret = wg_uapi_apply_set(dev, &set);
		wg_uapi_set_free(&set);
		/* wireguard-go reports negative errno values; wg(8) negates them back. */
		fprintf(out, "errno=%d\n\n", ret);
	} else {
		log_warn("wg %s: invalid UAPI operation \"%.16s\"", dev->ifname, line);
		return -EPROTO;
	}
	if (fflush(out) != 0)
		return -EIO;
	return 1;
}
