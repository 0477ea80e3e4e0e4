/*
 * A bounded FIFO of messages: what a connection keeps while ICE runs
 * (actors/policy.h says what goes in). Pushing into a full ring drops the
 * oldest message and reports it, so the newest packets survive, as the
 * design asks ("oldest dropped and counted").
 *
 * Owned by one thread (the connection actor's); no locks. The ring owns
 * the messages it holds: destroy and clear return their buffers.
 */
#ifndef FLOE_ACTORS_RING_H
#define FLOE_ACTORS_RING_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/msg.h"

typedef struct floe_ring floe_ring_t;

/* capacity > 0 messages. NULL on ENOMEM or a zero capacity. */
floe_ring_t *floe_ring_new(size_t capacity);
void floe_ring_destroy(floe_ring_t **self_p);
/*
 * Takes *msg_p (nulled on every path). Returns true when the ring was full
 * and its oldest message was dropped to make room.
 */
bool floe_ring_push(floe_ring_t *self, floe_msg_t **msg_p);
/* The oldest message, now the caller's; NULL when empty. */
floe_msg_t *floe_ring_pop(floe_ring_t *self);
size_t floe_ring_len(const floe_ring_t *self);
size_t floe_ring_capacity(const floe_ring_t *self);
/* Drops every message; returns how many. */
size_t floe_ring_clear(floe_ring_t *self);

#endif
