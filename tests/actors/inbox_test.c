/*
 * The inbox: bounds and reserve, the eventfd's level, the wake function,
 * close, bad arguments, and several producer threads against one
 * consumer (each producer's messages arrive once each and in order).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "actors/inbox.h"

enum {
	CAP = 16,
	RESERVE = 4,
	PRODUCERS = 4,
	PER_PRODUCER = 20000,
	BIG_CAP = 256,
	TAKE_BATCH = 32,
	WAIT_MS = 10000,
};

static floe_msg_t *msg(uint64_t arg)
{
	floe_msg_t *m = floe_msg_new_heap(1, 8);

	cr_assert_not_null(m);
	floe_msg_set_arg(m, arg);
	return m;
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

Test(inbox, bad_arguments)
{
	floe_msg_t *m = NULL;
	floe_msg_t *out[1];

	cr_assert_null(floe_inbox_new(0, 0, false));
	cr_assert_null(floe_inbox_new(4, 4, false), "the reserve must leave room for packets");
	cr_assert_eq(floe_inbox_post(NULL, &m, false), -EINVAL);
	m = msg(1);
	cr_assert_eq(floe_inbox_post(NULL, &m, false), -EINVAL);
	cr_assert_null(m, "refused messages are freed");
	cr_assert_eq(floe_inbox_take(NULL, out, 1), 0);
	cr_assert_not(floe_inbox_pending(NULL));
	cr_assert_eq(floe_inbox_fd(NULL), -1);
	floe_inbox_close(NULL);
	floe_inbox_destroy(NULL);
}

Test(inbox, packets_stop_at_the_reserve_events_at_the_cap)
{
	floe_inbox_t *in = floe_inbox_new(CAP, RESERVE, false);
	floe_msg_t *m, *out[CAP];
	int n;

	cr_assert_not_null(in);
	for (int i = 0; i < CAP - RESERVE; i++) {
		m = msg((uint64_t)i);
		cr_assert_eq(floe_inbox_post(in, &m, false), 0);
	}
	m = msg(99);
	cr_assert_eq(floe_inbox_post(in, &m, false), -EAGAIN, "a packet took the events' reserve");
	cr_assert_null(m);
	for (int i = 0; i < RESERVE; i++) {
		m = msg(100 + (uint64_t)i);
		cr_assert_eq(floe_inbox_post(in, &m, true), 0, "event %d refused within the reserve", i);
	}
	m = msg(200);
	cr_assert_eq(floe_inbox_post(in, &m, true), -EAGAIN);
	cr_assert_eq(floe_inbox_drops(in), 2);
	n = floe_inbox_take(in, out, CAP);
	cr_assert_eq(n, CAP);
	for (int i = 0; i < n; i++) {
		uint64_t want = i < CAP - RESERVE ? (uint64_t)i : 100 + (uint64_t)(i - (CAP - RESERVE));

		cr_assert_eq(floe_msg_arg(out[i]), want, "slot %d", i);
		floe_msg_destroy(&out[i]);
	}
	cr_assert_not(floe_inbox_pending(in));
	floe_inbox_destroy(&in);
	cr_assert_null(in);
}

Test(inbox, fd_is_readable_exactly_while_messages_wait)
{
	floe_inbox_t *in = floe_inbox_new(CAP, RESERVE, true);
	floe_msg_t *m, *out[2];
	int fd;

	cr_assert_not_null(in);
	fd = floe_inbox_fd(in);
	cr_assert_geq(fd, 0);
	cr_assert_not(readable(fd));
	for (int i = 0; i < 3; i++) {
		m = msg((uint64_t)i);
		cr_assert_eq(floe_inbox_post(in, &m, false), 0);
	}
	cr_assert(readable(fd));
	cr_assert_eq(floe_inbox_take(in, out, 2), 2);
	cr_assert(readable(fd), "one message still waits");
	floe_msg_destroy(&out[0]);
	floe_msg_destroy(&out[1]);
	cr_assert_eq(floe_inbox_take(in, out, 2), 1);
	floe_msg_destroy(&out[0]);
	cr_assert_not(readable(fd), "empty but still readable: a busy loop");
	floe_inbox_destroy(&in);
}

static int g_wakes;

static void count_wake(void *arg)
{
	cr_assert_eq(arg, &g_wakes);
	g_wakes++;
}

Test(inbox, wake_once_per_empty_to_waiting_and_none_after_close)
{
	floe_inbox_t *in = floe_inbox_new(CAP, RESERVE, false);
	floe_msg_t *m, *out[CAP];

	cr_assert_not_null(in);
	cr_assert_eq(floe_inbox_fd(in), -1);
	floe_inbox_set_wake(in, count_wake, &g_wakes);
	for (int i = 0; i < 5; i++) {
		m = msg((uint64_t)i);
		cr_assert_eq(floe_inbox_post(in, &m, false), 0);
	}
	cr_assert_eq(g_wakes, 1, "the consumer takes until empty: one wake-up is enough");
	cr_assert_eq(floe_inbox_take(in, out, CAP), 5);
	for (int i = 0; i < 5; i++)
		floe_msg_destroy(&out[i]);
	m = msg(9);
	cr_assert_eq(floe_inbox_post(in, &m, false), 0);
	cr_assert_eq(g_wakes, 2);
	/* Close frees the waiting message and forgets the wake target. */
	floe_inbox_close(in);
	cr_assert_not(floe_inbox_pending(in));
	m = msg(10);
	cr_assert_eq(floe_inbox_post(in, &m, true), -EPIPE);
	cr_assert_null(m);
	cr_assert_eq(g_wakes, 2);
	floe_inbox_close(in);
	floe_inbox_destroy(&in);
}

typedef struct {
	floe_inbox_t *in;
	uint64_t producer;
	uint64_t refused;
} producer_t;

static void *produce(void *arg)
{
	producer_t *p = arg;

	for (uint64_t i = 0; i < PER_PRODUCER; i++) {
		floe_msg_t *m = msg(p->producer << 32 | i);

		/* Retry refused ones: the consumer must see every sequence number. */
		while (floe_inbox_post(p->in, &m, false) == -EAGAIN) {
			p->refused++;
			m = msg(p->producer << 32 | i);
			sched_yield();
		}
	}
	return NULL;
}

Test(inbox, producers_each_arrive_once_and_in_order, .timeout = 60)
{
	floe_inbox_t *in = floe_inbox_new(BIG_CAP, RESERVE, true);
	producer_t prod[PRODUCERS];
	pthread_t th[PRODUCERS];
	uint64_t next[PRODUCERS] = { 0 };
	uint64_t total = 0;

	cr_assert_not_null(in);
	for (int i = 0; i < PRODUCERS; i++) {
		prod[i] = (producer_t){ .in = in, .producer = (uint64_t)i };
		cr_assert_eq(pthread_create(&th[i], NULL, produce, &prod[i]), 0);
	}
	while (total < (uint64_t)PRODUCERS * PER_PRODUCER) {
		struct pollfd p = { .fd = floe_inbox_fd(in), .events = POLLIN };
		floe_msg_t *out[TAKE_BATCH];
		int n;

		cr_assert_eq(poll(&p, 1, WAIT_MS), 1, "a wake-up was lost at %lu messages",
			     (unsigned long)total);
		while ((n = floe_inbox_take(in, out, TAKE_BATCH)) > 0) {
			for (int i = 0; i < n; i++) {
				uint64_t a = floe_msg_arg(out[i]);
				uint64_t who = a >> 32;

				cr_assert_lt(who, PRODUCERS);
				cr_assert_eq(a & 0xffffffffu, next[who], "producer %lu out of order",
					     (unsigned long)who);
				next[who]++;
				total++;
				floe_msg_destroy(&out[i]);
			}
		}
	}
	for (int i = 0; i < PRODUCERS; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	cr_assert_not(floe_inbox_pending(in));
	floe_inbox_destroy(&in);
}
