/*
 * WireGuard-style keys: 32 bytes, written as standard base64 (44 chars,
 * ending in '='). floectl genkey / pubkey behave like wg genkey / wg pubkey.
 *
 * Every function wipes the intermediate copies it makes; the caller wipes
 * the keys it holds (sodium_memzero) when done with them.
 */
#ifndef FLOE_TRANSPORT_WG_KEY_H
#define FLOE_TRANSPORT_WG_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <floe/floe.h>

#include "runtime/common.h"

/* FLOE_KEY_LEN (32) and FLOE_KEY_B64_LEN (44) are public: include/floe/floe.h. */
enum floe_key_file_limits {
	/* A key file holds 44 chars plus whitespace; anything longer is not a
	 * key file, and reading stops there rather than slurping a big file. */
	FLOE_KEY_FILE_MAX_BYTES = 256,
};

/* Decodes 44 chars of standard base64 (surrounding whitespace allowed) into
 * exactly 32 bytes. -EINVAL on NULL, any other length, a bad alphabet or
 * non-canonical padding bits; out is then zeroed. */
FLOE_EXPORT FLOE_MUST_CHECK int floe_key_from_base64(uint8_t out[FLOE_KEY_LEN], const char *b64);
/* Writes 44 chars + NUL. */
FLOE_EXPORT void floe_key_to_base64(char out[FLOE_KEY_B64_LEN + 1], const uint8_t key[FLOE_KEY_LEN]);
/* A new private key, clamped as wg genkey does (RFC 7748 section 5). */
FLOE_EXPORT void floe_key_generate(uint8_t out[FLOE_KEY_LEN]);
/* X25519 public key of a private key. -EINVAL if the result is all zero. */
FLOE_EXPORT FLOE_MUST_CHECK int floe_key_public(uint8_t out[FLOE_KEY_LEN],
						const uint8_t private_key[FLOE_KEY_LEN]);
/* Reads a key's base64 from fd until EOF (a pipe, stdin); fd stays open.
 * Same rules and errors as floe_key_from_file(). */
FLOE_EXPORT FLOE_MUST_CHECK int floe_key_from_fd(uint8_t out[FLOE_KEY_LEN], int fd);
/* Reads a key from a file holding its base64 (for PrivateKeyFile= etc.);
 * a trailing newline is fine. -errno from open/read, -EINVAL for bad
 * content (including a file longer than FLOE_KEY_FILE_MAX_BYTES). */
FLOE_EXPORT FLOE_MUST_CHECK int floe_key_from_file(uint8_t out[FLOE_KEY_LEN], const char *path);

#endif
