/*
 * Gateway memory over reconnections (issue #7). This process is the
 * gateway's: a portal and a gateway node (userspace device, ICE on
 * 127.0.0.1) whose application echoes every packet back. The clients live
 * in a child process forked before any thread exists, so that their own
 * churn (a client node, with its 8 MiB packet pool, per reconnection)
 * does not count: each client reconnects again and again as a restarted
 * floe-client would (new node, portal session, flow, a connection that
 * replaces the last one, a packet there and back). After a warm-up the
 * gateway process's RSS must stay flat. The same harness runs the
 * clients once more with the gateway held under load (cookie replies).
 *
 * Not under a sanitizer: shadow memory and quarantine make RSS meaningless
 * there (tests/daemons/node_test.c covers leaks under LeakSanitizer).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "actors/node.h"
#include "tests/actors/node_packet.h"
#include "daemons/common/malloc_tune.h"
#include "daemons/common/portal.h"
#include "tests/daemons/portal_pump.h"
#include "runtime/log.h"
#include "transport/wg/key.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RECONNECT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RECONNECT_SANITIZED 1
#endif
#endif

enum {
	WAIT_MS = 10000,
	PORTAL_POLL_MS = 10,
	CLIENTS = 4,            /* at once: connection threads overlap, as on a gateway */
	WARMUP_ROUNDS = 25,     /* allocator and table high-water marks settle */
	MEASURED_ROUNDS = 50,   /* CLIENTS x 75 = 300 reconnections in all */
	MAX_CLIENTS = 32,
	WARM_POOL_PKTS = 2 * 4096, /* twice NODE_POOL_BUFS (actors/node_priv.h) */
	/* Under load: the retry comes REKEY_TIMEOUT (5 s) + up to 333 ms of
	 * jitter after the first initiation; a second retry would be 10 s in. */
	COOKIE_RETRY_MIN_MS = 5000,
	COOKIE_RETRY_MAX_MS = 9000,
	/*
	 * Growth allowed over the measured 200 reconnections. Measured here
	 * after the warm-up: +1.0 to +1.2 MiB (~5 KiB per reconnection, and
	 * slowing: the node's inbox ring and GLib's caches still reaching
	 * their high-water marks, outside malloc). A connection costs the
	 * gateway ~110 KiB while it lives (docs/perf.md, Scale); keeping just
	 * its 64 KiB transmit buffer (tried by hand: not freeing tx_buf in
	 * actors/conn.c) made it +13.6 MiB.
	 */
	RSS_GROWTH_MAX_KIB = 1536,
};

static const char *const loopback[] = { "127.0.0.1" };

typedef struct {
	uint8_t portal_pub[32];
	uint8_t cl_sec[MAX_CLIENTS][32];
	char endpoint[128];
} child_args_t;

typedef struct {
	char dir[64], conf[128];
	uint8_t portal_sec[32];
	uint8_t gw_sec[32], gw_pub[32];
	uint8_t cl_pub[MAX_CLIENTS][32];
	child_args_t args;
	int n_clients;
	floe_portal_t *portal;
	pthread_t thread, echo;
	_Atomic bool stop;
	floe_node_t *gw;
	pid_t child;
	int to_child, from_child;
} harness_t;

static harness_t H;

static uint64_t mono_ms(void)
{
	return portal_pump_now_ms();
}

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%ld %ld", &pages, &resident), 2);
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : def;
}

static floe_node_t *start_node(floe_role_t role, const uint8_t sec[32], const child_args_t *a)
{
	char err[256];
	floe_node_config_t cfg = {
		.role = role,
		.portal_endpoint = a->endpoint,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.ice_failure_timeout_ms = 5000,
		.device = FLOE_NODE_DEVICE_USERSPACE,
	};
	floe_node_t *n;

	memcpy(cfg.private_key, sec, 32);
	memcpy(cfg.portal_public_key, a->portal_pub, 32);
	n = floe_node_new(&cfg, err, sizeof(err));
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
	return n;
}

static bool wait_welcomed(floe_node_t *n)
{
	uint64_t end = mono_ms() + WAIT_MS;

	while (!floe_node_portal_connected(n) && mono_ms() < end)
		usleep(2000);
	return floe_node_portal_connected(n);
}

/* ---- the clients' process: no Criterion assertions in here ---- */

static int read_full(int fd, void *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

typedef struct {
	const child_args_t *a;
	int k, from, to;
	int failed_at; /* -1: every reconnection carried its packet both ways */
	int max_ms;    /* the longest of them, from the client node's start */
} worker_t;

/*
 * One reconnection of client k: a fresh client node sends seq every
 * 50 ms until the gateway's echo of it comes back, then goes.
 */
static bool reconnect_once(const child_args_t *a, int k, uint32_t seq)
{
	uint8_t p[NODE_PKT_BYTES], buf[2048];
	floe_node_t *cl = start_node(FLOE_ROLE_CLIENT, a->cl_sec[k], a);
	uint64_t end = mono_ms() + WAIT_MS;
	bool ok = false;

	if (!cl || !wait_welcomed(cl))
		goto out;
	/* node_packet() without its assertions: 100.64.0.(2 + k) -> 10.1.0.5 */
	memset(p, 0, sizeof(p));
	p[0] = 0x45;
	p[3] = NODE_PKT_BYTES;
	p[8] = 64;
	p[9] = 17;
	memcpy(p + 12, (const uint8_t[]){ 100, 64, 0, (uint8_t)(2 + k) }, 4);
	memcpy(p + 16, (const uint8_t[]){ 10, 1, 0, 5 }, 4);
	p[21] = p[23] = 53;
	p[25] = 12;
	memcpy(p + NODE_PKT_SEQ_AT, &seq, 4);
	while (!ok && mono_ms() < end) {
		ssize_t len;

		if (floe_node_device_write(cl, p, sizeof(p)) < 0)
			break;
		while (!ok && (len = floe_node_device_read(cl, buf, sizeof(buf), 50)) > 0)
			ok = len == NODE_PKT_BYTES && !memcmp(buf + NODE_PKT_SEQ_AT, &seq, 4);
	}
out:
	floe_node_destroy(&cl);
	return ok;
}

static void *worker(void *arg)
{
	worker_t *w = arg;

	w->failed_at = -1;
	w->max_ms = 0;
	for (int i = w->from; i < w->to && w->failed_at < 0; i++) {
		uint64_t t0 = mono_ms();
		int ms;

		if (!reconnect_once(w->a, w->k, (uint32_t)i))
			w->failed_at = i;
		ms = (int)(mono_ms() - t0);
		if (ms > w->max_ms)
			w->max_ms = ms;
	}
	return NULL;
}

/*
 * The child: reads its arguments, then per request (int rounds) runs
 * every client for that many reconnections at once and answers with the
 * first failed reconnection or -1, then the longest reconnection in ms; a
 * request of 0 ends it.
 */
static void child_main(int in, int out)
{
	child_args_t a;
	int n_clients, rounds, done = 0;

	if (read_full(in, &n_clients, sizeof(n_clients)) < 0 || read_full(in, &a, sizeof(a)) < 0)
		_exit(2);
	floe_log_set_level(FLOE_LOG_WARNING);
	while (read_full(in, &rounds, sizeof(rounds)) == 0 && rounds > 0) {
		pthread_t th[MAX_CLIENTS];
		worker_t w[MAX_CLIENTS];
		int failed = -1, max_ms = 0;

		for (int k = 0; k < n_clients; k++) {
			w[k] = (worker_t){ .a = &a, .k = k, .from = done, .to = done + rounds };
			if (pthread_create(&th[k], NULL, worker, &w[k]) != 0)
				_exit(3);
		}
		for (int k = 0; k < n_clients; k++) {
			pthread_join(th[k], NULL);
			if (w[k].failed_at >= 0 && failed < 0)
				failed = k * 100000 + w[k].failed_at;
			if (w[k].max_ms > max_ms)
				max_ms = w[k].max_ms;
		}
		done += rounds;
		if (write(out, &failed, sizeof(failed)) != sizeof(failed) ||
		    write(out, &max_ms, sizeof(max_ms)) != sizeof(max_ms))
			_exit(4);
	}
	sodium_memzero(&a, sizeof(a));
	_exit(0);
}

/* ---- the gateway's process ---- */

static void keypair(uint8_t sec[32], uint8_t pub[32])
{
	floe_key_generate(sec);
	cr_assert_eq(floe_key_public(pub, sec), 0);
}

static void write_config(void)
{
	char priv[45], key[45];
	FILE *f = fopen(H.conf, "w");

	cr_assert_not_null(f);
	floe_key_to_base64(priv, H.portal_sec);
	floe_key_to_base64(key, H.gw_pub);
	fprintf(f,
		"[Portal]\nListenAddress = tcp://127.0.0.1:*\nPrivateKey = %s\n"
		"[Resource web]\nCIDR = 10.1.0.0/16\n"
		"[Gateway gw1]\nPublicKey = %s\nResources = web\nTunnelIPv4 = 100.64.255.1\n",
		priv, key);
	for (int k = 0; k < H.n_clients; k++) {
		floe_key_to_base64(key, H.cl_pub[k]);
		fprintf(f, "[Client c%d]\nPublicKey = %s\nTunnelIPv4 = 100.64.0.%d\n[Grant c%d-web]\nClient = c%d\nResource = web\n",
			k, key, 2 + k, k, k);
	}
	fclose(f);
	sodium_memzero(priv, sizeof(priv));
}

static void *portal_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&H.stop))
		portal_pump(H.portal, PORTAL_POLL_MS);
	return NULL;
}

/* The gateway's application: every packet back to where it came from. */
static void *echo_thread(void *arg)
{
	uint8_t buf[2048], addr[4];

	(void)arg;
	while (!atomic_load(&H.stop)) {
		ssize_t len = floe_node_device_read(H.gw, buf, sizeof(buf), 20);

		if (len != NODE_PKT_BYTES)
			continue;
		memcpy(addr, buf + 12, 4);
		memmove(buf + 12, buf + 16, 4);
		memcpy(buf + 16, addr, 4);
		(void)floe_node_device_write(H.gw, buf, (size_t)len);
	}
	return NULL;
}

/*
 * The node's packet pool hands its buffers out in FIFO order (a ring of
 * indices, runtime/pool.c), so every one of its NODE_POOL_BUFS buffers
 * (8 MiB) becomes resident after that many packets, however few are in
 * flight at once. Bounded, and any gateway with traffic gets there within
 * seconds; but at a few packets per reconnection it would take thousands
 * of reconnections here and look like a leak. So: twice round the pool
 * first, with packets for a destination no connection has (dropped and
 * counted by the gateway's node).
 */
static void warm_pool(void)
{
	uint8_t p[NODE_PKT_BYTES];
	uint64_t end = mono_ms() + WAIT_MS;
	int sent = 0;

	node_packet(p, "10.1.0.5", "100.64.9.9", 0);
	while (sent < WARM_POOL_PKTS && mono_ms() < end) {
		int rc = floe_node_device_write(H.gw, p, sizeof(p));

		if (rc == -EAGAIN)
			usleep(1000);
		else
			sent += rc == 0;
	}
	cr_assert_eq(sent, WARM_POOL_PKTS, "the gateway took %d of %d warm-up packets", sent, (int)WARM_POOL_PKTS);
}

static void setup(void)
{
	char err[FLOE_PORTAL_CONFIG_ERR_BYTES];
	floe_portal_config_t *cfg = NULL;
	int down[2], up[2];

	memset(&H, 0, sizeof(H));
#ifdef RECONNECT_SANITIZED
	return; /* the test skips: no gateway, no clients */
#endif
	H.n_clients = env_int("FLOE_RECONNECT_CLIENTS", CLIENTS);
	cr_assert(H.n_clients >= 1 && H.n_clients <= MAX_CLIENTS);
	/* Fork first: no thread of any library exists yet. */
	cr_assert_eq(pipe(down), 0);
	cr_assert_eq(pipe(up), 0);
	H.child = fork();
	cr_assert_geq(H.child, 0);
	if (H.child == 0) {
		close(down[1]);
		close(up[0]);
		child_main(down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	H.to_child = down[1];
	H.from_child = up[0];

	cr_assert_geq(sodium_init(), 0);
	floe_log_init();
	floe_log_set_level(FLOE_LOG_WARNING); /* hundreds of cycles of INFO lines say nothing here */
	/* As the daemons do at start (daemons/common/malloc_tune.c), unless
	 * FLOE_RECONNECT_UNTUNED asks for glibc's defaults (to compare). */
	if (!getenv("FLOE_RECONNECT_UNTUNED"))
		floe_malloc_tune();
	snprintf(H.dir, sizeof(H.dir), "/tmp/h25-reconnect-XXXXXX");
	cr_assert_not_null(mkdtemp(H.dir));
	snprintf(H.conf, sizeof(H.conf), "%s/portal.conf", H.dir);
	keypair(H.portal_sec, H.args.portal_pub);
	keypair(H.gw_sec, H.gw_pub);
	for (int k = 0; k < H.n_clients; k++)
		keypair(H.args.cl_sec[k], H.cl_pub[k]);
	write_config();
	cr_assert_eq(floe_portal_config_load(H.conf, &cfg, err), 0, "%s", err);
	H.portal = floe_portal_new(&cfg, mono_ms());
	cr_assert_not_null(H.portal, "portal: %s", strerror(errno));
	snprintf(H.args.endpoint, sizeof(H.args.endpoint), "%s", floe_portal_endpoint(H.portal));
	cr_assert_eq(pthread_create(&H.thread, NULL, portal_thread, NULL), 0);
	H.gw = start_node(FLOE_ROLE_GATEWAY, H.gw_sec, &H.args);
	cr_assert_not_null(H.gw);
	cr_assert(wait_welcomed(H.gw), "the gateway was welcomed");
	warm_pool();
	cr_assert_eq(pthread_create(&H.echo, NULL, echo_thread, NULL), 0);
	cr_assert_eq(write(H.to_child, &H.n_clients, sizeof(H.n_clients)), (ssize_t)sizeof(H.n_clients));
	cr_assert_eq(write(H.to_child, &H.args, sizeof(H.args)), (ssize_t)sizeof(H.args));
}

static void teardown(void)
{
	char cmd[128];
	int status = 0;

	if (H.child > 0) {
		close(H.to_child); /* the child ends at EOF */
		close(H.from_child);
		if (waitpid(H.child, &status, WNOHANG) == 0) {
			usleep(200000);
			if (waitpid(H.child, &status, WNOHANG) == 0) {
				kill(H.child, SIGKILL);
				waitpid(H.child, &status, 0);
			}
		}
	}
	atomic_store(&H.stop, true);
	if (H.gw)
		pthread_join(H.echo, NULL);
	floe_node_destroy(&H.gw);
	if (H.portal) {
		pthread_join(H.thread, NULL);
		floe_portal_destroy(&H.portal);
	}
	if (H.dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", H.dir);
		cr_assert_eq(system(cmd), 0);
	}
	/* The keys, the clients' copy included (args). */
	sodium_memzero(&H, offsetof(harness_t, n_clients));
}

/* Every client reconnects `rounds` times, the clients at once; returns
 * the longest reconnection (ms). */
static int run_rounds(int rounds)
{
	int failed = 0, max_ms = 0;

	cr_assert_eq(write(H.to_child, &rounds, sizeof(rounds)), (ssize_t)sizeof(rounds));
	cr_assert_eq(read_full(H.from_child, &failed, sizeof(failed)), 0, "the clients' process died");
	cr_assert_eq(read_full(H.from_child, &max_ms, sizeof(max_ms)), 0, "the clients' process died");
	cr_assert_eq(failed, -1, "client %d: reconnection %d carried no packet both ways within %d ms",
		     failed / 100000, failed % 100000, (int)WAIT_MS);
	return max_ms;
}

TestSuite(reconnect_mem, .init = setup, .fini = teardown, .timeout = 240);

Test(reconnect_mem, gateway_rss_flat_over_reconnections)
{
	int warm = env_int("FLOE_RECONNECT_WARMUP", WARMUP_ROUNDS);
	int rounds = env_int("FLOE_RECONNECT_ROUNDS", MEASURED_ROUNDS);
	int step = env_int("FLOE_RECONNECT_STEP", rounds);
	bool verbose = getenv("FLOE_RECONNECT_VERBOSE") != NULL;
	long rss0, rss1, rss_fresh = rss_kib();
	uint64_t t0 = mono_ms(), end;
	size_t conns;

#ifdef RECONNECT_SANITIZED
	cr_skip_test("RSS means nothing under a sanitizer (shadow memory, quarantine)");
	return;
#endif
	cr_assert(warm > 0 && rounds > 0 && step > 0);
	run_rounds(warm);
	rss0 = rss_kib();
	for (int done = 0; done < rounds; done += step) {
		run_rounds(step < rounds - done ? step : rounds - done);
		if (verbose) {
			struct mallinfo2 mi = mallinfo2();

			fprintf(stderr, "reconnect_mem: %d reconnections: gateway RSS %ld KiB, malloc: in use %zu KiB, free %zu KiB, mmapped %zu KiB\n",
				H.n_clients * (warm + done + step), rss_kib(), mi.uordblks / 1024, mi.fordblks / 1024,
				mi.hblkhd / 1024);
		}
	}
	rss1 = rss_kib();
	/* The gateway keeps at most one connection per client: the others ended. */
	end = mono_ms() + WAIT_MS;
	while ((conns = floe_node_connections(H.gw, NULL)) > (size_t)H.n_clients && mono_ms() < end)
		usleep(10000);
	fprintf(stderr, "reconnect_mem: %d clients x (%d + %d) reconnections in %.1f s, gateway RSS %ld -> %ld -> %ld KiB (+%ld KiB measured)\n",
		H.n_clients, warm, rounds, (double)(mono_ms() - t0) / 1000.0, rss_fresh, rss0, rss1, rss1 - rss0);
	cr_assert_leq(conns, (size_t)H.n_clients, "the gateway still holds %zu connections", conns);
	cr_assert_lt(rss1 - rss0, RSS_GROWTH_MAX_KIB,
		     "gateway RSS grew %ld KiB over %d reconnections after a warm-up of %d (limit %d KiB)",
		     rss1 - rss0, H.n_clients * rounds, H.n_clients * warm, (int)RSS_GROWTH_MAX_KIB);
}

/*
 * Under load (a flood would put it there) every client's first
 * initiation only earns a cookie reply, and its retry, WireGuard's
 * REKEY_TIMEOUT (5 s) later, carries MAC2: one round trip more, never
 * two, and the admission's cookie replies count in cookie_replies_sent
 * (they did not: 0 here). The gateway's cookie binds to the connection
 * because across NATs it often does not know its path yet when the first
 * initiation arrives (bound to the path's remote address, the retry then
 * failed and a third initiation came 10 s in); on loopback the path is
 * there first, so that race shows in system/flood (b2), not here.
 */
Test(reconnect_mem, under_load_one_cookie_round_trip)
{
	floe_counters_snapshot_t s;
	int max_ms;

#ifdef RECONNECT_SANITIZED
	cr_skip_test("the gateway is not set up under a sanitizer (see the suite)");
	return;
#endif
	floe_node_force_under_load(H.gw, true);
	max_ms = run_rounds(1);
	floe_node_force_under_load(H.gw, false);
	floe_node_counters(H.gw, &s);
	fprintf(stderr, "reconnect_mem: under load %d clients connected, the slowest in %d ms, %llu cookie replies\n",
		H.n_clients, max_ms, (unsigned long long)s.v[FLOE_COUNTER_COOKIE_REPLIES_SENT]);
	cr_assert_geq(max_ms, COOKIE_RETRY_MIN_MS, "a handshake under load needs the retry (%d ms)", max_ms);
	cr_assert_lt(max_ms, COOKIE_RETRY_MAX_MS, "one cookie round trip at most (%d ms)", max_ms);
	cr_assert_geq(s.v[FLOE_COUNTER_COOKIE_REPLIES_SENT], (uint64_t)H.n_clients,
		      "a cookie reply per client counted (%llu)", (unsigned long long)s.v[FLOE_COUNTER_COOKIE_REPLIES_SENT]);
}
