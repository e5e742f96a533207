// SPDX-License-Identifier: MIT
/*
 * `overlayctl status | peers | services | attachments`: the status response
 * as tables. Cells never contain spaces (handshake age "1m23s", transfer
 * "1.5MiB"), so a table splits on whitespace; "-" marks an empty cell.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

/* "never", "42s", "3m07s", "2h05m", "4d03h": how long ago a Unix time was. */
static void format_age(json_int_t then, time_t now, char *out, size_t len)
{
	if (then <= 0) {
		snprintf(out, len, "never");
		return;
	}
	long long s = now > then ? (long long)(now - then) : 0;
	if (s < 60)
		snprintf(out, len, "%llds", s);
	else if (s < 3600)
		snprintf(out, len, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* "812B", "1.50KiB", "3.20MiB", ...: bytes in binary units, as wg prints transfer. */
static void format_bytes(json_int_t n, char *out, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	if (n < 1024) {
		snprintf(out, len, "%" JSON_INTEGER_FORMAT "B", n);
		return;
	}
	double v = (double)n / 1024;
	size_t u = 0;
	for (; v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0]); u++)
		v /= 1024;
	snprintf(out, len, "%.2f%s", v, unit[u]);
}

static const char *nonempty_or_dash(json_t *o, const char *key)
{
	const char *s = ctl_str_or_dash(o, key);
	return *s ? s : "-";
}

void ctl_print_peers(json_t *status)
{
	json_t *peers = json_object_get(status, "peers"), *v;
	size_t i;
	time_t now = time(NULL);
	printf("%s%-44s  %-22s  %-28s  %-9s  %-10s  %-10s  %s%s\n", ctl_color(CTL_BOLD), "PEER", "ENDPOINT",
	       "ALLOWED IPS", "HANDSHAKE", "RECEIVED", "SENT", "HEALTH", ctl_color(CTL_RESET));
	json_array_foreach(peers, i, v)
	{
		char age[24], rx[24], tx[24];
		json_t *verdict = json_object_get(v, "healthy"); /* absent: not judged yet */
		bool healthy = json_is_true(verdict);
		const char *health = !verdict ? "pending" : healthy ? "healthy" : "unhealthy";
		format_age(ctl_int(v, "last_handshake_unix_secs"), now, age, sizeof(age));
		format_bytes(ctl_int(v, "rx_bytes"), rx, sizeof(rx));
		format_bytes(ctl_int(v, "tx_bytes"), tx, sizeof(tx));
		printf("%-44s  %-22s  %-28s  %-9s  %-10s  %-10s  %s%s%s\n", ctl_str_or_dash(v, "public_key"),
		       nonempty_or_dash(v, "endpoint"), nonempty_or_dash(v, "allowed_ips"), age, rx, tx,
		       ctl_color(!verdict ? CTL_RESET : healthy ? CTL_GREEN : CTL_RED), health, ctl_color(CTL_RESET));
	}
}

/* A dedicated service's WireGuard device, from the dedicated_services list; "-" for other modes. */
static const char *service_device(json_t *status, const char *service)
{
	json_t *v;
	size_t i;
	json_array_foreach(json_object_get(status, "dedicated_services"), i, v)
	{
		if (strcmp(ctl_str_or_dash(v, "service"), service) == 0)
			return ctl_str_or_dash(v, "interface");
	}
	return "-";
}

void ctl_print_services(json_t *status)
{
	json_t *v;
	size_t i;
	printf("%s%-24s  %-9s  %-15s  %-15s  %-18s  %-11s  %s%s\n", ctl_color(CTL_BOLD), "SERVICE", "MODE", "BRIDGE",
	       "DEVICE", "SUBNET", "POOL USED", "ATTACHED", ctl_color(CTL_RESET));
	json_array_foreach(json_object_get(status, "services"), i, v)
	{
		char pool[48];
		snprintf(pool, sizeof(pool), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT, ctl_int(v, "addresses_in_use"),
			 ctl_int(v, "pool_size"));
		const char *name = ctl_str_or_dash(v, "service");
		printf("%-24s  %-9s  %-15s  %-15s  %-18s  %-11s  %" JSON_INTEGER_FORMAT "\n", name,
		       ctl_str_or_dash(v, "mode"), ctl_str_or_dash(v, "bridge"), service_device(status, name),
		       ctl_str_or_dash(v, "subnet"), pool, ctl_int(v, "attached"));
	}
}

/* "pid:4242", "guest:vm-1", "host:h-7": an attach handle in one cell. */
static void format_handle(json_t *h, char *out, size_t len)
{
	const char *platform = ctl_str_or_dash(h, "platform");
	if (strcmp(platform, "linux_pid") == 0)
		snprintf(out, len, "pid:%" JSON_INTEGER_FORMAT, ctl_int(h, "pid"));
	else
		snprintf(out, len, "%s:%s", strcmp(platform, "host_shared") == 0 ? "host" : "guest",
			 ctl_str_or_dash(h, "id"));
}

void ctl_print_attachments(json_t *status)
{
	json_t *v;
	size_t i;
	printf("%s%-24s  %-24s  %s%s\n", ctl_color(CTL_BOLD), "ATTACHMENT", "SERVICE", "ADDRESSES",
	       ctl_color(CTL_RESET));
	json_array_foreach(json_object_get(status, "attachments"), i, v)
	{
		char handle[300], addrs[100];
		format_handle(json_object_get(v, "handle"), handle, sizeof(handle));
		const char *global = json_string_value(json_object_get(v, "global_ip"));
		snprintf(addrs, sizeof(addrs), "%s%s%s", ctl_str_or_dash(v, "ip"), global ? "," : "", global ? global : "");
		printf("%-24s  %-24s  %s\n", handle, ctl_str_or_dash(v, "service"), addrs);
	}
}

/* Extension "cluster" (overlayd --cluster): the members this node sees in etcd. */
static void print_cluster(json_t *cl)
{
	json_t *v;
	size_t i;
	time_t now = time(NULL);
	printf("%-14s %s (%s, %" JSON_INTEGER_FORMAT " etcd requests)\n", "cluster node", ctl_str_or_dash(cl, "node_id"),
	       json_is_true(json_object_get(cl, "connected")) ? "connected" : "etcd unreachable",
	       ctl_int(cl, "store_requests"));
	printf("%s%-32s  %-4s  %-22s  %-18s  %s%s\n", ctl_color(CTL_BOLD), "MEMBER", "SELF", "ENDPOINT", "SLICE",
	       "LAST SEEN", ctl_color(CTL_RESET));
	json_array_foreach(json_object_get(cl, "members"), i, v)
	{
		char age[24];
		format_age(ctl_int(v, "last_seen_unix_secs"), now, age, sizeof(age));
		printf("%-32s  %-4s  %-22s  %-18s  %s\n", ctl_str_or_dash(v, "node_id"),
		       json_is_true(json_object_get(v, "self")) ? "yes" : "", ctl_str_or_dash(v, "endpoint"),
		       ctl_str_or_dash(v, "slice"), age);
	}
}

void ctl_print_status(json_t *r)
{
	printf("%-14s %s\n", "interface", ctl_str_or_dash(r, "interface"));
	printf("%-14s %s\n", "node ip", ctl_str_or_dash(r, "node_ip"));
	printf("%-14s %s\n", "public key", ctl_str_or_dash(r, "public_key"));
	printf("%-14s %s\n", "overlay cidr", ctl_str_or_dash(r, "overlay_cidr"));
	printf("%-14s %s\n", "slice cidr", ctl_str_or_dash(r, "slice_cidr"));
	printf("%-14s %" JSON_INTEGER_FORMAT "\n", "peers", ctl_int(r, "peer_count"));
	printf("%-14s %" JSON_INTEGER_FORMAT "\n", "services", ctl_int(r, "service_count"));
	printf("%-14s %zu\n", "attachments", json_array_size(json_object_get(r, "attachments")));
	if (json_array_size(json_object_get(r, "peers"))) {
		putchar('\n');
		ctl_print_peers(r);
	}
	if (json_array_size(json_object_get(r, "services"))) {
		putchar('\n');
		ctl_print_services(r);
	}
	json_t *ded = json_object_get(r, "dedicated_services"), *v;
	size_t i;
	if (json_array_size(ded)) {
		printf("\n%s%-16s  %-15s  %-5s  %-15s  %-18s  %s%s\n", ctl_color(CTL_BOLD), "DEDICATED", "INTERFACE",
		       "PORT", "OVERLAY IP", "SUBNET", "PEERS", ctl_color(CTL_RESET));
		json_array_foreach(ded, i, v)
		{
			printf("%-16s  %-15s  %-5" JSON_INTEGER_FORMAT "  %-15s  %-18s  %" JSON_INTEGER_FORMAT "\n",
			       ctl_str_or_dash(v, "service"), ctl_str_or_dash(v, "interface"), ctl_int(v, "listen_port"),
			       ctl_str_or_dash(v, "overlay_ip"), ctl_str_or_dash(v, "subnet"), ctl_int(v, "peer_count"));
		}
	}
	if (json_array_size(json_object_get(r, "attachments"))) {
		putchar('\n');
		ctl_print_attachments(r);
	}
	json_t *cl = json_object_get(r, "cluster");
	if (cl) {
		putchar('\n');
		print_cluster(cl);
	}
}

int ctl_show(const char *path, bool raw, const char *what)
{
	static const struct {
		const char *name;
		void (*print)(json_t *status);
	} tables[] = {
		{ "peers", ctl_print_peers },
		{ "services", ctl_print_services },
		{ "attachments", ctl_print_attachments },
	};
	size_t t = 0;
	while (strcmp(tables[t].name, what) != 0)
		t++;
	json_t *r = ctl_request_op(path, "status");
	if (!r)
		return 1;
	int rc = 0;
	if (strcmp(ctl_str_or_dash(r, "result"), "status") != 0) {
		rc = ctl_print_response(r, raw); /* an error */
	} else if (raw) {
		json_t *a = json_object_get(r, what); /* absent when empty */
		char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
		puts(text ? text : "[]");
		free(text);
	} else {
		tables[t].print(r);
	}
	json_decref(r);
	return rc;
}
