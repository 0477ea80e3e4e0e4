/*
 * MAC1 / MAC2 and cookie replies (whitepaper 5.4.4, 5.4.7, 5.3).
 *
 * The checker is the device's side (responder under load): its MAC1 key
 * and cookie-encryption key come from the device's public key, and its
 * cookie secret is rotated every FLOE_WG_COOKIE_SECRET_MAX_AGE_S.
 * The maker is the peer's side: it adds MAC1 to every handshake message,
 * MAC2 when it holds a fresh cookie, and remembers the last MAC1 it sent
 * so a cookie reply is accepted only as an answer to that message.
 */
#ifndef FLOE_TRANSPORT_WG_COOKIE_H
#define FLOE_TRANSPORT_WG_COOKIE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"
#include "transport/wg/crypto.h"
#include "transport/wg/wg.h"

#define FLOE_WG_LABEL_MAC1 "mac1----"
#define FLOE_WG_LABEL_COOKIE "cookie--"

enum floe_wg_cookie_limits {
	FLOE_WG_COOKIE_LEN = 16,
	/* A cookie is used for MAC2 only while it is this young (kernel:
	 * COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY), so that it is
	 * still valid when it reaches a responder that rotates its secret. */
	FLOE_WG_COOKIE_SECRET_LATENCY_S = 5,
	/* MAC1 and MAC2 sit at the end of both handshake messages. */
	FLOE_WG_MACS_LEN = 2 * FLOE_WG_MAC_LEN,
};

typedef enum {
	FLOE_WG_MAC_INVALID = 0,          /* MAC1 wrong: drop, before any DH */
	FLOE_WG_MAC_VALID_NO_COOKIE,      /* MAC1 right, MAC2 missing or wrong */
	FLOE_WG_MAC_VALID_WITH_COOKIE,    /* both right */
} floe_wg_mac_state_t;

typedef struct floe_wg_cookie_checker {
	uint8_t mac1_key[FLOE_WG_HASH_LEN];      /* constant after init */
	uint8_t encryption_key[FLOE_WG_HASH_LEN]; /* constant after init */
	/* `lock` protects secret, secret_birth_ns and has_secret: several
	 * peers' threads validate and answer under load at once. */
	pthread_mutex_t lock;
	uint8_t secret[FLOE_WG_HASH_LEN];
	uint64_t secret_birth_ns;
	bool has_secret;
} floe_wg_cookie_checker_t;

typedef struct floe_wg_cookie_maker {
	uint8_t mac1_key[FLOE_WG_HASH_LEN];
	uint8_t decryption_key[FLOE_WG_HASH_LEN];
	uint8_t cookie[FLOE_WG_COOKIE_LEN];
	uint64_t cookie_birth_ns;
	bool cookie_valid;
	uint8_t last_mac1_sent[FLOE_WG_MAC_LEN];
	uint32_t last_sender_index;   /* the sender index of that message */
	bool have_sent_mac1;
} floe_wg_cookie_maker_t;

/* HASH("mac1----" || pub) and HASH("cookie--" || pub). */
void floe_wg_cookie_mac1_key(uint8_t out[FLOE_WG_HASH_LEN], const uint8_t pub[FLOE_WG_KEY_LEN]);
void floe_wg_cookie_encryption_key(uint8_t out[FLOE_WG_HASH_LEN], const uint8_t pub[FLOE_WG_KEY_LEN]);
/* Writes MAC1 over msg[0, len - 32) at msg + len - 32 (len 148 or 92). */
void floe_wg_cookie_add_mac1(uint8_t *msg, size_t len, const uint8_t mac1_key[FLOE_WG_HASH_LEN]);

int floe_wg_cookie_checker_init(floe_wg_cookie_checker_t *self, const uint8_t our_pub[FLOE_WG_KEY_LEN]);
void floe_wg_cookie_checker_destroy(floe_wg_cookie_checker_t *self);
/*
 * Checks MAC1 always and, when check_cookie, MAC2 against the cookie for
 * `src`. Cheap: two BLAKE2s, no DH.
 */
floe_wg_mac_state_t floe_wg_cookie_validate(floe_wg_cookie_checker_t *self, const uint8_t *msg, size_t len,
                                            const void *src, size_t src_len, uint64_t now_ns,
                                            bool check_cookie);
/* Writes a 64-byte cookie reply answering `msg` (an initiation or response) from `src`. */
void floe_wg_cookie_create_reply(floe_wg_cookie_checker_t *self, uint8_t out[FLOE_WG_MSG_COOKIE_REPLY_LEN],
                                 const uint8_t *msg, size_t len, const void *src, size_t src_len,
                                 uint64_t now_ns);

void floe_wg_cookie_maker_init(floe_wg_cookie_maker_t *self, const uint8_t remote_pub[FLOE_WG_KEY_LEN]);
void floe_wg_cookie_maker_wipe(floe_wg_cookie_maker_t *self);
/* Adds MAC1, and MAC2 if a fresh cookie is held (zeros otherwise). */
void floe_wg_cookie_add_macs(floe_wg_cookie_maker_t *self, uint8_t *msg, size_t len,
                             uint32_t sender_index, uint64_t now_ns);
/*
 * Accepts a cookie reply answering the last message we MACed: its receiver
 * index must be that message's sender index and it must decrypt with that
 * MAC1 as AD. Stores the cookie; false (nothing stored) otherwise.
 */
FLOE_MUST_CHECK bool floe_wg_cookie_consume_reply(floe_wg_cookie_maker_t *self, const uint8_t *msg,
                                                  uint64_t now_ns);

#endif
