/*
 * glibc allocator settings for the daemons (see malloc_tune.h for why).
 */
#include "daemons/common/malloc_tune.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int floe_malloc_tune(void)
{
	const char *tunables = getenv("GLIBC_TUNABLES");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int arenas;

	if (getenv("MALLOC_ARENA_MAX") || (tunables && strstr(tunables, "arena_max")))
		return 0;
	arenas = cpus > 0 ? (int)cpus * FLOE_MALLOC_ARENAS_PER_CPU : FLOE_MALLOC_ARENAS_MIN;
	if (arenas < FLOE_MALLOC_ARENAS_MIN)
		arenas = FLOE_MALLOC_ARENAS_MIN;
	/* mallopt returns 1 on success, 0 on error. */
	return mallopt(M_ARENA_MAX, arenas) == 1 ? arenas : -EINVAL;
}
