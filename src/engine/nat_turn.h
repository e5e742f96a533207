/* SPDX-License-Identifier: MIT */
/*
 * The NAT agent's TURN relays (nat_turn.c): one TURN client
 * (nat/turn_client.h) per configured `turn_servers` entry, its messages
 * sent from the global device's own WireGuard port and its answers taken
 * from the port's demultiplexer, the relayed addresses as `relay`
 * candidates, channels to peers for the relayed data path, and each
 * server's part of nat_status. A leaf: its lock is taken inside, after the
 * agent's, and it never calls into the device while holding it.
 */
#ifndef OVL_ENGINE_NAT_TURN_H
#define OVL_ENGINE_NAT_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nat/path.h"
#include "proto/request.h"
#include "state/model.h"
#include "util/inet.h"

struct nat_turn;
struct wg_device;

/* The relays of cfg (copied; nothing resolved or sent yet). NULL when out of memory. */
struct nat_turn *nat_turn_new(const struct ovl_nat_config *cfg, void (*rand)(uint8_t *, size_t));
void nat_turn_free(struct nat_turn *t);

/*
 * Resolves every server (blocking: on the agent's thread), tells the device
 * their addresses (its ChannelData is unwrapped only from them) and starts
 * allocating. A server that does not resolve fails with that reason.
 */
void nat_turn_start(struct nat_turn *t, struct wg_device *dev, uint64_t now_ms);

/*
 * Sends what is due (first sends, retransmissions, refreshes, retries) and
 * hands WireGuard what Data indications brought since the last tick.
 */
void nat_turn_tick(struct nat_turn *t, struct wg_device *dev, uint64_t now_ms);

/*
 * A datagram from the port's demultiplexer (a device receive thread): true
 * when it was a TURN server's answer or indication, consumed here; false
 * for anything else (STUN from a STUN server, probes), the caller's.
 */
bool nat_turn_on_datagram(struct nat_turn *t, const uint8_t *buf, size_t len, const struct ip_endpoint *from,
			  uint64_t now_ms);

/* The relays path selection chooses among: the first NAT_TURN_MAX_RELAYS configured. */
#define NAT_TURN_MAX_RELAYS NAT_PATH_MAX_RELAYS
size_t nat_turn_count(struct nat_turn *t);

struct nat_turn_relay {
	bool allocated;		    /* a relayed address: channels may be bound */
	struct ip_endpoint server;  /* the server's address, as the device knows it */
	struct ip_endpoint relayed; /* allocated: our relayed address there */
	int device_slot;	    /* its index among the device's relay servers (wg_peer_status); -1: none */
};
/* Relay i (< nat_turn_count()) as it is now. */
void nat_turn_relay(struct nat_turn *t, size_t i, struct nat_turn_relay *out);
/*
 * A permission and a channel towards target on relay i (requested now when
 * new, kept refreshed from now on). True when the relay can carry datagrams
 * to target: *channel is the bound channel (ChannelData), or 0 when only
 * the permission is in place (Send indications, turn_client_carry). False
 * (*channel 0) when not allocated, on its way, or the table is full.
 */
bool nat_turn_carry(struct nat_turn *t, size_t i, const struct ip_endpoint *target, uint64_t now_ms,
		    uint16_t *channel);
/* No channel towards target on relay i any more: it is no longer refreshed (it expires there). */
void nat_turn_unbind(struct nat_turn *t, size_t i, const struct ip_endpoint *target);

/* Appends the relayed addresses as `relay` candidates (RFC 8445 priority, type preference 0). */
void nat_turn_candidates(struct nat_turn *t, struct ovl_candidate *list, size_t *n);

/* Each server's state for nat_status (allocated array; NULL with *n 0 when none). */
struct ovl_nat_turn_server *nat_turn_status(struct nat_turn *t, size_t *n);

/*
 * Teardown: Deallocate every allocation and wait for the answers, at most
 * timeout_ms (the device's receive threads must still run).
 */
void nat_turn_close(struct nat_turn *t, struct wg_device *dev, uint64_t timeout_ms);

#endif
