/*
 * Timers on a manual nanosecond clock: one test per rule of whitepaper
 * section 6 as WireGuard's timers.c applies it, each checked just before
 * and exactly at its deadline.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "runtime/common.h"
#include "transport/wg/timers.h"

#define S(x) ((uint64_t)(x) * FLOE_NS_PER_S)
#define MS(x) ((uint64_t)(x) * FLOE_NS_PER_MS)
#define T0 S(1000) /* an arbitrary, non-zero start on the manual clock */

static void setup(void)
{
	cr_assert_geq(sodium_init(), 0);
}

TestSuite(timers, .init = setup);

/* Expires a copy, so a probe does not disturb the state under test. */
static unsigned probe(const floe_wg_timers_t *t, uint64_t now)
{
	floe_wg_timers_t copy = *t;

	return floe_wg_timers_expire(&copy, now);
}

/* Nothing a nanosecond early, exactly `action` at the deadline. */
static void assert_fires_exactly_at(floe_wg_timers_t *t, uint64_t at, unsigned action)
{
	cr_assert_eq(floe_wg_timers_expire(t, at - 1), FLOE_WG_TIMER_NONE, "fired before its deadline");
	cr_assert_eq(floe_wg_timers_expire(t, at), action);
}

Test(timers, nothing_armed_after_init)
{
	floe_wg_timers_t t;

	floe_wg_timers_init(&t, 25);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
	cr_assert_eq(floe_wg_timers_expire(&t, UINT64_MAX - 1), FLOE_WG_TIMER_NONE);
}

Test(timers, retransmit_at_rekey_timeout_plus_jitter)
{
	floe_wg_timers_t t;
	uint64_t at;

	floe_wg_timers_init(&t, 0);
	floe_wg_timers_handshake_initiated(&t, T0);
	at = t.retransmit_handshake_at;
	cr_assert_geq(at, T0 + S(FLOE_WG_REKEY_TIMEOUT_S));
	cr_assert_lt(at, T0 + S(FLOE_WG_REKEY_TIMEOUT_S) + MS(FLOE_WG_REKEY_TIMEOUT_JITTER_MAX_MS));
	cr_assert_eq(floe_wg_timers_next_deadline(&t), at);

	cr_assert_eq(floe_wg_timers_expire(&t, at - 1), FLOE_WG_TIMER_NONE);
	cr_assert_eq(t.handshake_attempts, 0);
	cr_assert_eq(floe_wg_timers_expire(&t, at), FLOE_WG_TIMER_SEND_INITIATION);
	cr_assert_eq(t.handshake_attempts, 1);
	/* Fired once: re-armed only when the caller sends the retry. */
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
	cr_assert_eq(floe_wg_timers_expire(&t, at + S(60)), FLOE_WG_TIMER_NONE);
}

Test(timers, retransmit_jitter_is_uniform_below_334_ms)
{
	enum { DRAWS = 20000 };
	const uint64_t base = S(FLOE_WG_REKEY_TIMEOUT_S);
	const uint64_t max = MS(FLOE_WG_REKEY_TIMEOUT_JITTER_MAX_MS);
	uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
	unsigned buckets[4] = { 0 };
	floe_wg_timers_t t;

	floe_wg_timers_init(&t, 0);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t j;

		floe_wg_timers_handshake_initiated(&t, T0);
		cr_assert_geq(t.retransmit_handshake_at, T0 + base);
		j = t.retransmit_handshake_at - T0 - base;
		cr_assert_lt(j, max, "jitter %llu ns", (unsigned long long)j);
		lo = j < lo ? j : lo;
		hi = j > hi ? j : hi;
		sum += j;
		buckets[j * 4 / max]++;
	}
	/* Spans the range, centred, and no quarter starved (expect 5000 each). */
	cr_assert_lt(lo, MS(5));
	cr_assert_gt(hi, max - MS(5));
	cr_assert_lt(sum / DRAWS > max / 2 ? sum / DRAWS - max / 2 : max / 2 - sum / DRAWS, MS(10));
	for (int b = 0; b < 4; b++)
		cr_assert(buckets[b] > 4500 && buckets[b] < 5500, "quarter %d: %u", b, buckets[b]);
}

Test(timers, gives_up_after_max_timer_handshakes)
{
	floe_wg_timers_t t;
	uint64_t now = T0, last_retry = 0;
	unsigned retries = 0, a = FLOE_WG_TIMER_NONE;

	floe_wg_timers_init(&t, 0);
	/* The caller sends the first initiation itself. */
	floe_wg_timers_handshake_new(&t);
	floe_wg_timers_handshake_initiated(&t, now);
	floe_wg_timers_data_received(&t, now); /* a keepalive owed, to see it dropped */
	for (int i = 0; i < 100 && !(a & FLOE_WG_TIMER_GIVE_UP); i++) {
		now = floe_wg_timers_next_deadline(&t);
		cr_assert_neq(now, UINT64_MAX);
		a = floe_wg_timers_expire(&t, now);
		if (a & FLOE_WG_TIMER_SEND_INITIATION) {
			retries++;
			last_retry = now;
			floe_wg_timers_handshake_initiated(&t, now);
		}
		if (a & FLOE_WG_TIMER_SEND_KEEPALIVE)
			floe_wg_timers_any_authenticated_packet_sent(&t, now);
	}
	cr_assert(a & FLOE_WG_TIMER_GIVE_UP);
	cr_assert_not(a & FLOE_WG_TIMER_SEND_INITIATION);
	/* 18 + 1 retries after the first: MAX_TIMER_HANDSHAKES + 2 initiations in all. */
	cr_assert_eq(retries, FLOE_WG_MAX_TIMER_HANDSHAKES + 1);
	cr_assert_eq(retries, 19);
	/* The last retry goes out past REKEY_ATTEMPT_TIME, each wait 5 s + jitter. */
	cr_assert_geq(last_retry - T0, S(FLOE_WG_REKEY_ATTEMPT_TIME_S));
	cr_assert_geq(now - T0, S(20 * FLOE_WG_REKEY_TIMEOUT_S));
	cr_assert_lt(now - T0, 20 * (S(FLOE_WG_REKEY_TIMEOUT_S) + MS(FLOE_WG_REKEY_TIMEOUT_JITTER_MAX_MS)));
	/* After giving up only the zero-key timer is left, 3 x REJECT_AFTER_TIME out. */
	cr_assert_eq(t.retransmit_handshake_at, 0);
	cr_assert_eq(t.send_keepalive_at, 0);
	cr_assert_eq(t.zero_key_material_at, now + 3 * S(FLOE_WG_REJECT_AFTER_TIME_S));
	cr_assert_eq(floe_wg_timers_next_deadline(&t), t.zero_key_material_at);
}

Test(timers, give_up_keeps_an_earlier_zero_key_deadline)
{
	floe_wg_timers_t t;
	uint64_t at;

	floe_wg_timers_init(&t, 0);
	floe_wg_timers_session_derived(&t, T0);
	t.handshake_attempts = FLOE_WG_MAX_TIMER_HANDSHAKES + 1;
	floe_wg_timers_handshake_initiated(&t, T0 + S(100));
	at = t.retransmit_handshake_at;
	cr_assert_eq(floe_wg_timers_expire(&t, at), FLOE_WG_TIMER_GIVE_UP);
	cr_assert_eq(t.zero_key_material_at, T0 + 3 * S(FLOE_WG_REJECT_AFTER_TIME_S));
}

Test(timers, handshake_new_restarts_the_attempt_count)
{
	floe_wg_timers_t t;

	floe_wg_timers_init(&t, 0);
	t.handshake_attempts = FLOE_WG_MAX_TIMER_HANDSHAKES + 1;
	floe_wg_timers_handshake_new(&t);
	floe_wg_timers_handshake_initiated(&t, T0);
	cr_assert_eq(floe_wg_timers_expire(&t, t.retransmit_handshake_at), FLOE_WG_TIMER_SEND_INITIATION);
	cr_assert_eq(t.handshake_attempts, 1);
}

Test(timers, handshake_complete_disarms_retransmit)
{
	floe_wg_timers_t t;

	floe_wg_timers_init(&t, 0);
	floe_wg_timers_handshake_initiated(&t, T0);
	cr_assert_eq(floe_wg_timers_expire(&t, t.retransmit_handshake_at), FLOE_WG_TIMER_SEND_INITIATION);
	floe_wg_timers_handshake_initiated(&t, T0 + S(6));
	cr_assert_eq(t.handshake_attempts, 1);
	floe_wg_timers_handshake_complete(&t, T0 + S(7));
	cr_assert_eq(t.handshake_attempts, 0);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
	cr_assert_eq(floe_wg_timers_expire(&t, T0 + S(60)), FLOE_WG_TIMER_NONE);
}

Test(timers, passive_keepalive_after_data_received)
{
	floe_wg_timers_t t;
	const uint64_t at = T0 + S(FLOE_WG_KEEPALIVE_TIMEOUT_S);

	floe_wg_timers_init(&t, 0);
	floe_wg_timers_data_received(&t, T0);
	cr_assert_eq(t.send_keepalive_at, at);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), at);
	assert_fires_exactly_at(&t, at, FLOE_WG_TIMER_SEND_KEEPALIVE);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
}

Test(timers, more_data_during_the_wait_owes_another_keepalive)
{
	floe_wg_timers_t t;
	const uint64_t at = T0 + S(FLOE_WG_KEEPALIVE_TIMEOUT_S);

	floe_wg_timers_init(&t, 0);
	floe_wg_timers_data_received(&t, T0);
	floe_wg_timers_data_received(&t, T0 + S(4));
	cr_assert_eq(t.send_keepalive_at, at, "an armed keepalive must not be pushed back");
	cr_assert(t.need_another_keepalive);
	cr_assert_eq(floe_wg_timers_expire(&t, at), FLOE_WG_TIMER_SEND_KEEPALIVE);
	cr_assert_eq(t.send_keepalive_at, at + S(FLOE_WG_KEEPALIVE_TIMEOUT_S));
	cr_assert_not(t.need_another_keepalive);
	assert_fires_exactly_at(&t, t.send_keepalive_at, FLOE_WG_TIMER_SEND_KEEPALIVE);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
}

Test(timers, sending_anything_cancels_the_keepalive)
{
	floe_wg_timers_t t;

	floe_wg_timers_init(&t, 0);
	floe_wg_timers_data_received(&t, T0);
	floe_wg_timers_any_authenticated_packet_sent(&t, T0 + S(9));
	cr_assert_eq(floe_wg_timers_expire(&t, T0 + S(FLOE_WG_KEEPALIVE_TIMEOUT_S)), FLOE_WG_TIMER_NONE);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
}

Test(timers, new_handshake_when_sent_data_gets_no_reply)
{
	floe_wg_timers_t t;
	const uint64_t at = T0 + S(FLOE_WG_KEEPALIVE_TIMEOUT_S + FLOE_WG_REKEY_TIMEOUT_S);

	floe_wg_timers_init(&t, 0);
	t.handshake_attempts = 7;
	floe_wg_timers_data_sent(&t, T0);
	floe_wg_timers_data_sent(&t, T0 + S(3));
	cr_assert_eq(t.new_handshake_at, at, "an armed new-handshake timer must not be pushed back");
	cr_assert_eq(at - T0, S(15));
	assert_fires_exactly_at(&t, at, FLOE_WG_TIMER_SEND_INITIATION);
	cr_assert_eq(t.handshake_attempts, 0, "a new handshake is not a retry");
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
}

Test(timers, any_reply_cancels_the_new_handshake)
{
	floe_wg_timers_t t;

	floe_wg_timers_init(&t, 0);
	floe_wg_timers_data_sent(&t, T0);
	floe_wg_timers_any_authenticated_packet_received(&t, T0 + S(14));
	cr_assert_eq(floe_wg_timers_expire(&t, T0 + S(15)), FLOE_WG_TIMER_NONE);
	/* The next data packet starts a fresh 15 s wait. */
	floe_wg_timers_data_sent(&t, T0 + S(20));
	cr_assert_eq(floe_wg_timers_next_deadline(&t), T0 + S(35));
}

Test(timers, zero_keys_after_three_reject_after_times)
{
	floe_wg_timers_t t;
	uint64_t at;

	floe_wg_timers_init(&t, 0);
	floe_wg_timers_session_derived(&t, T0);
	cr_assert_eq(t.zero_key_material_at, T0 + S(540));
	/* A newer session moves the deadline. */
	floe_wg_timers_session_derived(&t, T0 + S(100));
	at = T0 + S(100 + 3 * FLOE_WG_REJECT_AFTER_TIME_S);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), at);
	assert_fires_exactly_at(&t, at, FLOE_WG_TIMER_ZERO_KEYS);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
}

Test(timers, persistent_keepalive_counts_from_the_last_packet)
{
	floe_wg_timers_t t;
	uint64_t at;

	floe_wg_timers_init(&t, 25);
	floe_wg_timers_any_authenticated_packet_traversal(&t, T0);
	cr_assert_eq(t.persistent_keepalive_at, T0 + S(25));
	floe_wg_timers_any_authenticated_packet_traversal(&t, T0 + S(10));
	at = T0 + S(35);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), at);
	assert_fires_exactly_at(&t, at, FLOE_WG_TIMER_SEND_KEEPALIVE);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
}

Test(timers, no_persistent_keepalive_when_off)
{
	floe_wg_timers_t t;

	floe_wg_timers_init(&t, 0);
	floe_wg_timers_any_authenticated_packet_traversal(&t, T0);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
	cr_assert_eq(floe_wg_timers_expire(&t, T0 + S(3600)), FLOE_WG_TIMER_NONE);
}

Test(timers, several_actions_due_at_once)
{
	floe_wg_timers_t t;

	floe_wg_timers_init(&t, 1);
	floe_wg_timers_data_received(&t, T0);
	floe_wg_timers_session_derived(&t, T0);
	floe_wg_timers_any_authenticated_packet_traversal(&t, T0);
	cr_assert_eq(floe_wg_timers_expire(&t, T0 + S(600)),
		     FLOE_WG_TIMER_SEND_KEEPALIVE | FLOE_WG_TIMER_ZERO_KEYS);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
}

Test(timers, stop_disarms_everything)
{
	floe_wg_timers_t t;

	floe_wg_timers_init(&t, 25);
	floe_wg_timers_handshake_initiated(&t, T0);
	floe_wg_timers_data_received(&t, T0);
	floe_wg_timers_data_received(&t, T0);
	floe_wg_timers_data_sent(&t, T0);
	floe_wg_timers_session_derived(&t, T0);
	floe_wg_timers_any_authenticated_packet_traversal(&t, T0);
	cr_assert_neq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
	floe_wg_timers_stop(&t);
	cr_assert_eq(floe_wg_timers_next_deadline(&t), UINT64_MAX);
	cr_assert_eq(floe_wg_timers_expire(&t, UINT64_MAX - 1), FLOE_WG_TIMER_NONE);
	cr_assert_not(t.need_another_keepalive);
	cr_assert_eq(t.persistent_keepalive_s, 25, "the configuration survives a stop");
}

/*
 * Whatever the history, next_deadline is the earliest armed timer: nothing
 * is due a nanosecond before it, something is due at it, and it is the
 * minimum of the armed deadlines.
 */
Test(timers, next_deadline_is_the_earliest_armed_timer)
{
	floe_wg_timers_t t;
	uint64_t now = T0;
	unsigned fired = 0;

	floe_wg_timers_init(&t, 7);
	for (int i = 0; i < 20000; i++) {
		uint64_t next, min = UINT64_MAX;

		now += randombytes_uniform(4000) * FLOE_NS_PER_MS;
		switch (randombytes_uniform(11)) {
		case 0: floe_wg_timers_data_sent(&t, now); break;
		case 1: floe_wg_timers_data_received(&t, now); break;
		case 2: floe_wg_timers_any_authenticated_packet_sent(&t, now); break;
		case 3: floe_wg_timers_any_authenticated_packet_received(&t, now); break;
		case 4: floe_wg_timers_any_authenticated_packet_traversal(&t, now); break;
		case 5: floe_wg_timers_handshake_initiated(&t, now); break;
		case 6: floe_wg_timers_handshake_complete(&t, now); break;
		case 7: floe_wg_timers_session_derived(&t, now); break;
		case 8: if (randombytes_uniform(20) == 0) floe_wg_timers_stop(&t); break;
		default: fired |= floe_wg_timers_expire(&t, now); break;
		}
		const uint64_t armed[] = {
			t.retransmit_handshake_at, t.send_keepalive_at, t.new_handshake_at,
			t.zero_key_material_at, t.persistent_keepalive_at,
		};
		for (size_t k = 0; k < FLOE_ARRAY_LEN(armed); k++)
			if (armed[k] && armed[k] < min)
				min = armed[k];
		next = floe_wg_timers_next_deadline(&t);
		cr_assert_eq(next, min);
		if (next == UINT64_MAX) {
			cr_assert_eq(probe(&t, UINT64_MAX - 1), FLOE_WG_TIMER_NONE);
			continue;
		}
		cr_assert_eq(probe(&t, next - 1), FLOE_WG_TIMER_NONE, "step %d", i);
		cr_assert_neq(probe(&t, next), FLOE_WG_TIMER_NONE, "step %d", i);
	}
	/* The walk must have reached every kind of expiry. */
	cr_assert(fired & FLOE_WG_TIMER_SEND_INITIATION);
	cr_assert(fired & FLOE_WG_TIMER_SEND_KEEPALIVE);
}
