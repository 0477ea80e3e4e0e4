/* Clocks: the manual clock moves only when told; the monotonic one never goes back. */
#include <criterion/criterion.h>
#include <errno.h>

#include "runtime/clock.h"

Test(clock, manual_starts_where_told_and_advances_exactly)
{
	floe_clock_t *c = floe_clock_new_manual(5 * FLOE_NS_PER_S);

	cr_assert_not_null(c);
	cr_assert_eq(floe_clock_kind(c), FLOE_CLOCK_MANUAL);
	cr_assert_eq(floe_clock_now_ns(c), 5 * FLOE_NS_PER_S);
	cr_assert_eq(floe_clock_now_ns(c), 5 * FLOE_NS_PER_S, "reading does not move it");
	cr_assert_eq(floe_clock_advance(c, 1), 0);
	cr_assert_eq(floe_clock_now_ns(c), 5 * FLOE_NS_PER_S + 1);
	cr_assert_eq(floe_clock_advance(c, 3 * FLOE_NS_PER_MS), 0);
	cr_assert_eq(floe_clock_now_ns(c), 5 * FLOE_NS_PER_S + 1 + 3 * FLOE_NS_PER_MS);
	floe_clock_destroy(&c);
	cr_assert_null(c);
	floe_clock_destroy(&c);
	floe_clock_destroy(NULL);
}

Test(clock, monotonic_cannot_be_advanced_and_does_not_go_back)
{
	floe_clock_t *c = floe_clock_new_monotonic();
	uint64_t prev, now;
	int i;

	cr_assert_not_null(c);
	cr_assert_eq(floe_clock_kind(c), FLOE_CLOCK_MONOTONIC);
	cr_assert_eq(floe_clock_advance(c, 1), -EPERM);
	cr_assert_eq(floe_clock_advance(NULL, 1), -EINVAL);
	prev = floe_clock_now_ns(c);
	cr_assert_gt(prev, 0);
	for (i = 0; i < 1000; i++) {
		now = floe_clock_now_ns(c);
		cr_assert_geq(now, prev);
		prev = now;
	}
	floe_clock_destroy(&c);
}
