/*
 * WireGuard's timers (whitepaper section 6) as a pure state machine on
 * injected time. The data path tells it what happened, with functions named
 * as in WG's timers.h ("Call after ..."); floe_wg_timers_expire() says what
 * is due. It sends nothing itself: the peer acts on the returned actions.
 *
 * All times are monotonic nanoseconds. Owned by the peer's thread.
 */
#ifndef FLOE_TRANSPORT_WG_TIMERS_H
#define FLOE_TRANSPORT_WG_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

enum floe_wg_timer_limits {
	FLOE_WG_REKEY_AFTER_TIME_S = 120,
	FLOE_WG_REJECT_AFTER_TIME_S = 180,
	FLOE_WG_REKEY_ATTEMPT_TIME_S = 90,
	FLOE_WG_REKEY_TIMEOUT_S = 5,
	FLOE_WG_KEEPALIVE_TIMEOUT_S = 10,
	FLOE_WG_REKEY_TIMEOUT_JITTER_MAX_MS = 334, /* retry jitter is uniform in [0, 334) ms */
	FLOE_WG_COOKIE_SECRET_MAX_AGE_S = 120,
	/* Retries before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT. */
	FLOE_WG_MAX_TIMER_HANDSHAKES = FLOE_WG_REKEY_ATTEMPT_TIME_S / FLOE_WG_REKEY_TIMEOUT_S,
};

#define FLOE_NS_PER_S 1000000000ULL
#define FLOE_NS_PER_MS 1000000ULL

/* What is due; several may be set at once. */
enum floe_wg_timer_action {
	FLOE_WG_TIMER_NONE = 0,
	FLOE_WG_TIMER_SEND_INITIATION = 1u << 0, /* retry or new handshake */
	FLOE_WG_TIMER_SEND_KEEPALIVE = 1u << 1,
	FLOE_WG_TIMER_ZERO_KEYS = 1u << 2,
	FLOE_WG_TIMER_GIVE_UP = 1u << 3,         /* handshake attempts exhausted */
};

typedef struct floe_wg_timers {
	uint64_t retransmit_handshake_at;  /* 0 = not armed, for every *_at */
	uint64_t send_keepalive_at;
	uint64_t new_handshake_at;
	uint64_t zero_key_material_at;
	uint64_t persistent_keepalive_at;
	uint32_t handshake_attempts;
	uint32_t persistent_keepalive_s;   /* 0 = off */
	bool need_another_keepalive;
} floe_wg_timers_t;

void floe_wg_timers_init(floe_wg_timers_t *self, uint32_t persistent_keepalive_s);

/* Call after sending a data packet (not a keepalive). */
void floe_wg_timers_data_sent(floe_wg_timers_t *self, uint64_t now);
/* Call after receiving a data packet (not a keepalive). */
void floe_wg_timers_data_received(floe_wg_timers_t *self, uint64_t now);
/* Call after sending any authenticated packet: handshake, data or keepalive. */
void floe_wg_timers_any_authenticated_packet_sent(floe_wg_timers_t *self, uint64_t now);
/* Call after receiving any authenticated packet. */
void floe_wg_timers_any_authenticated_packet_received(floe_wg_timers_t *self, uint64_t now);
/* Call after sending or receiving any authenticated packet. */
void floe_wg_timers_any_authenticated_packet_traversal(floe_wg_timers_t *self, uint64_t now);
/*
 * Call before sending an initiation that is not a timer retry (the first
 * one, a rekey, a forced handshake): the attempt count starts over, as
 * WireGuard's send path does for is_retry == false. Retries that
 * floe_wg_timers_expire() asks for are already counted there.
 */
void floe_wg_timers_handshake_new(floe_wg_timers_t *self);
/* Call after sending a handshake initiation (first or retry). */
void floe_wg_timers_handshake_initiated(floe_wg_timers_t *self, uint64_t now);
/* Call after a handshake completes (response received, or first data from the initiator). */
void floe_wg_timers_handshake_complete(floe_wg_timers_t *self, uint64_t now);
/* Call after a new keypair is derived. */
void floe_wg_timers_session_derived(floe_wg_timers_t *self, uint64_t now);
/* Call when the peer stops (or the connection closes): disarms everything. */
void floe_wg_timers_stop(floe_wg_timers_t *self);

/*
 * Returns the actions due at `now` and re-arms or disarms their timers.
 * SEND_INITIATION from the retry timer counts one attempt; past
 * FLOE_WG_MAX_TIMER_HANDSHAKES retries (MAX + 2 initiations in all, about
 * 90 s + jitter after the first) the retry timer returns GIVE_UP instead,
 * disarms the keepalive and arms the zero-key timer if it was not armed.
 * SEND_INITIATION from the new-handshake timer (15 s after data sent with
 * no reply) starts a new attempt count.
 */
unsigned floe_wg_timers_expire(floe_wg_timers_t *self, uint64_t now);
/* Earliest armed deadline; UINT64_MAX when none. */
uint64_t floe_wg_timers_next_deadline(const floe_wg_timers_t *self);

#endif
