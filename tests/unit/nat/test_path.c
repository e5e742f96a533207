// SPDX-License-Identifier: MIT
/*
 * Path selection (nat/path.h) on a fake clock, against a small simulated
 * world: relays that carry the peer's keepalives or not, and a direct path
 * that works both ways, one way only, loses every other packet, or comes
 * and goes. Each rule of path.h has its test; "never flaps" counts moves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nat/path.h"

#define STEP_MS 50
#define KEEPALIVE_MS 5000
#define REKEY_MS 120000

enum direct_mode {
	DIRECT_DOWN,	  /* nothing crosses */
	DIRECT_ONE_WAY,	  /* the peer's packets arrive, ours never reach it */
	DIRECT_UP,	  /* both ways */
	DIRECT_HALF_LOSS, /* both ways, every other packet lost */
};

struct world {
	struct nat_path p;
	struct nat_punch_params pp;
	struct nat_path_obs obs;
	uint64_t t;
	enum direct_mode direct;
	bool relay_carries[NAT_PATH_MAX_RELAYS];
	unsigned packets; /* for DIRECT_HALF_LOSS */
	unsigned probes, silences;
	uint64_t last_probe_ms;
	uint64_t last_moved_ms;
	struct nat_path_step last;
};

static void world_init(struct world *w, size_t n_relays)
{
	memset(w, 0, sizeof(*w));
	nat_punch_params_default(&w->pp, 10);
	w->t = 1700000000000ull;
	w->obs.n_relays = n_relays;
	for (size_t i = 0; i < n_relays; i++) {
		w->obs.relay[i].ready = true;
		w->relay_carries[i] = true;
	}
	nat_path_kick(&w->p, w->t);
}

/* Whether one packet crosses the direct path now. */
static bool direct_delivers(struct world *w)
{
	switch (w->direct) {
	case DIRECT_UP:
		return true;
	case DIRECT_HALF_LOSS:
		return w->packets++ % 2 == 0;
	default:
		return false;
	}
}

/* One step of the policy, then what the world answers. */
static void tick(struct world *w)
{
	struct nat_path_step *s = &w->last;
	nat_path_step(&w->p, &w->pp, w->t, &w->obs, s);
	if (s->moved)
		w->last_moved_ms = w->t;
	if (s->direct == NAT_PUNCH_PROBE) {
		w->probes++;
		w->last_probe_ms = w->t;
		if (w->direct == DIRECT_ONE_WAY)
			w->obs.direct_rx_ms = w->t; /* the peer's own probe arrives; no handshake completes */
		else if (direct_delivers(w))
			w->obs.direct_proven_ms = w->obs.direct_rx_ms = w->t + 20;
	}
	w->silences += s->direct == NAT_PUNCH_SILENCE;
	/* The peer's keepalives (and rekeys) on the path in use. */
	bool keepalive = w->t % KEEPALIVE_MS == 0;
	if (keepalive && w->p.cur.kind == NAT_PATH_RELAY && w->relay_carries[w->p.cur.relay])
		w->obs.relay[w->p.cur.relay].rx_ms = w->t;
	if (keepalive && w->p.cur.kind == NAT_PATH_DIRECT) {
		if (w->direct == DIRECT_ONE_WAY) {
			w->obs.direct_rx_ms = w->t;
		} else if (direct_delivers(w)) {
			w->obs.direct_rx_ms = w->t;
			/* WireGuard rekeys a used session after 120 s, retrying until it completes. */
			if (w->t - w->obs.direct_proven_ms >= REKEY_MS)
				w->obs.direct_proven_ms = w->t;
		}
	}
	w->t += STEP_MS;
}

static void run_for(struct world *w, uint64_t ms)
{
	for (uint64_t end = w->t + ms; w->t < end;)
		tick(w);
}

/* Runs until cur is kind (relay i for a relay); returns the time it took, or UINT64_MAX past limit. */
static uint64_t run_until(struct world *w, enum nat_path_kind kind, unsigned relay, uint64_t limit_ms)
{
	uint64_t start = w->t;
	while (w->t - start <= limit_ms) {
		tick(w);
		if (w->p.cur.kind == kind && (kind != NAT_PATH_RELAY || w->p.cur.relay == relay))
			return w->t - STEP_MS - start;
	}
	return UINT64_MAX;
}

/* One relay, and the direct path up and chosen. */
static void world_on_direct_path(struct world *w)
{
	world_init(w, 1);
	w->direct = DIRECT_UP;
	assert_true(run_until(w, NAT_PATH_DIRECT, 0, 2000) != UINT64_MAX);
}

static void relay_first_while_probes_run(void **state)
{
	struct world w;
	world_init(&w, 1);
	tick(&w);
	/* The very first step: the relay carries, and the direct round starts beside it. */
	assert_true(w.last.moved);
	assert_int_equal(w.p.cur.kind, NAT_PATH_RELAY);
	assert_int_equal(w.last.direct, NAT_PUNCH_PROBE);
	run_for(&w, 10 * 60000);
	assert_int_equal(w.p.cur.kind, NAT_PATH_RELAY);
	assert_int_equal(w.p.moves, 1);
	assert_true(w.probes > 40);   /* rounds go on, ... */
	assert_true(w.silences >= 2); /* ... with the punch's quiet time between them */
}

static void no_path_until_a_relay_is_ready(void **state)
{
	struct world w;
	world_init(&w, 2);
	w.obs.relay[0].ready = w.obs.relay[1].ready = false;
	run_for(&w, 3000);
	assert_int_equal(w.p.cur.kind, NAT_PATH_NONE);
	w.obs.relay[1].ready = true; /* the second server's allocation came first */
	assert_int_equal(run_until(&w, NAT_PATH_RELAY, 1, 0), 0);
	w.obs.relay[0].ready = true;
	run_for(&w, 60000);
	assert_int_equal(w.p.cur.relay, 1); /* a working relay is not left for a preferred one */
}

static void one_way_direct_path_is_never_chosen(void **state)
{
	struct world w;
	world_init(&w, 1);
	w.direct = DIRECT_ONE_WAY;
	run_for(&w, 60 * 60000);
	assert_int_equal(w.p.cur.kind, NAT_PATH_RELAY);
	assert_int_equal(w.p.moves, 1);
}

static void upgrade_once_proven_both_ways_make_before_break(void **state)
{
	struct world w;
	world_init(&w, 1);
	w.direct = DIRECT_ONE_WAY;
	run_for(&w, 2000);
	assert_int_equal(w.p.cur.kind, NAT_PATH_RELAY);
	/* The peer's packets arrive directly: not proof. */
	assert_false(w.last.has_standby);
	w.direct = DIRECT_UP;
	uint64_t took = run_until(&w, NAT_PATH_DIRECT, 0, w.pp.slot_ms + 1000);
	assert_true(took != UINT64_MAX);
	assert_true(w.last.moved);
	assert_int_equal(w.last.prev.kind, NAT_PATH_RELAY);
	/* The relay stays ready beside the direct path while it is used. */
	assert_true(w.last.has_standby);
	assert_int_equal(w.last.standby, 0);
	for (int i = 0; i < 1000; i++) {
		tick(&w);
		assert_int_equal(w.p.cur.kind, NAT_PATH_DIRECT);
		assert_true(w.last.has_standby);
	}
}

static void relay_death_moves_to_the_other_relay(void **state)
{
	struct world w;
	world_init(&w, 2);
	run_for(&w, 20000);
	assert_int_equal(w.p.cur.kind, NAT_PATH_RELAY);
	assert_int_equal(w.p.cur.relay, 0);
	/* Relay 0 stops carrying (killed: its allocation still looks live to us). */
	w.relay_carries[0] = false;
	uint64_t last_rx = w.obs.relay[0].rx_ms;
	uint64_t took = run_until(&w, NAT_PATH_RELAY, 1, 30000);
	assert_true(took != UINT64_MAX);
	assert_true(w.t - STEP_MS - last_rx >= NAT_PATH_DEAD_MS);
	assert_true(w.t - STEP_MS - last_rx <= NAT_PATH_DEAD_MS + STEP_MS);
	assert_true(w.last.moved);
	assert_int_equal(w.last.prev.kind, NAT_PATH_RELAY);
	assert_int_equal(w.last.prev.relay, 0);
	/* Relay 0 looks fine again: relay 1 works, so nothing moves back. */
	w.relay_carries[0] = true;
	run_for(&w, 30 * 60000);
	assert_int_equal(w.p.cur.relay, 1);
	assert_int_equal(w.p.moves, 2);
}

static void lost_allocation_moves_at_once(void **state)
{
	struct world w;
	world_init(&w, 2);
	run_for(&w, 1000);
	w.obs.relay[0].ready = false;
	assert_int_equal(run_until(&w, NAT_PATH_RELAY, 1, 0), 0);
	/* Both gone: no path; relay 0 back after its hold. */
	w.obs.relay[1].ready = false;
	tick(&w);
	assert_int_equal(w.p.cur.kind, NAT_PATH_NONE);
	w.obs.relay[0].ready = true;
	uint64_t took = run_until(&w, NAT_PATH_RELAY, 0, 60000);
	assert_true(took >= NAT_PATH_RELAY_BACKOFF_MIN_MS - 1000 && took <= NAT_PATH_RELAY_BACKOFF_MIN_MS);
}

static void nodes_on_different_relays_meet_on_the_earlier_one(void **state)
{
	struct world w;
	world_init(&w, 2);
	w.obs.relay[0].ready = false; /* our channel on relay 0 is still on its way */
	w.relay_carries[0] = w.relay_carries[1] = false; /* the world's peer is not where we are */
	tick(&w);
	assert_int_equal(w.p.cur.relay, 1);
	w.obs.relay[0].ready = true;
	run_for(&w, 3000);
	assert_int_equal(w.p.cur.relay, 1); /* relay 1 carries: no move for a preference alone */
	/* The peer chose relay 0: its keepalives come through there. */
	w.obs.relay[0].rx_ms = w.t;
	tick(&w);
	assert_true(w.last.moved);
	assert_int_equal(w.p.cur.relay, 0);
	/* The node on relay 0 hearing the peer through relay 1 stays. */
	struct world v;
	world_init(&v, 2);
	run_for(&v, 1000);
	assert_int_equal(v.p.cur.relay, 0);
	v.obs.relay[1].rx_ms = v.obs.relay[0].rx_ms = v.t;
	run_for(&v, 1000);
	assert_int_equal(v.p.cur.relay, 0);
	assert_int_equal(v.p.moves, 1);
}

static void direct_death_falls_back_then_backs_off(void **state)
{
	struct world w;
	world_on_direct_path(&w);
	run_for(&w, 60000);
	uint64_t gaps[3];
	for (int flap = 0; flap < 3; flap++) {
		w.direct = DIRECT_DOWN;
		uint64_t last_rx = w.obs.direct_rx_ms;
		assert_true(run_until(&w, NAT_PATH_RELAY, 0, NAT_PATH_DEAD_MS) != UINT64_MAX);
		assert_true(w.t - STEP_MS - last_rx <= NAT_PATH_DEAD_MS + STEP_MS);
		/* Back up at once, but not tried before the backoff. */
		w.direct = DIRECT_UP;
		uint64_t died = w.t - STEP_MS;
		unsigned probes = w.probes;
		uint64_t took = run_until(&w, NAT_PATH_DIRECT, 0, 10 * 60000);
		assert_true(took != UINT64_MAX);
		gaps[flap] = w.t - STEP_MS - died;
		assert_int_equal(w.probes, probes + 1); /* the first probe after the hold proves it */
		run_for(&w, 60000);
	}
	assert_true(gaps[0] >= NAT_PATH_BACKOFF_MIN_MS);
	assert_true(gaps[1] >= 2 * NAT_PATH_BACKOFF_MIN_MS);
	assert_true(gaps[2] >= 4 * NAT_PATH_BACKOFF_MIN_MS);
	/* Stable for long enough: forgiven. */
	run_for(&w, NAT_PATH_STABLE_MS);
	assert_int_equal(w.p.flaps, 0);
}

static void an_old_proof_does_not_upgrade(void **state)
{
	struct world w;
	world_on_direct_path(&w);
	w.direct = DIRECT_DOWN;
	assert_true(run_until(&w, NAT_PATH_RELAY, 0, NAT_PATH_DEAD_MS + 1000) != UINT64_MAX);
	/* Packets arrive directly again, under the session proven before the flap. */
	w.direct = DIRECT_ONE_WAY;
	for (uint64_t end = w.t + 3 * NAT_PATH_BACKOFF_MIN_MS; w.t < end;) {
		w.obs.direct_rx_ms = w.t;
		tick(&w);
		assert_int_equal(w.p.cur.kind, NAT_PATH_RELAY);
	}
}

static void never_flaps_on_a_path_that_answers_every_other_probe(void **state)
{
	struct world w;
	world_init(&w, 1);
	w.direct = DIRECT_HALF_LOSS;
	run_for(&w, 60 * 60000);
	assert_int_equal(w.p.cur.kind, NAT_PATH_DIRECT);
	assert_int_equal(w.p.moves, 2); /* none -> relay -> direct, and no more */
}

static void an_intermittent_path_is_tried_ever_less_often(void **state)
{
	struct world w;
	world_init(&w, 1);
	/* Works for 20 s out of every 2 minutes. */
	uint64_t upgrades[32];
	size_t n = 0;
	uint64_t start = w.t;
	while (w.t - start < 4 * 3600000ull) {
		w.direct = (w.t - start) % 120000 < 20000 ? DIRECT_UP : DIRECT_DOWN;
		tick(&w);
		if (w.last.moved && w.p.cur.kind == NAT_PATH_DIRECT && n < 32)
			upgrades[n++] = w.t;
	}
	/* Without hysteresis: one upgrade every 2 minutes (120 in 4 hours). */
	assert_true(n >= 3 && n <= 12);
	for (size_t i = 2; i < n; i++)
		assert_true(upgrades[i] - upgrades[i - 1] >= upgrades[i - 1] - upgrades[i - 2] ||
			    upgrades[i] - upgrades[i - 1] >= NAT_PATH_BACKOFF_MAX_MS);
}

/* With no relay at all, the direct path's actions are exactly those of the punch policy alone. */
static void without_relays_it_is_the_punch_policy(void **state)
{
	struct world w;
	world_init(&w, 0);
	struct nat_punch ref = { 0 };
	nat_punch_kick(&ref, w.t);
	uint64_t start = w.t;
	while (w.t - start < 20 * 60000) {
		uint64_t phase = (w.t - start) % 300000;
		w.direct = phase < 100000 ? DIRECT_DOWN : DIRECT_UP;
		uint64_t now = w.t;
		bool alive = nat_path_direct_alive(&w.obs, now);
		enum nat_punch_action want = nat_punch_step(&ref, &w.pp, now, alive);
		tick(&w);
		assert_int_equal(w.last.direct, want);
		assert_int_equal(w.p.cur.kind, ref.state == NAT_PUNCH_UP ? NAT_PATH_DIRECT : NAT_PATH_NONE);
	}
	assert_true(w.p.moves >= 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(relay_first_while_probes_run),
		cmocka_unit_test(no_path_until_a_relay_is_ready),
		cmocka_unit_test(one_way_direct_path_is_never_chosen),
		cmocka_unit_test(upgrade_once_proven_both_ways_make_before_break),
		cmocka_unit_test(relay_death_moves_to_the_other_relay),
		cmocka_unit_test(lost_allocation_moves_at_once),
		cmocka_unit_test(nodes_on_different_relays_meet_on_the_earlier_one),
		cmocka_unit_test(direct_death_falls_back_then_backs_off),
		cmocka_unit_test(an_old_proof_does_not_upgrade),
		cmocka_unit_test(never_flaps_on_a_path_that_answers_every_other_probe),
		cmocka_unit_test(an_intermittent_path_is_tried_ever_less_often),
		cmocka_unit_test(without_relays_it_is_the_punch_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
