/*
 * Sliding replay window (RFC 6479) with WireGuard's counter_validate()
 * semantics. Bit n of the ring records counter n; the ring holds
 * FLOE_WG_COUNTER_BITS_TOTAL bits, but only FLOE_WG_COUNTER_WINDOW_SIZE
 * counters behind the greatest are answered from it. The one spare word
 * is what lets the window advance by clearing whole words: the word that
 * holds the greatest counter may be only partly "live", so the oldest live
 * word must never be the one we are about to reuse.
 */
#include "transport/wg/replay.h"

#include <string.h>

enum {
	WORD_BITS = 64,
	WORD_SHIFT = 6,
	RING_WORDS = FLOE_WG_COUNTER_BITS_TOTAL / WORD_BITS,
};

_Static_assert((RING_WORDS & (RING_WORDS - 1)) == 0, "ring size must be a power of two");
_Static_assert((int)FLOE_WG_COUNTER_REDUNDANT_BITS == (int)WORD_BITS, "exactly one redundant word");

void floe_wg_replay_init(floe_wg_replay_t *self)
{
	memset(self, 0, sizeof(*self));
}

/*
 * Moves the top of the window from the word of the previous greatest
 * counter to the word of `counter`, zeroing every word in between (at most
 * the whole ring: a jump further than the ring forgets everything, which is
 * right, as all of it is then older than the window).
 */
static void advance(floe_wg_replay_t *self, uint64_t counter)
{
	uint64_t new_word = counter >> WORD_SHIFT;
	uint64_t old_word, steps;

	if (self->greatest == 0) {
		/* Nothing accepted yet: the ring is still all zero from init. */
		self->greatest = counter + 1;
		return;
	}
	old_word = (self->greatest - 1) >> WORD_SHIFT;
	steps = new_word - old_word;
	if (steps > RING_WORDS)
		steps = RING_WORDS;
	for (uint64_t i = 1; i <= steps; i++)
		self->bitmap[(old_word + i) & (RING_WORDS - 1)] = 0;
	self->greatest = counter + 1;
}

bool floe_wg_replay_check(floe_wg_replay_t *self, uint64_t counter)
{
	uint64_t *word, bit;

	if (FLOE_UNLIKELY(counter >= FLOE_WG_REJECT_AFTER_MESSAGES))
		return false;
	/*
	 * Too old: below greatest - WINDOW, where greatest is the largest
	 * accepted counter. Written with the sum on the left so nothing can
	 * underflow; counter < REJECT_AFTER_MESSAGES keeps it from overflowing.
	 */
	if (counter + 1 + FLOE_WG_COUNTER_WINDOW_SIZE < self->greatest)
		return false;
	if (counter >= self->greatest)
		advance(self, counter);

	word = &self->bitmap[(counter >> WORD_SHIFT) & (RING_WORDS - 1)];
	bit = 1ULL << (counter & (WORD_BITS - 1));
	if (*word & bit)
		return false;
	*word |= bit;
	return true;
}
