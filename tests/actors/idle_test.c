/*
 * Idle behaviour (actors/idle.h, docs/nat.md): the rules, table-driven;
 * then a real client/gateway pair in a network namespace of our own whose
 * datagrams nftables counts by kind (STUN request/response, STUN binding
 * indication, WireGuard handshake, WireGuard data/keepalive) and whose
 * threads' wake-ups /proc counts. An idle connection drops to the relaxed
 * rate; the first packet makes it ACTIVE again with the normal liveness
 * timing (a dead path noticed within FLOE_CONN_LIVENESS_DEAD_MS).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/idle.h"
#include "pair_harness.h"

#define NFT_TABLE "h24_idle"

enum {
	CONNECT_MS = 10000,
	ACTIVE_MS = 3000,
	ACTIVE_TICK_MS = 100,
	/* Short for the test; the rule is the same at FLOE_IDLE_AFTER_MS. */
	TEST_IDLE_AFTER_MS = 2000,
	/* libnice keeps its check timer ticking every Ta (20 ms) for its
	 * idle-timeout (5 s) after the last check: a set-up cost, not an
	 * idle one. The window starts this long after the handshake... */
	SETTLE_MS = 7000,
	/* ... and lasts until after each end's second binding indication
	 * (the first goes at selection, the next ICE_TR_MS later); the
	 * client's 15 s keepalive fires once or twice in it. */
	IDLE_WINDOW_MS = 20000,
	/* Slack for a loaded 2-core machine. */
	SLACK_MS = 1500,
	/* At most one wake-up per this, on average, while idle. */
	IDLE_WAKEUP_MS = 150,
	/* libnice's Tr: one binding indication per end per 25 s. */
	ICE_TR_MS = 25000,
};

/* ---- the rules ----------------------------------------------------------- */

Test(idle, keepalive_interval_per_role)
{
	static const struct {
		floe_role_t role;
		uint16_t configured, want;
	} cases[] = {
		{ FLOE_ROLE_CLIENT, 0, FLOE_IDLE_KEEPALIVE_S },
		{ FLOE_ROLE_CLIENT, 25, FLOE_IDLE_KEEPALIVE_S }, /* too long for a 20 s NAT */
		{ FLOE_ROLE_CLIENT, FLOE_IDLE_KEEPALIVE_S, FLOE_IDLE_KEEPALIVE_S },
		{ FLOE_ROLE_CLIENT, 5, 5 },                      /* the operator knows their NAT */
		{ FLOE_ROLE_GATEWAY, 0, 0 },                     /* the client keeps the path */
		{ FLOE_ROLE_GATEWAY, 25, 25 },
	};

	for (size_t i = 0; i < FLOE_ARRAY_LEN(cases); i++)
		cr_expect_eq(floe_idle_keepalive_s(cases[i].role, cases[i].configured), cases[i].want,
			     "case %zu", i);
}

Test(idle, active_until_idle_after_then_idle)
{
	const uint64_t t0 = 1000 * FLOE_NS_PER_S;
	static const struct {
		uint64_t since_ms;
		floe_idle_state_t want;
	} cases[] = {
		{ 0, FLOE_IDLE_ACTIVE },
		{ FLOE_IDLE_AFTER_MS - 1, FLOE_IDLE_ACTIVE },
		{ FLOE_IDLE_AFTER_MS, FLOE_IDLE_IDLE },
		{ 10 * FLOE_IDLE_AFTER_MS, FLOE_IDLE_IDLE },
	};

	for (size_t i = 0; i < FLOE_ARRAY_LEN(cases); i++)
		cr_expect_eq(floe_idle_state(t0, t0 + cases[i].since_ms * FLOE_NS_PER_MS, FLOE_IDLE_AFTER_MS),
			     cases[i].want, "case %zu", i);
	cr_expect_eq(floe_idle_at_ns(t0, 1234), t0 + 1234 * FLOE_NS_PER_MS);
	cr_expect_str_eq(floe_idle_state_name(FLOE_IDLE_ACTIVE), "active");
	cr_expect_str_eq(floe_idle_state_name(FLOE_IDLE_IDLE), "idle");
	cr_expect_str_eq(floe_idle_state_name((floe_idle_state_t)7), "unknown");
}

Test(idle, only_the_gateway_declares_its_peer_gone)
{
	const uint64_t heard = 5000 * FLOE_NS_PER_S;
	const uint64_t bound = (uint64_t)FLOE_IDLE_PEER_GONE_MS * FLOE_NS_PER_MS;

	/* Several of the client's keepalives may be lost before it counts. */
	cr_expect_geq(FLOE_IDLE_PEER_GONE_MS, 3 * FLOE_IDLE_KEEPALIVE_S * 1000);
	cr_expect_not(floe_idle_peer_gone(FLOE_ROLE_GATEWAY, heard, heard + bound - 1, FLOE_IDLE_PEER_GONE_MS));
	cr_expect(floe_idle_peer_gone(FLOE_ROLE_GATEWAY, heard, heard + bound, FLOE_IDLE_PEER_GONE_MS));
	cr_expect_eq(floe_idle_peer_gone_at_ns(FLOE_ROLE_GATEWAY, heard, FLOE_IDLE_PEER_GONE_MS), heard + bound);
	cr_expect_eq(floe_idle_peer_gone_at_ns(FLOE_ROLE_GATEWAY, heard, 1234), heard + 1234 * FLOE_NS_PER_MS);
	cr_expect_not(floe_idle_peer_gone(FLOE_ROLE_CLIENT, heard, heard + 100 * bound, FLOE_IDLE_PEER_GONE_MS));
	cr_expect_eq(floe_idle_peer_gone_at_ns(FLOE_ROLE_CLIENT, heard, FLOE_IDLE_PEER_GONE_MS), UINT64_MAX);
}

/* ---- a real pair ----------------------------------------------------------- */

typedef struct {
	uint64_t stun_check; /* binding requests and their success responses */
	uint64_t stun_ind;   /* binding indications */
	uint64_t wg_hs;      /* handshake initiations and responses */
	uint64_t wg_data;    /* transport data, keepalives included */
} dgrams_t;

static const char *const kinds[] = { "stun_check", "stun_ind", "wg_hs", "wg_data" };

/* Every datagram on loopback passes the output hook once. The first 16
 * bits after the UDP header tell STUN's message type from WireGuard's
 * type byte followed by three reserved zero bytes. */
static void nft_setup(void)
{
	cr_assert_eq(system("nft add table inet " NFT_TABLE " && "
			    "nft add counter inet " NFT_TABLE " stun_check && "
			    "nft add counter inet " NFT_TABLE " stun_ind && "
			    "nft add counter inet " NFT_TABLE " wg_hs && "
			    "nft add counter inet " NFT_TABLE " wg_data && "
			    "nft add chain inet " NFT_TABLE " out '{ type filter hook output priority 0; }' && "
			    "nft add rule inet " NFT_TABLE " out udp length gt 9 @th,64,16 '{ 0x0001, 0x0101 }' counter name stun_check && "
			    "nft add rule inet " NFT_TABLE " out udp length gt 9 @th,64,16 0x0011 counter name stun_ind && "
			    "nft add rule inet " NFT_TABLE " out udp length gt 9 @th,64,16 '{ 0x0100, 0x0200 }' counter name wg_hs && "
			    "nft add rule inet " NFT_TABLE " out udp length gt 9 @th,64,16 0x0400 counter name wg_data"),
		     0, "nftables counters");
}

static uint64_t nft_counter(const char *name)
{
	char cmd[256], line[256];
	unsigned long long packets = 0;
	bool found = false;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nft list counter inet " NFT_TABLE " %s", name);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		const char *at = strstr(line, "packets ");

		if (at && sscanf(at, "packets %llu", &packets) == 1)
			found = true;
	}
	cr_assert_eq(pclose(f), 0, "%s", cmd);
	cr_assert(found, "no packets in the output of %s", cmd);
	return packets;
}

static void dgrams_read(dgrams_t *d)
{
	uint64_t *v[] = { &d->stun_check, &d->stun_ind, &d->wg_hs, &d->wg_data };

	for (size_t i = 0; i < FLOE_ARRAY_LEN(kinds); i++)
		*v[i] = nft_counter(kinds[i]);
}

static void dgrams_since(dgrams_t *d, const dgrams_t *before)
{
	dgrams_read(d);
	d->stun_check -= before->stun_check;
	d->stun_ind -= before->stun_ind;
	d->wg_hs -= before->wg_hs;
	d->wg_data -= before->wg_data;
}

/* Voluntary context switches of the connections' threads ("floe-conn"):
 * not the test's own (it polls every 2 ms), nor ZeroMQ's or a sanitizer's. */
static uint64_t wakeups(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	uint64_t sum = 0;
	int threads = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		char path[300], line[128];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* the thread ended */
		if (!fgets(line, sizeof(line), f) || strncmp(line, "floe-conn", 9) != 0) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		threads++;
		while (fgets(line, sizeof(line), f)) {
			unsigned long long n;

			if (sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1)
				sum += n;
		}
		fclose(f);
	}
	closedir(d);
	cr_assert_eq(threads, 2, "%d connection threads", threads);
	return sum;
}

static bool both_idle(pair_t *p)
{
	return floe_conn_state(p->conn[CLIENT]) == FLOE_CONN_IDLE &&
	       floe_conn_state(p->conn[GATEWAY]) == FLOE_CONN_IDLE;
}

static bool any_failed(pair_t *p)
{
	return p->failed[CLIENT] || p->failed[GATEWAY];
}

static bool client_failed(pair_t *p)
{
	return p->failed[CLIENT];
}

static uint32_t s_target_delivered;

static bool gateway_got_target(pair_t *p)
{
	return p->delivered[GATEWAY] >= s_target_delivered;
}

/* A connected pair whose agents are RELAXED, as the nodes make them; 0 for
 * either bound leaves the connection's default. */
static void connect_relaxed(pair_t *p, uint32_t idle_after_ms, uint32_t peer_gone_ms)
{
	pair_init(p);
	p->keepalive = FLOE_ICE_KEEPALIVE_RELAXED;
	p->idle_after_ms = idle_after_ms;
	p->peer_gone_ms = peer_gone_ms;
	pair_connect(p, CONNECT_MS);
}

Test(idle, idle_connection_drops_to_the_relaxed_rate_and_returns_on_traffic, .timeout = 90)
{
	pair_t p;
	dgrams_t before, active, idle;
	uint64_t w0, w_active, w_idle, t0, took_ms;
	uint32_t window_ms;

	pair_own_netns("a network namespace with nftables counters");
	nft_setup();
	connect_relaxed(&p, TEST_IDLE_AFTER_MS, 0);

	/* ACTIVE: two-way traffic, a packet each way every ACTIVE_TICK_MS, so
	 * nothing goes unanswered and no liveness probe is pending when the
	 * traffic stops. */
	dgrams_read(&before);
	w0 = wakeups();
	for (uint32_t seq = 0; seq < ACTIVE_MS / ACTIVE_TICK_MS && !any_failed(&p); seq++) {
		pair_device_send(&p, CLIENT, 1000 + seq);
		pair_device_send(&p, GATEWAY, 2000 + seq);
		pair_pump(&p, ACTIVE_TICK_MS, any_failed);
	}
	dgrams_since(&active, &before);
	w_active = wakeups() - w0;
	cr_assert_not(any_failed(&p), "failed while active: %s / %s", p.fail_reason[CLIENT],
		      p.fail_reason[GATEWAY]);
	cr_expect_eq(floe_conn_state(p.conn[CLIENT]), FLOE_CONN_CONNECTED);
	cr_expect_geq(active.wg_data, ACTIVE_MS / ACTIVE_TICK_MS, "%llu data datagrams while active",
		      (unsigned long long)active.wg_data);

	/* IDLE after idle_after_ms without data, on both ends. */
	pair_pump(&p, TEST_IDLE_AFTER_MS + SLACK_MS, both_idle);
	cr_assert(both_idle(&p), "states %s / %s", floe_conn_state_name(floe_conn_state(p.conn[CLIENT])),
		  floe_conn_state_name(floe_conn_state(p.conn[GATEWAY])));

	/* The relaxed rate: keepalives only. */
	pair_pump(&p, (uint32_t)((p.established_ns[CLIENT] + SETTLE_MS * FLOE_NS_PER_MS - pair_now(&p)) /
				 FLOE_NS_PER_MS), any_failed);
	dgrams_read(&before);
	w0 = wakeups();
	t0 = pair_now(&p);
	pair_pump(&p, IDLE_WINDOW_MS, any_failed);
	window_ms = (uint32_t)((pair_now(&p) - t0) / FLOE_NS_PER_MS);
	dgrams_since(&idle, &before);
	w_idle = wakeups() - w0;
	cr_log_info("active %u ms: %llu data, %llu handshake, %llu stun checks, %llu indications, %llu wake-ups",
		    ACTIVE_MS, (unsigned long long)active.wg_data, (unsigned long long)active.wg_hs,
		    (unsigned long long)active.stun_check, (unsigned long long)active.stun_ind,
		    (unsigned long long)w_active);
	cr_log_info("idle %u ms: %llu data, %llu handshake, %llu stun checks, %llu indications, %llu wake-ups",
		    window_ms, (unsigned long long)idle.wg_data, (unsigned long long)idle.wg_hs,
		    (unsigned long long)idle.stun_check, (unsigned long long)idle.stun_ind,
		    (unsigned long long)w_idle);
	cr_assert_not(any_failed(&p), "an idle connection failed: %s / %s", p.fail_reason[CLIENT],
		      p.fail_reason[GATEWAY]);
	cr_expect(both_idle(&p), "keepalives do not make a connection active");
	/* The client's keepalive: at least one per FLOE_IDLE_KEEPALIVE_S, no more. */
	cr_expect_geq(idle.wg_data, window_ms / (FLOE_IDLE_KEEPALIVE_S * 1000u), "keepalives: %llu",
		      (unsigned long long)idle.wg_data);
	cr_expect_leq(idle.wg_data, window_ms / (FLOE_IDLE_KEEPALIVE_S * 1000u) + 1, "keepalives: %llu",
		      (unsigned long long)idle.wg_data);
	/* No consent checks; each end's indication at most once per Tr. */
	cr_expect_eq(idle.stun_check, 0, "STUN checks on an idle relaxed pair: %llu",
		     (unsigned long long)idle.stun_check);
	cr_expect_leq(idle.stun_ind, 2 * (window_ms / ICE_TR_MS + 1), "indications: %llu",
		      (unsigned long long)idle.stun_ind);
	cr_expect_geq(idle.stun_ind, 2, "each end's indication keeps the binding: %llu",
		      (unsigned long long)idle.stun_ind);
	cr_expect_eq(idle.wg_hs, 0, "no handshake within REKEY_AFTER_TIME");
	/* A few wake-ups per second at most (measured: 7-12 in 20 s, 71-89
	 * under ASan; with consent checks 182, and STUN checks, asserted
	 * above, tell consent apart anyway). */
	cr_expect_leq(w_idle, window_ms / IDLE_WAKEUP_MS, "%llu wake-ups in %u ms",
		      (unsigned long long)w_idle, window_ms);
	cr_expect_lt(w_idle * ACTIVE_MS, w_active * window_ms / 10,
		     "idle wake-ups/s not a tenth of active: %llu in %u ms vs %llu in %u ms",
		     (unsigned long long)w_idle, window_ms, (unsigned long long)w_active, ACTIVE_MS);

	/* Traffic again: ACTIVE at once, with no new handshake needed. */
	dgrams_read(&before);
	s_target_delivered = p.delivered[GATEWAY] + 1;
	pair_device_send(&p, CLIENT, 7);
	pair_pump(&p, 1000, gateway_got_target);
	cr_assert(gateway_got_target(&p), "the first packet after idle did not arrive");
	cr_expect_eq(floe_conn_state(p.conn[CLIENT]), FLOE_CONN_CONNECTED);
	cr_expect_eq(floe_conn_state(p.conn[GATEWAY]), FLOE_CONN_CONNECTED);
	dgrams_since(&idle, &before);
	cr_expect_eq(idle.wg_hs, 0, "a handshake after idle");

	/* ... and the normal liveness timing: a dead path is noticed within
	 * FLOE_CONN_LIVENESS_DEAD_MS of the first unanswered packet. */
	cr_assert_eq(system("nft add chain inet " NFT_TABLE " blackhole '{ type filter hook output priority 10; }' && "
			    "nft add rule inet " NFT_TABLE " blackhole meta l4proto udp drop"),
		     0, "nft drop rule");
	t0 = pair_now(&p);
	p.client_chatter = true;
	pair_pump(&p, FLOE_CONN_LIVENESS_DEAD_MS + SLACK_MS + 1000, client_failed);
	p.client_chatter = false;
	took_ms = (pair_now(&p) - t0) / FLOE_NS_PER_MS;
	cr_assert(p.failed[CLIENT], "the dead path went unnoticed for %llu ms", (unsigned long long)took_ms);
	cr_expect_str_eq(p.fail_reason[CLIENT], FLOE_CONN_REASON_SILENT);
	cr_expect_leq(took_ms, FLOE_CONN_LIVENESS_DEAD_MS + SLACK_MS, "took %llu ms", (unsigned long long)took_ms);
	cr_log_info("after idle, a dead path noticed in %llu ms", (unsigned long long)took_ms);
	(void)system("nft delete table inet " NFT_TABLE);
	pair_fini(&p);
}

static bool gateway_failed(pair_t *p)
{
	return p->failed[GATEWAY];
}

/*
 * The gateway's end of consent: a client that vanishes (its connection
 * destroyed: no keepalive, nothing) is declared gone after peer_gone_ms,
 * not before; while the client talks it is not. The bound is shortened
 * here (FLOE_IDLE_PEER_GONE_MS is 60 s); the client's keepalive would
 * exceed it, so the pair is kept busy instead.
 */
Test(idle, gateway_declares_a_vanished_client_gone, .timeout = 60)
{
	enum { GONE_MS = 3000 };
	pair_t p;
	uint64_t t0, took_ms;

	connect_relaxed(&p, 0, GONE_MS);
	/* A talking client is never gone, however long. */
	p.client_chatter = true;
	pair_pump(&p, 2 * GONE_MS, any_failed);
	p.client_chatter = false;
	cr_assert_not(any_failed(&p), "failed while talking: %s / %s", p.fail_reason[CLIENT],
		      p.fail_reason[GATEWAY]);
	/* The client vanishes. Its last packet left at most one pump turn ago. */
	t0 = pair_now(&p);
	floe_mailbox_sender_destroy(&p.to[CLIENT]);
	floe_conn_destroy(&p.conn[CLIENT]);
	pair_pump(&p, GONE_MS + SLACK_MS + 1000, gateway_failed);
	took_ms = (pair_now(&p) - t0) / FLOE_NS_PER_MS;
	cr_assert(p.failed[GATEWAY], "the gateway kept a vanished client for %llu ms", (unsigned long long)took_ms);
	cr_expect_str_eq(p.fail_reason[GATEWAY], FLOE_CONN_REASON_PEER_GONE);
	cr_expect_geq(took_ms, GONE_MS - 500, "gone after %llu ms", (unsigned long long)took_ms);
	cr_expect_leq(took_ms, GONE_MS + SLACK_MS, "gone after %llu ms", (unsigned long long)took_ms);
	cr_log_info("vanished client declared gone after %llu ms (bound %d)", (unsigned long long)took_ms, GONE_MS);
	pair_fini(&p);
}
