/*
 * The connection actor, end to end in one process: a client and a gateway
 * with real libnice agents on loopback (tests/actors/pair_harness.h).
 * These are the acceptance criteria of the connection-actor issue.
 */
#include "pair_harness.h"

static bool gateway_has_50(pair_t *p)
{
	return pair_both_established(p) && p->delivered[GATEWAY] >= 50;
}

static bool gateway_has_5(pair_t *p)
{
	return pair_both_established(p) && p->delivered[GATEWAY] >= 5;
}

Test(conn, buffered_client_packets_arrive_in_order_and_gateway_never_initiates, .timeout = 60)
{
	pair_t p;

	pair_init(&p);
	pair_start(&p);
	/* Before ICE can even start (no credentials yet): 50 packets each way. */
	for (uint32_t i = 0; i < 50; i++) {
		pair_device_send(&p, CLIENT, i);
		pair_device_send(&p, GATEWAY, 1000 + i);
	}
	pair_pump(&p, 200, NULL);
	cr_expect_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_ICE_BUFFERED_PACKETS), 50);
	cr_expect_eq(pair_counter(&p, GATEWAY, FLOE_COUNTER_DROPPED_NOT_NOMINATED), 50);

	pair_exchange_credentials(&p);
	pair_pump(&p, 10000, gateway_has_50);
	cr_assert(pair_both_established(&p), "client %d gateway %d (%s / %s)",
		  p.established[CLIENT], p.established[GATEWAY], p.fail_reason[CLIENT], p.fail_reason[GATEWAY]);
	cr_assert_eq(p.delivered[GATEWAY], 50);
	for (uint32_t i = 0; i < 50; i++)
		cr_expect_eq(p.delivered_seq[GATEWAY][i], i, "packet %u out of order", i);
	/* The gateway's 50 were dropped while ICE ran: none reached the client. */
	cr_expect_eq(p.delivered[CLIENT], 0);

	pair_pump(&p, 300, NULL); /* let both publish their counters */
	cr_expect_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 1);
	cr_expect_eq(pair_counter(&p, GATEWAY, FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 0);
	cr_expect_eq(pair_counter(&p, GATEWAY, FLOE_COUNTER_HANDSHAKE_INITIATIONS_RECEIVED), 1);
	cr_expect_eq(pair_counter(&p, GATEWAY, FLOE_COUNTER_HANDSHAKE_RESPONSES_SENT), 1);
	cr_expect_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_HANDSHAKES_COMPLETED), 1);
	cr_expect_eq(pair_counter(&p, GATEWAY, FLOE_COUNTER_HANDSHAKES_COMPLETED), 1);
	cr_expect_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_DECRYPT_ERRORS), 0);
	cr_expect_eq(pair_counter(&p, GATEWAY, FLOE_COUNTER_DECRYPT_ERRORS), 0);
	cr_expect_eq(floe_conn_state(p.conn[CLIENT]), FLOE_CONN_CONNECTED);

	/* Now traffic flows both ways. */
	pair_device_send(&p, GATEWAY, 7);
	pair_device_send(&p, CLIENT, 8);
	pair_pump(&p, 2000, NULL);
	cr_expect_eq(p.delivered[CLIENT], 1);
	cr_expect_eq(p.delivered_seq[CLIENT][0], 7);
	cr_expect_eq(p.delivered[GATEWAY], 51);
	pair_fini(&p);
}

static bool client_buffered_1000(pair_t *p)
{
	return pair_counter(p, CLIENT, FLOE_COUNTER_ICE_BUFFERED_PACKETS) >= 1000;
}

static bool gateway_has_128(pair_t *p)
{
	return pair_both_established(p) && p->delivered[GATEWAY] >= 128;
}

Test(conn, ring_keeps_the_newest_128_of_1000, .timeout = 60)
{
	pair_t p;

	pair_init(&p);
	pair_start(&p);
	for (uint32_t i = 0; i < 1000; i++)
		pair_device_send(&p, CLIENT, i);
	pair_pump(&p, 5000, client_buffered_1000);
	pair_exchange_credentials(&p);
	pair_pump(&p, 10000, gateway_has_128);
	cr_assert(pair_both_established(&p));
	pair_pump(&p, 300, NULL);
	cr_expect_eq(p.delivered[GATEWAY], 128);
	for (uint32_t i = 0; i < 128; i++)
		cr_expect_eq(p.delivered_seq[GATEWAY][i], 872 + i);
	cr_expect_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_ICE_BUFFER_OVERFLOW_DROPS), 872);
	pair_fini(&p);
}

static bool client_failed(pair_t *p)
{
	return p->failed[CLIENT] && p->exited[CLIENT];
}

Test(conn, wrong_credentials_fail_within_the_timeout_and_a_replacement_works, .timeout = 60)
{
	pair_t p;
	uint64_t t0;

	pair_init(&p);
	p.fail_timeout_ms = 1500;
	pair_start(&p);
	for (uint32_t i = 0; i < 20; i++)
		pair_device_send(&p, CLIENT, i);
	/* The client is told the wrong password: its checks never authenticate. */
	pair_send_to(&p, CLIENT, floe_conn_msg_credentials(floe_conn_local_ufrag(p.conn[GATEWAY]),
							   "wrongwrongwrongwrongwrong"));
	pair_send_to(&p, GATEWAY, floe_conn_msg_credentials(floe_conn_local_ufrag(p.conn[CLIENT]),
							    floe_conn_local_pwd(p.conn[CLIENT])));
	t0 = pair_now(&p);
	pair_pump(&p, 6000, client_failed);
	cr_assert(p.failed[CLIENT], "no failed event");
	cr_expect(p.exited[CLIENT], "the supervisor heard the actor exit");
	cr_expect_leq((pair_now(&p) - t0) / FLOE_NS_PER_MS, 1500 + 1000, "failed late");
	cr_expect_eq(floe_conn_state(p.conn[CLIENT]), FLOE_CONN_FAILED);
	cr_expect(!p.established[CLIENT] && !p.established[GATEWAY]);

	/* A replacement connection for the same client, on both ends. */
	p.fail_timeout_ms = 5000;
	pair_start(&p);
	pair_device_send(&p, CLIENT, 99);
	pair_exchange_credentials(&p);
	pair_pump(&p, 10000, gateway_has_50);
	cr_assert(pair_both_established(&p), "replacement did not connect");
	cr_expect_eq(p.delivered[GATEWAY], 1);
	cr_expect_eq(p.delivered_seq[GATEWAY][0], 99);
	pair_fini(&p);
}

Test(conn, unreachable_candidate_fails_within_the_timeout, .timeout = 30)
{
	pair_t p;

	pair_init(&p);
	p.fail_timeout_ms = 1000;
	p.forward_candidates = false;
	pair_start(&p);
	pair_exchange_credentials(&p);
	/* A port nothing listens on (the discard port on loopback). */
	pair_send_to(&p, CLIENT, floe_conn_msg_candidate("a=candidate:1 1 UDP 2130706431 127.0.0.1 9 typ host"));
	pair_pump(&p, 4000, client_failed);
	cr_assert(p.failed[CLIENT]);
	cr_expect_eq(p.delivered[GATEWAY], 0);
	pair_fini(&p);
}

Test(conn, malformed_signalling_is_refused_without_harm, .timeout = 30)
{
	pair_t p;
	floe_msg_t *m;

	pair_init(&p);
	pair_start(&p);
	pair_send_to(&p, CLIENT, floe_conn_msg_candidate("a=candidate:garbage"));
	pair_send_to(&p, CLIENT, floe_conn_msg_candidate(""));
	m = floe_msg_new_heap(FLOE_CONN_REMOTE_CANDIDATE, 4);
	memcpy(floe_msg_data(m), "abcd", 4); /* not NUL-terminated */
	floe_msg_set_len(m, 4);
	pair_send_to(&p, CLIENT, m);
	m = floe_msg_new_heap(FLOE_CONN_REMOTE_CREDENTIALS, 3);
	memcpy(floe_msg_data(m), "a\0b", 3); /* pwd not terminated */
	floe_msg_set_len(m, 3);
	pair_send_to(&p, CLIENT, m);
	pair_send_to(&p, CLIENT, floe_msg_new_heap(0x7777, 0));
	/* Still a working connection afterwards. */
	pair_device_send(&p, CLIENT, 5);
	pair_exchange_credentials(&p);
	pair_pump(&p, 10000, gateway_has_50);
	cr_assert(pair_both_established(&p));
	cr_expect_eq(p.delivered[GATEWAY], 1);
	pair_fini(&p);
}

static bool both_nominated(pair_t *p)
{
	return p->nominated[CLIENT] && p->nominated[GATEWAY];
}

Test(conn, a_client_can_learn_its_peer_after_nomination, .timeout = 60)
{
	pair_t p;

	pair_init(&p);
	p.defer_client_peer = true;
	pair_start(&p);
	for (uint32_t i = 0; i < 5; i++)
		pair_device_send(&p, CLIENT, i);
	pair_exchange_credentials(&p);
	pair_pump(&p, 10000, both_nominated);
	cr_assert(both_nominated(&p));
	pair_pump(&p, 300, NULL);
	/* A path but no peer: nothing to initiate yet, packets still held. */
	cr_expect_not(p.established[CLIENT]);
	cr_expect_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 0);
	pair_set_client_peer(&p);
	pair_pump(&p, 10000, gateway_has_5);
	cr_assert(pair_both_established(&p));
	pair_pump(&p, 300, NULL);
	cr_expect_eq(p.delivered[GATEWAY], 5);
	cr_expect_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 1);
	cr_expect_eq(pair_counter(&p, GATEWAY, FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 0);
	pair_fini(&p);
}
