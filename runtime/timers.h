/*
 * A bounded per-actor timer set on a floe_clock_t.
 *
 * An actor's loop asks floe_timers_timeout_ms() for its poll timeout, polls
 * its mailbox and fds, then calls floe_timers_run() to fire what is due.
 * With a manual clock a test moves time by hand and calls run itself.
 *
 * Bounded (STYLE: no unbounded timer lists): at most `max` timers, chosen
 * at creation and never above FLOE_TIMERS_MAX; adding one more fails with
 * -ENOSPC. Timers belong to one thread, the actor's: no locks.
 */
#ifndef FLOE_RUNTIME_TIMERS_H
#define FLOE_RUNTIME_TIMERS_H

#include <stdint.h>

#include "runtime/clock.h"
#include "runtime/common.h"

typedef struct floe_timers floe_timers_t;

enum floe_timers_limits {
	FLOE_TIMERS_MAX = 64,
	FLOE_TIMERS_GENERATIONS = 1 << 20, /* id = generation * FLOE_TIMERS_MAX + slot */
};

/* Called by floe_timers_run() on the owner's thread; may add or cancel timers. */
typedef void(floe_timer_fn)(floe_timers_t *timers, int id, void *arg);

/* The clock is borrowed and must outlive the set. NULL on bad max or ENOMEM. */
FLOE_EXPORT floe_timers_t *floe_timers_new(floe_clock_t *clock, unsigned max);
FLOE_EXPORT void floe_timers_destroy(floe_timers_t **self_p);

/*
 * Fires fn after delay_ns, then every interval_ns (0: once). Returns the
 * timer's id (>= 0), -ENOSPC when the set is full, -EINVAL for NULL fn.
 */
FLOE_EXPORT int floe_timers_add(floe_timers_t *self, uint64_t delay_ns, uint64_t interval_ns,
				floe_timer_fn *fn, void *arg);
/* 0, or -ENOENT when id is not armed (fired once-only timers are gone). */
FLOE_EXPORT int floe_timers_cancel(floe_timers_t *self, int id);
/* Re-arms an armed timer to fire delay_ns from now: 0 or -ENOENT. */
FLOE_EXPORT int floe_timers_reset(floe_timers_t *self, int id, uint64_t delay_ns);

FLOE_EXPORT unsigned floe_timers_armed(const floe_timers_t *self);
/* The earliest deadline in clock ns, UINT64_MAX when nothing is armed. */
FLOE_EXPORT uint64_t floe_timers_next_deadline_ns(const floe_timers_t *self);
/*
 * The poll timeout until the next deadline: -1 when nothing is armed
 * (wait forever), 0 when one is due, else the milliseconds rounded up so a
 * poll never wakes before the deadline.
 */
FLOE_EXPORT int floe_timers_timeout_ms(floe_timers_t *self);
/* Fires every due timer once; returns how many fired. */
FLOE_EXPORT int floe_timers_run(floe_timers_t *self);

#endif
