/*
 * Cookies: a DoS defence that costs the responder two BLAKE2s per bogus
 * handshake instead of a DH. MAC1 proves the sender knows our public key;
 * MAC2 (under load) proves it can receive at its source address.
 */
#include "transport/wg/cookie.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "transport/wg/messages.h"
#include "transport/wg/timers.h"

static void labelled_key(uint8_t out[FLOE_WG_HASH_LEN], const char *label, const uint8_t pub[FLOE_WG_KEY_LEN])
{
	floe_wg_iov_t parts[] = { { label, 8 }, { pub, FLOE_WG_KEY_LEN } };

	floe_wg_hash(out, parts, FLOE_ARRAY_LEN(parts));
}

void floe_wg_cookie_mac1_key(uint8_t out[FLOE_WG_HASH_LEN], const uint8_t pub[FLOE_WG_KEY_LEN])
{
	labelled_key(out, FLOE_WG_LABEL_MAC1, pub);
}

void floe_wg_cookie_encryption_key(uint8_t out[FLOE_WG_HASH_LEN], const uint8_t pub[FLOE_WG_KEY_LEN])
{
	labelled_key(out, FLOE_WG_LABEL_COOKIE, pub);
}

void floe_wg_cookie_add_mac1(uint8_t *msg, size_t len, const uint8_t mac1_key[FLOE_WG_HASH_LEN])
{
	size_t off = len - FLOE_WG_MACS_LEN;

	floe_wg_mac(msg + off, mac1_key, FLOE_WG_HASH_LEN, msg, off);
}

int floe_wg_cookie_checker_init(floe_wg_cookie_checker_t *self, const uint8_t our_pub[FLOE_WG_KEY_LEN])
{
	memset(self, 0, sizeof(*self));
	floe_wg_cookie_mac1_key(self->mac1_key, our_pub);
	floe_wg_cookie_encryption_key(self->encryption_key, our_pub);
	return -pthread_mutex_init(&self->lock, NULL);
}

void floe_wg_cookie_checker_destroy(floe_wg_cookie_checker_t *self)
{
	pthread_mutex_destroy(&self->lock);
	sodium_memzero(self, sizeof(*self));
}

/* cookie = MAC(secret, src), rotating the secret when it is too old. Caller holds self->lock. */
static void make_cookie_locked(floe_wg_cookie_checker_t *self, uint8_t cookie[FLOE_WG_COOKIE_LEN],
                               const void *src, size_t src_len, uint64_t now_ns)
{
	if (!self->has_secret ||
	    now_ns - self->secret_birth_ns >= FLOE_WG_COOKIE_SECRET_MAX_AGE_S * FLOE_NS_PER_S) {
		randombytes_buf(self->secret, sizeof(self->secret));
		self->secret_birth_ns = now_ns;
		self->has_secret = true;
	}
	floe_wg_mac(cookie, self->secret, sizeof(self->secret), src, src_len);
}

static void make_cookie(floe_wg_cookie_checker_t *self, uint8_t cookie[FLOE_WG_COOKIE_LEN],
                        const void *src, size_t src_len, uint64_t now_ns)
{
	pthread_mutex_lock(&self->lock);
	make_cookie_locked(self, cookie, src, src_len, now_ns);
	pthread_mutex_unlock(&self->lock);
}

floe_wg_mac_state_t floe_wg_cookie_validate(floe_wg_cookie_checker_t *self, const uint8_t *msg, size_t len,
                                            const void *src, size_t src_len, uint64_t now_ns,
                                            bool check_cookie)
{
	uint8_t computed[FLOE_WG_MAC_LEN], cookie[FLOE_WG_COOKIE_LEN];
	size_t mac1_off = len - FLOE_WG_MACS_LEN;
	size_t mac2_off = len - FLOE_WG_MAC_LEN;
	floe_wg_mac_state_t st = FLOE_WG_MAC_INVALID;

	floe_wg_mac(computed, self->mac1_key, sizeof(self->mac1_key), msg, mac1_off);
	if (crypto_verify_16(computed, msg + mac1_off) != 0)
		goto out;
	st = FLOE_WG_MAC_VALID_NO_COOKIE;
	if (!check_cookie)
		goto out;
	make_cookie(self, cookie, src, src_len, now_ns);
	floe_wg_mac(computed, cookie, sizeof(cookie), msg, mac2_off);
	if (crypto_verify_16(computed, msg + mac2_off) == 0)
		st = FLOE_WG_MAC_VALID_WITH_COOKIE;
out:
	sodium_memzero(cookie, sizeof(cookie));
	sodium_memzero(computed, sizeof(computed));
	return st;
}

void floe_wg_cookie_create_reply(floe_wg_cookie_checker_t *self, uint8_t out[FLOE_WG_MSG_COOKIE_REPLY_LEN],
                                 const uint8_t *msg, size_t len, const void *src, size_t src_len,
                                 uint64_t now_ns)
{
	uint8_t cookie[FLOE_WG_COOKIE_LEN];
	/* Initiation and response both carry their sender index at offset 4. */
	uint32_t receiver = floe_wg_le32_get(msg + FLOE_WG_INIT_OFF_SENDER);

	floe_wg_header_put(out, FLOE_WG_MSG_COOKIE_REPLY);
	floe_wg_le32_put(out + FLOE_WG_COOKIE_OFF_RECEIVER, receiver);
	randombytes_buf(out + FLOE_WG_COOKIE_OFF_NONCE, FLOE_WG_XAEAD_NONCE_LEN);
	make_cookie(self, cookie, src, src_len, now_ns);
	/* AD = the MAC1 of the message we answer: binds the reply to it. */
	floe_wg_xaead_encrypt(out + FLOE_WG_COOKIE_OFF_COOKIE, self->encryption_key,
	                      out + FLOE_WG_COOKIE_OFF_NONCE, cookie, sizeof(cookie),
	                      msg + len - FLOE_WG_MACS_LEN, FLOE_WG_MAC_LEN);
	sodium_memzero(cookie, sizeof(cookie));
}

void floe_wg_cookie_maker_init(floe_wg_cookie_maker_t *self, const uint8_t remote_pub[FLOE_WG_KEY_LEN])
{
	memset(self, 0, sizeof(*self));
	floe_wg_cookie_mac1_key(self->mac1_key, remote_pub);
	floe_wg_cookie_encryption_key(self->decryption_key, remote_pub);
}

void floe_wg_cookie_maker_wipe(floe_wg_cookie_maker_t *self)
{
	sodium_memzero(self, sizeof(*self));
}

void floe_wg_cookie_add_macs(floe_wg_cookie_maker_t *self, uint8_t *msg, size_t len,
                             uint32_t sender_index, uint64_t now_ns)
{
	size_t mac1_off = len - FLOE_WG_MACS_LEN;
	size_t mac2_off = len - FLOE_WG_MAC_LEN;
	uint64_t max_age_ns = (FLOE_WG_COOKIE_SECRET_MAX_AGE_S - FLOE_WG_COOKIE_SECRET_LATENCY_S) * FLOE_NS_PER_S;

	floe_wg_cookie_add_mac1(msg, len, self->mac1_key);
	memcpy(self->last_mac1_sent, msg + mac1_off, FLOE_WG_MAC_LEN);
	self->last_sender_index = sender_index;
	self->have_sent_mac1 = true;

	if (self->cookie_valid && now_ns - self->cookie_birth_ns < max_age_ns)
		floe_wg_mac(msg + mac2_off, self->cookie, sizeof(self->cookie), msg, mac2_off);
	else
		memset(msg + mac2_off, 0, FLOE_WG_MAC_LEN);
}

bool floe_wg_cookie_consume_reply(floe_wg_cookie_maker_t *self, const uint8_t *msg, uint64_t now_ns)
{
	uint8_t cookie[FLOE_WG_COOKIE_LEN];

	if (!self->have_sent_mac1 ||
	    floe_wg_le32_get(msg + FLOE_WG_COOKIE_OFF_RECEIVER) != self->last_sender_index)
		return false;
	if (!floe_wg_xaead_decrypt(cookie, self->decryption_key, msg + FLOE_WG_COOKIE_OFF_NONCE,
	                           msg + FLOE_WG_COOKIE_OFF_COOKIE, FLOE_WG_COOKIE_LEN + FLOE_WG_AEAD_TAG_LEN,
	                           self->last_mac1_sent, FLOE_WG_MAC_LEN)) {
		sodium_memzero(cookie, sizeof(cookie));
		return false;
	}
	memcpy(self->cookie, cookie, sizeof(cookie));
	self->cookie_birth_ns = now_ns;
	self->cookie_valid = true;
	/* One reply per message: a second copy of it is not another cookie. */
	self->have_sent_mac1 = false;
	sodium_memzero(cookie, sizeof(cookie));
	return true;
}
