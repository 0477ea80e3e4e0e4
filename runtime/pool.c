/*
 * Fixed-size buffer pool over a bounded MPMC ring of indices (see pool.h).
 *
 * Each ring cell carries a sequence number: a producer may fill cell
 * pos & mask only when seq == pos, a consumer may empty it only when
 * seq == pos + 1. The CAS on head/tail claims a position; the release store
 * of seq publishes the index (and, through it, the buffer's contents) to the
 * acquiring side. Positions are size_t and only grow, so a cell reused
 * 2^64 times later is the only ABA, which cannot happen.
 */
#include "runtime/pool.h"

#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define FLOE_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FLOE_POOL_ASAN 1
#endif
#endif
#ifdef FLOE_POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct cell {
	_Atomic size_t seq;
	uint32_t idx; /* published by the release store of seq */
};

struct floe_pool {
	uint8_t *mem;       /* count * buf_bytes, one allocation */
	size_t buf_bytes;
	uint32_t count;
	size_t mask;        /* ring size - 1; ring size is a power of two >= count */
	struct cell *cells;
	_Atomic uint8_t *in_pool; /* per buffer: 1 while in the ring (double-put check) */
	alignas(64) _Atomic size_t head; /* next position to take from */
	alignas(64) _Atomic size_t tail; /* next position to return to */
	alignas(64) _Atomic uint64_t exhausted;
};

static void s_die(const char *what)
{
	/* Memory corruption is the alternative: stop here, loudly. */
	fprintf(stderr, "floe_pool: %s\n", what);
	abort();
}

static size_t s_pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

floe_pool_t *floe_pool_new(size_t buf_bytes, uint32_t count)
{
	floe_pool_t *self;
	size_t ring, i;

	if (buf_bytes == 0 || buf_bytes > (1u << 24) || count == 0 || count > FLOE_POOL_MAX_BUFS) {
		errno = EINVAL;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->buf_bytes = (buf_bytes + FLOE_POOL_BUF_ALIGN_BYTES - 1) &
			  ~(size_t)(FLOE_POOL_BUF_ALIGN_BYTES - 1);
	self->count = count;
	ring = s_pow2_at_least(count);
	self->mask = ring - 1;
	self->mem = aligned_alloc(FLOE_POOL_BUF_ALIGN_BYTES, self->buf_bytes * count);
	if (!self->mem)
		goto err_self;
	self->cells = calloc(ring, sizeof(*self->cells));
	if (!self->cells)
		goto err_mem;
	self->in_pool = calloc(count, sizeof(*self->in_pool));
	if (!self->in_pool)
		goto err_cells;
	/* Cells [0, count) hold every buffer; the rest wait for their first put. */
	for (i = 0; i < ring; i++) {
		self->cells[i].idx = (uint32_t)(i < count ? i : 0);
		atomic_init(&self->cells[i].seq, i < count ? i + 1 : i);
	}
	for (i = 0; i < count; i++)
		atomic_init(&self->in_pool[i], 1);
	atomic_init(&self->head, 0);
	atomic_init(&self->tail, count);
	atomic_init(&self->exhausted, 0);
	POISON(self->mem, self->buf_bytes * count);
	return self;

err_cells:
	free(self->cells);
err_mem:
	free(self->mem);
err_self:
	free(self);
	errno = ENOMEM;
	return NULL;
}

int floe_pool_destroy(floe_pool_t **self_p)
{
	floe_pool_t *self;

	if (!self_p || !*self_p)
		return 0;
	self = *self_p;
	if (floe_pool_available(self) != self->count)
		return -EBUSY;
	UNPOISON(self->mem, self->buf_bytes * self->count);
	free(self->in_pool);
	free(self->cells);
	free(self->mem);
	free(self);
	*self_p = NULL;
	return 0;
}

void *floe_pool_get(floe_pool_t *self)
{
	size_t pos = atomic_load_explicit(&self->head, memory_order_relaxed);
	struct cell *cell;
	uint32_t idx;
	uint8_t *buf;

	for (;;) {
		size_t seq;
		intptr_t dif;

		cell = &self->cells[pos & self->mask];
		seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
		dif = (intptr_t)seq - (intptr_t)(pos + 1);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&self->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (dif < 0) {
			atomic_fetch_add_explicit(&self->exhausted, 1, memory_order_relaxed);
			return NULL;
		} else {
			pos = atomic_load_explicit(&self->head, memory_order_relaxed);
		}
	}
	idx = cell->idx;
	/* Hand the cell to the producer one lap ahead. */
	atomic_store_explicit(&cell->seq, pos + self->mask + 1, memory_order_release);
	atomic_store_explicit(&self->in_pool[idx], 0, memory_order_relaxed);
	buf = self->mem + (size_t)idx * self->buf_bytes;
	UNPOISON(buf, self->buf_bytes);
	return buf;
}

void floe_pool_put(floe_pool_t *self, void *buf)
{
	uintptr_t off;
	size_t pos;
	uint32_t idx;
	struct cell *cell;

	if (!buf)
		return;
	off = (uintptr_t)buf - (uintptr_t)self->mem;
	if ((uintptr_t)buf < (uintptr_t)self->mem || off % self->buf_bytes != 0 ||
	    off / self->buf_bytes >= self->count)
		s_die("put of a pointer that is not a buffer of this pool");
	idx = (uint32_t)(off / self->buf_bytes);
	if (atomic_exchange_explicit(&self->in_pool[idx], 1, memory_order_relaxed))
		s_die("buffer returned twice (double free)");
	POISON(buf, self->buf_bytes);

	pos = atomic_load_explicit(&self->tail, memory_order_relaxed);
	for (;;) {
		size_t seq;
		intptr_t dif;

		cell = &self->cells[pos & self->mask];
		seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
		dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&self->tail, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (dif < 0) {
			/*
			 * The ring cannot be full (the in_pool check bounds puts
			 * by the buffer count): a getter claimed this cell a lap
			 * ago and has not yet released it. Let it finish.
			 */
			sched_yield();
			pos = atomic_load_explicit(&self->tail, memory_order_relaxed);
		} else {
			pos = atomic_load_explicit(&self->tail, memory_order_relaxed);
		}
	}
	cell->idx = idx;
	atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
}

size_t floe_pool_buf_bytes(const floe_pool_t *self)
{
	return self->buf_bytes;
}

uint32_t floe_pool_count(const floe_pool_t *self)
{
	return self->count;
}

uint32_t floe_pool_available(floe_pool_t *self)
{
	size_t tail = atomic_load_explicit(&self->tail, memory_order_acquire);
	size_t head = atomic_load_explicit(&self->head, memory_order_acquire);

	/* Read mid-update the difference can be off by the in-flight operations. */
	return tail >= head ? (uint32_t)(tail - head) : 0;
}

uint64_t floe_pool_exhausted(floe_pool_t *self)
{
	return atomic_load_explicit(&self->exhausted, memory_order_relaxed);
}
