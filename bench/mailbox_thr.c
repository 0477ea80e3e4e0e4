/*
 * Mailbox throughput, in the style of libzmq's perf/inproc_thr: one
 * producer thread, one receiving actor, messages/s and Gbit/s for 64-byte
 * and 1420-byte packets, receiving one message or a batch of 32 per
 * wake-up, against raw ZeroMQ inproc PUSH/PULL (zmq_send of the bytes,
 * zmq_recv into a buffer) in the same run with the same high-water marks.
 *
 *   bench_mailbox_thr [--short] [message-count]
 *
 * The floe producer takes a pooled buffer, writes the packet into it (as a
 * TUN read would) and sends it without a copy; on a full mailbox it waits
 * for room and resends the same message (floe_mailbox_try_send), so no
 * message is dropped and both sides move exactly message-count messages.
 * As in inproc_thr, the first message is a warm-up outside the timing.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "runtime/actor.h"
#include "runtime/mailbox.h"
#include "runtime/msg.h"
#include "runtime/pool.h"

enum {
	DEFAULT_COUNT = 2000000,
	SHORT_COUNT = 500000, /* ~2 s in all on the 2-core CI machine */
	POOL_BUFS = 2 * FLOE_MAILBOX_HWM_MSGS + 64, /* the pipe's capacity + a batch in hand */
	MAX_BATCH = 32,
	WAIT_MS = 100,
	ACCEPT_PERCENT = 80,
	DONE_TIMEOUT_MS = 60000,
};

static const size_t sizes[] = { 64, 1420 };
static const int batches[] = { 1, 32 };

#define CHECK(cond, what)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "error: %s: %s (%s:%d)\n", (what), strerror(errno), \
				__FILE__, __LINE__);                                   \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

static double s_now_s(void)
{
	struct timespec ts;

	CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- raw ZeroMQ inproc PUSH/PULL ---- */

struct raw_rx {
	void *sock;
	size_t size;
	long count;
	double elapsed_s;
};

static void *s_raw_receiver(void *arg)
{
	struct raw_rx *r = arg;
	char buf[2048];
	double t0;
	long i;

	CHECK(zmq_recv(r->sock, buf, sizeof(buf), 0) == (int)r->size, "zmq_recv warm-up");
	t0 = s_now_s();
	for (i = 0; i < r->count; i++)
		CHECK(zmq_recv(r->sock, buf, sizeof(buf), 0) == (int)r->size, "zmq_recv");
	r->elapsed_s = s_now_s() - t0;
	return NULL;
}

static void s_set_int(void *sock, int opt, int v)
{
	CHECK(zmq_setsockopt(sock, opt, &v, sizeof(v)) == 0, "zmq_setsockopt");
}

static double s_run_raw(floe_ctx_t *ctx, size_t size, long count)
{
	struct raw_rx r = { .size = size, .count = count };
	void *push;
	char buf[2048];
	pthread_t t;
	long i;

	memset(buf, 0x42, sizeof(buf));
	r.sock = zmq_socket(floe_ctx_zmq(ctx), ZMQ_PULL);
	CHECK(r.sock, "zmq_socket PULL");
	s_set_int(r.sock, ZMQ_RCVHWM, FLOE_MAILBOX_RCVHWM_MSGS);
	s_set_int(r.sock, ZMQ_LINGER, 0);
	CHECK(zmq_bind(r.sock, "inproc://bench-raw") == 0, "zmq_bind");
	push = zmq_socket(floe_ctx_zmq(ctx), ZMQ_PUSH);
	CHECK(push, "zmq_socket PUSH");
	s_set_int(push, ZMQ_SNDHWM, FLOE_MAILBOX_SNDHWM_MSGS);
	s_set_int(push, ZMQ_LINGER, 0);
	CHECK(zmq_connect(push, "inproc://bench-raw") == 0, "zmq_connect");
	/* The PULL migrates to the receiver: pthread_create is the full barrier. */
	CHECK(pthread_create(&t, NULL, s_raw_receiver, &r) == 0, "pthread_create");
	for (i = 0; i <= count; i++)
		CHECK(zmq_send(push, buf, size, 0) == (int)size, "zmq_send");
	CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	CHECK(zmq_close(push) == 0, "zmq_close");
	CHECK(zmq_close(r.sock) == 0, "zmq_close");
	return (double)count / r.elapsed_s;
}

/* ---- floe mailbox: pooled zero-copy messages into an actor ---- */

struct floe_rx {
	int batch;
	size_t size;
	long count;
	double elapsed_s;
	int error;
	atomic_bool done; /* all counted: the producer may stop the actor */
};

/* Takes up to `want` messages, waiting when none is there; returns how many. */
static int s_take(floe_mailbox_t *mb, floe_msg_t **out, int want)
{
	int n;

	for (;;) {
		n = floe_mailbox_recv_batch(mb, out, want);
		if (n != 0)
			return n;
		n = floe_mailbox_wait(mb, -1);
		if (n < 0)
			return n;
	}
}

static int s_floe_receiver(floe_actor_t *self, floe_mailbox_t *mb, void *arg)
{
	struct floe_rx *r = arg;
	floe_msg_t *batch[MAX_BATCH];
	long got = -1; /* the warm-up message is number -1 */
	double t0 = 0;
	bool term = false;
	int n, i;

	floe_actor_ready(self);
	while (!term) {
		long want = r->count - got;

		/* After the count only the stop message is left to take. */
		n = s_take(mb, batch, got < 0 || want <= 0 ? 1 : (int)(want < r->batch ? want : r->batch));
		if (n < 0) {
			r->error = n;
			return n;
		}
		for (i = 0; i < n; i++) {
			if (floe_msg_is_term(batch[i]))
				term = true;
			else if (floe_msg_len(batch[i]) != r->size)
				r->error = -EPROTO;
			floe_msg_destroy(&batch[i]);
		}
		if (term)
			break;
		if (got < 0)
			t0 = s_now_s();
		got += n;
		if (got == r->count) {
			r->elapsed_s = s_now_s() - t0;
			atomic_store(&r->done, true);
		}
	}
	if (got != r->count)
		r->error = -EPROTO;
	return r->error;
}

static double s_run_floe(floe_ctx_t *ctx, floe_pool_t *pool, size_t size, int batch, long count)
{
	struct floe_rx r = { .batch = batch, .size = size, .count = count, .done = false };
	floe_actor_t *act;
	floe_mailbox_sender_t *s;
	char packet[2048];
	long i;

	memset(packet, 0x42, sizeof(packet));
	act = floe_actor_new(ctx, s_floe_receiver, &r, NULL);
	CHECK(act, "floe_actor_new");
	s = floe_mailbox_sender_new(ctx, floe_actor_endpoint(act));
	CHECK(s, "floe_mailbox_sender_new");
	for (i = 0; i <= count; i++) {
		floe_msg_t *m;
		int rc;

		while (!(m = floe_msg_new(pool, FLOE_MSG_TUN_PACKET)))
			sched_yield(); /* the receiver is returning buffers */
		memcpy(floe_msg_data(m), packet, size);
		CHECK(floe_msg_set_len(m, size) == 0, "floe_msg_set_len");
		while ((rc = floe_mailbox_try_send(s, &m)) == -EAGAIN) {
			rc = floe_mailbox_sender_wait_writable(s, WAIT_MS);
			CHECK(rc >= 0, "floe_mailbox_sender_wait_writable");
		}
		errno = -rc;
		CHECK(rc == 0, "floe_mailbox_try_send");
	}
	/*
	 * Stop only once all arrived: the stop message comes through another
	 * pipe and the mailbox fair-queues pipes, so it could overtake them.
	 */
	for (i = 0; !atomic_load(&r.done) && i < DONE_TIMEOUT_MS; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	errno = ETIMEDOUT;
	CHECK(atomic_load(&r.done), "receiver did not get every message");
	floe_mailbox_sender_destroy(&s);
	floe_actor_destroy(&act);
	errno = -r.error;
	CHECK(r.error == 0, "receiver");
	return (double)count / r.elapsed_s;
}

static double s_gbps(double msgs, size_t size)
{
	return msgs * (double)size * 8 / 1e9;
}

static void s_usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--short] [message-count]\n"
		"  message-count  messages per case (default %d, --short %d)\n",
		argv0, DEFAULT_COUNT, SHORT_COUNT);
}

int main(int argc, char **argv)
{
	long count = DEFAULT_COUNT;
	floe_ctx_t *ctx;
	floe_pool_t *pool;
	double accept_ratio = 1e9;
	int argi = 1;
	size_t si, bi;

	if (argi < argc && strcmp(argv[argi], "--short") == 0) {
		count = SHORT_COUNT;
		argi++;
	}
	if (argi < argc) {
		char *end;

		count = strtol(argv[argi], &end, 10);
		if (*end || count <= 0) {
			s_usage(argv[0]);
			return 1;
		}
		argi++;
	}
	if (argi != argc) {
		s_usage(argv[0]);
		return 1;
	}
	ctx = floe_ctx_new();
	CHECK(ctx, "floe_ctx_new");
	pool = floe_pool_new(FLOE_POOL_BUF_BYTES, POOL_BUFS);
	CHECK(pool, "floe_pool_new");

	printf("message count: %ld per case\n", count);
	for (si = 0; si < FLOE_ARRAY_LEN(sizes); si++) {
		double raw = s_run_raw(ctx, sizes[si], count);

		printf("message size: %zu [B]\n", sizes[si]);
		printf("  raw zmq inproc      mean throughput: %10.0f [msg/s] %7.3f [Gb/s]\n", raw,
		       s_gbps(raw, sizes[si]));
		for (bi = 0; bi < FLOE_ARRAY_LEN(batches); bi++) {
			double thr = s_run_floe(ctx, pool, sizes[si], batches[bi], count);
			double ratio = thr / raw;

			printf("  floe mailbox b=%-2d   mean throughput: %10.0f [msg/s] %7.3f [Gb/s]"
			       "  ratio to raw: %.2f\n",
			       batches[bi], thr, s_gbps(thr, sizes[si]), ratio);
			if (sizes[si] == 1420 && batches[bi] > 1 && ratio < accept_ratio)
				accept_ratio = ratio;
		}
	}
	printf("acceptance (batched 1420 B >= %d%% of raw): %s (%.0f%%)\n", ACCEPT_PERCENT,
	       accept_ratio * 100 >= ACCEPT_PERCENT ? "met" : "NOT met", accept_ratio * 100);

	floe_ctx_destroy(&ctx);
	errno = EBUSY;
	CHECK(floe_pool_destroy(&pool) == 0, "floe_pool_destroy");
	return 0;
}
