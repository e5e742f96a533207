/* SPDX-License-Identifier: MIT */
/* The upstream resolvers for forwarding, from resolv.conf(5). */
#ifndef OVL_DNS_RESOLVCONF_H
#define OVL_DNS_RESOLVCONF_H

#include <stddef.h>

#include "util/inet.h"

/*
 * Reads the "nameserver" lines of path into out (port 53), at most max.
 * Loopback servers (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) are skipped:
 * they are host-local stubs such as systemd-resolved, which are unreachable
 * from the overlay or would send our own zone back to us. So are the
 * unspecified address and scoped (link-local "%if") entries. Returns the
 * number read (possibly 0), or -errno when the file cannot be read.
 */
int dns_resolv_conf_read(const char *path, struct ip_endpoint *out, size_t max);

#endif
