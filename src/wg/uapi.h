/* SPDX-License-Identifier: MIT */
/*
 * The cross-platform userspace configuration protocol (wireguard.com/
 * xplatform), as wg(8) and wireguard-go speak it: "get=1" and "set=1"
 * requests of key=value lines ending in a blank line, answered with
 * "errno=N". A set request is parsed completely and validated before any
 * of it is applied, so bad input changes nothing.
 */
#ifndef OVL_WG_UAPI_H
#define OVL_WG_UAPI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "wg/wg.h"

struct wg_uapi_peer {
	struct wg_peer_config cfg; /* cfg.allowed_ips points into aips */
	bool remove;
	struct ip_prefix *aips;
	size_t cap;
};

struct wg_uapi_set {
	bool set_private_key;
	uint8_t private_key[WG_KEY_LEN];
	bool set_listen_port;
	uint16_t listen_port;
	bool set_fwmark;
	uint32_t fwmark;
	bool replace_peers;
	struct wg_uapi_peer *peers;
	size_t n_peers, cap;
};

/*
 * Read the body of a set request (after "set=1") up to its blank line.
 * Returns 0, or a negative errno as wireguard-go would report it (-EINVAL
 * for a bad value or key, -EPROTO for a malformed line or protocol
 * version); the whole request is consumed either way. On error, err holds
 * a message for the log.
 */
int wg_uapi_parse_set(FILE *in, struct wg_uapi_set *set, char *err, size_t errlen);
void wg_uapi_set_free(struct wg_uapi_set *set);

struct wg_device;
/* Apply a parsed request to the device. */
int wg_uapi_apply_set(struct wg_device *dev, const struct wg_uapi_set *set);
/* Write the get response body (without errno) to out. */
int wg_uapi_write_get(struct wg_device *dev, FILE *out);

#endif
