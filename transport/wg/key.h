/*
 * WireGuard-style keys: 32 bytes, written as standard base64 (44 chars).
 * floectl genkey / pubkey behave like wg genkey / wg pubkey.
 */
#ifndef FLOE_TRANSPORT_WG_KEY_H
#define FLOE_TRANSPORT_WG_KEY_H

#include <stddef.h>
#include <stdint.h>

enum floe_key_limits {
	FLOE_KEY_LEN = 32,
	FLOE_KEY_B64_LEN = 44, /* without the terminating NUL */
};

/* Decodes 44 chars of standard base64 (surrounding whitespace allowed) into
 * exactly 32 bytes. -EINVAL on any other length or alphabet. */
int floe_key_from_base64(uint8_t out[FLOE_KEY_LEN], const char *b64);
/* Writes 44 chars + NUL. */
void floe_key_to_base64(char out[FLOE_KEY_B64_LEN + 1], const uint8_t key[FLOE_KEY_LEN]);
/* A new private key, clamped as wg genkey does. */
void floe_key_generate(uint8_t out[FLOE_KEY_LEN]);
/* X25519 public key of a private key. -EINVAL if the result is all zero. */
int floe_key_public(uint8_t out[FLOE_KEY_LEN], const uint8_t private_key[FLOE_KEY_LEN]);
/* Reads a key from a file holding its base64 (for PrivateKeyFile= etc.).
 * -errno from open/read, -EINVAL for bad content. */
int floe_key_from_file(uint8_t out[FLOE_KEY_LEN], const char *path);

#endif
