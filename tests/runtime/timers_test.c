/* Timers on a manual clock: fire exactly at the deadline, never before. */
#include <criterion/criterion.h>
#include <errno.h>

#include "runtime/timers.h"

#define MS(x) ((uint64_t)(x) * FLOE_NS_PER_MS)

static floe_clock_t *clk;
static floe_timers_t *timers;
static int fired[FLOE_TIMERS_MAX];
static int last_id;

static void setup(void)
{
	clk = floe_clock_new_manual(1000 * FLOE_NS_PER_S);
	cr_assert_not_null(clk);
	timers = floe_timers_new(clk, 4);
	cr_assert_not_null(timers);
}

static void teardown(void)
{
	floe_timers_destroy(&timers);
	floe_clock_destroy(&clk);
}

TestSuite(timers, .init = setup, .fini = teardown);

static void s_count(floe_timers_t *t, int id, void *arg)
{
	fired[(intptr_t)arg]++;
	last_id = id;
}

Test(timers, bad_arguments)
{
	cr_assert_null(floe_timers_new(clk, 0));
	cr_assert_null(floe_timers_new(clk, FLOE_TIMERS_MAX + 1));
	cr_assert_null(floe_timers_new(NULL, 4));
	cr_assert_eq(floe_timers_add(timers, 0, 0, NULL, NULL), -EINVAL);
	cr_assert_eq(floe_timers_cancel(timers, -1), -ENOENT);
	cr_assert_eq(floe_timers_cancel(timers, 12345), -ENOENT);
}

Test(timers, one_shot_fires_at_deadline_not_before)
{
	int id = floe_timers_add(timers, MS(250), 0, s_count, (void *)0);

	cr_assert_geq(id, 0);
	cr_assert_eq(floe_timers_armed(timers), 1);
	cr_assert_eq(floe_timers_next_deadline_ns(timers), 1000 * FLOE_NS_PER_S + MS(250));
	cr_assert_eq(floe_timers_timeout_ms(timers), 250);
	cr_assert_eq(floe_clock_advance(clk, MS(250) - 1), 0);
	cr_assert_eq(floe_timers_timeout_ms(timers), 1, "rounded up, never early");
	cr_assert_eq(floe_timers_run(timers), 0);
	cr_assert_eq(fired[0], 0);
	cr_assert_eq(floe_clock_advance(clk, 1), 0);
	cr_assert_eq(floe_timers_timeout_ms(timers), 0);
	cr_assert_eq(floe_timers_run(timers), 1);
	cr_assert_eq(fired[0], 1);
	cr_assert_eq(last_id, id);
	cr_assert_eq(floe_timers_armed(timers), 0);
	cr_assert_eq(floe_timers_timeout_ms(timers), -1, "nothing armed: wait forever");
	cr_assert_eq(floe_timers_cancel(timers, id), -ENOENT, "a fired one-shot is gone");
	cr_assert_eq(floe_clock_advance(clk, MS(1000)), 0);
	cr_assert_eq(floe_timers_run(timers), 0);
}

Test(timers, interval_keeps_rhythm_and_cancel_stops_it)
{
	int id = floe_timers_add(timers, MS(10), MS(10), s_count, (void *)1);
	int i;

	cr_assert_geq(id, 0);
	for (i = 1; i <= 5; i++) {
		cr_assert_eq(floe_clock_advance(clk, MS(10)), 0);
		cr_assert_eq(floe_timers_run(timers), 1);
		cr_assert_eq(fired[1], i);
		cr_assert_eq(floe_timers_timeout_ms(timers), 10);
	}
	/* A stall of 55 ms fires once, then the rhythm resumes from now. */
	cr_assert_eq(floe_clock_advance(clk, MS(55)), 0);
	cr_assert_eq(floe_timers_run(timers), 1);
	cr_assert_eq(fired[1], 6);
	cr_assert_eq(floe_timers_timeout_ms(timers), 10);
	cr_assert_eq(floe_timers_cancel(timers, id), 0);
	cr_assert_eq(floe_clock_advance(clk, MS(100)), 0);
	cr_assert_eq(floe_timers_run(timers), 0);
	cr_assert_eq(fired[1], 6);
}

Test(timers, bounded_and_stale_ids_miss)
{
	int ids[4], i, again;

	for (i = 0; i < 4; i++) {
		ids[i] = floe_timers_add(timers, MS(i + 1), 0, s_count, (void *)2);
		cr_assert_geq(ids[i], 0);
	}
	cr_assert_eq(floe_timers_add(timers, MS(1), 0, s_count, (void *)2), -ENOSPC);
	cr_assert_eq(floe_timers_timeout_ms(timers), 1, "earliest of the four");
	cr_assert_eq(floe_timers_cancel(timers, ids[0]), 0);
	cr_assert_eq(floe_timers_cancel(timers, ids[0]), -ENOENT);
	again = floe_timers_add(timers, MS(50), 0, s_count, (void *)2);
	cr_assert_geq(again, 0);
	cr_assert_neq(again, ids[0], "a reused slot gets a new id");
	cr_assert_eq(floe_timers_cancel(timers, ids[0]), -ENOENT, "the stale id misses");
	cr_assert_eq(floe_timers_reset(timers, ids[3], MS(100)), 0);
	cr_assert_eq(floe_clock_advance(clk, MS(4)), 0);
	cr_assert_eq(floe_timers_run(timers), 2, "ids[1] and ids[2]; ids[3] was pushed back");
	cr_assert_eq(floe_clock_advance(clk, MS(96)), 0);
	cr_assert_eq(floe_timers_run(timers), 2, "again (at 50) and ids[3] (at 100)");
	cr_assert_eq(fired[2], 4);
}

static void s_readd(floe_timers_t *t, int id, void *arg)
{
	fired[3]++;
	/* Zero delay from inside a run: must wait for the next run, not loop. */
	cr_assert_geq(floe_timers_add(t, 0, 0, s_readd, arg), 0);
}

Test(timers, added_during_run_fires_next_run)
{
	cr_assert_geq(floe_timers_add(timers, 0, 0, s_readd, NULL), 0);
	cr_assert_eq(floe_timers_run(timers), 1);
	cr_assert_eq(fired[3], 1);
	cr_assert_eq(floe_timers_run(timers), 1);
	cr_assert_eq(fired[3], 2);
}
