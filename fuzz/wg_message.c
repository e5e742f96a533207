// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: every parser a UDP datagram from the network reaches
 * before it is authenticated - classification, MAC checks, handshake
 * initiation and response processing, cookie replies and data decryption -
 * with fixed keys so that well-formed prefixes get deep.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wg/cookie.h"
#include "wg/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct noise_identity local, remote;
static struct wg_cookie_checker checker;
static struct wg_cookie_maker maker;
static bool ready;

static void setup(void)
{
	uint8_t k1[32], k2[32];
	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	if (wg_crypto_init() || noise_identity_set(&local, k1) || noise_identity_set(&remote, k2) ||
	    wg_cookie_checker_init(&checker, local.public_key) || wg_cookie_maker_init(&maker, remote.public_key))
		__builtin_trap();
	ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ip_endpoint src = { .addr = { .family = AF_INET, .bytes = { 10, 0, 0, 1 } }, .port = 1 };
	uint8_t buf[WG_MAX_PACKET];
	if (!ready)
		setup();
	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	switch (wg_message_classify(buf, size)) {
	case WG_MSG_INITIATION: {
		struct noise_initiation in;
		struct noise_handshake hs;
		wg_cookie_validate(&checker, buf, size, &src, true, 1);
		if (noise_consume_initiation((struct wg_msg_initiation *)buf, &local, &in) == 0) {
			noise_handshake_init(&hs, &local, in.remote_static, NULL);
			noise_accept_initiation(&hs, &in, 1);
		}
		break;
	}
	case WG_MSG_RESPONSE: {
		struct wg_msg_initiation init;
		struct noise_handshake hs;
		noise_handshake_init(&hs, &local, remote.public_key, NULL);
		if (noise_create_initiation(&init, &hs, &local, 7, 1) == 0) {
			memcpy(buf + 8, &hs.local_index, 4); /* aim at our pending handshake */
			noise_consume_response((struct wg_msg_response *)buf, &hs, &local);
		}
		break;
	}
	case WG_MSG_COOKIE:
		maker.have_sent_mac1 = true;
		wg_cookie_consume_reply(&maker, (struct wg_msg_cookie *)buf, 1);
		break;
	case WG_MSG_DATA: {
		struct noise_keypair kp;
		memset(&kp, 0, sizeof(kp));
		pthread_spin_init(&kp.replay_lock, PTHREAD_PROCESS_PRIVATE);
		atomic_init(&kp.valid, true);
		kp.birth_ns = 1;
		noise_decrypt(&kp, buf, size, 2);
		pthread_spin_destroy(&kp.replay_lock);
		break;
	}
	default:
		break;
	}
	return 0;
}
