// SPDX-License-Identifier: MIT
/* `overlayctl status`: the status response as a table. */
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "ctl.h"

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
}

