/*
 * The per-source rate limiter on a manual clock: burst then steady rate,
 * sources independent, IPv6 limited per /64, the table bound (refused and
 * counted when full), collection of idle sources, address parsing, bad
 * input, and several threads sharing one limiter.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include "runtime/clock.h"
#include "transport/wg/ratelimit.h"

#define T0 (1000 * FLOE_NS_PER_S)
#define COST_NS (FLOE_NS_PER_S / FLOE_WG_RATELIMIT_PACKETS_PER_S)

static floe_wg_ratelimit_key_t key_of(const char *s)
{
	floe_wg_ratelimit_key_t k;

	cr_assert_eq(floe_wg_ratelimit_key_from_string(&k, s), 0, "parse %s", s);
	return k;
}

static int allowed_in_row(floe_wg_ratelimit_t *rl, floe_clock_t *clk, const floe_wg_ratelimit_key_t *k, int tries)
{
	int ok = 0;

	for (int i = 0; i < tries; i++)
		ok += floe_wg_ratelimit_allow(rl, floe_clock_now_ns(clk), k);
	return ok;
}

Test(ratelimit, burst_then_steady_rate)
{
	floe_wg_ratelimit_t *rl = floe_wg_ratelimit_new();
	floe_clock_t *clk = floe_clock_new_manual(T0);
	floe_wg_ratelimit_key_t k = key_of("192.0.2.1:51820");
	floe_wg_ratelimit_stats_t st;
	int ok = 0;

	cr_assert_not_null(rl);
	cr_assert_eq(allowed_in_row(rl, clk, &k, 100), FLOE_WG_RATELIMIT_BURST, "a burst of 5 at one instant");
	/* Just short of one token: still refused. */
	floe_clock_advance(clk, COST_NS - 1);
	cr_assert_not(floe_wg_ratelimit_allow(rl, floe_clock_now_ns(clk), &k));
	floe_clock_advance(clk, 1);
	cr_assert(floe_wg_ratelimit_allow(rl, floe_clock_now_ns(clk), &k));
	/* 10 s at 1,000 attempts per second: 20/s get through. */
	for (int ms = 0; ms < 10000; ms++) {
		floe_clock_advance(clk, FLOE_NS_PER_MS);
		ok += floe_wg_ratelimit_allow(rl, floe_clock_now_ns(clk), &k);
	}
	cr_assert_eq(ok, 10 * FLOE_WG_RATELIMIT_PACKETS_PER_S);
	floe_wg_ratelimit_stats(rl, &st);
	cr_assert_eq(st.allowed, (uint64_t)(FLOE_WG_RATELIMIT_BURST + 1 + ok));
	cr_assert_eq(st.limited, 100 - FLOE_WG_RATELIMIT_BURST + 1 + 10000 - (uint64_t)ok);
	cr_assert_eq(st.entries, 1);
	/* A long pause refills only up to the burst. */
	floe_clock_advance(clk, 60 * FLOE_NS_PER_S);
	cr_assert_eq(allowed_in_row(rl, clk, &k, 50), FLOE_WG_RATELIMIT_BURST);
	floe_clock_destroy(&clk);
	floe_wg_ratelimit_destroy(&rl);
	cr_assert_null(rl);
	floe_wg_ratelimit_destroy(&rl);
	floe_wg_ratelimit_destroy(NULL);
}

Test(ratelimit, sources_are_independent_and_port_is_ignored)
{
	floe_wg_ratelimit_t *rl = floe_wg_ratelimit_new();
	floe_clock_t *clk = floe_clock_new_manual(T0);
	floe_wg_ratelimit_key_t a = key_of("10.0.0.1:1000"), a2 = key_of("10.0.0.1:2000");
	floe_wg_ratelimit_key_t b = key_of("10.0.0.2:1000");

	cr_assert_eq(allowed_in_row(rl, clk, &a, 20), FLOE_WG_RATELIMIT_BURST);
	cr_assert_eq(allowed_in_row(rl, clk, &a2, 20), 0, "another port of the same host shares its bucket");
	cr_assert_eq(allowed_in_row(rl, clk, &b, 20), FLOE_WG_RATELIMIT_BURST, "a flooding neighbour costs b nothing");
	floe_clock_destroy(&clk);
	floe_wg_ratelimit_destroy(&rl);
}

Test(ratelimit, ipv6_limited_per_64)
{
	floe_wg_ratelimit_t *rl = floe_wg_ratelimit_new();
	floe_clock_t *clk = floe_clock_new_manual(T0);
	floe_wg_ratelimit_key_t a = key_of("[2001:db8:1:2::1]:51820");
	floe_wg_ratelimit_key_t same64 = key_of("2001:db8:1:2:ffff:eeee:dddd:cccc");
	floe_wg_ratelimit_key_t other64 = key_of("[2001:db8:1:3::1%eth0]:1");
	floe_wg_ratelimit_key_t mapped = key_of("[::ffff:10.0.0.1]:5");
	floe_wg_ratelimit_key_t v4 = key_of("10.0.0.1");

	cr_assert_eq(a.family, AF_INET6);
	cr_assert_eq(allowed_in_row(rl, clk, &a, 10), FLOE_WG_RATELIMIT_BURST);
	cr_assert_eq(allowed_in_row(rl, clk, &same64, 10), 0, "rotating the interface id does not help");
	cr_assert_eq(allowed_in_row(rl, clk, &other64, 10), FLOE_WG_RATELIMIT_BURST);
	cr_assert_eq(mapped.family, AF_INET, "v4-mapped is the v4 host");
	cr_assert_eq(allowed_in_row(rl, clk, &mapped, 10), FLOE_WG_RATELIMIT_BURST);
	cr_assert_eq(allowed_in_row(rl, clk, &v4, 10), 0);
	floe_clock_destroy(&clk);
	floe_wg_ratelimit_destroy(&rl);
}

static floe_wg_ratelimit_key_t nth_v4(uint32_t n)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000u + n) };
	floe_wg_ratelimit_key_t k;

	cr_assert_eq(floe_wg_ratelimit_key_from_sockaddr(&k, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return k;
}

Test(ratelimit, table_is_bounded_and_idle_sources_are_collected)
{
	floe_wg_ratelimit_t *rl = floe_wg_ratelimit_new();
	floe_clock_t *clk = floe_clock_new_manual(T0);
	floe_wg_ratelimit_stats_t st;
	floe_wg_ratelimit_key_t k;

	for (uint32_t i = 0; i < FLOE_WG_RATELIMIT_MAX_ENTRIES; i++) {
		k = nth_v4(i);
		cr_assert(floe_wg_ratelimit_allow(rl, T0, &k));
	}
	k = nth_v4(FLOE_WG_RATELIMIT_MAX_ENTRIES);
	cr_assert_not(floe_wg_ratelimit_allow(rl, T0, &k), "a new source at a full table is refused");
	k = nth_v4(7);
	cr_assert(floe_wg_ratelimit_allow(rl, T0, &k), "known sources keep their buckets");
	floe_wg_ratelimit_stats(rl, &st);
	cr_assert_eq(st.entries, FLOE_WG_RATELIMIT_MAX_ENTRIES);
	cr_assert_eq(st.table_full, 1);

	/* Keep one source busy; after the idle time the others are collected. */
	for (int step = 1; step <= 4; step++) {
		k = nth_v4(7);
		cr_assert(floe_wg_ratelimit_allow(rl, T0 + (uint64_t)step * FLOE_NS_PER_S / 2, &k));
	}
	floe_wg_ratelimit_stats(rl, &st);
	cr_assert_eq(st.entries, 1, "only the busy source is left, got %lu", (unsigned long)st.entries);
	k = nth_v4(FLOE_WG_RATELIMIT_MAX_ENTRIES);
	cr_assert(floe_wg_ratelimit_allow(rl, T0 + 2 * FLOE_NS_PER_S, &k), "room again");
	floe_clock_destroy(&clk);
	floe_wg_ratelimit_destroy(&rl);
}

Test(ratelimit, bad_input_is_refused_not_crashed)
{
	floe_wg_ratelimit_t *rl = floe_wg_ratelimit_new();
	floe_wg_ratelimit_key_t k = { 0 };
	floe_wg_ratelimit_stats_t st;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr sa = { .sa_family = AF_UNIX };
	const char *bad[] = { "", "nonsense", "300.1.1.1:5", "[::1", "[::1]x", "[]:5",
			      "0123456789012345678901234567890123456789012345678901234567890123456789" };

	cr_assert_not(floe_wg_ratelimit_allow(rl, T0, NULL));
	cr_assert_not(floe_wg_ratelimit_allow(rl, T0, &k), "an unknown family gets no free pass");
	cr_assert_not(floe_wg_ratelimit_allow(NULL, T0, &k));
	floe_wg_ratelimit_stats(rl, &st);
	cr_assert_eq(st.limited, 2);
	floe_wg_ratelimit_stats(NULL, &st);
	cr_assert_eq(st.allowed, 0);
	floe_wg_ratelimit_stats(rl, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(floe_wg_ratelimit_key_from_string(&k, bad[i]), -EINVAL, "'%s'", bad[i]);
	cr_assert_eq(floe_wg_ratelimit_key_from_string(NULL, "1.2.3.4"), -EINVAL);
	cr_assert_eq(floe_wg_ratelimit_key_from_string(&k, NULL), -EINVAL);
	cr_assert_eq(floe_wg_ratelimit_key_from_sockaddr(&k, (struct sockaddr *)&sin, 4), -EINVAL, "truncated");
	cr_assert_eq(floe_wg_ratelimit_key_from_sockaddr(&k, &sa, sizeof(sa)), -EAFNOSUPPORT);
	cr_assert_eq(floe_wg_ratelimit_key_from_sockaddr(&k, NULL, 16), -EINVAL);
	floe_wg_ratelimit_destroy(&rl);
}

enum { N_THREADS = 4, PER_THREAD = 20000 };

typedef struct {
	floe_wg_ratelimit_t *rl;
	floe_clock_t *clk;
	int ok;
} worker_t;

static void *worker(void *arg)
{
	worker_t *w = arg;
	floe_wg_ratelimit_key_t k = key_of("198.51.100.7:9");

	for (int i = 0; i < PER_THREAD; i++)
		w->ok += floe_wg_ratelimit_allow(w->rl, floe_clock_now_ns(w->clk), &k);
	return NULL;
}

/* Threads sharing one source and one (frozen) clock: exactly one burst in total. */
Test(ratelimit, threads_share_one_bucket)
{
	floe_wg_ratelimit_t *rl = floe_wg_ratelimit_new();
	floe_clock_t *clk = floe_clock_new_manual(T0);
	pthread_t th[N_THREADS];
	worker_t w[N_THREADS];
	int total = 0;

	for (int i = 0; i < N_THREADS; i++) {
		w[i] = (worker_t){ .rl = rl, .clk = clk };
		cr_assert_eq(pthread_create(&th[i], NULL, worker, &w[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		total += w[i].ok;
	}
	cr_assert_eq(total, FLOE_WG_RATELIMIT_BURST);
	floe_clock_destroy(&clk);
	floe_wg_ratelimit_destroy(&rl);
}
