/* SPDX-License-Identifier: MIT */
/*
 * The daemon's WireGuard devices (global and dedicated) on persistent TUN
 * links: a daemon that stops without teardown (SIGTERM, an upgrade, a crash)
 * leaves the link with its addresses and routes, and the next start
 * re-attaches to it by name, so containers keep their routes and traffic
 * resumes with the first handshake. Teardown deletes the link.
 */
#ifndef OVL_ENGINE_WGDEV_H
#define OVL_ENGINE_WGDEV_H

#include <stddef.h>

#include "proto/request.h"
#include "wg/wg.h"

struct nl_handle;

/*
 * wg_device_create() on wc->ifname, made persistent. A link of that name is
 * re-attached when it is ours (wg_tun_reusable(): a persistent TUN with our
 * flags, owner and group) and no other process holds it; otherwise it is a
 * leftover, deleted and created afresh. Returns 0 or -errno (logged by wg).
 */
int wgdev_open(struct nl_handle *nl, const struct wg_device_config *wc, struct wg_device **out);

/*
 * Handshakes with the restored peers at once: the session keys died with
 * the previous process, and the peers would otherwise wait for traffic (or
 * their rekey timeout) to notice.
 */
void wgdev_kick(struct wg_device *dev, const struct ovl_peer_spec *peers, size_t n);

#endif
