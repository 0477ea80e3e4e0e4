/*
 * A pool of fixed-size buffers, sized once at start-up (STYLE rule 7): the
 * packet path takes and returns buffers here and never calls malloc.
 *
 * floe_pool_get() returns NULL when the pool is empty and counts it; the
 * caller drops whatever it meant to carry. It never blocks and never grows.
 *
 * Thread-safety: get and put may run on any thread at once. A packet's
 * buffer is taken on the producing actor's thread and returned by the free
 * function libzmq calls on whichever thread closes the message, so the free
 * list is a lock-free bounded MPMC ring of buffer indices (D. Vyukov's
 * sequence-numbered cells: no ABA, no lock on the hot path).
 *
 * Misuse that would corrupt memory — returning a pointer that is not a
 * buffer of this pool, or returning one twice — aborts with a message
 * (a programmer error, STYLE rule 15). Under ASan a returned buffer is
 * poisoned until it is handed out again, so use after return is reported.
 */
#ifndef FLOE_RUNTIME_POOL_H
#define FLOE_RUNTIME_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"

typedef struct floe_pool floe_pool_t;

enum floe_pool_limits {
	/* A 1420-byte packet + WireGuard's 32 bytes + floe's message header and headroom. */
	FLOE_POOL_BUF_BYTES = 2048,
	FLOE_POOL_BUF_ALIGN_BYTES = 64, /* one cache line: headers never share one */
	FLOE_POOL_MAX_BUFS = 1 << 20,
};

/* buf_bytes is rounded up to FLOE_POOL_BUF_ALIGN_BYTES. NULL on bad size or ENOMEM. */
FLOE_EXPORT floe_pool_t *floe_pool_new(size_t buf_bytes, uint32_t count);
/*
 * Frees the pool. Every buffer must be back (close the sockets and
 * senders that may still hold messages, then the context, then the pool):
 * with buffers outstanding it refuses, returns -EBUSY and leaves *self_p
 * alone, because freeing would let libzmq write into freed memory later.
 */
FLOE_EXPORT int floe_pool_destroy(floe_pool_t **self_p);

/* A buffer of floe_pool_buf_bytes() bytes, or NULL (counted) when empty. */
FLOE_EXPORT void *floe_pool_get(floe_pool_t *self);
/* Returns a buffer; any thread. */
FLOE_EXPORT void floe_pool_put(floe_pool_t *self, void *buf);

FLOE_EXPORT size_t floe_pool_buf_bytes(const floe_pool_t *self);
FLOE_EXPORT uint32_t floe_pool_count(const floe_pool_t *self);
/* Buffers in the pool now (a snapshot; exact when no thread is using the pool). */
FLOE_EXPORT uint32_t floe_pool_available(floe_pool_t *self);
/* How many floe_pool_get() calls found the pool empty. */
FLOE_EXPORT uint64_t floe_pool_exhausted(floe_pool_t *self);

#endif
