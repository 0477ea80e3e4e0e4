/* A bounded FIFO of messages; see ring.h. */
#include <stdlib.h>

#include "actors/ring.h"

struct floe_ring {
	size_t capacity;
	size_t head; /* index of the oldest */
	size_t len;
	floe_msg_t *slots[];
};

floe_ring_t *floe_ring_new(size_t capacity)
{
	floe_ring_t *self;

	if (capacity == 0)
		return NULL;
	self = calloc(1, sizeof(*self) + capacity * sizeof(self->slots[0]));
	if (!self)
		return NULL;
	self->capacity = capacity;
	return self;
}

void floe_ring_destroy(floe_ring_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	floe_ring_clear(*self_p);
	free(*self_p);
	*self_p = NULL;
}

bool floe_ring_push(floe_ring_t *self, floe_msg_t **msg_p)
{
	bool dropped = false;

	if (self->len == self->capacity) {
		floe_msg_t *oldest = floe_ring_pop(self);

		floe_msg_destroy(&oldest);
		dropped = true;
	}
	self->slots[(self->head + self->len) % self->capacity] = *msg_p;
	self->len++;
	*msg_p = NULL;
	return dropped;
}

floe_msg_t *floe_ring_pop(floe_ring_t *self)
{
	floe_msg_t *m;

	if (self->len == 0)
		return NULL;
	m = self->slots[self->head];
	self->slots[self->head] = NULL;
	self->head = (self->head + 1) % self->capacity;
	self->len--;
	return m;
}

size_t floe_ring_len(const floe_ring_t *self)
{
	return self->len;
}

size_t floe_ring_capacity(const floe_ring_t *self)
{
	return self->capacity;
}

size_t floe_ring_clear(floe_ring_t *self)
{
	size_t n = 0;
	floe_msg_t *m;

	while ((m = floe_ring_pop(self))) {
		floe_msg_destroy(&m);
		n++;
	}
	return n;
}
