/*
 * floe: the public header of libfloe (placeholder, packaging's minimal one).
 *
 * The node API (create a node with a role, keys and a portal, attach a
 * device, read events and counters) is being designed by the lead and will
 * replace this file. Until then it declares only what libfloe.so exports
 * today and an embedder can use on its own: WireGuard-style keys. It
 * includes no private header, so it works from an installed prefix.
 */
#ifndef FLOE_FLOE_H
#define FLOE_FLOE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef FLOE_EXPORT
#define FLOE_EXPORT __attribute__((visibility("default")))
#endif
#ifndef FLOE_MUST_CHECK
#define FLOE_MUST_CHECK __attribute__((warn_unused_result))
#endif

/* Same values as transport/wg/key.h. */
#ifndef FLOE_TRANSPORT_WG_KEY_H
enum floe_key_limits {
	FLOE_KEY_LEN = 32,     /* bytes of a private, public or preshared key */
	FLOE_KEY_B64_LEN = 44, /* base64 chars, without the terminating NUL */
};

/* A new private key from libsodium's randombytes, clamped as wg genkey
 * does; wipe it (sodium_memzero) when done. */
FLOE_EXPORT void floe_key_generate(uint8_t out[FLOE_KEY_LEN]);
/* X25519 public key of a private key: 0, or -EINVAL if it is all zero. */
FLOE_EXPORT FLOE_MUST_CHECK int floe_key_public(uint8_t out[FLOE_KEY_LEN],
						const uint8_t private_key[FLOE_KEY_LEN]);
/* Writes 44 chars of standard base64 + NUL, as wg(8) prints keys. */
FLOE_EXPORT void floe_key_to_base64(char out[FLOE_KEY_B64_LEN + 1], const uint8_t key[FLOE_KEY_LEN]);
/* 44 chars of base64 (whitespace around allowed) -> 32 bytes: 0, or
 * -EINVAL (out zeroed) for anything else. */
FLOE_EXPORT FLOE_MUST_CHECK int floe_key_from_base64(uint8_t out[FLOE_KEY_LEN], const char *b64);
#endif

#ifdef __cplusplus
}
#endif

#endif
