/* SPDX-License-Identifier: MIT */
/* Shared by the wg unit tests: hex decoding for known-answer vectors. */
#ifndef OVL_TEST_WG_HELPERS_H
#define OVL_TEST_WG_HELPERS_H

#include <stdint.h>
#include <string.h>

static inline size_t unhex(uint8_t *out, const char *hex)
{
	size_t n = strlen(hex) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

#endif
