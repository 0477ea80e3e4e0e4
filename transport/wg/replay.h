/*
 * The sliding replay window of a receiving keypair (whitepaper 5.4.6,
 * RFC 6479), as WireGuard's counter_validate() in receive.c: a bitmap of
 * FLOE_WG_COUNTER_BITS_TOTAL bits of which one word is redundant, so the
 * window is FLOE_WG_COUNTER_WINDOW_SIZE counters behind the greatest seen.
 *
 * Call only after the packet authenticated: the window must never move on
 * forged input. Owned by the peer's thread; no locks.
 */
#ifndef FLOE_TRANSPORT_WG_REPLAY_H
#define FLOE_TRANSPORT_WG_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/common.h"

enum floe_wg_counter_values {
	FLOE_WG_COUNTER_BITS_TOTAL = 8192,
	FLOE_WG_COUNTER_REDUNDANT_BITS = 64,
	FLOE_WG_COUNTER_WINDOW_SIZE = FLOE_WG_COUNTER_BITS_TOTAL - FLOE_WG_COUNTER_REDUNDANT_BITS,
};

/* Counters at or above this are never accepted (and never sent). */
#define FLOE_WG_REJECT_AFTER_MESSAGES (UINT64_MAX - (uint64_t)FLOE_WG_COUNTER_WINDOW_SIZE - 1)
/* Past this many sent messages the sender starts a new handshake. */
#define FLOE_WG_REKEY_AFTER_MESSAGES (1ULL << 60)

typedef struct floe_wg_replay {
	uint64_t greatest;          /* largest accepted counter + 1; 0 = none yet */
	uint64_t bitmap[FLOE_WG_COUNTER_BITS_TOTAL / 64];
} floe_wg_replay_t;

void floe_wg_replay_init(floe_wg_replay_t *self);
/* Accepts `counter` (and marks it seen) or rejects it: too old, seen, or >= REJECT_AFTER_MESSAGES. */
FLOE_MUST_CHECK bool floe_wg_replay_check(floe_wg_replay_t *self, uint64_t counter);

#endif
