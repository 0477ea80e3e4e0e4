/*
 * Short-lived TURN credentials, coturn's "TURN REST API" scheme
 * (use-auth-secret + static-auth-secret; docs/nat.md):
 *   username = "<expiry, unix seconds>:<id>"
 *   password = base64(HMAC-SHA1(shared secret, username))
 * coturn recomputes the password from the username and refuses a username
 * whose expiry has passed. HMAC-SHA1 comes from OpenSSL's libcrypto
 * (libsodium has none); SHA-1 is what coturn's scheme fixes, and HMAC-SHA1
 * is not weakened by SHA-1's collisions.
 */
#ifndef FLOE_DAEMONS_TURN_REST_H
#define FLOE_DAEMONS_TURN_REST_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"

enum floe_turn_rest_limits {
	FLOE_TURN_REST_SECRET_MAX_BYTES = 256,
	/* Short TTLs work: the portal re-issues at TTL/2 (turn_refresh.h). */
	FLOE_TURN_REST_TTL_MIN_S = 10,
	FLOE_TURN_REST_TTL_MAX_S = 7 * 24 * 3600,
	FLOE_TURN_REST_TTL_DEFAULT_S = 24 * 3600,
	/* base64 of a 20-byte HMAC-SHA1 (28 characters) and its NUL. */
	FLOE_TURN_REST_PASSWORD_BYTES = 29,
};

/*
 * Mints one credential expiring at expiry_unix for id (no ':' allowed in
 * it: coturn takes the expiry as what precedes the first ':').
 * 0, -EINVAL (NULL, empty secret or id, ':' in id), -ENOSPC (a buffer is
 * too small: then both are emptied), -EIO (libcrypto failed).
 */
FLOE_MUST_CHECK int floe_turn_rest_mint(const uint8_t *secret, size_t secret_len, uint64_t expiry_unix,
					const char *id, char *username, size_t username_cap,
					char *password, size_t password_cap);

#endif
