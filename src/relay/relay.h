/* SPDX-License-Identifier: MIT */
/*
 * overlayd's built-in TURN relay (NatConfigSpec.relay_server): a TURN
 * server (RFC 8656 over UDP) on listen_port, advertising relayed
 * addresses at external_addr's IP, for at most max_sessions allocations,
 * authenticating everyone with auth_credential (server.h says how). It
 * runs on a thread of its own, never the engine's: the engine starts it
 * with setup_global_overlay and stops it at teardown, and every socket
 * and the thread are gone when relay_stop() returns.
 */
#ifndef OVL_RELAY_RELAY_H
#define OVL_RELAY_RELAY_H

#include <stddef.h>

#include "relay/server.h"
#include "state/model.h"

#define RELAY_MAX_SESSIONS_LIMIT 10000 /* each allocation is a socket: a bound on descriptors */

struct relay;

/*
 * Checks spec without touching the host: 0, or -EINVAL with why in err
 * (no auth_credential, external_addr not "IP:port", max_sessions or
 * max_sessions_per_client out of range). wg_port is the node's WireGuard
 * port, which the relay cannot share.
 */
int relay_spec_check(const struct ovl_relay_spec *spec, uint16_t wg_port, char *err, size_t errlen);

/* What spec allows (its zeros replaced by the defaults): allocations in all, and per client IP. */
size_t relay_spec_max_sessions(const struct ovl_relay_spec *spec);
uint32_t relay_spec_per_client(const struct ovl_relay_spec *spec);

/* Starts the relay (sockets bound, thread running): 0, or -errno with why in err. */
int relay_start(const struct ovl_relay_spec *spec, uint16_t wg_port, struct relay **out, char *err,
		size_t errlen);
/* Stops the thread and closes every socket; NULL is a no-op. */
void relay_stop(struct relay *r);

/* The counters as of the last second, and the allocations now. */
void relay_stats(struct relay *r, struct relay_stats *out, size_t *allocations);

#endif
