/*
 * AllowedIPs: the cryptokey routing table of a WireGuard interface. Maps
 * prefixes (IPv4 and IPv6) to an owner (a peer) and answers longest-prefix
 * match for a packet's destination (which peer to encrypt for) and source
 * (may this peer send from that address?).
 *
 * Entries are kept sorted by prefix length, longest first, so the first
 * match is the longest. That is linear in the number of prefixes, which suits
 * floe-wg's handful of peers; the table is bounded by
 * FLOE_ALLOWEDIPS_MAX_ENTRIES. Inserting a prefix that is already present
 * moves it to the new owner, as WireGuard does. One thread owns a table.
 */
#ifndef FLOE_TRANSPORT_NET_ALLOWEDIPS_H
#define FLOE_TRANSPORT_NET_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>

#include "transport/net/addr.h"

enum floe_allowedips_limits {
	FLOE_ALLOWEDIPS_MAX_ENTRIES = 65536,
};

typedef struct floe_allowedips floe_allowedips_t;

floe_allowedips_t *floe_allowedips_new(void);
void floe_allowedips_destroy(floe_allowedips_t **self_p);

/* Adds prefix -> owner (owner != NULL); host bits are ignored. -EINVAL for a
 * bad family or NULL owner, -ENOSPC past the bound, -ENOMEM. */
int floe_allowedips_insert(floe_allowedips_t *self, const floe_cidr_t *prefix, void *owner);
/* Removes every prefix of owner. */
void floe_allowedips_remove_owner(floe_allowedips_t *self, const void *owner);
/* Owner of the longest prefix containing addr, or NULL. */
void *floe_allowedips_lookup(const floe_allowedips_t *self, int family, const uint8_t *addr);
size_t floe_allowedips_count(const floe_allowedips_t *self);

#endif
