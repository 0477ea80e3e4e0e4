/*
 * coturn's shared-secret TURN credentials (turn_rest.h).
 */
#include "daemons/common/turn_rest.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

enum {
	HMAC_SHA1_BYTES = 20,
};

int floe_turn_rest_mint(const uint8_t *secret, size_t secret_len, uint64_t expiry_unix, const char *id,
			char *username, size_t username_cap, char *password, size_t password_cap)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	int n, rc = 0;

	if (!secret || !secret_len || secret_len > FLOE_TURN_REST_SECRET_MAX_BYTES || !id || !id[0] ||
	    strchr(id, ':') || !username || !password)
		return -EINVAL;
	if (password_cap < FLOE_TURN_REST_PASSWORD_BYTES) {
		rc = -ENOSPC;
		goto out;
	}
	n = snprintf(username, username_cap, "%" PRIu64 ":%s", expiry_unix, id);
	if (n < 0 || (size_t)n >= username_cap) {
		rc = -ENOSPC;
		goto out;
	}
	if (!HMAC(EVP_sha1(), secret, (int)secret_len, (const unsigned char *)username, (size_t)n, mac,
		  &mac_len) ||
	    mac_len != HMAC_SHA1_BYTES) {
		rc = -EIO;
		goto out;
	}
	sodium_bin2base64(password, password_cap, mac, mac_len, sodium_base64_VARIANT_ORIGINAL);
out:
	sodium_memzero(mac, sizeof(mac));
	if (rc < 0) {
		if (username_cap)
			username[0] = '\0';
		if (password_cap)
			password[0] = '\0';
	}
	return rc;
}
