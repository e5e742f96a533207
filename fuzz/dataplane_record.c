// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the data-plane record loader (the "dataplane"
 * section of state.json, src/state/dataplane.c): the list of host changes
 * that teardown and restart recovery walk. A record that loads must encode,
 * and what it encodes must load again to the same JSON: a record that does
 * not survive its own round trip would lose host resources at a restart.
 *
 *   build-fuzz/fuzz/fuzz_dataplane_record fuzz/corpus-dataplane_record/ -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "state/dataplane.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *encode(const struct state_dataplane *dp)
{
	json_t *o = state_dataplane_to_json(dp);
	if (!o)
		abort();
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!s)
		abort();
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_dataplane dp, back;
	char err[512];
	json_error_t jerr;
	json_t *o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return 0;
	if (state_dataplane_from_json(o, &dp, err, sizeof(err)) < 0) {
		json_decref(o);
		if (!err[0])
			abort(); /* a refusal always says why */
		return 0;
	}
	json_decref(o);
	char *first = encode(&dp);
	o = json_loads(first, 0, &jerr);
	if (!o || state_dataplane_from_json(o, &back, err, sizeof(err)) < 0)
		abort(); /* what we wrote, we must read */
	json_decref(o);
	char *second = encode(&back);
	if (strcmp(first, second))
		abort();
	free(first);
	free(second);
	state_dataplane_free(&dp);
	state_dataplane_free(&back);
	return 0;
}
