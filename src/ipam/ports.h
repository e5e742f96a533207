/* SPDX-License-Identifier: MIT */
/*
 * The dedicated-device port band: wg_port+1 ... wg_port+256 (clipped at
 * 65535), lowest free port first. reserve() re-claims a restored port.
 */
#ifndef OVL_IPAM_PORTS_H
#define OVL_IPAM_PORTS_H

#include <stdbool.h>
#include <stdint.h>

#define IPAM_PORT_BAND 256

struct ipam_ports {
	uint16_t wg_port;
	uint8_t used[IPAM_PORT_BAND / 8];
};

void ipam_ports_init(struct ipam_ports *p, uint16_t wg_port);
/* 0, or -ENOSPC when the band is full. */
int ipam_ports_alloc(struct ipam_ports *p, uint16_t *out);
/* 0, -ERANGE (outside the band), -EEXIST (taken). */
int ipam_ports_reserve(struct ipam_ports *p, uint16_t port);
/* True when port was taken and is now free. */
bool ipam_ports_release(struct ipam_ports *p, uint16_t port);

#endif
