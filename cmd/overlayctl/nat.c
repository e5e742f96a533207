// SPDX-License-Identifier: MIT
/* `overlayctl nat`: the nat_status response as tables. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

static void print_nat(json_t *r)
{
	json_int_t refreshed = json_integer_value(json_object_get(r, "last_refresh"));
	char when[32] = "never";
	json_t *v;
	size_t i;
	if (refreshed > 0) {
		time_t t = (time_t)refreshed;
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	}
	printf("%-14s %s\n", "last refresh", when);
	printf("%-14s %s\n", "mapping", ctl_str_or_dash(r, "mapping"));
	printf("\n%-18s  %-46s  %s\n", "CANDIDATE", "ADDRESS", "PRIORITY");
	json_array_foreach(json_object_get(r, "candidates"), i, v)
	{
		printf("%-18s  %-46s  %" JSON_INTEGER_FORMAT "\n", ctl_str_or_dash(v, "candidate_type"),
		       ctl_str_or_dash(v, "address"), json_integer_value(json_object_get(v, "priority")));
	}
	if (json_array_size(json_object_get(r, "turn_servers")))
		printf("\n%-30s  %-12s  %-22s  %s\n", "TURN SERVER", "STATE", "RELAYED ADDRESS", "ERROR");
	json_array_foreach(json_object_get(r, "turn_servers"), i, v)
	{
		printf("%-30s  %-12s  %-22s  %s\n", ctl_str_or_dash(v, "addr"), ctl_str_or_dash(v, "state"),
		       ctl_str_or_dash(v, "relayed_address"), ctl_str_or_dash(v, "error"));
	}
	json_t *relay = json_object_get(r, "relay_server");
	if (relay) {
		char allocs[48], refused[48];
		snprintf(allocs, sizeof(allocs), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
			 ctl_int(relay, "allocations"), ctl_int(relay, "max_sessions"));
		snprintf(refused, sizeof(refused), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
			 ctl_int(relay, "refused_quota"), ctl_int(relay, "refused_capacity"));
		printf("\n%-30s  %-12s  %-10s  %-12s  %-12s  %-15s  %s\n", "RELAY SERVER", "ALLOCATIONS", "PER CLIENT",
		       "TO PEERS", "TO CLIENTS", "REFUSED 486/508", "AUTH FAILURES");
		printf("%-30s  %-12s  %-10" JSON_INTEGER_FORMAT "  %-12" JSON_INTEGER_FORMAT "  %-12" JSON_INTEGER_FORMAT
		       "  %-15s  %" JSON_INTEGER_FORMAT "\n",
		       ctl_str_or_dash(relay, "external_addr"), allocs, ctl_int(relay, "max_sessions_per_client"),
		       ctl_int(relay, "to_peers"), ctl_int(relay, "to_clients"), refused, ctl_int(relay, "auth_failures"));
	}
	printf("\n%-44s  %-10s  %-13s  %s\n", "PEER", "STATE", "CONNECTION", "REMOTE ENDPOINT");
	json_array_foreach(json_object_get(r, "peers"), i, v)
	{
		bool up = json_is_true(json_object_get(v, "connected")) || !json_object_get(v, "connected");
		printf("%-44s  %-10s  %-13s  %s\n", ctl_str_or_dash(v, "node_id"), ctl_str_or_dash(v, "state"),
		       up ? ctl_str_or_dash(v, "connection_type") : "-", ctl_str_or_dash(v, "remote_endpoint"));
	}
}

int ctl_nat(const char *path, bool raw)
{
	json_t *r = ctl_request_op(path, "nat_status");
	if (!r)
		return 1;
	int rc = 0;
	if (raw || strcmp(ctl_str_or_dash(r, "result"), "nat_status") != 0)
		rc = ctl_print_response(r, raw); /* --json, or an error */
	else
		print_nat(r);
	json_decref(r);
	return rc;
}
