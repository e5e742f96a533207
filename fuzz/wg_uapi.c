// SPDX-License-Identifier: MIT
/* libFuzzer harness: the UAPI set-request parser on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "wg/uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wg_uapi_set set;
	char err[160];
	FILE *f;
	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	wg_uapi_parse_set(f, &set, err, sizeof(err));
	wg_uapi_set_free(&set);
	fclose(f);
	return 0;
}
