/*
 * Cookies under load, through two engines: the cookie reply, MAC2 on the
 * next initiation, bad MAC2, and cookie replies that must store nothing.
 * Plus the checker's secret rotation and the maker's freshness rule.
 */
#include <criterion/criterion.h>
#include <sodium.h>

#include "tests/wg/wg_pair.h"
#include "transport/wg/cookie.h"
#include "transport/wg/messages.h"

static const uint8_t zero_mac[16];

/* Under load: initiation without MAC2 -> cookie reply; stored; next initiation has MAC2 and gets a response. */
Test(cookie, under_load_reply_then_mac2_gets_response)
{
	pair_t p;
	uint8_t init[BUF_LEN], reply[BUF_LEN], resp[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;
	floe_wg_peer_stats_t sa, sb;

	pair_init(&p, false, 0);
	floe_wg_device_set_under_load(p.dev_b, true);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(memcmp(init + FLOE_WG_INIT_OFF_MAC2, zero_mac, 16), 0, "no cookie yet: MAC2 zero");
	cr_assert_eq(deliver(&p, p.b, T0, init, FLOE_WG_MSG_INITIATION_LEN, reply, &kind), FLOE_WG_MSG_COOKIE_REPLY_LEN);
	cr_assert_eq(kind, FLOE_WG_OUT_NETWORK);
	cr_assert_eq(reply[0], FLOE_WG_MSG_COOKIE_REPLY);
	cr_assert_eq(memcmp(reply + FLOE_WG_COOKIE_OFF_RECEIVER, init + FLOE_WG_INIT_OFF_SENDER, 4), 0);
	floe_wg_peer_stats(p.b, &sb);
	cr_assert_eq(sb.cookie_replies_sent, 1);
	cr_assert_eq(sb.handshake_responses_sent, 0);
	cr_assert_eq(sb.handshake_initiations_received, 0, "no DH was spent on it");

	cr_assert_eq(deliver(&p, p.a, T0, reply, FLOE_WG_MSG_COOKIE_REPLY_LEN, out, &kind), 0);
	cr_assert_eq(kind, FLOE_WG_OUT_NONE);
	floe_wg_peer_stats(p.a, &sa);
	cr_assert_eq(sa.cookie_replies_received, 1);
	/* The same reply again is not another cookie. */
	cr_assert_lt(deliver(&p, p.a, T0, reply, FLOE_WG_MSG_COOKIE_REPLY_LEN, out, &kind), 0);

	/* The retry (after REKEY_TIMEOUT) carries MAC2 and is answered. */
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0 + MS(100), init, sizeof(init)), -EALREADY);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0 + S(5), init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_neq(memcmp(init + FLOE_WG_INIT_OFF_MAC2, zero_mac, 16), 0);
	cr_assert_eq(deliver(&p, p.b, T0 + S(5), init, FLOE_WG_MSG_INITIATION_LEN, resp, &kind), FLOE_WG_MSG_RESPONSE_LEN);
	cr_assert_eq(kind, FLOE_WG_OUT_NETWORK);
	cr_assert_eq(deliver(&p, p.a, T0 + S(5), resp, FLOE_WG_MSG_RESPONSE_LEN, out, &kind), 0);
	cr_assert(floe_wg_peer_is_established(p.a));
	pair_fini(&p);
}

Test(cookie, bad_mac2_under_load_gets_no_response)
{
	pair_t p;
	uint8_t init[BUF_LEN], reply[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;
	floe_wg_peer_stats_t sb;
	ssize_t n;

	pair_init(&p, false, 0);
	floe_wg_device_set_under_load(p.dev_b, true);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(deliver(&p, p.b, T0, init, FLOE_WG_MSG_INITIATION_LEN, reply, &kind), FLOE_WG_MSG_COOKIE_REPLY_LEN);
	cr_assert_eq(deliver(&p, p.a, T0, reply, FLOE_WG_MSG_COOKIE_REPLY_LEN, out, &kind), 0);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0 + S(5), init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	init[FLOE_WG_INIT_OFF_MAC2 + 3] ^= 0x40;
	n = deliver(&p, p.b, T0 + S(5), init, FLOE_WG_MSG_INITIATION_LEN, out, &kind);
	/* Whitepaper 5.3: a valid MAC1 with a wrong MAC2 is answered with a cookie, never a handshake. */
	cr_assert_neq(n, FLOE_WG_MSG_RESPONSE_LEN);
	floe_wg_peer_stats(p.b, &sb);
	cr_assert_eq(sb.handshake_responses_sent, 0);
	cr_assert_eq(sb.handshake_initiations_received, 0);

	/* The same message from another source address: its cookie does not match either. */
	init[FLOE_WG_INIT_OFF_MAC2 + 3] ^= 0x40;
	uint8_t other_src[4] = { 10, 0, 0, 99 };
	n = floe_wg_peer_receive(p.b, T0 + S(5), other_src, 4, init, FLOE_WG_MSG_INITIATION_LEN, out, BUF_LEN, &kind);
	cr_assert_eq(n, FLOE_WG_MSG_COOKIE_REPLY_LEN);
	floe_wg_peer_stats(p.b, &sb);
	cr_assert_eq(sb.handshake_responses_sent, 0);
	/* And from the right source it is answered. */
	cr_assert_eq(deliver(&p, p.b, T0 + S(5), init, FLOE_WG_MSG_INITIATION_LEN, out, &kind), FLOE_WG_MSG_RESPONSE_LEN);
	pair_fini(&p);
}

Test(cookie, reply_with_wrong_index_or_bad_aead_stores_nothing)
{
	pair_t p;
	uint8_t init[BUF_LEN], reply[BUF_LEN], bad[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;
	floe_wg_peer_stats_t sa;

	pair_init(&p, false, 0);
	floe_wg_device_set_under_load(p.dev_b, true);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(deliver(&p, p.b, T0, init, FLOE_WG_MSG_INITIATION_LEN, reply, &kind), FLOE_WG_MSG_COOKIE_REPLY_LEN);

	memcpy(bad, reply, FLOE_WG_MSG_COOKIE_REPLY_LEN);
	bad[FLOE_WG_COOKIE_OFF_RECEIVER] ^= 1;
	memset(out, 0xa5, sizeof(out));
	cr_assert_eq(deliver(&p, p.a, T0, bad, FLOE_WG_MSG_COOKIE_REPLY_LEN, out, &kind), -EINVAL);
	cr_assert_eq(kind, FLOE_WG_OUT_NONE);
	for (size_t off = FLOE_WG_COOKIE_OFF_NONCE; off < FLOE_WG_MSG_COOKIE_REPLY_LEN; off += 7) {
		memcpy(bad, reply, FLOE_WG_MSG_COOKIE_REPLY_LEN);
		bad[off] ^= 0x10;
		cr_assert_eq(deliver(&p, p.a, T0, bad, FLOE_WG_MSG_COOKIE_REPLY_LEN, out, &kind), -EBADMSG, "offset %zu", off);
	}
	for (size_t i = 0; i < BUF_LEN; i++)
		cr_assert_eq(out[i], 0xa5, "out touched");
	floe_wg_peer_stats(p.a, &sa);
	cr_assert_eq(sa.cookie_replies_received, 0);
	cr_assert_gt(sa.decrypt_errors, 0);
	cr_assert_eq(sa.invalid_drops, 1);

	/* Nothing was stored: the next initiation still has a zero MAC2. */
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0 + S(5), init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(memcmp(init + FLOE_WG_INIT_OFF_MAC2, zero_mac, 16), 0);
	/* And the original reply no longer matches the latest initiation (its MAC1 changed). */
	cr_assert_lt(deliver(&p, p.a, T0 + S(5), reply, FLOE_WG_MSG_COOKIE_REPLY_LEN, out, &kind), 0);
	pair_fini(&p);
}

Test(cookie, not_under_load_mac2_is_ignored)
{
	pair_t p;
	uint8_t init[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;

	pair_init(&p, false, 0);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	init[FLOE_WG_INIT_OFF_MAC2] ^= 1;
	cr_assert_eq(deliver(&p, p.b, T0, init, FLOE_WG_MSG_INITIATION_LEN, out, &kind), FLOE_WG_MSG_RESPONSE_LEN);
	pair_fini(&p);
}

Test(cookie, checker_secret_rotates_every_two_minutes)
{
	floe_wg_cookie_checker_t c;
	floe_wg_cookie_maker_t m;
	uint8_t pub[32], msg[FLOE_WG_MSG_INITIATION_LEN], reply[FLOE_WG_MSG_COOKIE_REPLY_LEN];
	const uint8_t src[] = { 192, 0, 2, 1, 0x12, 0x34 };

	randombytes_buf(pub, sizeof(pub));
	cr_assert_eq(floe_wg_cookie_checker_init(&c, pub), 0);
	floe_wg_cookie_maker_init(&m, pub);
	randombytes_buf(msg, sizeof(msg));
	floe_wg_cookie_add_macs(&m, msg, sizeof(msg), 42, S(1));
	cr_assert_eq(floe_wg_cookie_validate(&c, msg, sizeof(msg), src, sizeof(src), S(1), true),
	             FLOE_WG_MAC_VALID_NO_COOKIE);
	floe_wg_le32_put(msg + FLOE_WG_INIT_OFF_SENDER, 42);
	floe_wg_cookie_add_macs(&m, msg, sizeof(msg), 42, S(1));
	floe_wg_cookie_create_reply(&c, reply, msg, sizeof(msg), src, sizeof(src), S(1));
	cr_assert(floe_wg_cookie_consume_reply(&m, reply, S(1)));

	floe_wg_cookie_add_macs(&m, msg, sizeof(msg), 42, S(2));
	cr_assert_eq(floe_wg_cookie_validate(&c, msg, sizeof(msg), src, sizeof(src), S(2), true),
	             FLOE_WG_MAC_VALID_WITH_COOKIE);
	cr_assert_eq(floe_wg_cookie_validate(&c, msg, sizeof(msg), src, 4, S(2), true),
	             FLOE_WG_MAC_VALID_NO_COOKIE, "the source bytes are part of the cookie");
	/* 120 s after the secret was made, it is replaced: the old cookie is worthless. */
	cr_assert_eq(floe_wg_cookie_validate(&c, msg, sizeof(msg), src, sizeof(src), S(121), true),
	             FLOE_WG_MAC_VALID_NO_COOKIE);
	/* The maker stops using a cookie 115 s old (120 s minus 5 s latency). */
	floe_wg_cookie_add_macs(&m, msg, sizeof(msg), 42, S(1) + S(115));
	cr_assert_eq(memcmp(msg + FLOE_WG_INIT_OFF_MAC2, zero_mac, 16), 0);
	msg[5] ^= 1;
	cr_assert_eq(floe_wg_cookie_validate(&c, msg, sizeof(msg), src, sizeof(src), S(121), false),
	             FLOE_WG_MAC_INVALID);
	floe_wg_cookie_checker_destroy(&c);
	floe_wg_cookie_maker_wipe(&m);
}
