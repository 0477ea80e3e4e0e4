/*
 * Liveness (docs/nat.md): a client whose data goes unanswered probes with
 * a handshake and fails with FLOE_CONN_REASON_SILENT within
 * FLOE_CONN_LIVENESS_DEAD_MS when the path is dead; on a live path where
 * only the client talks (the gateway sends nothing back) the probe is
 * answered and the connection lives. The dead path is real: an nftables
 * rule dropping every UDP datagram in a network namespace of our own.
 */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pair_harness.h"

enum {
	/* Time for the node-less pair to connect on loopback. */
	CONNECT_MS = 10000,
	/* Slack over FLOE_CONN_LIVENESS_DEAD_MS for a loaded 2-core machine. */
	SLACK_MS = 1500,
	REKEY_TIMEOUT_MS = 5000, /* WireGuard whitepaper 6.1 */
};

static bool client_failed(pair_t *p)
{
	return p->failed[CLIENT];
}

static void connect_pair(pair_t *p)
{
	pair_init(p);
	pair_connect(p, CONNECT_MS);
}

Test(liveness, dead_path_fails_the_client_within_the_bound, .timeout = 60)
{
	pair_t p;
	uint64_t t0, took_ms;

	pair_own_netns("a network namespace with an nftables drop rule");
	connect_pair(&p);
	/* A probe is a handshake initiation, and WireGuard sends at most one
	 * per REKEY_TIMEOUT (5 s): let the first handshake's age out, as it
	 * has on any path that dies later than 5 s after it came up. */
	p.gateway_chatter = true; /* two-way: nothing goes unanswered, no probe */
	pair_pump(&p, REKEY_TIMEOUT_MS + 500, client_failed);
	p.gateway_chatter = false;
	cr_assert_not(p.failed[CLIENT], "failed on a live path: %s", p.fail_reason[CLIENT]);
	cr_assert_eq(system("nft add table inet h16_dead && "
			    "nft add chain inet h16_dead out '{ type filter hook output priority 0; }' && "
			    "nft add rule inet h16_dead out meta l4proto udp drop"),
		     0, "nft drop rule");
	t0 = pair_now(&p);
	p.client_chatter = true; /* the application keeps sending */
	pair_pump(&p, FLOE_CONN_LIVENESS_DEAD_MS + SLACK_MS + 1000, client_failed);
	took_ms = (pair_now(&p) - t0) / FLOE_NS_PER_MS;
	cr_assert(p.failed[CLIENT], "the client did not notice the dead path in %llu ms",
		  (unsigned long long)took_ms);
	cr_expect_str_eq(p.fail_reason[CLIENT], FLOE_CONN_REASON_SILENT);
	cr_expect_leq(took_ms, FLOE_CONN_LIVENESS_DEAD_MS + SLACK_MS, "took %llu ms", (unsigned long long)took_ms);
	/* Not before the probe could have been answered. */
	cr_expect_geq(took_ms, FLOE_CONN_LIVENESS_DEAD_MS - 200, "took %llu ms", (unsigned long long)took_ms);
	/* The gateway never probes and never gives up on its own here. */
	cr_expect_not(p.failed[GATEWAY], "gateway failed: %s", p.fail_reason[GATEWAY]);
	cr_log_info("dead path noticed after %llu ms", (unsigned long long)took_ms);
	p.client_chatter = false;
	(void)system("nft delete table inet h16_dead");
	pair_fini(&p);
}

Test(liveness, one_way_traffic_on_a_live_path_is_not_dead, .timeout = 60)
{
	pair_t p;
	uint32_t before;

	pair_own_netns("a network namespace with an nftables drop rule");
	connect_pair(&p);
	/* The gateway's device stays silent: only WireGuard answers the
	 * client, and its passive keepalive takes 10 s, longer than the bound. */
	before = p.delivered[GATEWAY];
	p.client_chatter = true;
	pair_pump(&p, 3 * FLOE_CONN_LIVENESS_DEAD_MS, client_failed);
	p.client_chatter = false;
	cr_assert_not(p.failed[CLIENT], "a live path was declared dead: %s", p.fail_reason[CLIENT]);
	cr_expect_gt(p.delivered[GATEWAY], before + 50, "the client's packets kept arriving (%u)",
		     p.delivered[GATEWAY] - before);
	pair_fini(&p);
}

/* A nominated path on which no handshake completes (here: the client has
 * the wrong gateway key, so its initiations are never answered) fails
 * after FLOE_CONN_HANDSHAKE_DEADLINE_MS instead of WireGuard's 90 s. */
Test(liveness, no_handshake_on_a_nominated_path_fails_the_client, .timeout = 60)
{
	pair_t p;
	uint64_t took_ms;

	pair_init(&p);
	p.pub[GATEWAY][0] ^= 1; /* the client's idea of the gateway's key */
	pair_start(&p);
	pair_device_send(&p, CLIENT, 1);
	pair_exchange_credentials(&p);
	pair_pump(&p, FLOE_CONN_HANDSHAKE_DEADLINE_MS + SLACK_MS + 2000, client_failed);
	cr_assert(p.nominated[CLIENT], "no path: %s", p.fail_reason[CLIENT]);
	cr_assert(p.failed[CLIENT], "the client kept waiting for a handshake");
	cr_expect_str_eq(p.fail_reason[CLIENT], FLOE_CONN_REASON_NO_HANDSHAKE);
	took_ms = (p.nominated_ns[CLIENT] ? pair_now(&p) - p.nominated_ns[CLIENT] : 0) / FLOE_NS_PER_MS;
	cr_expect_geq(took_ms, FLOE_CONN_HANDSHAKE_DEADLINE_MS - 100, "after %llu ms", (unsigned long long)took_ms);
	cr_expect_leq(took_ms, FLOE_CONN_HANDSHAKE_DEADLINE_MS + SLACK_MS, "after %llu ms", (unsigned long long)took_ms);
	cr_expect_not(p.established[GATEWAY]);
	cr_expect_not(p.failed[GATEWAY], "the gateway never gives up on its own here: %s", p.fail_reason[GATEWAY]);
	pair_fini(&p);
}
