/* SPDX-License-Identifier: MIT */
/*
 * A device structure with an identity and an index table but no TUN, no
 * sockets and no threads: enough for the peer, keypair and timer logic.
 * Sends fail harmlessly (-EAFNOSUPPORT) because there are no sockets.
 */
#ifndef OVL_TEST_WG_FAKE_DEVICE_H
#define OVL_TEST_WG_FAKE_DEVICE_H

#include <stdlib.h>

#include "wg/device.h"

static inline struct wg_device *fake_device(void)
{
	struct wg_device *dev = calloc(1, sizeof(*dev));
	uint8_t k[32];
	assert_non_null(dev);
	assert_int_equal(wg_crypto_init(), 0);
	wg_x25519_generate(k);
	assert_int_equal(noise_identity_set(&dev->identity, k), 0);
	assert_int_equal(wg_index_init(&dev->index), 0);
	TAILQ_INIT(&dev->peers);
	wg_allowedips_init(&dev->aips);
	dev->udp_fd[0] = dev->udp_fd[1] = -1;
	dev->mtu = WG_DEFAULT_MTU;
	return dev;
}

static inline void fake_device_free(struct wg_device *dev)
{
	struct wg_peer *p;
	while ((p = TAILQ_FIRST(&dev->peers)))
		wg_peer_destroy(p);
	wg_allowedips_free(&dev->aips);
	wg_index_destroy(&dev->index);
	free(dev);
}

#endif
