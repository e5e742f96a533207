// SPDX-License-Identifier: MIT
/*
 * Keypair rotation on a peer (current / previous / next), as the kernel
 * implementation does it, and key zeroing - on a device structure without
 * TUN or sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_device.h"

/* A keypair registered in the index table, with an extra reference for the test. */
static struct noise_keypair *keypair(struct wg_device *dev, struct wg_peer *peer, bool initiator)
{
	struct noise_keypair *kp = calloc(1, sizeof(*kp));
	assert_non_null(kp);
	atomic_init(&kp->refs, 2); /* the peer's and the test's; the table takes a third */
	atomic_init(&kp->valid, true);
	pthread_spin_init(&kp->replay_lock, PTHREAD_PROCESS_PRIVATE);
	kp->initiator = initiator;
	kp->local_index = wg_index_add_handshake(&dev->index, peer);
	assert_int_equal(wg_index_promote(&dev->index, kp->local_index, kp), 0);
	return kp;
}

static bool indexed(struct wg_device *dev, struct noise_keypair *kp)
{
	struct wg_peer *p;
	struct noise_keypair *got = NULL;
	int ret = wg_index_lookup(&dev->index, kp->local_index, WG_INDEX_KEYPAIR, &p, &got);
	noise_keypair_put(got);
	return ret == 0;
}

static void rotation(void **state)
{
	struct wg_device *dev = fake_device();
	uint8_t pk[32];
	memset(pk, 9, sizeof(pk));
	struct wg_peer *peer = wg_peer_create(dev, pk);
	assert_non_null(peer);

	/* Responder: a new session waits in next until the initiator uses it. */
	struct noise_keypair *a = keypair(dev, peer, false);
	wg_peer_add_keypair(peer, a);
	assert_ptr_equal(peer->kp_next, a);
	assert_null(peer->kp_current);
	assert_false(wg_peer_confirm_keypair(peer, NULL));
	assert_true(wg_peer_confirm_keypair(peer, a));
	assert_ptr_equal(peer->kp_current, a);
	assert_null(peer->kp_next);
	assert_false(wg_peer_confirm_keypair(peer, a)); /* only once */

	/* Initiator: used at once, the old current becomes previous. */
	struct noise_keypair *b = keypair(dev, peer, true);
	wg_peer_add_keypair(peer, b);
	assert_ptr_equal(peer->kp_current, b);
	assert_ptr_equal(peer->kp_previous, a);

	/* Responder again: next is set, previous is dropped (and unindexed). */
	struct noise_keypair *c = keypair(dev, peer, false);
	wg_peer_add_keypair(peer, c);
	assert_ptr_equal(peer->kp_next, c);
	assert_null(peer->kp_previous);
	assert_false(atomic_load(&a->valid));
	assert_false(indexed(dev, a));
	assert_ptr_equal(peer->kp_current, b);

	/* Initiator while a next is pending: next becomes previous, current is replaced. */
	struct noise_keypair *d = keypair(dev, peer, true);
	wg_peer_add_keypair(peer, d);
	assert_ptr_equal(peer->kp_current, d);
	assert_ptr_equal(peer->kp_previous, c);
	assert_null(peer->kp_next);
	assert_false(atomic_load(&b->valid));

	/* Zeroing drops everything. */
	wg_peer_zero_keys(peer);
	assert_null(peer->kp_current);
	assert_null(peer->kp_previous);
	assert_false(indexed(dev, c) || indexed(dev, d));
	assert_false(atomic_load(&d->valid));

	noise_keypair_put(a);
	noise_keypair_put(b);
	noise_keypair_put(c);
	noise_keypair_put(d);
	wg_peer_destroy(peer);
	assert_int_equal(dev->n_peers, 0);
	wg_index_destroy(&dev->index);
	free(dev);
}

/* endpoint_changes (the metric): a new address or port counts, the same one again does not. */
static void endpoint_changes_count_only_changes(void **state)
{
	struct wg_device *dev = fake_device();
	struct wg_peer_config cfg = { .set_endpoint = true };
	struct ip_endpoint other_port;
	struct wg_peer *peer;

	memset(cfg.public_key, 7, WG_KEY_LEN);
	assert_int_equal(ip_endpoint_parse("192.0.2.1:51820", &cfg.endpoint), 0);
	assert_int_equal(ip_endpoint_parse("192.0.2.1:51821", &other_port), 0);
	assert_int_equal(wg_peer_apply(dev, &cfg), 0);
	peer = wg_peer_find(dev, cfg.public_key);
	assert_non_null(peer);
	assert_int_equal(atomic_load(&peer->endpoint_changes), 1); /* none before */
	assert_int_equal(wg_peer_apply(dev, &cfg), 0);
	assert_int_equal(atomic_load(&peer->endpoint_changes), 1); /* configured again: no change */

	pthread_mutex_lock(&peer->lock);
	wg_peer_set_endpoint(peer, &cfg.endpoint, NULL); /* a packet from where it already is */
	assert_int_equal(atomic_load(&peer->endpoint_changes), 1);
	wg_peer_set_endpoint(peer, &other_port, NULL); /* roamed: same address, new port */
	assert_int_equal(atomic_load(&peer->endpoint_changes), 2);
	pthread_mutex_unlock(&peer->lock);

	assert_int_equal(wg_peer_apply(dev, &cfg), 0); /* configured back */
	assert_int_equal(atomic_load(&peer->endpoint_changes), 3);
	fake_device_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rotation),
		cmocka_unit_test(endpoint_changes_count_only_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
