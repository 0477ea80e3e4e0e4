/*
 * Transport keypairs (whitepaper 5.4.6) and the previous / current / next
 * rotation. The initiator uses a new keypair at once (current); the
 * responder holds it as `next` until the first packet arrives on it (key
 * confirmation), then it becomes current and the old current previous.
 *
 * Owned by the peer's thread; only the embedded index entry is shared
 * (through the device's table, under the device's lock).
 */
#ifndef FLOE_TRANSPORT_WG_KEYPAIR_H
#define FLOE_TRANSPORT_WG_KEYPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "transport/wg/crypto.h"
#include "transport/wg/device.h"
#include "transport/wg/replay.h"

typedef struct floe_wg_keypair {
	uint8_t send_key[FLOE_WG_SYM_KEY_LEN];
	uint8_t recv_key[FLOE_WG_SYM_KEY_LEN];
	uint64_t send_counter;     /* the next counter to send */
	floe_wg_replay_t replay;
	uint64_t birth_ns;
	uint32_t remote_index;
	floe_wg_index_entry_t entry; /* our (receiver) index */
	bool i_am_initiator;
	bool sending_valid;
	bool receiving_valid;
} floe_wg_keypair_t;

typedef struct floe_wg_keypairs {
	floe_wg_keypair_t *previous, *current, *next;
} floe_wg_keypairs_t;

/* A keypair from Split's keys (copied; caller wipes its own). NULL on ENOMEM. */
floe_wg_keypair_t *floe_wg_keypair_new(const uint8_t send_key[FLOE_WG_SYM_KEY_LEN],
                                       const uint8_t recv_key[FLOE_WG_SYM_KEY_LEN],
                                       uint32_t remote_index, bool i_am_initiator, uint64_t now_ns);
/* Wipes and frees; the caller has unregistered its index. Idempotent. */
void floe_wg_keypair_destroy(floe_wg_keypair_t **self_p);

/* Still allowed to send/receive at now (REJECT_AFTER_TIME, REJECT_AFTER_MESSAGES). */
bool floe_wg_keypair_can_send(const floe_wg_keypair_t *self, uint64_t now_ns);

/* Bytes of padding-included plaintext for a packet of len bytes (multiple of 16). */
static inline size_t floe_wg_padded_len(size_t len)
{
	return (len + FLOE_WG_PADDING_MULTIPLE - 1) & ~(size_t)(FLOE_WG_PADDING_MULTIPLE - 1);
}

/*
 * Writes a transport data message (header, padded ciphertext, tag) for pkt
 * into out in one pass. -ENOKEY when this keypair may not send,
 * -EMSGSIZE when cap is too small.
 */
ssize_t floe_wg_keypair_encrypt(floe_wg_keypair_t *self, uint64_t now_ns,
                                const uint8_t *pkt, size_t len, uint8_t *out, size_t cap);
/*
 * Opens a data message into out (the padded plaintext, len - 32 bytes) and
 * then moves the replay window. -ENOKEY expired keypair, -EBADMSG bad tag,
 * -ESTALE replayed counter, -ENOBUFS cap too small.
 */
ssize_t floe_wg_keypair_decrypt(floe_wg_keypair_t *self, uint64_t now_ns,
                                const uint8_t *msg, size_t len, uint8_t *out, size_t cap);

/* Which keypair owns this receiver index, or NULL. */
floe_wg_keypair_t *floe_wg_keypairs_find(const floe_wg_keypairs_t *self, uint32_t index);
/*
 * Installs a new keypair (whitepaper 5.4.6 / kernel add_new_keypair) and
 * returns in dropped[0..1] the keypairs it displaced, for the caller to
 * unregister and destroy (NULL where none).
 */
void floe_wg_keypairs_add(floe_wg_keypairs_t *self, floe_wg_keypair_t *kp, floe_wg_keypair_t *dropped[2]);
/*
 * Call after a packet authenticated on kp. If kp is `next`, it is confirmed:
 * next -> current -> previous, returning true and the displaced previous
 * in *dropped (or NULL).
 */
bool floe_wg_keypairs_received_with(floe_wg_keypairs_t *self, floe_wg_keypair_t *kp,
                                    floe_wg_keypair_t **dropped);

#endif
