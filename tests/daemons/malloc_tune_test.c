/*
 * floe_malloc_tune: caps glibc's arenas unless the environment already
 * chose. Each test runs in its own process (Criterion), so the settings
 * of one do not leak into another.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
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
