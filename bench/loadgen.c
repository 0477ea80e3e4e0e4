/*
 * Load generator: N simulated clients through the real floe-portal to the
 * real floe-gateway.
 *
 *   bench_loadgen [--short] [--n N] [--duration-s S] [--rate-pps R]
 *                 [--setup-timeout-s T] [--gateway-workers K]
 *                 [--clients-per-worker C] [--bin-dir DIR]
 *
 * Everything runs in a network namespace of its own (unshare(2): it goes
 * away with the last process in it, TUN and routes included), so it needs
 * root; without root it exits 77 with a message. In it:
 *
 *   - keys for a portal, a gateway and N clients, and the portal's INI
 *     (N clients with tunnel addresses 100.64.0.2.., one gateway, one
 *     resource "echo" = 10.99.0.1/32, one grant per client), written to a
 *     private temporary directory;
 *   - floe-portal and floe-gateway started from DIR (default: this
 *     program's directory), ICE on 127.0.0.1; the gateway's TUN routes
 *     100.64.0.0/10, and the resource is an address on the namespace's
 *     loopback, so the kernel itself answers the clients' ICMP echo
 *     requests that the gateway writes to its TUN: a real resource behind
 *     a real gateway, no responder of ours;
 *   - forked worker processes of at most C clients each (a client node
 *     with a portal session costs ~20 fds: docs/perf.md), each client a
 *     real client node (floe_node_new with the portal endpoint, userspace
 *     device): its own portal session, node thread, connection actor, ICE
 *     agent and WireGuard session. A client writes an echo request to the
 *     resource every PROBE_MS until its connection is ESTABLISHED (the
 *     first is the intent that makes it ask the portal for a flow); at most
 *     --inflight set-ups run at once in all (shared out among the
 *     workers, at most MAX_INFLIGHT_PER_WORKER each).
 *
 * Phases: set-up (until every client is established or --setup-timeout-s),
 * traffic (--duration-s, every established client sends --rate-pps echo
 * requests per second, spread over the interval), DRAIN_MS for replies in
 * flight. The gateway's cost is read from /proc for its whole process tree
 * (the parent and any workers: [Gateway] Workers = K) before the first
 * client and after the last set-up. Output: key=value lines with units in
 * the key names ("loadgen setup ...", "loadgen traffic ...", "loadgen
 * gateway ...", "loadgen clients ...") and last one line "loadgen result
 * ..." with every figure, for scripts/bench and scripts/loadtest.
 *
 * Exit 0 when every client connected and the run completed; 1 otherwise
 * (the figures are printed either way); 2 on bad usage; 77 without root.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <floe/floe.h>

#include "bench/procstat.h"
#include "bench/loadgen_daemons.h"

enum {
	MAX_CONNS = 10000,            /* the portal holds 10,000 clients and grants */
	MAX_WORKERS = 64,
	DEFAULT_CLIENTS_PER_WORKER = 500, /* ~20 fds each: well under 20,000 per process */
	MAX_CLIENTS_PER_WORKER = 900,
	/*
	 * Set-ups in flight, all workers together. Each waits in the same
	 * queues (portal, gateway workers, two cores), so more in flight only
	 * makes each slower: 640 at once on this machine took longer than the
	 * portal's 10 s authorize deadline and ICE's 30 s, and the 10,000
	 * run spiralled into retries (docs/perf.md).
	 */
	DEFAULT_INFLIGHT = 160,
	MAX_INFLIGHT_PER_WORKER = 32,
	DEFAULT_N = 100,
	SHORT_N = 10,
	DEFAULT_DURATION_S = 10,
	SHORT_DURATION_S = 2,
	DEFAULT_RATE_PPS = 1,
	SHORT_RATE_PPS = 5,
	MAX_RATE_PPS = 100,
	SEND_SLOTS = 10,              /* a send interval in 10 slices: no burst per interval */
	DEFAULT_SETUP_TIMEOUT_S = 120,
	ICE_FAILURE_TIMEOUT_MS = 30000,
	PROBE_MS = 250,               /* an unconnected client's echo request (its intent) */
	PKT_BYTES = 64,               /* IPv4 20 + ICMP 8 + 36 of payload */
	TICK_MS = 50,                 /* a worker notices a phase change this fast */
	PARENT_TICK_MS = 100,
	DRAIN_MS = 1000,              /* after traffic: replies still in flight */
	PROGRESS_MS = 5000,           /* a progress line on stderr during set-up */
	DAEMON_READY_TIMEOUT_MS = 20000,
	WORKER_EXIT_TIMEOUT_S = 120,
	FAILURES_SHOWN = 3,           /* failure reasons printed per worker */
};

static const double MIN_RATE_PPS = 0.01; /* one packet per connection per 100 s */
static const char *const loopback[] = { "127.0.0.1" };

typedef enum {
	PHASE_WAIT = 0, /* daemons starting: workers hold */
	PHASE_SETUP,
	PHASE_TRAFFIC,
	PHASE_DRAIN,    /* stop sending, count what still comes back */
	PHASE_QUIT,
} phase_t;

/* One worker's figures, written by it, read by the parent (shared memory). */
typedef struct {
	_Atomic uint64_t created, established, failed, connected;
	_Atomic uint64_t last_established_ms;
	_Atomic uint64_t tx, rx, tx_drops, probes;
	_Atomic long fds, threads, rss_kib;  /* this worker after its set-ups; -1 unknown */
	_Atomic long base_fds, base_threads, base_rss_kib; /* before its first client */
} worker_stats_t;

typedef struct {
	_Atomic int phase;
	_Atomic uint64_t t0_ms;
	worker_stats_t w[MAX_WORKERS];
} shared_t;

static volatile sig_atomic_t s_interrupted;
static char s_tmpdir[64];     /* keys and configs: removed however the parent exits */
static pid_t s_parent;

static void s_on_signal(int sig)
{
	(void)sig;
	s_interrupted = 1;
}

static uint16_t s_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An ICMP echo request, both checksums valid: the kernel checks them. */
static void s_echo_request(uint8_t pkt[PKT_BYTES], uint32_t src, uint32_t dst, uint16_t id, uint16_t seq)
{
	uint16_t c;

	memset(pkt, 0, PKT_BYTES);
	pkt[0] = 0x45;
	pkt[3] = PKT_BYTES;
	pkt[8] = 64;   /* TTL */
	pkt[9] = 1;    /* ICMP */
	memcpy(pkt + 12, &src, 4);
	memcpy(pkt + 16, &dst, 4);
	c = s_csum(pkt, 20);
	pkt[10] = (uint8_t)(c >> 8), pkt[11] = (uint8_t)c;
	pkt[20] = 8;   /* echo request */
	pkt[24] = (uint8_t)(id >> 8), pkt[25] = (uint8_t)id;
	pkt[26] = (uint8_t)(seq >> 8), pkt[27] = (uint8_t)seq;
	c = s_csum(pkt + 20, PKT_BYTES - 20);
	pkt[22] = (uint8_t)(c >> 8), pkt[23] = (uint8_t)c;
}

/* The sequence number of an echo reply, or -1 for anything else. */
static int s_echo_reply_seq(const uint8_t *pkt, ssize_t len)
{
	if (len < 28 || (pkt[0] >> 4) != 4 || pkt[9] != 1 || pkt[(pkt[0] & 15) * 4] != 0)
		return -1;
	return pkt[(pkt[0] & 15) * 4 + 6] << 8 | pkt[(pkt[0] & 15) * 4 + 7];
}

/* ---- a worker: up to C client nodes ---------------------------------- */

typedef struct {
	shared_t *sh;
	worker_stats_t *st;
	size_t first, count, created;
	uint8_t *keys;                /* the clients' private keys, FLOE_KEY_LEN each; wiped once used */
	const uint8_t *portal_pub;
	floe_node_t **nodes;
	bool *up;                     /* connection established (and not failed since) */
	uint64_t *next_probe_ms;
	uint16_t seq;
	size_t failed_shown;
} worker_t;

static void s_worker_add(worker_t *w)
{
	char err[FLOE_NODE_ERR_BYTES];
	floe_node_config_t cfg = {
		.role = FLOE_ROLE_CLIENT,
		.portal_endpoint = PORTAL_EP,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.ice_failure_timeout_ms = ICE_FAILURE_TIMEOUT_MS,
		.device = FLOE_NODE_DEVICE_USERSPACE,
	};
	size_t k = w->created;

	memcpy(cfg.private_key, w->keys + (w->first + k) * FLOE_KEY_LEN, FLOE_KEY_LEN);
	memcpy(cfg.portal_public_key, w->portal_pub, FLOE_KEY_LEN);
	sodium_memzero(w->keys + (w->first + k) * FLOE_KEY_LEN, FLOE_KEY_LEN);
	w->nodes[k] = floe_node_new(&cfg, err, sizeof(err));
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
	if (!w->nodes[k])
		BENCH_DIE("worker: client %zu: floe_node_new: %s", w->first + k, err);
	/* The portal welcomes it first: the first intent waits a little. */
	w->next_probe_ms[k] = bench_now_ms() + PROBE_MS;
	w->created++;
	atomic_store(&w->st->created, w->created);
}

static void s_worker_send(worker_t *w, size_t k, uint16_t seq)
{
	uint8_t pkt[PKT_BYTES];
	uint32_t dst;

	inet_pton(AF_INET, RESOURCE_IP, &dst);
	s_echo_request(pkt, s_client_ip(w->first + k), dst, (uint16_t)(w->first + k), seq);
	if (floe_node_device_write(w->nodes[k], pkt, sizeof(pkt)) != 0)
		atomic_fetch_add(&w->st->tx_drops, 1);
	else if (seq)
		atomic_fetch_add(&w->st->tx, 1);
	else
		atomic_fetch_add(&w->st->probes, 1);
}

static void s_worker_events(worker_t *w, size_t k)
{
	floe_event_t ev;

	while (floe_node_event_next(w->nodes[k], &ev) == 0) {
		if (ev.type == FLOE_EVENT_ESTABLISHED && !w->up[k]) {
			w->up[k] = true;
			atomic_fetch_add(&w->st->connected, 1);
			atomic_fetch_add(&w->st->established, 1);
			atomic_store(&w->st->last_established_ms, bench_now_ms());
		} else if (ev.type == FLOE_EVENT_FAILED) {
			atomic_fetch_add(&w->st->failed, 1);
			if (w->failed_shown++ < FAILURES_SHOWN)
				fprintf(stderr, "bench_loadgen: client %zu: connection failed: %s\n", w->first + k,
					ev.text);
			if (w->up[k])
				atomic_fetch_sub(&w->st->connected, 1);
			/* The node asks the portal again at its next packet. */
			w->up[k] = false;
			w->next_probe_ms[k] = bench_now_ms();
		}
	}
	sodium_memzero(&ev, sizeof(ev));
}

static void s_worker_read(worker_t *w, size_t k)
{
	uint8_t buf[FLOE_NODE_MAX_PACKET_BYTES];
	ssize_t len;

	while ((len = floe_node_device_read(w->nodes[k], buf, sizeof(buf), 0)) > 0)
		if (s_echo_reply_seq(buf, len) > 0)
			atomic_fetch_add(&w->st->rx, 1);
}

static void s_worker_measure(worker_t *w, bool base)
{
	atomic_store(base ? &w->st->base_fds : &w->st->fds, floe_procstat_fds(0));
	atomic_store(base ? &w->st->base_threads : &w->st->threads, floe_procstat_threads(0));
	atomic_store(base ? &w->st->base_rss_kib : &w->st->rss_kib, floe_procstat_rss_kib(0));
}

static int s_worker(shared_t *sh, size_t idx, size_t first, size_t count, uint8_t *keys,
		    const uint8_t *portal_pub, double rate_pps, size_t inflight)
{
	worker_t w = { .sh = sh, .st = &sh->w[idx], .first = first, .count = count, .keys = keys,
		       .portal_pub = portal_pub };
	struct pollfd *pfd = calloc(2 * count, sizeof(*pfd));
	uint64_t next_send = 0, traffic_t0 = 0, slots_sent = 0;
	size_t slot = 0;
	bool measured = false;
	int phase;

	w.nodes = calloc(count, sizeof(*w.nodes));
	w.up = calloc(count, sizeof(*w.up));
	w.next_probe_ms = calloc(count, sizeof(*w.next_probe_ms));
	if (!pfd || !w.nodes || !w.up || !w.next_probe_ms)
		BENCH_DIE("worker: out of memory");
	floe_log_set_level(FLOE_LOG_ERROR);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while ((phase = atomic_load(&sh->phase)) == PHASE_WAIT)
		usleep(TICK_MS * 1000);
	s_worker_measure(&w, true);
	while ((phase = atomic_load(&sh->phase)) != PHASE_QUIT) {
		uint64_t now = bench_now_ms(), wake = now + TICK_MS;
		size_t np = 0;

		while (w.created < count && w.created - atomic_load(&w.st->connected) < inflight)
			s_worker_add(&w);
		/* Once its clients are up, or when traffic starts without them. */
		if (!measured && (atomic_load(&w.st->connected) == count || phase >= PHASE_TRAFFIC)) {
			s_worker_measure(&w, false);
			measured = true;
		}
		for (size_t k = 0; k < w.created; k++) {
			if (!w.up[k] && phase != PHASE_DRAIN) {
				if (now >= w.next_probe_ms[k]) {
					s_worker_send(&w, k, 0);
					w.next_probe_ms[k] = now + PROBE_MS;
				}
				if (w.next_probe_ms[k] < wake)
					wake = w.next_probe_ms[k];
			}
			pfd[np++] = (struct pollfd){ .fd = floe_node_event_fd(w.nodes[k]), .events = POLLIN };
			pfd[np++] = (struct pollfd){ .fd = floe_node_device_fd(w.nodes[k]), .events = POLLIN };
		}
		if (phase == PHASE_TRAFFIC && rate_pps > 0) {
			if (!traffic_t0)
				traffic_t0 = next_send = now;
			if (now >= next_send) {
				/* Slot s: the clients k with k % SEND_SLOTS == s. */
				w.seq = (uint16_t)(w.seq + (slot == 0));
				for (size_t k = slot; k < w.created; k += SEND_SLOTS)
					if (w.up[k])
						s_worker_send(&w, k, (uint16_t)(w.seq ? w.seq : 1));
				slot = (slot + 1) % SEND_SLOTS;
				/* From the start, not the last send: no drift. */
				next_send = traffic_t0 + (uint64_t)((double)++slots_sent * 1000.0 / rate_pps / SEND_SLOTS);
			}
			if (next_send < wake)
				wake = next_send;
		}
		now = bench_now_ms();
		if (poll(pfd, np, wake > now ? (int)(wake - now) : 0) < 0 && errno != EINTR)
			BENCH_DIE("worker: poll: %s", strerror(errno));
		for (size_t k = 0; k < w.created; k++) {
			if (pfd[2 * k].revents & POLLIN)
				s_worker_events(&w, k);
			if (pfd[2 * k + 1].revents & POLLIN)
				s_worker_read(&w, k);
		}
	}
	if (!measured)
		s_worker_measure(&w, false);
	for (size_t k = 0; k < w.created; k++)
		floe_node_destroy(&w.nodes[k]);
	free(w.nodes);
	free(w.up);
	free(w.next_probe_ms);
	free(pfd);
	return 0;
}

/* ---- the parent ------------------------------------------------------- */

typedef struct {
	size_t n, per_worker, workers, inflight, inflight_per_worker;
	unsigned long duration_s, setup_timeout_s, gw_workers;
	double rate_pps;
	char bin_dir[PATH_BYTES];
} args_t;

static void s_usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--short] [--n N (1..%d)] [--duration-s S] [--rate-pps R (0, 0.01..%d)]\n"
		"       [--setup-timeout-s T] [--gateway-workers K] [--clients-per-worker C (1..%d)]\n"
		"       [--inflight F (set-ups at once, all workers; default %d)]\n"
		"       [--bin-dir DIR (floe-portal, floe-gateway, floectl; default: this program's)]\n",
		argv0, MAX_CONNS, MAX_RATE_PPS, MAX_CLIENTS_PER_WORKER, DEFAULT_INFLIGHT);
	exit(2);
}

static unsigned long s_arg(int argc, char **argv, int *i, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	if (*i + 1 >= argc)
		s_usage(argv[0]);
	errno = 0;
	v = strtoul(argv[++*i], &end, 10);
	if (errno || end == argv[*i] || *end || v < lo || v > hi)
		s_usage(argv[0]);
	return v;
}

/* A packet rate: 0 (none) or MIN_RATE_PPS..MAX_RATE_PPS, decimals allowed. */
static double s_rate(int argc, char **argv, int *i)
{
	char *end;
	double v;

	if (*i + 1 >= argc)
		s_usage(argv[0]);
	errno = 0;
	v = strtod(argv[++*i], &end);
	if (errno || end == argv[*i] || *end || !(v == 0 || (v >= MIN_RATE_PPS && v <= MAX_RATE_PPS)))
		s_usage(argv[0]);
	return v;
}

static void s_args(int argc, char **argv, args_t *a)
{
	*a = (args_t){ .n = DEFAULT_N, .per_worker = DEFAULT_CLIENTS_PER_WORKER, .duration_s = DEFAULT_DURATION_S,
		       .rate_pps = DEFAULT_RATE_PPS, .setup_timeout_s = DEFAULT_SETUP_TIMEOUT_S, .gw_workers = 1,
		       .inflight = DEFAULT_INFLIGHT };
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--short")) {
			a->n = SHORT_N, a->duration_s = SHORT_DURATION_S, a->rate_pps = SHORT_RATE_PPS;
		} else if (!strcmp(argv[i], "--n")) {
			a->n = s_arg(argc, argv, &i, 1, MAX_CONNS);
		} else if (!strcmp(argv[i], "--duration-s")) {
			a->duration_s = s_arg(argc, argv, &i, 1, 3600);
		} else if (!strcmp(argv[i], "--rate-pps")) {
			a->rate_pps = s_rate(argc, argv, &i);
		} else if (!strcmp(argv[i], "--setup-timeout-s")) {
			a->setup_timeout_s = s_arg(argc, argv, &i, 1, 3600);
		} else if (!strcmp(argv[i], "--gateway-workers")) {
			a->gw_workers = s_arg(argc, argv, &i, 1, 16);
		} else if (!strcmp(argv[i], "--inflight")) {
			a->inflight = s_arg(argc, argv, &i, 1, MAX_INFLIGHT_PER_WORKER * MAX_WORKERS);
		} else if (!strcmp(argv[i], "--clients-per-worker")) {
			a->per_worker = s_arg(argc, argv, &i, 1, MAX_CLIENTS_PER_WORKER);
		} else if (!strcmp(argv[i], "--bin-dir") && i + 1 < argc) {
			snprintf(a->bin_dir, sizeof(a->bin_dir), "%s", argv[++i]);
		} else {
			s_usage(argv[0]);
		}
	}
	a->workers = (a->n + a->per_worker - 1) / a->per_worker;
	if (a->workers > MAX_WORKERS)
		s_usage(argv[0]);
	a->inflight_per_worker = (a->inflight + a->workers - 1) / a->workers;
	if (a->inflight_per_worker > MAX_INFLIGHT_PER_WORKER)
		a->inflight_per_worker = MAX_INFLIGHT_PER_WORKER;
	if (!a->bin_dir[0]) {
		ssize_t len = readlink("/proc/self/exe", a->bin_dir, sizeof(a->bin_dir) - 1);
		char *slash;

		if (len <= 0)
			BENCH_DIE("readlink /proc/self/exe: %s", strerror(errno));
		a->bin_dir[len] = '\0';
		slash = strrchr(a->bin_dir, '/');
		if (slash)
			*slash = '\0';
	}
}

/* Sums over the workers' shared figures. */
typedef struct {
	uint64_t created, established, failed, connected, last_ms, tx, rx, tx_drops, probes;
	long fds, threads, rss_kib, base_fds, base_threads, base_rss_kib;
} totals_t;

static totals_t s_totals(shared_t *sh, size_t workers)
{
	totals_t t = { 0 };

	for (size_t i = 0; i < workers; i++) {
		worker_stats_t *w = &sh->w[i];
		uint64_t last = atomic_load(&w->last_established_ms);

		t.created += atomic_load(&w->created);
		t.established += atomic_load(&w->established);
		t.failed += atomic_load(&w->failed);
		t.connected += atomic_load(&w->connected);
		t.tx += atomic_load(&w->tx);
		t.rx += atomic_load(&w->rx);
		t.tx_drops += atomic_load(&w->tx_drops);
		t.probes += atomic_load(&w->probes);
		t.fds += atomic_load(&w->fds);
		t.threads += atomic_load(&w->threads);
		t.rss_kib += atomic_load(&w->rss_kib);
		t.base_fds += atomic_load(&w->base_fds);
		t.base_threads += atomic_load(&w->base_threads);
		t.base_rss_kib += atomic_load(&w->base_rss_kib);
		if (last > t.last_ms)
			t.last_ms = last;
	}
	return t;
}

/* Sleeps up to ms, less when interrupted. */
static void s_nap(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Output: each figure goes to its section's line and to the result line. */
typedef struct {
	char line[1024], result[4096];
} out_t;

static void s_kv(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_kv(out_t *o, const char *fmt, ...)
{
	char kv[128];
	va_list ap;
	size_t l = strlen(o->line), r = strlen(o->result);

	va_start(ap, fmt);
	vsnprintf(kv, sizeof(kv), fmt, ap);
	va_end(ap);
	snprintf(o->line + l, sizeof(o->line) - l, " %s", kv);
	snprintf(o->result + r, sizeof(o->result) - r, " %s", kv);
}

static void s_section(out_t *o, const char *name)
{
	if (o->line[0])
		printf("%s\n", o->line);
	strcpy(o->line, "loadgen ");
	strncat(o->line, name, sizeof(o->line) - strlen(o->line) - 1);
}

static double s_per(double v, double n)
{
	return n > 0 ? v / n : 0.0;
}

/* false once the daemon has exited (reaped: *pid becomes -1, so nothing
 * signals a pid the kernel may have handed to another process). */
static bool s_alive(pid_t *pid, const char *name, size_t *errors)
{
	int st;

	if (*pid <= 0)
		return false;
	if (waitpid(*pid, &st, WNOHANG) != *pid)
		return true;
	*pid = -1;
	fprintf(stderr, "bench_loadgen: %s exited (%s %d)\n", name, WIFSIGNALED(st) ? "signal" : "status",
		WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	(*errors)++;
	return false;
}

static void s_remove_tmpdir(void)
{
	char cmd[128];

	/* Workers and daemons inherit the handler; only the parent removes. */
	if (getpid() != s_parent || !s_tmpdir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s_tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_loadgen: could not remove %s\n", s_tmpdir);
	s_tmpdir[0] = '\0';
}

int main(int argc, char **argv)
{
	args_t a;
	out_t o = { 0 };
	shared_t *sh;
	uint8_t sec[FLOE_KEY_LEN], portal_pub[FLOE_KEY_LEN], gw_pub[FLOE_KEY_LEN], *keys;
	char dir[] = "/tmp/floe-loadgen.XXXXXX", path[2 * PATH_BYTES];
	const char *const progs[] = { "floe-portal", "floe-gateway", "floectl" };
	pid_t portal = -1, gateway = -1, pid[MAX_WORKERS];
	struct sigaction sa = { .sa_handler = s_on_signal };
	size_t errors = 0;
	uint64_t t0, deadline, setup_ms, report, t_traffic;
	totals_t t = { 0 }, t1;
	tree_t gw0, gw1, gw2;
	char *show;
	gw_view_t view0, view1;
	long hz = sysconf(_SC_CLK_TCK);
	double secs, dn;
	bool all;

	s_args(argc, argv, &a);
	if (geteuid() != 0) {
		printf("skipped: bench_loadgen needs root (a network namespace of its own, the gateway's TUN)\n");
		return 77;
	}
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", a.bin_dir, progs[i]) >= (int)sizeof(path) ||
		    access(path, X_OK) != 0)
			BENCH_DIE("%s is not built (--bin-dir)", path);
	}
	if (sodium_init() < 0)
		BENCH_DIE("sodium_init");
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	s_netns();
	if (!mkdtemp(dir))
		BENCH_DIE("mkdtemp: %s", strerror(errno));
	snprintf(s_tmpdir, sizeof(s_tmpdir), "%s", dir);
	s_parent = getpid();
	atexit(s_remove_tmpdir);

	/* Keys and configurations, before any process starts. */
	keys = malloc(a.n * FLOE_KEY_LEN);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!keys || sh == MAP_FAILED)
		BENCH_DIE("out of memory");
	for (size_t i = 0; i < a.n; i++)
		floe_key_generate(keys + i * FLOE_KEY_LEN);
	floe_key_generate(sec);
	if (floe_key_public(portal_pub, sec) != 0)
		BENCH_DIE("floe_key_public");
	s_write_key(dir, "portal", sec);
	floe_key_generate(sec);
	if (floe_key_public(gw_pub, sec) != 0)
		BENCH_DIE("floe_key_public");
	s_write_key(dir, "gateway", sec);
	sodium_memzero(sec, sizeof(sec));
	s_write_confs(dir, a.n, keys, gw_pub, portal_pub, (unsigned)a.gw_workers);

	/* Workers first: this process has no thread, so fork is safe. */
	for (size_t w = 0; w < a.workers; w++) {
		size_t first = w * a.per_worker, count = a.n - first < a.per_worker ? a.n - first : a.per_worker;

		fflush(NULL);
		pid[w] = fork();
		if (pid[w] < 0)
			BENCH_DIE("fork: %s", strerror(errno));
		if (pid[w] == 0) {
			sodium_memzero(keys, first * FLOE_KEY_LEN);
			sodium_memzero(keys + (first + count) * FLOE_KEY_LEN, (a.n - first - count) * FLOE_KEY_LEN);
			_exit(s_worker(sh, w, first, count, keys, portal_pub, a.rate_pps, a.inflight_per_worker));
		}
	}
	sodium_memzero(keys, a.n * FLOE_KEY_LEN);
	free(keys);

	portal = s_spawn(a.bin_dir, "floe-portal", dir);
	for (deadline = bench_now_ms() + DAEMON_READY_TIMEOUT_MS; !s_portal_listening(); s_nap(50))
		if (bench_now_ms() > deadline || !s_alive(&portal, "floe-portal", &errors))
			goto stop;
	gateway = s_spawn(a.bin_dir, "floe-gateway", dir);
	deadline = bench_now_ms() + DAEMON_READY_TIMEOUT_MS;
	for (; !(show = s_gateway_show(a.bin_dir, dir, "gateway.sock")); s_nap(100))
		if (bench_now_ms() > deadline || !s_alive(&gateway, "floe-gateway", &errors))
			goto stop;
	free(show);
	/* Its control socket answers once its node runs; the portal's
	 * welcome follows within a round trip. */
	s_nap(1000);
	gw0 = s_tree(gateway);

	/* Set-up: every client connected, or the set-up time is up. */
	t0 = bench_now_ms();
	atomic_store(&sh->t0_ms, t0);
	atomic_store(&sh->phase, PHASE_SETUP);
	deadline = t0 + a.setup_timeout_s * 1000u;
	for (report = t0 + PROGRESS_MS;; s_nap(PARENT_TICK_MS)) {
		t = s_totals(sh, a.workers);
		if (t.connected == a.n || bench_now_ms() > deadline || s_interrupted ||
		    !s_alive(&gateway, "floe-gateway", &errors) || !s_alive(&portal, "floe-portal", &errors))
			break;
		if (bench_now_ms() >= report) {
			fprintf(stderr, "bench_loadgen: %.0f s: %llu connected, %llu started, %llu failures, of %zu\n",
				(double)(bench_now_ms() - t0) / 1000.0, (unsigned long long)t.connected,
				(unsigned long long)t.created, (unsigned long long)t.failed, a.n);
			report += PROGRESS_MS;
		}
	}
	all = t.connected == a.n;
	setup_ms = (all ? t.last_ms : bench_now_ms()) - t0;
	/* The workers measure themselves once their clients are up. */
	s_nap(PARENT_TICK_MS * 3);
	gw1 = s_tree(gateway);
	view0 = s_gateway_view(a.bin_dir, dir, (unsigned)a.gw_workers);

	/* Traffic: every connected client rate_pps echo requests a second. */
	t_traffic = bench_now_ms();
	atomic_store(&sh->phase, PHASE_TRAFFIC);
	while (!s_interrupted && bench_now_ms() - t_traffic < a.duration_s * 1000u)
		s_nap(PARENT_TICK_MS);
	atomic_store(&sh->phase, PHASE_DRAIN);
	secs = (double)(bench_now_ms() - t_traffic) / 1000.0;
	gw2 = s_tree(gateway);
	s_nap(DRAIN_MS);
	t1 = s_totals(sh, a.workers);
	view1 = s_gateway_view(a.bin_dir, dir, (unsigned)a.gw_workers);
	if (!s_alive(&gateway, "floe-gateway", &errors) || !s_alive(&portal, "floe-portal", &errors))
		goto stop;

	dn = (double)t.connected;
	s_section(&o, "setup");
	s_kv(&o, "n=%zu", a.n);
	s_kv(&o, "client_workers=%zu", a.workers);
	s_kv(&o, "inflight=%zu", a.inflight_per_worker * a.workers);
	s_kv(&o, "gateway_workers=%lu", a.gw_workers);
	s_kv(&o, "connected=%llu", (unsigned long long)t.connected);
	s_kv(&o, "connected_at_gateway=%ld", view0.connected);
	s_kv(&o, "failures=%llu", (unsigned long long)t1.failed);
	s_kv(&o, "setup_s=%.3f", (double)setup_ms / 1000.0);
	s_kv(&o, "setup_per_s=%.1f", s_per((double)t.connected * 1000.0, (double)setup_ms));
	s_kv(&o, "time_to_all_connected_ms=%llu", (unsigned long long)(all ? setup_ms : 0));
	s_section(&o, "traffic");
	s_kv(&o, "duration_s=%.1f", secs);
	s_kv(&o, "rate_pps_per_conn=%g", a.rate_pps);
	s_kv(&o, "sent_pps=%.0f", (double)t1.tx / secs);
	s_kv(&o, "echoed_pps=%.0f", (double)t1.rx / secs);
	s_kv(&o, "echo_mbit_s=%.3f", (double)t1.rx * PKT_BYTES * 8.0 / secs / 1e6);
	s_kv(&o, "sent=%llu", (unsigned long long)t1.tx);
	s_kv(&o, "echoed=%llu", (unsigned long long)t1.rx);
	s_kv(&o, "loss_pct=%.2f", t1.tx ? 100.0 * (double)(t1.tx - (t1.rx < t1.tx ? t1.rx : t1.tx)) / (double)t1.tx : 0.0);
	s_kv(&o, "client_tx_drops=%llu", (unsigned long long)t1.tx_drops);
	s_section(&o, "gateway");
	s_kv(&o, "gw_procs=%ld", gw1.procs);
	s_kv(&o, "gw_fds=%ld", gw1.fds);
	s_kv(&o, "gw_fds_per_conn=%.2f", s_per((double)(gw1.fds - gw0.fds), dn));
	s_kv(&o, "gw_threads=%ld", gw1.threads);
	s_kv(&o, "gw_threads_per_conn=%.2f", s_per((double)(gw1.threads - gw0.threads), dn));
	s_kv(&o, "gw_rss_kib=%ld", gw1.rss_kib);
	s_kv(&o, "gw_rss_kib_per_conn=%.1f", s_per((double)(gw1.rss_kib - gw0.rss_kib), dn));
	s_kv(&o, "gw_rss_kib_after_traffic=%ld", gw2.rss_kib);
	s_kv(&o, "gw_cpu_pct_traffic=%.1f", 100.0 * (double)(gw2.cpu_ticks - gw1.cpu_ticks) / (double)hz / secs);
	s_kv(&o, "gw_connected_after_traffic=%ld", view1.connected);
	/* Where packets went missing, if they did (-1: not shown). */
	for (size_t i = 0; i < N_GW_COUNTERS; i++)
		s_kv(&o, "gw_%s=%lld", gw_counters[i], view1.connected < 0 ? -1 : view1.counters[i]);
	s_section(&o, "clients");
	s_kv(&o, "client_procs=%zu", a.workers);
	s_kv(&o, "client_fds_per_node=%.2f", s_per((double)(t1.fds - t1.base_fds), (double)a.n));
	s_kv(&o, "client_threads_per_node=%.2f", s_per((double)(t1.threads - t1.base_threads), (double)a.n));
	s_kv(&o, "client_rss_kib_per_node=%.1f", s_per((double)(t1.rss_kib - t1.base_rss_kib), (double)a.n));
	s_kv(&o, "client_max_fds_per_proc=%.0f",
	     s_per((double)(t1.fds - t1.base_fds), (double)a.n) * (double)a.per_worker);
stop:
	atomic_store(&sh->phase, PHASE_QUIT);
	deadline = bench_now_ms() + WORKER_EXIT_TIMEOUT_S * 1000u;
	for (size_t w = 0; w < a.workers; w++) {
		int st = 0;

		while (waitpid(pid[w], &st, WNOHANG) == 0 && bench_now_ms() < deadline)
			s_nap(50);
		if (bench_now_ms() >= deadline) {
			kill(pid[w], SIGKILL);
			waitpid(pid[w], &st, 0);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "bench_loadgen: client worker %zu: %s %d\n", w,
				WIFSIGNALED(st) ? "killed by signal" : "exit status",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			errors++;
		}
	}
	for (int i = 0; i < 2; i++) {
		uint64_t t_stop = bench_now_ms();
		int rc = s_stop(i ? portal : gateway);

		if (rc != 0) {
			fprintf(stderr, "bench_loadgen: %s: %s after SIGTERM (%.1f s)\n", i ? "floe-portal" : "floe-gateway",
				rc < 0 ? "killed, no exit" : "non-zero exit status", (double)(bench_now_ms() - t_stop) / 1000.0);
			errors++;
		}
	}
	t1 = s_totals(sh, a.workers);
	if (!o.line[0]) {
		errors++;
		fprintf(stderr, "bench_loadgen: the daemons did not come up\n");
	}
	if (errors || t1.failed || t.connected != a.n) {
		s_tail(dir, "floe-portal");
		s_tail(dir, "floe-gateway");
	}
	s_section(&o, "errors");
	s_kv(&o, "errors=%zu", errors);
	printf("%s\nloadgen result%s\n", o.line, o.result);
	s_remove_tmpdir();
	munmap(sh, sizeof(*sh));
	return errors || t.connected != a.n || s_interrupted ? 1 : 0;
}
