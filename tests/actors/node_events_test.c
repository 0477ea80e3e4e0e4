/*
 * The node's event queue (actors/node_events.c) from inside: its bound and
 * drop count, its order, the level-triggered fd, the public path struct,
 * and a reader thread racing the producer. Events are pushed with the
 * node's own emit functions on a portal-less node that has no connection
 * (so nothing else emits meanwhile).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/node_priv.h"

enum {
	OVERFLOW_EXTRA = 76,
	RACE_EVENTS = 5000,
	RACE_WAIT_MS = 10000,
};

static floe_node_t *node(void)
{
	floe_node_config_t cfg = { .role = FLOE_ROLE_CLIENT, .device = FLOE_NODE_DEVICE_USERSPACE };
	char err[FLOE_NODE_ERR_BYTES];
	floe_node_t *n;

	floe_key_generate(cfg.private_key);
	n = floe_node_new(&cfg, err, sizeof(err));
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
	cr_assert_not_null(n, "%s", err);
	return n;
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}

Test(node_events, bounded_in_order_and_drops_counted)
{
	floe_node_t *n = node();
	node_conn_t c = { .tag = 42, .cid = "c-42" };
	int fd = floe_node_event_fd(n);
	floe_event_t ev;
	char text[16];

	cr_assert_geq(fd, 0);
	cr_assert_not(readable(fd, 0), "empty queue, quiet fd");
	for (int i = 0; i < FLOE_NODE_EVENT_QUEUE_MAX + OVERFLOW_EXTRA; i++) {
		snprintf(text, sizeof(text), "%d", i);
		node_event_emit(n, FLOE_EVENT_FAILED, &c, text);
	}
	cr_assert_eq(floe_node_event_drops(n), OVERFLOW_EXTRA);
	for (int i = 0; i < FLOE_NODE_EVENT_QUEUE_MAX; i++) {
		cr_assert(readable(fd, 0), "readable while %d events wait", FLOE_NODE_EVENT_QUEUE_MAX - i);
		cr_assert_eq(floe_node_event_next(n, &ev), 0);
		snprintf(text, sizeof(text), "%d", i);
		cr_assert_str_eq(ev.text, text, "oldest first; the newest were dropped");
		cr_assert_eq(ev.type, FLOE_EVENT_FAILED);
		cr_assert_eq(ev.conn_id, 42);
		cr_assert_str_eq(ev.cid, "c-42");
	}
	cr_assert_eq(floe_node_event_next(n, &ev), -EAGAIN);
	cr_assert_not(readable(fd, 0), "drained queue, quiet fd");
	/* It takes events again once there is room. */
	node_event_emit(n, FLOE_EVENT_CLOSED, &c, NULL);
	cr_assert(readable(fd, 0));
	cr_assert_eq(floe_node_event_next(n, &ev), 0);
	cr_assert_eq(ev.type, FLOE_EVENT_CLOSED);
	cr_assert_str_eq(ev.text, "");
	cr_assert_eq(floe_node_event_drops(n), OVERFLOW_EXTRA);
	floe_node_destroy(&n);
}

Test(node_events, path_event_carries_the_public_path)
{
	floe_node_t *n = node();
	node_conn_t c = { .tag = 3 };
	floe_event_t ev;

	c.path = (floe_ice_path_t){
		.local_type = FLOE_ICE_CAND_SRFLX,
		.remote_type = FLOE_ICE_CAND_RELAY,
		.local_addr = "198.51.100.7:4000",
		.remote_addr = "[2001:db8::1]:3478",
	};
	node_event_path(n, &c);
	cr_assert_eq(floe_node_event_next(n, &ev), 0);
	cr_assert_eq(ev.type, FLOE_EVENT_PATH);
	cr_assert_eq(ev.path.local_type, FLOE_PATH_SRFLX);
	cr_assert_eq(ev.path.remote_type, FLOE_PATH_RELAY);
	cr_assert_str_eq(ev.path.local_addr, "198.51.100.7:4000");
	cr_assert_str_eq(ev.path.remote_addr, "[2001:db8::1]:3478");
	cr_assert_str_eq(ev.cid, "");
	floe_node_destroy(&n);
}

typedef struct {
	floe_node_t *node;
	int got;
	int last;
	bool in_order;
} reader_t;

static void *reader(void *arg)
{
	reader_t *r = arg;
	int fd = floe_node_event_fd(r->node);
	floe_event_t ev;
	int idle_ms = 0;

	r->last = -1;
	r->in_order = true;
	/* Stops once the producer's last event ("end") arrives, or after a
	 * long quiet spell (a lost wake-up fails the test, it never hangs). */
	while (idle_ms < RACE_WAIT_MS) {
		if (!readable(fd, 10)) {
			idle_ms += 10;
			continue;
		}
		idle_ms = 0;
		while (floe_node_event_next(r->node, &ev) == 0) {
			int v;

			if (!strcmp(ev.text, "end"))
				return NULL;
			v = atoi(ev.text);
			r->in_order &= v > r->last;
			r->last = v;
			r->got++;
		}
	}
	return NULL;
}

Test(node_events, a_reader_thread_races_the_producer)
{
	reader_t r = { .node = node() };
	node_conn_t c = { .tag = 1 };
	pthread_t t;
	char text[16];
	uint64_t drops, seen;

	cr_assert_eq(pthread_create(&t, NULL, reader, &r), 0);
	for (int i = 0; i < RACE_EVENTS; i++) {
		snprintf(text, sizeof(text), "%d", i);
		node_event_emit(r.node, FLOE_EVENT_LOCAL_CANDIDATE, &c, text);
	}
	/* The end marker must get in: retry while the queue is full. */
	drops = floe_node_event_drops(r.node);
	seen = drops;
	for (int tries = 0; tries < RACE_WAIT_MS; tries++) {
		uint64_t now;

		node_event_emit(r.node, FLOE_EVENT_CLOSED, &c, "end");
		now = floe_node_event_drops(r.node);
		if (now == seen)
			break;
		seen = now;
		usleep(1000);
	}
	pthread_join(t, NULL);
	cr_assert(r.in_order);
	cr_assert_eq((uint64_t)r.got + drops, RACE_EVENTS, "got %d, dropped %llu", r.got,
		     (unsigned long long)drops);
	cr_assert_gt(r.got, 0);
	floe_node_destroy(&r.node);
}
