// SPDX-License-Identifier: MIT
#include "wg/offload.h"

#include <errno.h>
#include <string.h>

#include "util/be.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

uint64_t wg_csum_add(uint64_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t carry = 0;

	/*
	 * 64-bit words with end-around carry (ones' complement addition is
	 * word-size agnostic): four times fewer steps than 16-bit words. The
	 * incoming sum is at most 48 bits wide, so it cannot lose a carry.
	 */
	sum = (sum & 0xffffffff) + (sum >> 32);
	while (len >= 32) {
		uint64_t w[4];
		memcpy(w, p, sizeof(w));
		for (int i = 0; i < 4; i++) {
			sum += w[i];
			carry += sum < w[i];
		}
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		sum += w;
		carry += sum < w;
		p += 8;
		len -= 8;
	}
	/* Fold to 32 bits before adding the tail: keeps the total carry-free. */
	sum = (sum & 0xffffffff) + (sum >> 32) + carry;
	sum = (sum & 0xffffffff) + (sum >> 32);
	while (len >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		sum += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint16_t w = 0;
		memcpy(&w, p, 1); /* the odd byte is the high byte in network order */
		sum += w;
	}
	return sum;
}

static uint16_t fold16(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t wg_csum_fold(uint64_t sum)
{
	return (uint16_t)~fold16(sum);
}

/* Pseudo-header sum for TCP/UDP over IPv4 or IPv6 (native-order accumulation). */
static uint64_t pseudo_sum(const uint8_t *ip, bool v6, uint8_t proto, size_t l4len)
{
	uint8_t tail[4] = { 0, 0, 0, proto };
	uint64_t sum = v6 ? wg_csum_add(0, ip + 8, 32) : wg_csum_add(0, ip + 12, 8);
	uint8_t lenb[4];
	be32_put(lenb, (uint32_t)l4len);
	sum = wg_csum_add(sum, lenb, 4);
	return wg_csum_add(sum, tail, 4);
}

/* IP and TCP header lengths of a plain TCP packet; 0 if it is not one. */
static size_t tcp_headers(const uint8_t *pkt, size_t len, bool *v6, size_t *iphl)
{
	size_t tcphl;
	if (len >= 20 && (pkt[0] >> 4) == 4) {
		*v6 = false;
		*iphl = (size_t)(pkt[0] & 0xf) * 4;
		if (*iphl < 20 || pkt[9] != 6)
			return 0;
	} else if (len >= 40 && (pkt[0] >> 4) == 6) {
		*v6 = true;
		*iphl = 40;
		if (pkt[6] != 6) /* extension headers: not handled */
			return 0;
	} else {
		return 0;
	}
	if (len < *iphl + 20)
		return 0;
	tcphl = (size_t)(pkt[*iphl + 12] >> 4) * 4;
	if (tcphl < 20 || len < *iphl + tcphl)
		return 0;
	return *iphl + tcphl;
}

int wg_tso_plan(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len, size_t *seg_len,
		unsigned *nsegs)
{
	unsigned type = vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	size_t iphl, hdr, payload;
	bool v6;

	if (type == VIRTIO_NET_HDR_GSO_NONE) {
		*seg_len = len;
		*nsegs = 1;
		return 0;
	}
	if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6)
		return -EINVAL;
	hdr = tcp_headers(pkt, len, &v6, &iphl);
	if (!hdr || v6 != (type == VIRTIO_NET_HDR_GSO_TCPV6) || vh->gso_size == 0)
		return -EINVAL;
	payload = len - hdr;
	if (payload <= vh->gso_size) {
		*seg_len = len;
		*nsegs = 1;
		return 0;
	}
	*seg_len = hdr + vh->gso_size;
	*nsegs = (unsigned)((payload + vh->gso_size - 1) / vh->gso_size);
	return 0;
}

/* Complete a CHECKSUM_PARTIAL packet: the field holds the pseudo-header sum. */
static void finish_partial_csum(const struct virtio_net_hdr *vh, uint8_t *p, size_t len)
{
	size_t start = vh->csum_start, off = vh->csum_offset;
	if (!(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || start + off + 2 > len)
		return;
	uint16_t c = wg_csum_fold(wg_csum_add(0, p + start, len - start));
	/* UDP transmits a computed zero as all ones (zero means "no checksum"). */
	if (c == 0 && off == 6)
		c = 0xffff;
	memcpy(p + start + off, &c, 2);
}

size_t wg_tso_segment(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len, unsigned i,
		      size_t seg_len, unsigned nsegs, uint8_t *out)
{
	size_t iphl, hdr, mss, off, chunk, total;
	bool v6;

	if (nsegs == 1) {
		if (out != pkt)
			memmove(out, pkt, len);
		finish_partial_csum(vh, out, len);
		return len;
	}
	hdr = tcp_headers(pkt, len, &v6, &iphl);
	mss = seg_len - hdr;
	off = (size_t)i * mss;
	chunk = len - hdr - off < mss ? len - hdr - off : mss;
	total = hdr + chunk;
	memcpy(out, pkt, hdr);
	memcpy(out + hdr, pkt + hdr + off, chunk);

	uint8_t *tcp = out + iphl;
	if (v6) {
		be16_put(out + 4, (uint16_t)(total - 40));
	} else {
		be16_put(out + 2, (uint16_t)total);
		be16_put(out + 4, (uint16_t)(be16_get(pkt + 4) + i)); /* IP ID increments per segment */
		out[10] = out[11] = 0;
		uint16_t c = wg_csum_fold(wg_csum_add(0, out, iphl));
		memcpy(out + 10, &c, 2);
	}
	be32_put(tcp + 4, be32_get(pkt + iphl + 4) + (uint32_t)off);
	if (i < nsegs - 1)
		tcp[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (i > 0)
		tcp[13] &= (uint8_t)~TCP_CWR;
	tcp[16] = tcp[17] = 0;
	uint16_t c = wg_csum_fold(wg_csum_add(pseudo_sum(out, v6, 6, total - iphl), tcp, total - iphl));
	memcpy(tcp + 16, &c, 2);
	return total;
}

/* True when b can follow a (the super-packet's first segment) in one flow. */
static bool same_flow(const uint8_t *a, const uint8_t *b, bool v6, size_t iphl, size_t hdr)
{
	if (v6) {
		/* version/class/flow label, next header, hop limit, addresses */
		if (memcmp(a, b, 4) || a[7] != b[7] || memcmp(a + 8, b + 8, 32))
			return false;
	} else {
		/* tos, flags/fragment (DF only), ttl, protocol, addresses */
		if (a[1] != b[1] || memcmp(a + 6, b + 6, 2) || a[8] != b[8] || memcmp(a + 12, b + 12, 8) ||
		    (be16_get(b + 6) & 0x3fff))
			return false;
	}
	const uint8_t *ta = a + iphl, *tb = b + iphl;
	/* ports, ack, header length, window and options must match exactly */
	return memcmp(ta, tb, 4) == 0 && memcmp(ta + 8, tb + 8, 5) == 0 &&
	       memcmp(ta + 14, tb + 14, 2) == 0 && memcmp(ta + 20, tb + 20, hdr - iphl - 20) == 0;
}

bool wg_gro_add(struct wg_gro *g, const uint8_t *pkt, size_t len)
{
	uint8_t *sp = g->buf + WG_VNET_HDR_LEN;
	size_t iphl, hdr, payload;
	bool v6;

	hdr = tcp_headers(pkt, len, &v6, &iphl);
	payload = hdr ? len - hdr : 0;
	/* Only pure data segments (ACK, maybe PSH) coalesce; anything else goes alone. */
	bool mergeable = hdr && payload > 0 && (pkt[iphl + 13] & ~(TCP_ACK | TCP_PSH)) == 0 &&
			 (v6 || (be16_get(pkt + 6) & 0x3fff) == 0);
	if (g->len == 0) {
		memcpy(sp, pkt, len);
		g->len = len;
		g->segs = 1;
		g->closed = !mergeable || (pkt[iphl + 13] & TCP_PSH);
		if (mergeable) {
			g->v6 = v6;
			g->hdr_len = hdr;
			g->mss = payload;
			g->next_seq = be32_get(pkt + iphl + 4) + (uint32_t)payload;
		}
		return true;
	}
	if (g->closed || !mergeable || v6 != g->v6 || hdr != g->hdr_len || payload > g->mss ||
	    be32_get(pkt + iphl + 4) != g->next_seq || g->len + payload > 65535 ||
	    !same_flow(sp, pkt, v6, iphl, hdr))
		return false;
	memcpy(sp + g->len, pkt + hdr, payload);
	g->len += payload;
	g->segs++;
	g->next_seq += (uint32_t)payload;
	/* A short segment or PSH ends the burst, as in the kernel's GRO. */
	if (payload < g->mss || (pkt[iphl + 13] & TCP_PSH)) {
		sp[iphl + 13] |= pkt[iphl + 13] & TCP_PSH;
		g->closed = true;
	}
	return true;
}

size_t wg_gro_finish(struct wg_gro *g)
{
	struct virtio_net_hdr *vh = (struct virtio_net_hdr *)g->buf;
	uint8_t *sp = g->buf + WG_VNET_HDR_LEN;
	size_t n = g->len, iphl = g->v6 ? 40 : (size_t)(sp[0] & 0xf) * 4;

	memset(vh, 0, sizeof(*vh));
	g->len = 0;
	if (n == 0)
		return 0;
	if (g->segs > 1) {
		if (g->v6) {
			be16_put(sp + 4, (uint16_t)(n - 40));
		} else {
			be16_put(sp + 2, (uint16_t)n);
			sp[10] = sp[11] = 0;
			uint16_t c = wg_csum_fold(wg_csum_add(0, sp, iphl));
			memcpy(sp + 10, &c, 2);
		}
		/* CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, the kernel does the rest. */
		uint16_t ps = fold16(pseudo_sum(sp, g->v6, 6, n - iphl));
		memcpy(sp + iphl + 16, &ps, 2);
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->gso_type = g->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		vh->hdr_len = (uint16_t)g->hdr_len;
		vh->gso_size = (uint16_t)g->mss;
		vh->csum_start = (uint16_t)iphl;
		vh->csum_offset = 16;
	}
	g->segs = 0;
	return WG_VNET_HDR_LEN + n;
}
