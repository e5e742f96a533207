/* SPDX-License-Identifier: MIT */
/*
 * A device's UDP sockets: opening a pair (one per address family, sharing a
 * port), and the demultiplexing of what arrives on them. One port carries
 * WireGuard and, for NAT traversal, STUN/TURN; wg_datagram_classify() tells
 * them apart from the first bytes alone, before any cryptography.
 */
#ifndef OVL_WG_SOCKET_H
#define OVL_WG_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wg_datagram_kind {
	WG_DGRAM_OTHER,	    /* neither: dropped (or given to the datagram hook) */
	WG_DGRAM_WIREGUARD, /* type 1-4, bytes 1-3 zero, a size that fits the type */
	WG_DGRAM_STUN,	    /* RFC 5389 header: top bits 00, magic cookie, length */
	WG_DGRAM_CHANNEL_DATA, /* TURN ChannelData: byte 0 0x40-0x4F, a length that fills the datagram */
};

#define WG_CHANNEL_DATA_HEADER_LEN 4

/*
 * Pure; reads at most the first 8 bytes. STUN: the top two bits of byte 0
 * are zero, bytes 4-7 hold the magic cookie 0x2112A442, the length field
 * (bytes 2-3) is len - 20 and len is a multiple of 4. The two kinds cannot
 * overlap: a WireGuard message has a zero byte 3, a STUN one 0x12 at byte 5
 * and a length of at least 20. ChannelData (RFC 8656 12.4): byte 0 is
 * 0x40-0x4F (channels 0x4000-0x4FFF), bytes 2-3 the length of the data that
 * follows the 4-byte header, which fills the datagram but for at most 3
 * bytes of padding; it overlaps neither (STUN's top bits are 00,
 * WireGuard's byte 0 is 1-4).
 */
enum wg_datagram_kind wg_datagram_classify(const uint8_t *buf, size_t len);

/*
 * Opens and binds the IPv4 and IPv6 sockets on one port (a random free one
 * for port 0): fds for data, hs_fds for what is not data (handshakes, STUN),
 * steered apart by the kernel. fds[i] and hs_fds[i] are -1 for a family the
 * host lacks; hs_fds[i] also where the kernel cannot steer (fds[i] then
 * receives everything). 0 or -errno.
 */
int wg_socket_open_pair(uint16_t port, uint32_t fwmark, int fds[2], int hs_fds[2],
			uint16_t *out_port);

#endif
