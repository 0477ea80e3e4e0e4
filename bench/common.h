/*
 * What every load benchmark needs and would otherwise write again: a
 * monotonic clock in milliseconds and a fatal error that names the program
 * (a benchmark that cannot set itself up has nothing to measure).
 */
#ifndef FLOE_BENCH_COMMON_H
#define FLOE_BENCH_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* "bench_loadgen: error: ..." on stderr, then exit 1. */
#define BENCH_DIE(...)                                                              \
	do {                                                                        \
		fprintf(stderr, "%s: error: ", program_invocation_short_name);     \
		fprintf(stderr, __VA_ARGS__);                                       \
		fputc('\n', stderr);                                                \
		exit(1);                                                            \
	} while (0)

static inline uint64_t bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
