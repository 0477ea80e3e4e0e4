/*
 * Two engines talking to each other on a manual clock: handshakes both
 * ways, data, key confirmation, rekey rotation, responder-only, cookies
 * under load, low-order keys, and malformed input (table-driven).
 */
#include <criterion/criterion.h>
#include <sodium.h>

#include "tests/wg/wg_pair.h"
#include "transport/wg/messages.h"

Test(peer, handshake_data_both_ways_with_key_confirmation)
{
	pair_t p;
	uint8_t pkt[64], dgram[BUF_LEN];
	floe_wg_peer_stats_t sa, sb;

	pair_init(&p, false, 0);
	cr_assert_eq(floe_wg_peer_encrypt(p.a, T0, pkt, 0, dgram, sizeof(dgram)), -ENOKEY, "no session yet");
	pair_handshake(&p, p.a, T0);
	cr_assert(floe_wg_peer_is_established(p.a));
	/* The responder may not send before the initiator's first packet on the new keys. */
	cr_assert_not(floe_wg_peer_is_established(p.b));
	ip_packet(pkt, 40, 1);
	cr_assert_eq(floe_wg_peer_encrypt(p.b, T0, pkt, 40, dgram, sizeof(dgram)), -ENOKEY);
	cr_assert_eq(floe_wg_peer_take_events(p.b), 0);

	pair_send(&p, p.a, T0 + MS(1), 40, 0x11);
	cr_assert(floe_wg_peer_is_established(p.b));
	cr_assert(floe_wg_peer_take_events(p.b) & FLOE_WG_EV_HANDSHAKE_COMPLETE);
	pair_send(&p, p.b, T0 + MS(2), 1400, 0x22);
	pair_send(&p, p.a, T0 + MS(3), 21, 0x33);

	floe_wg_peer_stats(p.a, &sa);
	floe_wg_peer_stats(p.b, &sb);
	cr_assert_eq(sa.handshake_initiations_sent, 1);
	cr_assert_eq(sb.handshake_initiations_received, 1);
	cr_assert_eq(sb.handshake_responses_sent, 1);
	cr_assert_eq(sa.handshake_responses_received, 1);
	cr_assert_eq(sa.handshakes_completed, 1);
	cr_assert_eq(sb.handshakes_completed, 1);
	cr_assert_eq(sa.tx_packets, 2);
	cr_assert_eq(sa.tx_bytes, 61);
	cr_assert_eq(sb.rx_bytes, 61);
	cr_assert_eq(sa.rx_packets, 1);
	cr_assert_eq(sa.last_handshake_ns, T0);
	cr_assert_eq(sa.invalid_drops + sa.decrypt_errors + sa.replay_drops, 0);
	pair_fini(&p);
}

Test(peer, handshake_from_the_other_side)
{
	pair_t p;

	pair_init(&p, false, 0);
	pair_handshake(&p, p.b, T0);
	pair_send(&p, p.b, T0, 100, 1);
	pair_send(&p, p.a, T0, 100, 2);
	pair_fini(&p);
}

Test(peer, initiator_confirms_with_a_keepalive_from_tick)
{
	pair_t p;
	uint8_t out[BUF_LEN], got[BUF_LEN];
	ssize_t n = 0;
	floe_wg_out_t kind;
	floe_wg_peer_stats_t sa;

	pair_init(&p, false, 0);
	pair_handshake(&p, p.a, T0);
	cr_assert_eq(floe_wg_peer_next_deadline_ns(p.a), 0, "work is due at once");
	cr_assert_eq(drain_tick(p.a, T0, out, &n), 1);
	cr_assert_eq(n, FLOE_WG_DATA_MIN_LEN, "a keepalive is header + tag");
	cr_assert_eq(deliver(&p, p.b, T0, out, (size_t)n, got, &kind), 0);
	cr_assert_eq(kind, FLOE_WG_OUT_NONE);
	cr_assert(floe_wg_peer_is_established(p.b));
	floe_wg_peer_stats(p.a, &sa);
	cr_assert_eq(sa.keepalives_sent, 1);
	pair_fini(&p);
}

/* Rekey: while the responder still sends on the old keys, nothing is lost. */
Test(peer, rekey_rotation_keeps_traffic_flowing)
{
	pair_t p;
	uint8_t init[BUF_LEN], resp[BUF_LEN], pkt[BUF_LEN], d_old[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;
	ssize_t n;

	pair_init(&p, false, 0);
	pair_handshake(&p, p.a, T0);
	pair_send(&p, p.a, T0, 60, 1);
	pair_send(&p, p.b, T0, 60, 2);

	/* B encrypts on the current keys just before the rekey crosses. */
	ip_packet(pkt, 80, 3);
	n = floe_wg_peer_encrypt(p.b, T0 + S(6), pkt, 80, d_old, sizeof(d_old));
	cr_assert_gt(n, 0);

	cr_assert_eq(floe_wg_peer_initiate(p.a, T0 + S(6), init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(deliver(&p, p.b, T0 + S(6), init, FLOE_WG_MSG_INITIATION_LEN, resp, &kind), FLOE_WG_MSG_RESPONSE_LEN);
	/* B's new keypair is unconfirmed: it keeps sending on the old current. */
	pair_send(&p, p.b, T0 + S(6), 70, 4);
	cr_assert_eq(deliver(&p, p.a, T0 + S(6), resp, FLOE_WG_MSG_RESPONSE_LEN, out, &kind), 0);
	/* A switched to the new keys; B's old-key packet still decrypts (A's previous). */
	cr_assert_eq(deliver(&p, p.a, T0 + S(6), d_old, (size_t)n, out, &kind), 80);
	cr_assert_eq(kind, FLOE_WG_OUT_TUNNEL);
	pair_send(&p, p.b, T0 + S(6), 50, 5);
	/* A's first packet on the new keys confirms them at B; then B uses them. */
	pair_send(&p, p.a, T0 + S(7), 90, 6);
	pair_send(&p, p.b, T0 + S(7), 90, 7);
	pair_send(&p, p.a, T0 + S(7), 90, 8);
	pair_fini(&p);
}

Test(peer, responder_only_never_initiates_until_established)
{
	pair_t p;
	uint8_t out[BUF_LEN], pkt[64];
	ssize_t n = 0;
	floe_wg_peer_stats_t sb;

	pair_init(&p, true, 0);
	cr_assert_eq(floe_wg_peer_initiate(p.b, T0, out, sizeof(out)), -EPERM);
	floe_wg_peer_request_rekey(p.b);
	ip_packet(pkt, 40, 1);
	cr_assert_eq(floe_wg_peer_encrypt(p.b, T0, pkt, 40, out, sizeof(out)), -ENOKEY);
	for (uint64_t t = 0; t <= 200; t++)
		cr_assert_eq(drain_tick(p.b, T0 + S(t), out, &n), 0, "tick emitted at %llu s", (unsigned long long)t);
	floe_wg_peer_stats(p.b, &sb);
	cr_assert_eq(sb.handshake_initiations_sent, 0);

	/* After a handshake it answered has completed, it may rekey. */
	pair_handshake(&p, p.a, T0 + S(201));
	pair_send(&p, p.a, T0 + S(201), 40, 1);
	floe_wg_peer_request_rekey(p.b);
	cr_assert_eq(drain_tick(p.b, T0 + S(202), out, &n), 1);
	cr_assert_eq(n, FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(out[0], FLOE_WG_MSG_INITIATION);
	pair_fini(&p);
}

/*
 * /work/shared/vectors/x25519_low_order.json (wireguard-linux-compat
 * src/tests/netns.sh line 624, commit 3d3c92b4711b42169137b2ddf42ed4382e2babdf):
 * each key is refused, so nothing can ever be sent to it.
 */
static const char *low_order_hex[] = {
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

Test(peer, low_order_and_bad_keys_refused)
{
	uint8_t priv[32];
	floe_wg_device_t *dev;
	floe_wg_peer_config_t cfg = { .persistent_keepalive_s = 1 };
	floe_wg_peer_t *peer, *dup;

	randombytes_buf(priv, sizeof(priv));
	dev = floe_wg_device_new(priv);
	cr_assert(dev);
	for (size_t i = 0; i < FLOE_ARRAY_LEN(low_order_hex); i++) {
		for (int j = 0; j < 32; j++) {
			unsigned v;

			sscanf(low_order_hex[i] + 2 * j, "%2x", &v);
			cfg.public_key[j] = (uint8_t)v;
		}
		errno = 0;
		cr_assert_null(floe_wg_peer_new(dev, &cfg), "low-order key %zu accepted", i);
		cr_assert_eq(errno, EINVAL);
	}
	floe_wg_device_public_key(dev, cfg.public_key);
	errno = 0;
	cr_assert_null(floe_wg_peer_new(dev, &cfg), "own key accepted");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(floe_wg_peer_new(dev, NULL));
	cr_assert_eq(errno, EINVAL);

	randombytes_buf(priv, sizeof(priv));
	cr_assert_eq(crypto_scalarmult_base(cfg.public_key, priv), 0);
	peer = floe_wg_peer_new(dev, &cfg);
	cr_assert(peer);
	errno = 0;
	dup = floe_wg_peer_new(dev, &cfg);
	cr_assert_null(dup);
	cr_assert_eq(errno, EEXIST);
	floe_wg_peer_destroy(&peer);
	cr_assert_null(peer);
	floe_wg_peer_destroy(&peer);   /* idempotent */
	peer = floe_wg_peer_new(dev, &cfg);
	cr_assert(peer, "key free again after destroy");
	floe_wg_peer_destroy(&peer);
	floe_wg_device_destroy(&dev);
	floe_wg_device_destroy(&dev);
	floe_wg_device_destroy(NULL);
}
