// SPDX-License-Identifier: MIT
/* The per-peer connect policy (see punch.h). Pure. */
#include "nat/punch.h"

void nat_punch_params_default(struct nat_punch_params *p, uint64_t timeout_secs)
{
	p->timeout_ms = timeout_secs * 1000;
	p->probe_interval_ms = NAT_PUNCH_PROBE_INTERVAL_MS;
	p->quiet_ms = NAT_PUNCH_QUIET_MS;
	p->slot_ms = p->timeout_ms + p->quiet_ms;
}

uint64_t nat_punch_slot_at_or_after(uint64_t t, uint64_t slot_ms)
{
	if (!slot_ms)
		return t;
	return (t + slot_ms - 1) / slot_ms * slot_ms;
}

static void start_round(struct nat_punch *p, uint64_t now_ms)
{
	p->state = NAT_PUNCH_PROBING;
	p->round_start_ms = now_ms;
	p->next_probe_ms = now_ms;
}

uint64_t nat_punch_next_ms(const struct nat_punch *p, const struct nat_punch_params *pp)
{
	uint64_t end;
	switch (p->state) {
	case NAT_PUNCH_PROBING:
		end = p->round_start_ms + pp->timeout_ms;
		return p->next_probe_ms < end ? p->next_probe_ms : end;
	case NAT_PUNCH_QUIET:
		return p->retry_ms;
	case NAT_PUNCH_IDLE:
	case NAT_PUNCH_UP:
	default:
		return UINT64_MAX;
	}
}

void nat_punch_kick(struct nat_punch *p, uint64_t now_ms)
{
	if (p->state == NAT_PUNCH_IDLE)
		start_round(p, now_ms);
}

enum nat_punch_action nat_punch_step(struct nat_punch *p, const struct nat_punch_params *pp, uint64_t now_ms,
				     bool alive)
{
	switch (p->state) {
	case NAT_PUNCH_IDLE:
		if (alive) {
			p->state = NAT_PUNCH_UP;
			return NAT_PUNCH_CONNECTED;
		}
		return NAT_PUNCH_NOTHING;
	case NAT_PUNCH_UP:
		if (alive)
			return NAT_PUNCH_NOTHING;
		/* The path died: one round at once (most deaths are not the hazard). */
		start_round(p, now_ms);
		break;
	case NAT_PUNCH_QUIET:
		if (alive) {
			p->state = NAT_PUNCH_UP;
			p->rounds_failed = 0;
			return NAT_PUNCH_CONNECTED;
		}
		if (now_ms < p->retry_ms)
			return NAT_PUNCH_NOTHING;
		start_round(p, now_ms);
		break;
	case NAT_PUNCH_PROBING:
		break;
	}
	/* PROBING */
	if (alive) {
		p->state = NAT_PUNCH_UP;
		p->rounds_failed = 0;
		return NAT_PUNCH_CONNECTED;
	}
	if (now_ms - p->round_start_ms >= pp->timeout_ms) {
		p->state = NAT_PUNCH_QUIET;
		p->rounds_failed++;
		p->retry_ms = nat_punch_slot_at_or_after(now_ms + pp->quiet_ms, pp->slot_ms);
		return NAT_PUNCH_SILENCE;
	}
	if (now_ms < p->next_probe_ms)
		return NAT_PUNCH_NOTHING;
	/* Catch up without bursting after a late step. */
	p->next_probe_ms = now_ms + pp->probe_interval_ms;
	return NAT_PUNCH_PROBE;
}
