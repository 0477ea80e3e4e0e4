/*
 * Lets Criterion run under ThreadSanitizer (linked into test binaries of
 * TSan builds only, by cmake/floe.cmake).
 *
 * Criterion's BoxFort picks the address of its inheritable arena at random
 * in [0x200000000000, 0x7f0000000000) in 16 MiB steps, from rand_r(), and
 * gives up after 10 addresses that are already mapped. TSan reserves almost
 * all of that range for its shadow and metadata, so without help Criterion
 * aborts with "Could not initialize inheritable arena: Resource temporarily
 * unavailable" (Snaipe/Criterion#274) or maps over TSan's memory and
 * crashes. This rand_r() steers BoxFort to 0x560001000000 and up, inside
 * the range TSan leaves to applications (position-independent binaries);
 * BoxFort still checks each candidate is free. Nothing in floe uses rand_r.
 */
#include <stdlib.h>

enum {
	BOXFORT_STEP_TO_0x5600 = 0x360000, /* (0x560000000000 - 0x200000000000) >> 24 */
	SKIP_STEPS = 0x100,                /* leave the first 4 GiB to the binary */
	STRIDE_STEPS = 0x10,               /* 256 MiB between candidates */
	CANDIDATES = 0x100,
};

/* Default visibility: the project builds with -fvisibility=hidden, and libcriterion must bind to this one. */
__attribute__((visibility("default"))) int rand_r(unsigned int *seed);

int rand_r(unsigned int *seed)
{
	unsigned int k = (*seed)++ % CANDIDATES;

	return (int)(BOXFORT_STEP_TO_0x5600 + SKIP_STEPS + k * STRIDE_STEPS);
}
