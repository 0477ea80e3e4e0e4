/*
 * The connection actor: one thread per connection, owning its ICE agent
 * and its WireGuard peer.
 *
 * Every input is a message on the connection's mailbox, handled in order
 * by its thread alone: a packet from the packet device, remote ICE
 * credentials, a remote candidate, close. ICE events and datagrams come
 * from the agent, which the same thread drives (it owns the agent's
 * GMainContext). Before ICE nominates a path the connection buffers or
 * drops according to its role, as actors/policy.h says.
 *
 * Outputs go to the parent's mailbox (the node, or a test), each message's
 * arg set to the connection's tag so one parent can serve many:
 *
 *   FLOE_CONN_EV_LOCAL_CANDIDATE   payload: an SDP candidate line (trickle)
 *   FLOE_CONN_EV_GATHERING_DONE
 *   FLOE_CONN_EV_NOMINATED         payload: floe_ice_path_t
 *   FLOE_CONN_EV_ESTABLISHED       the first handshake completed
 *   FLOE_CONN_EV_FAILED            payload: the reason (text); the actor then exits
 *   FLOE_CONN_DELIVER              a decrypted IP packet for the device (pooled)
 *
 * States: new -> connecting -> connected <-> idle -> failed / closed.
 *
 * Threads: new, destroy and the senders' sends run on the owner's thread;
 * state, counters and local credentials may be read from any thread.
 */
/*
 * Liveness (docs/nat.md): a client whose data has gone unanswered for
 * FLOE_CONN_LIVENESS_PROBE_MS probes with a handshake initiation (any peer
 * answers one at once), and if nothing authenticated came back within
 * FLOE_CONN_LIVENESS_DEAD_MS of that first unanswered packet, it fails
 * with FLOE_CONN_REASON_SILENT; the node then replaces it.
 */
#define FLOE_CONN_REASON_SILENT "peer silent: no authenticated traffic"
/* A client's path was nominated but no handshake completed on it within
 * FLOE_CONN_HANDSHAKE_DEADLINE_MS (e.g. a relayed pair libnice reports
 * ready while one direction is dropped): the node replaces it. */
#define FLOE_CONN_REASON_NO_HANDSHAKE "no handshake on the nominated path"
/* The gateway heard nothing authenticated from its established client for
 * FLOE_IDLE_PEER_GONE_MS (actors/idle.h): the client is gone. */
#define FLOE_CONN_REASON_PEER_GONE "peer gone: no keepalive"

#ifndef FLOE_ACTORS_CONN_H
#define FLOE_ACTORS_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/inbox.h"
#include "actors/policy.h"
#include "runtime/clock.h"
#include "runtime/counters.h"
#include "runtime/ctx.h"
#include "runtime/msg.h"
#include "runtime/pool.h"
#include "transport/ice/agent.h"

enum floe_conn_liveness {
	FLOE_CONN_LIVENESS_PROBE_MS = 1000,
	FLOE_CONN_LIVENESS_DEAD_MS = 3000,
	/* Three initiations (WireGuard retries every REKEY_TIMEOUT, 5 s) and
	 * time for the last answer: under 20% loss all three round trips fail
	 * in ~5% of attempts, and then a fresh path is the better bet. */
	FLOE_CONN_HANDSHAKE_DEADLINE_MS = 12000,
};
#include "transport/wg/wg.h"

typedef struct floe_conn floe_conn_t;

/* floe_conn_state_t is public: include/floe/floe.h. CONNECTED is idle.h's
 * ACTIVE, IDLE its IDLE (no data for FLOE_IDLE_AFTER_MS). */

/* Message types a connection takes and emits (runtime/msg.h's actors range). */
enum floe_conn_msg_type {
	/* in: a packet from the packet device: FLOE_MSG_TUN_PACKET */
	FLOE_CONN_REMOTE_CREDENTIALS = FLOE_MSG_ACTORS_FIRST, /* payload "ufrag\0pwd\0" */
	FLOE_CONN_REMOTE_CANDIDATE,                           /* payload: SDP line, NUL-terminated */
	FLOE_CONN_REMOTE_GATHERING_DONE,
	FLOE_CONN_FORCE_REKEY,
	FLOE_CONN_SET_PEER,                                   /* payload: floe_conn_peer_t (deferred peer) */
	/* out, arg = tag */
	FLOE_CONN_EV_LOCAL_CANDIDATE = FLOE_MSG_ACTORS_FIRST + 8,
	FLOE_CONN_EV_GATHERING_DONE,
	FLOE_CONN_EV_NOMINATED,
	FLOE_CONN_EV_ESTABLISHED,
	FLOE_CONN_EV_FAILED,
	FLOE_CONN_DELIVER,
};

enum floe_conn_limits {
	FLOE_CONN_TX_BATCH_PKTS = 32,    /* datagrams handed to the agent per wake-up */
	FLOE_CONN_RX_BATCH_MSGS = 64,    /* mailbox messages taken per wake-up */
	FLOE_CONN_ID_MAX_BYTES = 64,     /* cid and client_id, for logs */
	/* The owner's inbox (floe_conn_post): as many as one mailbox sender's
	 * pipe; signalling may use the last RESERVE slots, packets not. */
	FLOE_CONN_INBOX_MSGS = 1024,
	FLOE_CONN_INBOX_RESERVE_MSGS = 64,
};

/* Plain data; copied by floe_conn_new. */
typedef struct {
	floe_role_t role;
	uint64_t tag;                     /* arg of every message to the parent */
	const char *cid;                  /* connection id for logs */
	const char *client_id;            /* may be NULL */
	floe_wg_device_t *wg_device;      /* shared, outlives the connection */
	/* A client asks the portal for a flow before it knows which gateway
	 * will serve it, but the request carries its ICE credentials: so the
	 * connection can start without a peer and get it later with
	 * FLOE_CONN_SET_PEER. Until then it buffers like a client on ICE. */
	bool defer_peer;
	uint8_t peer_public_key[FLOE_WG_KEY_LEN];
	uint8_t preshared_key[FLOE_WG_KEY_LEN]; /* wiped by floe_conn_new's copy on exit */
	uint16_t persistent_keepalive_s;
	floe_ice_config_t ice;            /* its pointers must stay valid until new returns */
	const char *parent_endpoint;      /* the parent's mailbox (exit notice; events too unless parent_inbox) */
	/* Events and delivered packets go here instead, when set: a node's
	 * shared inbox, so a connection holds no sender fd (actors/inbox.h).
	 * Must outlive the connection. */
	floe_inbox_t *parent_inbox;
	floe_pool_t *pool;                /* buffers for delivered packets */
	floe_clock_t *clock;              /* NULL: a monotonic clock of its own */
	/* This connection replaces one whose direct path went silent: if it
	 * ends on a relay, its path says direct_path_lost (docs/nat.md). */
	bool replaces_direct_path;
	/* No data this long turns the connection IDLE; 0 = FLOE_IDLE_AFTER_MS
	 * (actors/idle.h). Tests shorten it. */
	uint32_t idle_after_ms;
	/* The gateway's bound for a silent client; 0 = FLOE_IDLE_PEER_GONE_MS. */
	uint32_t peer_gone_ms;
} floe_conn_config_t;

/*
 * Starts the actor: creates its WireGuard peer (responder-only for the
 * gateway) and its ICE agent, starts gathering, and returns once the
 * thread is ready. NULL with errno set on failure (EINVAL for a refused
 * peer key or bad ICE config).
 */
floe_conn_t *floe_conn_new(floe_ctx_t *ctx, const floe_conn_config_t *cfg);
/* Stops (if still running) and joins the actor; frees everything. Idempotent. */
void floe_conn_destroy(floe_conn_t **self_p);

/*
 * Hands a message (a packet, credentials, a candidate: what the mailbox
 * takes) to the connection without a ZeroMQ sender: its inbox
 * (actors/inbox.h), whose first message wakes the connection's thread
 * through its ICE agent's GLib context. So the owner holds no file
 * descriptor per connection (docs/perf.md "Scale"). Any thread; messages
 * from one thread arrive in order. Takes *msg_p on every path: 0;
 * -EAGAIN when the inbox is full (dropped; the caller counts it; packets
 * leave FLOE_CONN_INBOX_RESERVE_MSGS to signalling); -EPIPE when the
 * connection's thread has ended; -EINVAL.
 */
FLOE_MUST_CHECK int floe_conn_post(floe_conn_t *self, floe_msg_t **msg_p);
/* The mailbox endpoint, for floe_mailbox_sender_new() on producer threads. */
const char *floe_conn_endpoint(const floe_conn_t *self);
/* The runtime actor id (what FLOE_CONTROL_CHILD_EXITED carries). */
uint64_t floe_conn_actor_id(const floe_conn_t *self);
/* Local ICE credentials; valid from new until destroy. */
const char *floe_conn_local_ufrag(const floe_conn_t *self);
const char *floe_conn_local_pwd(const floe_conn_t *self);

floe_conn_state_t floe_conn_state(const floe_conn_t *self);
const char *floe_conn_state_name(floe_conn_state_t state);
/* Any thread. */
void floe_conn_counters(const floe_conn_t *self, floe_counters_snapshot_t *out);
/* Monotonic ns of the last completed handshake, 0 if none; any thread. */
uint64_t floe_conn_last_handshake_ns(const floe_conn_t *self);

/* The payload of FLOE_CONN_SET_PEER. */
typedef struct {
	uint8_t public_key[FLOE_WG_KEY_LEN];
	uint8_t preshared_key[FLOE_WG_KEY_LEN];
	uint16_t persistent_keepalive_s;
} floe_conn_peer_t;

/* Helpers for the parent: build the input messages (heap, small). NULL on ENOMEM/EINVAL. */
floe_msg_t *floe_conn_msg_credentials(const char *ufrag, const char *pwd);
floe_msg_t *floe_conn_msg_candidate(const char *sdp_line);
floe_msg_t *floe_conn_msg_set_peer(const floe_conn_peer_t *peer);
/* Reads the text payload of a candidate / failure message, NUL-terminated; NULL if malformed. */
const char *floe_conn_msg_text(floe_msg_t *msg);

#endif
