/*
 * A bounded FIFO of packets, copied into slots allocated once: what a peer
 * holds while its handshake is under way (WireGuard's staged packets). When
 * full, a push drops the oldest packet and counts it: the newest packets are
 * the ones a sender still waits for. One thread owns a ring.
 */
#ifndef FLOE_TRANSPORT_NET_PKTRING_H
#define FLOE_TRANSPORT_NET_PKTRING_H

#include <stddef.h>
#include <stdint.h>

typedef struct floe_pktring floe_pktring_t;

/* `slots` packets of at most `slot_bytes` each; NULL if either is 0 or on
 * allocation failure. */
floe_pktring_t *floe_pktring_new(size_t slots, size_t slot_bytes);
/* Wipes the held packets (they are plaintext) and frees. */
void floe_pktring_destroy(floe_pktring_t **self_p);

/* Appends a copy. 0, or -EMSGSIZE when len > slot_bytes (nothing stored,
 * counted as a drop). A full ring drops its oldest packet first. */
int floe_pktring_push(floe_pktring_t *self, const uint8_t *pkt, size_t len);
/* The oldest packet, or NULL when empty; valid until the next push/pop. */
const uint8_t *floe_pktring_peek(const floe_pktring_t *self, size_t *len);
void floe_pktring_pop(floe_pktring_t *self);
/* Drops every packet, counting them; returns how many. */
size_t floe_pktring_clear(floe_pktring_t *self);
size_t floe_pktring_count(const floe_pktring_t *self);
/* Packets dropped so far: overflow, oversize and clear. */
uint64_t floe_pktring_drops(const floe_pktring_t *self);

#endif
