/*
 * Whitepaper section 6 through the peer, on a manual clock: retries, giving
 * up, passive and persistent keepalives, the 15 s new-handshake rule,
 * rekey on send (120 s) and on receive (165 s), reject after 180 s and the
 * key wipe after 540 s.
 */
#include <criterion/criterion.h>
#include <sodium.h>

#include "tests/wg/wg_pair.h"
#include "transport/wg/messages.h"

/* Brings a pair to a confirmed session at T0 (A initiated; A's confirming keepalive delivered). */
static void established(pair_t *p, bool b_responder_only, uint16_t keepalive_a)
{
	uint8_t out[BUF_LEN], got[BUF_LEN];
	ssize_t n = 0;
	floe_wg_out_t kind;

	pair_init(p, b_responder_only, keepalive_a);
	pair_handshake(p, p->a, T0);
	cr_assert_eq(drain_tick(p->a, T0, out, &n), 1);
	cr_assert_eq(deliver(p, p->b, T0, out, (size_t)n, got, &kind), 0);
	cr_assert(floe_wg_peer_is_established(p->b));
	floe_wg_peer_take_events(p->a);
	floe_wg_peer_take_events(p->b);
}

Test(peer_timers, retry_every_5s_with_fresh_ephemeral_then_give_up)
{
	pair_t p;
	uint8_t out[BUF_LEN], last_eph[32];
	uint64_t last_sent = T0, t;
	unsigned initiations = 1;
	ssize_t n = 0;

	pair_init(&p, false, 0);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, out, sizeof(out)), FLOE_WG_MSG_INITIATION_LEN);
	memcpy(last_eph, out + FLOE_WG_INIT_OFF_EPHEMERAL, 32);
	for (int guard = 0; guard < 100; guard++) {
		t = floe_wg_peer_next_deadline_ns(p.a);
		cr_assert_neq(t, UINT64_MAX);
		cr_assert_eq(drain_tick(p.a, t - 1, out, &n), 0, "nothing before the deadline");
		int sent = drain_tick(p.a, t, out, &n);
		uint32_t ev = floe_wg_peer_take_events(p.a);

		if (ev & FLOE_WG_EV_GAVE_UP) {
			cr_assert_eq(sent, 0);
			break;
		}
		cr_assert_eq(sent, 1);
		cr_assert_eq(n, FLOE_WG_MSG_INITIATION_LEN);
		cr_assert_geq(t - last_sent, S(5));
		cr_assert_lt(t - last_sent, S(5) + MS(334), "jitter below 334 ms");
		cr_assert_neq(memcmp(last_eph, out + FLOE_WG_INIT_OFF_EPHEMERAL, 32), 0, "fresh ephemeral");
		memcpy(last_eph, out + FLOE_WG_INIT_OFF_EPHEMERAL, 32);
		last_sent = t;
		initiations++;
	}
	cr_assert_eq(initiations, FLOE_WG_MAX_TIMER_HANDSHAKES + 2);
	cr_assert_geq(t - T0, S(FLOE_WG_REKEY_ATTEMPT_TIME_S));
	/* Given up: no further initiation, whatever the clock says. */
	for (uint64_t s = 0; s < 600; s += 7)
		cr_assert_eq(drain_tick(p.a, t + S(s), out, &n) == 1 && n == FLOE_WG_MSG_INITIATION_LEN, 0);
	pair_fini(&p);
}

Test(peer_timers, passive_keepalive_10s_after_data_received)
{
	pair_t p;
	uint8_t out[BUF_LEN];
	ssize_t n = 0;

	established(&p, false, 0);
	pair_send(&p, p.a, T0 + S(1), 40, 1);
	cr_assert_eq(drain_tick(p.b, T0 + S(11) - 1, out, &n), 0);
	cr_assert_eq(drain_tick(p.b, T0 + S(11), out, &n), 1);
	cr_assert_eq(n, FLOE_WG_DATA_MIN_LEN, "a keepalive");
	/* If B had answered with data, it would owe nothing. */
	pair_send(&p, p.a, T0 + S(20), 40, 1);
	pair_send(&p, p.b, T0 + S(21), 40, 1);
	cr_assert_eq(drain_tick(p.b, T0 + S(30), out, &n), 0);
	pair_fini(&p);
}

Test(peer_timers, new_handshake_15s_after_unanswered_data)
{
	pair_t p;
	uint8_t out[BUF_LEN], pkt[64], dgram[BUF_LEN];
	ssize_t n = 0;

	established(&p, false, 0);
	ip_packet(pkt, 40, 1);
	cr_assert_gt(floe_wg_peer_encrypt(p.a, T0 + S(2), pkt, 40, dgram, sizeof(dgram)), 0);
	cr_assert_eq(drain_tick(p.a, T0 + S(17) - 1, out, &n), 0);
	cr_assert_eq(drain_tick(p.a, T0 + S(17), out, &n), 1);
	cr_assert_eq(n, FLOE_WG_MSG_INITIATION_LEN);
	pair_fini(&p);
}

Test(peer_timers, rekey_after_120s_on_send_by_the_initiator_only)
{
	pair_t p;
	uint8_t out[BUF_LEN], pkt[64], dgram[BUF_LEN];
	ssize_t n = 0;

	established(&p, false, 0);
	ip_packet(pkt, 40, 1);
	cr_assert_gt(floe_wg_peer_encrypt(p.a, T0 + S(120) - 1, pkt, 40, dgram, sizeof(dgram)), 0);
	cr_assert_eq(drain_tick(p.a, T0 + S(120) - 1, out, &n), 0);
	/* The packet still goes out; the next tick has the rekey initiation. */
	cr_assert_gt(floe_wg_peer_encrypt(p.a, T0 + S(120), pkt, 40, dgram, sizeof(dgram)), 0);
	cr_assert_leq(floe_wg_peer_next_deadline_ns(p.a), T0 + S(120), "the rekey is due now");
	cr_assert_eq(drain_tick(p.a, T0 + S(120), out, &n), 1);
	cr_assert_eq(n, FLOE_WG_MSG_INITIATION_LEN);

	/* The responder sends at 120 s too, but never rekeys by age. */
	cr_assert_gt(floe_wg_peer_encrypt(p.b, T0 + S(121), pkt, 40, dgram, sizeof(dgram)), 0);
	cr_assert_eq(drain_tick(p.b, T0 + S(121), out, &n), 0);
	pair_fini(&p);
}

Test(peer_timers, rekey_on_receive_at_165s)
{
	pair_t p;
	uint8_t out[BUF_LEN];
	ssize_t n = 0;

	established(&p, false, 0);
	pair_send(&p, p.b, T0 + S(165) - 1, 40, 1);
	cr_assert_eq(drain_tick(p.a, T0 + S(165) - 1, out, &n), 0);
	pair_send(&p, p.b, T0 + S(165), 40, 2);
	cr_assert_eq(drain_tick(p.a, T0 + S(165), out, &n), 1);
	cr_assert_eq(n, FLOE_WG_MSG_INITIATION_LEN);
	/* Only once ("last minute"): a further packet asks for nothing more. */
	pair_send(&p, p.b, T0 + S(166), 40, 3);
	cr_assert_eq(drain_tick(p.a, T0 + S(166), out, &n), 0);
	pair_fini(&p);
}

Test(peer_timers, reject_after_180s)
{
	pair_t p;
	uint8_t pkt[64], dgram[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;
	ssize_t n;

	established(&p, false, 0);
	ip_packet(pkt, 40, 1);
	n = floe_wg_peer_encrypt(p.a, T0 + S(180) - 1, pkt, 40, dgram, sizeof(dgram));
	cr_assert_gt(n, 0);
	cr_assert_eq(floe_wg_peer_encrypt(p.a, T0 + S(180), pkt, 40, out, sizeof(out)), -ENOKEY);
	cr_assert_eq(floe_wg_peer_encrypt(p.b, T0 + S(180), pkt, 40, out, sizeof(out)), -ENOKEY);
	/* A packet made in time but arriving at 180 s is refused too. */
	cr_assert_eq(deliver(&p, p.b, T0 + S(180), dgram, (size_t)n, out, &kind), -ENOKEY);
	pair_fini(&p);
}

Test(peer_timers, keys_zeroed_after_540s)
{
	pair_t p;
	uint8_t out[BUF_LEN], pkt[64];
	ssize_t n = 0;

	established(&p, false, 0);
	cr_assert_eq(drain_tick(p.a, T0 + S(540) - 1, out, &n), 0);
	cr_assert_eq(floe_wg_peer_take_events(p.a) & FLOE_WG_EV_KEYS_ZEROED, 0);
	cr_assert(floe_wg_peer_is_established(p.a));
	cr_assert_eq(drain_tick(p.a, T0 + S(540), out, &n), 0);
	cr_assert(floe_wg_peer_take_events(p.a) & FLOE_WG_EV_KEYS_ZEROED);
	cr_assert_not(floe_wg_peer_is_established(p.a));
	ip_packet(pkt, 40, 1);
	cr_assert_eq(floe_wg_peer_encrypt(p.a, T0 + S(540), pkt, 40, out, sizeof(out)), -ENOKEY);
	pair_fini(&p);
}

Test(peer_timers, persistent_keepalive)
{
	pair_t p;
	uint8_t out[BUF_LEN];
	ssize_t n = 0;

	established(&p, false, 25);
	for (int k = 1; k <= 3; k++) {
		cr_assert_eq(drain_tick(p.a, T0 + S(25 * k) - 1, out, &n), 0, "round %d", k);
		cr_assert_eq(drain_tick(p.a, T0 + S(25 * k), out, &n), 1, "round %d", k);
		cr_assert_eq(n, FLOE_WG_DATA_MIN_LEN);
	}
	pair_fini(&p);
}

Test(peer_timers, responder_only_is_passive_again_after_keys_zeroed)
{
	pair_t p;
	uint8_t out[BUF_LEN], pkt[64];
	ssize_t n = 0;

	established(&p, true, 0);
	floe_wg_peer_request_rekey(p.b);
	cr_assert_eq(drain_tick(p.b, T0 + S(6), out, &n), 1, "established: it may rekey");
	cr_assert_eq(n, FLOE_WG_MSG_INITIATION_LEN);
	/* Nobody answers; the attempts run out, then the keys are wiped. */
	for (uint64_t t = 7; t <= 600; t++)
		drain_tick(p.b, T0 + S(t), out, &n);
	cr_assert(floe_wg_peer_take_events(p.b) & FLOE_WG_EV_KEYS_ZEROED);
	cr_assert_eq(floe_wg_peer_initiate(p.b, T0 + S(601), out, sizeof(out)), -EPERM);
	ip_packet(pkt, 40, 1);
	cr_assert_eq(floe_wg_peer_encrypt(p.b, T0 + S(601), pkt, 40, out, sizeof(out)), -ENOKEY);
	for (uint64_t t = 601; t <= 800; t++)
		cr_assert_eq(drain_tick(p.b, T0 + S(t), out, &n), 0);
	pair_fini(&p);
}
