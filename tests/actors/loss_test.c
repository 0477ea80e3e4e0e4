/*
 * 30% datagram loss while ICE runs: connections still establish. The loss
 * is real: an nftables rule on the loopback of a network namespace of the
 * test's own (this machine has no sch_netem; DESIGN.md).
 */
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "pair_harness.h"

enum {
	LOSS_RUNS = 5,
	MAX_ATTEMPTS = 8,
};

/* 30% of datagrams on loopback dropped while ICE runs, in a namespace of our own. */
static bool both_nominated(pair_t *p)
{
	return p->nominated[CLIENT] && p->nominated[GATEWAY];
}

static bool nominated_or_failed(pair_t *p)
{
	return both_nominated(p) || p->failed[CLIENT] || p->failed[GATEWAY];
}

static bool both_established(pair_t *p)
{
	return pair_both_established(p) && p->delivered[GATEWAY] >= 1;
}

static bool established_or_failed(pair_t *p)
{
	return both_established(p) || p->failed[CLIENT] || p->failed[GATEWAY];
}

Test(loss, thirty_percent_loss_during_ice_still_connects, .timeout = 400)
{
	pair_t p;
	int connected = 0, attempts = 0;

	if (geteuid() != 0)
		cr_skip_test("needs root: builds a network namespace with an nftables loss rule");
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET)");
	cr_assert_eq(system("ip link set lo up"), 0);
	pair_init(&p);
	/* DESIGN.md: libnice's default STUN retransmissions (a few over ~2 s)
	 * are too few under heavy loss; raise them, and give ICE time. */
	p.fail_timeout_ms = 10000;
	p.stun_max_retransmissions = 25;
	p.stun_initial_timeout_ms = 100;
	/* As the nodes run them: ICE keeps the binding, liveness is
	 * WireGuard's. With consent checks a pair nominated late under loss
	 * could lose consent before its first handshake (seen under TSan). */
	p.keepalive = FLOE_ICE_KEEPALIVE_RELAXED;
	for (int run = 0; run < LOSS_RUNS; run++) {
		cr_assert_eq(system("nft add table inet floe_loss && "
				    "nft add chain inet floe_loss out '{ type filter hook output priority 0; }' && "
				    "nft add rule inet floe_loss out meta l4proto udp numgen random mod 100 '<' 30 drop"),
			     0, "nft loss rule");
		/* When libnice runs out of checks it fails the connection; the
		 * node then replaces it, as it does for any failed connection.
		 * Model that policy: up to MAX_ATTEMPTS connections per run. */
		int attempt = 0;

		do {
			pair_start(&p); /* resets what the ends saw */
			pair_device_send(&p, CLIENT, 1);
			pair_exchange_credentials(&p);
			pair_pump(&p, 25000, nominated_or_failed);
			attempts++;
		} while (++attempt < MAX_ATTEMPTS && !both_nominated(&p));
		cr_assert_eq(system("nft delete table inet floe_loss"), 0);
		/* WireGuard does not retransmit data: a first packet lost before
		 * the rule went is gone, and the gateway waits for key
		 * confirmation until the client's 15 s new-handshake timer
		 * (whitepaper 6.2). The client's application keeps talking. */
		p.client_chatter = true;
		pair_pump(&p, 25000, established_or_failed);
		/* A connection that fails after nomination is replaced too (the
		 * node's policy for any failure), now without loss. */
		while (!both_established(&p) && (p.failed[CLIENT] || p.failed[GATEWAY]) &&
		       attempt++ < MAX_ATTEMPTS) {
			pair_start(&p);
			pair_device_send(&p, CLIENT, 1);
			pair_exchange_credentials(&p);
			attempts++;
			pair_pump(&p, 25000, established_or_failed);
		}
		p.client_chatter = false;
		connected += both_established(&p);
		cr_expect(both_established(&p), "run %d: %s / %s", run, p.fail_reason[CLIENT],
			  p.fail_reason[GATEWAY]);
	}
	cr_log_info("%d connections under 30%% loss took %d attempts", LOSS_RUNS, attempts);
	cr_expect_eq(connected, LOSS_RUNS);
	pair_fini(&p);
}
