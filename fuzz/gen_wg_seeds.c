// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of fuzz_wg_message: one valid message of each type,
 * made by the real Noise and cookie code with the harness's fixed keys
 * (private keys all 1s = the harness's local identity, all 2s = the remote),
 * so fuzzing starts past classification and the MAC checks. Built only in a
 * fuzz build; its output is committed as fuzz/corpus-wg_message/.
 *   build-fuzz/fuzz/gen_wg_seeds fuzz/corpus-wg_message
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wg/cookie.h"
#include "wg/noise.h"

static void put(const char *dir, const char *name, const void *msg, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(msg, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const struct ip_endpoint src = { .addr = { .family = AF_INET, .bytes = { 10, 0, 0, 1 } }, .port = 1 };
	struct noise_identity local, remote;
	struct noise_handshake ihs, rhs;
	struct noise_initiation in;
	struct wg_cookie_maker to_local, to_remote;
	struct wg_cookie_checker checker;
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_msg_cookie cookie;
	struct noise_keypair kp;
	uint8_t k1[32], k2[32], data[WG_MAX_PACKET], ping[84] = { 0x45, 0, 0, 84 };
	int len;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	if (wg_crypto_init() || noise_identity_set(&local, k1) || noise_identity_set(&remote, k2) ||
	    wg_cookie_maker_init(&to_local, local.public_key) || wg_cookie_maker_init(&to_remote, remote.public_key) ||
	    wg_cookie_checker_init(&checker, local.public_key))
		return 1;

	/* Remote -> local initiation: what the harness's responder consumes. */
	noise_handshake_init(&ihs, &remote, local.public_key, NULL);
	if (noise_create_initiation(&init, &ihs, &remote, 7, 1700000000ull * 1000000000ull) ||
	    wg_cookie_add_macs(&to_local, (uint8_t *)&init, sizeof(init), 1))
		return 1;
	put(argv[1], "initiation", &init, sizeof(init));

	/* Local accepts it and answers: a well-formed response to remote. */
	if (noise_consume_initiation(&init, &local, &in))
		return 1;
	noise_handshake_init(&rhs, &local, in.remote_static, NULL);
	if (noise_accept_initiation(&rhs, &in, 1) || noise_create_response(&resp, &rhs, 9) ||
	    wg_cookie_add_macs(&to_remote, (uint8_t *)&resp, sizeof(resp), 1))
		return 1;
	put(argv[1], "response", &resp, sizeof(resp));

	/* A cookie reply to that initiation (sent when under load). */
	if (wg_cookie_create_reply(&checker, &cookie, (uint8_t *)&init, sizeof(init), 7, &src, 1))
		return 1;
	put(argv[1], "cookie", &cookie, sizeof(cookie));

	/* Data under the all-zero keypair the harness decrypts with: a ping and a keepalive. */
	memset(&kp, 0, sizeof(kp));
	pthread_spin_init(&kp.replay_lock, PTHREAD_PROCESS_PRIVATE);
	atomic_init(&kp.valid, true);
	kp.birth_ns = 1;
	if ((len = noise_encrypt(&kp, data, ping, sizeof(ping), 1420, 2, NULL)) < 0)
		return 1;
	put(argv[1], "data-ping", data, (size_t)len);
	if ((len = noise_encrypt(&kp, data, NULL, 0, 1420, 2, NULL)) < 0)
		return 1;
	put(argv[1], "data-keepalive", data, (size_t)len);
	return 0;
}
