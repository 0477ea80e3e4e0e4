/*
 * Typed messages with explicit ownership.
 *
 * A message is one buffer: a floe header (type, control code, payload
 * offset and length) followed by headroom and the payload. Packet messages
 * take their buffer from a floe_pool_t, so a packet crosses from one actor
 * to another as one ZeroMQ frame without a copy or an allocation by floe
 * (libzmq itself allocates a small refcount block per zmq_msg_init_data).
 * Control messages are small heap buffers: they are rare and never on the
 * packet path.
 *
 *   floe_msg_t *m = floe_msg_new(pool, FLOE_MSG_TUN_PACKET);
 *   if (!m) { count a drop; }                 pool empty: never blocks
 *   n = read(tun, floe_msg_data(m), floe_msg_tailroom(m));
 *   floe_msg_set_len(m, n);
 *   floe_mailbox_send(sender, &m);            m is NULL afterwards, always
 *
 * Ownership crosses only through floe_msg_t ** (STYLE rule 6). Whoever
 * holds a message must destroy it or hand it on; floe_msg_destroy() returns
 * the buffer to its pool from any thread.
 */
#ifndef FLOE_RUNTIME_MSG_H
#define FLOE_RUNTIME_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"
#include "runtime/pool.h"

typedef struct floe_msg floe_msg_t;
struct zmq_msg_t;

/*
 * Message types, frame 0's first field. Extensible: modules add their own
 * from the ranges below without touching the runtime.
 */
typedef enum {
	FLOE_MSG_NONE = 0,
	FLOE_MSG_CONTROL = 1,    /* code: floe_control_t */
	FLOE_MSG_TIMER = 2,      /* arg: timer id */
	FLOE_MSG_TUN_PACKET = 3, /* an IP packet from the device */
	FLOE_MSG_DATAGRAM = 4,   /* a datagram from the network */
	FLOE_MSG_SIGNAL = 5,     /* signalling (ICE credentials, candidates) */
	FLOE_MSG_RUNTIME_LAST = 31,
	FLOE_MSG_ACTORS_FIRST = 32, /* actors/: 32..63 */
	FLOE_MSG_DAEMONS_FIRST = 64, /* daemons/: 64..127 */
	FLOE_MSG_TYPE_MAX = 0xffff,
} floe_msg_type_t;

/* Codes of FLOE_MSG_CONTROL messages. */
typedef enum {
	FLOE_CONTROL_NONE = 0,
	FLOE_CONTROL_TERM = 1,         /* stop: the actor function returns */
	FLOE_CONTROL_CHILD_EXITED = 2, /* arg: child actor id; status: its return code */
	FLOE_CONTROL_USER_FIRST = 64,
} floe_control_t;

enum floe_msg_limits {
	FLOE_MSG_HEADER_BYTES = 128,  /* floe's header at the start of every buffer */
	FLOE_MSG_HEADROOM_BYTES = 64, /* before the payload: room for WireGuard's 16-byte header */
	FLOE_MSG_HEAP_MAX_BYTES = 65536,
};

/* A message from the pool, payload empty; NULL (counted by the pool) when it is empty. */
FLOE_EXPORT floe_msg_t *floe_msg_new(floe_pool_t *pool, uint16_t type);
/* A heap message with room for payload_bytes; for control and signalling, not packets. */
FLOE_EXPORT floe_msg_t *floe_msg_new_heap(uint16_t type, size_t payload_bytes);
FLOE_EXPORT floe_msg_t *floe_msg_new_control(uint16_t code, uint64_t arg, int32_t status);
/* Returns the buffer (to its pool); any thread; NULL-safe. */
FLOE_EXPORT void floe_msg_destroy(floe_msg_t **self_p);

FLOE_EXPORT uint16_t floe_msg_type(const floe_msg_t *self);
FLOE_EXPORT uint16_t floe_msg_code(const floe_msg_t *self);
FLOE_EXPORT uint64_t floe_msg_arg(const floe_msg_t *self);
FLOE_EXPORT int32_t floe_msg_status(const floe_msg_t *self);
FLOE_EXPORT void floe_msg_set_type(floe_msg_t *self, uint16_t type);
FLOE_EXPORT void floe_msg_set_code(floe_msg_t *self, uint16_t code);
FLOE_EXPORT void floe_msg_set_arg(floe_msg_t *self, uint64_t arg);
FLOE_EXPORT void floe_msg_set_status(floe_msg_t *self, int32_t status);
/* true for FLOE_MSG_CONTROL / FLOE_CONTROL_TERM. */
FLOE_EXPORT FLOE_MUST_CHECK bool floe_msg_is_term(const floe_msg_t *self);

FLOE_EXPORT uint8_t *floe_msg_data(floe_msg_t *self);
FLOE_EXPORT size_t floe_msg_len(const floe_msg_t *self);
FLOE_EXPORT size_t floe_msg_headroom(const floe_msg_t *self);
/* Bytes available after the payload's start, i.e. the largest valid len. */
FLOE_EXPORT size_t floe_msg_tailroom(const floe_msg_t *self);
/* 0, or -EMSGSIZE when len exceeds floe_msg_tailroom(). */
FLOE_EXPORT int floe_msg_set_len(floe_msg_t *self, size_t len);
/* Grows the payload at the front by n bytes; NULL when the headroom is short. */
FLOE_EXPORT uint8_t *floe_msg_push(floe_msg_t *self, size_t n);
/* Strips n bytes from the front; NULL when the payload is shorter. */
FLOE_EXPORT uint8_t *floe_msg_pull(floe_msg_t *self, size_t n);

/*
 * Runtime-internal (mailbox.c): conversion to and from one ZeroMQ frame.
 * wrap consumes *self_p on every path and initialises frame on success
 * (0) only. unwrap takes a received frame and returns its message, or
 * closes it and returns NULL when it is not a floe message.
 */
int floe_msg_zmq_wrap_(floe_msg_t **self_p, struct zmq_msg_t *frame);
floe_msg_t *floe_msg_zmq_unwrap_(struct zmq_msg_t *frame);

#endif
