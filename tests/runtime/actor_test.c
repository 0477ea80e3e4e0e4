/*
 * Actors: synchronous start, stop by message under load, init failure,
 * supervision of children that finish or fail, resources released
 * (threads, fds, pooled buffers), counters read while actors write them.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/actor.h"

static floe_ctx_t *ctx;
static floe_pool_t *pool;

enum { POOL_BUFS = 4096 };

static void setup(void)
{
	ctx = floe_ctx_new();
	cr_assert_not_null(ctx);
	pool = floe_pool_new(FLOE_POOL_BUF_BYTES, POOL_BUFS);
	cr_assert_not_null(pool);
}

static void teardown(void)
{
	floe_ctx_destroy(&ctx);
	cr_assert_eq(floe_pool_available(pool), POOL_BUFS, "every buffer is back");
	cr_assert_eq(floe_pool_destroy(&pool), 0);
}

TestSuite(actor, .init = setup, .fini = teardown, .timeout = 120);

static int s_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Consumes until TERM; counts packets; an "exit" control (code 100 + status) ends it early. */
enum { CODE_EXIT = FLOE_CONTROL_USER_FIRST };

struct consumer_args {
	atomic_int started;
	atomic_int terms;
};

static int s_consumer(floe_actor_t *self, floe_mailbox_t *mb, void *arg)
{
	struct consumer_args *a = arg;
	floe_counters_t *c = floe_actor_counters(self);
	floe_msg_t *batch[32];
	int rc = 1, n, i;

	if (a)
		atomic_fetch_add(&a->started, 1);
	floe_actor_ready(self);
	while (rc == 1) {
		if (floe_mailbox_wait(mb, -1) < 0)
			return -EIO;
		n = floe_mailbox_recv_batch(mb, batch, 32);
		for (i = 0; i < n; i++) {
			if (floe_msg_is_term(batch[i])) {
				if (a)
					atomic_fetch_add(&a->terms, 1);
				rc = 0;
			} else if (floe_msg_type(batch[i]) == FLOE_MSG_CONTROL &&
				   floe_msg_code(batch[i]) == CODE_EXIT && rc == 1) {
				rc = floe_msg_status(batch[i]);
			} else {
				floe_counters_inc(c, FLOE_COUNTER_RX_PACKETS);
				floe_counters_add(c, FLOE_COUNTER_RX_BYTES, floe_msg_len(batch[i]));
			}
			/* Everything in the batch is ours, also after a TERM. */
			floe_msg_destroy(&batch[i]);
		}
	}
	return rc;
}

Test(actor, start_is_synchronous_and_stop_is_a_message)
{
	struct consumer_args a;
	floe_actor_opts_t opts = { .name = "floe-test-actor", .stack_bytes = FLOE_ACTOR_STACK_CONN_BYTES };
	floe_actor_t *act;

	atomic_init(&a.started, 0);
	atomic_init(&a.terms, 0);
	act = floe_actor_new(ctx, s_consumer, &a, &opts);
	cr_assert_not_null(act);
	cr_assert_eq(atomic_load(&a.started), 1, "the function ran before new returned");
	cr_assert_eq(floe_actor_state(act), FLOE_ACTOR_RUNNING);
	cr_assert_gt(floe_actor_id(act), 0);
	cr_assert_eq(floe_actor_ctx(act), ctx);
	cr_assert_eq(strncmp(floe_actor_endpoint(act), "inproc://", 9), 0);
	cr_assert(!floe_actor_stop_requested(act));
	floe_actor_destroy(&act);
	cr_assert_null(act);
	cr_assert_eq(atomic_load(&a.terms), 1, "stopped by exactly one TERM message");
	floe_actor_destroy(&act);
	floe_actor_destroy(NULL);
}

static int s_fails_to_start(floe_actor_t *self, floe_mailbox_t *mb, void *arg)
{
	return -EADDRINUSE;
}

static int s_returns_zero_unready(floe_actor_t *self, floe_mailbox_t *mb, void *arg)
{
	return 0;
}

Test(actor, init_failure_is_reported_by_new)
{
	floe_actor_opts_t tiny = { .stack_bytes = 1024 };

	errno = 0;
	cr_assert_null(floe_actor_new(ctx, s_fails_to_start, NULL, NULL));
	cr_assert_eq(errno, EADDRINUSE);
	cr_assert_null(floe_actor_new(ctx, s_returns_zero_unready, NULL, NULL));
	cr_assert_eq(errno, ECHILD);
	cr_assert_null(floe_actor_new(ctx, s_consumer, NULL, &tiny));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(floe_actor_new(NULL, s_consumer, NULL, NULL));
	cr_assert_null(floe_actor_new(ctx, NULL, NULL, NULL));
}

/* Supervision: children that finish (0) or fail (-EIO) are reported to the parent. */
Test(actor, supervisor_notices_exiting_and_failing_children)
{
	floe_mailbox_t *parent = floe_mailbox_new(ctx);
	floe_actor_opts_t opts = { .stack_bytes = FLOE_ACTOR_STACK_CONN_BYTES };
	floe_actor_t *ok, *bad, *stopped;
	floe_mailbox_sender_t *to_ok, *to_bad;
	floe_msg_t *m;
	int seen = 0, i;

	cr_assert_not_null(parent);
	opts.parent_endpoint = floe_mailbox_endpoint(parent);
	ok = floe_actor_new(ctx, s_consumer, NULL, &opts);
	bad = floe_actor_new(ctx, s_consumer, NULL, &opts);
	stopped = floe_actor_new(ctx, s_consumer, NULL, &opts);
	cr_assert_not_null(ok);
	cr_assert_not_null(bad);
	cr_assert_not_null(stopped);

	/* A stop the parent asks for is not reported back. */
	floe_actor_destroy(&stopped);
	cr_assert_eq(floe_mailbox_recv(parent, &m, 100), -EAGAIN);

	to_ok = floe_mailbox_sender_new(ctx, floe_actor_endpoint(ok));
	to_bad = floe_mailbox_sender_new(ctx, floe_actor_endpoint(bad));
	cr_assert_not_null(to_ok);
	cr_assert_not_null(to_bad);
	m = floe_msg_new_control(CODE_EXIT, 0, 0);
	cr_assert_eq(floe_mailbox_send(to_ok, &m), 0);
	m = floe_msg_new_control(CODE_EXIT, 0, -EIO);
	cr_assert_eq(floe_mailbox_send(to_bad, &m), 0);

	for (i = 0; i < 2; i++) {
		cr_assert_eq(floe_mailbox_recv(parent, &m, 10000), 0, "notice %d arrives", i);
		cr_assert_eq(floe_msg_type(m), FLOE_MSG_CONTROL);
		cr_assert_eq(floe_msg_code(m), FLOE_CONTROL_CHILD_EXITED);
		if (floe_msg_arg(m) == floe_actor_id(ok)) {
			cr_assert_eq(floe_msg_status(m), 0);
			seen |= 1;
		} else {
			cr_assert_eq(floe_msg_arg(m), floe_actor_id(bad));
			cr_assert_eq(floe_msg_status(m), -EIO);
			seen |= 2;
		}
		floe_msg_destroy(&m);
	}
	cr_assert_eq(seen, 3);
	cr_assert_eq(floe_actor_state(ok), FLOE_ACTOR_EXITED);
	cr_assert_eq(floe_actor_status(bad), -EIO);
	floe_mailbox_sender_destroy(&to_ok);
	floe_mailbox_sender_destroy(&to_bad);
	/* Releasing exited children joins at once. */
	floe_actor_destroy(&ok);
	floe_actor_destroy(&bad);
	cr_assert_eq(floe_mailbox_recv(parent, &m, 50), -EAGAIN, "one notice per child");
	floe_mailbox_destroy(&parent);
}

/* Never reads its mailbox: stops only through floe_actor_stop_requested(). */
static int s_deaf(floe_actor_t *self, floe_mailbox_t *mb, void *arg)
{
	floe_actor_ready(self);
	while (!floe_actor_stop_requested(self))
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	return 0;
}

Test(actor, destroy_with_full_mailbox_returns_buffers)
{
	floe_actor_t *act = floe_actor_new(ctx, s_deaf, NULL, NULL);
	floe_mailbox_sender_t *s;
	int i, sent = 0;

	cr_assert_not_null(act);
	s = floe_mailbox_sender_new(ctx, floe_actor_endpoint(act));
	cr_assert_not_null(s);
	for (i = 0; i < FLOE_MAILBOX_HWM_MSGS + 100; i++) {
		floe_msg_t *m = floe_msg_new(pool, FLOE_MSG_TUN_PACKET);

		cr_assert_not_null(m);
		cr_assert_eq(floe_msg_set_len(m, 1420), 0);
		sent += floe_mailbox_send(s, &m) == 0;
		cr_assert_null(m);
	}
	cr_assert_eq(sent, FLOE_MAILBOX_HWM_MSGS);
	cr_assert_eq(floe_mailbox_sender_drops(s), 100);
	cr_assert_eq(floe_pool_available(pool), POOL_BUFS - FLOE_MAILBOX_HWM_MSGS);
	floe_mailbox_sender_destroy(&s);
	/* TERM cannot get in, the actor sees the stop flag; destroy drains. */
	floe_actor_destroy(&act);
	cr_assert_eq(floe_pool_available(pool), POOL_BUFS);
}

Test(actor, one_fd_per_actor_and_all_released)
{
	enum { N = 200 };
	floe_actor_opts_t opts = { .stack_bytes = FLOE_ACTOR_STACK_CONN_BYTES };
	floe_actor_t *acts[N];
	struct timespec t0, t1;
	int before, during, i;
	double s;

	/* The context's own fds (reaper) appear with the first socket. */
	acts[0] = floe_actor_new(ctx, s_consumer, NULL, &opts);
	cr_assert_not_null(acts[0]);
	before = s_open_fds();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 1; i < N; i++) {
		acts[i] = floe_actor_new(ctx, s_consumer, NULL, &opts);
		cr_assert_not_null(acts[i], "actor %d: %s", i, strerror(errno));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	during = s_open_fds();
	cr_assert_eq(during - before, N - 1, "one fd per actor: %d for %d", during - before, N - 1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_log_info("%d actors created in %.3f s", N - 1, s);
	for (i = 0; i < N; i++)
		floe_actor_destroy(&acts[i]);
	/* libzmq's reaper thread closes a socket's fd just after zmq_close: allow it 2 s. */
	for (i = 0; i < 200 && s_open_fds() != before - 1; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	cr_assert_eq(s_open_fds(), before - 1, "every mailbox closed: %d fds, expected %d",
		     s_open_fds(), before - 1);
}

/* Load: a producer floods all actors while they are being stopped. */
enum { LOADED = 16 };

struct flood {
	char endpoints[LOADED][FLOE_CTX_ENDPOINT_MAX_BYTES];
	atomic_bool stop;
	uint64_t sent, dropped, no_buffer;
};

static void *s_flood(void *arg)
{
	struct flood *f = arg;
	floe_mailbox_sender_t *s[LOADED];
	struct timespec t0, now;
	int i;

	for (i = 0; i < LOADED; i++) {
		s[i] = floe_mailbox_sender_new(ctx, f->endpoints[i]);
		if (!s[i])
			return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Bounded in time even if the main thread never says stop. */
	while (!atomic_load(&f->stop)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 20)
			break;
		for (i = 0; i < LOADED; i++) {
			floe_msg_t *m = floe_msg_new(pool, FLOE_MSG_DATAGRAM);
			int rc;

			if (!m) {
				f->no_buffer++;
				continue;
			}
			(void)floe_msg_set_len(m, 200);
			memset(floe_msg_data(m), i, 200);
			rc = floe_mailbox_send(s[i], &m);
			if (rc == 0)
				f->sent++;
			else
				f->dropped++;
		}
	}
	for (i = 0; i < LOADED; i++)
		floe_mailbox_sender_destroy(&s[i]);
	return NULL;
}

Test(actor, start_and_stop_under_load_with_concurrent_counter_reads)
{
	floe_actor_opts_t opts = { .stack_bytes = FLOE_ACTOR_STACK_CONN_BYTES };
	floe_actor_t *acts[LOADED];
	struct flood f = { 0 };
	floe_counters_snapshot_t snap[LOADED], total;
	pthread_t t;
	uint64_t rx = 0;
	int i, round;

	for (i = 0; i < LOADED; i++) {
		acts[i] = floe_actor_new(ctx, s_consumer, NULL, &opts);
		cr_assert_not_null(acts[i]);
		strcpy(f.endpoints[i], floe_actor_endpoint(acts[i]));
	}
	atomic_init(&f.stop, false);
	cr_assert_eq(pthread_create(&t, NULL, s_flood, &f), 0);
	/* Read every actor's counters while they write them, until traffic flows. */
	for (round = 0; round < 2000 && rx < 20000; round++) {
		memset(&total, 0, sizeof(total));
		for (i = 0; i < LOADED; i++)
			floe_counters_snapshot(floe_actor_counters(acts[i]), &snap[i]);
		floe_counters_sum(&total, snap, LOADED);
		cr_assert_geq(total.v[FLOE_COUNTER_RX_PACKETS], rx, "counters only grow");
		rx = total.v[FLOE_COUNTER_RX_PACKETS];
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	cr_assert_gt(rx, 0, "traffic reached the actors");
	/* Stop half of them while the producer still sends to all. */
	for (i = 0; i < LOADED; i += 2)
		floe_actor_destroy(&acts[i]);
	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	atomic_store(&f.stop, true);
	cr_assert_eq(pthread_join(t, NULL), 0);
	for (i = 1; i < LOADED; i += 2) {
		cr_assert_eq(floe_actor_state(acts[i]), FLOE_ACTOR_RUNNING);
		floe_actor_destroy(&acts[i]);
	}
	cr_assert_gt(f.sent, 0);
	/* teardown checks that every buffer, queued or dropped, went home. */
}

/* Per-actor timers on a manual clock: they fire when the test moves time, not before. */
static void s_tick(floe_timers_t *timers, int id, void *arg)
{
	floe_counters_inc(arg, FLOE_COUNTER_TX_PACKETS);
}

static int s_ticker(floe_actor_t *self, floe_mailbox_t *mb, void *arg)
{
	floe_timers_t *timers = floe_actor_timers(self);
	floe_msg_t *m;
	int rc;

	if (floe_timers_add(timers, 100 * FLOE_NS_PER_MS, 100 * FLOE_NS_PER_MS, s_tick,
			    floe_actor_counters(self)) < 0)
		return -ENOSPC;
	floe_actor_ready(self);
	for (;;) {
		/* The manual clock cannot wake a poll: cap the wait so a moved clock is seen. */
		int timeout = floe_timers_timeout_ms(timers);

		rc = floe_mailbox_recv(mb, &m, timeout < 0 || timeout > 10 ? 10 : timeout);
		if (rc == 0) {
			bool term = floe_msg_is_term(m);

			floe_msg_destroy(&m);
			if (term)
				return 0;
		} else if (rc != -EAGAIN) {
			return rc;
		}
		floe_timers_run(timers);
	}
}

static uint64_t s_wait_ticks(floe_actor_t *act, uint64_t want)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < 500; i++) {
		n = floe_counters_get(floe_actor_counters(act), FLOE_COUNTER_TX_PACKETS);
		if (n >= want)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	return n;
}

Test(actor, timers_follow_the_manual_clock)
{
	floe_clock_t *clk = floe_clock_new_manual(0);
	floe_actor_opts_t opts = { .clock = clk };
	floe_actor_t *act;

	cr_assert_not_null(clk);
	act = floe_actor_new(ctx, s_ticker, NULL, &opts);
	cr_assert_not_null(act);
	/* 300 ms of real time: the manual clock has not moved, nothing fires. */
	nanosleep(&(struct timespec){ .tv_nsec = 300000000 }, NULL);
	cr_assert_eq(floe_counters_get(floe_actor_counters(act), FLOE_COUNTER_TX_PACKETS), 0);
	cr_assert_eq(floe_clock_advance(clk, 99 * FLOE_NS_PER_MS), 0);
	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	cr_assert_eq(floe_counters_get(floe_actor_counters(act), FLOE_COUNTER_TX_PACKETS), 0,
		     "1 ms before the deadline");
	cr_assert_eq(floe_clock_advance(clk, 1 * FLOE_NS_PER_MS), 0);
	cr_assert_eq(s_wait_ticks(act, 1), 1, "fires at the deadline");
	cr_assert_eq(floe_clock_advance(clk, 100 * FLOE_NS_PER_MS), 0);
	cr_assert_eq(s_wait_ticks(act, 2), 2, "and every interval after");
	floe_actor_destroy(&act);
	floe_clock_destroy(&clk);
}
