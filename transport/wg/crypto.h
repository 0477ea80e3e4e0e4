/*
 * WireGuard's cryptographic primitives (whitepaper 5.4): HASH, MAC, HMAC,
 * KDF1/2/3 over BLAKE2s (libb2), the ChaCha20-Poly1305 AEAD with WireGuard's
 * 64-bit counter nonce, XChaCha20-Poly1305 for cookies (libsodium), and the
 * TAI64N timestamp. Pure functions: no state, no locks.
 *
 * Every intermediate secret is wiped before return; callers wipe theirs.
 */
#ifndef FLOE_TRANSPORT_WG_CRYPTO_H
#define FLOE_TRANSPORT_WG_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"

enum floe_wg_crypto_limits {
	FLOE_WG_HASH_LEN = 32,           /* BLAKE2s-256 */
	FLOE_WG_MAC_LEN = 16,            /* keyed BLAKE2s-128 */
	FLOE_WG_SYM_KEY_LEN = 32,
	FLOE_WG_AEAD_TAG_LEN = 16,
	FLOE_WG_AEAD_NONCE_LEN = 12,
	FLOE_WG_XAEAD_NONCE_LEN = 24,
	FLOE_WG_TAI64N_LEN = 12,
	FLOE_WG_BLAKE2S_BLOCK_BYTES = 64, /* HMAC block size (RFC 2104 "B") */
};

/* One input of a HASH or MAC over several concatenated pieces. */
typedef struct {
	const void *ptr;
	size_t len;
} floe_wg_iov_t;

/* HASH(a || b || ...): unkeyed BLAKE2s-256 over n pieces. */
void floe_wg_hash(uint8_t out[FLOE_WG_HASH_LEN], const floe_wg_iov_t *parts, size_t n);
/* MAC(key, msg): keyed BLAKE2s with a 16-byte output (key is 16 or 32 bytes). */
void floe_wg_mac(uint8_t out[FLOE_WG_MAC_LEN], const uint8_t *key, size_t key_len,
                 const uint8_t *msg, size_t len);
/* HMAC-BLAKE2s-256 (RFC 2104 with a 64-byte block). */
void floe_wg_hmac(uint8_t out[FLOE_WG_HASH_LEN], const uint8_t *key, size_t key_len,
                  const uint8_t *msg, size_t len);
/*
 * KDFn(key, input) (key: the 32-byte chaining key in the handshake): t0 = HMAC(HMAC(key, input), 0x1), ti = HMAC(prk, ti-1 || i+1).
 * Writes n outputs (1 <= n <= 3) into out[0..n-1]; any out[i] may be NULL.
 */
void floe_wg_kdf(uint8_t *out[3], size_t n, const uint8_t *key, size_t key_len,
                 const uint8_t *input, size_t len);

/* Builds WireGuard's 96-bit nonce: 4 zero bytes, then the counter in little endian. */
void floe_wg_counter_nonce(uint8_t nonce[FLOE_WG_AEAD_NONCE_LEN], uint64_t counter);

/* AEAD(key, counter, plain, ad) -> out (len + 16 bytes). out may equal plain. */
void floe_wg_aead_encrypt(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN], uint64_t counter,
                          const uint8_t *plain, size_t len, const uint8_t *ad, size_t ad_len);
/*
 * Opens len bytes of ciphertext + tag into out (len - 16 bytes). False if
 * it does not authenticate, and then out is untouched (libsodium's own
 * decrypt zeroes it; a forged packet must not touch the caller's buffer).
 */
FLOE_MUST_CHECK bool floe_wg_aead_decrypt(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN],
                                          uint64_t counter, const uint8_t *cipher, size_t len,
                                          const uint8_t *ad, size_t ad_len);

/* The two halves of decrypt, so the replay window can be checked between them. */
FLOE_MUST_CHECK bool floe_wg_aead_verify(const uint8_t key[FLOE_WG_SYM_KEY_LEN], uint64_t counter,
                                         const uint8_t *cipher, size_t len, const uint8_t *ad, size_t ad_len);
/* Decrypts clen bytes (no tag) that floe_wg_aead_verify accepted. */
void floe_wg_aead_open_verified(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN], uint64_t counter,
                                const uint8_t *cipher, size_t clen);

/*
 * The data path's encryption in one pass: reads `len` bytes of `plain`,
 * appends padded_len - len zero bytes of padding without copying the packet
 * anywhere, and writes padded_len bytes of ciphertext then the 16-byte tag
 * to `out` (which must not alias plain). Same output as the IETF AEAD over
 * plain || zeros with this 12-byte nonce (RFC 8439 section 2.8).
 */
void floe_wg_aead_encrypt_padded(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN],
                                 const uint8_t nonce[FLOE_WG_AEAD_NONCE_LEN],
                                 const uint8_t *plain, size_t len, size_t padded_len,
                                 const uint8_t *ad, size_t ad_len);

/* XAEAD for cookie replies: out = 16 + len bytes. */
void floe_wg_xaead_encrypt(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN],
                           const uint8_t nonce[FLOE_WG_XAEAD_NONCE_LEN],
                           const uint8_t *plain, size_t len, const uint8_t *ad, size_t ad_len);
FLOE_MUST_CHECK bool floe_wg_xaead_decrypt(uint8_t *out, const uint8_t key[FLOE_WG_SYM_KEY_LEN],
                                           const uint8_t nonce[FLOE_WG_XAEAD_NONCE_LEN],
                                           const uint8_t *cipher, size_t len,
                                           const uint8_t *ad, size_t ad_len);

/* X25519; false (and out zeroed) when the result is all zero (low-order point). */
FLOE_MUST_CHECK bool floe_wg_dh(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32]);
/* Public key of a private key; false if it is all zero. */
FLOE_MUST_CHECK bool floe_wg_dh_public(uint8_t pub[32], const uint8_t priv[32]);

/*
 * TAI64N label of a wall-clock (Unix) time: big-endian u64 2^62 + 10 + seconds
 * (the 10 s TAI offset the kernel and wireguard-go add), then big-endian u32
 * nanoseconds. Only its order matters to a peer (replay check).
 */
void floe_wg_tai64n(uint8_t out[FLOE_WG_TAI64N_LEN], uint64_t unix_s, uint32_t nanoseconds);
/* TAI64N of CLOCK_REALTIME now. */
void floe_wg_tai64n_now(uint8_t out[FLOE_WG_TAI64N_LEN]);

#endif
