/*
 * Handshake known answers: the cacophony Noise_IKpsk2 vector (any prologue
 * and payloads), and a real WireGuard exchange from Wireshark's captures
 * rebuilt byte for byte (MAC1 included) and its transport packets opened.
 */
#include <criterion/criterion.h>
#include <sodium.h>

#include "tests/wg/wg_test_util.h"
#include "transport/wg/cookie.h"
#include "transport/wg/messages.h"
#include "transport/wg/noise.h"

static void identity(floe_wg_static_t *id, const char *priv_hex)
{
	hex2bin(id->private_key, 32, priv_hex);
	cr_assert(floe_wg_dh_public(id->public_key, id->private_key));
}

/*
 * /work/shared/vectors/noise_ikpsk2.json: github.com/mcginty/snow
 * tests/vectors/cacophony.txt (commit 8ac60f51cfe3e010c84f0a454cc575ad9204fa12),
 * the Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s vector.
 */
#define CAC_PROLOGUE "4a6f686e2047616c74"
#define CAC_PSK "54686973206973206d7920417573747269616e20706572737065637469766521"
#define CAC_INIT_STATIC "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1"
#define CAC_INIT_EPH "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"
#define CAC_RESP_STATIC "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893"
#define CAC_RESP_EPH "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"
#define CAC_HASH "f5191b875290abcd41347ac3622d9679688a7e980229cb937ef748336cfde0e5"

static const struct {
	const char *payload, *cipher;
} cac_msgs[] = {
	{ "4c756477696720766f6e204d69736573",
	  "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944001e21de9f98ddd8e2ad57527207feb56253c9c94a9e496782ecfcb2a75fbcaf1b52948cc48daefe660c62119ab5000980c84831215f2441eba616548e832985464cf17e51ee93109008399a21f7e13f" },
	{ "4d757272617920526f746862617264",
	  "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843cb765f2caef0751b8f007572dab0322217755c0632f365717edbf34d33e87a" },
	{ "462e20412e20486179656b", "8153ca9833bc3c1b91a7e66e5f4d4f5b59bf9e64c2f20d15f0bba7" },
	{ "4361726c204d656e676572", "07af0c9c86e1b4e80f36b04ff7688d51141af3debd0332f0a705ef" },
	{ "4a65616e2d426170746973746520536179", "6ab1467c0448cc78394494abaaf23afce0e234315d6e2624dcbfa8a21c1c4d073d" },
	{ "457567656e2042f6686d20766f6e2042617765726b", "dfc346c0d2296ae6cf1acf6f12b8456a1dba228cf8d8b774aacf1c47fc53aa80ebc7a4c292" },
};

Test(noise, cacophony_ikpsk2)
{
	floe_wg_static_t ini, res;
	floe_wg_handshake_t ihs, rhs;
	uint8_t prologue[9], psk[32], eph_i[32], eph_r[32], want_hash[32];
	uint8_t payload[64], want[160], msg[160], got_payload[64];
	uint8_t i_send[32], i_recv[32], r_send[32], r_recv[32];
	uint64_t n_i = 0, n_r = 0;

	identity(&ini, CAC_INIT_STATIC);
	identity(&res, CAC_RESP_STATIC);
	hex2bin(prologue, sizeof(prologue), CAC_PROLOGUE);
	hex2bin(psk, 32, CAC_PSK);
	hex2bin(eph_i, 32, CAC_INIT_EPH);
	hex2bin(eph_r, 32, CAC_RESP_EPH);
	hex2bin(want_hash, 32, CAC_HASH);
	cr_assert(floe_wg_noise_handshake_init(&ihs, &ini, res.public_key, psk));

	/* -> e, es, s, ss, payload */
	size_t plen = hex2bin(payload, sizeof(payload), cac_msgs[0].payload);
	size_t wlen = hex2bin(want, sizeof(want), cac_msgs[0].cipher);
	cr_assert_eq(wlen, FLOE_WG_NOISE_INIT_OVERHEAD + plen);
	cr_assert(floe_wg_noise_write_initiation(&ihs, &ini, prologue, sizeof(prologue), eph_i, payload, plen, msg));
	cr_assert_bytes_eq(msg, want, wlen, "message 0");
	cr_assert_eq(ihs.state, FLOE_WG_HS_CREATED_INITIATION);

	cr_assert(floe_wg_noise_read_initiation(&rhs, &res, prologue, sizeof(prologue), msg, plen, got_payload));
	cr_assert_bytes_eq(got_payload, payload, plen);
	cr_assert_bytes_eq(rhs.remote_static, ini.public_key, 32);
	cr_assert_eq(rhs.state, FLOE_WG_HS_CONSUMED_INITIATION);
	memcpy(rhs.psk, psk, 32);

	/* <- e, ee, se, psk, payload */
	plen = hex2bin(payload, sizeof(payload), cac_msgs[1].payload);
	wlen = hex2bin(want, sizeof(want), cac_msgs[1].cipher);
	cr_assert_eq(wlen, FLOE_WG_NOISE_RESP_OVERHEAD + plen);
	cr_assert(floe_wg_noise_write_response(&rhs, eph_r, payload, plen, msg));
	cr_assert_bytes_eq(msg, want, wlen, "message 1");
	cr_assert_bytes_eq(rhs.hash, want_hash, 32, "responder handshake hash");
	cr_assert(floe_wg_noise_read_response(&ihs, &ini, msg, plen, got_payload));
	cr_assert_bytes_eq(got_payload, payload, plen);
	cr_assert_bytes_eq(ihs.hash, want_hash, 32, "initiator handshake hash");

	cr_assert(floe_wg_noise_split(&ihs, i_send, i_recv));
	cr_assert(floe_wg_noise_split(&rhs, r_send, r_recv));
	cr_assert_bytes_eq(i_send, r_recv, 32);
	cr_assert_bytes_eq(i_recv, r_send, 32);
	cr_assert_eq(ihs.state, FLOE_WG_HS_ZEROED);

	/* Transport messages alternate direction, each direction counting from 0, empty AD. */
	for (size_t m = 2; m < FLOE_ARRAY_LEN(cac_msgs); m++) {
		bool from_initiator = (m % 2) == 0;

		plen = hex2bin(payload, sizeof(payload), cac_msgs[m].payload);
		wlen = hex2bin(want, sizeof(want), cac_msgs[m].cipher);
		floe_wg_aead_encrypt(msg, from_initiator ? i_send : r_send,
		                     from_initiator ? n_i : n_r, payload, plen, NULL, 0);
		cr_assert_bytes_eq(msg, want, wlen, "transport message %zu", m);
		cr_assert(floe_wg_aead_decrypt(got_payload, from_initiator ? r_recv : i_recv,
		                               from_initiator ? n_i : n_r, msg, wlen, NULL, 0));
		cr_assert_bytes_eq(got_payload, payload, plen);
		if (from_initiator)
			n_i++;
		else
			n_r++;
	}
}

/*
 * /work/shared/vectors/wireguard_handshake_capture.json, captures[0]
 * (Wireshark test/captures/wireguard-ping-tcp.pcap via
 * theparanoids/spicy-noise d63bf4b2; keys from Wireshark
 * test/suite_decryption.py 4821fa3a), handshake 0 and frames 3, 4, 9, 10.
 */
#define CAP_SPRIV_I "00a799687c01c6388a2c59e4636ba7bc474e4ed83800bf8cf5d4177e8a455459"
#define CAP_SPRIV_R "7052314d4c81b35422978d78841c0482f6ac11ac7c08a279212e59a2e829956b"
#define CAP_EPRIV_I "b0b18b2523907f2cfb24d279643cc57f7533d6b92208c3236d67ab35870f1455"
#define CAP_EPRIV_R "402e3f1592a115fd1bfde5c470279c99936de95e8f5e645ae04586d4f2184d4e"
#define CAP_TIMESTAMP "400000005b52647b15405610"
#define CAP_INITIATION \
	"01000000d837d0305fcec7c8e5c8e2e3f7989eef60c228d82329d602b6b1e2bb9d068f89cf9d4d45" \
	"32780f6d27264f7b98701fdc27a4ec00aeb6becdbef2332f1b4084cadb93823935c012ae255e7b25" \
	"eff13940c321fa6bd66a2a87b061db1430173e937f569349de2856dc5f2616763eeeafc0533b01dd" \
	"965e7ec76976e28f683d671200000000000000000000000000000000"
#define CAP_RESPONSE \
	"0200000006f47dabd837d030b18d5550bd4042a37a46823ac08db1ec66839bc0ca2d64bc15cd8023" \
	"2b66232faec24af8918de1060ff5c98e865d5f35f272214c5260110dc4c61e32cdd8542100000000" \
	"000000000000000000000000"
#define CAP_KEY_I2R "200edbb85503b00463f987aab96e0e7d047726c684f4cf3c7695caac38cacc8b"
#define CAP_KEY_R2I "dec67e4017307e59ef13cb788eff6a808a883956975f03b56f1468f6a581d5f3"

static const struct {
	bool from_initiator;
	const char *datagram, *plaintext_padded;
} cap_packets[] = {
	{ true, "0400000006f47dab0000000000000000a4ebc12ee3f990da18033a0789c04e2700f6f5c271d42ac4b4d6262e666549b445a7436e829bffb6ac65f05648bc0c391fe7c5884874376127164940188f03dba67af8388eaab76c593628bf9dc7be03346d912e916dad862545454701364f2d2486d7ced4c8642ce547ddb26ef6a46b",
	  "45000054e54640004001414c0a0a00020a0a00010800f95c6c0000006fad22f500000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" },
	{ false, "04000000d837d03000000000000000006f4f080e9f52691bbe948535f79c13ed68f09145d523eedb087265f968082f70735729263eda627c7683cdc0b80a3356d9536c9f0e2872797b5c81720ba0b8ea7233c6debf9f0fbee8f10ec18985b824bf350f8b8180d08a64e6be9810089ac3d1363ed5e129ca1e0425cf7e94965659",
	  "45000054a11d00004001c5750a0a00010a0a00020000015d6c0000006fad22f500000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" },
	{ true, "0400000006f47dab03000000000000001956e2b6651dd4f59cb23092a0d09671", "" },
	{ false, "04000000d837d0300300000000000000f215a32c93f10caa41de1e9f142a17b2eec05e7b3fb02b253bb48ca9d9d38c94cdf9bb339444c1f76eb22a0c1f4a900d5314f9549a716dea2939d6f10b9008b4ad3f3d450c4732159cf1df58d73c4701",
	  "4500003bbb4740004011735e0a0a000101010101ced60035002786dd1007010000010000000000000a6c656b656e737465796e026e6c00000100010000000000" },
};

Test(noise, wireguard_capture_rebuilt_byte_for_byte)
{
	floe_wg_static_t ini, res;
	floe_wg_handshake_t ihs, rhs;
	uint8_t psk[32] = { 0 }, eph_i[32], eph_r[32], ts[12], got_ts[12];
	uint8_t want_init[148], want_resp[92], init[148] = { 0 }, resp[92] = { 0 };
	uint8_t mac1_key[32], want_key[32];
	uint8_t i_send[32], i_recv[32], r_send[32], r_recv[32];

	identity(&ini, CAP_SPRIV_I);
	identity(&res, CAP_SPRIV_R);
	hex2bin(eph_i, 32, CAP_EPRIV_I);
	hex2bin(eph_r, 32, CAP_EPRIV_R);
	hex2bin(ts, 12, CAP_TIMESTAMP);
	cr_assert_eq(hex2bin(want_init, sizeof(want_init), CAP_INITIATION), 148);
	cr_assert_eq(hex2bin(want_resp, sizeof(want_resp), CAP_RESPONSE), 92);

	cr_assert(floe_wg_noise_handshake_init(&ihs, &ini, res.public_key, psk));
	cr_assert(floe_wg_noise_create_initiation(&ihs, &ini, init, 0x30d037d8, eph_i, ts));
	floe_wg_cookie_mac1_key(mac1_key, res.public_key);
	floe_wg_cookie_add_mac1(init, sizeof(init), mac1_key);
	cr_assert_bytes_eq(init, want_init, 148, "initiation, MAC1 included, MAC2 zero");

	cr_assert(floe_wg_noise_consume_initiation(&rhs, &res, want_init, got_ts));
	cr_assert_bytes_eq(got_ts, ts, 12);
	cr_assert_bytes_eq(rhs.remote_static, ini.public_key, 32);
	cr_assert_eq(rhs.remote_index, 0x30d037d8);
	cr_assert(floe_wg_noise_create_response(&rhs, resp, 0xab7df406, eph_r));
	floe_wg_cookie_mac1_key(mac1_key, ini.public_key);
	floe_wg_cookie_add_mac1(resp, sizeof(resp), mac1_key);
	cr_assert_bytes_eq(resp, want_resp, 92, "response, MAC1 included, MAC2 zero");

	cr_assert(floe_wg_noise_consume_response(&ihs, &ini, want_resp));
	cr_assert_eq(ihs.remote_index, 0xab7df406);
	cr_assert(floe_wg_noise_split(&ihs, i_send, i_recv));
	cr_assert(floe_wg_noise_split(&rhs, r_send, r_recv));
	hex2bin(want_key, 32, CAP_KEY_I2R);
	cr_assert_bytes_eq(i_send, want_key, 32);
	cr_assert_bytes_eq(r_recv, want_key, 32);
	hex2bin(want_key, 32, CAP_KEY_R2I);
	cr_assert_bytes_eq(i_recv, want_key, 32);
	cr_assert_bytes_eq(r_send, want_key, 32);

	for (size_t p = 0; p < FLOE_ARRAY_LEN(cap_packets); p++) {
		uint8_t dgram[256], want[256], out[256];
		size_t len = hex2bin(dgram, sizeof(dgram), cap_packets[p].datagram);
		size_t wlen = hex2bin(want, sizeof(want), cap_packets[p].plaintext_padded);
		uint64_t counter = floe_wg_le64_get(dgram + FLOE_WG_DATA_OFF_COUNTER);

		cr_assert_eq(len, FLOE_WG_DATA_MIN_LEN + wlen);
		cr_assert(floe_wg_aead_decrypt(out, cap_packets[p].from_initiator ? r_recv : i_recv, counter,
		                               dgram + FLOE_WG_DATA_OFF_PAYLOAD, len - FLOE_WG_DATA_OFF_PAYLOAD,
		                               NULL, 0), "packet %zu", p);
		cr_assert_bytes_eq(out, want, wlen, "packet %zu", p);
	}
}

Test(noise, consume_response_refuses_wrong_state_or_index)
{
	floe_wg_static_t ini, res;
	floe_wg_handshake_t ihs, rhs, before;
	uint8_t psk[32] = { 0 }, ts[12] = { 0 }, got_ts[12], init[148], resp[92];

	identity(&ini, CAP_SPRIV_I);
	identity(&res, CAP_SPRIV_R);
	cr_assert(floe_wg_noise_handshake_init(&ihs, &ini, res.public_key, psk));
	/* ZEROED: a response is unexpected. */
	memset(resp, 0, sizeof(resp));
	cr_assert_not(floe_wg_noise_consume_response(&ihs, &ini, resp));
	cr_assert(floe_wg_noise_create_initiation(&ihs, &ini, init, 7, NULL, ts));
	cr_assert(floe_wg_noise_consume_initiation(&rhs, &res, init, got_ts));
	cr_assert(floe_wg_noise_create_response(&rhs, resp, 9, NULL));
	/* A write_response from any other state is refused. */
	cr_assert_not(floe_wg_noise_create_response(&rhs, resp, 9, NULL));

	before = ihs;
	floe_wg_le32_put(resp + FLOE_WG_RESP_OFF_RECEIVER, 8);
	cr_assert_not(floe_wg_noise_consume_response(&ihs, &ini, resp));
	floe_wg_le32_put(resp + FLOE_WG_RESP_OFF_RECEIVER, 7);
	resp[FLOE_WG_RESP_OFF_EMPTY] ^= 1;
	cr_assert_not(floe_wg_noise_consume_response(&ihs, &ini, resp));
	cr_assert_eq(memcmp(&before, &ihs, sizeof(ihs)), 0, "a failed consume changes nothing");
	resp[FLOE_WG_RESP_OFF_EMPTY] ^= 1;
	cr_assert(floe_wg_noise_consume_response(&ihs, &ini, resp));
}

Test(noise, low_order_ephemeral_aborts)
{
	floe_wg_static_t ini, res;
	floe_wg_handshake_t ihs, rhs;
	uint8_t psk[32] = { 0 }, ts[12] = { 0 }, got_ts[12], init[148];

	identity(&ini, CAP_SPRIV_I);
	identity(&res, CAP_SPRIV_R);
	cr_assert(floe_wg_noise_handshake_init(&ihs, &ini, res.public_key, psk));
	cr_assert(floe_wg_noise_create_initiation(&ihs, &ini, init, 7, NULL, ts));
	/* Replace the ephemeral with u = 1 (low order): es is zero, the message is refused before any decryption. */
	memset(init + FLOE_WG_INIT_OFF_EPHEMERAL, 0, 32);
	init[FLOE_WG_INIT_OFF_EPHEMERAL] = 1;
	cr_assert_not(floe_wg_noise_consume_initiation(&rhs, &res, init, got_ts));
}

Test(noise, peer_with_low_order_static_refused)
{
	floe_wg_static_t ini;
	floe_wg_handshake_t hs;
	uint8_t psk[32] = { 0 }, zero[32] = { 0 };

	identity(&ini, CAP_SPRIV_I);
	cr_assert_not(floe_wg_noise_handshake_init(&hs, &ini, zero, psk));
	/* A peer whose key is our own is fine for X25519 but the device refuses it elsewhere. */
}
