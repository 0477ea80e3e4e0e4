/*
 * Known answers for the primitives: WireGuard's KDF table, RFC 7748 X25519,
 * RFC 8439 AEAD (through the one-pass padded encryption as well as the
 * plain wrapper), the TAI64N layout, and HMAC's long-key branch.
 */
#include <criterion/criterion.h>
#include <sodium.h>

#include "tests/wg/wg_test_util.h"
#include "transport/wg/crypto.h"

/*
 * From /work/shared/vectors/wireguard_kdf.json: wireguard-go
 * device/kdf_test.go, commit f333402bd9cbe0f3eeb02507bd14e23d7d639280.
 */
static const struct {
	const char *key, *input, *t0, *t1, *t2;
} kdf_cases[] = {
	{ "746573742d6b6579", "746573742d696e707574",
	  "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633",
	  "df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a",
	  "fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24" },
	{ "776972656775617264", "776972656775617264",
	  "491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8",
	  "1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f",
	  "31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160" },
	{ "", "",
	  "8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0",
	  "58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e",
	  "0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e" },
};

Test(crypto, kdf_known_answers)
{
	for (size_t c = 0; c < FLOE_ARRAY_LEN(kdf_cases); c++) {
		/* kdf_test.go keys are raw bytes of any length (HMAC key). */
		uint8_t key[64] = { 0 }, input[64], want[3][32], got[3][32];
		size_t klen = hex2bin(key, sizeof(key), kdf_cases[c].key);
		size_t ilen = hex2bin(input, sizeof(input), kdf_cases[c].input);

		hex2bin(want[0], 32, kdf_cases[c].t0);
		hex2bin(want[1], 32, kdf_cases[c].t1);
		hex2bin(want[2], 32, kdf_cases[c].t2);
		for (size_t n = 1; n <= 3; n++) {
			uint8_t *outs[3] = { got[0], n > 1 ? got[1] : NULL, n > 2 ? got[2] : NULL };

			memset(got, 0, sizeof(got));
			floe_wg_kdf(outs, n, key, klen, input, ilen);
			for (size_t i = 0; i < n; i++)
				cr_assert_bytes_eq(got[i], want[i], 32, "case %zu KDF%zu t%zu", c, n, i);
		}
	}
}

Test(crypto, kdf_n_outputs_agree)
{
	uint8_t ck[32], a[3][32], b[2][32], c1[32];
	uint8_t *outs3[3] = { a[0], a[1], a[2] };
	uint8_t *outs2[3] = { b[0], b[1], NULL };
	uint8_t *outs1[3] = { c1, NULL, NULL };
	uint8_t prk[32], t0[32], one = 1;

	randombytes_buf(ck, sizeof(ck));
	floe_wg_kdf(outs3, 3, ck, 32, (const uint8_t *)"dh", 2);
	floe_wg_kdf(outs2, 2, ck, 32, (const uint8_t *)"dh", 2);
	floe_wg_kdf(outs1, 1, ck, 32, (const uint8_t *)"dh", 2);
	cr_assert_bytes_eq(a[0], b[0], 32);
	cr_assert_bytes_eq(a[1], b[1], 32);
	cr_assert_bytes_eq(a[0], c1, 32);
	cr_assert_neq(memcmp(a[1], a[2], 32), 0);
	/* t0 is HMAC(HMAC(ck, input), 0x01). */
	floe_wg_hmac(prk, ck, 32, (const uint8_t *)"dh", 2);
	floe_wg_hmac(t0, prk, 32, &one, 1);
	cr_assert_bytes_eq(t0, c1, 32);
}

Test(crypto, hmac_long_key_is_hashed_first)
{
	uint8_t key[100], hk[32], a[32], b[32];

	memset(key, 0xaa, sizeof(key));
	floe_wg_iov_t part = { key, sizeof(key) };
	floe_wg_hash(hk, &part, 1);
	floe_wg_hmac(a, key, sizeof(key), (const uint8_t *)"msg", 3);
	floe_wg_hmac(b, hk, sizeof(hk), (const uint8_t *)"msg", 3);
	cr_assert_bytes_eq(a, b, 32);
}

/* RFC 7748 section 5.2 (both X25519 test vectors) and section 6.1 (Alice and Bob). */
Test(crypto, x25519_rfc7748)
{
	uint8_t k[32], u[32], want[32], out[32];
	uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], shared[32], s2[32];

	hex2bin(k, 32, "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d");
	hex2bin(u, 32, "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493");
	hex2bin(want, 32, "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
	cr_assert(floe_wg_dh(out, k, u));
	cr_assert_bytes_eq(out, want, 32);
	hex2bin(k, 32, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
	hex2bin(u, 32, "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
	hex2bin(want, 32, "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
	cr_assert(floe_wg_dh(out, k, u));
	cr_assert_bytes_eq(out, want, 32);

	hex2bin(a_priv, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	hex2bin(b_priv, 32, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	cr_assert(floe_wg_dh_public(a_pub, a_priv));
	cr_assert(floe_wg_dh_public(b_pub, b_priv));
	hex2bin(want, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	cr_assert_bytes_eq(a_pub, want, 32);
	hex2bin(want, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	cr_assert_bytes_eq(b_pub, want, 32);
	cr_assert(floe_wg_dh(shared, a_priv, b_pub));
	cr_assert(floe_wg_dh(s2, b_priv, a_pub));
	hex2bin(want, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	cr_assert_bytes_eq(shared, want, 32);
	cr_assert_bytes_eq(s2, want, 32);
}

Test(crypto, x25519_low_order_refused)
{
	uint8_t priv[32], zero_pub[32] = { 0 }, out[32];

	randombytes_buf(priv, sizeof(priv));
	memset(out, 0xee, sizeof(out));
	cr_assert_not(floe_wg_dh(out, priv, zero_pub));
	for (size_t i = 0; i < sizeof(out); i++)
		cr_assert_eq(out[i], 0, "output wiped on failure");
}

/* RFC 8439 section 2.8.2 (the "sunscreen" AEAD example). */
static const char *rfc8439_key = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
static const char *rfc8439_nonce = "070000004041424344454647";
static const char *rfc8439_ad = "50515253c0c1c2c3c4c5c6c7";
static const char *rfc8439_plain = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
static const char *rfc8439_cipher =
	"d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	"3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	"92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	"3ff4def08e4b7a9de576d26586cec64b6116";
static const char *rfc8439_tag = "1ae10b594f09e26a7e902ecbd0600691";

Test(crypto, aead_rfc8439_one_pass)
{
	uint8_t key[32], nonce[12], ad[12], want[114 + 16], out[114 + 16];
	size_t len = strlen(rfc8439_plain);

	hex2bin(key, 32, rfc8439_key);
	hex2bin(nonce, 12, rfc8439_nonce);
	hex2bin(ad, 12, rfc8439_ad);
	cr_assert_eq(hex2bin(want, sizeof(want), rfc8439_cipher), len);
	hex2bin(want + len, 16, rfc8439_tag);
	floe_wg_aead_encrypt_padded(out, key, nonce, (const uint8_t *)rfc8439_plain, len, len, ad, sizeof(ad));
	cr_assert_bytes_eq(out, want, sizeof(want));
}

/* The padded one-pass output equals libsodium's AEAD over plain || zeros, for every length around block edges. */
Test(crypto, aead_padded_matches_reference)
{
	static uint8_t plain[300], padded[320], ref[336], out[336];
	uint8_t key[32], nonce[12];

	randombytes_buf(key, sizeof(key));
	randombytes_buf(plain, sizeof(plain));
	for (size_t len = 0; len < 260; len++) {
		size_t plen = (len + 15) & ~(size_t)15;

		floe_wg_counter_nonce(nonce, len * 7919);
		memset(padded, 0, sizeof(padded));
		memcpy(padded, plain, len);
		crypto_aead_chacha20poly1305_ietf_encrypt(ref, NULL, padded, plen, NULL, 0, NULL, nonce, key);
		floe_wg_aead_encrypt_padded(out, key, nonce, plain, len, plen, NULL, 0);
		cr_assert_bytes_eq(out, ref, plen + 16, "len %zu", len);
	}
}

Test(crypto, aead_counter_nonce_roundtrip_and_tamper)
{
	uint8_t key[32], ct[64 + 16], pt[64], msg[64];

	randombytes_buf(key, sizeof(key));
	randombytes_buf(msg, sizeof(msg));
	floe_wg_aead_encrypt(ct, key, 0x0102030405060708ULL, msg, sizeof(msg), (const uint8_t *)"ad", 2);
	cr_assert(floe_wg_aead_decrypt(pt, key, 0x0102030405060708ULL, ct, sizeof(ct), (const uint8_t *)"ad", 2));
	cr_assert_bytes_eq(pt, msg, sizeof(msg));
	cr_assert_not(floe_wg_aead_decrypt(pt, key, 0x0102030405060709ULL, ct, sizeof(ct), (const uint8_t *)"ad", 2));
	cr_assert_not(floe_wg_aead_decrypt(pt, key, 0x0102030405060708ULL, ct, sizeof(ct), (const uint8_t *)"ae", 2));
	ct[3] ^= 1;
	memset(pt, 0x5a, sizeof(pt));
	cr_assert_not(floe_wg_aead_decrypt(pt, key, 0x0102030405060708ULL, ct, sizeof(ct), (const uint8_t *)"ad", 2));
	for (size_t i = 0; i < sizeof(pt); i++)
		cr_assert_eq(pt[i], 0x5a, "a forgery must not touch out");
	cr_assert_not(floe_wg_aead_decrypt(pt, key, 0, ct, 15, NULL, 0), "shorter than a tag");
}

Test(crypto, counter_nonce_layout)
{
	uint8_t n[12], want[12];

	floe_wg_counter_nonce(n, 0x0807060504030201ULL);
	hex2bin(want, 12, "000000000102030405060708");
	cr_assert_bytes_eq(n, want, 12);
}

Test(crypto, xaead_roundtrip)
{
	uint8_t key[32], nonce[24], ct[32], pt[16], msg[16] = "sixteen byte msg";

	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	floe_wg_xaead_encrypt(ct, key, nonce, msg, 16, (const uint8_t *)"mac1", 4);
	cr_assert(floe_wg_xaead_decrypt(pt, key, nonce, ct, sizeof(ct), (const uint8_t *)"mac1", 4));
	cr_assert_bytes_eq(pt, msg, 16);
	nonce[0] ^= 1;
	cr_assert_not(floe_wg_xaead_decrypt(pt, key, nonce, ct, sizeof(ct), (const uint8_t *)"mac1", 4));
}

/*
 * The capture's initiation carries TAI64N 400000005b52647b 15405610
 * (/work/shared/vectors/wireguard_handshake_capture.json, ping-tcp handshake
 * 0, frame sent at Unix time 1532126321.356858): WireGuard's label is
 * 2^62 + 10 + Unix seconds.
 */
Test(crypto, tai64n_layout)
{
	uint8_t ts[12], want[12];

	floe_wg_tai64n(ts, 1532126321, 356537872);
	hex2bin(want, 12, "400000005b52647b15405610");
	cr_assert_bytes_eq(ts, want, 12);
}

Test(crypto, mac_is_keyed_blake2s_128)
{
	uint8_t key[32], a[16], b[16];

	randombytes_buf(key, sizeof(key));
	floe_wg_mac(a, key, 32, (const uint8_t *)"abc", 3);
	floe_wg_mac(b, key, 16, (const uint8_t *)"abc", 3);
	cr_assert_neq(memcmp(a, b, 16), 0, "key length is part of the MAC");
	key[0] ^= 1;
	floe_wg_mac(b, key, 32, (const uint8_t *)"abc", 3);
	cr_assert_neq(memcmp(a, b, 16), 0);
}
