/*
 * floe_malloc_tune: caps glibc's arenas unless the environment already
 * chose. Each test runs in its own process (Criterion), so the settings
 * of one do not leak into another.
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemons/common/malloc_tune.h"

/* A sanitizer replaces glibc's allocator (its mallopt refuses everything). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifdef SANITIZED
#define SKIP_IF_SANITIZED() cr_skip_test("a sanitizer's allocator has no glibc arenas to cap")
#else
#define SKIP_IF_SANITIZED() ((void)0)
#endif

enum { THREADS = 8 };

static pthread_barrier_t all_allocated;
/* volatile: the compiler may not drop a malloc whose block nobody reads. */
static void *volatile held[THREADS];

/* Each thread allocates (its first malloc picks its arena) and holds the
 * block until every thread has, so no arena is free for another. */
static void *allocate(void *arg)
{
	size_t i = (size_t)arg;

	held[i] = malloc(1000);
	pthread_barrier_wait(&all_allocated);
	free(held[i]);
	return NULL;
}

/* The arenas glibc holds after THREADS threads allocated at once:
 * malloc_info's <heap nr=...> entries. */
static int arenas_after_threads(void)
{
	pthread_t th[THREADS];
	char *xml = NULL;
	size_t len = 0;
	int n = 0;
	FILE *f;

	cr_assert_eq(pthread_barrier_init(&all_allocated, NULL, THREADS), 0);
	for (size_t i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, allocate, (void *)i), 0);
	for (size_t i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&all_allocated);
	f = open_memstream(&xml, &len);
	cr_assert_not_null(f);
	cr_assert_eq(malloc_info(0, f), 0);
	fclose(f);
	for (const char *q = xml; (q = strstr(q, "<heap nr=")) != NULL; q++)
		n++;
	free(xml);
	return n;
}

Test(malloc_tune, threads_share_the_capped_arenas)
{
	int cap, n;

	SKIP_IF_SANITIZED();
	unsetenv("MALLOC_ARENA_MAX");
	unsetenv("GLIBC_TUNABLES");
	cap = floe_malloc_tune();
	cr_assert_gt(cap, 0);
	if (cap > THREADS)
		cr_skip_test("the cap (%d arenas) is above what %d threads make", cap, (int)THREADS);
	n = arenas_after_threads();
	cr_assert_leq(n, cap, "%d arenas, cap %d", n, cap);
}

/* Without the cap each thread gets an arena of its own (glibc: up to 8
 * per core), so the test above can tell. */
Test(malloc_tune, untuned_threads_get_arenas_of_their_own)
{
	int n;

	SKIP_IF_SANITIZED();
	n = arenas_after_threads();
	/* + main's, + any the test framework's threads made */
	cr_assert_geq(n, THREADS, "%d arenas for %d threads", n, (int)THREADS);
}

Test(malloc_tune, caps_arenas_per_cpu)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = (int)cpus * FLOE_MALLOC_ARENAS_PER_CPU;

	SKIP_IF_SANITIZED();
	unsetenv("MALLOC_ARENA_MAX");
	unsetenv("GLIBC_TUNABLES");
	if (want < FLOE_MALLOC_ARENAS_MIN)
		want = FLOE_MALLOC_ARENAS_MIN;
	cr_assert_eq(floe_malloc_tune(), want);
}

Test(malloc_tune, the_environment_wins)
{
	SKIP_IF_SANITIZED();
	cr_assert_eq(setenv("MALLOC_ARENA_MAX", "3", 1), 0);
	cr_assert_eq(floe_malloc_tune(), 0, "MALLOC_ARENA_MAX was set: left alone");
	cr_assert_eq(unsetenv("MALLOC_ARENA_MAX"), 0);
	cr_assert_eq(setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=5", 1), 0);
	cr_assert_eq(floe_malloc_tune(), 0, "GLIBC_TUNABLES names arena_max: left alone");
	cr_assert_eq(setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1), 0);
	cr_assert_gt(floe_malloc_tune(), 0, "other tunables do not count");
}
