// SPDX-License-Identifier: MIT
/* Peers' connectivity checks answered, answers to ours matched (see stun_peer.h). Pure. */
#include "nat/stun_peer.h"

#include <string.h>

enum stun_peer_verdict stun_peer_on_datagram(const uint8_t *buf, size_t len, const struct ip_endpoint *from,
					     const struct stun_peer_lookup *lk, struct stun_peer_counters *cnt,
					     struct stun_peer_rx *out)
{
	struct stun_msg m;

	memset(out, 0, sizeof(*out));
	out->peer = -1;
	if (stun_parse(buf, len, &m) < 0) {
		cnt->malformed++;
		return STUN_PEER_DROPPED;
	}
	if (m.unknown_required) {
		/* RFC 8489 would answer 420; a check of ours never carries such attributes. */
		cnt->unknown++;
		return STUN_PEER_DROPPED;
	}
	if (m.type == STUN_BINDING_REQUEST && m.username) {
		out->peer = lk->by_username(lk->ctx, (const char *)m.username, m.username_len);
		if (out->peer >= 0) {
			out->reply_len = stun_write_binding_success(out->reply, sizeof(out->reply), m.txid, from);
			cnt->checks++;
			return STUN_PEER_CHECK;
		}
	} else if (m.type == STUN_BINDING_SUCCESS && m.has_mapped) {
		/* FINGERPRINT is optional in answers (RFC 8489 7.1): accepted with or without. */
		out->peer = lk->by_txid(lk->ctx, m.txid);
		if (out->peer >= 0) {
			out->mapped = m.mapped;
			cnt->answers++;
			return STUN_PEER_ANSWER;
		}
	}
	cnt->unknown++;
	return STUN_PEER_DROPPED;
}
