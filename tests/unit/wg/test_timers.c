// SPDX-License-Identifier: MIT
/*
 * The protocol timers and key-age rules on a peer, driven directly: rekey
 * after time, reject after time, handshake retransmission and giving up,
 * key zeroing, passive and persistent keepalive deadlines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_device.h"

#define SEC 1000000000ULL

static struct wg_device *dev;
static struct wg_peer *peer;

static int setup(void **state)
{
	uint8_t priv[32], pub[32];
	dev = fake_device();
	assert_int_equal(wg_keypair_generate(priv, pub), 0);
	peer = wg_peer_create(dev, pub);
	assert_non_null(peer);
	assert_int_equal(ip_endpoint_parse("127.0.0.1:9", &peer->endpoint), 0);
	peer->has_endpoint = true;
	return 0;
}

static int teardown(void **state)
{
	fake_device_free(dev);
	return 0;
}

static struct noise_keypair *old_keypair(uint64_t age_s, bool initiator)
{
	struct noise_keypair *kp = calloc(1, sizeof(*kp));
	assert_non_null(kp);
	atomic_init(&kp->refs, 1);
	atomic_init(&kp->valid, true);
	pthread_spin_init(&kp->replay_lock, PTHREAD_PROCESS_PRIVATE);
	kp->initiator = initiator;
	kp->birth_ns = wg_now_ns() - age_s * SEC;
	wg_random(kp->send_key, sizeof(kp->send_key));
	return kp;
}

static void reset(void)
{
	pthread_mutex_lock(&peer->lock);
	wg_peer_zero_keys(peer);
	wg_timers_stop(peer);
	peer->last_initiation_sent_ns = 0;
	peer->handshake_attempts = 0;
	pthread_mutex_unlock(&peer->lock);
}

static void rekey_after_time(void **state)
{
	reset();
	struct noise_keypair *kp = old_keypair(WG_REKEY_AFTER_TIME + 1, true);
	pthread_mutex_lock(&peer->lock);
	peer->kp_current = kp;
	wg_send_keepalive(peer);
	/* Still usable: the keepalive went out on it... */
	assert_int_equal(atomic_load(&kp->send_counter), 1);
	/* ...and, as its initiator, we started the next handshake. */
	assert_int_equal(peer->hs.state, NOISE_CREATED_INITIATION);
	assert_true(peer->t_retransmit > wg_now_ns() + (WG_REKEY_TIMEOUT - 1) * SEC);
	pthread_mutex_unlock(&peer->lock);
}

static void responder_does_not_rekey_on_time(void **state)
{
	reset();
	struct noise_keypair *kp = old_keypair(WG_REKEY_AFTER_TIME + 1, false);
	pthread_mutex_lock(&peer->lock);
	peer->kp_current = kp;
	wg_send_keepalive(peer);
	assert_int_equal(atomic_load(&kp->send_counter), 1);
	assert_int_equal(peer->hs.state, NOISE_ZEROED);
	pthread_mutex_unlock(&peer->lock);
}

static void reject_after_time(void **state)
{
	reset();
	struct noise_keypair *kp = old_keypair(WG_REJECT_AFTER_TIME + 1, true);
	pthread_mutex_lock(&peer->lock);
	peer->kp_current = kp;
	wg_send_keepalive(peer);
	/* Too old to send on: nothing encrypted, a handshake instead. */
	assert_int_equal(atomic_load(&kp->send_counter), 0);
	assert_int_equal(peer->hs.state, NOISE_CREATED_INITIATION);
	pthread_mutex_unlock(&peer->lock);
}

static void retransmit_then_give_up(void **state)
{
	uint8_t pkt[40] = { 0x45 };
	reset();
	pthread_mutex_lock(&peer->lock);
	wg_send_initiation(peer, false);
	uint32_t first = peer->hs.local_index;
	/* Another initiation inside REKEY_TIMEOUT is suppressed. */
	wg_send_initiation(peer, false);
	assert_int_equal(peer->hs.local_index, first);
	/* Due retransmission: a new initiation, the attempt counted. */
	peer->last_initiation_sent_ns = wg_now_ns() - (WG_REKEY_TIMEOUT + 1) * SEC;
	peer->t_retransmit = 1;
	pthread_mutex_unlock(&peer->lock);
	wg_timers_tick(dev);
	pthread_mutex_lock(&peer->lock);
	assert_int_equal(peer->handshake_attempts, 1);
	assert_int_not_equal(peer->hs.local_index, first);
	/* After MAX_TIMER_HANDSHAKES attempts: give up, drop staged packets, schedule zeroing. */
	wg_stage_packet(peer, pkt, sizeof(pkt));
	assert_int_equal(peer->n_staged, 1);
	peer->handshake_attempts = WG_MAX_TIMER_HANDSHAKES + 1;
	peer->t_retransmit = 1;
	peer->t_zero_keys = 0;
	pthread_mutex_unlock(&peer->lock);
	wg_timers_tick(dev);
	pthread_mutex_lock(&peer->lock);
	assert_int_equal(peer->n_staged, 0);
	assert_true(peer->t_zero_keys > wg_now_ns() + (3 * WG_REJECT_AFTER_TIME - 1) * SEC);
	assert_int_equal(peer->t_retransmit, 0);
	pthread_mutex_unlock(&peer->lock);
}

static void zero_key_material(void **state)
{
	reset();
	pthread_mutex_lock(&peer->lock);
	peer->kp_current = old_keypair(1, true);
	peer->kp_previous = old_keypair(2, false);
	peer->t_zero_keys = 1;
	pthread_mutex_unlock(&peer->lock);
	wg_timers_tick(dev);
	assert_null(peer->kp_current);
	assert_null(peer->kp_previous);
}

static void keepalive_deadlines(void **state)
{
	reset();
	uint64_t now = wg_now_ns();
	pthread_mutex_lock(&peer->lock);
	/* Passive keepalive: armed by received data, cancelled by anything we send. */
	wg_timers_data_received(peer);
	assert_true(peer->t_send_keepalive >= now + WG_KEEPALIVE_TIMEOUT * SEC);
	wg_timers_any_authenticated_packet_sent(peer);
	assert_int_equal(peer->t_send_keepalive, 0);
	/* New handshake: armed by sent data (15 s + jitter), cancelled by anything received. */
	wg_timers_data_sent(peer);
	assert_true(peer->t_new_handshake >= now + (WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT) * SEC);
	assert_true(peer->t_new_handshake < wg_now_ns() + (WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT + 1) * SEC);
	wg_timers_any_authenticated_packet_received(peer);
	assert_int_equal(peer->t_new_handshake, 0);
	/* Persistent keepalive: re-armed by every packet either way, when configured. */
	wg_timers_any_authenticated_packet_traversal(peer);
	assert_int_equal(peer->t_persistent, 0);
	peer->persistent_keepalive = 25;
	wg_timers_any_authenticated_packet_traversal(peer);
	assert_true(peer->t_persistent >= now + 25 * SEC);
	peer->persistent_keepalive = 0;
	pthread_mutex_unlock(&peer->lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rekey_after_time),
		cmocka_unit_test(responder_does_not_rekey_on_time),
		cmocka_unit_test(reject_after_time),
		cmocka_unit_test(retransmit_then_give_up),
		cmocka_unit_test(zero_key_material),
		cmocka_unit_test(keepalive_deadlines),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
