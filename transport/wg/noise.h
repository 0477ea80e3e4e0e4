/*
 * The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake (whitepaper 5.4.2 -
 * 5.4.5) as WireGuard runs it, with an explicit state enum:
 *
 *   ZEROED -> CREATED_INITIATION -> CONSUMED_RESPONSE   (initiator)
 *   ZEROED -> CONSUMED_INITIATION -> CREATED_RESPONSE   (responder)
 *
 * and back to ZEROED once a keypair is derived (floe_wg_noise_split).
 *
 * The generic functions take the prologue, the payloads and the ephemeral
 * key as parameters so the cacophony known-answer vector (prologue "John
 * Galt", non-empty payloads) runs through the same code as WireGuard's
 * messages; the floe_wg_noise_*_initiation/response wrappers fix them as
 * WireGuard does (identifier prologue, TAI64N payload, empty payload).
 *
 * Owned by the peer's thread. Every state-changing function checks the
 * state at entry, works on copies, and commits the new state last: a
 * failed consume leaves the handshake exactly as it was.
 */
#ifndef FLOE_TRANSPORT_WG_NOISE_H
#define FLOE_TRANSPORT_WG_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"
#include "transport/wg/crypto.h"
#include "transport/wg/wg.h"

#define FLOE_WG_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define FLOE_WG_IDENTIFIER "WireGuard v1 zx2c4 Jason@zx2c4.com"

enum floe_wg_noise_limits {
	/* e || AEAD(s) || AEAD(payload) without the payload bytes. */
	FLOE_WG_NOISE_INIT_OVERHEAD = FLOE_WG_KEY_LEN + FLOE_WG_KEY_LEN + 2 * FLOE_WG_AEAD_TAG_LEN,
	/* e || AEAD(payload) without the payload bytes. */
	FLOE_WG_NOISE_RESP_OVERHEAD = FLOE_WG_KEY_LEN + FLOE_WG_AEAD_TAG_LEN,
};

typedef enum {
	FLOE_WG_HS_ZEROED = 0,
	FLOE_WG_HS_CREATED_INITIATION,
	FLOE_WG_HS_CONSUMED_INITIATION,
	FLOE_WG_HS_CREATED_RESPONSE,
	FLOE_WG_HS_CONSUMED_RESPONSE,
} floe_wg_hs_state_t;

/* The local static identity (the device's): read-only after creation. */
typedef struct {
	uint8_t private_key[FLOE_WG_KEY_LEN];
	uint8_t public_key[FLOE_WG_KEY_LEN];
} floe_wg_static_t;

typedef struct floe_wg_handshake {
	floe_wg_hs_state_t state;
	/* Per-peer constants, set by floe_wg_noise_handshake_init. */
	uint8_t remote_static[FLOE_WG_KEY_LEN];
	uint8_t precomputed_ss[FLOE_WG_KEY_LEN];
	uint8_t psk[FLOE_WG_KEY_LEN];
	/* One exchange's secrets: wiped by floe_wg_noise_handshake_clear. */
	uint8_t hash[FLOE_WG_HASH_LEN];
	uint8_t chaining_key[FLOE_WG_HASH_LEN];
	uint8_t ephemeral_private[FLOE_WG_KEY_LEN];
	uint8_t remote_ephemeral[FLOE_WG_KEY_LEN];
	uint32_t local_index;       /* our sender index for this exchange */
	uint32_t remote_index;      /* the peer's sender index */
	/* Survives clears: replay and flood protection of initiations. */
	uint8_t latest_timestamp[FLOE_WG_TAI64N_LEN];
	uint64_t last_initiation_consumption_ns;
	bool consumed_any_initiation;
} floe_wg_handshake_t;

/* Sets the per-peer constants. False if the static-static DH is zero (low-order key). */
FLOE_MUST_CHECK bool floe_wg_noise_handshake_init(floe_wg_handshake_t *hs, const floe_wg_static_t *local,
                                                  const uint8_t remote_static[FLOE_WG_KEY_LEN],
                                                  const uint8_t psk[FLOE_WG_KEY_LEN]);
/* Wipes the exchange's secrets and returns to ZEROED; keeps constants and replay state. */
void floe_wg_noise_handshake_clear(floe_wg_handshake_t *hs);
/* Wipes everything. */
void floe_wg_noise_handshake_wipe(floe_wg_handshake_t *hs);

/*
 * Generic Noise IKpsk2 message bodies. `ephemeral` NULL = fresh random.
 * write_initiation writes FLOE_WG_NOISE_INIT_OVERHEAD + payload_len bytes;
 * read_initiation fills `out_hs` (a scratch handshake: remote static,
 * hash, chaining key, remote ephemeral; state CONSUMED_INITIATION) and the
 * payload, and does not look at any peer's state.
 */
FLOE_MUST_CHECK bool floe_wg_noise_write_initiation(floe_wg_handshake_t *hs, const floe_wg_static_t *local,
                                                    const uint8_t *prologue, size_t prologue_len,
                                                    const uint8_t *ephemeral,
                                                    const uint8_t *payload, size_t payload_len,
                                                    uint8_t *out);
FLOE_MUST_CHECK bool floe_wg_noise_read_initiation(floe_wg_handshake_t *out_hs, const floe_wg_static_t *local,
                                                   const uint8_t *prologue, size_t prologue_len,
                                                   const uint8_t *msg, size_t payload_len,
                                                   uint8_t *payload_out);
/* Needs CONSUMED_INITIATION; writes FLOE_WG_NOISE_RESP_OVERHEAD + payload_len bytes. */
FLOE_MUST_CHECK bool floe_wg_noise_write_response(floe_wg_handshake_t *hs, const uint8_t *ephemeral,
                                                  const uint8_t *payload, size_t payload_len,
                                                  uint8_t *out);
/* Needs CREATED_INITIATION; on failure hs is unchanged. */
FLOE_MUST_CHECK bool floe_wg_noise_read_response(floe_wg_handshake_t *hs, const floe_wg_static_t *local,
                                                 const uint8_t *msg, size_t payload_len,
                                                 uint8_t *payload_out);
/*
 * Split (needs CREATED_RESPONSE or CONSUMED_RESPONSE): the transport keys
 * for this side, then clears the exchange. Returns false in other states.
 */
FLOE_MUST_CHECK bool floe_wg_noise_split(floe_wg_handshake_t *hs, uint8_t send_key[FLOE_WG_SYM_KEY_LEN],
                                         uint8_t recv_key[FLOE_WG_SYM_KEY_LEN]);

/*
 * WireGuard's messages (without MAC1/MAC2, which cookie.c adds and checks).
 * create_initiation writes bytes [0, MAC1) of a 148-byte initiation with
 * this sender index and TAI64N timestamp; consume_initiation reads one into
 * a scratch handshake and hands back the decrypted timestamp.
 */
FLOE_MUST_CHECK bool floe_wg_noise_create_initiation(floe_wg_handshake_t *hs, const floe_wg_static_t *local,
                                                     uint8_t *msg, uint32_t sender_index,
                                                     const uint8_t *ephemeral,
                                                     const uint8_t timestamp[FLOE_WG_TAI64N_LEN]);
FLOE_MUST_CHECK bool floe_wg_noise_consume_initiation(floe_wg_handshake_t *out_hs, const floe_wg_static_t *local,
                                                      const uint8_t *msg,
                                                      uint8_t timestamp[FLOE_WG_TAI64N_LEN]);
/* The initiator's static key of a 148-byte initiation (one DH, no state): for device lookup. */
FLOE_MUST_CHECK bool floe_wg_noise_initiation_static(const floe_wg_static_t *local, const uint8_t *msg,
                                                     uint8_t out_static[FLOE_WG_KEY_LEN]);
/* Bytes [0, MAC1) of a 92-byte response answering hs (CONSUMED_INITIATION). */
FLOE_MUST_CHECK bool floe_wg_noise_create_response(floe_wg_handshake_t *hs, uint8_t *msg,
                                                   uint32_t sender_index, const uint8_t *ephemeral);
/* Needs CREATED_INITIATION and a receiver index equal to hs->local_index. */
FLOE_MUST_CHECK bool floe_wg_noise_consume_response(floe_wg_handshake_t *hs, const floe_wg_static_t *local,
                                                    const uint8_t *msg);

#endif
