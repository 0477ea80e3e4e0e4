/*
 * floe_conn_post: the node's way into a connection without a ZeroMQ
 * sender (and its fd) per connection. What matters: every accepted
 * message is handled exactly once, a post to a sleeping connection wakes
 * it at once (a lost wake-up would park the packet until some timer), a
 * full inbox refuses instead of blocking, bad arguments are refused.
 */
#include "tests/actors/pair_harness.h"

#include <errno.h>

enum {
	BURST = 5000,          /* more than FLOE_CONN_INBOX_MSGS, posted at once */
	SPACED = 50,           /* posts that each find the connection asleep */
	SPACE_MS = 20,
	WAKE_MAX_MS = 1000,    /* well under any timer of an idle connection */
};

static uint32_t g_want;

static bool client_buffered_want(pair_t *p)
{
	return pair_counter(p, CLIENT, FLOE_COUNTER_TUN_RX_PACKETS) >= g_want;
}

static bool client_got_want(pair_t *p)
{
	return p->delivered[CLIENT] >= g_want;
}

Test(conn_inbox, bad_arguments_are_refused_and_the_message_consumed)
{
	pair_t p;
	floe_msg_t *m = NULL;

	pair_init(&p);
	pair_start(&p);
	cr_assert_eq(floe_conn_post(p.conn[CLIENT], NULL), -EINVAL);
	cr_assert_eq(floe_conn_post(p.conn[CLIENT], &m), -EINVAL);
	m = pair_packet(&p, CLIENT, 1);
	cr_assert_eq(floe_conn_post(NULL, &m), -EINVAL);
	cr_assert_null(m, "a refused message is freed, not left to the caller");
	pair_fini(&p);
}

Test(conn_inbox, a_burst_is_taken_once_each_or_refused_when_full, .timeout = 60)
{
	pair_t p;
	uint32_t accepted = 0, refused = 0;

	pair_init(&p);
	pair_start(&p);
	for (uint32_t i = 0; i < BURST; i++) {
		floe_msg_t *m = pair_packet(&p, CLIENT, i);
		int rc = floe_conn_post(p.conn[CLIENT], &m);

		cr_assert(rc == 0 || rc == -EAGAIN, "post: %d", rc);
		cr_assert_null(m);
		if (rc == 0)
			accepted++;
		else
			refused++;
	}
	cr_log_info("%u accepted, %u refused on a full inbox", accepted, refused);
	cr_assert_geq(accepted, FLOE_CONN_INBOX_MSGS, "a free inbox refused a message");
	g_want = accepted;
	pair_pump(&p, 5000, client_buffered_want);
	/* Exactly the accepted ones reached the connection: none lost, none twice. */
	cr_assert_eq(pair_counter(&p, CLIENT, FLOE_COUNTER_TUN_RX_PACKETS), accepted);
	pair_fini(&p);
}

Test(conn_inbox, a_post_wakes_a_sleeping_connection_at_once, .timeout = 60)
{
	pair_t p;

	pair_init(&p);
	pair_start(&p);
	pair_exchange_credentials(&p);
	pair_pump(&p, 10000, pair_both_established);
	cr_assert(pair_both_established(&p));
	for (uint32_t i = 0; i < SPACED; i++) {
		floe_msg_t *m = pair_packet(&p, GATEWAY, i);
		uint64_t t0;

		/* The gateway's thread is back in its poll by now. */
		pair_pump(&p, SPACE_MS, NULL);
		t0 = pair_now(&p);
		cr_assert_eq(floe_conn_post(p.conn[GATEWAY], &m), 0);
		g_want = i + 1;
		pair_pump(&p, WAKE_MAX_MS, client_got_want);
		cr_assert_eq(p.delivered[CLIENT], i + 1, "packet %u not delivered within %d ms", i,
			     WAKE_MAX_MS);
		cr_assert_lt((pair_now(&p) - t0) / FLOE_NS_PER_MS, WAKE_MAX_MS);
	}
	pair_fini(&p);
}
