/* SPDX-License-Identifier: MIT */
/*
 * firewalld, through its own D-Bus interface, when it runs and manages the
 * network namespace we are in (the host's: firewalld in the initial
 * namespace knows nothing of another). Its tables are rebuilt on every
 * reload, so instead of rules in them the cluster's prefixes become sources
 * of its "trusted" zone, in the runtime configuration only: forwarded
 * packets from the cluster are accepted, nothing survives a firewalld
 * restart or reboot, and the permanent configuration is never written.
 *
 * The record of what we added is firewalld's own state: a runtime-only
 * source of "trusted" equal to a cluster prefix is ours (an administrator's
 * trust lives in the permanent configuration and is left alone).
 */
#ifndef OVL_NET_FIREWALLD_H
#define OVL_NET_FIREWALLD_H

#include <stdbool.h>

#include "util/inet.h"

#define FIREWALLD_BUS_NAME "org.fedoraproject.FirewallD1"
#define FIREWALLD_ZONE "trusted"

/* firewalld owns its bus name and we are in PID 1's network namespace. */
bool firewalld_manages_us(void);

/*
 * Makes p a runtime source of the trusted zone, unless it is a source of a
 * zone already (then it is left where it is: 0). -errno on a bus failure.
 */
int firewalld_trust(const struct ip_prefix *p);

/* Removes p from the trusted zone when it is there at runtime only. */
int firewalld_untrust(const struct ip_prefix *p);

#endif
