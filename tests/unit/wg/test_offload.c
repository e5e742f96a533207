// SPDX-License-Identifier: MIT
/*
 * Software TSO and GRO: a TCP super-packet cut into segments must give
 * valid, correctly numbered packets, and coalescing those segments must
 * give back the original stream with a correct virtio-net header.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wg/offload.h"

static void rfc1071_example(void **state)
{
	/* RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2. */
	const uint8_t data[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	uint16_t c = wg_csum_fold(wg_csum_add(0, data, sizeof(data)));
	assert_int_equal(ntohs(c), (uint16_t)~0xddf2);
	/* Odd length: a trailing byte counts as the high half of a word. */
	const uint8_t odd[] = { 0x00, 0x01, 0xf2 };
	c = wg_csum_fold(wg_csum_add(0, odd, sizeof(odd)));
	assert_int_equal(ntohs(c), (uint16_t)~(0x0001 + 0xf200));
}

/* The textbook 16-bit big-endian sum, as an independent reference. */
static uint16_t ref_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void matches_reference(void **state)
{
	uint8_t buf[1600];
	srand(7);
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)rand() % sizeof(buf), split = len ? (size_t)rand() % len : 0;
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(round % 3 == 0 ? 0xff : rand());
		/* Even split points keep 16-bit word boundaries, as our callers do. */
		split &= ~(size_t)1;
		uint64_t s = wg_csum_add(wg_csum_add(0, buf, split), buf + split, len - split);
		assert_int_equal(ntohs(wg_csum_fold(s)), ref_csum(buf, len));
	}
}

/* Build a TCP packet (IPv4 or IPv6) with payload bytes i % 251. */
static size_t build(uint8_t *p, bool v6, size_t payload, uint32_t seq)
{
	size_t iphl = v6 ? 40 : 20, hdr = iphl + 32; /* 12 bytes of TCP options */
	memset(p, 0, hdr);
	if (v6) {
		p[0] = 0x60;
		p[4] = (uint8_t)((payload + 32) >> 8);
		p[5] = (uint8_t)(payload + 32);
		p[6] = 6;
		p[7] = 64;
		p[8] = 0xfd;
		p[23] = 1;
		p[24] = 0xfd;
		p[39] = 2;
	} else {
		p[0] = 0x45;
		p[2] = (uint8_t)((hdr + payload) >> 8);
		p[3] = (uint8_t)(hdr + payload);
		p[4] = 0x12;
		p[6] = 0x40; /* DF */
		p[8] = 64;
		p[9] = 6;
		uint8_t src[4] = { 10, 0, 0, 1 }, dst[4] = { 10, 0, 0, 2 };
		memcpy(p + 12, src, 4);
		memcpy(p + 16, dst, 4);
	}
	uint8_t *t = p + iphl;
	t[0] = 0x30, t[1] = 0x39, t[2] = 0x14, t[3] = 0x51; /* ports 12345 -> 5201 */
	t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8), t[7] = (uint8_t)seq;
	t[11] = 7;		  /* ack */
	t[12] = 8 << 4;	  /* 32-byte header */
	t[13] = 0x18;	  /* ACK | PSH */
	t[14] = 0x01;	  /* window */
	t[20] = 1, t[21] = 1, t[22] = 8, t[23] = 10; /* NOP NOP timestamps */
	for (size_t i = 0; i < payload; i++)
		p[hdr + i] = (uint8_t)(i % 251);
	return hdr + payload;
}

/* Sum over pseudo-header + L4 folds to zero for a valid checksum. */
static void assert_valid(const uint8_t *p, size_t len, bool v6)
{
	size_t iphl = v6 ? 40 : 20;
	uint64_t s = 0;
	if (!v6)
		assert_int_equal(wg_csum_fold(wg_csum_add(0, p, 20)), 0);
	uint8_t ph[8] = { 0 };
	size_t l4 = len - iphl;
	ph[2] = (uint8_t)(l4 >> 8), ph[3] = (uint8_t)l4, ph[7] = 6;
	s = v6 ? wg_csum_add(0, p + 8, 32) : wg_csum_add(0, p + 12, 8);
	s = wg_csum_add(s, ph, 8);
	s = wg_csum_add(s, p + iphl, l4);
	assert_int_equal(wg_csum_fold(s), 0);
}

static void split_and_coalesce(bool v6)
{
	size_t payload = 10000, mss = 1348, seg_len, hdr = (v6 ? 40 : 20) + 32;
	uint8_t *pkt = malloc(70000), *seg = malloc(2000), *gbuf = malloc(70000);
	unsigned n;
	size_t len = build(pkt, v6, payload, 1000);
	struct virtio_net_hdr vh = { .gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
				     .gso_size = (uint16_t)mss, .hdr_len = (uint16_t)hdr,
				     .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = (uint16_t)(hdr - 32),
				     .csum_offset = 16 };
	assert_int_equal(wg_tso_plan(&vh, pkt, len, &seg_len, &n), 0);
	assert_int_equal(n, (payload + mss - 1) / mss);
	assert_int_equal(seg_len, hdr + mss);

	struct wg_gro g = { .buf = gbuf };
	for (unsigned i = 0; i < n; i++) {
		size_t l = wg_tso_segment(&vh, pkt, len, i, seg_len, n, seg);
		size_t iphl = v6 ? 40 : 20;
		assert_int_equal(l, i < n - 1 ? seg_len : hdr + payload - (n - 1) * mss);
		assert_valid(seg, l, v6);
		uint32_t sq = (uint32_t)seg[iphl + 4] << 24 | (uint32_t)seg[iphl + 5] << 16 |
			      (uint32_t)seg[iphl + 6] << 8 | seg[iphl + 7];
		assert_int_equal(sq, 1000 + i * mss);
		/* PSH only on the last segment. */
		assert_int_equal(seg[iphl + 13] & 0x08, i == n - 1 ? 0x08 : 0);
		if (!v6)
			assert_int_equal(seg[4] << 8 | seg[5], 0x1200 + i); /* the IP ID counts up */
		assert_true(wg_gro_add(&g, seg, l));
	}
	size_t out = wg_gro_finish(&g);
	assert_int_equal(out, WG_VNET_HDR_LEN + len);
	struct virtio_net_hdr *oh = (struct virtio_net_hdr *)gbuf;
	assert_int_equal(oh->gso_type, vh.gso_type);
	assert_int_equal(oh->gso_size, mss);
	assert_int_equal(oh->flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(oh->csum_start, hdr - 32);
	/* The payload is the original stream, in order. */
	assert_memory_equal(gbuf + WG_VNET_HDR_LEN + hdr, pkt + hdr, payload);
	free(pkt);
	free(seg);
	free(gbuf);
}

static void tcp4(void **state)
{
	split_and_coalesce(false);
}

static void tcp6(void **state)
{
	split_and_coalesce(true);
}

static void gro_keeps_flows_apart(void **state)
{
	uint8_t a[2000], b[2000], buf[70000];
	struct wg_gro g = { .buf = buf };
	size_t la = build(a, false, 1000, 1), lb = build(b, false, 1000, 1001);
	a[20 + 13] = b[20 + 13] = 0x10; /* ACK only */
	assert_true(wg_gro_add(&g, a, la));
	/* A gap in sequence numbers: does not join. */
	b[20 + 7] += 1;
	assert_false(wg_gro_add(&g, b, lb));
	b[20 + 7] -= 1;
	/* Another port: does not join. */
	b[20 + 1] ^= 1;
	assert_false(wg_gro_add(&g, b, lb));
	b[20 + 1] ^= 1;
	assert_true(wg_gro_add(&g, b, lb));
	assert_int_equal(wg_gro_finish(&g), WG_VNET_HDR_LEN + la + 1000);
	/* A lone packet comes out with an empty virtio-net header. */
	assert_true(wg_gro_add(&g, a, la));
	assert_int_equal(wg_gro_finish(&g), WG_VNET_HDR_LEN + la);
	struct virtio_net_hdr zero = { 0 };
	assert_memory_equal(buf, &zero, sizeof(zero));
	assert_memory_equal(buf + WG_VNET_HDR_LEN, a, la);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc1071_example),
		cmocka_unit_test(matches_reference),
		cmocka_unit_test(tcp4),
		cmocka_unit_test(tcp6),
		cmocka_unit_test(gro_keeps_flows_apart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
