// SPDX-License-Identifier: MIT
/*
 * Every response as an operator reads it: one line per answer (status and
 * its parts are tables, status.c), errors on stderr. --json prints the raw
 * response instead.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static bool result_is(const char *result, const char *name)
{
	return result && strcmp(result, name) == 0;
}

/* "a b c" from an array of strings, or "none". */
static void print_words(json_t *a)
{
	json_t *v;
	size_t i;
	if (!json_array_size(a))
		fputs("none", stdout);
	json_array_foreach(a, i, v)
	{
		printf("%s%s", i ? " " : "", json_string_value(v) ? json_string_value(v) : "-");
	}
}

static void print_service_overlay(json_t *r)
{
	printf("service overlay %s: mode %s, subnet %s", ctl_str_or_dash(r, "name"), ctl_str_or_dash(r, "mode"),
	       ctl_str_or_dash(r, "subnet"));
	if (json_object_get(r, "wg_public_key"))
		printf(", key %s, port %" JSON_INTEGER_FORMAT ", overlay ip %s", ctl_str_or_dash(r, "wg_public_key"),
		       json_integer_value(json_object_get(r, "wg_port")), ctl_str_or_dash(r, "overlay_ip"));
	putchar('\n');
}

static void print_guest_config(json_t *r)
{
	printf("guest %s/%" JSON_INTEGER_FORMAT ": key %s, port %" JSON_INTEGER_FORMAT ", %zu peers, dns %s\n",
	       ctl_str_or_dash(r, "overlay_ip"), json_integer_value(json_object_get(r, "prefix_len")),
	       ctl_str_or_dash(r, "public_key"), json_integer_value(json_object_get(r, "listen_port")),
	       json_array_size(json_object_get(r, "peers")), ctl_str_or_dash(r, "dns_server"));
}

static void print_nat_status(json_t *r)
{
	size_t n[3] = { 0 };
	static const char *const kind[3] = { "direct", "hole-punched", "relayed" };
	json_t *v;
	size_t i;
	json_array_foreach(json_object_get(r, "peers"), i, v)
	{
		const char *t = ctl_str_or_dash(v, "connection_type");
		for (size_t k = 0; k < 3; k++)
			n[k] += strcmp(t, kind[k]) == 0;
	}
	printf("nat: %zu candidates, %zu peers (%zu direct, %zu hole-punched, %zu relayed), last refresh %" JSON_INTEGER_FORMAT
	       "\n",
	       json_array_size(json_object_get(r, "candidates")), json_array_size(json_object_get(r, "peers")), n[0], n[1],
	       n[2], json_integer_value(json_object_get(r, "last_refresh")));
}

int ctl_print_response(json_t *r, bool raw)
{
	const char *result = json_string_value(json_object_get(r, "result"));
	bool err = result_is(result, "err");
	if (raw) {
		char *t = json_dumps(r, JSON_COMPACT);
		if (t)
			puts(t);
		free(t);
	} else if (err) {
		fprintf(stderr, "%serror:%s %s\n", ctl_color_err(CTL_RED), ctl_color_err(CTL_RESET),
			ctl_str_or_dash(r, "message"));
	} else if (result_is(result, "ok")) {
		puts("ok");
	} else if (result_is(result, "ip") || result_is(result, "attached")) {
		puts(ctl_str_or_dash(r, "ip"));
	} else if (result_is(result, "bridge_name")) {
		puts(ctl_str_or_dash(r, "name"));
	} else if (result_is(result, "pruned_bridges")) {
		fputs("reclaimed: ", stdout);
		print_words(json_object_get(r, "reclaimed"));
		putchar('\n');
	} else if (result_is(result, "service_overlay")) {
		print_service_overlay(r);
	} else if (result_is(result, "guest_config")) {
		print_guest_config(r);
	} else if (result_is(result, "nat_status")) {
		print_nat_status(r);
	} else if (result_is(result, "status")) {
		ctl_print_status(r);
	} else {
		char *t = json_dumps(r, JSON_COMPACT); /* a result this overlayctl does not know */
		if (t)
			puts(t);
		free(t);
	}
	return err ? 1 : 0;
}
