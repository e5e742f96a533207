/* SPDX-License-Identifier: MIT */
/*
 * TUN offloads (IFF_VNET_HDR + TUNSETOFFLOAD): the kernel hands us TCP
 * super-packets of up to 64 KiB with a virtio_net_hdr, which we cut into
 * MTU-sized segments before encryption (software TSO); on the way in we
 * coalesce consecutive segments of one TCP flow back into a super-packet
 * for a single TUN write (software GRO). Also the Internet checksum.
 * Pure functions over caller buffers.
 */
#ifndef OVL_WG_OFFLOAD_H
#define OVL_WG_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WG_VNET_HDR_LEN sizeof(struct virtio_net_hdr)

/* Ones' complement sum of data added to sum (not folded). */
uint64_t wg_csum_add(uint64_t sum, const void *data, size_t len);
/* Fold and complement: the value to store in a checksum field (network order bytes). */
uint16_t wg_csum_fold(uint64_t sum);

/*
 * Plan the segments of a TUN read: the length of every segment but the
 * last (all equal), and their count. A packet that needs no segmentation
 * is one segment of its own length. -EINVAL for a GSO packet we cannot cut
 * (not TCP over IPv4/IPv6 with plain headers).
 */
int wg_tso_plan(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len, size_t *seg_len,
		unsigned *nsegs);
/*
 * Write segment i (0-based, per wg_tso_plan) of pkt to out with complete
 * headers and checksums; returns its length.
 */
size_t wg_tso_segment(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len, unsigned i,
		      size_t seg_len, unsigned nsegs, uint8_t *out);

/*
 * Software GRO into one TUN write. Feed packets in order with wg_gro_add;
 * it returns false when pkt cannot join the current super-packet (flush
 * first, then add again: a fresh one always accepts). The super-packet is
 * assembled in buf (>= 65535 + WG_VNET_HDR_LEN bytes).
 */
struct wg_gro {
	uint8_t *buf; /* vnet header, then the packet */
	size_t len;   /* packet bytes in buf after the vnet header; 0 = empty */
	unsigned segs;
	size_t hdr_len, mss;
	uint32_t next_seq;
	bool v6, closed;
};

bool wg_gro_add(struct wg_gro *g, const uint8_t *pkt, size_t len);
/* Finish the super-packet: fills the vnet header; returns bytes to write (0 if empty). */
size_t wg_gro_finish(struct wg_gro *g);

#endif
