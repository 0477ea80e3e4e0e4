/*
 * Per-actor counters, readable from any thread without locks.
 *
 * Each actor owns one floe_counters_t and is its only writer: an increment
 * is a relaxed load and a relaxed store (no lock-prefixed read-modify-write
 * is needed with a single writer), so the hot path costs what a plain
 * increment costs. Any other thread (floectl show, Prometheus, the node
 * summing per-node totals) takes a floe_counters_snapshot_t with relaxed
 * loads: each value is one the owner really wrote, and values only grow.
 * The struct is visible (not opaque) so that increments inline.
 */
#ifndef FLOE_RUNTIME_COUNTERS_H
#define FLOE_RUNTIME_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <floe/floe.h>

#include "runtime/common.h"

/* floe_counter_t (the counter names of the design brief, in order) and
 * floe_counters_snapshot_t are public: include/floe/floe.h. */

typedef struct floe_counters {
	_Atomic uint64_t v[FLOE_COUNTER_COUNT];
} floe_counters_t;

/* All zero. NULL on ENOMEM. */
FLOE_EXPORT floe_counters_t *floe_counters_new(void);
FLOE_EXPORT void floe_counters_destroy(floe_counters_t **self_p);
/* For a block embedded in another struct. */
FLOE_EXPORT void floe_counters_init(floe_counters_t *self);

/* "tun_rx_packets", ...; NULL for an id out of range. */
FLOE_EXPORT const char *floe_counter_name(floe_counter_t id);
/* The id of a name, or -ENOENT. */
FLOE_EXPORT int floe_counter_from_name(const char *name);

/* Owner thread only (single writer). */
static inline void floe_counters_add(floe_counters_t *self, floe_counter_t id, uint64_t n)
{
	uint64_t v = atomic_load_explicit(&self->v[id], memory_order_relaxed);

	atomic_store_explicit(&self->v[id], v + n, memory_order_relaxed);
}

static inline void floe_counters_inc(floe_counters_t *self, floe_counter_t id)
{
	floe_counters_add(self, id, 1);
}

/* Any thread. */
static inline uint64_t floe_counters_get(const floe_counters_t *self, floe_counter_t id)
{
	return atomic_load_explicit(&self->v[id], memory_order_relaxed);
}

/* Any thread: copies every counter. */
FLOE_EXPORT void floe_counters_snapshot(const floe_counters_t *self, floe_counters_snapshot_t *out);
/* total += each of n snapshots (per-node totals). */
FLOE_EXPORT void floe_counters_sum(floe_counters_snapshot_t *total,
				   const floe_counters_snapshot_t *each, size_t n);

#endif
