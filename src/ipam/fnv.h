/* SPDX-License-Identifier: MIT */
/*
 * 64-bit FNV-1a: the stable hash behind interface names and service-subnet
 * slots. Stable across runs, builds and hosts, which is the whole point: a
 * restarted daemon must derive the same names and slots.
 */
#ifndef OVL_IPAM_FNV_H
#define OVL_IPAM_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_INIT 0xcbf29ce484222325ULL

static inline uint64_t fnv1a64_update(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#endif
