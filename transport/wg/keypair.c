/*
 * Keypairs and the data path's two hot functions. No allocation per packet:
 * encryption writes the datagram once into the caller's buffer, decryption
 * writes the plaintext once into the caller's buffer.
 */
#include "transport/wg/keypair.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "transport/wg/messages.h"
#include "transport/wg/timers.h"

floe_wg_keypair_t *floe_wg_keypair_new(const uint8_t send_key[FLOE_WG_SYM_KEY_LEN],
                                       const uint8_t recv_key[FLOE_WG_SYM_KEY_LEN],
                                       uint32_t remote_index, bool i_am_initiator, uint64_t now_ns)
{
	floe_wg_keypair_t *self = calloc(1, sizeof(*self));

	if (!self)
		return NULL;
	memcpy(self->send_key, send_key, FLOE_WG_SYM_KEY_LEN);
	memcpy(self->recv_key, recv_key, FLOE_WG_SYM_KEY_LEN);
	floe_wg_replay_init(&self->replay);
	self->birth_ns = now_ns;
	self->remote_index = remote_index;
	self->i_am_initiator = i_am_initiator;
	self->sending_valid = true;
	self->receiving_valid = true;
	return self;
}

void floe_wg_keypair_destroy(floe_wg_keypair_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	sodium_memzero(*self_p, sizeof(**self_p));
	free(*self_p);
	*self_p = NULL;
}

static bool expired(const floe_wg_keypair_t *self, uint64_t now_ns)
{
	return now_ns - self->birth_ns >= FLOE_WG_REJECT_AFTER_TIME_S * FLOE_NS_PER_S;
}

bool floe_wg_keypair_can_send(const floe_wg_keypair_t *self, uint64_t now_ns)
{
	return self && self->sending_valid && !expired(self, now_ns) &&
	       self->send_counter < FLOE_WG_REJECT_AFTER_MESSAGES;
}

ssize_t floe_wg_keypair_encrypt(floe_wg_keypair_t *self, uint64_t now_ns,
                                const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	uint8_t nonce[FLOE_WG_AEAD_NONCE_LEN];
	size_t padded = floe_wg_padded_len(len);
	uint64_t counter;

	if (len > FLOE_WG_MAX_PACKET_LEN || cap < padded + FLOE_WG_DATA_OVERHEAD)
		return -EMSGSIZE;
	if (!floe_wg_keypair_can_send(self, now_ns))
		return -ENOKEY;
	counter = self->send_counter++;

	floe_wg_header_put(out, FLOE_WG_MSG_DATA);
	floe_wg_le32_put(out + FLOE_WG_DATA_OFF_RECEIVER, self->remote_index);
	floe_wg_le64_put(out + FLOE_WG_DATA_OFF_COUNTER, counter);
	floe_wg_counter_nonce(nonce, counter);
	floe_wg_aead_encrypt_padded(out + FLOE_WG_DATA_OFF_PAYLOAD, self->send_key, nonce,
	                            pkt, len, padded, NULL, 0);
	return (ssize_t)(padded + FLOE_WG_DATA_OVERHEAD);
}

ssize_t floe_wg_keypair_decrypt(floe_wg_keypair_t *self, uint64_t now_ns,
                                const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
	uint64_t counter = floe_wg_le64_get(msg + FLOE_WG_DATA_OFF_COUNTER);
	size_t plain_len = len - FLOE_WG_DATA_OVERHEAD;

	if (!self->receiving_valid || expired(self, now_ns) || counter >= FLOE_WG_REJECT_AFTER_MESSAGES)
		return -ENOKEY;
	if (cap < plain_len)
		return -ENOBUFS;
	if (!floe_wg_aead_verify(self->recv_key, counter, msg + FLOE_WG_DATA_OFF_PAYLOAD,
	                         len - FLOE_WG_DATA_OFF_PAYLOAD, NULL, 0))
		return -EBADMSG;
	/* Only authenticated counters may move the window; a replay never reaches out. */
	if (!floe_wg_replay_check(&self->replay, counter))
		return -ESTALE;
	floe_wg_aead_open_verified(out, self->recv_key, counter, msg + FLOE_WG_DATA_OFF_PAYLOAD, plain_len);
	return (ssize_t)plain_len;
}

floe_wg_keypair_t *floe_wg_keypairs_find(const floe_wg_keypairs_t *self, uint32_t index)
{
	floe_wg_keypair_t *all[] = { self->current, self->previous, self->next };

	for (size_t i = 0; i < FLOE_ARRAY_LEN(all); i++)
		if (all[i] && all[i]->entry.registered && all[i]->entry.index == index)
			return all[i];
	return NULL;
}

void floe_wg_keypairs_add(floe_wg_keypairs_t *self, floe_wg_keypair_t *kp, floe_wg_keypair_t *dropped[2])
{
	dropped[0] = NULL;
	dropped[1] = NULL;
	if (kp->i_am_initiator) {
		/*
		 * An unconfirmed next (we answered their initiation and then
		 * initiated ourselves) becomes previous so its packets still
		 * decrypt; otherwise the old current does.
		 */
		dropped[0] = self->previous;
		if (self->next) {
			self->previous = self->next;
			self->next = NULL;
			dropped[1] = self->current;
		} else {
			self->previous = self->current;
		}
		self->current = kp;
	} else {
		/* Unconfirmed: wait for the initiator's first packet on it. */
		dropped[0] = self->next;
		dropped[1] = self->previous;
		self->next = kp;
		self->previous = NULL;
	}
}

bool floe_wg_keypairs_received_with(floe_wg_keypairs_t *self, floe_wg_keypair_t *kp,
                                    floe_wg_keypair_t **dropped)
{
	*dropped = NULL;
	if (kp != self->next)
		return false;
	*dropped = self->previous;
	self->previous = self->current;
	self->current = kp;
	self->next = NULL;
	return true;
}
