// SPDX-License-Identifier: MIT
#include "cluster/local.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOCAL_FILE "cluster.json"

void cluster_local_free(struct cluster_local_state *st)
{
	for (size_t i = 0; i < st->n_claims; i++)
		free(st->claims[i].purpose);
	free(st->claims);
	st->claims = NULL;
	st->n_claims = 0;
}

const struct ip_prefix *cluster_local_claim_get(const struct cluster_local_state *st, const char *purpose)
{
	for (size_t i = 0; i < st->n_claims; i++)
		if (strcmp(st->claims[i].purpose, purpose) == 0)
			return &st->claims[i].cidr;
	return NULL;
}

void cluster_local_claim_drop(struct cluster_local_state *st, const char *purpose)
{
	for (size_t i = 0; i < st->n_claims; i++)
		if (strcmp(st->claims[i].purpose, purpose) == 0) {
			free(st->claims[i].purpose);
			st->claims[i] = st->claims[--st->n_claims];
			return;
		}
}

int cluster_local_claim_set(struct cluster_local_state *st, const char *purpose, const struct ip_prefix *cidr)
{
	for (size_t i = 0; i < st->n_claims; i++)
		if (strcmp(st->claims[i].purpose, purpose) == 0) {
			st->claims[i].cidr = *cidr;
			return 0;
		}
	struct cluster_local_claim *grown = realloc(st->claims, (st->n_claims + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	st->claims = grown;
	if (!(grown[st->n_claims].purpose = strdup(purpose)))
		return -ENOMEM;
	grown[st->n_claims++].cidr = *cidr;
	return 0;
}

static int fresh_id(char id[CLUSTER_ID_LEN + 1])
{
	uint8_t raw[CLUSTER_ID_LEN / 2];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -errno;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

int cluster_local_load(const char *data_dir, struct cluster_local_state *st, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	char path[4200];
	snprintf(path, sizeof(path), "%s/" LOCAL_FILE, data_dir);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j) {
		if (access(path, F_OK) == 0) {
			snprintf(err, errlen, "%s is not valid JSON (%s); move it aside to join as a new member", path,
				 je.text);
			return -EINVAL;
		}
		int r = fresh_id(st->id);
		if (r < 0)
			snprintf(err, errlen, "cannot draw a node id: %s", strerror(-r));
		return r;
	}
	const char *id = json_string_value(json_object_get(j, "id"));
	json_t *port = json_object_get(j, "wg_port");
	if (!cluster_id_valid(id) || (port && (!json_is_integer(port) || json_integer_value(port) < 0 ||
					       json_integer_value(port) > 65535))) {
		snprintf(err, errlen, "%s: bad \"id\" or \"wg_port\"; move it aside to join as a new member", path);
		json_decref(j);
		return -EINVAL;
	}
	memcpy(st->id, id, CLUSTER_ID_LEN + 1);
	st->wg_port = (uint16_t)json_integer_value(port);
	const char *purpose;
	json_t *v;
	json_object_foreach(json_object_get(j, "claims"), purpose, v) {
		struct ip_prefix p;
		if (json_is_string(v) && ip_prefix_parse(json_string_value(v), &p) == 0 &&
		    cluster_local_claim_set(st, purpose, &p) < 0) {
			json_decref(j);
			cluster_local_free(st);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	json_decref(j);
	return 0;
}

int cluster_local_save(const char *data_dir, const struct cluster_local_state *st)
{
	json_t *claims = json_object();
	for (size_t i = 0; i < st->n_claims; i++) {
		char buf[IP_PREFIX_STRLEN];
		json_object_set_new(claims, st->claims[i].purpose,
				    json_string(ip_prefix_format(&st->claims[i].cidr, buf, sizeof(buf))));
	}
	json_t *j = json_pack("{s:s, s:i, s:o}", "id", st->id, "wg_port", (int)st->wg_port, "claims", claims);
	char path[4200], tmp[4210];
	snprintf(path, sizeof(path), "%s/" LOCAL_FILE, data_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int r = j ? json_dump_file(j, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) : -1;
	json_decref(j);
	if (r < 0)
		return -EIO;
	int fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return rename(tmp, path) < 0 ? -errno : 0;
}

int cluster_source_address_for(const char *url, struct ip_addr *out)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return -EINVAL;
	}
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	/* An IPv6 host comes back in brackets. */
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	int r = getaddrinfo(host, port ? port : "2379", &hints, &ai);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	if (r != 0)
		return -EHOSTUNREACH;
	r = -EHOSTUNREACH;
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
	    getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		struct ip_endpoint ep;
		if (ip_endpoint_from_sockaddr((struct sockaddr *)&ss, &ep) == 0) {
			*out = ep.addr;
			r = 0;
		}
	}
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return r;
}
