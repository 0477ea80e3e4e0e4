/* WireGuard-style keys: base64 both ways, generation, public keys, key files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/wg/wg_test_util.h"
#include "transport/wg/key.h"

enum { ROUND_TRIPS = 200 };

static void init(void)
{
	cr_assert_geq(sodium_init(), 0);
}

TestSuite(key, .init = init);

/*
 * Static key pairs of the two hosts in Wireshark's WireGuard test captures,
 * transcribed from /work/shared/vectors/wireguard_handshake_capture.json
 * (captures[0].handshakes[0].initiator_static / responder_static; origin:
 * wireshark test/suite_decryption.py, commit 4821fa3a).
 */
static const struct {
	const char *priv_b64, *priv_hex, *pub_b64, *pub_hex;
} capture_pairs[] = {
	{ "AKeZaHwBxjiKLFnkY2unvEdOTtg4AL+M9dQXfopFVFk=",
	  "00a799687c01c6388a2c59e4636ba7bc474e4ed83800bf8cf5d4177e8a455459",
	  "Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4=",
	  "22081ef4acd1cad28dc2b824cc313ff21acbbba2f2d0ea9576f38f5a1039291e" },
	{ "cFIxTUyBs1Qil414hBwEgvasEax8CKJ5IS5ZougplWs=",
	  "7052314d4c81b35422978d78841c0482f6ac11ac7c08a279212e59a2e829956b",
	  "YDCttCs9e1J52/g9vEnwJJa+2x6RqaayAYMpSVQfGEY=",
	  "6030adb42b3d7b5279dbf83dbc49f02496bedb1e91a9a6b201832949541f1846" },
};

Test(key, capture_pairs_decode_and_derive)
{
	uint8_t priv[FLOE_KEY_LEN], pub[FLOE_KEY_LEN], want[FLOE_KEY_LEN];
	char b64[FLOE_KEY_B64_LEN + 1];
	size_t i;

	for (i = 0; i < FLOE_ARRAY_LEN(capture_pairs); i++) {
		cr_assert_eq(floe_key_from_base64(priv, capture_pairs[i].priv_b64), 0);
		hex2bin(want, sizeof(want), capture_pairs[i].priv_hex);
		cr_assert_bytes_eq(priv, want, FLOE_KEY_LEN, "pair %zu private", i);
		cr_assert_eq(floe_key_public(pub, priv), 0);
		hex2bin(want, sizeof(want), capture_pairs[i].pub_hex);
		cr_assert_bytes_eq(pub, want, FLOE_KEY_LEN, "pair %zu public", i);
		floe_key_to_base64(b64, pub);
		cr_assert_str_eq(b64, capture_pairs[i].pub_b64);
		floe_key_to_base64(b64, priv);
		cr_assert_str_eq(b64, capture_pairs[i].priv_b64);
	}
}

/* RFC 7748 section 6.1: Alice's and Bob's private keys and X25519(k, 9). */
Test(key, rfc7748_public_keys)
{
	static const char *const vec[][2] = {
		{ "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
		  "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" },
		{ "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
		  "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f" },
	};
	uint8_t priv[FLOE_KEY_LEN], pub[FLOE_KEY_LEN], want[FLOE_KEY_LEN];
	size_t i;

	for (i = 0; i < FLOE_ARRAY_LEN(vec); i++) {
		hex2bin(priv, sizeof(priv), vec[i][0]);
		hex2bin(want, sizeof(want), vec[i][1]);
		cr_assert_eq(floe_key_public(pub, priv), 0);
		cr_assert_bytes_eq(pub, want, FLOE_KEY_LEN, "vector %zu", i);
	}
	cr_expect_eq(floe_key_public(NULL, priv), -EINVAL);
	cr_expect_eq(floe_key_public(pub, NULL), -EINVAL);
}

Test(key, generated_keys_are_clamped_and_round_trip)
{
	uint8_t k[FLOE_KEY_LEN], back[FLOE_KEY_LEN], prev[FLOE_KEY_LEN] = { 0 };
	char b64[FLOE_KEY_B64_LEN + 1];
	int i;

	for (i = 0; i < ROUND_TRIPS; i++) {
		floe_key_generate(k);
		cr_assert_eq(k[0] & 7, 0, "low 3 bits cleared");
		cr_assert_eq(k[31] & 0x80, 0, "top bit cleared");
		cr_assert_eq(k[31] & 0x40, 0x40, "bit 254 set");
		cr_assert_neq(memcmp(k, prev, FLOE_KEY_LEN), 0, "keys differ");
		memcpy(prev, k, FLOE_KEY_LEN);

		memset(b64, '?', sizeof(b64));
		floe_key_to_base64(b64, k);
		cr_assert_eq(strlen(b64), (size_t)FLOE_KEY_B64_LEN);
		cr_assert_eq(b64[FLOE_KEY_B64_LEN - 1], '=');
		cr_assert_eq(floe_key_from_base64(back, b64), 0, "%s", b64);
		cr_assert_bytes_eq(back, k, FLOE_KEY_LEN);
	}
}

Test(key, whitespace_around_is_accepted)
{
	static const char *const ok[] = {
		"Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4=\n",
		"Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4=\r\n",
		"  \tIgge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4=  \n\n",
	};
	uint8_t k[FLOE_KEY_LEN], want[FLOE_KEY_LEN];
	size_t i;

	hex2bin(want, sizeof(want), capture_pairs[0].pub_hex);
	for (i = 0; i < FLOE_ARRAY_LEN(ok); i++) {
		cr_assert_eq(floe_key_from_base64(k, ok[i]), 0, "case %zu", i);
		cr_assert_bytes_eq(k, want, FLOE_KEY_LEN);
	}
}

Test(key, malformed_base64_is_refused)
{
	static const char *const bad[] = {
		"",
		"\n",
		"Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4",   /* 43: padding missing */
		"Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4=A", /* 45 */
		"Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4==", /* 45 */
		"Igge9KzRytKNwrgkzDE_8hrLu6Ly0OqVdvOPWhA5KR4=",  /* URL-safe alphabet */
		"Igge9KzRytKNwrgkzDE-8hrLu6Ly0OqVdvOPWhA5KR4=",
		"Igge9KzRytKNwrgkzDE*8hrLu6Ly0OqVdvOPWhA5KR4=",
		"Igge9KzRytKNwrgkzDE 8hrLu6Ly0OqVdvOPWhA5KR4=",  /* space inside */
		"Igge9KzRytKN=rgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4=",  /* '=' inside */
		"Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR5=",  /* leftover bits set */
		"Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KRQA",  /* 33 bytes, no padding */
		"Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KQ==",  /* 31 bytes */
		"Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4=\xff",
		"22081ef4acd1cad28dc2b824cc313ff21acbbba2f2d0ea9576f38f5a1039291e", /* hex */
	};
	uint8_t k[FLOE_KEY_LEN];
	size_t i, j;

	for (i = 0; i < FLOE_ARRAY_LEN(bad); i++) {
		memset(k, 0xa5, sizeof(k));
		cr_expect_eq(floe_key_from_base64(k, bad[i]), -EINVAL, "case %zu: %s", i, bad[i]);
		for (j = 0; j < FLOE_KEY_LEN; j++)
			cr_assert_eq(k[j], 0, "case %zu: output wiped on failure", i);
	}
	cr_expect_eq(floe_key_from_base64(k, NULL), -EINVAL);
	cr_expect_eq(floe_key_from_base64(NULL, bad[2]), -EINVAL);
}

/* ---- key files ---------------------------------------------------------- */

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

Test(key, key_files)
{
	char dir[] = "/tmp/log-key-test-XXXXXX", path[64], big[FLOE_KEY_FILE_MAX_BYTES + 64];
	const char *key = capture_pairs[1].priv_b64;
	static const char with_nul[] = "cFIxTUyBs1Qil414hBwEgvasEax8CKJ5IS5ZougplWs=\n\0junk";
	static const struct {
		const char *suffix;
		int rc;
	} cases[] = {
		{ "\n", 0 }, { "", 0 }, { "\r\n", 0 }, { "\n\n  \n", 0 },
		{ "x\n", -EINVAL }, { "\nsecond line\n", -EINVAL },
	};
	uint8_t k[FLOE_KEY_LEN], want[FLOE_KEY_LEN];
	char text[128];
	size_t i, n;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key", dir);
	hex2bin(want, sizeof(want), capture_pairs[1].priv_hex);
	for (i = 0; i < FLOE_ARRAY_LEN(cases); i++) {
		n = (size_t)snprintf(text, sizeof(text), "%s%s", key, cases[i].suffix);
		write_file(path, text, n);
		memset(k, 0xa5, sizeof(k));
		cr_expect_eq(floe_key_from_file(k, path), cases[i].rc, "case %zu", i);
		if (cases[i].rc == 0)
			cr_expect_eq(memcmp(k, want, FLOE_KEY_LEN), 0, "case %zu", i);
		else
			cr_expect(sodium_is_zero(k, FLOE_KEY_LEN), "case %zu: wiped", i);
	}
	/* Empty, a NUL hiding junk, and a key followed by too much whitespace. */
	write_file(path, "", 0);
	cr_expect_eq(floe_key_from_file(k, path), -EINVAL);
	write_file(path, with_nul, sizeof(with_nul) - 1);
	cr_expect_eq(floe_key_from_file(k, path), -EINVAL);
	memset(big, ' ', sizeof(big));
	memcpy(big, key, FLOE_KEY_B64_LEN);
	write_file(path, big, FLOE_KEY_FILE_MAX_BYTES);
	cr_expect_eq(floe_key_from_file(k, path), 0, "exactly the limit is fine");
	write_file(path, big, FLOE_KEY_FILE_MAX_BYTES + 1);
	cr_expect_eq(floe_key_from_file(k, path), -EINVAL, "one byte over is not");
	cr_expect(sodium_is_zero(k, FLOE_KEY_LEN));
	/* The errno of open/read comes back. */
	cr_expect_eq(floe_key_from_file(k, dir), -EISDIR);
	unlink(path);
	cr_expect_eq(floe_key_from_file(k, path), -ENOENT);
	cr_expect_eq(floe_key_from_file(k, NULL), -EINVAL);
	cr_expect_eq(floe_key_from_file(NULL, path), -EINVAL);
	rmdir(dir);
}

Test(key, key_from_a_pipe)
{
	int p[2];
	uint8_t k[FLOE_KEY_LEN], want[FLOE_KEY_LEN];
	const char *text = "YDCttCs9e1J52/g9vEnwJJa+2x6RqaayAYMpSVQfGEY=\n";

	hex2bin(want, sizeof(want), capture_pairs[1].pub_hex);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
	close(p[1]);
	cr_expect_eq(floe_key_from_fd(k, p[0]), 0);
	cr_expect_eq(memcmp(k, want, FLOE_KEY_LEN), 0);
	/* The reader owns nothing: the fd is still ours to close. */
	cr_expect_eq(close(p[0]), 0);
	cr_expect_eq(floe_key_from_fd(k, p[0]), -EBADF);
	cr_expect(sodium_is_zero(k, FLOE_KEY_LEN));
}
