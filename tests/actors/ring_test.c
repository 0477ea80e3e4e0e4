/* The connection's bounded FIFO: order, overflow drops the oldest, ownership. */
#include <criterion/criterion.h>
#include <string.h>

#include "actors/ring.h"
#include "runtime/pool.h"

static floe_msg_t *numbered(floe_pool_t *pool, uint32_t n)
{
	floe_msg_t *m = floe_msg_new(pool, FLOE_MSG_TUN_PACKET);

	cr_assert_not_null(m);
	memcpy(floe_msg_data(m), &n, sizeof(n));
	cr_assert_eq(floe_msg_set_len(m, sizeof(n)), 0);
	return m;
}

static uint32_t number_of(floe_msg_t *m)
{
	uint32_t n;

	memcpy(&n, floe_msg_data(m), sizeof(n));
	return n;
}

Test(ring, keeps_order_and_drops_the_oldest_when_full)
{
	floe_pool_t *pool = floe_pool_new(FLOE_POOL_BUF_BYTES, 256);
	floe_ring_t *ring = floe_ring_new(128);
	size_t dropped = 0;

	for (uint32_t i = 0; i < 1000; i++) {
		floe_msg_t *m = numbered(pool, i);

		dropped += floe_ring_push(ring, &m);
		cr_assert_null(m, "push takes ownership");
	}
	cr_expect_eq(dropped, 872);
	cr_expect_eq(floe_ring_len(ring), 128);
	/* Dropped buffers went back to the pool: only the 128 kept are out. */
	cr_expect_eq(floe_pool_available(pool), 256 - 128);
	for (uint32_t want = 872; want < 1000; want++) {
		floe_msg_t *m = floe_ring_pop(ring);

		cr_assert_not_null(m);
		cr_expect_eq(number_of(m), want);
		floe_msg_destroy(&m);
	}
	cr_expect_null(floe_ring_pop(ring));
	floe_ring_destroy(&ring);
	cr_expect_null(ring);
	floe_ring_destroy(&ring);
	cr_expect_eq(floe_pool_destroy(&pool), 0);
}

Test(ring, clear_and_destroy_return_every_buffer)
{
	floe_pool_t *pool = floe_pool_new(FLOE_POOL_BUF_BYTES, 16);
	floe_ring_t *ring = floe_ring_new(8);

	for (uint32_t i = 0; i < 5; i++) {
		floe_msg_t *m = numbered(pool, i);

		cr_expect_not(floe_ring_push(ring, &m));
	}
	cr_expect_eq(floe_ring_clear(ring), 5);
	cr_expect_eq(floe_pool_available(pool), 16);
	for (uint32_t i = 0; i < 3; i++) {
		floe_msg_t *m = numbered(pool, i);

		floe_ring_push(ring, &m);
	}
	floe_ring_destroy(&ring);
	cr_expect_eq(floe_pool_available(pool), 16);
	cr_expect_eq(floe_pool_destroy(&pool), 0);
}

Test(ring, rejects_zero_capacity)
{
	cr_expect_null(floe_ring_new(0));
}
