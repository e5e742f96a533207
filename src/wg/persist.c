// SPDX-License-Identifier: MIT
/*
 * Persistent TUN links: a device's link may outlive it (TUNSETPERSIST), and a
 * later wg_device_create() re-attaches to it by name. The kernel lets a
 * process with CAP_NET_ADMIN attach to any TUN of that name, whoever owns it
 * and whatever its flags, so wg_tun_reusable() checks that a link is one we
 * would have made before it is re-attached.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "wg/device.h"

/* The flags tun_open() asks for, among those that make a TUN what it is. */
#define WG_TUN_KIND_MASK (IFF_TUN | IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)

int wg_device_set_persistent(struct wg_device *dev, bool persistent)
{
	return ioctl(dev->queue[0].fd, TUNSETPERSIST, persistent ? 1 : 0) < 0 ? -errno : 0;
}

/* One value of /sys/class/net/<ifname>/<attr>, parsed with base (0: 0x.. hex); -errno. */
static int sysfs_long(const char *ifname, const char *attr, long *out)
{
	char path[96], buf[32], *end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*out = strtol(buf, &end, 0);
	return end == buf ? -EIO : 0;
}

int wg_tun_reusable(const char *ifname, char *why, size_t whylen)
{
	long index, flags, owner, group;
	unsigned want = WG_TUN_FLAGS;

	/* sysfs shows the namespace it was mounted in: make sure it is ours. */
	if (sysfs_long(ifname, "ifindex", &index) < 0 || index != (long)if_nametoindex(ifname)) {
		snprintf(why, whylen, "its sysfs entry is not this namespace's");
		return 0;
	}
	if (sysfs_long(ifname, "tun_flags", &flags) < 0) {
		snprintf(why, whylen, "it is not a TUN device");
		return 0;
	}
	/* Older versions made single-queue links: re-attached with one queue. */
	if ((((unsigned long)flags & WG_TUN_KIND_MASK) | IFF_MULTI_QUEUE) != want ||
	    !((unsigned long)flags & IFF_PERSIST)) {
		snprintf(why, whylen, "its flags 0x%lx are not ours (0x%x, persistent)", flags, want);
		return 0;
	}
	if (sysfs_long(ifname, "owner", &owner) < 0 || sysfs_long(ifname, "group", &group) < 0 ||
	    (owner != -1 && owner != (long)geteuid()) || (group != -1 && group != (long)getegid())) {
		snprintf(why, whylen, "it belongs to another user or group");
		return 0;
	}
	return 1;
}
