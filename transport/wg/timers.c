/*
 * WireGuard's five per-peer timers (whitepaper section 6), as the kernel's
 * timers.c drives them, but as deadlines in plain nanoseconds: nothing here
 * reads a clock or sends a packet, so the peer (and the tests) own time.
 */
#include "transport/wg/timers.h"

#include <string.h>

#include <sodium.h>

/* A deadline of 0 means "not armed"; armed deadlines are always > now >= 0. */
static bool armed(uint64_t at)
{
	return at != 0;
}

static bool due(uint64_t at, uint64_t now)
{
	return armed(at) && at <= now;
}

static uint64_t seconds(uint64_t s)
{
	return s * FLOE_NS_PER_S;
}

/*
 * Spread retries so that two peers that started together do not keep
 * colliding: uniform in [0, REKEY_TIMEOUT_JITTER_MAX_MS), drawn at
 * nanosecond resolution (334 ms in ns still fits randombytes_uniform's
 * 32-bit bound).
 */
static uint64_t retry_jitter_ns(void)
{
	return randombytes_uniform((uint32_t)(FLOE_WG_REKEY_TIMEOUT_JITTER_MAX_MS * FLOE_NS_PER_MS));
}

void floe_wg_timers_init(floe_wg_timers_t *self, uint32_t persistent_keepalive_s)
{
	memset(self, 0, sizeof(*self));
	self->persistent_keepalive_s = persistent_keepalive_s;
}

void floe_wg_timers_data_sent(floe_wg_timers_t *self, uint64_t now)
{
	/* Expect an answer within keepalive + rekey timeout, or rekey. */
	if (!armed(self->new_handshake_at))
		self->new_handshake_at = now + seconds(FLOE_WG_KEEPALIVE_TIMEOUT_S + FLOE_WG_REKEY_TIMEOUT_S);
}

void floe_wg_timers_data_received(floe_wg_timers_t *self, uint64_t now)
{
	/*
	 * Owe the sender a (passive) keepalive unless we send something
	 * first. If one is already owed, remember to owe another after it,
	 * so data arriving during the wait is acknowledged too.
	 */
	if (!armed(self->send_keepalive_at))
		self->send_keepalive_at = now + seconds(FLOE_WG_KEEPALIVE_TIMEOUT_S);
	else
		self->need_another_keepalive = true;
}

void floe_wg_timers_any_authenticated_packet_sent(floe_wg_timers_t *self, uint64_t now)
{
	/* Whatever we sent already tells the peer we are alive. */
	self->send_keepalive_at = 0;
}

void floe_wg_timers_any_authenticated_packet_received(floe_wg_timers_t *self, uint64_t now)
{
	/* The peer answered: no need to suspect the session. */
	self->new_handshake_at = 0;
}

void floe_wg_timers_any_authenticated_packet_traversal(floe_wg_timers_t *self, uint64_t now)
{
	/* Persistent keepalive counts from the last packet either way (NAT idle). */
	if (self->persistent_keepalive_s)
		self->persistent_keepalive_at = now + seconds(self->persistent_keepalive_s);
}

void floe_wg_timers_handshake_new(floe_wg_timers_t *self)
{
	self->handshake_attempts = 0;
}

void floe_wg_timers_handshake_initiated(floe_wg_timers_t *self, uint64_t now)
{
	self->retransmit_handshake_at = now + seconds(FLOE_WG_REKEY_TIMEOUT_S) + retry_jitter_ns();
}

void floe_wg_timers_handshake_complete(floe_wg_timers_t *self, uint64_t now)
{
	self->retransmit_handshake_at = 0;
	self->handshake_attempts = 0;
}

void floe_wg_timers_session_derived(floe_wg_timers_t *self, uint64_t now)
{
	/* Restarted by every new session: keys outlive REJECT_AFTER_TIME by a margin. */
	self->zero_key_material_at = now + 3 * seconds(FLOE_WG_REJECT_AFTER_TIME_S);
}

void floe_wg_timers_stop(floe_wg_timers_t *self)
{
	floe_wg_timers_init(self, self->persistent_keepalive_s);
}

static unsigned expire_retransmit(floe_wg_timers_t *self, uint64_t now)
{
	self->retransmit_handshake_at = 0;
	if (self->handshake_attempts > FLOE_WG_MAX_TIMER_HANDSHAKES) {
		/*
		 * REKEY_ATTEMPT_TIME has passed: stop trying, stop owing
		 * keepalives for a session that is not coming, and make sure
		 * whatever a half-done exchange left behind is wiped later.
		 */
		self->send_keepalive_at = 0;
		self->need_another_keepalive = false;
		if (!armed(self->zero_key_material_at))
			self->zero_key_material_at = now + 3 * seconds(FLOE_WG_REJECT_AFTER_TIME_S);
		return FLOE_WG_TIMER_GIVE_UP;
	}
	self->handshake_attempts++;
	return FLOE_WG_TIMER_SEND_INITIATION;
}

static unsigned expire_send_keepalive(floe_wg_timers_t *self, uint64_t now)
{
	self->send_keepalive_at = 0;
	if (self->need_another_keepalive) {
		self->need_another_keepalive = false;
		self->send_keepalive_at = now + seconds(FLOE_WG_KEEPALIVE_TIMEOUT_S);
	}
	return FLOE_WG_TIMER_SEND_KEEPALIVE;
}

unsigned floe_wg_timers_expire(floe_wg_timers_t *self, uint64_t now)
{
	unsigned actions = FLOE_WG_TIMER_NONE;

	/*
	 * A new handshake is a fresh attempt, not a retry: it starts the
	 * attempt count over. It is handled before the retry timer so that,
	 * should both be due at once, one initiation goes out and counts as
	 * the first retry of the new attempt.
	 */
	if (due(self->new_handshake_at, now)) {
		self->new_handshake_at = 0;
		self->handshake_attempts = 0;
		actions |= FLOE_WG_TIMER_SEND_INITIATION;
	}
	if (due(self->retransmit_handshake_at, now))
		actions |= expire_retransmit(self, now);
	if (due(self->send_keepalive_at, now))
		actions |= expire_send_keepalive(self, now);
	if (due(self->zero_key_material_at, now)) {
		self->zero_key_material_at = 0;
		actions |= FLOE_WG_TIMER_ZERO_KEYS;
	}
	if (due(self->persistent_keepalive_at, now)) {
		self->persistent_keepalive_at = 0;
		if (self->persistent_keepalive_s)
			actions |= FLOE_WG_TIMER_SEND_KEEPALIVE;
	}
	return actions;
}

uint64_t floe_wg_timers_next_deadline(const floe_wg_timers_t *self)
{
	const uint64_t all[] = {
		self->retransmit_handshake_at, self->send_keepalive_at,
		self->new_handshake_at, self->zero_key_material_at,
		self->persistent_keepalive_at,
	};
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (armed(all[i]) && all[i] < next)
			next = all[i];
	return next;
}
