// SPDX-License-Identifier: MIT
/* The generic subcommand: `overlayctl <op> key=value ...` as one protocol request. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ipc/client.h"

/* Fields that are strings in the protocol even when they look like numbers. */
static const char *const string_fields[] = {
	"service",    "name",	    "deployment",  "instance_id", "ip",	       "cidr",	     "pubkey",
	"public_key", "endpoint",   "allowed_ips", "zone",	  "node_ip",   "mode",	     "cluster_cidr",
	"slice_cidr", "private_key", "dns_server", "dns_domain",  "isolation_network",
};

static bool is_string_field(const char *key)
{
	for (size_t i = 0; i < sizeof(string_fields) / sizeof(string_fields[0]); i++)
		if (strcmp(key, string_fields[i]) == 0)
			return true;
	return false;
}

static json_t *typed_value(const char *key, const char *value)
{
	if (!is_string_field(key)) {
		json_error_t e;
		json_t *v = json_loads(value, JSON_DECODE_ANY, &e);
		if (v)
			return v;
	}
	return json_string(value);
}

/* Sends one request and returns its response object (new reference), or NULL after reporting. */
static json_t *call(int fd, json_t *request, uint64_t id)
{
	json_t *frame = json_pack("{s:s, s:I, s:O}", "frame", "request", "id", (json_int_t)id, "request", request);
	char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
	json_decref(frame);
	if (!text) {
		fprintf(stderr, "overlayctl: out of memory\n");
		return NULL;
	}
	int r = ipc_client_send(fd, text, strlen(text));
	free(text);
	if (r < 0) {
		fprintf(stderr, "overlayctl: sending the request failed: %s\n", strerror(-r));
		return NULL;
	}
	for (;;) {
		char *body;
		size_t len;
		r = ipc_client_recv(fd, &body, &len);
		if (r < 0) {
			fprintf(stderr, "overlayctl: reading the response failed: %s\n",
				r == -EPIPE ? "overlayd closed the connection" : strerror(-r));
			return NULL;
		}
		json_error_t e;
		json_t *f = json_loadb(body, len, 0, &e);
		free(body);
		if (!f) {
			fprintf(stderr, "overlayctl: invalid frame from overlayd: %s\n", e.text);
			return NULL;
		}
		json_t *fid = json_object_get(f, "id");
		json_t *resp = json_object_get(f, "response");
		const char *kind = json_string_value(json_object_get(f, "frame"));
		if (kind && strcmp(kind, "response") == 0 && json_is_integer(fid) &&
		    ((uint64_t)json_integer_value(fid) == id || json_integer_value(fid) == 0) && json_is_object(resp)) {
			json_incref(resp);
			json_decref(f);
			return resp;
		}
		json_decref(f); /* an event: not ours to print here */
	}
}

json_t *ctl_request(const char *path, json_t *request)
{
	int fd = ctl_connect(path);
	if (fd < 0)
		return NULL;
	json_t *resp = call(fd, request, 1);
	close(fd);
	return resp;
}

json_t *ctl_request_op(const char *path, const char *op)
{
	json_t *req = json_pack("{s:s}", "op", op);
	json_t *resp = req ? ctl_request(path, req) : NULL;
	json_decref(req);
	return resp;
}

int ctl_op(const char *path, bool raw, int argc, char **argv)
{
	json_t *req = json_pack("{s:s}", "op", argv[0]);
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i]) {
			fprintf(stderr, "overlayctl: expected key=value, got \"%s\"\n", argv[i]);
			json_decref(req);
			return 2;
		}
		*eq = '\0';
		if (json_object_set_new(req, argv[i], typed_value(argv[i], eq + 1)) < 0) {
			json_decref(req);
			return 1;
		}
	}
	json_t *resp = ctl_request(path, req);
	json_decref(req);
	if (!resp)
		return 1;
	int rc = ctl_print_response(resp, raw);
	json_decref(resp);
	return rc;
}
