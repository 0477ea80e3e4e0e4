/* Bounded packet FIFO, oldest dropped: see pktring.h. */
#include "transport/net/pktring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct floe_pktring {
	uint8_t *data;   /* slots * slot_bytes */
	size_t *lens;
	size_t slots, slot_bytes;
	size_t head, count;
	uint64_t drops;
};

floe_pktring_t *floe_pktring_new(size_t slots, size_t slot_bytes)
{
	floe_pktring_t *self;

	if (!slots || !slot_bytes || slots > SIZE_MAX / slot_bytes)
		return NULL;
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->data = malloc(slots * slot_bytes);
	self->lens = calloc(slots, sizeof(*self->lens));
	if (!self->data || !self->lens) {
		free(self->data);
		free(self->lens);
		free(self);
		return NULL;
	}
	self->slots = slots;
	self->slot_bytes = slot_bytes;
	return self;
}

void floe_pktring_destroy(floe_pktring_t **self_p)
{
	floe_pktring_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	explicit_bzero(self->data, self->slots * self->slot_bytes);
	free(self->data);
	free(self->lens);
	free(self);
	*self_p = NULL;
}

int floe_pktring_push(floe_pktring_t *self, const uint8_t *pkt, size_t len)
{
	size_t slot;

	if (len > self->slot_bytes) {
		self->drops++;
		return -EMSGSIZE;
	}
	if (self->count == self->slots) {
		floe_pktring_pop(self);
		self->drops++;
	}
	slot = (self->head + self->count) % self->slots;
	memcpy(self->data + slot * self->slot_bytes, pkt, len);
	self->lens[slot] = len;
	self->count++;
	return 0;
}

const uint8_t *floe_pktring_peek(const floe_pktring_t *self, size_t *len)
{
	if (!self->count)
		return NULL;
	*len = self->lens[self->head];
	return self->data + self->head * self->slot_bytes;
}

void floe_pktring_pop(floe_pktring_t *self)
{
	if (!self->count)
		return;
	self->head = (self->head + 1) % self->slots;
	self->count--;
}

size_t floe_pktring_clear(floe_pktring_t *self)
{
	size_t n = self->count;

	self->drops += n;
	self->head = 0;
	self->count = 0;
	return n;
}

size_t floe_pktring_count(const floe_pktring_t *self)
{
	return self->count;
}

uint64_t floe_pktring_drops(const floe_pktring_t *self)
{
	return self->drops;
}
