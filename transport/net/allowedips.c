/* AllowedIPs longest-prefix match: see allowedips.h. */
#include "transport/net/allowedips.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
	INITIAL_CAPACITY = 16,
};

struct entry {
	floe_cidr_t prefix; /* masked */
	void *owner;
};

struct floe_allowedips {
	struct entry *entries; /* sorted by prefix length, longest first */
	size_t count, cap;
};

floe_allowedips_t *floe_allowedips_new(void)
{
	return calloc(1, sizeof(floe_allowedips_t));
}

void floe_allowedips_destroy(floe_allowedips_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	free((*self_p)->entries);
	free(*self_p);
	*self_p = NULL;
}

static bool same_prefix(const floe_cidr_t *a, const floe_cidr_t *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->addr, b->addr, floe_addr_len(a->family)) == 0;
}

int floe_allowedips_insert(floe_allowedips_t *self, const floe_cidr_t *prefix, void *owner)
{
	floe_cidr_t p;
	size_t i;

	if (!self || !prefix || !owner || !floe_addr_len(prefix->family) ||
	    prefix->prefix > floe_addr_len(prefix->family) * 8)
		return -EINVAL;
	p = *prefix;
	floe_cidr_mask(&p);
	for (i = 0; i < self->count; i++) {
		if (same_prefix(&self->entries[i].prefix, &p)) {
			self->entries[i].owner = owner;
			return 0;
		}
	}
	if (self->count == FLOE_ALLOWEDIPS_MAX_ENTRIES)
		return -ENOSPC;
	if (self->count == self->cap) {
		size_t cap = self->cap ? self->cap * 2 : INITIAL_CAPACITY;
		struct entry *e = realloc(self->entries, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		self->entries = e;
		self->cap = cap;
	}
	/* Insert after every entry at least as long: the first match stays
	 * the longest. */
	for (i = 0; i < self->count; i++)
		if (self->entries[i].prefix.prefix < p.prefix)
			break;
	memmove(&self->entries[i + 1], &self->entries[i], (self->count - i) * sizeof(struct entry));
	self->entries[i] = (struct entry){ .prefix = p, .owner = owner };
	self->count++;
	return 0;
}

void floe_allowedips_remove_owner(floe_allowedips_t *self, const void *owner)
{
	size_t r, w = 0;

	if (!self)
		return;
	for (r = 0; r < self->count; r++)
		if (self->entries[r].owner != owner)
			self->entries[w++] = self->entries[r];
	self->count = w;
}

void *floe_allowedips_lookup(const floe_allowedips_t *self, int family, const uint8_t *addr)
{
	if (!self || !addr)
		return NULL;
	for (size_t i = 0; i < self->count; i++)
		if (floe_cidr_contains(&self->entries[i].prefix, family, addr))
			return self->entries[i].owner;
	return NULL;
}

size_t floe_allowedips_count(const floe_allowedips_t *self)
{
	return self ? self->count : 0;
}
