/*
 * Timer set: a fixed array scanned linearly. An actor has a handful of
 * timers (keepalive, rekey, consent, handshake retry), so a scan of at most
 * FLOE_TIMERS_MAX slots is cheaper than keeping a heap ordered.
 */
#include "runtime/timers.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>

struct timer {
	bool armed;
	bool fresh;          /* added during this run: fires from the next one */
	unsigned gen;        /* bumped on every arm, so stale ids miss */
	uint64_t deadline_ns;
	uint64_t interval_ns;
	floe_timer_fn *fn;
	void *arg;
};

struct floe_timers {
	floe_clock_t *clock; /* borrowed */
	unsigned max;
	unsigned armed;
	bool running;
	struct timer slot[FLOE_TIMERS_MAX];
};

floe_timers_t *floe_timers_new(floe_clock_t *clock, unsigned max)
{
	floe_timers_t *self;

	if (!clock || max == 0 || max > FLOE_TIMERS_MAX)
		return NULL;
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->clock = clock;
	self->max = max;
	return self;
}

void floe_timers_destroy(floe_timers_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	free(*self_p);
	*self_p = NULL;
}

static int s_id(unsigned slot, unsigned gen)
{
	return (int)(gen * FLOE_TIMERS_MAX + slot);
}

/* The armed slot an id names, or NULL. */
static struct timer *s_lookup(floe_timers_t *self, int id)
{
	struct timer *t;

	if (id < 0 || (unsigned)id % FLOE_TIMERS_MAX >= self->max)
		return NULL;
	t = &self->slot[(unsigned)id % FLOE_TIMERS_MAX];
	if (!t->armed || t->gen != (unsigned)id / FLOE_TIMERS_MAX)
		return NULL;
	return t;
}

int floe_timers_add(floe_timers_t *self, uint64_t delay_ns, uint64_t interval_ns,
		    floe_timer_fn *fn, void *arg)
{
	unsigned i;
	struct timer *t;

	if (!self || !fn)
		return -EINVAL;
	for (i = 0; i < self->max; i++)
		if (!self->slot[i].armed)
			break;
	if (i == self->max)
		return -ENOSPC;
	t = &self->slot[i];
	t->gen = (t->gen + 1) % FLOE_TIMERS_GENERATIONS;
	t->armed = true;
	t->fresh = self->running;
	t->deadline_ns = floe_clock_now_ns(self->clock) + delay_ns;
	t->interval_ns = interval_ns;
	t->fn = fn;
	t->arg = arg;
	self->armed++;
	return s_id(i, t->gen);
}

int floe_timers_cancel(floe_timers_t *self, int id)
{
	struct timer *t = self ? s_lookup(self, id) : NULL;

	if (!t)
		return -ENOENT;
	t->armed = false;
	self->armed--;
	return 0;
}

int floe_timers_reset(floe_timers_t *self, int id, uint64_t delay_ns)
{
	struct timer *t = self ? s_lookup(self, id) : NULL;

	if (!t)
		return -ENOENT;
	t->deadline_ns = floe_clock_now_ns(self->clock) + delay_ns;
	return 0;
}

unsigned floe_timers_armed(const floe_timers_t *self)
{
	return self->armed;
}

uint64_t floe_timers_next_deadline_ns(const floe_timers_t *self)
{
	uint64_t next = UINT64_MAX;
	unsigned i;

	for (i = 0; i < self->max; i++)
		if (self->slot[i].armed && self->slot[i].deadline_ns < next)
			next = self->slot[i].deadline_ns;
	return next;
}

int floe_timers_timeout_ms(floe_timers_t *self)
{
	uint64_t next = floe_timers_next_deadline_ns(self);
	uint64_t now, ms;

	if (next == UINT64_MAX)
		return -1;
	now = floe_clock_now_ns(self->clock);
	if (next <= now)
		return 0;
	/* Round up: waking a little late is fine, waking early spins. */
	ms = (next - now + FLOE_NS_PER_MS - 1) / FLOE_NS_PER_MS;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int floe_timers_run(floe_timers_t *self)
{
	uint64_t now = floe_clock_now_ns(self->clock);
	int fired = 0;
	unsigned i;

	self->running = true;
	for (i = 0; i < self->max; i++) {
		struct timer *t = &self->slot[i];
		int id;

		if (!t->armed || t->fresh || t->deadline_ns > now)
			continue;
		id = s_id(i, t->gen);
		if (t->interval_ns) {
			/* After a long stall fire once and resume the rhythm from now. */
			t->deadline_ns += t->interval_ns;
			if (t->deadline_ns <= now)
				t->deadline_ns = now + t->interval_ns;
		} else {
			t->armed = false;
			self->armed--;
		}
		/* State is committed before the call: the callback may cancel or re-add. */
		t->fn(self, id, t->arg);
		fired++;
	}
	for (i = 0; i < self->max; i++)
		self->slot[i].fresh = false;
	self->running = false;
	return fired;
}
