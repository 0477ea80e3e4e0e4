/*
 * Replay window: WireGuard's own table, a randomized comparison with a
 * plain "seen" array, and the REJECT_AFTER_MESSAGES edge.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "transport/wg/replay.h"

#define W ((uint64_t)FLOE_WG_COUNTER_WINDOW_SIZE)
#define T (W + 1)   /* T_LIM in counter.c */
#define R FLOE_WG_REJECT_AFTER_MESSAGES

/* One check, or an inclusive run first..last moving by +1 or -1. */
struct step {
	uint64_t first, last;
	bool accept;
};

struct group {
	const char *name;
	struct step steps[40];
	size_t n_steps;
};

#define ONE(n, ok) { (n), (n), (ok) }
#define RUN(a, b, ok) { (a), (b), (ok) }
#define GROUP(nm, ...) { nm, { __VA_ARGS__ }, \
	sizeof((struct step[]){ __VA_ARGS__ }) / sizeof(struct step) }
#define Y true
#define N false

/*
 * Transcribed from wireguard-linux-compat src/selftest/counter.c (commit
 * 3d3c92b4711b42169137b2ddf42ed4382e2babdf), via the 64-bit variant of
 * /work/shared/vectors/replay_counter_cases.json. Each group starts from a
 * fresh window. Note "greatest" there is the largest *accepted* counter
 * (counter.c stores it plus one, as our floe_wg_replay_t.greatest does).
 */
static const struct group groups[] = {
	GROUP("mixed_sequence",
	      ONE(0, Y), ONE(1, Y), ONE(1, N), ONE(9, Y), ONE(8, Y), ONE(7, Y),
	      ONE(7, N), ONE(T, Y), ONE(T - 1, Y), ONE(T - 1, N), ONE(T - 2, Y),
	      ONE(2, Y), ONE(2, N), ONE(T + 16, Y), ONE(3, N), ONE(T + 16, N),
	      ONE(T * 4, Y), ONE(T * 4 - (T - 1), Y), ONE(10, N),
	      ONE(T * 4 - T, N), ONE(T * 4 - (T + 1), N),
	      ONE(T * 4 - (T - 2), Y), ONE(T * 4 + 1 - T, N), ONE(0, N),
	      ONE(R, N), ONE(R - 1, Y), ONE(R, N), ONE(R - 1, N), ONE(R - 2, Y),
	      ONE(R + 1, N), ONE(R + 2, N), ONE(R - 2, N), ONE(R - 3, Y),
	      ONE(0, N)),
	GROUP("ascending_1_to_window_then_0",
	      RUN(1, W, Y), ONE(0, Y), ONE(0, N)),
	GROUP("ascending_2_to_window_plus_1_then_1_then_0",
	      RUN(2, W + 1, Y), ONE(1, Y), ONE(0, N)),
	GROUP("descending_window_to_0",
	      RUN(W, 0, Y)),
	GROUP("descending_window_plus_1_to_1_then_0",
	      RUN(W + 1, 1, Y), ONE(0, N)),
	GROUP("descending_window_to_1_then_window_plus_1_then_0",
	      RUN(W, 1, Y), ONE(W + 1, Y), ONE(0, N)),
	GROUP("descending_window_to_1_then_0_then_window_plus_1",
	      RUN(W, 1, Y), ONE(0, Y), ONE(W + 1, Y)),
};

/* The vector file's concrete numbers for the 64-bit variant. */
Test(replay, constants_match_the_vectors)
{
	cr_assert_eq(W, 8128);
	cr_assert_eq(R, 18446744073709543486ULL);
}

Test(replay, wireguard_selftest_table)
{
	size_t checks = 0;

	for (size_t g = 0; g < FLOE_ARRAY_LEN(groups); g++) {
		floe_wg_replay_t win;

		floe_wg_replay_init(&win);
		for (size_t s = 0; s < groups[g].n_steps; s++) {
			const struct step *st = &groups[g].steps[s];
			uint64_t n = st->first;

			for (;;) {
				bool got = floe_wg_replay_check(&win, n);

				cr_assert_eq(got, st->accept, "group %s step %zu counter %llu: got %s",
					     groups[g].name, s, (unsigned long long)n,
					     got ? "accept" : "reject");
				checks++;
				if (n == st->last)
					break;
				n = st->first < st->last ? n + 1 : n - 1;
			}
		}
	}
	/* total_checks of the 64-bit variant: proves no step was skipped. */
	cr_assert_eq(checks, 48813);
}

Test(replay, greatest_is_largest_accepted_plus_one)
{
	floe_wg_replay_t win;

	floe_wg_replay_init(&win);
	cr_assert_eq(win.greatest, 0);
	cr_assert(floe_wg_replay_check(&win, 41));
	cr_assert_eq(win.greatest, 42);
	cr_assert(floe_wg_replay_check(&win, 5));
	cr_assert_eq(win.greatest, 42, "an older counter must not move the window");
	cr_assert_not(floe_wg_replay_check(&win, 41));
	cr_assert_eq(win.greatest, 42);
}

Test(replay, reject_after_messages_limits)
{
	floe_wg_replay_t win;

	floe_wg_replay_init(&win);
	cr_assert_not(floe_wg_replay_check(&win, UINT64_MAX));
	cr_assert_not(floe_wg_replay_check(&win, R));
	cr_assert_eq(win.greatest, 0, "a rejected counter must leave the state alone");
	cr_assert(floe_wg_replay_check(&win, R - 1));
	cr_assert_eq(win.greatest, R);
	/* The window's lowest edge right under the limit. */
	cr_assert(floe_wg_replay_check(&win, R - 1 - W));
	cr_assert_not(floe_wg_replay_check(&win, R - 2 - W));
	cr_assert_not(floe_wg_replay_check(&win, R - 1));
	cr_assert_not(floe_wg_replay_check(&win, UINT64_MAX - 1));
}

Test(replay, window_edge_after_a_large_jump)
{
	floe_wg_replay_t win;
	const uint64_t top = 1000000;

	floe_wg_replay_init(&win);
	for (uint64_t n = 0; n < 100; n++)
		cr_assert(floe_wg_replay_check(&win, n));
	/* A jump far past the ring must forget every old bit ... */
	cr_assert(floe_wg_replay_check(&win, top));
	/* ... so counters that alias the old ones are new, if in the window. */
	for (uint64_t n = top - W; n < top; n++)
		cr_assert(floe_wg_replay_check(&win, n), "counter %llu", (unsigned long long)n);
	cr_assert_not(floe_wg_replay_check(&win, top - W - 1));
}

/* xorshift64*: reproducible, so a failure can be replayed from its seed. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

enum { RANDOM_CHECKS = 400000, RANDOM_SPAN = 1 << 24 };

Test(replay, matches_a_reference_model)
{
	static bool seen[RANDOM_SPAN];
	uint64_t seed = 0x5eed0f10e;
	uint64_t base = 0, largest = 0;
	bool any = false;
	size_t accepted = 0, too_old = 0;
	floe_wg_replay_t win;

	floe_wg_replay_init(&win);
	for (int i = 0; i < RANDOM_CHECKS; i++) {
		uint64_t r = next_rand(&seed);
		int64_t off;
		uint64_t n;
		bool want, got;

		/*
		 * Mostly reordering inside and around the window, some forward
		 * jumps, a few far jumps: base drifts up so the range stays
		 * bounded by RANDOM_SPAN.
		 */
		if (r % 1000 == 0)
			base += 2 * W + r % W;
		else
			base += r % 3;
		off = (int64_t)((r >> 20) % (2 * W + 200)) - (int64_t)(2 * W);
		n = (int64_t)base + off < 0 ? 0 : (uint64_t)((int64_t)base + off);
		cr_assert_lt(n, RANDOM_SPAN);

		want = !seen[n] && (!any || n + W >= largest);
		got = floe_wg_replay_check(&win, n);
		cr_assert_eq(got, want, "check %d counter %llu largest %llu: got %d want %d",
			     i, (unsigned long long)n, (unsigned long long)largest, got, want);
		if (want) {
			seen[n] = true;
			accepted++;
			if (!any || n > largest)
				largest = n;
			any = true;
		} else if (!seen[n]) {
			too_old++;
		}
	}
	/* The mix must exercise all three outcomes to mean anything. */
	cr_assert_gt(accepted, RANDOM_CHECKS / 10);
	cr_assert_gt(too_old, 1000);
	cr_assert_gt(RANDOM_CHECKS - accepted - too_old, 1000);
}
