/*
 * A peer: the handshake, the cookie maker, the keypairs and the timers of
 * one remote, combined as WireGuard's send.c / receive.c / timers.c do.
 * Everything here runs on the peer's own thread; only the device's tables
 * (index and peer) are shared, behind the device's lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "transport/wg/cookie.h"
#include "transport/wg/device.h"
#include "transport/wg/keypair.h"
#include "transport/wg/messages.h"
#include "transport/wg/noise.h"
#include "transport/wg/timers.h"
#include "transport/wg/wg.h"

enum {
	IPV4_HEADER_LEN = 20,
	IPV6_HEADER_LEN = 40,
	/* REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT: the initiator's last chance to rekey on receive. */
	REKEY_ON_RECEIVE_AFTER_S = FLOE_WG_REJECT_AFTER_TIME_S - FLOE_WG_KEEPALIVE_TIMEOUT_S - FLOE_WG_REKEY_TIMEOUT_S,
};

struct floe_wg_peer {
	floe_wg_device_t *dev;
	uint8_t public_key[FLOE_WG_KEY_LEN];
	bool responder_only;
	floe_wg_handshake_t hs;
	floe_wg_index_entry_t hs_entry;   /* the index of the exchange in progress */
	floe_wg_cookie_maker_t cookie;
	floe_wg_keypairs_t keypairs;
	floe_wg_timers_t timers;
	floe_wg_peer_stats_t stats;
	uint32_t events;
	uint64_t last_sent_handshake_ns;
	bool sent_handshake;
	uint8_t last_sent_timestamp[FLOE_WG_TAI64N_LEN];
	bool ever_established;        /* a handshake completed: responder_only no longer binds */
	bool want_initiation;         /* tick sends a new (non-retry) initiation */
	bool want_retry;              /* tick sends a timer retry */
	bool want_keepalive;          /* tick sends a keepalive */
	bool confirm_pending;         /* initiator: nothing sent since the response yet */
	bool sent_lastminute_handshake;
};

static uint64_t seconds_ns(uint64_t s)
{
	return s * FLOE_NS_PER_S;
}

static bool may_initiate(const floe_wg_peer_t *self)
{
	return !self->responder_only || self->ever_established;
}

static void drop_keypair(floe_wg_peer_t *self, floe_wg_keypair_t *kp)
{
	if (!kp)
		return;
	floe_wg_device_index_unregister(self->dev, &kp->entry);
	floe_wg_keypair_destroy(&kp);
}

static void clear_handshake(floe_wg_peer_t *self)
{
	floe_wg_device_index_unregister(self->dev, &self->hs_entry);
	floe_wg_noise_handshake_clear(&self->hs);
}

static void zero_all_keys(floe_wg_peer_t *self)
{
	drop_keypair(self, self->keypairs.previous);
	drop_keypair(self, self->keypairs.current);
	drop_keypair(self, self->keypairs.next);
	memset(&self->keypairs, 0, sizeof(self->keypairs));
	clear_handshake(self);
	self->confirm_pending = false;
}

floe_wg_peer_t *floe_wg_peer_new(floe_wg_device_t *dev, const floe_wg_peer_config_t *cfg)
{
	floe_wg_peer_t *self;
	uint8_t own[FLOE_WG_KEY_LEN];
	int rc;

	if (!dev || !cfg) {
		errno = EINVAL;
		return NULL;
	}
	floe_wg_device_public_key(dev, own);
	if (memcmp(own, cfg->public_key, FLOE_WG_KEY_LEN) == 0) {
		errno = EINVAL;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self) {
		errno = ENOMEM;
		return NULL;
	}
	self->dev = dev;
	memcpy(self->public_key, cfg->public_key, FLOE_WG_KEY_LEN);
	self->responder_only = cfg->responder_only;
	/* A zero static-static DH (low-order key): refused, nothing is ever sent. */
	if (!floe_wg_noise_handshake_init(&self->hs, floe_wg_device_identity(dev), cfg->public_key,
	                                  cfg->preshared_key)) {
		rc = -EINVAL;
		goto err_free;
	}
	floe_wg_cookie_maker_init(&self->cookie, cfg->public_key);
	floe_wg_timers_init(&self->timers, cfg->persistent_keepalive_s);
	rc = floe_wg_device_peer_add(dev, self, cfg->public_key);
	if (rc != 0)
		goto err_free;
	return self;

err_free:
	floe_wg_noise_handshake_wipe(&self->hs);
	floe_wg_cookie_maker_wipe(&self->cookie);
	sodium_memzero(self, sizeof(*self));
	free(self);
	errno = -rc;
	return NULL;
}

void floe_wg_peer_destroy(floe_wg_peer_t **self_p)
{
	floe_wg_peer_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	floe_wg_device_peer_remove(self->dev, self);
	zero_all_keys(self);
	floe_wg_noise_handshake_wipe(&self->hs);
	floe_wg_cookie_maker_wipe(&self->cookie);
	sodium_memzero(self, sizeof(*self));
	free(self);
	*self_p = NULL;
}

/* A TAI64N strictly greater than the last one we sent, so the peer never takes ours for a replay. */
static void next_timestamp(floe_wg_peer_t *self, uint8_t ts[FLOE_WG_TAI64N_LEN])
{
	floe_wg_tai64n_now(ts);
	if (memcmp(ts, self->last_sent_timestamp, FLOE_WG_TAI64N_LEN) <= 0) {
		/* Clock stepped back or two calls in one tick: last + 1, bytewise big-endian increment. */
		memcpy(ts, self->last_sent_timestamp, FLOE_WG_TAI64N_LEN);
		for (int i = FLOE_WG_TAI64N_LEN - 1; i >= 0 && ++ts[i] == 0; i--)
			;
	}
	memcpy(self->last_sent_timestamp, ts, FLOE_WG_TAI64N_LEN);
}

static void sent_authenticated(floe_wg_peer_t *self, uint64_t now_ns)
{
	floe_wg_timers_any_authenticated_packet_traversal(&self->timers, now_ns);
	floe_wg_timers_any_authenticated_packet_sent(&self->timers, now_ns);
}

static void received_authenticated(floe_wg_peer_t *self, uint64_t now_ns)
{
	floe_wg_timers_any_authenticated_packet_received(&self->timers, now_ns);
	floe_wg_timers_any_authenticated_packet_traversal(&self->timers, now_ns);
}

static ssize_t send_initiation(floe_wg_peer_t *self, uint64_t now_ns, uint8_t *out, size_t cap, bool is_retry)
{
	uint8_t ts[FLOE_WG_TAI64N_LEN];

	if (!may_initiate(self))
		return -EPERM;
	/* At most one initiation per REKEY_TIMEOUT, whoever asks (whitepaper 6.1). */
	if (self->sent_handshake && now_ns - self->last_sent_handshake_ns < seconds_ns(FLOE_WG_REKEY_TIMEOUT_S))
		return -EALREADY;
	if (!out || cap < FLOE_WG_MSG_INITIATION_LEN)
		return -ENOBUFS;
	if (floe_wg_device_index_register(self->dev, &self->hs_entry, self) != 0)
		return -EBUSY;
	next_timestamp(self, ts);
	/* A fresh ephemeral every time, retries included. */
	if (!floe_wg_noise_create_initiation(&self->hs, floe_wg_device_identity(self->dev), out,
	                                     self->hs_entry.index, NULL, ts)) {
		clear_handshake(self);
		return -EINVAL;
	}
	floe_wg_cookie_add_macs(&self->cookie, out, FLOE_WG_MSG_INITIATION_LEN, self->hs_entry.index, now_ns);

	if (!is_retry)
		floe_wg_timers_handshake_new(&self->timers);
	self->sent_handshake = true;
	self->last_sent_handshake_ns = now_ns;
	self->stats.handshake_initiations_sent++;
	sent_authenticated(self, now_ns);
	floe_wg_timers_handshake_initiated(&self->timers, now_ns);
	return FLOE_WG_MSG_INITIATION_LEN;
}

ssize_t floe_wg_peer_initiate(floe_wg_peer_t *self, uint64_t now_ns, uint8_t *out, size_t cap)
{
	ssize_t n = send_initiation(self, now_ns, out, cap, false);

	if (n > 0)
		self->want_initiation = false;
	return n;
}

void floe_wg_peer_request_rekey(floe_wg_peer_t *self)
{
	self->want_initiation = true;
}

/* Whitepaper 6.2 on the sending side: rekey by age (initiator only) or by count. */
static void keep_key_fresh_send(floe_wg_peer_t *self, const floe_wg_keypair_t *kp, uint64_t now_ns)
{
	if (kp->send_counter > FLOE_WG_REKEY_AFTER_MESSAGES ||
	    (kp->i_am_initiator && now_ns - kp->birth_ns >= seconds_ns(FLOE_WG_REKEY_AFTER_TIME_S)))
		self->want_initiation = true;
}

/* On receiving: the initiator rekeys before its keys expire if it has not already tried. */
static void keep_key_fresh_receive(floe_wg_peer_t *self, uint64_t now_ns)
{
	const floe_wg_keypair_t *kp = self->keypairs.current;

	if (kp && kp->i_am_initiator && !self->sent_lastminute_handshake &&
	    now_ns - kp->birth_ns >= seconds_ns(REKEY_ON_RECEIVE_AFTER_S)) {
		self->sent_lastminute_handshake = true;
		self->want_initiation = true;
	}
}

ssize_t floe_wg_peer_encrypt(floe_wg_peer_t *self, uint64_t now_ns,
                             const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	floe_wg_keypair_t *kp = self->keypairs.current;
	ssize_t n;

	if (len > FLOE_WG_MAX_PACKET_LEN || !out || cap < floe_wg_padded_len(len) + FLOE_WG_DATA_OVERHEAD ||
	    (len && !pkt))
		return -EMSGSIZE;
	if (!floe_wg_keypair_can_send(kp, now_ns)) {
		/* A session existed and lapsed: get a new one, as WireGuard does for staged packets. */
		if (self->ever_established && may_initiate(self))
			self->want_initiation = true;
		return -ENOKEY;
	}
	n = floe_wg_keypair_encrypt(kp, now_ns, pkt, len, out, cap);
	if (n < 0)
		return n;
	if (len) {
		self->stats.tx_packets++;
		self->stats.tx_bytes += len;
		floe_wg_timers_data_sent(&self->timers, now_ns);
	} else {
		self->stats.keepalives_sent++;
	}
	sent_authenticated(self, now_ns);
	self->confirm_pending = false;
	keep_key_fresh_send(self, kp, now_ns);
	return n;
}

static void session_started(floe_wg_peer_t *self, uint64_t now_ns)
{
	self->stats.handshakes_completed++;
	self->stats.last_handshake_ns = now_ns;
	self->events |= FLOE_WG_EV_HANDSHAKE_COMPLETE;
	self->ever_established = true;
	self->sent_lastminute_handshake = false;
}

/* Split the finished handshake into a keypair that takes over its index. */
static int derive_keypair(floe_wg_peer_t *self, uint64_t now_ns)
{
	uint8_t send_key[FLOE_WG_SYM_KEY_LEN], recv_key[FLOE_WG_SYM_KEY_LEN];
	bool initiator = self->hs.state == FLOE_WG_HS_CONSUMED_RESPONSE;
	uint32_t remote_index = self->hs.remote_index;
	floe_wg_keypair_t *kp = NULL, *dropped[2];
	int rc = -EINVAL;

	if (!floe_wg_noise_split(&self->hs, send_key, recv_key))
		goto out;
	kp = floe_wg_keypair_new(send_key, recv_key, remote_index, initiator, now_ns);
	if (!kp) {
		rc = -ENOMEM;
		clear_handshake(self);
		goto out;
	}
	floe_wg_device_index_move(self->dev, &self->hs_entry, &kp->entry);
	kp->entry.peer = self;
	floe_wg_keypairs_add(&self->keypairs, kp, dropped);
	drop_keypair(self, dropped[0]);
	drop_keypair(self, dropped[1]);
	floe_wg_timers_session_derived(&self->timers, now_ns);
	rc = 0;
out:
	sodium_memzero(send_key, sizeof(send_key));
	sodium_memzero(recv_key, sizeof(recv_key));
	return rc;
}

static ssize_t drop(floe_wg_peer_t *self, uint64_t *counter, ssize_t err)
{
	(*counter)++;
	return err;
}

/* MAC1, and under load MAC2 or a cookie reply. Returns > 0 (a reply), 0 to go on, or < 0. */
static ssize_t check_macs(floe_wg_peer_t *self, uint64_t now_ns, const void *src, size_t src_len,
                          const uint8_t *msg, size_t len, uint8_t *out, floe_wg_out_t *kind)
{
	floe_wg_cookie_checker_t *checker = floe_wg_device_cookie_checker(self->dev);
	bool under_load = floe_wg_device_is_under_load(self->dev);
	floe_wg_mac_state_t st = floe_wg_cookie_validate(checker, msg, len, src, src_len, now_ns, under_load);

	if (st == FLOE_WG_MAC_INVALID)
		return drop(self, &self->stats.invalid_drops, -EBADMSG);
	if (under_load && st != FLOE_WG_MAC_VALID_WITH_COOKIE) {
		floe_wg_cookie_create_reply(checker, out, msg, len, src, src_len, now_ns);
		self->stats.cookie_replies_sent++;
		*kind = FLOE_WG_OUT_NETWORK;
		return FLOE_WG_MSG_COOKIE_REPLY_LEN;
	}
	return 0;
}

static ssize_t receive_initiation(floe_wg_peer_t *self, uint64_t now_ns, const void *src, size_t src_len,
                                  const uint8_t *msg, uint8_t *out, floe_wg_out_t *kind)
{
	const floe_wg_static_t *id = floe_wg_device_identity(self->dev);
	floe_wg_handshake_t t;
	uint8_t ts[FLOE_WG_TAI64N_LEN];
	ssize_t rc = check_macs(self, now_ns, src, src_len, msg, FLOE_WG_MSG_INITIATION_LEN, out, kind);

	if (rc != 0)
		return rc;
	if (!floe_wg_noise_consume_initiation(&t, id, msg, ts)) {
		rc = drop(self, &self->stats.decrypt_errors, -EBADMSG);
		goto out;
	}
	if (sodium_memcmp(t.remote_static, self->public_key, FLOE_WG_KEY_LEN) != 0) {
		rc = drop(self, &self->stats.invalid_drops, -EINVAL);
		goto out;
	}
	/* Replay: TAI64N is big endian, so bytewise order is time order. */
	if (memcmp(ts, self->hs.latest_timestamp, FLOE_WG_TAI64N_LEN) <= 0 ||
	    (self->hs.consumed_any_initiation &&
	     now_ns - self->hs.last_initiation_consumption_ns < FLOE_NS_PER_S / FLOE_WG_INITIATIONS_PER_SECOND)) {
		rc = drop(self, &self->stats.invalid_drops, -ESTALE);
		goto out;
	}

	/* Commit: this exchange replaces whatever we had in progress. */
	clear_handshake(self);
	memcpy(self->hs.hash, t.hash, sizeof(t.hash));
	memcpy(self->hs.chaining_key, t.chaining_key, sizeof(t.chaining_key));
	memcpy(self->hs.remote_ephemeral, t.remote_ephemeral, sizeof(t.remote_ephemeral));
	self->hs.remote_index = t.remote_index;
	memcpy(self->hs.latest_timestamp, ts, sizeof(ts));
	self->hs.last_initiation_consumption_ns = now_ns;
	self->hs.consumed_any_initiation = true;
	self->hs.state = FLOE_WG_HS_CONSUMED_INITIATION;
	self->stats.handshake_initiations_received++;
	received_authenticated(self, now_ns);

	if (floe_wg_device_index_register(self->dev, &self->hs_entry, self) != 0 ||
	    !floe_wg_noise_create_response(&self->hs, out, self->hs_entry.index, NULL)) {
		clear_handshake(self);
		rc = drop(self, &self->stats.invalid_drops, -EINVAL);
		goto out;
	}
	floe_wg_cookie_add_macs(&self->cookie, out, FLOE_WG_MSG_RESPONSE_LEN, self->hs_entry.index, now_ns);
	rc = derive_keypair(self, now_ns);
	if (rc != 0) {
		sodium_memzero(out, FLOE_WG_MSG_RESPONSE_LEN);
		goto out;
	}
	self->stats.handshake_responses_sent++;
	sent_authenticated(self, now_ns);
	*kind = FLOE_WG_OUT_NETWORK;
	rc = FLOE_WG_MSG_RESPONSE_LEN;
out:
	sodium_memzero(&t, sizeof(t));
	return rc;
}

static ssize_t receive_response(floe_wg_peer_t *self, uint64_t now_ns, const void *src, size_t src_len,
                                const uint8_t *msg, uint8_t *out, floe_wg_out_t *kind)
{
	ssize_t rc;

	/* Unexpected or for another exchange: cheap to reject before any MAC. */
	if (self->hs.state != FLOE_WG_HS_CREATED_INITIATION ||
	    floe_wg_le32_get(msg + FLOE_WG_RESP_OFF_RECEIVER) != self->hs.local_index)
		return drop(self, &self->stats.invalid_drops, -EINVAL);
	rc = check_macs(self, now_ns, src, src_len, msg, FLOE_WG_MSG_RESPONSE_LEN, out, kind);
	if (rc != 0)
		return rc;
	if (!floe_wg_noise_consume_response(&self->hs, floe_wg_device_identity(self->dev), msg))
		return drop(self, &self->stats.decrypt_errors, -EBADMSG);
	self->stats.handshake_responses_received++;
	received_authenticated(self, now_ns);
	rc = derive_keypair(self, now_ns);
	if (rc != 0)
		return rc;
	session_started(self, now_ns);
	floe_wg_timers_handshake_complete(&self->timers, now_ns);
	/* The responder waits for our first packet: tick sends a keepalive if the caller sends nothing. */
	self->confirm_pending = true;
	self->want_retry = false;
	return 0;
}

static ssize_t receive_cookie(floe_wg_peer_t *self, uint64_t now_ns, const uint8_t *msg)
{
	if (!self->cookie.have_sent_mac1 ||
	    floe_wg_le32_get(msg + FLOE_WG_COOKIE_OFF_RECEIVER) != self->cookie.last_sender_index)
		return drop(self, &self->stats.invalid_drops, -EINVAL);
	if (!floe_wg_cookie_consume_reply(&self->cookie, msg, now_ns))
		return drop(self, &self->stats.decrypt_errors, -EBADMSG);
	self->stats.cookie_replies_received++;
	return 0;
}

/* The IP packet's own length, so the padding can go; 0 if the plaintext is not a sane IP packet. */
static size_t ip_packet_len(const uint8_t *p, size_t len)
{
	size_t n = 0;

	if (len >= IPV4_HEADER_LEN && (p[0] >> 4) == 4)
		n = (size_t)p[2] << 8 | p[3];
	else if (len >= IPV6_HEADER_LEN && (p[0] >> 4) == 6)
		n = ((size_t)p[4] << 8 | p[5]) + IPV6_HEADER_LEN;
	return n && n <= len ? n : 0;
}

static ssize_t receive_data(floe_wg_peer_t *self, uint64_t now_ns, const uint8_t *msg, size_t len,
                            uint8_t *out, size_t cap, floe_wg_out_t *kind)
{
	floe_wg_keypair_t *kp = floe_wg_keypairs_find(&self->keypairs,
	                                               floe_wg_le32_get(msg + FLOE_WG_DATA_OFF_RECEIVER));
	floe_wg_keypair_t *dropped;
	ssize_t n;
	size_t ip_len;

	if (!kp)
		return drop(self, &self->stats.invalid_drops, -ENOKEY);
	n = floe_wg_keypair_decrypt(kp, now_ns, msg, len, out, cap);
	if (n == -EBADMSG)
		return drop(self, &self->stats.decrypt_errors, n);
	if (n == -ESTALE)
		return drop(self, &self->stats.replay_drops, n);
	if (n < 0)
		return drop(self, &self->stats.invalid_drops, n);

	/* Key confirmation: the initiator used our new keypair, so we may now send on it. */
	if (floe_wg_keypairs_received_with(&self->keypairs, kp, &dropped)) {
		drop_keypair(self, dropped);
		floe_wg_timers_handshake_complete(&self->timers, now_ns);
		session_started(self, now_ns);
	}
	received_authenticated(self, now_ns);
	keep_key_fresh_receive(self, now_ns);
	if (n == 0)
		return 0;   /* keepalive */
	ip_len = ip_packet_len(out, (size_t)n);
	if (!ip_len) {
		sodium_memzero(out, (size_t)n);
		return drop(self, &self->stats.invalid_drops, -EINVAL);
	}
	floe_wg_timers_data_received(&self->timers, now_ns);
	self->stats.rx_packets++;
	self->stats.rx_bytes += ip_len;
	*kind = FLOE_WG_OUT_TUNNEL;
	return (ssize_t)ip_len;
}

ssize_t floe_wg_peer_receive(floe_wg_peer_t *self, uint64_t now_ns,
                             const void *src, size_t src_len,
                             const uint8_t *msg, size_t len,
                             uint8_t *out, size_t cap, floe_wg_out_t *kind)
{
	floe_wg_out_t ignored;

	if (!kind)
		kind = &ignored;
	*kind = FLOE_WG_OUT_NONE;
	if (!out || cap < len || cap < FLOE_WG_MSG_RESPONSE_LEN || src_len > FLOE_WG_MAX_SRC_ADDR_LEN ||
	    (src_len && !src))
		return -ENOBUFS;
	if (!msg || len < FLOE_WG_HEADER_LEN || msg[1] || msg[2] || msg[3])
		return drop(self, &self->stats.invalid_drops, -EINVAL);

	switch (msg[FLOE_WG_OFF_TYPE]) {
	case FLOE_WG_MSG_INITIATION:
		if (len != FLOE_WG_MSG_INITIATION_LEN)
			break;
		return receive_initiation(self, now_ns, src, src_len, msg, out, kind);
	case FLOE_WG_MSG_RESPONSE:
		if (len != FLOE_WG_MSG_RESPONSE_LEN)
			break;
		return receive_response(self, now_ns, src, src_len, msg, out, kind);
	case FLOE_WG_MSG_COOKIE_REPLY:
		if (len != FLOE_WG_MSG_COOKIE_REPLY_LEN)
			break;
		return receive_cookie(self, now_ns, msg);
	case FLOE_WG_MSG_DATA:
		if (len < FLOE_WG_DATA_MIN_LEN)
			break;
		return receive_data(self, now_ns, msg, len, out, cap, kind);
	default:
		break;
	}
	return drop(self, &self->stats.invalid_drops, -EINVAL);
}

static ssize_t send_keepalive(floe_wg_peer_t *self, uint64_t now_ns, uint8_t *out, size_t cap)
{
	if (!floe_wg_keypair_can_send(self->keypairs.current, now_ns)) {
		/* No session to keep alive: WireGuard starts one instead. */
		if (may_initiate(self) && (self->ever_established || self->timers.persistent_keepalive_s))
			self->want_initiation = true;
		return 0;
	}
	return floe_wg_peer_encrypt(self, now_ns, NULL, 0, out, cap);
}

static bool ignorable(ssize_t n)
{
	return n == -EPERM || n == -EALREADY;
}

ssize_t floe_wg_peer_tick(floe_wg_peer_t *self, uint64_t now_ns, uint8_t *out, size_t cap)
{
	unsigned acts = floe_wg_timers_expire(&self->timers, now_ns);
	ssize_t n;

	if (acts & FLOE_WG_TIMER_GIVE_UP) {
		self->events |= FLOE_WG_EV_GAVE_UP;
		self->want_retry = false;
		self->want_initiation = false;
	}
	if (acts & FLOE_WG_TIMER_ZERO_KEYS) {
		zero_all_keys(self);
		self->events |= FLOE_WG_EV_KEYS_ZEROED;
		/* A responder-only peer whose session died goes back to waiting to be called. */
		if (self->responder_only)
			self->ever_established = false;
	}
	if (acts & FLOE_WG_TIMER_SEND_INITIATION)
		self->want_retry = true;
	if (acts & FLOE_WG_TIMER_SEND_KEEPALIVE)
		self->want_keepalive = true;

	if (self->want_retry || self->want_initiation) {
		/* The timers counted a retry already; anything else starts a new attempt. */
		n = send_initiation(self, now_ns, out, cap, self->want_retry && !self->want_initiation);
		if (n > 0 || n == -EPERM) {
			self->want_retry = false;
			self->want_initiation = false;
		} else if (n == -EALREADY) {
			/* A retry within REKEY_TIMEOUT of a send is moot; a rekey waits for the gate. */
			self->want_retry = false;
		}
		if (n != 0 && !ignorable(n))
			return n;
	}
	if (self->want_keepalive || self->confirm_pending) {
		self->want_keepalive = false;
		self->confirm_pending = false;
		n = send_keepalive(self, now_ns, out, cap);
		if (n != 0)
			return n;
		if (self->want_initiation)
			return floe_wg_peer_tick(self, now_ns, out, cap);
	}
	return 0;
}

uint64_t floe_wg_peer_next_deadline_ns(const floe_wg_peer_t *self)
{
	uint64_t next = floe_wg_timers_next_deadline(&self->timers);

	if (self->want_retry || self->want_keepalive || self->confirm_pending)
		return 0;
	if (self->want_initiation && may_initiate(self)) {
		uint64_t gate = self->sent_handshake ?
			self->last_sent_handshake_ns + seconds_ns(FLOE_WG_REKEY_TIMEOUT_S) : 0;

		if (gate < next)
			next = gate;
	}
	return next;
}

uint32_t floe_wg_peer_take_events(floe_wg_peer_t *self)
{
	uint32_t ev = self->events;

	self->events = 0;
	return ev;
}

bool floe_wg_peer_is_established(const floe_wg_peer_t *self)
{
	const floe_wg_keypair_t *kp = self->keypairs.current;

	return kp && kp->sending_valid;
}

void floe_wg_peer_stats(const floe_wg_peer_t *self, floe_wg_peer_stats_t *out)
{
	*out = self->stats;
}
