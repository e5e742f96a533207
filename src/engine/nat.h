/* SPDX-License-Identifier: MIT */
/*
 * NAT traversal's engine side (nat.c): a NAT agent per global overlay with
 * NAT enabled. It runs the STUN client on the global device's own port,
 * keeps this node's candidates, and runs the connect policy (nat/punch.h)
 * for every peer on a timer thread of its own: the worker, the control
 * socket and the data path never wait for it.
 *
 * Lifetime, called by global.c: nat_agent_prepare() before the device is
 * created (its hooks go into the device config), nat_agent_start() once it
 * is up, nat_agent_stop() before the device goes, nat_agent_free() after
 * (the device's receive threads call the hooks until it is destroyed).
 */
#ifndef OVL_ENGINE_NAT_H
#define OVL_ENGINE_NAT_H

#include "engine/priv.h"

struct wg_device_config;
struct wg_device;

/* Allocates the agent when NAT is enabled and sets cfg's hooks. 0 or -ENOMEM. */
int nat_agent_prepare(struct engine *e, struct wg_device_config *cfg);
/* Starts the timer thread on dev and takes the recorded peers. */
void nat_agent_start(struct engine *e, struct wg_device *dev);
void nat_agent_stop(struct engine *e);
void nat_agent_free(struct engine *e);

/* add_peer / remove_peer of a global-scope peer. */
void nat_agent_peer_update(struct engine *e, const struct ovl_peer_spec *p);
void nat_agent_peer_forget(struct engine *e, const uint8_t key[WG_KEY_LEN]);
/* True when the agent has a working path to the peer (add_peer then keeps it). */
bool nat_agent_peer_connected(struct engine *e, const uint8_t key[WG_KEY_LEN]);

#endif
