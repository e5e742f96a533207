// SPDX-License-Identifier: MIT
/* A round's outcome for the log (see round.h). Pure. */
#include "nat/round.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void nat_round_probe(struct nat_round *r, uint64_t start_ms, uint64_t rx_bytes)
{
	if (r->start_ms != start_ms || !r->probes) {
		memset(r, 0, sizeof(*r));
		r->start_ms = start_ms;
		r->rx_bytes = rx_bytes;
	}
	r->probes++;
}

void nat_round_heard(struct nat_round *r, const struct ip_endpoint *from, bool answer)
{
	if (answer)
		r->answers++;
	else
		r->checks++;
	r->heard = true;
	r->heard_from = *from;
}

void nat_round_describe(const struct nat_round *r, const struct ip_endpoint *targets, size_t n, uint64_t rx_bytes,
			char *buf, size_t len)
{
	char s[IP_ENDPOINT_STRLEN];
	int w = snprintf(buf, len, "%u probes each to", r->probes);
	size_t off = w < 0 ? len : (size_t)w;
	for (size_t i = 0; i < n && off < len; i++) {
		w = snprintf(buf + off, len - off, "%s %s", i ? "," : "", ip_endpoint_format(&targets[i], s, sizeof(s)));
		off = w < 0 ? len : off + (size_t)w;
	}
	if (off >= len)
		return;
	if (!r->heard && rx_bytes == r->rx_bytes) {
		snprintf(buf + off, len - off, "; nothing came back");
		return;
	}
	snprintf(buf + off, len - off,
		 "; came back: %u checks and %u answers of the peer's (last from %s), %" PRIu64
		 " bytes of WireGuard but no handshake",
		 r->checks, r->answers, r->heard ? ip_endpoint_format(&r->heard_from, s, sizeof(s)) : "-",
		 rx_bytes - r->rx_bytes);
}
