/* Messages: header fields, headroom/tailroom arithmetic, pool ownership. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "runtime/msg.h"

static floe_pool_t *pool;

static void setup(void)
{
	pool = floe_pool_new(FLOE_POOL_BUF_BYTES, 2);
	cr_assert_not_null(pool);
}

static void teardown(void)
{
	cr_assert_eq(floe_pool_destroy(&pool), 0, "every buffer is back in the pool");
}

TestSuite(msg, .init = setup, .fini = teardown);

Test(msg, packet_room_fits_a_wireguard_packet)
{
	floe_msg_t *m = floe_msg_new(pool, FLOE_MSG_TUN_PACKET);
	uint8_t *p;

	cr_assert_not_null(m);
	cr_assert_eq(floe_msg_type(m), FLOE_MSG_TUN_PACKET);
	cr_assert_eq(floe_msg_len(m), 0);
	cr_assert_eq(floe_msg_headroom(m), FLOE_MSG_HEADROOM_BYTES);
	cr_assert_eq(floe_msg_tailroom(m),
		     FLOE_POOL_BUF_BYTES - FLOE_MSG_HEADER_BYTES - FLOE_MSG_HEADROOM_BYTES);
	cr_assert_geq(floe_msg_tailroom(m), 1420 + 32, "MTU packet + WireGuard overhead");
	cr_assert_eq(floe_msg_set_len(m, 1420), 0);
	memset(floe_msg_data(m), 0xab, 1420);
	/* Prepend a 16-byte transport header in the headroom, in place. */
	p = floe_msg_push(m, 16);
	cr_assert_not_null(p);
	cr_assert_eq(floe_msg_len(m), 1436);
	cr_assert_eq(p[16], 0xab);
	cr_assert_eq(floe_msg_headroom(m), FLOE_MSG_HEADROOM_BYTES - 16);
	cr_assert_null(floe_msg_push(m, FLOE_MSG_HEADROOM_BYTES), "headroom is bounded");
	p = floe_msg_pull(m, 16);
	cr_assert_not_null(p);
	cr_assert_eq(p[0], 0xab);
	cr_assert_eq(floe_msg_len(m), 1420);
	cr_assert_null(floe_msg_pull(m, 1421));
	cr_assert_eq(floe_msg_set_len(m, floe_msg_tailroom(m) + 1), -EMSGSIZE);
	cr_assert_eq(floe_msg_len(m), 1420, "a refused length changes nothing");
	floe_msg_destroy(&m);
	cr_assert_null(m);
	floe_msg_destroy(&m);
	floe_msg_destroy(NULL);
}

Test(msg, empty_pool_gives_null_and_destroy_returns_buffers)
{
	floe_msg_t *a = floe_msg_new(pool, FLOE_MSG_DATAGRAM);
	floe_msg_t *b = floe_msg_new(pool, FLOE_MSG_DATAGRAM);

	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_null(floe_msg_new(pool, FLOE_MSG_DATAGRAM));
	cr_assert_eq(floe_pool_exhausted(pool), 1);
	floe_msg_destroy(&a);
	a = floe_msg_new(pool, FLOE_MSG_DATAGRAM);
	cr_assert_not_null(a, "a destroyed message's buffer is reusable");
	floe_msg_destroy(&a);
	floe_msg_destroy(&b);
	cr_assert_eq(floe_pool_available(pool), 2);
	cr_assert_null(floe_msg_new(NULL, FLOE_MSG_DATAGRAM));
}

Test(msg, control_and_heap_messages)
{
	floe_msg_t *m = floe_msg_new_control(FLOE_CONTROL_CHILD_EXITED, 42, -EIO);
	floe_msg_t *t = floe_msg_new_control(FLOE_CONTROL_TERM, 0, 0);
	floe_msg_t *h = floe_msg_new_heap(FLOE_MSG_SIGNAL, 100);

	cr_assert_not_null(m);
	cr_assert_not_null(t);
	cr_assert_not_null(h);
	cr_assert_eq(floe_msg_type(m), FLOE_MSG_CONTROL);
	cr_assert_eq(floe_msg_code(m), FLOE_CONTROL_CHILD_EXITED);
	cr_assert_eq(floe_msg_arg(m), 42);
	cr_assert_eq(floe_msg_status(m), -EIO);
	cr_assert(!floe_msg_is_term(m));
	cr_assert(floe_msg_is_term(t));
	cr_assert(!floe_msg_is_term(NULL));
	cr_assert_eq(floe_msg_tailroom(h), 100);
	cr_assert_eq(floe_msg_set_len(h, 100), 0);
	memset(floe_msg_data(h), 1, 100);
	cr_assert_eq(floe_msg_set_len(h, 101), -EMSGSIZE);
	floe_msg_set_code(h, 7);
	floe_msg_set_arg(h, 9);
	floe_msg_set_status(h, 3);
	floe_msg_set_type(h, FLOE_MSG_ACTORS_FIRST);
	cr_assert_eq(floe_msg_code(h), 7);
	cr_assert_eq(floe_msg_arg(h), 9);
	cr_assert_eq(floe_msg_status(h), 3);
	cr_assert_eq(floe_msg_type(h), FLOE_MSG_ACTORS_FIRST);
	cr_assert_null(floe_msg_new_heap(FLOE_MSG_SIGNAL, FLOE_MSG_HEAP_MAX_BYTES + 1));
	floe_msg_destroy(&m);
	floe_msg_destroy(&t);
	floe_msg_destroy(&h);
}
