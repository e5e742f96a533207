/* SPDX-License-Identifier: MIT */
/*
 * overlayd's interface names: "zl-<parts joined by '-'>-<suffix>" when that
 * fits the kernel's 15 bytes, else "zl-<hex>-<suffix>" where hex is the
 * lowercase 16-digit FNV-1a-64 of (part1 NUL part2 NUL ... partN NUL suffix),
 * cut so the whole name is <= 15 bytes ("zl-<12 hex>" without a suffix, or
 * when the suffix leaves no room for the hash).
 *
 * Suffixes in use: "g" global device, "b" service bridge, "sh" shared bridge,
 * "d" dedicated service device.
 */
#ifndef OVL_IPAM_IFNAME_H
#define OVL_IPAM_IFNAME_H

#include <stdbool.h>
#include <stddef.h>

#define IPAM_IFNAME_MAX 15
#define IPAM_IFNAME_SIZE (IPAM_IFNAME_MAX + 1)

/* Writes the name into out (IPAM_IFNAME_SIZE bytes); suffix may be "" or NULL. */
void ipam_ifname(const char *const *parts, size_t nparts, const char *suffix, char out[IPAM_IFNAME_SIZE]);

/*
 * The orphan rule of prune_orphan_bridges: true when name is one of our
 * service bridges ("zl-...-b") or dedicated devices ("zl-...-d") and appears
 * in neither the live nor the protected list. Global ("-g") and shared ("-sh")
 * interfaces and container veths are never candidates.
 */
bool ipam_ifname_is_orphan(const char *name, const char *const *live, size_t nlive,
			   const char *const *protected_names, size_t nprotected);

#endif
