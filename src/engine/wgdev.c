// SPDX-License-Identifier: MIT
/* Persistent TUN links for the engine's WireGuard devices; see wgdev.h. */
#include "engine/wgdev.h"

#include <errno.h>
#include <string.h>

#include "net/netlink.h"
#include "util/log.h"

int wgdev_open(struct nl_handle *nl, const struct wg_device_config *wc, struct wg_device **out)
{
	bool existed = nl_link_exists(nl, wc->ifname) == 1;
	char why[128];
	int r;

	if (existed && !wg_tun_reusable(wc->ifname, why, sizeof(why))) {
		/* Our name, not our link: a leftover of another kind, owner or configuration. */
		log_warn("%s exists but is not a persistent TUN of ours (%s); replacing it", wc->ifname, why);
		if ((r = nl_link_delete(nl, wc->ifname)) < 0)
			return r;
		existed = false;
	}
	r = wg_device_create(wc, out);

	/* What TUNSETIFF says about a link it will not attach us to. */
	if (existed && (r == -EBUSY || r == -EINVAL || r == -EPERM)) {
		/* Not a TUN, another owner or flags, or held by a process: not ours to re-attach. */
		log_warn("%s exists but cannot be re-attached (%s); replacing it", wc->ifname, strerror(-r));
		if ((r = nl_link_delete(nl, wc->ifname)) < 0)
			return r;
		r = wg_device_create(wc, out);
	} else if (r == 0 && existed) {
		log_info("%s: re-attached to the persistent TUN link left by the previous run", wc->ifname);
	}
	if (r < 0) {
		*out = NULL;
		return r;
	}
	if ((r = wg_device_set_persistent(*out, true)) < 0)
		log_warn("%s: cannot make the TUN link persistent (%s): a restart will interrupt its traffic "
			 "longer",
			 wc->ifname, strerror(-r));
	return 0;
}

void wgdev_kick(struct wg_device *dev, const struct ovl_peer_spec *peers, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ip_endpoint_is_unset(&peers[i].endpoint))
			wg_peer_initiate_handshake(dev, peers[i].public_key);
}
