/*
 * The device's internals shared with peer.c (not a public header): the
 * receiver-index table and the peer table, both under the device's lock,
 * and read-only access to the static identity and cookie checker.
 */
#ifndef FLOE_TRANSPORT_WG_DEVICE_H
#define FLOE_TRANSPORT_WG_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/wg/cookie.h"
#include "transport/wg/noise.h"
#include "transport/wg/wg.h"

enum floe_wg_device_limits {
	FLOE_WG_INDEX_BUCKETS = 1 << 12,  /* power of two; chains are short (<= 4 indices per peer) */
	FLOE_WG_INDEX_MAX_TRIES = 64,     /* random draws before giving up (table absurdly full) */
};

/*
 * One live receiver index, embedded in what owns it (a peer's handshake or
 * one of its keypairs) so registering never allocates. Maps to the peer;
 * the peer finds which of its objects holds that index.
 */
typedef struct floe_wg_index_entry {
	struct floe_wg_index_entry *next;
	floe_wg_peer_t *peer;
	uint32_t index;
	bool registered;
} floe_wg_index_entry_t;

const floe_wg_static_t *floe_wg_device_identity(const floe_wg_device_t *self);
floe_wg_cookie_checker_t *floe_wg_device_cookie_checker(floe_wg_device_t *self);
bool floe_wg_device_is_under_load(const floe_wg_device_t *self);
void floe_wg_device_count_drop(floe_wg_device_t *self);

/* Draws a random index unused on this device and registers entry -> peer. -EBUSY if none found. */
int floe_wg_device_index_register(floe_wg_device_t *self, floe_wg_index_entry_t *entry, floe_wg_peer_t *peer);
/* Hands `from`'s index to `to` (handshake -> keypair) without a moment where it is free. */
void floe_wg_device_index_move(floe_wg_device_t *self, floe_wg_index_entry_t *from, floe_wg_index_entry_t *to);
/* Idempotent. */
void floe_wg_device_index_unregister(floe_wg_device_t *self, floe_wg_index_entry_t *entry);

/* -EEXIST when a peer has this key already. */
int floe_wg_device_peer_add(floe_wg_device_t *self, floe_wg_peer_t *peer, const uint8_t pub[FLOE_WG_KEY_LEN]);
void floe_wg_device_peer_remove(floe_wg_device_t *self, floe_wg_peer_t *peer);

#endif
