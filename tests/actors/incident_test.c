/*
 * The incident of shared/seed/gateway-handshake-fight.txt, repeated: a
 * gateway whose device keeps sending packets for the client while ICE runs,
 * signalling delayed at random, and re-connections of the same client after
 * a failed one. In every run the gateway must send no initiation, each side
 * must complete exactly one handshake (no session torn down by a crossing
 * one), and traffic must flow both ways right after nomination.
 */
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "pair_harness.h"

enum {
	RUNS = 200,
	RECONNECT_EVERY = 10,   /* every 10th run starts with a failed attempt */
	MAX_SIGNAL_DELAY_MS = 30,
	/* A handshake retry would take REKEY_TIMEOUT (5 s): anything under a
	 * second from nomination means the first initiation did it. */
	MAX_NOMINATION_TO_TRAFFIC_MS = 1000,
};

static bool flows_both_ways(pair_t *p)
{
	return pair_both_established(p) && p->delivered[GATEWAY] >= 1 && p->delivered[CLIENT] >= 1;
}

static bool client_failed(pair_t *p)
{
	return p->failed[CLIENT];
}

static void one_failed_attempt(pair_t *p)
{
	p->fail_timeout_ms = 300;
	pair_start(p);
	pair_device_send(p, CLIENT, 1);
	pair_send_to(p, CLIENT, floe_conn_msg_credentials(floe_conn_local_ufrag(p->conn[GATEWAY]),
							  "not-the-right-password-at-all"));
	pair_pump(p, 3000, client_failed);
	cr_assert(p->failed[CLIENT], "the failed attempt did not fail");
	p->fail_timeout_ms = 5000;
}

Test(incident, two_hundred_setups_never_fight, .timeout = 240)
{
	pair_t p;

	pair_init(&p);
	p.max_delay_ms = MAX_SIGNAL_DELAY_MS;
	p.gateway_chatter = true;
	for (int run = 0; run < RUNS; run++) {
		uint64_t nominated;

		if (run % RECONNECT_EVERY == RECONNECT_EVERY - 1)
			one_failed_attempt(&p);
		pair_start(&p);
		pair_device_send(&p, CLIENT, (uint32_t)run);
		pair_exchange_credentials(&p);
		pair_pump(&p, 10000, flows_both_ways);
		cr_assert(flows_both_ways(&p), "run %d: established %d/%d delivered %u/%u (%s / %s)", run,
			  p.established[CLIENT], p.established[GATEWAY], p.delivered[CLIENT],
			  p.delivered[GATEWAY], p.fail_reason[CLIENT], p.fail_reason[GATEWAY]);
		nominated = p.nominated_ns[CLIENT] < p.nominated_ns[GATEWAY] ? p.nominated_ns[CLIENT]
									     : p.nominated_ns[GATEWAY];
		cr_expect_leq((p.established_ns[GATEWAY] - nominated) / FLOE_NS_PER_MS,
			      MAX_NOMINATION_TO_TRAFFIC_MS, "run %d: slow to carry traffic", run);
		pair_pump(&p, 20, NULL); /* counters are published at the end of a wake-up */
		cr_assert_eq(pair_counter(&p, GATEWAY, FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 0,
			     "run %d: the gateway initiated", run);
		cr_assert_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 1,
			     "run %d: the client sent more than one initiation", run);
		cr_assert_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_HANDSHAKES_COMPLETED), 1, "run %d", run);
		cr_assert_eq(pair_counter(&p, GATEWAY, FLOE_COUNTER_HANDSHAKES_COMPLETED), 1, "run %d", run);
		cr_assert_eq(pair_counter(&p, GATEWAY, FLOE_COUNTER_DECRYPT_ERRORS), 0, "run %d", run);
		cr_assert_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_DECRYPT_ERRORS), 0, "run %d", run);
		cr_assert_gt(pair_counter(&p, GATEWAY, FLOE_COUNTER_DROPPED_NOT_NOMINATED) +
				     pair_counter(&p, GATEWAY, FLOE_COUNTER_TUN_RX_PACKETS), 0);
	}
	pair_fini(&p);
}

