/* SPDX-License-Identifier: MIT */
/*
 * Kernel parameters under /proc/sys, by dotted key, with a snapshot so the
 * daemon can put back exactly what it found.
 *
 * A key is given in up to three parts (prefix, dev, leaf) because device names
 * may contain dots ("eth0.100"): the prefix and leaf have their dots turned
 * into slashes, the device name is kept as is. So
 *   ("net.ipv6.conf", "eth0.100", "forwarding") -> net/ipv6/conf/eth0.100/forwarding
 *   ("net.ipv4.ip_forward", NULL, NULL)        -> net/ipv4/ip_forward
 *
 * net.* parameters belong to the calling thread's network namespace (inside
 * netns_run() they are the container's).
 *
 * IPv6 forwarding, measured on Linux 6.18: net.ipv6.conf.<dev>.forwarding=1
 * alone does NOT make the kernel forward packets received on <dev> (it only
 * switches the device to router behaviour); ip6_forward() still requires
 * conf.all.forwarding, which must never be set on a host (it turns off
 * accept_ra everywhere). Since Linux 6.17, net.ipv6.conf.<dev>.force_forwarding=1
 * forwards per device; set it on the ingress devices (bridge, host veth).
 */
#ifndef OVL_NET_SYSCTL_H
#define OVL_NET_SYSCTL_H

#include <stdbool.h>
#include <stddef.h>

#define SYSCTL_PATH_MAX 160
#define SYSCTL_VALUE_MAX 64

/*
 * Builds "/proc/sys/<prefix>/<dev>/<leaf>" into buf. dev and leaf may be
 * NULL (leaf is required when dev is given). Returns 0, -EINVAL for an empty
 * part, an empty dotted component, "..", a '/' in prefix or leaf, or a device
 * name that is not a valid interface name; -ENAMETOOLONG when buf is short.
 */
int sysctl_path(const char *prefix, const char *dev, const char *leaf, char *buf, size_t len);

/* Reads the value, without its trailing newline. -ENOENT for an unknown key. */
int sysctl_read(const char *prefix, const char *dev, const char *leaf, char *buf, size_t len);
int sysctl_write(const char *prefix, const char *dev, const char *leaf, const char *value);

/* One parameter the daemon changed, and the value it had before. */
struct sysctl_saved {
	char path[SYSCTL_PATH_MAX];
	char old_value[SYSCTL_VALUE_MAX];
	bool saved;
};

/*
 * Sets the parameter, recording its current value first, but only on the
 * first call for this record: calling it again (another attach) keeps the
 * value from before the daemon ever touched it. A failed write leaves the
 * record as it was.
 */
int sysctl_set_saved(struct sysctl_saved *s, const char *prefix, const char *dev, const char *leaf,
		     const char *value);
/*
 * Writes the recorded value back and clears the record. Nothing recorded, or
 * a parameter that vanished with its device, counts as restored (0).
 */
int sysctl_restore(struct sysctl_saved *s);

#endif
