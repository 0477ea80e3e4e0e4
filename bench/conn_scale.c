/*
 * What one idle gateway connection costs, counted exactly:
 *
 *   bench_conn_scale [--short] [--n 100,1000] [--idle-s 30]
 *
 * One gateway node (userspace device, no portal, loopback only) takes N
 * peers through floe_node_peer_add: each is a real connection actor with
 * its thread, its NiceAgent (gathered on 127.0.0.1) and the node's sender
 * to it, waiting for a client that never comes (the ICE failure timeout is
 * the maximum, so none fails during the run). At N = 0 and at each N the
 * program reads /proc/self: file descriptors, threads, RSS; the per-connection
 * figure is the difference to N = 0 divided by N. At the largest N it then
 * sleeps for the idle window and reports the CPU time and the context
 * switches (wake-ups) of the whole process: idle connections must neither
 * poll nor wake up often.
 *
 * Output: one line per measurement, key=value with units in the key names
 * (scripts/bench can parse it):
 *
 *   conn_scale n=1000 fds=6021 fds_per_conn=6.00 threads=1006 ...
 *   conn_scale_idle n=1000 idle_s=30 cpu_ms_per_s=... wakeups_per_s=...
 *
 * Exit 1 on any failure (a peer that cannot be added, gathering that does
 * not finish): on loopback that is a bug, not a slow machine.
 */
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <floe/floe.h>

#include "bench/common.h"
#include "bench/procstat.h"

enum {
	MAX_STEPS = 8,
	MAX_CONNS = 16000,
	DEFAULT_IDLE_S = 30,
	SHORT_IDLE_S = 3,
	GATHER_TIMEOUT_MS = 60000,
	SETTLE_MS = 1000,           /* let every thread reach its idle poll */
	ICE_FAILURE_TIMEOUT_MS = 600000,
	POLL_MS = 50,
};

#define CHECK(cond, what)                                                                   \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "bench_conn_scale: error: %s (%s:%d)\n", (what),    \
				__FILE__, __LINE__);                                        \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

typedef struct {
	long fds;
	long threads;
	long rss_kib;
} sample_t;

static sample_t s_sample(void)
{
	sample_t s = {
		.fds = floe_procstat_fds(0),
		.threads = floe_procstat_threads(0),
		.rss_kib = floe_procstat_rss_kib(0),
	};

	CHECK(s.fds >= 0 && s.threads >= 0 && s.rss_kib >= 0, "cannot read /proc/self");
	return s;
}

/* Takes every queued event; counts the connections done gathering. */
static size_t s_drain(floe_node_t *node)
{
	floe_event_t ev;
	size_t done = 0;

	while (floe_node_event_next(node, &ev) == 0) {
		if (ev.type == FLOE_EVENT_GATHERING_DONE)
			done++;
		CHECK(ev.type != FLOE_EVENT_FAILED && ev.type != FLOE_EVENT_CLOSED,
		      "a connection failed while idle");
	}
	sodium_memzero(&ev, sizeof(ev));
	return done;
}

static void s_add_peer(floe_node_t *node, size_t i)
{
	uint8_t sec[FLOE_KEY_LEN];
	char cidr[32];
	const char *ips[1] = { cidr };
	floe_peer_config_t peer = { .allowed_ips = ips, .n_allowed_ips = 1 };
	uint64_t id;

	floe_key_generate(sec);
	CHECK(floe_key_public(peer.public_key, sec) == 0, "floe_key_public");
	sodium_memzero(sec, sizeof(sec));
	/* 100.64.0.0/10 holds 4M clients; one /32 each. */
	snprintf(cidr, sizeof(cidr), "100.%zu.%zu.%zu/32", 64 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
	CHECK(floe_node_peer_add(node, &peer, &id) == 0, "floe_node_peer_add");
}

static void s_print(const char *tag, size_t n, sample_t now, sample_t base, double setup_s)
{
	double dn = n ? (double)n : 1.0;

	printf("%s n=%zu fds=%ld threads=%ld rss_kib=%ld fds_per_conn=%.2f threads_per_conn=%.2f "
	       "rss_kib_per_conn=%.1f setup_s=%.3f setup_per_s=%.0f\n",
	       tag, n, now.fds, now.threads, now.rss_kib, n ? (now.fds - base.fds) / dn : 0.0,
	       n ? (now.threads - base.threads) / dn : 0.0, n ? (now.rss_kib - base.rss_kib) / dn : 0.0,
	       setup_s, setup_s > 0 ? (double)n / setup_s : 0.0);
	fflush(stdout);
}

static size_t s_parse_steps(const char *arg, size_t *steps)
{
	size_t n = 0;
	char *end;

	while (*arg && n < MAX_STEPS) {
		unsigned long v = strtoul(arg, &end, 10);

		CHECK(end != arg && v > 0 && v <= MAX_CONNS && (n == 0 || v > steps[n - 1]),
		      "--n wants increasing counts, e.g. 100,1000");
		steps[n++] = v;
		arg = *end == ',' ? end + 1 : end;
		CHECK(*end == ',' || *end == '\0', "--n wants increasing counts, e.g. 100,1000");
	}
	return n;
}

int main(int argc, char **argv)
{
	static const char *const loopback[] = { "127.0.0.1" };
	size_t steps[MAX_STEPS] = { 100, 1000 };
	size_t n_steps = 2, have = 0, gathered = 0;
	unsigned idle_s = DEFAULT_IDLE_S;
	char err[FLOE_NODE_ERR_BYTES];
	floe_node_config_t cfg = {
		.role = FLOE_ROLE_GATEWAY,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.ice_failure_timeout_ms = ICE_FAILURE_TIMEOUT_MS,
		.device = FLOE_NODE_DEVICE_USERSPACE,
	};
	floe_node_t *node;
	sample_t base;
	long long cpu0, wk0;
	uint64_t t0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--short")) {
			steps[0] = 20, steps[1] = 100;
			idle_s = SHORT_IDLE_S;
		} else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
			n_steps = s_parse_steps(argv[++i], steps);
		} else if (!strcmp(argv[i], "--idle-s") && i + 1 < argc) {
			idle_s = (unsigned)strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: %s [--short] [--n 100,1000] [--idle-s 30]\n", argv[0]);
			return 2;
		}
	}
	CHECK(sodium_init() >= 0, "sodium_init");
	floe_log_set_level(FLOE_LOG_ERROR);
	floe_key_generate(cfg.private_key);
	node = floe_node_new(&cfg, err, sizeof(err));
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
	CHECK(node, err);

	base = s_sample();
	s_print("conn_scale", 0, base, base, 0);
	for (size_t s = 0; s < n_steps; s++) {
		uint64_t deadline;

		t0 = bench_now_ms();
		while (have < steps[s]) {
			s_add_peer(node, have++);
			gathered += s_drain(node);
		}
		deadline = bench_now_ms() + GATHER_TIMEOUT_MS;
		while (gathered < have && bench_now_ms() < deadline) {
			poll(&(struct pollfd){ .fd = floe_node_event_fd(node), .events = POLLIN }, 1, POLL_MS);
			gathered += s_drain(node);
		}
		/* A dropped GATHERING_DONE (full event queue) is not a failure:
		 * the node counts it; accept the count once the queue is drained. */
		CHECK(gathered + floe_node_event_drops(node) >= have, "gathering did not finish in time");
		{
			double setup_s = (double)(bench_now_ms() - t0) / 1000.0;

			poll(NULL, 0, SETTLE_MS);
			(void)s_drain(node);
			s_print("conn_scale", have, s_sample(), base, setup_s);
		}
	}

	cpu0 = floe_procstat_cpu_us();
	wk0 = floe_procstat_wakeups();
	t0 = bench_now_ms();
	while (bench_now_ms() - t0 < (uint64_t)idle_s * 1000u) {
		poll(NULL, 0, POLL_MS * 20);
		(void)s_drain(node);
	}
	{
		double secs = (double)(bench_now_ms() - t0) / 1000.0;

		printf("conn_scale_idle n=%zu idle_s=%.1f cpu_ms_per_s=%.2f cpu_pct=%.2f wakeups_per_s=%.0f "
		       "wakeups_per_conn_per_s=%.3f event_drops=%llu\n",
		       have, secs, (double)(floe_procstat_cpu_us() - cpu0) / 1000.0 / secs,
		       (double)(floe_procstat_cpu_us() - cpu0) / 10000.0 / secs,
		       (double)(floe_procstat_wakeups() - wk0) / secs,
		       have ? (double)(floe_procstat_wakeups() - wk0) / secs / (double)have : 0.0,
		       (unsigned long long)floe_node_event_drops(node));
	}
	t0 = bench_now_ms();
	floe_node_destroy(&node);
	printf("conn_scale_teardown n=%zu teardown_s=%.3f fds_after=%ld\n", have,
	       (double)(bench_now_ms() - t0) / 1000.0, floe_procstat_fds(0));
	return 0;
}
