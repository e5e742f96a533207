// SPDX-License-Identifier: MIT
/* `overlayctl status`: the status response as a table. */
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "ctl.h"

/* Extension "cluster" (overlayd --cluster): the members the node sees in the store. */
static void print_cluster(json_t *cl)
{
	json_t *members = json_object_get(cl, "members"), *v;
	size_t i;
	printf("\n%-14s %s (%s, %" JSON_INTEGER_FORMAT " store requests)\n", "cluster node", ctl_str_or_dash(cl, "node_id"),
	       json_is_true(json_object_get(cl, "connected")) ? "connected" : "store unreachable",
	       json_integer_value(json_object_get(cl, "store_requests")));
	printf("%-32s  %-4s  %-22s  %-18s  %s\n", "MEMBER", "SELF", "ENDPOINT", "SLICE", "LAST SEEN");
	json_array_foreach(members, i, v)
	{
		time_t t = (time_t)json_integer_value(json_object_get(v, "last_seen_unix_secs"));
		struct tm tm;
		char when[32];
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		printf("%-32s  %-4s  %-22s  %-18s  %s\n", ctl_str_or_dash(v, "node_id"),
		       json_is_true(json_object_get(v, "self")) ? "yes" : "", ctl_str_or_dash(v, "endpoint"),
		       ctl_str_or_dash(v, "slice"), when);
	}
}

void ctl_print_status(json_t *r)
{
	printf("%-14s %s\n", "interface", ctl_str_or_dash(r, "interface"));
	printf("%-14s %s\n", "node ip", ctl_str_or_dash(r, "node_ip"));
	printf("%-14s %s\n", "public key", ctl_str_or_dash(r, "public_key"));
	printf("%-14s %s\n", "overlay cidr", ctl_str_or_dash(r, "overlay_cidr"));
	printf("%-14s %s\n", "slice cidr", ctl_str_or_dash(r, "slice_cidr"));
	printf("%-14s %" JSON_INTEGER_FORMAT "\n", "peers", json_integer_value(json_object_get(r, "peer_count")));
	printf("%-14s %" JSON_INTEGER_FORMAT "\n", "services", json_integer_value(json_object_get(r, "service_count")));
	json_t *peers = json_object_get(r, "peers"), *v;
	size_t i;
	if (json_array_size(peers)) {
		printf("\n%-44s  %-22s  %-28s  %s\n", "PEER", "ENDPOINT", "ALLOWED IPS", "LAST HANDSHAKE");
		json_array_foreach(peers, i, v)
		{
			json_int_t hs = json_integer_value(json_object_get(v, "last_handshake_unix_secs"));
			char when[32] = "never";
			if (hs > 0) {
				time_t t = (time_t)hs;
				struct tm tm;
				strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
			}
			printf("%-44s  %-22s  %-28s  %s\n", ctl_str_or_dash(v, "public_key"), ctl_str_or_dash(v, "endpoint"),
			       ctl_str_or_dash(v, "allowed_ips"), when);
		}
	}
	json_t *ded = json_object_get(r, "dedicated_services");
	if (json_array_size(ded)) {
		printf("\n%-16s  %-15s  %-5s  %-15s  %-18s  %s\n", "DEDICATED", "INTERFACE", "PORT", "OVERLAY IP",
		       "SUBNET", "PEERS");
		json_array_foreach(ded, i, v)
		{
			printf("%-16s  %-15s  %-5" JSON_INTEGER_FORMAT "  %-15s  %-18s  %" JSON_INTEGER_FORMAT "\n",
			       ctl_str_or_dash(v, "service"), ctl_str_or_dash(v, "interface"),
			       json_integer_value(json_object_get(v, "listen_port")), ctl_str_or_dash(v, "overlay_ip"),
			       ctl_str_or_dash(v, "subnet"), json_integer_value(json_object_get(v, "peer_count")));
		}
	}
	json_t *cl = json_object_get(r, "cluster");
	if (cl)
		print_cluster(cl);
}
