// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: software TSO on arbitrary TUN reads (virtio-net header
 * + packet) and software GRO on arbitrary decrypted packets, which an
 * authenticated but hostile peer controls.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wg/offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pkt[65535], seg[65535], gbuf[WG_VNET_HDR_LEN + 65535];
	struct virtio_net_hdr vh;
	size_t seg_len, len;
	unsigned n;

	if (size < sizeof(vh) || size - sizeof(vh) > sizeof(pkt))
		return 0;
	memcpy(&vh, data, sizeof(vh));
	len = size - sizeof(vh);
	memcpy(pkt, data + sizeof(vh), len);
	if (wg_tso_plan(&vh, pkt, len, &seg_len, &n) == 0) {
		struct wg_gro g = { .buf = gbuf };
		for (unsigned i = 0; i < n && i < 64; i++) {
			size_t l = wg_tso_segment(&vh, pkt, len, i, seg_len, n, seg);
			if (l > sizeof(seg))
				__builtin_trap();
			/* Segments of one packet must coalesce again. */
			if (!wg_gro_add(&g, seg, l)) {
				wg_gro_finish(&g);
				wg_gro_add(&g, seg, l);
			}
		}
		wg_gro_finish(&g);
	}
	/* The raw bytes as a decrypted packet, twice (a follower of itself). */
	struct wg_gro g2 = { .buf = gbuf };
	wg_gro_add(&g2, pkt, len);
	if (!wg_gro_add(&g2, pkt, len)) {
		wg_gro_finish(&g2);
		wg_gro_add(&g2, pkt, len);
	}
	wg_gro_finish(&g2);
	return 0;
}
