// SPDX-License-Identifier: MIT
#include "wg/noise.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/le32.h"

/* h = HASH(h || data) */
static int mix_hash(uint8_t h[WG_HASH_LEN], const void *data, size_t len)
{
	return wg_blake2s(h, h, WG_HASH_LEN, data, len);
}

/* The handshake's starting point, with the responder's static key mixed in. */
static int handshake_start(uint8_t ck[WG_HASH_LEN], uint8_t h[WG_HASH_LEN],
			   const uint8_t responder_static[WG_X25519_LEN])
{
	int ret = wg_blake2s(ck, WG_CONSTRUCTION, strlen(WG_CONSTRUCTION), NULL, 0);
	if (!ret)
		ret = wg_blake2s(h, ck, WG_HASH_LEN, WG_IDENTIFIER, strlen(WG_IDENTIFIER));
	if (!ret)
		ret = mix_hash(h, responder_static, WG_X25519_LEN);
	return ret;
}

/* (ck, k) = KDF2(ck, DH(priv, pub)) */
static int mix_dh(uint8_t ck[WG_HASH_LEN], uint8_t *key, const uint8_t priv[WG_X25519_LEN],
		  const uint8_t pub[WG_X25519_LEN])
{
	uint8_t dh[WG_X25519_LEN];
	int ret = wg_x25519(dh, priv, pub);
	if (!ret)
		ret = wg_kdf(ck, key, NULL, ck, dh, sizeof(dh));
	wg_memzero(dh, sizeof(dh));
	return ret;
}

int noise_identity_set(struct noise_identity *id, const uint8_t private_key[WG_X25519_LEN])
{
	uint8_t priv[WG_X25519_LEN];
	int ret;
	memcpy(priv, private_key, sizeof(priv));
	wg_x25519_clamp(priv);
	ret = wg_x25519_public(id->public_key, priv);
	if (!ret) {
		memcpy(id->private_key, priv, sizeof(priv));
		id->has_key = true;
	}
	wg_memzero(priv, sizeof(priv));
	return ret;
}

void noise_identity_clear(struct noise_identity *id)
{
	wg_memzero(id, sizeof(*id));
}

void noise_handshake_rekey_identity(struct noise_handshake *hs, const struct noise_identity *id)
{
	/* A low-order remote key leaves the DH at zero: handshakes then fail. */
	if (!id->has_key || wg_x25519(hs->precomputed_ss, id->private_key, hs->remote_static))
		memset(hs->precomputed_ss, 0, sizeof(hs->precomputed_ss));
	noise_handshake_clear(hs);
}

void noise_handshake_init(struct noise_handshake *hs, const struct noise_identity *id,
			  const uint8_t remote_static[WG_X25519_LEN],
			  const uint8_t preshared_key[WG_AEAD_KEY_LEN])
{
	wg_memzero(hs, sizeof(*hs));
	memcpy(hs->remote_static, remote_static, WG_X25519_LEN);
	if (preshared_key)
		memcpy(hs->preshared_key, preshared_key, WG_AEAD_KEY_LEN);
	noise_handshake_rekey_identity(hs, id);
}

void noise_handshake_clear(struct noise_handshake *hs)
{
	wg_memzero(hs->hash, sizeof(hs->hash));
	wg_memzero(hs->chaining_key, sizeof(hs->chaining_key));
	wg_memzero(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	wg_memzero(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	hs->remote_index = 0;
	hs->state = NOISE_ZEROED;
}

void noise_tai64n(uint8_t out[WG_TIMESTAMP_LEN], uint64_t unix_ns)
{
	/* TAI64 label 2^62 + 10 (TAI-UTC offset at the epoch), big-endian. */
	uint64_t secs = 0x400000000000000aULL + unix_ns / NSEC_PER_SEC;
	/*
	 * Whiten the nanoseconds to ~16 ms so the timestamp does not leak the
	 * sender's clock precisely, as the kernel implementation does.
	 */
	uint32_t nsec = (uint32_t)(unix_ns % NSEC_PER_SEC) & ~((1U << 24) - 1);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(secs >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(nsec >> (24 - 8 * i));
}

int noise_create_initiation(struct wg_msg_initiation *msg, struct noise_handshake *hs,
			    const struct noise_identity *id, uint32_t local_index, uint64_t unix_ns)
{
	uint8_t key[WG_AEAD_KEY_LEN], ts[WG_TIMESTAMP_LEN];
	static const uint8_t zero[WG_X25519_LEN];
	int ret;

	if (!id->has_key || wg_memeq(hs->precomputed_ss, zero, sizeof(zero)))
		return -ENOKEY;
	noise_handshake_clear(hs);
	memset(msg, 0, sizeof(*msg));
	le32_put((uint8_t *)&msg->type, WG_MSG_INITIATION);
	le32_put((uint8_t *)&msg->sender_index, local_index);

	ret = handshake_start(hs->chaining_key, hs->hash, hs->remote_static);
	wg_x25519_generate(hs->ephemeral_private);
	if (!ret)
		ret = wg_x25519_public(msg->ephemeral, hs->ephemeral_private);
	if (!ret)
		ret = wg_kdf(hs->chaining_key, NULL, NULL, hs->chaining_key, msg->ephemeral, WG_X25519_LEN);
	if (!ret)
		ret = mix_hash(hs->hash, msg->ephemeral, WG_X25519_LEN);
	if (!ret)
		ret = mix_dh(hs->chaining_key, key, hs->ephemeral_private, hs->remote_static);
	if (!ret)
		ret = wg_aead_encrypt(msg->encrypted_static, id->public_key, WG_X25519_LEN, hs->hash,
				      WG_HASH_LEN, 0, key);
	if (!ret)
		ret = mix_hash(hs->hash, msg->encrypted_static, sizeof(msg->encrypted_static));
	if (!ret)
		ret = wg_kdf(hs->chaining_key, key, NULL, hs->chaining_key, hs->precomputed_ss,
			     WG_X25519_LEN);
	noise_tai64n(ts, unix_ns);
	if (!ret)
		ret = wg_aead_encrypt(msg->encrypted_timestamp, ts, sizeof(ts), hs->hash, WG_HASH_LEN, 0,
				      key);
	if (!ret)
		ret = mix_hash(hs->hash, msg->encrypted_timestamp, sizeof(msg->encrypted_timestamp));
	wg_memzero(key, sizeof(key));
	if (ret) {
		noise_handshake_clear(hs);
		return ret;
	}
	hs->local_index = local_index;
	hs->state = NOISE_CREATED_INITIATION;
	return 0;
}

int noise_consume_initiation(const struct wg_msg_initiation *msg, const struct noise_identity *id,
			     struct noise_initiation *out)
{
	uint8_t key[WG_AEAD_KEY_LEN];
	int ret;

	if (!id->has_key)
		return -ENOKEY;
	ret = handshake_start(out->chaining_key, out->hash, id->public_key);
	memcpy(out->remote_ephemeral, msg->ephemeral, WG_X25519_LEN);
	if (!ret)
		ret = wg_kdf(out->chaining_key, NULL, NULL, out->chaining_key, msg->ephemeral,
			     WG_X25519_LEN);
	if (!ret)
		ret = mix_hash(out->hash, msg->ephemeral, WG_X25519_LEN);
	if (!ret)
		ret = mix_dh(out->chaining_key, key, id->private_key, msg->ephemeral);
	if (!ret)
		ret = wg_aead_decrypt(out->remote_static, msg->encrypted_static,
				      sizeof(msg->encrypted_static), out->hash, WG_HASH_LEN, 0, key);
	if (!ret)
		ret = mix_hash(out->hash, msg->encrypted_static, sizeof(msg->encrypted_static));
	if (!ret)
		ret = mix_dh(out->chaining_key, key, id->private_key, out->remote_static);
	if (!ret)
		ret = wg_aead_decrypt(out->timestamp, msg->encrypted_timestamp,
				      sizeof(msg->encrypted_timestamp), out->hash, WG_HASH_LEN, 0, key);
	if (!ret)
		ret = mix_hash(out->hash, msg->encrypted_timestamp, sizeof(msg->encrypted_timestamp));
	out->remote_index = le32_get((const uint8_t *)&msg->sender_index);
	wg_memzero(key, sizeof(key));
	if (ret) {
		wg_memzero(out, sizeof(*out));
		return ret == -EIO ? -EIO : -EBADMSG;
	}
	return 0;
}

int noise_accept_initiation(struct noise_handshake *hs, const struct noise_initiation *in,
			    uint64_t now_ns)
{
	if (!wg_memeq(hs->remote_static, in->remote_static, WG_X25519_LEN))
		return -EINVAL;
	/* Timestamps must strictly increase: an older one is a replay. */
	if (memcmp(in->timestamp, hs->latest_timestamp, WG_TIMESTAMP_LEN) <= 0)
		return -EALREADY;
	if (hs->last_initiation_consumed_ns &&
	    now_ns - hs->last_initiation_consumed_ns < NSEC_PER_SEC / WG_INITIATIONS_PER_SECOND)
		return -EBUSY;
	noise_handshake_clear(hs);
	memcpy(hs->latest_timestamp, in->timestamp, WG_TIMESTAMP_LEN);
	hs->last_initiation_consumed_ns = now_ns;
	memcpy(hs->remote_ephemeral, in->remote_ephemeral, WG_X25519_LEN);
	memcpy(hs->hash, in->hash, WG_HASH_LEN);
	memcpy(hs->chaining_key, in->chaining_key, WG_HASH_LEN);
	hs->remote_index = in->remote_index;
	hs->state = NOISE_CONSUMED_INITIATION;
	return 0;
}

/* (ck, tau, k) = KDF3(ck, psk); h = HASH(h || tau) */
static int mix_psk(uint8_t ck[WG_HASH_LEN], uint8_t h[WG_HASH_LEN], uint8_t key[WG_AEAD_KEY_LEN],
		   const uint8_t psk[WG_AEAD_KEY_LEN])
{
	uint8_t tau[WG_HASH_LEN];
	int ret = wg_kdf(ck, tau, key, ck, psk, WG_AEAD_KEY_LEN);
	if (!ret)
		ret = mix_hash(h, tau, sizeof(tau));
	wg_memzero(tau, sizeof(tau));
	return ret;
}

/* ck = KDF1(ck, DH(priv, pub)) */
static int mix_dh1(uint8_t ck[WG_HASH_LEN], const uint8_t priv[WG_X25519_LEN],
		   const uint8_t pub[WG_X25519_LEN])
{
	return mix_dh(ck, NULL, priv, pub);
}

int noise_create_response(struct wg_msg_response *msg, struct noise_handshake *hs,
			  uint32_t local_index)
{
	uint8_t key[WG_AEAD_KEY_LEN];
	int ret;

	if (hs->state != NOISE_CONSUMED_INITIATION)
		return -EINVAL;
	memset(msg, 0, sizeof(*msg));
	le32_put((uint8_t *)&msg->type, WG_MSG_RESPONSE);
	le32_put((uint8_t *)&msg->sender_index, local_index);
	le32_put((uint8_t *)&msg->receiver_index, hs->remote_index);

	wg_x25519_generate(hs->ephemeral_private);
	ret = wg_x25519_public(msg->ephemeral, hs->ephemeral_private);
	if (!ret)
		ret = wg_kdf(hs->chaining_key, NULL, NULL, hs->chaining_key, msg->ephemeral, WG_X25519_LEN);
	if (!ret)
		ret = mix_hash(hs->hash, msg->ephemeral, WG_X25519_LEN);
	if (!ret)
		ret = mix_dh1(hs->chaining_key, hs->ephemeral_private, hs->remote_ephemeral);
	if (!ret)
		ret = mix_dh1(hs->chaining_key, hs->ephemeral_private, hs->remote_static);
	if (!ret)
		ret = mix_psk(hs->chaining_key, hs->hash, key, hs->preshared_key);
	if (!ret)
		ret = wg_aead_encrypt(msg->encrypted_nothing, NULL, 0, hs->hash, WG_HASH_LEN, 0, key);
	if (!ret)
		ret = mix_hash(hs->hash, msg->encrypted_nothing, sizeof(msg->encrypted_nothing));
	wg_memzero(key, sizeof(key));
	if (ret) {
		noise_handshake_clear(hs);
		return ret;
	}
	hs->local_index = local_index;
	hs->state = NOISE_CREATED_RESPONSE;
	return 0;
}

int noise_consume_response(const struct wg_msg_response *msg, struct noise_handshake *hs,
			   const struct noise_identity *id)
{
	uint8_t key[WG_AEAD_KEY_LEN], ck[WG_HASH_LEN], h[WG_HASH_LEN];
	int ret;

	if (hs->state != NOISE_CREATED_INITIATION || !id->has_key)
		return -EINVAL;
	if (le32_get((const uint8_t *)&msg->receiver_index) != hs->local_index)
		return -EINVAL;
	/* Work on copies: a forged response must leave the handshake usable. */
	memcpy(ck, hs->chaining_key, sizeof(ck));
	memcpy(h, hs->hash, sizeof(h));
	ret = wg_kdf(ck, NULL, NULL, ck, msg->ephemeral, WG_X25519_LEN);
	if (!ret)
		ret = mix_hash(h, msg->ephemeral, WG_X25519_LEN);
	if (!ret)
		ret = mix_dh1(ck, hs->ephemeral_private, msg->ephemeral);
	if (!ret)
		ret = mix_dh1(ck, id->private_key, msg->ephemeral);
	if (!ret)
		ret = mix_psk(ck, h, key, hs->preshared_key);
	if (!ret)
		ret = wg_aead_decrypt(NULL, msg->encrypted_nothing, sizeof(msg->encrypted_nothing), h,
				      WG_HASH_LEN, 0, key);
	if (!ret)
		ret = mix_hash(h, msg->encrypted_nothing, sizeof(msg->encrypted_nothing));
	if (!ret) {
		memcpy(hs->chaining_key, ck, sizeof(ck));
		memcpy(hs->hash, h, sizeof(h));
		memcpy(hs->remote_ephemeral, msg->ephemeral, WG_X25519_LEN);
		hs->remote_index = le32_get((const uint8_t *)&msg->sender_index);
		hs->state = NOISE_CONSUMED_RESPONSE;
	}
	wg_memzero(key, sizeof(key));
	wg_memzero(ck, sizeof(ck));
	wg_memzero(h, sizeof(h));
	return ret ? -EBADMSG : 0;
}

struct noise_keypair *noise_begin_session(struct noise_handshake *hs, uint64_t now_ns)
{
	struct noise_keypair *kp;
	uint8_t k1[WG_AEAD_KEY_LEN], k2[WG_AEAD_KEY_LEN];
	bool initiator = hs->state == NOISE_CONSUMED_RESPONSE;

	if (hs->state != NOISE_CONSUMED_RESPONSE && hs->state != NOISE_CREATED_RESPONSE)
		return NULL;
	kp = calloc(1, sizeof(*kp));
	if (!kp)
		return NULL;
	if (wg_kdf(k1, k2, NULL, hs->chaining_key, NULL, 0) ||
	    pthread_spin_init(&kp->replay_lock, PTHREAD_PROCESS_PRIVATE)) {
		free(kp);
		return NULL;
	}
	memcpy(kp->send_key, initiator ? k1 : k2, WG_AEAD_KEY_LEN);
	memcpy(kp->recv_key, initiator ? k2 : k1, WG_AEAD_KEY_LEN);
	wg_memzero(k1, sizeof(k1));
	wg_memzero(k2, sizeof(k2));
	atomic_init(&kp->refs, 1);
	atomic_init(&kp->send_counter, 0);
	atomic_init(&kp->valid, true);
	wg_replay_init(&kp->replay);
	kp->birth_ns = now_ns;
	kp->initiator = initiator;
	kp->local_index = hs->local_index;
	kp->remote_index = hs->remote_index;
	noise_handshake_clear(hs);
	return kp;
}

struct noise_keypair *noise_keypair_get(struct noise_keypair *kp)
{
	if (kp)
		atomic_fetch_add(&kp->refs, 1);
	return kp;
}

void noise_keypair_put(struct noise_keypair *kp)
{
	if (!kp || atomic_fetch_sub(&kp->refs, 1) != 1)
		return;
	pthread_spin_destroy(&kp->replay_lock);
	wg_memzero(kp, sizeof(*kp));
	free(kp);
}

static bool keypair_usable(struct noise_keypair *kp, uint64_t now_ns)
{
	return atomic_load(&kp->valid) && now_ns - kp->birth_ns < WG_REJECT_AFTER_TIME * NSEC_PER_SEC;
}

int noise_encrypt_begin(struct noise_keypair *kp, uint8_t *out, const uint8_t *plain, size_t len,
			size_t mtu, uint64_t now_ns)
{
	struct wg_msg_data *hdr = (struct wg_msg_data *)out;
	size_t padded = (len + WG_PADDING_MULTIPLE - 1) & ~(size_t)(WG_PADDING_MULTIPLE - 1);
	uint64_t counter;

	if (!keypair_usable(kp, now_ns))
		return -ESTALE;
	counter = atomic_fetch_add(&kp->send_counter, 1);
	if (counter >= WG_REJECT_AFTER_MESSAGES) {
		atomic_store(&kp->valid, false);
		return -ESTALE;
	}
	if (padded > mtu)
		padded = len > mtu ? len : mtu;
	if (plain != out + WG_DATA_HEADER_LEN && len)
		memmove(out + WG_DATA_HEADER_LEN, plain, len);
	memset(out + WG_DATA_HEADER_LEN + len, 0, padded - len);
	le32_put((uint8_t *)&hdr->type, WG_MSG_DATA);
	le32_put((uint8_t *)&hdr->receiver_index, kp->remote_index);
	hdr->counter = htole64(counter);
	return (int)(WG_DATA_HEADER_LEN + padded + WG_AEAD_TAG_LEN);
}

int noise_encrypt_seal(const struct noise_keypair *kp, uint8_t *out, size_t msg_len)
{
	const struct wg_msg_data *hdr = (const struct wg_msg_data *)out;
	size_t padded = msg_len - WG_DATA_HEADER_LEN - WG_AEAD_TAG_LEN;
	return wg_aead_encrypt(out + WG_DATA_HEADER_LEN, out + WG_DATA_HEADER_LEN, padded, NULL, 0,
			       le64toh(hdr->counter), kp->send_key);
}

int noise_encrypt(struct noise_keypair *kp, uint8_t *out, const uint8_t *plain, size_t len,
		  size_t mtu, uint64_t now_ns, uint64_t *counter_out)
{
	int n = noise_encrypt_begin(kp, out, plain, len, mtu, now_ns), ret;
	if (n < 0)
		return n;
	ret = noise_encrypt_seal(kp, out, (size_t)n);
	if (ret)
		return ret;
	if (counter_out)
		*counter_out = le64toh(((const struct wg_msg_data *)out)->counter);
	return n;
}

int noise_decrypt(struct noise_keypair *kp, uint8_t *msg, size_t len, uint64_t now_ns)
{
	const struct wg_msg_data *hdr = (const struct wg_msg_data *)msg;
	uint64_t counter;
	bool fresh;
	int ret;

	if (len < WG_MSG_DATA_MIN_LEN)
		return -EINVAL;
	if (!keypair_usable(kp, now_ns))
		return -ESTALE;
	counter = le64toh(hdr->counter);
	ret = wg_aead_decrypt(msg + WG_DATA_HEADER_LEN, msg + WG_DATA_HEADER_LEN,
			      len - WG_DATA_HEADER_LEN, NULL, 0, counter, kp->recv_key);
	if (ret)
		return -EBADMSG;
	pthread_spin_lock(&kp->replay_lock);
	fresh = wg_replay_check(&kp->replay, counter);
	pthread_spin_unlock(&kp->replay_lock);
	if (!fresh)
		return -EALREADY;
	return (int)(len - WG_DATA_HEADER_LEN - WG_AEAD_TAG_LEN);
}
