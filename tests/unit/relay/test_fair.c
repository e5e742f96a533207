// SPDX-License-Identifier: MIT
/* The relay's per-client quota and fair share (relay/fair.h) on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "relay/fair.h"

static struct ip_addr ip(const char *s)
{
	struct ip_addr a;
	assert_int_equal(ip_addr_parse(s, &a), 0);
	return a;
}

static void quota_per_ip(void **state)
{
	struct relay_fair f;
	struct ip_addr a = ip("198.51.100.1"), b = ip("198.51.100.2");

	assert_int_equal(relay_fair_init(&f, 4, 2), 0);
	struct relay_client *a1 = relay_fair_acquire(&f, &a), *a2 = relay_fair_acquire(&f, &a);
	assert_non_null(a1);
	assert_ptr_equal(a1, a2);
	assert_null(relay_fair_acquire(&f, &a)); /* a third for the same IP: the quota */
	assert_non_null(relay_fair_acquire(&f, &b));
	relay_fair_release(&f, a1);
	assert_non_null(relay_fair_acquire(&f, &a)); /* room again */
	relay_fair_release(&f, a1);
	relay_fair_release(&f, a1);
	assert_false(a1->used); /* its last allocation gone: the entry is free */
	relay_fair_free(&f);
}

static void table_full(void **state)
{
	struct relay_fair f;
	struct ip_addr a = ip("198.51.100.1"), b = ip("198.51.100.2");

	assert_int_equal(relay_fair_init(&f, 1, 4), 0);
	assert_non_null(relay_fair_acquire(&f, &a));
	assert_null(relay_fair_acquire(&f, &b));
	relay_fair_free(&f);
}

/*
 * One simulated epoch per round: the relay can forward LINK bytes an epoch;
 * client i offers burst[i] datagrams of 1000 bytes for each one the others
 * offer, up to want[i] bytes. Returns what client `who` got forwarded in the
 * last epoch.
 */
#define LINK 100000

static uint64_t run_epochs(struct relay_fair *f, struct relay_client **c, const uint64_t *want,
			   const unsigned *burst, size_t n, int epochs, uint64_t *now, size_t who)
{
	uint64_t got = 0;
	for (int e = 0; e < epochs; e++) {
		uint64_t offered[4] = { 0 }, total = 0;
		bool more = true;
		got = 0;
		/* The link is the bottleneck when more is offered than it carries: the relay sees a backlog. */
		uint64_t demand = 0;
		for (size_t i = 0; i < n; i++)
			demand += want[i];
		if (demand > LINK)
			relay_fair_congested(f);
		while (more && total < LINK) {
			more = false;
			for (size_t i = 0; i < n; i++)
				for (unsigned k = 0; k < burst[i] && offered[i] < want[i] && total < LINK; k++) {
					offered[i] += 1000;
					more = true;
					if (relay_fair_admit(f, c[i], 1000, *now)) {
						total += 1000;
						got += i == who ? 1000 : 0;
					}
				}
		}
		*now += RELAY_FAIR_EPOCH_MS;
	}
	return got;
}

/* Two clients on separate IPs, each with an allocation. */
struct two_clients {
	struct relay_fair f;
	struct relay_client *c[2];
	uint64_t now;
};

static void two_clients(struct two_clients *t)
{
	struct ip_addr a = ip("198.51.100.1"), b = ip("198.51.100.2");
	assert_int_equal(relay_fair_init(&t->f, 4, 2), 0);
	t->c[0] = relay_fair_acquire(&t->f, &a);
	t->c[1] = relay_fair_acquire(&t->f, &b);
	t->now = 1000;
}

/* Client a alone for three epochs, offering far more than the link carries: what it got in the last one. */
static uint64_t a_alone(struct two_clients *t, const unsigned *burst)
{
	uint64_t alone[2] = { 1000000, 0 };
	return run_epochs(&t->f, t->c, alone, burst, 2, 3, &t->now, 0);
}

static void alone_unlimited_flood_shares(void **state)
{
	struct two_clients t;
	unsigned burst[2] = { 10, 1 }; /* a floods: ten datagrams for each of b's */

	two_clients(&t);
	assert_int_equal(a_alone(&t, burst), LINK); /* alone, a client gets all the relay carries */
	/* b wants half: without a fair share a's flood would leave it a tenth; with it b gets its half. */
	uint64_t both[2] = { 1000000, LINK / 2 };
	run_epochs(&t.f, t.c, both, burst, 2, 5, &t.now, 1); /* a starved client's reserve doubles each epoch */
	uint64_t got_b = run_epochs(&t.f, t.c, both, burst, 2, 1, &t.now, 1);
	assert_true(got_b >= LINK / 2 - 2000);
	assert_true(t.c[0]->dropped > 0);
	assert_int_equal(t.c[1]->dropped, 0);
	relay_fair_free(&t.f);
}

static void unused_share_stays_usable(void **state)
{
	struct two_clients t;
	unsigned burst[2] = { 10, 1 };

	two_clients(&t);
	a_alone(&t, burst);
	/* b wants a tenth: a may use the rest, not just half. */
	uint64_t mixed[2] = { 1000000, LINK / 10 };
	run_epochs(&t.f, t.c, mixed, burst, 2, 5, &t.now, 0);
	uint64_t got_a = run_epochs(&t.f, t.c, mixed, burst, 2, 1, &t.now, 0);
	assert_true(got_a >= LINK * 3 / 4); /* all but b's reserve: twice what it uses */
	assert_int_equal(t.c[1]->dropped, 0); /* and b gets all it wants */
	relay_fair_free(&t.f);
}

/* Below the relay's capacity nobody is limited: two flows ramping up together keep growing. */
static void uncongested_flows_grow(void **state)
{
	struct two_clients t;
	unsigned burst[2] = { 1, 1 };

	two_clients(&t);
	for (uint64_t want = 2000; want <= LINK / 2; want *= 2) {
		uint64_t both[2] = { want, want };
		assert_int_equal(run_epochs(&t.f, t.c, both, burst, 2, 1, &t.now, 0), want);
	}
	assert_int_equal(t.c[0]->dropped + t.c[1]->dropped, 0);
	relay_fair_free(&t.f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quota_per_ip),
		cmocka_unit_test(table_full),
		cmocka_unit_test(alone_unlimited_flood_shares),
		cmocka_unit_test(unused_share_stays_usable),
		cmocka_unit_test(uncongested_flows_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
