/*
 * WireGuard-style keys (transport/wg/key.h): base64 through libsodium, X25519
 * through crypto_scalarmult_base, key files read into a wiped stack buffer.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "transport/wg/key.h"

int floe_key_from_base64(uint8_t out[FLOE_KEY_LEN], const char *b64)
{
	const char *start, *end, *b64_end = NULL;
	size_t bin_len = 0;

	if (!out)
		return -EINVAL;
	if (!b64)
		goto err_invalid;
	/* Whitespace around the key is allowed (a newline from a file or a
	 * pipe), whitespace inside it is not. */
	start = b64;
	while (isspace((unsigned char)*start))
		start++;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if ((size_t)(end - start) != FLOE_KEY_B64_LEN)
		goto err_invalid;
	/* 44 chars of padded base64 hold 33 bytes' worth of room: 32 bytes
	 * and one '='. libsodium rejects a wrong alphabet, wrong padding and
	 * non-zero leftover bits, so every key has exactly one spelling. */
	if (sodium_base642bin(out, FLOE_KEY_LEN, start, FLOE_KEY_B64_LEN, NULL, &bin_len, &b64_end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len != FLOE_KEY_LEN || b64_end != end)
		goto err_invalid;
	return 0;

err_invalid:
	sodium_memzero(out, FLOE_KEY_LEN);
	return -EINVAL;
}

void floe_key_to_base64(char out[FLOE_KEY_B64_LEN + 1], const uint8_t key[FLOE_KEY_LEN])
{
	/* Public API (floe.h): NULL must not crash; out becomes "". */
	if (!out)
		return;
	if (!key) {
		out[0] = 0;
		return;
	}
	sodium_bin2base64(out, FLOE_KEY_B64_LEN + 1, key, FLOE_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

void floe_key_generate(uint8_t out[FLOE_KEY_LEN])
{
	if (!out)
		return;
	randombytes_buf(out, FLOE_KEY_LEN);
	/* Clamp (RFC 7748 section 5): a multiple of the cofactor 8, with the
	 * top bit clear and bit 254 set. X25519 clamps anyway; storing the
	 * clamped form is what wg genkey prints. */
	out[0] &= 248;
	out[31] &= 127;
	out[31] |= 64;
}

int floe_key_public(uint8_t out[FLOE_KEY_LEN], const uint8_t private_key[FLOE_KEY_LEN])
{
	if (!out || !private_key)
		return -EINVAL;
	if (crypto_scalarmult_base(out, private_key) != 0 || sodium_is_zero(out, FLOE_KEY_LEN)) {
		sodium_memzero(out, FLOE_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

int floe_key_from_fd(uint8_t out[FLOE_KEY_LEN], int fd)
{
	/* One byte more than the limit tells "too long" from "exactly full",
	 * one more for the NUL. */
	char buf[FLOE_KEY_FILE_MAX_BYTES + 2];
	size_t len = 0;
	ssize_t n;
	int r;

	if (!out)
		return -EINVAL;
	sodium_memzero(out, FLOE_KEY_LEN);
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	/* Too long, or a NUL that would hide the rest from the parser. */
	if (len > FLOE_KEY_FILE_MAX_BYTES || strlen(buf) != len) {
		r = -EINVAL;
		goto out;
	}
	r = floe_key_from_base64(out, buf);
out:
	sodium_memzero(buf, sizeof(buf));
	return r;
}

int floe_key_from_file(uint8_t out[FLOE_KEY_LEN], const char *path)
{
	int fd, r;

	if (!out)
		return -EINVAL;
	sodium_memzero(out, FLOE_KEY_LEN);
	if (!path)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	r = floe_key_from_fd(out, fd);
	close(fd);
	return r;
}
