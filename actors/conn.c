/*
 * The connection actor's thread; see conn.h. The role policy it applies
 * lives in policy.c: this file only carries its decisions out. The owner's
 * side (new, destroy, getters, message builders) is in conn_api.c.
 */
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "actors/conn.h"
#include "actors/conn_priv.h"
#include "actors/idle.h"
#include "actors/ring.h"
#include "runtime/actor.h"
#include "runtime/log.h"
#include "runtime/mailbox.h"
#include "transport/wg/ratelimit.h"

#define TARGET "floe::conn"

enum {
	TX_SLOT_BYTES = FLOE_POOL_BUF_BYTES, /* any pooled packet + WireGuard overhead fits */
	/* A probe's answer is one round trip, on a relay too; the rest of
	 * FLOE_CONN_LIVENESS_DEAD_MS covers loss of one of its two datagrams
	 * only partly: data from the peer counts as an answer as well. */
	LIVENESS_ANSWER_MS = FLOE_CONN_LIVENESS_DEAD_MS - FLOE_CONN_LIVENESS_PROBE_MS,
	LIVENESS_RETRY_MS = 250,
};


/* The actor's private state: only its thread touches it. */
typedef struct {
	floe_conn_t *conn;
	floe_actor_t *actor;
	floe_mailbox_t *mailbox;
	floe_counters_t *counters;
	floe_clock_t *clock;
	floe_role_t role;
	floe_wg_peer_t *peer;
	floe_ice_agent_t *ice;
	floe_mailbox_sender_t *parent;  /* NULL when cfg.parent_inbox carries our output */
	uint64_t parent_drops;          /* posts the parent's inbox refused as full */
	uint64_t admit_cookie_replies;  /* sent by the device's admission, before the peer saw it */
	floe_ring_t *device_ring;     /* client: packets waiting for the session */
	floe_ring_t *wg_ring;         /* both: WireGuard output waiting for a path */
	floe_ice_path_t path;         /* the nominated pair; its remote address feeds cookies */
	bool nominated;
	bool established;             /* the first handshake completed */
	bool initiated;               /* the client's first initiation went out */
	bool done;
	int exit_rc;
	uint64_t intent_ns;           /* when the connection was created */
	uint64_t last_data_ns;         /* data either way: ACTIVE until idle_after_ms after it */
	uint64_t last_heard_ns;        /* anything authenticated from the peer */
	uint32_t idle_after_ms;
	uint32_t peer_gone_ms;
	/* Liveness (client): when the first data packet sent since the peer
	 * was last heard (authenticated) went out; 0 = nothing unanswered. */
	uint64_t unanswered_since_ns;
	uint64_t nominated_ns;        /* when the first pair was nominated */
	bool probed;                  /* a probe is out, sent at probe_ns */
	uint64_t probe_ns;
	uint64_t next_probe_ns;       /* no probe before (WireGuard's REKEY_TIMEOUT) */
	uint8_t *tx_buf;              /* FLOE_CONN_TX_BATCH_PKTS slots of TX_SLOT_BYTES */
	struct iovec tx[FLOE_CONN_TX_BATCH_PKTS];
	int tx_n;
} self_t;

static void s_set_state(self_t *self, floe_conn_state_t state)
{
	atomic_store_explicit(&self->conn->state, (int)state, memory_order_release);
}

static floe_conn_state_t s_state(self_t *self)
{
	return (floe_conn_state_t)atomic_load_explicit(&self->conn->state, memory_order_acquire);
}

static uint64_t s_now(self_t *self)
{
	return floe_clock_now_ns(self->clock);
}

/* ---- output to the parent ----------------------------------------------- */

/* Consumed on every path; a full parent mailbox or inbox counts the drop.
 * urgent: an event, which may use the inbox's reserve (packets may not). */
static void s_to_parent(self_t *self, floe_msg_t **m_p, bool urgent)
{
	if (!self->parent) {
		if (floe_inbox_post(self->conn->cfg.parent_inbox, m_p, urgent) == -EAGAIN)
			self->parent_drops++;
		return;
	}
	(void)floe_mailbox_send(self->parent, m_p);
}

static void s_emit(self_t *self, uint16_t type, const void *payload, size_t len)
{
	floe_msg_t *m = floe_msg_new_heap(type, len);

	if (!m)
		return;
	if (len)
		memcpy(floe_msg_data(m), payload, len);
	if (floe_msg_set_len(m, len) < 0) {
		floe_msg_destroy(&m);
		return;
	}
	floe_msg_set_arg(m, self->conn->cfg.tag);
	s_to_parent(self, &m, true);
}

static void s_emit_text(self_t *self, uint16_t type, const char *text)
{
	s_emit(self, type, text, strlen(text) + 1);
}

/* ---- datagrams to the path ------------------------------------------------ */

static void s_tx_flush(self_t *self)
{
	int off = 0;

	while (off < self->tx_n) {
		int sent = floe_ice_agent_send_batch(self->ice, self->tx + off, self->tx_n - off);

		if (sent <= 0) {
			floe_log_ratelimited(FLOE_LOG_DEBUG, TARGET, "Failed to send datagrams",
					     FLOE_F_STR("cid", self->conn->cid),
					     FLOE_F_I64("error", sent),
					     FLOE_F_I64("dropped", self->tx_n - off));
			break;
		}
		off += sent;
	}
	self->tx_n = 0;
}

/* The next free transmit slot, flushing a full batch first. */
static uint8_t *s_tx_slot(self_t *self)
{
	if (self->tx_n == FLOE_CONN_TX_BATCH_PKTS)
		s_tx_flush(self);
	return self->tx_buf + (size_t)self->tx_n * TX_SLOT_BYTES;
}

static void s_tx_commit(self_t *self, size_t len)
{
	self->tx[self->tx_n].iov_base = self->tx_buf + (size_t)self->tx_n * TX_SLOT_BYTES;
	self->tx[self->tx_n].iov_len = len;
	self->tx_n++;
}

/*
 * A datagram WireGuard wants sent (written into the current tx slot):
 * sent with the batch once a path is nominated, kept until then.
 */
static void s_wg_output(self_t *self, size_t len)
{
	floe_msg_t *m;

	if (floe_policy_wg_output(self->role, self->nominated) == FLOE_POLICY_SEND) {
		s_tx_commit(self, len);
		return;
	}
	m = floe_msg_new(self->conn->cfg.pool, FLOE_MSG_DATAGRAM);
	if (!m || floe_msg_set_len(m, len) < 0) {
		floe_msg_destroy(&m);
		return;
	}
	memcpy(floe_msg_data(m), s_tx_slot(self), len);
	floe_log(FLOE_LOG_DEBUG, TARGET, "ICE is still in progress, buffering WireGuard output",
		 FLOE_F_STR("cid", self->conn->cid),
		 FLOE_F_U64("num_buffered", floe_ring_len(self->wg_ring) + 1));
	(void)floe_ring_push(self->wg_ring, &m);
}

static void s_flush_wg_ring(self_t *self)
{
	floe_msg_t *m;
	size_t n = floe_ring_len(self->wg_ring);

	if (n)
		floe_log(FLOE_LOG_DEBUG, TARGET, "Flushing WireGuard output buffered during ICE",
			 FLOE_F_STR("cid", self->conn->cid), FLOE_F_U64("num_buffered", n));
	while ((m = floe_ring_pop(self->wg_ring))) {
		uint8_t *slot = s_tx_slot(self);

		memcpy(slot, floe_msg_data(m), floe_msg_len(m));
		s_tx_commit(self, floe_msg_len(m));
		floe_msg_destroy(&m);
	}
}

/* ---- WireGuard ------------------------------------------------------------ */

static void s_fail(self_t *self, const char *reason)
{
	if (self->done)
		return;
	floe_log(FLOE_LOG_INFO, TARGET, "Connection failed",
		 FLOE_F_STR("cid", self->conn->cid), FLOE_F_STR("client_id", self->conn->cfg.client_id),
		 FLOE_F_STR("reason", reason));
	s_set_state(self, FLOE_CONN_FAILED);
	floe_ring_clear(self->device_ring);
	floe_ring_clear(self->wg_ring);
	s_emit_text(self, FLOE_CONN_EV_FAILED, reason);
	self->done = true;
	self->exit_rc = -EHOSTUNREACH;
}

/* Encrypts one device packet into the batch. -ENOKEY: no session now. */
static int s_encrypt(self_t *self, const uint8_t *pkt, size_t len)
{
	ssize_t n;

	if (!self->peer)
		return -ENOKEY;
	n = floe_wg_peer_encrypt(self->peer, s_now(self), pkt, len, s_tx_slot(self), TX_SLOT_BYTES);
	if (n < 0)
		return (int)n;
	s_tx_commit(self, (size_t)n);
	if (floe_policy_initiates(self->role) && !self->unanswered_since_ns)
		self->unanswered_since_ns = s_now(self);
	return 0;
}

/* Something authenticated came from the peer: it is alive on this path. */
static void s_heard(self_t *self)
{
	self->last_heard_ns = s_now(self);
	self->unanswered_since_ns = 0;
	self->probed = false;
}

/*
 * The client's liveness check (conn.h). The probe is a handshake
 * initiation because WireGuard answers nothing else at once: a data packet
 * waits up to KEEPALIVE_TIMEOUT (10 s) for its passive keepalive, while a
 * response follows an initiation within one round trip. The gateway never
 * probes (policy.c: it never initiates) and never replaces; the client's
 * replacement brings it a new connection, its grants are the client's.
 */
static void s_check_liveness(self_t *self)
{
	uint64_t now = s_now(self);
	ssize_t n;

	if (!floe_policy_initiates(self->role))
		return;
	if (!self->established && self->initiated && self->nominated_ns &&
	    now - self->nominated_ns >= (uint64_t)FLOE_CONN_HANDSHAKE_DEADLINE_MS * FLOE_NS_PER_MS) {
		s_fail(self, FLOE_CONN_REASON_NO_HANDSHAKE);
		return;
	}
	if (!self->established || !self->unanswered_since_ns)
		return;
	if (self->probed) {
		if (now - self->probe_ns >= (uint64_t)LIVENESS_ANSWER_MS * FLOE_NS_PER_MS)
			s_fail(self, FLOE_CONN_REASON_SILENT);
		return;
	}
	if (now < self->next_probe_ns ||
	    now - self->unanswered_since_ns < (uint64_t)FLOE_CONN_LIVENESS_PROBE_MS * FLOE_NS_PER_MS)
		return;
	n = floe_wg_peer_initiate(self->peer, now, s_tx_slot(self), TX_SLOT_BYTES);
	if (n == -EALREADY) {
		/* An initiation left less than REKEY_TIMEOUT ago (it is
		 * answered or it is not); WireGuard allows no second one yet. */
		self->next_probe_ns = now + (uint64_t)LIVENESS_RETRY_MS * FLOE_NS_PER_MS;
		return;
	}
	floe_log(FLOE_LOG_DEBUG, TARGET, "Peer silent: probing with a handshake",
		 FLOE_F_STR("cid", self->conn->cid), FLOE_F_I64("result", n));
	self->probed = true;
	self->probe_ns = now;
	if (n > 0)
		s_tx_commit(self, (size_t)n);
}

static uint64_t s_liveness_deadline_ns(const self_t *self)
{
	uint64_t at;

	if (!floe_policy_initiates(self->role))
		return UINT64_MAX;
	if (!self->established && self->initiated && self->nominated_ns)
		return self->nominated_ns + (uint64_t)FLOE_CONN_HANDSHAKE_DEADLINE_MS * FLOE_NS_PER_MS;
	if (!self->established || !self->unanswered_since_ns)
		return UINT64_MAX;
	if (self->probed)
		return self->probe_ns + (uint64_t)LIVENESS_ANSWER_MS * FLOE_NS_PER_MS;
	at = self->unanswered_since_ns + (uint64_t)FLOE_CONN_LIVENESS_PROBE_MS * FLOE_NS_PER_MS;
	return at > self->next_probe_ns ? at : self->next_probe_ns;
}

static void s_run_wg_timers(self_t *self)
{
	uint64_t now = s_now(self);
	ssize_t n;
	int guard = 0;

	if (!self->peer || floe_wg_peer_next_deadline_ns(self->peer) > now)
		return;
	/* Each call emits at most one datagram; a handful is all tick ever has. */
	while (guard++ < 8 && (n = floe_wg_peer_tick(self->peer, now, s_tx_slot(self), TX_SLOT_BYTES)) > 0)
		s_wg_output(self, (size_t)n);
}

static void s_flush_device_ring(self_t *self)
{
	floe_msg_t *m;
	size_t n = floe_ring_len(self->device_ring);

	if (n)
		floe_log(FLOE_LOG_DEBUG, TARGET, "Flushing packets buffered during ICE",
			 FLOE_F_STR("cid", self->conn->cid), FLOE_F_U64("num_buffered", n));
	while ((m = floe_ring_pop(self->device_ring))) {
		int rc = s_encrypt(self, floe_msg_data(m), floe_msg_len(m));

		if (rc == -ENOKEY) {
			/* The session lapsed again: keep it for the next one, in order. */
			floe_msg_t *back = m;

			m = NULL;
			(void)floe_ring_push(self->device_ring, &back);
			break;
		}
		floe_msg_destroy(&m);
	}
}

static void s_handle_wg_events(self_t *self)
{
	uint32_t ev = self->peer ? floe_wg_peer_take_events(self->peer) : 0;

	if (ev & FLOE_WG_EV_HANDSHAKE_COMPLETE) {
		uint64_t now = s_now(self);

		atomic_store_explicit(&self->conn->last_handshake_ns, now, memory_order_relaxed);
		if (!self->established) {
			self->established = true;
			self->last_data_ns = now;
			self->last_heard_ns = now;
			s_set_state(self, FLOE_CONN_CONNECTED);
			floe_log(FLOE_LOG_INFO, TARGET, "Completed wireguard handshake",
				 FLOE_F_STR("cid", self->conn->cid),
				 FLOE_F_U64("duration_since_intent_ms", (now - self->intent_ns) / FLOE_NS_PER_MS));
			s_emit(self, FLOE_CONN_EV_ESTABLISHED, NULL, 0);
		}
		/* The buffered packets follow the handshake, in order. If there
		 * were none, the initiator confirms the session with a keepalive
		 * from the next tick (wg.h). */
		s_flush_device_ring(self);
		s_run_wg_timers(self);
	}
	if (ev & FLOE_WG_EV_GAVE_UP)
		s_fail(self, "WireGuard handshake timed out");
	else if (ev & FLOE_WG_EV_KEYS_ZEROED)
		s_fail(self, "WireGuard session expired");
}

/* Copies the engine's counts into the actor's counters (single writer). */
static void s_sync_counters(self_t *self)
{
	floe_wg_peer_stats_t st;
	static const struct {
		floe_counter_t id;
		size_t off;
	} map[] = {
		{ FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT, offsetof(floe_wg_peer_stats_t, handshake_initiations_sent) },
		{ FLOE_COUNTER_HANDSHAKE_INITIATIONS_RECEIVED, offsetof(floe_wg_peer_stats_t, handshake_initiations_received) },
		{ FLOE_COUNTER_HANDSHAKE_RESPONSES_SENT, offsetof(floe_wg_peer_stats_t, handshake_responses_sent) },
		{ FLOE_COUNTER_HANDSHAKES_COMPLETED, offsetof(floe_wg_peer_stats_t, handshakes_completed) },
		{ FLOE_COUNTER_COOKIE_REPLIES_SENT, offsetof(floe_wg_peer_stats_t, cookie_replies_sent) },
		{ FLOE_COUNTER_DECRYPT_ERRORS, offsetof(floe_wg_peer_stats_t, decrypt_errors) },
		{ FLOE_COUNTER_REPLAY_DROPS, offsetof(floe_wg_peer_stats_t, replay_drops) },
		{ FLOE_COUNTER_TX_BYTES, offsetof(floe_wg_peer_stats_t, tx_bytes) },
		{ FLOE_COUNTER_RX_BYTES, offsetof(floe_wg_peer_stats_t, rx_bytes) },
		{ FLOE_COUNTER_TX_PACKETS, offsetof(floe_wg_peer_stats_t, tx_packets) },
		{ FLOE_COUNTER_RX_PACKETS, offsetof(floe_wg_peer_stats_t, rx_packets) },
	};

	if (!self->peer)
		return;
	floe_wg_peer_stats(self->peer, &st);
	for (size_t i = 0; i < FLOE_ARRAY_LEN(map); i++) {
		uint64_t v;

		memcpy(&v, (const uint8_t *)&st + map[i].off, sizeof(v));
		atomic_store_explicit(&self->counters->v[map[i].id], v, memory_order_relaxed);
	}
	/* Under load most cookie replies come from the admission, before the
	 * peer: they count too, or a flood would show none. */
	atomic_store_explicit(&self->counters->v[FLOE_COUNTER_COOKIE_REPLIES_SENT],
			      st.cookie_replies_sent + self->admit_cookie_replies, memory_order_relaxed);
	atomic_store_explicit(&self->counters->v[FLOE_COUNTER_MAILBOX_DROPS],
			      self->parent ? floe_mailbox_sender_drops(self->parent) : self->parent_drops,
			      memory_order_relaxed);
}

/* ---- ICE callbacks (this thread, from dispatch) --------------------------- */

static void s_on_local_candidate(void *user, const char *sdp_line)
{
	self_t *self = user;

	s_emit_text(self, FLOE_CONN_EV_LOCAL_CANDIDATE, sdp_line);
}

static void s_on_gathering_done(void *user)
{
	self_t *self = user;

	s_emit(self, FLOE_CONN_EV_GATHERING_DONE, NULL, 0);
}

/*
 * The client's one initiation: once a path is nominated and the peer is
 * known, whichever comes last. The gateway never gets here (policy.c).
 */
static void s_maybe_initiate(self_t *self)
{
	ssize_t n;

	if (!floe_policy_initiates(self->role) || self->established || self->initiated ||
	    !self->nominated || !self->peer)
		return;
	self->initiated = true;
	n = floe_wg_peer_initiate(self->peer, s_now(self), s_tx_slot(self), TX_SLOT_BYTES);
	if (n > 0) {
		floe_log(FLOE_LOG_DEBUG, TARGET, "Sending handshake initiation",
			 FLOE_F_STR("cid", self->conn->cid));
		s_tx_commit(self, (size_t)n);
	} else {
		floe_log(FLOE_LOG_WARNING, TARGET, "Could not create a handshake initiation",
			 FLOE_F_STR("cid", self->conn->cid), FLOE_F_I64("error", n));
	}
}

static void s_on_selected(void *user, const floe_ice_path_t *path)
{
	self_t *self = user;
	bool first = !self->nominated;

	if (first)
		self->nominated_ns = s_now(self);
	self->nominated = true;
	self->path = *path;
	if (self->conn->cfg.replaces_direct_path && path->relay_reason != FLOE_ICE_RELAY_REASON_NONE &&
	    path->relay_reason != FLOE_ICE_RELAY_REASON_RELAY_ONLY)
		self->path.relay_reason = FLOE_ICE_RELAY_REASON_DIRECT_PATH_LOST;
	path = &self->path;
	floe_log(first ? FLOE_LOG_INFO : FLOE_LOG_DEBUG, TARGET,
		 first ? "Nominated path" : "Switched path",
		 FLOE_F_STR("cid", self->conn->cid),
		 FLOE_F_STR("local", floe_ice_cand_type_name(path->local_type)),
		 FLOE_F_STR("local_addr", path->local_addr),
		 FLOE_F_STR("remote", floe_ice_cand_type_name(path->remote_type)),
		 FLOE_F_STR("remote_addr", path->remote_addr),
		 FLOE_F_U64("duration_since_intent_ms", (s_now(self) - self->intent_ns) / FLOE_NS_PER_MS));
	s_emit(self, FLOE_CONN_EV_NOMINATED, path, sizeof(*path));
	if (!first)
		return;
	/* What WireGuard said while ICE ran (the gateway's handshake response)
	 * goes out first, then the client's one initiation. */
	s_flush_wg_ring(self);
	s_maybe_initiate(self);
}

static void s_on_failed(void *user, const char *reason)
{
	self_t *self = user;
	char text[128];

	snprintf(text, sizeof(text), "ICE: %s", reason ? reason : "failed");
	s_fail(self, text);
}

/*
 * The shared device's handshake admission, before the DH: > 0 is a cookie
 * reply waiting in the transmit slot, < 0 a drop, 0 go on. src is what
 * the cookie binds to (s_on_recv: this connection); the limiter's key is
 * the ICE path's remote address (libnice does not say where a datagram
 * came from). A flooder then cannot get cookies, which go out on that
 * path only, and the limiter only ever sees MAC2-valid messages, which
 * only that path's owner can make.
 */
static ssize_t s_admit(self_t *self, const char *src, size_t src_len, const uint8_t *buf, size_t len)
{
	floe_wg_ratelimit_key_t key;
	bool have_key = floe_wg_ratelimit_key_from_string(&key, self->path.remote_addr) == 0;

	return floe_wg_device_admit(self->conn->cfg.wg_device, s_now(self), src, src_len,
				    have_key ? &key : NULL, buf, len, s_tx_slot(self), TX_SLOT_BYTES);
}

static void s_on_recv(void *user, const uint8_t *buf, size_t len)
{
	self_t *self = user;
	floe_wg_out_t kind = FLOE_WG_OUT_NONE;
	/*
	 * The cookie binds to this connection (its local ICE ufrag, random
	 * per agent), not to the path's remote address: a client's first
	 * initiation often arrives before this side has its nominated pair,
	 * and a cookie bound to "" then never matched the retry's MAC2 (under
	 * a flood every client needed a second retry: ~13 s instead of ~7,
	 * system/flood (b2)). Replies only go out on this connection's path
	 * and libnice delivers only from its remote candidates, so only that
	 * path's owner can use the cookie either way.
	 */
	const char *src = self->conn->ufrag;
	/* The cookie MAC takes at most FLOE_WG_MAX_SRC_ADDR_LEN bytes of it. */
	size_t src_len = strnlen(src, FLOE_WG_MAX_SRC_ADDR_LEN);
	floe_msg_t *m;
	ssize_t n;

	if (self->done || !self->peer)
		return;
	if (len < 1 || buf[0] != FLOE_WG_MSG_DATA) {
		/* Handshake messages only ever produce a datagram to send back:
		 * answer straight into the transmit batch. */
		n = s_admit(self, src, src_len, buf, len);
		if (n == 0) {
			n = floe_wg_peer_receive(self->peer, s_now(self), src, src_len, buf, len,
						 s_tx_slot(self), TX_SLOT_BYTES, &kind);
			/* A cookie reply proves only that someone saw our
			 * initiation; initiations and responses prove the peer. */
			if (n >= 0 && buf[0] != FLOE_WG_MSG_COOKIE_REPLY)
				s_heard(self);
		} else if (n > 0) {
			kind = FLOE_WG_OUT_NETWORK;
			self->admit_cookie_replies++;
		}
		if (n > 0 && kind == FLOE_WG_OUT_NETWORK)
			s_wg_output(self, (size_t)n);
		goto out;
	}
	m = floe_msg_new(self->conn->cfg.pool, FLOE_CONN_DELIVER);
	if (!m)
		return; /* pool empty: dropped, counted by the pool */
	/* Decrypt straight from libnice's buffer into the pooled one. */
	n = floe_wg_peer_receive(self->peer, s_now(self), src, src_len, buf, len,
				 floe_msg_data(m), floe_msg_tailroom(m), &kind);
	if (n >= 0)
		s_heard(self); /* data or a keepalive that decrypted */
	if (n > 0 && kind == FLOE_WG_OUT_TUNNEL) {
		(void)floe_msg_set_len(m, (size_t)n);
		floe_msg_set_arg(m, self->conn->cfg.tag);
		floe_counters_inc(self->counters, FLOE_COUNTER_TUN_TX_PACKETS);
		self->last_data_ns = s_now(self);
		if (s_state(self) == FLOE_CONN_IDLE)
			s_set_state(self, FLOE_CONN_CONNECTED);
		s_to_parent(self, &m, false);
	}
	floe_msg_destroy(&m);
out:
	if (n < 0)
		floe_log_ratelimited(FLOE_LOG_DEBUG, TARGET, "Dropped datagram",
				     FLOE_F_STR("cid", self->conn->cid), FLOE_F_I64("error", n),
				     FLOE_F_U64("len", len));
	s_handle_wg_events(self);
}

/* ---- mailbox -------------------------------------------------------------- */

static void s_handle_device_packet(self_t *self, floe_msg_t **m_p)
{
	floe_msg_t *m = *m_p;

	*m_p = NULL;
	floe_counters_inc(self->counters, FLOE_COUNTER_TUN_RX_PACKETS);
	switch (floe_policy_device_packet(self->role, self->nominated, self->established)) {
	case FLOE_POLICY_SEND: {
		int rc = s_encrypt(self, floe_msg_data(m), floe_msg_len(m));

		if (rc == 0) {
			self->last_data_ns = s_now(self);
			if (s_state(self) == FLOE_CONN_IDLE)
				s_set_state(self, FLOE_CONN_CONNECTED);
			break;
		}
		if (rc == -ENOKEY && floe_policy_initiates(self->role)) {
			/* Session lapsed: the client keeps the packet for the next one. */
			floe_counters_inc(self->counters, FLOE_COUNTER_ICE_BUFFERED_PACKETS);
			if (floe_ring_push(self->device_ring, &m))
				floe_counters_inc(self->counters, FLOE_COUNTER_ICE_BUFFER_OVERFLOW_DROPS);
			s_run_wg_timers(self);
			return;
		}
		floe_counters_inc(self->counters, FLOE_COUNTER_DROPPED_NOT_NOMINATED);
		break;
	}
	case FLOE_POLICY_BUFFER:
		floe_counters_inc(self->counters, FLOE_COUNTER_ICE_BUFFERED_PACKETS);
		if (floe_ring_push(self->device_ring, &m))
			floe_counters_inc(self->counters, FLOE_COUNTER_ICE_BUFFER_OVERFLOW_DROPS);
		return;
	case FLOE_POLICY_DROP:
		floe_counters_inc(self->counters, FLOE_COUNTER_DROPPED_NOT_NOMINATED);
		floe_log_ratelimited(FLOE_LOG_DEBUG, TARGET,
				     "No session yet and gateways never initiate: dropping packet",
				     FLOE_F_STR("cid", self->conn->cid));
		break;
	}
	floe_msg_destroy(&m);
}

static void s_handle_credentials(self_t *self, floe_msg_t *m)
{
	const char *ufrag = (const char *)floe_msg_data(m);
	size_t len = floe_msg_len(m), ulen;
	int rc = -EINVAL;

	/* "ufrag\0pwd\0", both NUL-terminated inside the payload. */
	ulen = len ? strnlen(ufrag, len) : len;
	if (ulen < len && strnlen(ufrag + ulen + 1, len - ulen - 1) < len - ulen - 1)
		rc = floe_ice_agent_set_remote_credentials(self->ice, ufrag, ufrag + ulen + 1);
	if (rc < 0)
		floe_log_ratelimited(FLOE_LOG_WARNING, TARGET, "Rejected remote ICE credentials",
				     FLOE_F_STR("cid", self->conn->cid), FLOE_F_I64("error", rc));
}

static void s_handle_candidate(self_t *self, floe_msg_t *m)
{
	const char *line = floe_conn_msg_text(m);
	int rc;

	if (self->nominated) {
		floe_log(FLOE_LOG_DEBUG, TARGET, "Socket has already been nominated, ignoring candidate",
			 FLOE_F_STR("cid", self->conn->cid), FLOE_F_STR("ignored_candidate", line));
		return;
	}
	rc = line ? floe_ice_agent_add_remote_candidate(self->ice, line) : -EINVAL;
	if (rc < 0)
		floe_log_ratelimited(FLOE_LOG_DEBUG, TARGET, "Rejected remote candidate",
				     FLOE_F_STR("cid", self->conn->cid), FLOE_F_I64("error", rc));
}

static int s_create_peer(self_t *self, const floe_conn_peer_t *peer)
{
	floe_wg_peer_config_t pc = { 0 };

	memcpy(pc.public_key, peer->public_key, FLOE_WG_KEY_LEN);
	memcpy(pc.preshared_key, peer->preshared_key, FLOE_WG_KEY_LEN);
	/* The client keeps the path's NAT bindings while idle (idle.h). */
	pc.persistent_keepalive_s = floe_idle_keepalive_s(self->role, peer->persistent_keepalive_s);
	pc.responder_only = floe_policy_responder_only(self->role);
	errno = 0;
	self->peer = floe_wg_peer_new(self->conn->cfg.wg_device, &pc);
	sodium_memzero(&pc, sizeof(pc));
	return self->peer ? 0 : (errno ? -errno : -EINVAL);
}

static void s_handle_set_peer(self_t *self, floe_msg_t *m)
{
	floe_conn_peer_t peer;
	int rc;

	if (self->peer || floe_msg_len(m) != sizeof(peer)) {
		floe_log(FLOE_LOG_WARNING, TARGET, "Ignored a peer for a connection that has one",
			 FLOE_F_STR("cid", self->conn->cid));
		return;
	}
	memcpy(&peer, floe_msg_data(m), sizeof(peer));
	rc = s_create_peer(self, &peer);
	sodium_memzero(&peer, sizeof(peer));
	if (rc < 0) {
		s_fail(self, "WireGuard peer refused");
		return;
	}
	s_maybe_initiate(self);
}

/* Returns false when the actor must stop. */
static bool s_handle_msg(self_t *self, floe_msg_t **m_p)
{
	floe_msg_t *m = *m_p;

	if (floe_msg_is_term(m)) {
		floe_msg_destroy(m_p);
		return false;
	}
	switch (floe_msg_type(m)) {
	case FLOE_MSG_TUN_PACKET:
		s_handle_device_packet(self, m_p);
		return true;
	case FLOE_CONN_REMOTE_CREDENTIALS:
		s_handle_credentials(self, m);
		break;
	case FLOE_CONN_REMOTE_CANDIDATE:
		s_handle_candidate(self, m);
		break;
	case FLOE_CONN_REMOTE_GATHERING_DONE:
		(void)floe_ice_agent_remote_gathering_done(self->ice);
		break;
	case FLOE_CONN_SET_PEER:
		s_handle_set_peer(self, m);
		/* The payload held a preshared key. */
		sodium_memzero(floe_msg_data(m), floe_msg_len(m));
		break;
	case FLOE_CONN_FORCE_REKEY:
		if (self->established) {
			floe_wg_peer_request_rekey(self->peer);
			s_run_wg_timers(self);
		}
		break;
	default:
		floe_log_ratelimited(FLOE_LOG_WARNING, TARGET, "Unexpected message",
				     FLOE_F_STR("cid", self->conn->cid), FLOE_F_U64("type", floe_msg_type(m)));
		break;
	}
	floe_msg_destroy(m_p);
	return true;
}

/* ---- the loop ------------------------------------------------------------- */

static short s_to_zmq(short ev)
{
	return (short)(((ev & POLLIN) ? ZMQ_POLLIN : 0) | ((ev & POLLOUT) ? ZMQ_POLLOUT : 0) |
		       ((ev & POLLPRI) ? ZMQ_POLLPRI : 0));
}

static short s_from_zmq(short ev)
{
	return (short)(((ev & ZMQ_POLLIN) ? POLLIN : 0) | ((ev & ZMQ_POLLOUT) ? POLLOUT : 0) |
		       ((ev & ZMQ_POLLPRI) ? POLLPRI : 0) | ((ev & ZMQ_POLLERR) ? POLLERR : 0));
}

static int s_timeout_ms(self_t *self, int glib_timeout)
{
	uint64_t now = s_now(self);
	uint64_t deadline = self->peer ? floe_wg_peer_next_deadline_ns(self->peer) : UINT64_MAX;
	int t = glib_timeout;

	if (s_liveness_deadline_ns(self) < deadline)
		deadline = s_liveness_deadline_ns(self);
	if (s_state(self) == FLOE_CONN_CONNECTED) {
		uint64_t idle_at = floe_idle_at_ns(self->last_data_ns, self->idle_after_ms);

		if (idle_at < deadline)
			deadline = idle_at;
	}
	if (self->established &&
	    floe_idle_peer_gone_at_ns(self->role, self->last_heard_ns, self->peer_gone_ms) < deadline)
		deadline = floe_idle_peer_gone_at_ns(self->role, self->last_heard_ns, self->peer_gone_ms);
	if (deadline != UINT64_MAX) {
		uint64_t ms = deadline > now ? (deadline - now + FLOE_NS_PER_MS - 1) / FLOE_NS_PER_MS : 0;

		if (ms > INT32_MAX)
			ms = INT32_MAX;
		if (t < 0 || (uint64_t)t > ms)
			t = (int)ms;
	}
	return t;
}

/*
 * ACTIVE -> IDLE once no data went either way for idle_after_ms (idle.h);
 * data turns it back where it passes (s_on_recv, s_handle_device_packet).
 * And the gateway's end of consent: a client that keeps sending nothing
 * authenticated, not even its idle keepalive, is gone.
 */
static void s_check_idle(self_t *self)
{
	uint64_t now = s_now(self);

	if (s_state(self) == FLOE_CONN_CONNECTED &&
	    floe_idle_state(self->last_data_ns, now, self->idle_after_ms) == FLOE_IDLE_IDLE) {
		floe_log(FLOE_LOG_DEBUG, TARGET, "Connection idle", FLOE_F_STR("cid", self->conn->cid));
		s_set_state(self, FLOE_CONN_IDLE);
	}
	if (self->established && floe_idle_peer_gone(self->role, self->last_heard_ns, now, self->peer_gone_ms))
		s_fail(self, FLOE_CONN_REASON_PEER_GONE);
}

static void s_handle_batch(self_t *self, floe_msg_t **batch, int n)
{
	for (int i = 0; i < n; i++) {
		if (self->done || !s_handle_msg(self, &batch[i])) {
			if (!self->done)
				s_set_state(self, FLOE_CONN_CLOSED);
			self->done = true;
			floe_msg_destroy(&batch[i]);
		}
	}
}

static void s_loop(self_t *self)
{
	zmq_pollitem_t items[1 + FLOE_ICE_POLL_MAX_FDS];
	struct pollfd fds[FLOE_ICE_POLL_MAX_FDS];
	floe_msg_t *batch[FLOE_CONN_RX_BATCH_MSGS];

	while (!self->done) {
		int timeout = -1, n, rc;

		n = floe_ice_agent_poll_prepare(self->ice, fds, FLOE_ICE_POLL_MAX_FDS, &timeout);
		if (n < 0)
			n = 0;
		timeout = s_timeout_ms(self, timeout);
		/* After prepare: a post from now on wakes the poll (conn_api.c). */
		if (floe_inbox_pending(self->conn->inbox))
			timeout = 0;
		floe_mailbox_pollitem(self->mailbox, &items[0]);
		for (int i = 0; i < n; i++)
			items[1 + i] = (zmq_pollitem_t){ .socket = NULL, .fd = fds[i].fd,
							 .events = s_to_zmq(fds[i].events) };
		rc = zmq_poll(items, 1 + n, timeout);
		for (int i = 0; i < n; i++)
			fds[i].revents = rc > 0 ? s_from_zmq(items[1 + i].revents) : 0;
		floe_ice_agent_poll_dispatch(self->ice, fds, n);

		rc = floe_mailbox_recv_batch(self->mailbox, batch, FLOE_CONN_RX_BATCH_MSGS);
		s_handle_batch(self, batch, rc);
		rc = floe_inbox_take(self->conn->inbox, batch, FLOE_CONN_RX_BATCH_MSGS);
		s_handle_batch(self, batch, rc);
		if (!self->done) {
			s_run_wg_timers(self);
			s_handle_wg_events(self);
			s_check_idle(self);
			s_check_liveness(self);
		}
		s_tx_flush(self);
		s_sync_counters(self);
	}
}

/* ---- set-up and tear-down (on the actor's thread) ------------------------- */

static void s_self_destroy(self_t **self_p)
{
	self_t *self = *self_p;

	if (!self)
		return;
	/* No poster may wake the agent once it is gone. */
	floe_inbox_close(self->conn->inbox);
	floe_ice_agent_destroy(&self->ice);
	floe_wg_peer_destroy(&self->peer);
	floe_ring_destroy(&self->device_ring);
	floe_ring_destroy(&self->wg_ring);
	floe_mailbox_sender_destroy(&self->parent);
	if (self->tx_buf) {
		/* Plaintext passed through here on its way to encryption. */
		sodium_memzero(self->tx_buf, (size_t)FLOE_CONN_TX_BATCH_PKTS * TX_SLOT_BYTES);
		free(self->tx_buf);
	}
	free(self);
	*self_p = NULL;
}

/* floe_conn_post's wake-up: the agent's context, in whose fds we poll. */
static void s_wake(void *agent)
{
	floe_ice_agent_wakeup(agent);
}

static int s_self_new(floe_conn_t *conn, floe_actor_t *actor, floe_mailbox_t *mailbox, self_t **out)
{
	const floe_conn_config_t *cfg = &conn->cfg;
	floe_ice_callbacks_t cb = {
		.on_local_candidate = s_on_local_candidate,
		.on_gathering_done = s_on_gathering_done,
		.on_selected = s_on_selected,
		.on_failed = s_on_failed,
		.on_recv = s_on_recv,
	};
	self_t *self = calloc(1, sizeof(*self));
	int rc = -ENOMEM;

	if (!self)
		return -ENOMEM;
	self->conn = conn;
	self->actor = actor;
	self->mailbox = mailbox;
	self->counters = floe_actor_counters(actor);
	self->clock = cfg->clock;
	self->role = cfg->role;
	self->intent_ns = s_now(self);
	self->idle_after_ms = cfg->idle_after_ms ? cfg->idle_after_ms : FLOE_IDLE_AFTER_MS;
	self->peer_gone_ms = cfg->peer_gone_ms ? cfg->peer_gone_ms : FLOE_IDLE_PEER_GONE_MS;
	self->tx_buf = malloc((size_t)FLOE_CONN_TX_BATCH_PKTS * TX_SLOT_BYTES);
	self->device_ring = floe_ring_new(FLOE_POLICY_DEVICE_RING_PKTS);
	self->wg_ring = floe_ring_new(FLOE_POLICY_WG_RING_PKTS);
	if (!cfg->parent_inbox)
		self->parent = floe_mailbox_sender_new(floe_actor_ctx(actor), cfg->parent_endpoint);
	if (!self->tx_buf || !self->device_ring || !self->wg_ring || (!self->parent && !cfg->parent_inbox))
		goto err;

	if (!cfg->defer_peer) {
		floe_conn_peer_t peer = { .persistent_keepalive_s = cfg->persistent_keepalive_s };

		memcpy(peer.public_key, cfg->peer_public_key, FLOE_WG_KEY_LEN);
		memcpy(peer.preshared_key, cfg->preshared_key, FLOE_WG_KEY_LEN);
		rc = s_create_peer(self, &peer);
		sodium_memzero(&peer, sizeof(peer));
		if (rc < 0)
			goto err;
	}
	self->ice = floe_ice_agent_new(&cfg->ice, &cb, self);
	if (!self->ice) {
		rc = -EINVAL;
		goto err;
	}
	rc = floe_ice_agent_local_credentials(self->ice, conn->ufrag, conn->pwd);
	if (rc < 0)
		goto err;
	floe_inbox_set_wake(conn->inbox, s_wake, self->ice);
	*out = self;
	return 0;
err:
	s_self_destroy(&self);
	return rc;
}

int floe_conn_run_(floe_actor_t *actor, floe_mailbox_t *mailbox, void *args)
{
	floe_conn_t *conn = args;
	self_t *self = NULL;
	int rc = s_self_new(conn, actor, mailbox, &self);

	/* The copy of the preshared key has done its job either way. */
	sodium_memzero(conn->cfg.preshared_key, sizeof(conn->cfg.preshared_key));
	if (rc < 0)
		return rc;
	s_set_state(self, FLOE_CONN_CONNECTING);
	floe_log(FLOE_LOG_INFO, TARGET, "Created new connection",
		 FLOE_F_STR("cid", conn->cid), FLOE_F_STR("client_id", conn->cfg.client_id),
		 FLOE_F_STR("role", floe_role_name(conn->cfg.role)));
	rc = floe_ice_agent_gather(self->ice);
	if (rc < 0) {
		s_self_destroy(&self);
		return rc;
	}
	floe_actor_ready(actor);
	s_loop(self);
	rc = self->exit_rc;
	s_self_destroy(&self);
	return rc;
}
