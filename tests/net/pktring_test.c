/* Bounded packet FIFO: order, oldest dropped and counted, oversize, clear. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "transport/net/pktring.h"

enum { SLOTS = 4, SLOT_BYTES = 8 };

static void push_byte(floe_pktring_t *r, uint8_t b, size_t len)
{
	uint8_t pkt[SLOT_BYTES];

	memset(pkt, b, sizeof(pkt));
	cr_assert_eq(floe_pktring_push(r, pkt, len), 0);
}

/* Pops everything, checking the first byte and length of each. */
static void expect_contents(floe_pktring_t *r, const uint8_t *want, size_t n)
{
	cr_assert_eq(floe_pktring_count(r), n);
	for (size_t i = 0; i < n; i++) {
		size_t len = 0;
		const uint8_t *p = floe_pktring_peek(r, &len);

		cr_assert_not_null(p, "packet %zu", i);
		cr_expect_eq(p[0], want[i], "packet %zu is %u, want %u", i, p[0], want[i]);
		cr_expect_eq(len, (size_t)want[i] % SLOT_BYTES + 1);
		floe_pktring_pop(r);
	}
	size_t len;
	cr_expect_null(floe_pktring_peek(r, &len));
}

Test(pktring, fifo_order_and_wraparound)
{
	floe_pktring_t *r = floe_pktring_new(SLOTS, SLOT_BYTES);

	cr_assert_not_null(r);
	for (uint8_t b = 1; b <= 3; b++)
		push_byte(r, b, b % SLOT_BYTES + 1);
	floe_pktring_pop(r);
	for (uint8_t b = 4; b <= 6; b++) /* wraps past the end of the slots */
		push_byte(r, b, b % SLOT_BYTES + 1);
	expect_contents(r, (const uint8_t[]){ 3, 4, 5, 6 }, 4);
	cr_expect_eq(floe_pktring_drops(r), 1, "6 pushed into a full ring dropped 2, the oldest");
	floe_pktring_pop(r); /* empty: no-op */
	floe_pktring_destroy(&r);
	cr_expect_null(r);
	floe_pktring_destroy(&r);
	floe_pktring_destroy(NULL);
}

Test(pktring, full_ring_drops_the_oldest_and_counts)
{
	floe_pktring_t *r = floe_pktring_new(SLOTS, SLOT_BYTES);

	for (uint8_t b = 10; b < 10 + SLOTS + 3; b++)
		push_byte(r, b, b % SLOT_BYTES + 1);
	cr_expect_eq(floe_pktring_drops(r), 3);
	expect_contents(r, (const uint8_t[]){ 13, 14, 15, 16 }, SLOTS);
	floe_pktring_destroy(&r);
}

Test(pktring, oversize_and_clear_are_counted)
{
	floe_pktring_t *r = floe_pktring_new(SLOTS, SLOT_BYTES);
	uint8_t big[SLOT_BYTES + 1] = { 0 };

	cr_expect_eq(floe_pktring_push(r, big, sizeof(big)), -EMSGSIZE);
	cr_expect_eq(floe_pktring_count(r), 0);
	cr_expect_eq(floe_pktring_drops(r), 1);
	push_byte(r, 1, 2);
	push_byte(r, 2, 3);
	cr_expect_eq(floe_pktring_clear(r), 2);
	cr_expect_eq(floe_pktring_count(r), 0);
	cr_expect_eq(floe_pktring_drops(r), 3);
	push_byte(r, 7, 8); /* usable after clear */
	expect_contents(r, (const uint8_t[]){ 7 }, 1);
	floe_pktring_destroy(&r);

	cr_expect_null(floe_pktring_new(0, 8));
	cr_expect_null(floe_pktring_new(8, 0));
	cr_expect_null(floe_pktring_new(SIZE_MAX / 2, 4));
}
