/* Counters: exact names, sums, and snapshots taken while the owner writes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "runtime/counters.h"

static const struct {
	floe_counter_t id;
	const char *name;
} names[] = {
	{ FLOE_COUNTER_TUN_RX_PACKETS, "tun_rx_packets" },
	{ FLOE_COUNTER_TUN_TX_PACKETS, "tun_tx_packets" },
	{ FLOE_COUNTER_ICE_BUFFERED_PACKETS, "ice_buffered_packets" },
	{ FLOE_COUNTER_ICE_BUFFER_OVERFLOW_DROPS, "ice_buffer_overflow_drops" },
	{ FLOE_COUNTER_DROPPED_NOT_NOMINATED, "dropped_not_nominated" },
	{ FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION, "dropped_unknown_destination" },
	{ FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT, "handshake_initiations_sent" },
	{ FLOE_COUNTER_HANDSHAKE_INITIATIONS_RECEIVED, "handshake_initiations_received" },
	{ FLOE_COUNTER_HANDSHAKE_RESPONSES_SENT, "handshake_responses_sent" },
	{ FLOE_COUNTER_HANDSHAKES_COMPLETED, "handshakes_completed" },
	{ FLOE_COUNTER_COOKIE_REPLIES_SENT, "cookie_replies_sent" },
	{ FLOE_COUNTER_DECRYPT_ERRORS, "decrypt_errors" },
	{ FLOE_COUNTER_REPLAY_DROPS, "replay_drops" },
	{ FLOE_COUNTER_MAILBOX_DROPS, "mailbox_drops" },
	{ FLOE_COUNTER_ACL_DROPS, "acl_drops" },
	{ FLOE_COUNTER_TX_BYTES, "tx_bytes" },
	{ FLOE_COUNTER_RX_BYTES, "rx_bytes" },
	{ FLOE_COUNTER_TX_PACKETS, "tx_packets" },
	{ FLOE_COUNTER_RX_PACKETS, "rx_packets" },
};

Test(counters, names_are_the_design_names)
{
	size_t i;

	cr_assert_eq(FLOE_ARRAY_LEN(names), FLOE_COUNTER_COUNT, "every counter is in the table");
	for (i = 0; i < FLOE_ARRAY_LEN(names); i++) {
		cr_assert_str_eq(floe_counter_name(names[i].id), names[i].name);
		cr_assert_eq(floe_counter_from_name(names[i].name), (int)names[i].id);
	}
	cr_assert_null(floe_counter_name(FLOE_COUNTER_COUNT));
	cr_assert_null(floe_counter_name((floe_counter_t)-1));
	cr_assert_eq(floe_counter_from_name("mailbox_drop"), -ENOENT);
	cr_assert_eq(floe_counter_from_name(NULL), -ENOENT);
}

Test(counters, add_snapshot_and_sum)
{
	floe_counters_t *a = floe_counters_new(), *b = floe_counters_new();
	floe_counters_snapshot_t snaps[2], total;

	cr_assert_not_null(a);
	cr_assert_not_null(b);
	floe_counters_inc(a, FLOE_COUNTER_MAILBOX_DROPS);
	floe_counters_add(a, FLOE_COUNTER_TX_BYTES, 1420);
	floe_counters_add(b, FLOE_COUNTER_TX_BYTES, 80);
	floe_counters_inc(b, FLOE_COUNTER_RX_PACKETS);
	cr_assert_eq(floe_counters_get(a, FLOE_COUNTER_MAILBOX_DROPS), 1);
	floe_counters_snapshot(a, &snaps[0]);
	floe_counters_snapshot(b, &snaps[1]);
	memset(&total, 0, sizeof(total));
	total.v[FLOE_COUNTER_ACL_DROPS] = 7; /* sum adds to what is there */
	floe_counters_sum(&total, snaps, 2);
	cr_assert_eq(total.v[FLOE_COUNTER_TX_BYTES], 1500);
	cr_assert_eq(total.v[FLOE_COUNTER_MAILBOX_DROPS], 1);
	cr_assert_eq(total.v[FLOE_COUNTER_RX_PACKETS], 1);
	cr_assert_eq(total.v[FLOE_COUNTER_ACL_DROPS], 7);
	cr_assert_eq(total.v[FLOE_COUNTER_DECRYPT_ERRORS], 0);
	floe_counters_destroy(&a);
	floe_counters_destroy(&b);
	cr_assert_null(a);
	floe_counters_destroy(NULL);
}

enum { WRITES = 200000 };

struct writer {
	floe_counters_t *c;
	atomic_bool done;
};

static void *s_writer(void *arg)
{
	struct writer *w = arg;
	int i;

	for (i = 0; i < WRITES; i++) {
		floe_counters_inc(w->c, FLOE_COUNTER_RX_PACKETS);
		floe_counters_add(w->c, FLOE_COUNTER_RX_BYTES, 100);
	}
	atomic_store(&w->done, true);
	return NULL;
}

/* The reader sees values only grow and ends with the exact totals (TSan: no race). */
Test(counters, snapshot_while_owner_writes)
{
	struct writer w = { .c = floe_counters_new() };
	floe_counters_snapshot_t s;
	uint64_t prev = 0;
	pthread_t t;
	int reads = 0;

	cr_assert_not_null(w.c);
	atomic_init(&w.done, false);
	cr_assert_eq(pthread_create(&t, NULL, s_writer, &w), 0);
	while (!atomic_load(&w.done) && reads < 10 * WRITES) {
		floe_counters_snapshot(w.c, &s);
		cr_assert_geq(s.v[FLOE_COUNTER_RX_PACKETS], prev);
		cr_assert_leq(s.v[FLOE_COUNTER_RX_PACKETS], WRITES);
		prev = s.v[FLOE_COUNTER_RX_PACKETS];
		reads++;
	}
	cr_assert_eq(pthread_join(t, NULL), 0);
	floe_counters_snapshot(w.c, &s);
	cr_assert_eq(s.v[FLOE_COUNTER_RX_PACKETS], WRITES);
	cr_assert_eq(s.v[FLOE_COUNTER_RX_BYTES], 100ull * WRITES);
	floe_counters_destroy(&w.c);
}
