/*
 * glibc allocator settings for the long-running daemons (issue #7,
 * docs/perf.md "Memory over reconnections").
 *
 * glibc gives threads their own malloc arenas, up to 8 per core. A
 * gateway runs one thread per connection, so with connections coming and
 * going every arena ends up holding freed memory of connections long gone
 * (it returns memory to the kernel only from the top of each arena heap).
 * Connection threads allocate only at set-up and teardown (the packet
 * path uses pooled buffers), so fewer arenas cost no contention worth
 * having, and they bound what churn leaves behind.
 */
#ifndef FLOE_DAEMONS_MALLOC_TUNE_H
#define FLOE_DAEMONS_MALLOC_TUNE_H

#include "runtime/common.h"

enum {
	FLOE_MALLOC_ARENAS_PER_CPU = 1, /* glibc's default on 64-bit: 8 */
	FLOE_MALLOC_ARENAS_MIN = 2,
};

/*
 * Caps glibc's malloc arenas at FLOE_MALLOC_ARENAS_PER_CPU per online CPU
 * (at least FLOE_MALLOC_ARENAS_MIN). Call first in main, before any thread
 * exists. Does nothing when the environment already says (MALLOC_ARENA_MAX,
 * or GLIBC_TUNABLES naming arena_max): the operator's choice wins.
 * Returns the cap set, 0 when left alone, or -EINVAL if glibc refused.
 */
FLOE_EXPORT int floe_malloc_tune(void);

#endif
