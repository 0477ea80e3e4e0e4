/* Monotonic and manual clocks behind one type: see clock.h. */
#include "runtime/clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct floe_clock {
	floe_clock_kind_t kind;
	/* Manual clocks: the current time; written by the test, read by actors. */
	_Atomic uint64_t manual_ns;
};

static floe_clock_t *s_clock_new(floe_clock_kind_t kind, uint64_t start_ns)
{
	floe_clock_t *self = calloc(1, sizeof(*self));

	if (!self)
		return NULL;
	self->kind = kind;
	atomic_init(&self->manual_ns, start_ns);
	return self;
}

floe_clock_t *floe_clock_new_monotonic(void)
{
	return s_clock_new(FLOE_CLOCK_MONOTONIC, 0);
}

floe_clock_t *floe_clock_new_manual(uint64_t start_ns)
{
	return s_clock_new(FLOE_CLOCK_MANUAL, start_ns);
}

void floe_clock_destroy(floe_clock_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	free(*self_p);
	*self_p = NULL;
}

floe_clock_kind_t floe_clock_kind(const floe_clock_t *self)
{
	return self->kind;
}

uint64_t floe_clock_now_ns(floe_clock_t *self)
{
	struct timespec ts;

	if (self->kind == FLOE_CLOCK_MANUAL)
		return atomic_load_explicit(&self->manual_ns, memory_order_acquire);
	/* Cannot fail for CLOCK_MONOTONIC with a valid pointer (clock_gettime(2)). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * FLOE_NS_PER_S + (uint64_t)ts.tv_nsec;
}

int floe_clock_advance(floe_clock_t *self, uint64_t ns)
{
	if (!self)
		return -EINVAL;
	if (self->kind != FLOE_CLOCK_MANUAL)
		return -EPERM;
	atomic_fetch_add_explicit(&self->manual_ns, ns, memory_order_acq_rel);
	return 0;
}
