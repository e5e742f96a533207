// SPDX-License-Identifier: MIT
/* The STUN Binding client's transactions (see stun_client.h). */
#include "nat/stun_client.h"

#include <string.h>

bool stun_client_add_server(struct stun_client *c, const struct ip_endpoint *addr)
{
	if (stun_client_has_server(c, addr) || c->n_servers >= STUN_MAX_SERVERS)
		return false;
	memset(&c->servers[c->n_servers], 0, sizeof(c->servers[0]));
	c->servers[c->n_servers++].addr = *addr;
	return true;
}

bool stun_client_has_server(const struct stun_client *c, const struct ip_endpoint *addr)
{
	for (size_t i = 0; i < c->n_servers; i++)
		if (ip_endpoint_equal(&c->servers[i].addr, addr))
			return true;
	return false;
}

void stun_client_refresh(struct stun_client *c, uint64_t now_ms, void (*rand)(uint8_t *, size_t))
{
	for (size_t i = 0; i < c->n_servers; i++) {
		struct stun_txn *t = &c->servers[i].txn;
		t->active = true;
		rand(t->txid, sizeof(t->txid));
		t->next_send_ms = now_ms;
		t->rto_ms = STUN_RTO_MS;
		t->sent = 0;
	}
}

size_t stun_client_tick(struct stun_client *c, uint64_t now_ms, struct stun_send *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_servers; i++) {
		struct stun_server *s = &c->servers[i];
		struct stun_txn *t = &s->txn;
		if (!t->active) {
			if (!s->has_mapped || now_ms < s->next_keepalive_ms || n >= cap)
				continue;
			/* No id to remember: nothing answers an indication. */
			out[n].to = s->addr;
			out[n].len = stun_write_binding_indication(out[n].buf, sizeof(out[n].buf), t->txid);
			n++;
			s->next_keepalive_ms = now_ms + STUN_KEEPALIVE_MS;
			continue;
		}
		if (now_ms < t->next_send_ms)
			continue;
		if (t->sent >= STUN_RC) {
			/* No answer to Rc requests within Rm * RTO of the last: the server is gone. */
			t->active = false;
			s->has_mapped = false;
			c->timeouts++;
			continue;
		}
		if (n >= cap)
			break;
		out[n].to = s->addr;
		out[n].len = stun_write_binding_request(out[n].buf, sizeof(out[n].buf), t->txid);
		n++;
		t->sent++;
		c->sent++;
		t->next_send_ms = stun_next_send_ms(t->sent, now_ms, &t->rto_ms);
	}
	return n;
}

bool stun_client_on_datagram(struct stun_client *c, const uint8_t *buf, size_t len, const struct ip_endpoint *from,
			     uint64_t now_ms)
{
	struct stun_msg m;
	struct stun_server *s = NULL;

	if (stun_parse(buf, len, &m) < 0) {
		c->rx_malformed++;
		return false;
	}
	for (size_t i = 0; i < c->n_servers && !s; i++)
		if (ip_endpoint_equal(&c->servers[i].addr, from))
			s = &c->servers[i];
	if (!s) {
		c->rx_unknown_server++;
		return false;
	}
	if (!s->txn.active || memcmp(s->txn.txid, m.txid, STUN_TXID_LEN) != 0) {
		c->rx_unknown_txn++;
		return false;
	}
	if (m.type != STUN_BINDING_SUCCESS || !m.has_mapped || m.unknown_required) {
		/* An error response, or one we cannot understand: this transaction is over. */
		s->txn.active = false;
		c->rx_errors++;
		return false;
	}
	s->txn.active = false;
	s->has_mapped = true;
	s->mapped = m.mapped;
	s->mapped_ms = now_ms;
	s->next_keepalive_ms = now_ms + STUN_KEEPALIVE_MS;
	return true;
}

uint64_t stun_client_next_ms(const struct stun_client *c)
{
	uint64_t next = UINT64_MAX;
	for (size_t i = 0; i < c->n_servers; i++) {
		const struct stun_server *s = &c->servers[i];
		uint64_t t = s->txn.active ? s->txn.next_send_ms : s->has_mapped ? s->next_keepalive_ms : UINT64_MAX;
		next = t < next ? t : next;
	}
	return next;
}

enum stun_mapping_behaviour stun_client_mapping(const struct stun_client *c, int family)
{
	const struct ip_endpoint *first = NULL;
	bool two = false;
	for (size_t i = 0; i < c->n_servers; i++) {
		const struct stun_server *s = &c->servers[i];
		if (!s->has_mapped || s->addr.addr.family != family)
			continue;
		if (!first) {
			first = &s->mapped;
			continue;
		}
		two = true;
		if (!ip_endpoint_equal(first, &s->mapped))
			return STUN_MAPPING_ENDPOINT_DEPENDENT;
	}
	return two ? STUN_MAPPING_ENDPOINT_INDEPENDENT : STUN_MAPPING_UNKNOWN;
}

const char *stun_mapping_name(enum stun_mapping_behaviour b)
{
	switch (b) {
	case STUN_MAPPING_ENDPOINT_INDEPENDENT:
		return "endpoint-independent";
	case STUN_MAPPING_ENDPOINT_DEPENDENT:
		return "endpoint-dependent";
	case STUN_MAPPING_UNKNOWN:
	default:
		return "unknown";
	}
}
