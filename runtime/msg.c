/* Messages: one buffer, header first (see msg.h). */
#include "runtime/msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "runtime/tsan.h"

#define FLOE_MSG_MAGIC 0x666c6f65u /* "floe" */

/*
 * Lives at the start of the buffer. zmsg holds the frame the buffer
 * travels in once it came out of (or failed to go into) a socket, so that
 * destroying or forwarding the message goes through libzmq's refcounted
 * content and its free function exactly once.
 */
struct floe_msg {
	zmq_msg_t zmsg;     /* valid only when in_zmq */
	floe_pool_t *pool;  /* NULL: heap */
	uint32_t magic;
	uint16_t type;
	uint16_t code;
	uint32_t off;       /* payload offset from the start of the buffer */
	uint32_t len;
	uint32_t cap;       /* bytes in the buffer */
	int32_t status;
	uint64_t arg;
	bool in_zmq;
};

_Static_assert(sizeof(struct floe_msg) <= FLOE_MSG_HEADER_BYTES, "header outgrew its room");

/*
 * The free function libzmq calls on whichever thread closes the last
 * reference: a receiver, a sender whose send failed, or libzmq's reaper
 * when a socket closes with messages queued. Pool puts are thread-safe.
 */
static void s_free(void *data, void *hint)
{
	/* Pairs with the release before the send (tsan.h). */
	FLOE_TSAN_ACQUIRE(data);
	if (hint)
		floe_pool_put(hint, data);
	else
		free(data);
}

static void s_init(floe_msg_t *self, floe_pool_t *pool, uint16_t type, size_t cap, size_t off)
{
	memset(self, 0, sizeof(*self));
	self->pool = pool;
	self->magic = FLOE_MSG_MAGIC;
	self->type = type;
	self->cap = (uint32_t)cap;
	self->off = (uint32_t)off;
}

floe_msg_t *floe_msg_new(floe_pool_t *pool, uint16_t type)
{
	floe_msg_t *self;
	size_t cap;

	if (!pool)
		return NULL;
	cap = floe_pool_buf_bytes(pool);
	if (cap < FLOE_MSG_HEADER_BYTES + FLOE_MSG_HEADROOM_BYTES)
		return NULL;
	self = floe_pool_get(pool);
	if (!self)
		return NULL;
	s_init(self, pool, type, cap, FLOE_MSG_HEADER_BYTES + FLOE_MSG_HEADROOM_BYTES);
	return self;
}

floe_msg_t *floe_msg_new_heap(uint16_t type, size_t payload_bytes)
{
	floe_msg_t *self;

	if (payload_bytes > FLOE_MSG_HEAP_MAX_BYTES)
		return NULL;
	self = malloc(FLOE_MSG_HEADER_BYTES + payload_bytes);
	if (!self)
		return NULL;
	s_init(self, NULL, type, FLOE_MSG_HEADER_BYTES + payload_bytes, FLOE_MSG_HEADER_BYTES);
	return self;
}

floe_msg_t *floe_msg_new_control(uint16_t code, uint64_t arg, int32_t status)
{
	floe_msg_t *self = floe_msg_new_heap(FLOE_MSG_CONTROL, 0);

	if (!self)
		return NULL;
	self->code = code;
	self->arg = arg;
	self->status = status;
	return self;
}

void floe_msg_destroy(floe_msg_t **self_p)
{
	floe_msg_t *self;
	zmq_msg_t frame;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	*self_p = NULL;
	if (!self->in_zmq) {
		s_free(self, self->pool);
		return;
	}
	/*
	 * Move the frame out of the buffer first: zmq_msg_close() writes to
	 * the zmq_msg_t after calling the free function, and by then another
	 * thread may own the buffer.
	 */
	zmq_msg_init(&frame);
	zmq_msg_move(&frame, &self->zmsg);
	self->in_zmq = false;
	zmq_msg_close(&frame);
}

uint16_t floe_msg_type(const floe_msg_t *self)
{
	return self->type;
}

uint16_t floe_msg_code(const floe_msg_t *self)
{
	return self->code;
}

uint64_t floe_msg_arg(const floe_msg_t *self)
{
	return self->arg;
}

int32_t floe_msg_status(const floe_msg_t *self)
{
	return self->status;
}

void floe_msg_set_type(floe_msg_t *self, uint16_t type)
{
	self->type = type;
}

void floe_msg_set_code(floe_msg_t *self, uint16_t code)
{
	self->code = code;
}

void floe_msg_set_arg(floe_msg_t *self, uint64_t arg)
{
	self->arg = arg;
}

void floe_msg_set_status(floe_msg_t *self, int32_t status)
{
	self->status = status;
}

bool floe_msg_is_term(const floe_msg_t *self)
{
	return self && self->type == FLOE_MSG_CONTROL && self->code == FLOE_CONTROL_TERM;
}

uint8_t *floe_msg_data(floe_msg_t *self)
{
	return (uint8_t *)self + self->off;
}

size_t floe_msg_len(const floe_msg_t *self)
{
	return self->len;
}

size_t floe_msg_headroom(const floe_msg_t *self)
{
	return self->off - FLOE_MSG_HEADER_BYTES;
}

size_t floe_msg_tailroom(const floe_msg_t *self)
{
	return self->cap - self->off;
}

int floe_msg_set_len(floe_msg_t *self, size_t len)
{
	if (len > floe_msg_tailroom(self))
		return -EMSGSIZE;
	self->len = (uint32_t)len;
	return 0;
}

uint8_t *floe_msg_push(floe_msg_t *self, size_t n)
{
	if (n > floe_msg_headroom(self))
		return NULL;
	self->off -= (uint32_t)n;
	self->len += (uint32_t)n;
	return floe_msg_data(self);
}

uint8_t *floe_msg_pull(floe_msg_t *self, size_t n)
{
	if (n > self->len)
		return NULL;
	self->off += (uint32_t)n;
	self->len -= (uint32_t)n;
	return floe_msg_data(self);
}

int floe_msg_zmq_wrap_(floe_msg_t **self_p, struct zmq_msg_t *frame)
{
	floe_msg_t *self = *self_p;

	*self_p = NULL;
	if (self->in_zmq) {
		/* Forwarding a received message: reuse its frame, no new allocation. */
		zmq_msg_init(frame);
		zmq_msg_move(frame, &self->zmsg);
		self->in_zmq = false;
		return 0;
	}
	if (zmq_msg_init_data(frame, self, self->off + self->len, s_free, self->pool) != 0) {
		s_free(self, self->pool);
		return -ENOMEM;
	}
	return 0;
}

static floe_msg_t *s_from_frame(struct zmq_msg_t *frame)
{
	floe_msg_t *self = zmq_msg_data(frame);

	if (zmq_msg_size(frame) < FLOE_MSG_HEADER_BYTES ||
	    ((uintptr_t)self & (_Alignof(floe_msg_t) - 1)) != 0 ||
	    self->magic != FLOE_MSG_MAGIC || self->off < FLOE_MSG_HEADER_BYTES ||
	    (uint64_t)self->off + self->len > self->cap)
		return NULL;
	return self;
}

floe_msg_t *floe_msg_zmq_unwrap_(struct zmq_msg_t *frame)
{
	floe_msg_t *self = s_from_frame(frame);

	if (!self) {
		zmq_msg_close(frame);
		return NULL;
	}
	zmq_msg_init(&self->zmsg);
	zmq_msg_move(&self->zmsg, frame);
	self->in_zmq = true;
	return self;
}
