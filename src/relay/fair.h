/* SPDX-License-Identifier: MIT */
/*
 * Per-client limits of the relay: how many allocations one client IP may
 * hold (the quota, 486 beyond it), and how many relayed bytes it may move
 * when others are moving bytes too (the fair share).
 *
 * The fair share works in epochs of RELAY_FAIR_EPOCH_MS, and only after
 * an epoch in which the relay was congested (the kernel dropped datagrams
 * for one of its sockets: it is behind, so what one client takes another
 * loses);
 * otherwise nobody is limited and flows grow as they would. The relay learns
 * its capacity as the most bytes it forwarded in one epoch (decaying
 * slowly, so it follows a machine that got busier). After an epoch in
 * which several clients were active, each of the others is reserved the
 * smaller of an equal share (capacity / active clients) and twice what it
 * forwarded, and a client may forward the larger of its equal share and
 * the capacity less the others' reserves; beyond that its datagrams are
 * dropped. So a client alone is never limited; a flood cannot hold the
 * others below an equal share for long (a starved client's reserve doubles
 * every epoch until it reaches its share); and bandwidth the others do not
 * use stays usable. Both directions count against the client that owns
 * the allocation. Pure: the caller passes the clock.
 */
#ifndef OVL_RELAY_FAIR_H
#define OVL_RELAY_FAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/inet.h"

#define RELAY_FAIR_EPOCH_MS 100

struct relay_client {
	bool used;
	struct ip_addr ip;
	uint32_t allocs;
	uint64_t bytes;	     /* forwarded in the current epoch */
	uint64_t last_bytes; /* in the previous one */
	uint64_t reserve;    /* kept for it in this epoch when others flood */
	uint64_t dropped;    /* datagrams over the fair share, ever */
};

struct relay_fair {
	struct relay_client *clients; /* one per possible allocation at most */
	size_t cap;
	uint32_t allocs_per_client;
	uint64_t epoch_start_ms;
	uint64_t epoch_bytes, last_epoch_bytes; /* all clients */
	uint64_t capacity;			/* bytes per epoch, learned */
	uint64_t equal, reserved;		/* capacity / active; the sum of the reserves */
	uint32_t active;			/* clients that forwarded in the previous epoch */
	bool limited;				/* the share dropped something in this epoch */
	bool congested, enforce;		/* in this epoch; in the previous one (shares apply) */
};

/* Room for cap clients (the allocation limit), each with up to allocs_per_client. 0 or -ENOMEM. */
int relay_fair_init(struct relay_fair *f, size_t cap, uint32_t allocs_per_client);
void relay_fair_free(struct relay_fair *f);

/*
 * One more allocation for ip: its client entry, or NULL when ip already
 * holds allocs_per_client (the quota) or the table is full.
 */
struct relay_client *relay_fair_acquire(struct relay_fair *f, const struct ip_addr *ip);
/* The allocation is gone; the entry is freed with the client's last one. */
void relay_fair_release(struct relay_fair *f, struct relay_client *c);

/* The relay is behind (the kernel dropped datagrams for it): the shares apply in the next epoch. */
void relay_fair_congested(struct relay_fair *f);

/* May c forward len more bytes now? Counts them when it may. */
bool relay_fair_admit(struct relay_fair *f, struct relay_client *c, size_t len, uint64_t now_ms);

#endif
