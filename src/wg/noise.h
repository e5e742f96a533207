/* SPDX-License-Identifier: MIT */
/*
 * The Noise_IKpsk2 handshake (paper section 5.4) and the transport keypairs
 * it yields. Pure computation over caller-owned state: no sockets, no
 * clocks (the caller passes times in), no locks (the peer that owns a
 * handshake serialises it). MACs and cookies live in cookie.h.
 */
#ifndef OVL_WG_NOISE_H
#define OVL_WG_NOISE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "wg/crypto.h"
#include "wg/messages.h"
#include "wg/replay.h"

#define WG_TIMESTAMP_LEN 12

/* The device's own static key pair. */
struct noise_identity {
	bool has_key;
	uint8_t private_key[WG_X25519_LEN];
	uint8_t public_key[WG_X25519_LEN];
};

enum noise_state {
	NOISE_ZEROED,
	NOISE_CREATED_INITIATION,
	NOISE_CONSUMED_INITIATION,
	NOISE_CREATED_RESPONSE,
	NOISE_CONSUMED_RESPONSE,
};

/* One peer's handshake state. */
struct noise_handshake {
	enum noise_state state;
	uint8_t remote_static[WG_X25519_LEN];
	uint8_t precomputed_ss[WG_X25519_LEN]; /* DH(our static, their static); zero if invalid */
	uint8_t preshared_key[WG_AEAD_KEY_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t ephemeral_private[WG_X25519_LEN];
	uint8_t remote_ephemeral[WG_X25519_LEN];
	uint8_t latest_timestamp[WG_TIMESTAMP_LEN];
	uint32_t local_index, remote_index;
	uint64_t last_initiation_consumed_ns; /* monotonic; flood protection */
};

/*
 * A transport session. Shared between the data path threads and the peer,
 * hence the reference count; freed (and its keys zeroed) on the last put.
 */
struct noise_keypair {
	atomic_int refs;
	uint8_t send_key[WG_AEAD_KEY_LEN];
	uint8_t recv_key[WG_AEAD_KEY_LEN];
	atomic_uint_fast64_t send_counter;
	pthread_spinlock_t replay_lock;
	struct wg_replay replay;
	uint64_t birth_ns; /* monotonic */
	bool initiator;
	atomic_bool valid; /* cleared when expired or zeroed */
	uint32_t local_index, remote_index;
	void *peer; /* owner, for the index table; not a reference */
};

/* The result of decrypting an initiation, before its peer is known. */
struct noise_initiation {
	uint8_t remote_static[WG_X25519_LEN];
	uint8_t remote_ephemeral[WG_X25519_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t timestamp[WG_TIMESTAMP_LEN];
	uint32_t remote_index;
};

int noise_identity_set(struct noise_identity *id, const uint8_t private_key[WG_X25519_LEN]);
void noise_identity_clear(struct noise_identity *id);

/* (Re)bind a handshake to a remote static key under the local identity. */
void noise_handshake_init(struct noise_handshake *hs, const struct noise_identity *id,
			  const uint8_t remote_static[WG_X25519_LEN],
			  const uint8_t preshared_key[WG_AEAD_KEY_LEN]);
/* Recompute the static-static DH after the local private key changed. */
void noise_handshake_rekey_identity(struct noise_handshake *hs, const struct noise_identity *id);
/* Forget any handshake in progress (keeps keys and the latest timestamp). */
void noise_handshake_clear(struct noise_handshake *hs);

/* TAI64N of a wall-clock time; the handshake's replay-proof timestamp. */
void noise_tai64n(uint8_t out[WG_TIMESTAMP_LEN], uint64_t unix_ns);

/* Initiator: build message 1 (MACs are added by the cookie layer). */
int noise_create_initiation(struct wg_msg_initiation *msg, struct noise_handshake *hs,
			    const struct noise_identity *id, uint32_t local_index, uint64_t unix_ns);
/* Responder, step 1: authenticate and decrypt message 1. -EBADMSG on failure. */
int noise_consume_initiation(const struct wg_msg_initiation *msg, const struct noise_identity *id,
			     struct noise_initiation *out);
/*
 * Responder, step 2, once the peer owning out->remote_static is found:
 * reject replayed timestamps and floods, then adopt the handshake.
 */
int noise_accept_initiation(struct noise_handshake *hs, const struct noise_initiation *in,
			    uint64_t now_ns);
/* Responder: build message 2 for an accepted initiation. */
int noise_create_response(struct wg_msg_response *msg, struct noise_handshake *hs,
			  uint32_t local_index);
/* Initiator: authenticate message 2 against our pending initiation. */
int noise_consume_response(const struct wg_msg_response *msg, struct noise_handshake *hs,
			   const struct noise_identity *id);
/*
 * Either side, after CREATED_RESPONSE or CONSUMED_RESPONSE: derive the
 * transport keys into a new keypair (refs = 1) and zero the handshake.
 */
struct noise_keypair *noise_begin_session(struct noise_handshake *hs, uint64_t now_ns);

struct noise_keypair *noise_keypair_get(struct noise_keypair *kp);
void noise_keypair_put(struct noise_keypair *kp);

/*
 * Data messages. Encrypt pads the plaintext to WG_PADDING_MULTIPLE (capped
 * at mtu) and writes header + ciphertext to out (room for len + 16 + 16 +
 * 15 bytes); returns the datagram length, -ESTALE when the key must not be
 * used any more, or another negative errno.
 */
int noise_encrypt(struct noise_keypair *kp, uint8_t *out, const uint8_t *plain, size_t len,
		  size_t mtu, uint64_t now_ns, uint64_t *counter_out);
/*
 * The same in two steps, so that the sealing (the costly part) may run on
 * another thread: begin takes the counter, writes the header and the
 * padding and returns the datagram length (or the errors above); seal
 * encrypts out, of that length, in place (0 or -errno). The keypair must
 * stay referenced until the seal.
 */
int noise_encrypt_begin(struct noise_keypair *kp, uint8_t *out, const uint8_t *plain, size_t len,
			size_t mtu, uint64_t now_ns);
int noise_encrypt_seal(const struct noise_keypair *kp, uint8_t *out, size_t msg_len);
/*
 * Decrypt a data message in place and check the replay window; returns the
 * plaintext length (0 = keepalive), -ESTALE for an expired key, -EBADMSG for
 * a forgery, -EALREADY for a replay.
 */
int noise_decrypt(struct noise_keypair *kp, uint8_t *msg, size_t len, uint64_t now_ns);

#endif
