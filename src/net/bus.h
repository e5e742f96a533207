/* SPDX-License-Identifier: MIT */
/*
 * The system D-Bus, for the host services overlayd cooperates with
 * (systemd-networkd, NetworkManager, firewalld). No bus is no service.
 */
#ifndef OVL_NET_BUS_H
#define OVL_NET_BUS_H

#include <stdbool.h>

/* True when a process owns the well-known name on the system bus. */
bool bus_name_has_owner(const char *name);

#endif
