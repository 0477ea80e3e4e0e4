/*
 * Noise_IKpsk2 as WireGuard uses it. The token steps of the pattern
 *   <- s
 *   ...
 *   -> e, es, s, ss
 *   <- e, ee, se, psk
 * appear as comments where they happen. Every DH goes through mix_dh,
 * which refuses an all-zero result: a low-order point aborts the message.
 */
#include "transport/wg/noise.h"

#include <string.h>

#include <sodium.h>

#include "transport/wg/messages.h"

static void mix_hash(uint8_t h[FLOE_WG_HASH_LEN], const uint8_t *data, size_t len)
{
	floe_wg_iov_t parts[] = { { h, FLOE_WG_HASH_LEN }, { data, len } };

	floe_wg_hash(h, parts, FLOE_ARRAY_LEN(parts));
}

/* (ck, k) = KDF2(ck, input); k may be NULL (KDF1). */
static void mix_key(uint8_t ck[FLOE_WG_HASH_LEN], uint8_t *k, const uint8_t *input, size_t len)
{
	uint8_t *outs[3] = { ck, k, NULL };

	floe_wg_kdf(outs, k ? 2 : 1, ck, FLOE_WG_HASH_LEN, input, len);
}

static FLOE_MUST_CHECK bool mix_dh(uint8_t ck[FLOE_WG_HASH_LEN], uint8_t k[FLOE_WG_SYM_KEY_LEN],
                                   const uint8_t priv[32], const uint8_t pub[32])
{
	uint8_t dh[32];
	bool ok = floe_wg_dh(dh, priv, pub);

	if (ok)
		mix_key(ck, k, dh, sizeof(dh));
	sodium_memzero(dh, sizeof(dh));
	return ok;
}

static void encrypt_and_hash(uint8_t *out, const uint8_t k[FLOE_WG_SYM_KEY_LEN], uint8_t h[FLOE_WG_HASH_LEN],
                             const uint8_t *plain, size_t len)
{
	/* Every key here is used for exactly one message: nonce 0. */
	floe_wg_aead_encrypt(out, k, 0, plain, len, h, FLOE_WG_HASH_LEN);
	mix_hash(h, out, len + FLOE_WG_AEAD_TAG_LEN);
}

static FLOE_MUST_CHECK bool decrypt_and_hash(uint8_t *out, const uint8_t k[FLOE_WG_SYM_KEY_LEN],
                                             uint8_t h[FLOE_WG_HASH_LEN], const uint8_t *cipher, size_t len)
{
	if (!floe_wg_aead_decrypt(out, k, 0, cipher, len + FLOE_WG_AEAD_TAG_LEN, h, FLOE_WG_HASH_LEN))
		return false;
	mix_hash(h, cipher, len + FLOE_WG_AEAD_TAG_LEN);
	return true;
}

/* The "e" token in a psk handshake: h = HASH(h || e), ck = KDF1(ck, e). */
static void mix_ephemeral(floe_wg_handshake_t *t, const uint8_t e_pub[FLOE_WG_KEY_LEN])
{
	mix_hash(t->hash, e_pub, FLOE_WG_KEY_LEN);
	mix_key(t->chaining_key, NULL, e_pub, FLOE_WG_KEY_LEN);
}

/* The "psk" token: (ck, tau, k) = KDF3(ck, psk); h = HASH(h || tau). */
static void mix_psk(floe_wg_handshake_t *t, uint8_t k[FLOE_WG_SYM_KEY_LEN])
{
	uint8_t tau[FLOE_WG_HASH_LEN];
	uint8_t *outs[3] = { t->chaining_key, tau, k };

	floe_wg_kdf(outs, 3, t->chaining_key, FLOE_WG_HASH_LEN, t->psk, FLOE_WG_KEY_LEN);
	mix_hash(t->hash, tau, sizeof(tau));
	sodium_memzero(tau, sizeof(tau));
}

/* ck = HASH(construction); h = HASH(ck || prologue); h = HASH(h || responder static). */
static void initial_state(uint8_t ck[FLOE_WG_HASH_LEN], uint8_t h[FLOE_WG_HASH_LEN],
                          const uint8_t *prologue, size_t prologue_len,
                          const uint8_t responder_static[FLOE_WG_KEY_LEN])
{
	floe_wg_iov_t name = { FLOE_WG_CONSTRUCTION, sizeof(FLOE_WG_CONSTRUCTION) - 1 };

	floe_wg_hash(ck, &name, 1);
	memcpy(h, ck, FLOE_WG_HASH_LEN);
	mix_hash(h, prologue, prologue_len);
	mix_hash(h, responder_static, FLOE_WG_KEY_LEN);
}

static void new_ephemeral(uint8_t priv[FLOE_WG_KEY_LEN], const uint8_t *injected)
{
	if (injected)
		memcpy(priv, injected, FLOE_WG_KEY_LEN);
	else
		randombytes_buf(priv, FLOE_WG_KEY_LEN);
}

bool floe_wg_noise_handshake_init(floe_wg_handshake_t *hs, const floe_wg_static_t *local,
                                  const uint8_t remote_static[FLOE_WG_KEY_LEN],
                                  const uint8_t psk[FLOE_WG_KEY_LEN])
{
	memset(hs, 0, sizeof(*hs));
	memcpy(hs->remote_static, remote_static, FLOE_WG_KEY_LEN);
	memcpy(hs->psk, psk, FLOE_WG_KEY_LEN);
	/* ss never changes for a peer: computed once, and a zero one refuses the peer. */
	if (!floe_wg_dh(hs->precomputed_ss, local->private_key, remote_static)) {
		floe_wg_noise_handshake_wipe(hs);
		return false;
	}
	return true;
}

void floe_wg_noise_handshake_clear(floe_wg_handshake_t *hs)
{
	sodium_memzero(hs->hash, sizeof(hs->hash));
	sodium_memzero(hs->chaining_key, sizeof(hs->chaining_key));
	sodium_memzero(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	sodium_memzero(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	hs->local_index = 0;
	hs->remote_index = 0;
	hs->state = FLOE_WG_HS_ZEROED;
}

void floe_wg_noise_handshake_wipe(floe_wg_handshake_t *hs)
{
	sodium_memzero(hs, sizeof(*hs));
}

bool floe_wg_noise_write_initiation(floe_wg_handshake_t *hs, const floe_wg_static_t *local,
                                    const uint8_t *prologue, size_t prologue_len,
                                    const uint8_t *ephemeral,
                                    const uint8_t *payload, size_t payload_len, uint8_t *out)
{
	floe_wg_handshake_t t = *hs;
	uint8_t k[FLOE_WG_SYM_KEY_LEN];
	uint8_t *e_pub = out;
	uint8_t *s_enc = out + FLOE_WG_KEY_LEN;
	uint8_t *p_enc = s_enc + FLOE_WG_KEY_LEN + FLOE_WG_AEAD_TAG_LEN;
	bool ok = false;

	initial_state(t.chaining_key, t.hash, prologue, prologue_len, t.remote_static);

	/* e */
	new_ephemeral(t.ephemeral_private, ephemeral);
	if (!floe_wg_dh_public(e_pub, t.ephemeral_private))
		goto out;
	mix_ephemeral(&t, e_pub);
	/* es */
	if (!mix_dh(t.chaining_key, k, t.ephemeral_private, t.remote_static))
		goto out;
	/* s */
	encrypt_and_hash(s_enc, k, t.hash, local->public_key, FLOE_WG_KEY_LEN);
	/* ss: precomputed at peer creation */
	mix_key(t.chaining_key, k, t.precomputed_ss, FLOE_WG_KEY_LEN);
	/* payload (WireGuard: the TAI64N timestamp) */
	encrypt_and_hash(p_enc, k, t.hash, payload, payload_len);

	t.state = FLOE_WG_HS_CREATED_INITIATION;
	*hs = t;
	ok = true;
out:
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(k, sizeof(k));
	return ok;
}

/*
 * The first half of reading an initiation: e, es, s. Leaves the initiator's
 * static key in t->remote_static and the key for ss's successor in k.
 */
static FLOE_MUST_CHECK bool read_initiation_static(floe_wg_handshake_t *t, uint8_t k[FLOE_WG_SYM_KEY_LEN],
                                                   const floe_wg_static_t *local,
                                                   const uint8_t *prologue, size_t prologue_len,
                                                   const uint8_t *msg)
{
	const uint8_t *e_pub = msg;
	const uint8_t *s_enc = msg + FLOE_WG_KEY_LEN;

	memset(t, 0, sizeof(*t));
	initial_state(t->chaining_key, t->hash, prologue, prologue_len, local->public_key);

	/* e */
	memcpy(t->remote_ephemeral, e_pub, FLOE_WG_KEY_LEN);
	mix_ephemeral(t, e_pub);
	/* es */
	if (!mix_dh(t->chaining_key, k, local->private_key, e_pub))
		return false;
	/* s */
	return decrypt_and_hash(t->remote_static, k, t->hash, s_enc, FLOE_WG_KEY_LEN);
}

bool floe_wg_noise_read_initiation(floe_wg_handshake_t *out_hs, const floe_wg_static_t *local,
                                   const uint8_t *prologue, size_t prologue_len,
                                   const uint8_t *msg, size_t payload_len, uint8_t *payload_out)
{
	floe_wg_handshake_t t;
	uint8_t k[FLOE_WG_SYM_KEY_LEN];
	const uint8_t *p_enc = msg + FLOE_WG_NOISE_INIT_OVERHEAD - FLOE_WG_AEAD_TAG_LEN;
	bool ok = false;

	if (!read_initiation_static(&t, k, local, prologue, prologue_len, msg))
		goto out;
	/* ss */
	if (!mix_dh(t.chaining_key, k, local->private_key, t.remote_static))
		goto out;
	/* payload */
	if (!decrypt_and_hash(payload_out, k, t.hash, p_enc, payload_len))
		goto out;

	t.state = FLOE_WG_HS_CONSUMED_INITIATION;
	*out_hs = t;
	ok = true;
out:
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(k, sizeof(k));
	return ok;
}

bool floe_wg_noise_initiation_static(const floe_wg_static_t *local, const uint8_t *msg,
                                     uint8_t out_static[FLOE_WG_KEY_LEN])
{
	static const uint8_t identifier[] = FLOE_WG_IDENTIFIER;
	floe_wg_handshake_t t;
	uint8_t k[FLOE_WG_SYM_KEY_LEN];
	bool ok = read_initiation_static(&t, k, local, identifier, sizeof(identifier) - 1,
	                                 msg + FLOE_WG_INIT_OFF_EPHEMERAL);

	if (ok)
		memcpy(out_static, t.remote_static, FLOE_WG_KEY_LEN);
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(k, sizeof(k));
	return ok;
}

bool floe_wg_noise_write_response(floe_wg_handshake_t *hs, const uint8_t *ephemeral,
                                  const uint8_t *payload, size_t payload_len, uint8_t *out)
{
	floe_wg_handshake_t t;
	uint8_t k[FLOE_WG_SYM_KEY_LEN];
	uint8_t *e_pub = out;
	bool ok = false;

	if (hs->state != FLOE_WG_HS_CONSUMED_INITIATION)
		return false;
	t = *hs;

	/* e */
	new_ephemeral(t.ephemeral_private, ephemeral);
	if (!floe_wg_dh_public(e_pub, t.ephemeral_private))
		goto out;
	mix_ephemeral(&t, e_pub);
	/* ee */
	if (!mix_dh(t.chaining_key, NULL, t.ephemeral_private, t.remote_ephemeral))
		goto out;
	/* se */
	if (!mix_dh(t.chaining_key, NULL, t.ephemeral_private, t.remote_static))
		goto out;
	/* psk */
	mix_psk(&t, k);
	/* payload (WireGuard: empty) */
	encrypt_and_hash(out + FLOE_WG_KEY_LEN, k, t.hash, payload, payload_len);

	t.state = FLOE_WG_HS_CREATED_RESPONSE;
	*hs = t;
	ok = true;
out:
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(k, sizeof(k));
	return ok;
}

bool floe_wg_noise_read_response(floe_wg_handshake_t *hs, const floe_wg_static_t *local,
                                 const uint8_t *msg, size_t payload_len, uint8_t *payload_out)
{
	floe_wg_handshake_t t;
	uint8_t k[FLOE_WG_SYM_KEY_LEN];
	const uint8_t *e_pub = msg;
	bool ok = false;

	if (hs->state != FLOE_WG_HS_CREATED_INITIATION)
		return false;
	t = *hs;

	/* e */
	memcpy(t.remote_ephemeral, e_pub, FLOE_WG_KEY_LEN);
	mix_ephemeral(&t, e_pub);
	/* ee */
	if (!mix_dh(t.chaining_key, NULL, t.ephemeral_private, e_pub))
		goto out;
	/* se */
	if (!mix_dh(t.chaining_key, NULL, local->private_key, e_pub))
		goto out;
	/* psk */
	mix_psk(&t, k);
	/* payload */
	if (!decrypt_and_hash(payload_out, k, t.hash, msg + FLOE_WG_KEY_LEN, payload_len))
		goto out;

	t.state = FLOE_WG_HS_CONSUMED_RESPONSE;
	*hs = t;
	ok = true;
out:
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(k, sizeof(k));
	return ok;
}

bool floe_wg_noise_split(floe_wg_handshake_t *hs, uint8_t send_key[FLOE_WG_SYM_KEY_LEN],
                         uint8_t recv_key[FLOE_WG_SYM_KEY_LEN])
{
	uint8_t *outs[3] = { NULL, NULL, NULL };
	bool initiator = hs->state == FLOE_WG_HS_CONSUMED_RESPONSE;

	if (!initiator && hs->state != FLOE_WG_HS_CREATED_RESPONSE)
		return false;
	/* (T_i->r, T_r->i) = KDF2(ck, empty) */
	outs[0] = initiator ? send_key : recv_key;
	outs[1] = initiator ? recv_key : send_key;
	floe_wg_kdf(outs, 2, hs->chaining_key, FLOE_WG_HASH_LEN, NULL, 0);
	floe_wg_noise_handshake_clear(hs);
	return true;
}

bool floe_wg_noise_create_initiation(floe_wg_handshake_t *hs, const floe_wg_static_t *local,
                                     uint8_t *msg, uint32_t sender_index, const uint8_t *ephemeral,
                                     const uint8_t timestamp[FLOE_WG_TAI64N_LEN])
{
	static const uint8_t identifier[] = FLOE_WG_IDENTIFIER;

	if (!floe_wg_noise_write_initiation(hs, local, identifier, sizeof(identifier) - 1, ephemeral,
	                                    timestamp, FLOE_WG_TAI64N_LEN, msg + FLOE_WG_INIT_OFF_EPHEMERAL))
		return false;
	floe_wg_header_put(msg, FLOE_WG_MSG_INITIATION);
	floe_wg_le32_put(msg + FLOE_WG_INIT_OFF_SENDER, sender_index);
	hs->local_index = sender_index;
	return true;
}

bool floe_wg_noise_consume_initiation(floe_wg_handshake_t *out_hs, const floe_wg_static_t *local,
                                      const uint8_t *msg, uint8_t timestamp[FLOE_WG_TAI64N_LEN])
{
	static const uint8_t identifier[] = FLOE_WG_IDENTIFIER;

	if (!floe_wg_noise_read_initiation(out_hs, local, identifier, sizeof(identifier) - 1,
	                                   msg + FLOE_WG_INIT_OFF_EPHEMERAL, FLOE_WG_TAI64N_LEN, timestamp))
		return false;
	out_hs->remote_index = floe_wg_le32_get(msg + FLOE_WG_INIT_OFF_SENDER);
	return true;
}

bool floe_wg_noise_create_response(floe_wg_handshake_t *hs, uint8_t *msg,
                                   uint32_t sender_index, const uint8_t *ephemeral)
{
	if (!floe_wg_noise_write_response(hs, ephemeral, NULL, 0, msg + FLOE_WG_RESP_OFF_EPHEMERAL))
		return false;
	floe_wg_header_put(msg, FLOE_WG_MSG_RESPONSE);
	floe_wg_le32_put(msg + FLOE_WG_RESP_OFF_SENDER, sender_index);
	floe_wg_le32_put(msg + FLOE_WG_RESP_OFF_RECEIVER, hs->remote_index);
	hs->local_index = sender_index;
	return true;
}

bool floe_wg_noise_consume_response(floe_wg_handshake_t *hs, const floe_wg_static_t *local,
                                    const uint8_t *msg)
{
	if (hs->state != FLOE_WG_HS_CREATED_INITIATION ||
	    floe_wg_le32_get(msg + FLOE_WG_RESP_OFF_RECEIVER) != hs->local_index)
		return false;
	if (!floe_wg_noise_read_response(hs, local, msg + FLOE_WG_RESP_OFF_EPHEMERAL, 0, NULL))
		return false;
	hs->remote_index = floe_wg_le32_get(msg + FLOE_WG_RESP_OFF_SENDER);
	return true;
}
