// SPDX-License-Identifier: MIT
#include "dns/resolvconf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

static bool is_loopback(const struct ip_addr *a)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };
	static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };
	if (a->family == AF_INET)
		return a->bytes[0] == 127;
	if (!memcmp(a->bytes, v6_loopback, 16))
		return true;
	return !memcmp(a->bytes, v4_mapped, 12) && a->bytes[12] == 127;
}

int dns_resolv_conf_read(const char *path, struct ip_endpoint *out, size_t max)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[512];
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL;
		char *key = strtok_r(line, " \t\r\n", &save);
		if (!key || strcmp(key, "nameserver") != 0)
			continue;
		char *val = strtok_r(NULL, " \t\r\n", &save);
		struct ip_endpoint ep = { .port = 53 };
		if (!val || ip_addr_parse(val, &ep.addr) < 0) {
			log_debug("dns: %s: ignoring nameserver '%s' (scoped or not an address)", path,
				  val ? val : "");
			continue;
		}
		if (is_loopback(&ep.addr) || ip_addr_is_unspecified(&ep.addr)) {
			log_debug("dns: %s: skipping local stub nameserver %s", path, val);
			continue;
		}
		if (n < max)
			out[n++] = ep;
	}
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	return err ? err : (int)n;
}
