/*
 * Connection set-up time, in the style of libzmq's perf/: how long from
 * the intent to connect (both connection actors created, the client's
 * first packet handed to its device, ICE credentials sent through the
 * "portal") until that packet is delivered at the gateway's device.
 *
 *   bench_conn_setup [--short] [connections] [concurrency]
 *
 * A client and a gateway connection actor run in this process with real
 * libnice agents on loopback; signalling passes between them in memory and
 * this program's own mailboxes are both ends' packet devices (the same
 * set-up as tests/actors/pair_harness.h, written again here without
 * Criterion). Each set-up is timed in phases:
 *
 *   intent -> nominated      bare ICE: the baseline, measured in the same run
 *   intent -> established    + the WireGuard handshake over the nominated path
 *   intent -> delivered      + the buffered packet through both actors
 *
 * so the WireGuard + actor overhead is the difference between the first
 * and the last. Connections are torn down after each set-up, outside the
 * timing; the set-up rate counts the wall time of the whole run, teardown
 * included. As in libzmq's perf/, one warm-up set-up is excluded, every
 * return code is checked, and a failed set-up is an error (exit 1): on
 * loopback it means the benchmark or the actor is broken, not the machine.
 */
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "actors/conn.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "runtime/mailbox.h"
#include "transport/wg/key.h"

enum {
	DEFAULT_CONNECTIONS = 200,
	SHORT_CONNECTIONS = 20,
	WARMUP_CONNECTIONS = 1,
	MAX_CONNECTIONS = 100000,
	MAX_CONCURRENCY = 16,
	POOL_BUFS = 1024,
	RECV_BATCH_MSGS = 64,
	POLL_MS = 2,
	ICE_FAILURE_TIMEOUT_MS = 5000,
	SETUP_TIMEOUT_MS = 15000,  /* beyond the ICE failure timeout: a hang, not a slow set-up */
	PKT_BYTES = 24,            /* IPv4 header + a 4-byte sequence number */
	CLIENT = 0,
	GATEWAY = 1,
};

/* The phases of one set-up, in the order they complete. */
enum phase {
	PHASE_NOMINATED = 0,
	PHASE_ESTABLISHED,
	PHASE_DELIVERED,
	PHASE_COUNT,
};

static const char *const phase_names[PHASE_COUNT] = {
	"ice-nominated", "wg-established", "first-packet",
};

static const char *const loopback[] = { "127.0.0.1" };

#define CHECK(cond, what)                                                                  \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "bench_conn_setup: error: %s: %s (%s:%d)\n", (what), \
				strerror(errno), __FILE__, __LINE__);                      \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

typedef enum {
	SLOT_IDLE = 0,
	SLOT_RUNNING,
} slot_state_t;

/* One client/gateway pair; with concurrency K there are K of them. */
typedef struct {
	slot_state_t state;
	floe_wg_device_t *dev[2];
	uint8_t pub[2][FLOE_WG_KEY_LEN];
	floe_mailbox_t *parent[2]; /* events and device packets of each end */
	floe_conn_t *conn[2];
	floe_mailbox_sender_t *to[2];
	uint32_t seq;              /* the packet this set-up waits for */
	bool warmup;
	uint64_t t0_ns;
	uint64_t t_ns[PHASE_COUNT]; /* 0 until the phase is reached */
} slot_t;

typedef struct {
	floe_ctx_t *ctx;
	floe_pool_t *pool;
	floe_clock_t *clock;
	slot_t slots[MAX_CONCURRENCY];
	int n_slots;
	/* Results, one entry per measured set-up, in ms. */
	double *ms[PHASE_COUNT];
	int n_done;
	int n_failed;
} bench_t;

static uint64_t s_now(bench_t *b)
{
	return floe_clock_now_ns(b->clock);
}

static void s_slot_init(bench_t *b, slot_t *s)
{
	uint8_t priv[FLOE_WG_KEY_LEN];

	for (int side = 0; side < 2; side++) {
		floe_key_generate(priv);
		CHECK(floe_key_public(s->pub[side], priv) == 0, "floe_key_public");
		s->dev[side] = floe_wg_device_new(priv);
		sodium_memzero(priv, sizeof(priv));
		CHECK(s->dev[side], "floe_wg_device_new");
		s->parent[side] = floe_mailbox_new(b->ctx);
		CHECK(s->parent[side], "floe_mailbox_new");
	}
}

static void s_send(slot_t *s, int side, floe_msg_t *m)
{
	int rc;

	CHECK(m, "building a message");
	rc = floe_mailbox_send(s->to[side], &m);
	errno = -rc;
	CHECK(rc == 0, "floe_mailbox_send");
}

static uint64_t s_tag(uint32_t seq, int side)
{
	return ((uint64_t)seq << 1) | (uint64_t)side;
}

/*
 * Destroying joins the actors; what they sent before exiting is dropped
 * here so the next set-up starts with empty mailboxes (a late candidate of
 * a dead agent would only cost the next one useless checks).
 */
static void s_slot_stop(slot_t *s)
{
	floe_msg_t *batch[RECV_BATCH_MSGS];
	int n;

	for (int side = 0; side < 2; side++) {
		floe_mailbox_sender_destroy(&s->to[side]);
		floe_conn_destroy(&s->conn[side]);
	}
	for (int side = 0; side < 2; side++)
		while ((n = floe_mailbox_recv_batch(s->parent[side], batch, RECV_BATCH_MSGS)) > 0)
			for (int k = 0; k < n; k++)
				floe_msg_destroy(&batch[k]);
	s->state = SLOT_IDLE;
}

static floe_msg_t *s_packet(bench_t *b, uint32_t seq)
{
	floe_msg_t *m = floe_msg_new(b->pool, FLOE_MSG_TUN_PACKET);
	uint8_t *d;

	CHECK(m, "floe_msg_new");
	d = floe_msg_data(m);
	memset(d, 0, PKT_BYTES);
	d[0] = 0x45;           /* IPv4, 20-byte header */
	d[3] = PKT_BYTES;      /* total length */
	d[8] = 64;             /* TTL */
	d[9] = 17;             /* UDP, nominally */
	d[12] = 100; d[13] = 64; d[14] = 0; d[15] = 2; /* client */
	d[16] = 100; d[17] = 64; d[18] = 0; d[19] = 3; /* gateway */
	memcpy(d + 20, &seq, sizeof(seq));
	CHECK(floe_msg_set_len(m, PKT_BYTES) == 0, "floe_msg_set_len");
	return m;
}

/* The intent: both ends created, the first packet queued, credentials sent. */
static void s_slot_start(bench_t *b, slot_t *s, uint32_t seq, bool warmup)
{
	s->seq = seq;
	s->warmup = warmup;
	memset(s->t_ns, 0, sizeof(s->t_ns));
	s->t0_ns = s_now(b);
	for (int side = 0; side < 2; side++) {
		floe_conn_config_t cfg = {
			.role = side == CLIENT ? FLOE_ROLE_CLIENT : FLOE_ROLE_GATEWAY,
			.tag = s_tag(seq, side),
			.cid = side == CLIENT ? "bench-client" : "bench-gateway",
			.client_id = "bench",
			.wg_device = s->dev[side],
			.ice = {
				.role = side == CLIENT ? FLOE_ICE_CONTROLLING : FLOE_ICE_CONTROLLED,
				.local_addrs = loopback,
				.n_local_addrs = 1,
				.failure_timeout_ms = ICE_FAILURE_TIMEOUT_MS,
			},
			.parent_endpoint = floe_mailbox_endpoint(s->parent[side]),
			.pool = b->pool,
		};

		memcpy(cfg.peer_public_key, s->pub[1 - side], FLOE_WG_KEY_LEN);
		memset(cfg.preshared_key, 0x42, FLOE_WG_KEY_LEN);
		s->conn[side] = floe_conn_new(b->ctx, &cfg);
		sodium_memzero(cfg.preshared_key, sizeof(cfg.preshared_key));
		CHECK(s->conn[side], "floe_conn_new");
		s->to[side] = floe_mailbox_sender_new(b->ctx, floe_conn_endpoint(s->conn[side]));
		CHECK(s->to[side], "floe_mailbox_sender_new");
	}
	/* Buffered by the client until ICE nominates and the handshake completes. */
	s_send(s, CLIENT, s_packet(b, seq));
	for (int side = 0; side < 2; side++)
		s_send(s, side, floe_conn_msg_credentials(floe_conn_local_ufrag(s->conn[1 - side]),
							  floe_conn_local_pwd(s->conn[1 - side])));
	s->state = SLOT_RUNNING;
}

static void s_slot_finish(bench_t *b, slot_t *s, bool ok)
{
	if (!ok)
		b->n_failed++;
	else if (!s->warmup) {
		for (int ph = 0; ph < PHASE_COUNT; ph++)
			b->ms[ph][b->n_done] = (double)(s->t_ns[ph] - s->t0_ns) / (double)FLOE_NS_PER_MS;
		b->n_done++;
	}
	s_slot_stop(s);
}

static void s_mark(bench_t *b, slot_t *s, enum phase ph)
{
	if (!s->t_ns[ph])
		s->t_ns[ph] = s_now(b);
}

static void s_handle(bench_t *b, slot_t *s, int side, floe_msg_t **m_p)
{
	floe_msg_t *m = *m_p;

	/* Stragglers of an earlier set-up of this slot. */
	if (floe_msg_type(m) != FLOE_MSG_CONTROL && floe_msg_arg(m) != s_tag(s->seq, side)) {
		floe_msg_destroy(m_p);
		return;
	}
	switch (floe_msg_type(m)) {
	case FLOE_CONN_EV_LOCAL_CANDIDATE: {
		const char *line = floe_conn_msg_text(m);

		CHECK(line, "malformed candidate event");
		if (s->conn[1 - side])
			s_send(s, 1 - side, floe_conn_msg_candidate(line));
		break;
	}
	case FLOE_CONN_EV_NOMINATED:
		/* The controlling end (the client) decides the pair. */
		if (side == CLIENT)
			s_mark(b, s, PHASE_NOMINATED);
		break;
	case FLOE_CONN_EV_ESTABLISHED:
		if (side == CLIENT)
			s_mark(b, s, PHASE_ESTABLISHED);
		break;
	case FLOE_CONN_EV_FAILED: {
		const char *why = floe_conn_msg_text(m);

		if (s->state == SLOT_RUNNING) {
			fprintf(stderr, "bench_conn_setup: set-up %u failed at the %s: %s\n", s->seq,
				side == CLIENT ? "client" : "gateway", why ? why : "?");
			floe_msg_destroy(m_p);
			s_slot_finish(b, s, false);
			return;
		}
		break;
	}
	case FLOE_CONN_DELIVER: {
		uint32_t seq;

		if (side == GATEWAY && floe_msg_len(m) == PKT_BYTES && s->state == SLOT_RUNNING) {
			memcpy(&seq, floe_msg_data(m) + 20, sizeof(seq));
			if (seq == s->seq) {
				s_mark(b, s, PHASE_DELIVERED);
				/* A delivery implies the earlier phases even if their
				 * events are still queued behind it. */
				s_mark(b, s, PHASE_ESTABLISHED);
				s_mark(b, s, PHASE_NOMINATED);
			}
		}
		break;
	}
	default:
		break;
	}
	floe_msg_destroy(m_p);
}

/* Drains every slot's mailboxes once, waiting up to POLL_MS for the first. */
static void s_pump(bench_t *b)
{
	zmq_pollitem_t items[2 * MAX_CONCURRENCY];
	floe_msg_t *batch[RECV_BATCH_MSGS];
	int n_items = 0;

	for (int i = 0; i < b->n_slots; i++)
		for (int side = 0; side < 2; side++)
			floe_mailbox_pollitem(b->slots[i].parent[side], &items[n_items++]);
	CHECK(zmq_poll(items, n_items, POLL_MS) >= 0, "zmq_poll");
	for (int i = 0; i < b->n_slots; i++) {
		slot_t *s = &b->slots[i];

		for (int side = 0; side < 2; side++) {
			int n = floe_mailbox_recv_batch(s->parent[side], batch, RECV_BATCH_MSGS);

			errno = n < 0 ? -n : 0;
			CHECK(n >= 0, "floe_mailbox_recv_batch");
			for (int k = 0; k < n; k++)
				s_handle(b, s, side, &batch[k]);
		}
		if (s->state == SLOT_RUNNING && s->t_ns[PHASE_DELIVERED])
			s_slot_finish(b, s, true);
		else if (s->state == SLOT_RUNNING &&
			 s_now(b) - s->t0_ns > (uint64_t)SETUP_TIMEOUT_MS * FLOE_NS_PER_MS) {
			fprintf(stderr, "bench_conn_setup: set-up %u timed out after %d ms\n", s->seq,
				SETUP_TIMEOUT_MS);
			s_slot_finish(b, s, false);
		}
	}
}

static int s_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double s_pct(const double *v, int n, int pct)
{
	int rank = (pct * n + 99) / 100;

	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

static void s_usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--short] [connections] [concurrency]\n"
		"  connections  measured set-ups (default %d, --short %d; one warm-up excluded)\n"
		"  concurrency  set-ups in flight at once, 1..%d (default 1: sequential)\n",
		prog, DEFAULT_CONNECTIONS, SHORT_CONNECTIONS, MAX_CONCURRENCY);
	exit(2);
}

static long s_arg(const char *s, long lo, long hi, const char *prog)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		s_usage(prog);
	return v;
}

int main(int argc, char **argv)
{
	bench_t b = { 0 };
	long connections = DEFAULT_CONNECTIONS, concurrency = 1;
	int pos = 0, started = 0, total, running;
	uint64_t t_start = 0;
	double wall_s, p50[PHASE_COUNT];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--short"))
			connections = SHORT_CONNECTIONS;
		else if (argv[i][0] == '-')
			s_usage(argv[0]);
		else if (pos == 0 && ++pos)
			connections = s_arg(argv[i], 1, MAX_CONNECTIONS, argv[0]);
		else if (pos == 1 && ++pos)
			concurrency = s_arg(argv[i], 1, MAX_CONCURRENCY, argv[0]);
		else
			s_usage(argv[0]);
	}

	CHECK(sodium_init() >= 0, "sodium_init");
	floe_log_init();
	/* Per-connection info lines would swamp the figures; FLOE_LOG overrides. */
	if (!getenv("FLOE_LOG"))
		floe_log_set_level(FLOE_LOG_WARNING);
	b.ctx = floe_ctx_new();
	CHECK(b.ctx, "floe_ctx_new");
	b.pool = floe_pool_new(FLOE_POOL_BUF_BYTES, POOL_BUFS);
	CHECK(b.pool, "floe_pool_new");
	b.clock = floe_clock_new_monotonic();
	CHECK(b.clock, "floe_clock_new_monotonic");
	for (int ph = 0; ph < PHASE_COUNT; ph++) {
		b.ms[ph] = calloc((size_t)connections, sizeof(double));
		CHECK(b.ms[ph], "calloc");
	}
	b.n_slots = (int)concurrency;
	for (int i = 0; i < b.n_slots; i++)
		s_slot_init(&b, &b.slots[i]);

	printf("connections: %ld measured + %d warm-up, concurrency %ld, loopback, "
	       "ICE failure timeout %d [ms]\n", connections, WARMUP_CONNECTIONS, concurrency,
	       ICE_FAILURE_TIMEOUT_MS);
	fflush(stdout);

	/* Warm-up: one set-up alone, so the first-time costs stay out. */
	s_slot_start(&b, &b.slots[0], 0, true);
	while (b.slots[0].state == SLOT_RUNNING)
		s_pump(&b);
	errno = EPROTO;
	CHECK(b.n_failed == 0, "the warm-up set-up failed");

	total = (int)connections;
	t_start = s_now(&b);
	do {
		running = 0;
		for (int i = 0; i < b.n_slots; i++) {
			slot_t *s = &b.slots[i];

			if (s->state == SLOT_IDLE && started < total)
				s_slot_start(&b, s, (uint32_t)++started, false);
			running += s->state == SLOT_RUNNING;
		}
		if (running)
			s_pump(&b);
	} while (running);
	wall_s = (double)(s_now(&b) - t_start) / 1e9;

	if (b.n_failed) {
		fprintf(stderr, "bench_conn_setup: %d of %d set-ups failed\n", b.n_failed, total);
		return 1;
	}
	printf("%-16s %10s %10s %10s %10s %10s\n", "phase (intent->)", "p50 [ms]", "p90 [ms]",
	       "p99 [ms]", "max [ms]", "mean [ms]");
	for (int ph = 0; ph < PHASE_COUNT; ph++) {
		double *v = b.ms[ph], sum = 0;

		qsort(v, (size_t)b.n_done, sizeof(double), s_cmp_double);
		for (int i = 0; i < b.n_done; i++)
			sum += v[i];
		p50[ph] = s_pct(v, b.n_done, 50);
		printf("%-16s %10.2f %10.2f %10.2f %10.2f %10.2f\n", phase_names[ph], p50[ph],
		       s_pct(v, b.n_done, 90), s_pct(v, b.n_done, 99), v[b.n_done - 1],
		       sum / b.n_done);
	}
	printf("overhead over bare ICE (p50): wg handshake %.2f [ms], + first packet %.2f [ms]; "
	       "ratio first-packet/ice p50: %.2f\n",
	       p50[PHASE_ESTABLISHED] - p50[PHASE_NOMINATED],
	       p50[PHASE_DELIVERED] - p50[PHASE_ESTABLISHED],
	       p50[PHASE_DELIVERED] / p50[PHASE_NOMINATED]);
	printf("set-up rate: %.1f [set-ups/s] (%d in %.2f [s], teardown included)\n",
	       b.n_done / wall_s, b.n_done, wall_s);

	for (int i = 0; i < b.n_slots; i++) {
		slot_t *s = &b.slots[i];

		s_slot_stop(s);
		for (int side = 0; side < 2; side++) {
			floe_mailbox_destroy(&s->parent[side]);
			floe_wg_device_destroy(&s->dev[side]);
		}
	}
	for (int ph = 0; ph < PHASE_COUNT; ph++)
		free(b.ms[ph]);
	floe_ctx_destroy(&b.ctx);
	errno = EBUSY;
	CHECK(floe_pool_destroy(&b.pool) == 0, "pooled buffers still out");
	floe_clock_destroy(&b.clock);
	return 0;
}
