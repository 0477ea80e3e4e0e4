/*
 * WireGuard's primitives on libb2 (BLAKE2s) and libsodium (X25519,
 * ChaCha20-Poly1305). The one piece that is not a plain wrapper is the
 * padded encryption of the data path: it assembles the RFC 8439 AEAD from
 * the ChaCha20 stream and Poly1305 so that the packet is read once and the
 * ciphertext written once, straight into the datagram.
 */
#include "transport/wg/crypto.h"

#include <string.h>
#include <time.h>

#include <blake2.h>
#include <sodium.h>

enum {
	CHACHA_BLOCK_BYTES = 64,
	POLY_KEY_BYTES = 32,
	TAI64_EPOCH_OFFSET_EXP = 62, /* TAI64 labels count from 2^62 */
	/* TAI - UTC as WireGuard (kernel, wireguard-go) writes it: 0x400000000000000a + unix seconds. */
	TAI64_UTC_OFFSET_S = 10,
};

void floe_wg_hash(uint8_t out[FLOE_WG_HASH_LEN], const floe_wg_iov_t *parts, size_t n)
{
	blake2s_state st;

	blake2s_init(&st, FLOE_WG_HASH_LEN);
	for (size_t i = 0; i < n; i++)
		blake2s_update(&st, parts[i].ptr, parts[i].len);
	blake2s_final(&st, out, FLOE_WG_HASH_LEN);
	sodium_memzero(&st, sizeof(st));
}

void floe_wg_mac(uint8_t out[FLOE_WG_MAC_LEN], const uint8_t *key, size_t key_len,
                 const uint8_t *msg, size_t len)
{
	blake2s_state st;

	blake2s_init_key(&st, FLOE_WG_MAC_LEN, key, key_len);
	blake2s_update(&st, msg, len);
	blake2s_final(&st, out, FLOE_WG_MAC_LEN);
	sodium_memzero(&st, sizeof(st));
}

void floe_wg_hmac(uint8_t out[FLOE_WG_HASH_LEN], const uint8_t *key, size_t key_len,
                  const uint8_t *msg, size_t len)
{
	uint8_t k[FLOE_WG_BLAKE2S_BLOCK_BYTES] = { 0 };
	uint8_t pad[FLOE_WG_BLAKE2S_BLOCK_BYTES];
	uint8_t inner[FLOE_WG_HASH_LEN];
	blake2s_state st;

	/* RFC 2104: keys longer than the block are hashed first. */
	if (key_len > sizeof(k))
		blake2s(k, key, NULL, FLOE_WG_HASH_LEN, key_len, 0);
	else if (key_len)
		memcpy(k, key, key_len);

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x36;
	blake2s_init(&st, FLOE_WG_HASH_LEN);
	blake2s_update(&st, pad, sizeof(pad));
	blake2s_update(&st, msg, len);
	blake2s_final(&st, inner, sizeof(inner));

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x5c;
	blake2s_init(&st, FLOE_WG_HASH_LEN);
	blake2s_update(&st, pad, sizeof(pad));
	blake2s_update(&st, inner, sizeof(inner));
	blake2s_final(&st, out, FLOE_WG_HASH_LEN);

	sodium_memzero(k, sizeof(k));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(&st, sizeof(st));
}

void floe_wg_kdf(uint8_t *out[3], size_t n, const uint8_t *key, size_t key_len,
                 const uint8_t *input, size_t len)
{
	uint8_t prk[FLOE_WG_HASH_LEN];
	uint8_t t[FLOE_WG_HASH_LEN + 1];  /* t(i-1) || i */
	size_t t_len = 0;

	floe_wg_hmac(prk, key, key_len, input, len);
	for (size_t i = 0; i < n && i < 3; i++) {
		t[t_len] = (uint8_t)(i + 1);
		floe_wg_hmac(t, prk, sizeof(prk), t, t_len + 1);
		t_len = FLOE_WG_HASH_LEN;
		if (out[i])
			memcpy(out[i], t, FLOE_WG_HASH_LEN);
	}
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
}

void floe_wg_counter_nonce(uint8_t nonce[FLOE_WG_AEAD_NONCE_LEN], uint64_t counter)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

void floe_wg_aead_encrypt(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN], uint64_t counter,
                          const uint8_t *plain, size_t len, const uint8_t *ad, size_t ad_len)
{
	uint8_t nonce[FLOE_WG_AEAD_NONCE_LEN];

	floe_wg_counter_nonce(nonce, counter);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, plain, len, ad, ad_len, NULL, nonce, key);
}

static void poly_update_padded(crypto_onetimeauth_poly1305_state *st, const uint8_t *p, size_t len)
{
	static const uint8_t zeros[16];

	crypto_onetimeauth_poly1305_update(st, p, len);
	if (len % 16)
		crypto_onetimeauth_poly1305_update(st, zeros, 16 - len % 16);
}

static void store_le64(uint8_t out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

/* RFC 8439 2.8: Poly1305 over ad || pad || ct || pad || le64(ad_len) || le64(ct_len), keyed from block 0. */
static void poly1305_tag(uint8_t tag[FLOE_WG_AEAD_TAG_LEN], const uint8_t key[FLOE_WG_SYM_KEY_LEN],
                         const uint8_t nonce[FLOE_WG_AEAD_NONCE_LEN],
                         const uint8_t *ad, size_t ad_len, const uint8_t *ct, size_t ct_len)
{
	uint8_t poly_key[POLY_KEY_BYTES];
	uint8_t lens[16];
	crypto_onetimeauth_poly1305_state st;

	crypto_stream_chacha20_ietf(poly_key, sizeof(poly_key), nonce, key);
	crypto_onetimeauth_poly1305_init(&st, poly_key);
	poly_update_padded(&st, ad, ad_len);
	poly_update_padded(&st, ct, ct_len);
	store_le64(lens, ad_len);
	store_le64(lens + 8, ct_len);
	crypto_onetimeauth_poly1305_update(&st, lens, sizeof(lens));
	crypto_onetimeauth_poly1305_final(&st, tag);
	sodium_memzero(poly_key, sizeof(poly_key));
	sodium_memzero(&st, sizeof(st));
}

void floe_wg_aead_encrypt_padded(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN],
                                 const uint8_t nonce[FLOE_WG_AEAD_NONCE_LEN],
                                 const uint8_t *plain, size_t len, size_t padded_len,
                                 const uint8_t *ad, size_t ad_len)
{
	uint8_t block[CHACHA_BLOCK_BYTES];
	/* Whole blocks of the packet go straight from plain to out. */
	size_t whole = (len / CHACHA_BLOCK_BYTES) * CHACHA_BLOCK_BYTES;

	/* Block 0 keys Poly1305 (RFC 8439 2.6); the packet starts at block 1. */
	if (whole)
		crypto_stream_chacha20_ietf_xor_ic(out, plain, whole, nonce, 1, key);
	/*
	 * The last partial block of the packet and its zero padding are
	 * assembled in one stack block: at most 64 bytes of the packet are
	 * touched twice, and the padding never needs room after pkt.
	 */
	for (size_t off = whole; off < padded_len; off += CHACHA_BLOCK_BYTES) {
		size_t chunk = padded_len - off < CHACHA_BLOCK_BYTES ? padded_len - off : CHACHA_BLOCK_BYTES;
		size_t have = off < len ? (len - off < chunk ? len - off : chunk) : 0;

		memset(block, 0, sizeof(block));
		if (have)
			memcpy(block, plain + off, have);
		crypto_stream_chacha20_ietf_xor_ic(block, block, sizeof(block), nonce,
		                                   (uint32_t)(1 + off / CHACHA_BLOCK_BYTES), key);
		memcpy(out + off, block, chunk);
	}

	poly1305_tag(out + padded_len, key, nonce, ad, ad_len, out, padded_len);
	sodium_memzero(block, sizeof(block));
}

bool floe_wg_aead_verify(const uint8_t key[FLOE_WG_SYM_KEY_LEN], uint64_t counter,
                         const uint8_t *cipher, size_t len, const uint8_t *ad, size_t ad_len)
{
	uint8_t nonce[FLOE_WG_AEAD_NONCE_LEN];
	uint8_t tag[FLOE_WG_AEAD_TAG_LEN];
	size_t clen;

	if (len < FLOE_WG_AEAD_TAG_LEN)
		return false;
	clen = len - FLOE_WG_AEAD_TAG_LEN;
	floe_wg_counter_nonce(nonce, counter);
	/*
	 * RFC 8439 by hand rather than libsodium's decrypt, which zeroes the
	 * output on a bad tag: forged or replayed input must not touch the
	 * caller's buffer, so verifying and decrypting are separate steps.
	 */
	poly1305_tag(tag, key, nonce, ad, ad_len, cipher, clen);
	return crypto_verify_16(tag, cipher + clen) == 0;
}

void floe_wg_aead_open_verified(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN], uint64_t counter,
                                const uint8_t *cipher, size_t clen)
{
	uint8_t nonce[FLOE_WG_AEAD_NONCE_LEN];

	floe_wg_counter_nonce(nonce, counter);
	if (clen)
		crypto_stream_chacha20_ietf_xor_ic(out, cipher, clen, nonce, 1, key);
}

bool floe_wg_aead_decrypt(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN],
                          uint64_t counter, const uint8_t *cipher, size_t len,
                          const uint8_t *ad, size_t ad_len)
{
	if (!floe_wg_aead_verify(key, counter, cipher, len, ad, ad_len))
		return false;
	floe_wg_aead_open_verified(out, key, counter, cipher, len - FLOE_WG_AEAD_TAG_LEN);
	return true;
}

void floe_wg_xaead_encrypt(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN],
                           const uint8_t nonce[FLOE_WG_XAEAD_NONCE_LEN],
                           const uint8_t *plain, size_t len, const uint8_t *ad, size_t ad_len)
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, plain, len, ad, ad_len, NULL, nonce, key);
}

bool floe_wg_xaead_decrypt(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN],
                           const uint8_t nonce[FLOE_WG_XAEAD_NONCE_LEN],
                           const uint8_t *cipher, size_t len, const uint8_t *ad, size_t ad_len)
{
	if (len < FLOE_WG_AEAD_TAG_LEN)
		return false;
	return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
		out, NULL, cipher, len - FLOE_WG_AEAD_TAG_LEN,
		cipher + len - FLOE_WG_AEAD_TAG_LEN, ad, ad_len, nonce, key) == 0;
}

bool floe_wg_dh(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32])
{
	/* libsodium returns -1 for an all-zero result (a low-order point). */
	if (crypto_scalarmult(out, priv, pub) != 0) {
		sodium_memzero(out, 32);
		return false;
	}
	return true;
}

bool floe_wg_dh_public(uint8_t pub[32], const uint8_t priv[32])
{
	return crypto_scalarmult_base(pub, priv) == 0;
}

void floe_wg_tai64n(uint8_t out[FLOE_WG_TAI64N_LEN], uint64_t unix_s, uint32_t nanoseconds)
{
	uint64_t label = (1ULL << TAI64_EPOCH_OFFSET_EXP) + TAI64_UTC_OFFSET_S + unix_s;

	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(label >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(nanoseconds >> (24 - 8 * i));
}

void floe_wg_tai64n_now(uint8_t out[FLOE_WG_TAI64N_LEN])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	floe_wg_tai64n(out, (uint64_t)ts.tv_sec, (uint32_t)ts.tv_nsec);
}
