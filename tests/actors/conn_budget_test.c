/*
 * What an idle connection costs a node, asserted: file descriptors,
 * threads, wake-ups, and that all of it comes back when the connections
 * close. The gateway's 10,000-connection goal is decided by these numbers
 * (a process may hold 20,000 files here; docs/perf.md "Scale"), so a
 * change that adds a descriptor per connection must fail here, not in a
 * 10,000-connection run.
 *
 * Measured through the public API on a portal-less gateway node: each
 * peer_add is a real connection actor with its thread and its ICE agent
 * gathered on loopback, waiting for a client that never comes.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <floe/floe.h>

#include "bench/procstat.h"

enum {
	CONNS = 64,
	/*
	 * Per idle connection: its mailbox and its agent's three (two GLib
	 * wake-up eventfds: ours and libnice's component context; one UDP
	 * socket). Node and connection reach each other through inboxes
	 * (actors/inbox.h), with no fd per connection (docs/perf.md "Scale").
	 */
	FDS_PER_CONN_MAX = 4,
	FDS_SLACK = 4,            /* the node's own lazily opened files */
	WAIT_MS = 15000,
	IDLE_WINDOW_MS = 1000,
	/* The test's own thread wakes every POLL_MS; idle connections add none. */
	POLL_MS = 100,
	WAKEUPS_SLACK = 40,
	ICE_FAILURE_TIMEOUT_MS = 600000, /* no connection fails during the test */
};

static const char *const loopback[] = { "127.0.0.1" };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static floe_node_t *gateway(void)
{
	char err[FLOE_NODE_ERR_BYTES];
	floe_node_config_t cfg = {
		.role = FLOE_ROLE_GATEWAY,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.ice_failure_timeout_ms = ICE_FAILURE_TIMEOUT_MS,
		.device = FLOE_NODE_DEVICE_USERSPACE,
	};
	floe_node_t *n;

	cr_assert_geq(sodium_init(), 0);
	floe_log_set_level(FLOE_LOG_ERROR);
	floe_key_generate(cfg.private_key);
	n = floe_node_new(&cfg, err, sizeof(err));
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
	cr_assert_not_null(n, "floe_node_new: %s", err);
	return n;
}

/* Takes every queued event; counts those of type want. */
static size_t drain(floe_node_t *n, floe_event_type_t want)
{
	floe_event_t ev;
	size_t got = 0;

	while (floe_node_event_next(n, &ev) == 0) {
		cr_assert_neq(ev.type, FLOE_EVENT_FAILED, "an idle connection failed: %s", ev.text);
		if (ev.type == want)
			got++;
	}
	sodium_memzero(&ev, sizeof(ev));
	return got;
}

/* Waits until count events of type want arrived. */
static void wait_events(floe_node_t *n, floe_event_type_t want, size_t count)
{
	uint64_t deadline = now_ms() + WAIT_MS;
	size_t got = 0;

	while (got < count && now_ms() < deadline) {
		poll(&(struct pollfd){ .fd = floe_node_event_fd(n), .events = POLLIN }, 1, POLL_MS);
		got += drain(n, want);
	}
	cr_assert_eq(got, count, "%zu of %zu events of type %d", got, count, (int)want);
	cr_assert_eq(floe_node_event_drops(n), 0);
}

static void add_peers(floe_node_t *n, uint64_t *ids, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		uint8_t sec[FLOE_KEY_LEN];
		char cidr[32];
		const char *ips[1] = { cidr };
		floe_peer_config_t peer = { .allowed_ips = ips, .n_allowed_ips = 1 };

		floe_key_generate(sec);
		cr_assert_eq(floe_key_public(peer.public_key, sec), 0);
		sodium_memzero(sec, sizeof(sec));
		snprintf(cidr, sizeof(cidr), "100.64.%zu.%zu/32", i >> 8, i & 0xff);
		cr_assert_eq(floe_node_peer_add(n, &peer, &ids[i]), 0, "peer %zu", i);
	}
}

/* Waits until the process holds at most want fds (closing threads finish). */
static long wait_fds_at_most(long want)
{
	uint64_t deadline = now_ms() + WAIT_MS;
	long fds;

	while ((fds = floe_procstat_fds(0)) > want && now_ms() < deadline)
		poll(NULL, 0, POLL_MS);
	return fds;
}

Test(conn_budget, idle_connections_cost_bounded_fds_and_one_thread_each)
{
	floe_node_t *n = gateway();
	uint64_t ids[CONNS];
	long fds0, thr0, fds1, thr1;

	fds0 = floe_procstat_fds(0);
	thr0 = floe_procstat_threads(0);
	cr_assert_geq(fds0, 0, "cannot read /proc/self/fd");
	add_peers(n, ids, CONNS);
	wait_events(n, FLOE_EVENT_GATHERING_DONE, CONNS);
	fds1 = floe_procstat_fds(0);
	thr1 = floe_procstat_threads(0);
	cr_log_info("%d idle connections: %ld fds (%.2f each), %ld threads", CONNS, fds1 - fds0,
		    (double)(fds1 - fds0) / CONNS, thr1 - thr0);
	cr_assert_leq(fds1 - fds0, (long)FDS_PER_CONN_MAX * CONNS + FDS_SLACK,
		      "%ld fds for %d connections: more than %d each", fds1 - fds0, CONNS, FDS_PER_CONN_MAX);
	/* Each connection is one actor thread; nothing else grows with N. */
	cr_assert_eq(thr1 - thr0, CONNS, "%ld threads for %d connections", thr1 - thr0, CONNS);

	/* Everything comes back: a descriptor kept per closed connection
	 * would exhaust a long-running gateway. */
	for (size_t i = 0; i < CONNS; i++)
		cr_assert_eq(floe_node_peer_remove(n, ids[i]), 0);
	wait_events(n, FLOE_EVENT_CLOSED, CONNS);
	cr_assert_leq(wait_fds_at_most(fds0), fds0, "fds leaked by closed connections");
	floe_node_destroy(&n);
}

Test(conn_budget, idle_connections_do_not_wake_up)
{
	floe_node_t *n = gateway();
	uint64_t ids[CONNS];
	long long wk0, wakeups;
	uint64_t t0;

	add_peers(n, ids, CONNS);
	wait_events(n, FLOE_EVENT_GATHERING_DONE, CONNS);
	/* Let every thread settle into its poll before counting. */
	poll(NULL, 0, POLL_MS * 3);
	wk0 = floe_procstat_wakeups();
	t0 = now_ms();
	while (now_ms() - t0 < IDLE_WINDOW_MS) {
		poll(NULL, 0, POLL_MS);
		(void)drain(n, FLOE_EVENT_NONE);
	}
	wakeups = floe_procstat_wakeups() - wk0;
	cr_log_info("%d idle connections: %lld wake-ups in %d ms", CONNS, wakeups, IDLE_WINDOW_MS);
	/* A connection that polled (or ran a short timer) would add at least
	 * one wake-up per connection in the window: CONNS more. */
	cr_assert_lt(wakeups, IDLE_WINDOW_MS / POLL_MS + WAKEUPS_SLACK,
		     "%lld wake-ups in %d ms from %d idle connections", wakeups, IDLE_WINDOW_MS, CONNS);
	floe_node_destroy(&n);
}
