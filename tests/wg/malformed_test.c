/*
 * Malformed and hostile input, table-driven: every wrong length of every
 * message type, unknown types, non-zero reserved bytes, a flipped bit in
 * every byte of every message, replays and unknown indices. Each must be
 * dropped (negative return), counted once in the peer's stats, leave `out`
 * untouched and `kind` NONE. After each table the genuine message is
 * delivered and must work, so the table cannot pass by breaking the peer.
 */
#include <criterion/criterion.h>
#include <sodium.h>

#include "tests/wg/wg_pair.h"
#include "transport/wg/messages.h"

static uint64_t drops_of(floe_wg_peer_t *peer)
{
	floe_wg_peer_stats_t s;

	floe_wg_peer_stats(peer, &s);
	return s.invalid_drops + s.decrypt_errors + s.replay_drops;
}

static void expect_drop(pair_t *p, floe_wg_peer_t *to, uint64_t now, const uint8_t *msg, size_t len,
                        const char *what, size_t detail)
{
	uint8_t out[BUF_LEN];
	floe_wg_out_t kind = FLOE_WG_OUT_TUNNEL;
	uint64_t before = drops_of(to);
	ssize_t n;

	memset(out, 0xa5, sizeof(out));
	n = deliver(p, to, now, msg, len, out, &kind);
	cr_assert_lt(n, 0, "%s %zu accepted (%zd)", what, detail, n);
	cr_assert_eq(kind, FLOE_WG_OUT_NONE, "%s %zu", what, detail);
	cr_assert_eq(drops_of(to), before + 1, "%s %zu not counted once", what, detail);
	for (size_t i = 0; i < sizeof(out); i++)
		cr_assert_eq(out[i], 0xa5, "%s %zu wrote to out", what, detail);
}

/* Every length but the right one (zero-extended or truncated), and every flipped byte but `skip`. */
static void hostile_table(pair_t *p, floe_wg_peer_t *to, uint64_t now, const uint8_t *msg, size_t len,
                          size_t min_ok_len, size_t max_ok_len, size_t skip_from, size_t skip_to)
{
	uint8_t bad[BUF_LEN];

	for (size_t l = 0; l < len + 40; l++) {
		if (l >= min_ok_len && l <= max_ok_len)
			continue;
		memset(bad, 0, sizeof(bad));
		memcpy(bad, msg, l < len ? l : len);
		expect_drop(p, to, now, bad, l, "length", l);
	}
	for (size_t i = 0; i < len; i++) {
		if (i >= skip_from && i < skip_to)
			continue;
		memcpy(bad, msg, len);
		bad[i] ^= (uint8_t)(1u << (i % 8));
		expect_drop(p, to, now, bad, len, "flipped byte", i);
	}
	memcpy(bad, msg, len);
	for (unsigned t = 0; t < 256; t++) {
		if (t >= FLOE_WG_MSG_INITIATION && t <= FLOE_WG_MSG_DATA)
			continue;
		bad[0] = (uint8_t)t;
		expect_drop(p, to, now, bad, len, "unknown type", t);
	}
	for (size_t r = 1; r <= 3; r++) {
		memcpy(bad, msg, len);
		bad[r] = 0x80;
		expect_drop(p, to, now, bad, len, "reserved byte", r);
	}
}

Test(malformed, initiation)
{
	pair_t p;
	uint8_t init[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;

	pair_init(&p, false, 0);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	/* MAC2 is not checked when the responder is not under load (whitepaper 5.3). */
	hostile_table(&p, p.b, T0, init, FLOE_WG_MSG_INITIATION_LEN, FLOE_WG_MSG_INITIATION_LEN,
	              FLOE_WG_MSG_INITIATION_LEN, FLOE_WG_INIT_OFF_MAC2, FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(deliver(&p, p.b, T0, init, FLOE_WG_MSG_INITIATION_LEN, out, &kind), FLOE_WG_MSG_RESPONSE_LEN);
	/* The same initiation again (same timestamp) is a replay, even long after the flood window. */
	expect_drop(&p, p.b, T0 + S(1), init, FLOE_WG_MSG_INITIATION_LEN, "replayed initiation", 0);
	pair_fini(&p);
}

Test(malformed, initiation_flood_is_limited)
{
	pair_t p;
	uint8_t i1[BUF_LEN], i2[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;

	pair_init(&p, false, 0);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, i1, sizeof(i1)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0 + S(5), i2, sizeof(i2)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(deliver(&p, p.b, T0 + S(5), i1, FLOE_WG_MSG_INITIATION_LEN, out, &kind), FLOE_WG_MSG_RESPONSE_LEN);
	/* A newer timestamp, but less than 1/50 s after the last one consumed. */
	expect_drop(&p, p.b, T0 + S(5) + MS(19), i2, FLOE_WG_MSG_INITIATION_LEN, "flood", 0);
	cr_assert_eq(deliver(&p, p.b, T0 + S(5) + MS(20), i2, FLOE_WG_MSG_INITIATION_LEN, out, &kind),
	             FLOE_WG_MSG_RESPONSE_LEN);
	pair_fini(&p);
}

Test(malformed, initiation_for_another_peer)
{
	pair_t p, q;
	uint8_t init[BUF_LEN];

	pair_init(&p, false, 0);
	pair_init(&q, false, 0);
	/* q.a's initiation is for q.dev_b: its MAC1 is wrong for p.dev_b. */
	cr_assert_eq(floe_wg_peer_initiate(q.a, T0, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	expect_drop(&p, p.b, T0, init, FLOE_WG_MSG_INITIATION_LEN, "foreign initiation", 0);
	pair_fini(&q);
	pair_fini(&p);
}

Test(malformed, response)
{
	pair_t p;
	uint8_t init[BUF_LEN], resp[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;

	pair_init(&p, false, 0);
	/* Unexpected: no initiation outstanding. */
	cr_assert_eq(floe_wg_peer_initiate(p.b, T0, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(deliver(&p, p.a, T0, init, FLOE_WG_MSG_INITIATION_LEN, resp, &kind), FLOE_WG_MSG_RESPONSE_LEN);
	expect_drop(&p, p.a, T0, resp, FLOE_WG_MSG_RESPONSE_LEN, "unexpected response", 0);

	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(deliver(&p, p.b, T0 + S(1), init, FLOE_WG_MSG_INITIATION_LEN, resp, &kind), FLOE_WG_MSG_RESPONSE_LEN);
	hostile_table(&p, p.a, T0 + S(1), resp, FLOE_WG_MSG_RESPONSE_LEN, FLOE_WG_MSG_RESPONSE_LEN,
	              FLOE_WG_MSG_RESPONSE_LEN, FLOE_WG_RESP_OFF_MAC2, FLOE_WG_MSG_RESPONSE_LEN);
	cr_assert_eq(deliver(&p, p.a, T0 + S(1), resp, FLOE_WG_MSG_RESPONSE_LEN, out, &kind), 0);
	cr_assert(floe_wg_peer_is_established(p.a));
	/* A second copy: the handshake is over. */
	expect_drop(&p, p.a, T0 + S(1), resp, FLOE_WG_MSG_RESPONSE_LEN, "replayed response", 0);
	pair_fini(&p);
}

Test(malformed, cookie_reply)
{
	pair_t p;
	uint8_t init[BUF_LEN], reply[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;

	pair_init(&p, false, 0);
	floe_wg_device_set_under_load(p.dev_b, true);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(deliver(&p, p.b, T0, init, FLOE_WG_MSG_INITIATION_LEN, reply, &kind), FLOE_WG_MSG_COOKIE_REPLY_LEN);
	hostile_table(&p, p.a, T0, reply, FLOE_WG_MSG_COOKIE_REPLY_LEN, FLOE_WG_MSG_COOKIE_REPLY_LEN,
	              FLOE_WG_MSG_COOKIE_REPLY_LEN, 0, 0);
	cr_assert_eq(deliver(&p, p.a, T0, reply, FLOE_WG_MSG_COOKIE_REPLY_LEN, out, &kind), 0);
	pair_fini(&p);
}

Test(malformed, data)
{
	pair_t p;
	uint8_t pkt[BUF_LEN], dgram[BUF_LEN], other[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;
	floe_wg_peer_stats_t sb;
	ssize_t n;

	pair_init(&p, false, 0);
	pair_handshake(&p, p.a, T0);
	ip_packet(pkt, 60, 9);
	n = floe_wg_peer_encrypt(p.a, T0, pkt, 60, dgram, sizeof(dgram));
	cr_assert_eq(n, 64 + FLOE_WG_DATA_OVERHEAD);
	/* Longer lengths than the real one are tampering too (the tag moves). */
	hostile_table(&p, p.b, T0, dgram, (size_t)n, (size_t)n, (size_t)n, 0, 0);
	cr_assert_eq(deliver(&p, p.b, T0, dgram, (size_t)n, out, &kind), 60);
	cr_assert_eq(kind, FLOE_WG_OUT_TUNNEL);

	expect_drop(&p, p.b, T0, dgram, (size_t)n, "replayed counter", 0);
	floe_wg_peer_stats(p.b, &sb);
	cr_assert_eq(sb.replay_drops, 1);

	/* A receiver index that names no keypair of this peer. */
	memcpy(other, dgram, (size_t)n);
	floe_wg_le32_put(other + FLOE_WG_DATA_OFF_RECEIVER, floe_wg_le32_get(dgram + 4) + 1);
	expect_drop(&p, p.b, T0, other, (size_t)n, "unknown index", 0);

	/* Authentic but not an IP packet of a sane length: dropped, never handed to the tunnel. */
	memset(pkt, 0, 40);
	pkt[0] = 0x45;
	pkt[3] = 200;   /* says 200 bytes, carries 40 */
	n = floe_wg_peer_encrypt(p.a, T0, pkt, 40, dgram, sizeof(dgram));
	cr_assert_gt(n, 0);
	cr_assert_eq(deliver(&p, p.b, T0, dgram, (size_t)n, out, &kind), -EINVAL);
	cr_assert_eq(kind, FLOE_WG_OUT_NONE);
	pair_fini(&p);
}

Test(malformed, bad_arguments)
{
	pair_t p;
	uint8_t msg[BUF_LEN] = { 4 }, out[BUF_LEN];
	floe_wg_out_t kind;

	pair_init(&p, false, 0);
	cr_assert_eq(floe_wg_peer_receive(p.b, T0, NULL, 0, msg, 64, out, 63, &kind), -ENOBUFS);
	cr_assert_eq(floe_wg_peer_receive(p.b, T0, NULL, 0, msg, 64, NULL, 0, &kind), -ENOBUFS);
	cr_assert_eq(floe_wg_peer_receive(p.b, T0, msg, FLOE_WG_MAX_SRC_ADDR_LEN + 1, msg, 64, out, BUF_LEN, &kind),
	             -ENOBUFS);
	cr_assert_eq(floe_wg_peer_receive(p.b, T0, NULL, 0, NULL, 64, out, BUF_LEN, &kind), -EINVAL);
	cr_assert_eq(floe_wg_peer_encrypt(p.a, T0, msg, FLOE_WG_MAX_PACKET_LEN + 1, out, sizeof(out)), -EMSGSIZE);
	cr_assert_eq(floe_wg_peer_encrypt(p.a, T0, msg, 100, out, 112 + FLOE_WG_DATA_OVERHEAD - 1), -EMSGSIZE);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, out, FLOE_WG_MSG_INITIATION_LEN - 1), -ENOBUFS);
	pair_fini(&p);
}
