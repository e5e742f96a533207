// SPDX-License-Identifier: MIT
#include "ipam/ports.h"

#include <errno.h>
#include <string.h>

void ipam_ports_init(struct ipam_ports *p, uint16_t wg_port)
{
	memset(p, 0, sizeof(*p));
	p->wg_port = wg_port;
}

/* Band index of port, or -1 when outside the band. */
static int band_index(const struct ipam_ports *p, uint16_t port)
{
	unsigned idx = (unsigned)port - p->wg_port - 1u;
	if (port <= p->wg_port || idx >= IPAM_PORT_BAND)
		return -1;
	return (int)idx;
}

static bool is_used(const struct ipam_ports *p, unsigned i)
{
	return p->used[i / 8] & (1u << (i % 8));
}

int ipam_ports_alloc(struct ipam_ports *p, uint16_t *out)
{
	for (unsigned i = 0; i < IPAM_PORT_BAND && p->wg_port + 1u + i <= 65535u; i++) {
		if (!is_used(p, i)) {
			p->used[i / 8] |= (uint8_t)(1u << (i % 8));
			*out = (uint16_t)(p->wg_port + 1u + i);
			return 0;
		}
	}
	return -ENOSPC;
}

int ipam_ports_reserve(struct ipam_ports *p, uint16_t port)
{
	int i = band_index(p, port);
	if (i < 0)
		return -ERANGE;
	if (is_used(p, (unsigned)i))
		return -EEXIST;
	p->used[i / 8] |= (uint8_t)(1u << (i % 8));
	return 0;
}

bool ipam_ports_release(struct ipam_ports *p, uint16_t port)
{
	int i = band_index(p, port);
	if (i < 0 || !is_used(p, (unsigned)i))
		return false;
	p->used[i / 8] &= (uint8_t)~(1u << (i % 8));
	return true;
}
