/*
 * A nanosecond clock: CLOCK_MONOTONIC for real actors, or a manual clock
 * that tests move by hand so timer behaviour is checked exactly at, and just
 * before, each deadline without sleeping.
 *
 * Thread-safety: every function may be called from any thread; a manual
 * clock's time is one atomic, so an actor may read it while a test thread
 * advances it.
 */
#ifndef FLOE_RUNTIME_CLOCK_H
#define FLOE_RUNTIME_CLOCK_H

#include <stdint.h>

#include "runtime/common.h"

#ifndef FLOE_NS_PER_S
#define FLOE_NS_PER_S 1000000000ULL
#endif
#ifndef FLOE_NS_PER_MS
#define FLOE_NS_PER_MS 1000000ULL
#endif

typedef struct floe_clock floe_clock_t;

typedef enum {
	FLOE_CLOCK_MONOTONIC = 0,
	FLOE_CLOCK_MANUAL = 1,
} floe_clock_kind_t;

/* NULL on allocation failure. */
FLOE_EXPORT floe_clock_t *floe_clock_new_monotonic(void);
FLOE_EXPORT floe_clock_t *floe_clock_new_manual(uint64_t start_ns);
FLOE_EXPORT void floe_clock_destroy(floe_clock_t **self_p);

FLOE_EXPORT floe_clock_kind_t floe_clock_kind(const floe_clock_t *self);
/* Nanoseconds since an arbitrary origin; never goes backwards. */
FLOE_EXPORT uint64_t floe_clock_now_ns(floe_clock_t *self);
/* Manual clocks only: 0, -EINVAL for NULL, -EPERM for a monotonic clock. */
FLOE_EXPORT int floe_clock_advance(floe_clock_t *self, uint64_t ns);

#endif
