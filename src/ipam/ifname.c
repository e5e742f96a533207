// SPDX-License-Identifier: MIT
#include "ipam/ifname.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ipam/fnv.h"

static const char prefix[] = "zl-";

void ipam_ifname(const char *const *parts, size_t nparts, const char *suffix, char out[IPAM_IFNAME_SIZE])
{
	if (!suffix)
		suffix = "";
	size_t slen = strlen(suffix);
	size_t total = strlen(prefix);
	for (size_t i = 0; i < nparts; i++)
		total += strlen(parts[i]) + (i ? 1 : 0);
	if (slen)
		total += 1 + slen;

	if (total <= IPAM_IFNAME_MAX) {
		size_t off = 0;
		memcpy(out, prefix, strlen(prefix));
		off = strlen(prefix);
		for (size_t i = 0; i < nparts; i++) {
			if (i)
				out[off++] = '-';
			size_t l = strlen(parts[i]);
			memcpy(out + off, parts[i], l);
			off += l;
		}
		if (slen) {
			out[off++] = '-';
			memcpy(out + off, suffix, slen);
			off += slen;
		}
		out[off] = '\0';
		return;
	}

	uint64_t h = FNV1A64_INIT;
	for (size_t i = 0; i < nparts; i++)
		h = fnv1a64_update(h, parts[i], strlen(parts[i]) + 1); /* includes the NUL separator */
	h = fnv1a64_update(h, suffix, slen);
	char hex[17];
	snprintf(hex, sizeof(hex), "%016" PRIx64, h);

	const size_t room = IPAM_IFNAME_MAX - strlen(prefix); /* 12 */
	if (slen == 0 || 1 + slen >= room) {
		snprintf(out, IPAM_IFNAME_SIZE, "%s%.*s", prefix, (int)room, hex);
		return;
	}
	snprintf(out, IPAM_IFNAME_SIZE, "%s%.*s-%s", prefix, (int)(room - 1 - slen), hex, suffix);
}

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t ls = strlen(s), lt = strlen(tail);
	return ls >= lt && strcmp(s + ls - lt, tail) == 0;
}

bool ipam_ifname_is_orphan(const char *name, const char *const *live, size_t nlive,
			   const char *const *protected_names, size_t nprotected)
{
	if (strncmp(name, prefix, strlen(prefix)) != 0)
		return false;
	if (!ends_with(name, "-b") && !ends_with(name, "-d"))
		return false;
	return !in_list(name, live, nlive) && !in_list(name, protected_names, nprotected);
}
