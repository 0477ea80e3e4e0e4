/*
 * The node side of the portal session: one ZeroMQ DEALER dialling the
 * portal over TCP with CURVE, the hello/welcome exchange, keepalive pings
 * and reconnection with exponential backoff.
 *
 * Owned by one thread (the node actor's); it has no thread of its own. The
 * owner polls the socket (floe_portal_client_pollitem, refilled before every
 * poll because reconnecting replaces the socket), calls
 * floe_portal_client_handle() when it is readable and
 * floe_portal_client_tick() at floe_portal_client_next_deadline_ms().
 *
 * Liveness: the node sends {"type":"ping"} every FLOE_PORTAL_PING_INTERVAL_MS
 * once welcomed; when nothing at all has come from the portal for
 * FLOE_PORTAL_DEAD_AFTER_MS (or no welcome since the hello), the socket is
 * closed and, after a backoff doubling from FLOE_PORTAL_BACKOFF_MIN_MS to
 * FLOE_PORTAL_BACKOFF_MAX_MS, recreated, and hello is said again. Each change
 * of link state is queued as an event (floe_portal_client_next_event) so the
 * node can log it. Nothing here touches tunnels: they keep working while the
 * portal is away.
 *
 * Context: the runtime's shared context (runtime/ctx.h) runs no I/O thread
 * because it is inproc-only, and TCP needs one; so the caller passes a
 * libzmq context with at least one I/O thread.
 */
#ifndef FLOE_TRANSPORT_SIGNAL_PORTAL_CLIENT_H
#define FLOE_TRANSPORT_SIGNAL_PORTAL_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "runtime/common.h"
#include "transport/signal/proto.h"

enum floe_portal_client_limits {
	FLOE_PORTAL_PING_INTERVAL_MS = 2000,
	FLOE_PORTAL_DEAD_AFTER_MS = 6000,
	FLOE_PORTAL_BACKOFF_MIN_MS = 250,
	FLOE_PORTAL_BACKOFF_MAX_MS = 30000,
	FLOE_PORTAL_SNDHWM_MSGS = 1000,   /* queued towards the portal at most */
	FLOE_PORTAL_RCVHWM_MSGS = 1000,
	FLOE_PORTAL_HANDLE_BATCH = 64,    /* internal messages consumed per handle call */
	FLOE_PORTAL_EVENT_QUEUE = 8,      /* link events kept; oldest dropped */
	FLOE_PORTAL_KEY_LEN = 32,
};

typedef enum {
	FLOE_PORTAL_LINK_HELLO_SENT = 0, /* socket up, waiting for welcome */
	FLOE_PORTAL_LINK_CONNECTED,      /* welcomed; pings flowing */
	FLOE_PORTAL_LINK_BACKOFF,        /* socket closed, waiting to redial */
} floe_portal_link_state_t;

typedef enum {
	FLOE_PORTAL_EVENT_NONE = 0,
	FLOE_PORTAL_EVENT_CONNECTED,
	FLOE_PORTAL_EVENT_DISCONNECTED,
} floe_portal_event_t;

typedef struct {
	uint64_t rx_msgs;
	uint64_t tx_msgs;
	uint64_t decode_errors;  /* malformed frames from the portal, dropped */
	uint64_t send_drops;     /* send refused: backoff or high-water mark */
	uint64_t reconnects;
} floe_portal_client_stats_t;

typedef struct floe_portal_client floe_portal_client_t;

/*
 * endpoint: "tcp://host:port". Keys are raw 32-byte X25519 keys (the
 * node's WireGuard private key and the portal's public key); the private
 * key is copied and wiped on destroy. Dials and says hello at once.
 * NULL on failure (errno set).
 */
FLOE_EXPORT floe_portal_client_t *floe_portal_client_new(void *zmq_ctx, const char *endpoint,
							 const uint8_t portal_public_key[FLOE_PORTAL_KEY_LEN],
							 const uint8_t node_private_key[FLOE_PORTAL_KEY_LEN],
							 floe_signal_role_t role, uint64_t now_ms);
/* The same for one process of a sharded gateway: every hello says
 * "worker k of n" (0 <= worker < workers); workers 0 is the plain client
 * above. NULL with EINVAL for an index out of range. */
FLOE_EXPORT floe_portal_client_t *floe_portal_client_new_worker(void *zmq_ctx, const char *endpoint,
								const uint8_t portal_public_key[FLOE_PORTAL_KEY_LEN],
								const uint8_t node_private_key[FLOE_PORTAL_KEY_LEN],
								floe_signal_role_t role, int worker, int workers,
								uint64_t now_ms);
FLOE_EXPORT void floe_portal_client_destroy(floe_portal_client_t **self_p);

/* Fills item for zmq_poll (ZMQ_POLLIN). -ENOTCONN while backing off (no
 * socket: poll only for the deadline). */
FLOE_EXPORT int floe_portal_client_pollitem(floe_portal_client_t *self, zmq_pollitem_t *item);

/*
 * Receives and decodes, without blocking, the next message for the node.
 * pong is consumed here; welcome is both consumed (link up) and returned.
 * 0 with *out set; -EAGAIN when nothing is waiting; -EPROTO / -EINVAL for a
 * malformed frame (dropped and counted; call again); -ENOTCONN in backoff.
 */
FLOE_EXPORT int floe_portal_client_handle(floe_portal_client_t *self, uint64_t now_ms,
					  floe_signal_msg_t *out);

/* Encodes and queues msg without blocking. -ENOTCONN in backoff, -EAGAIN at
 * the high-water mark (both counted in send_drops), -EINVAL for a message
 * that does not validate. */
FLOE_EXPORT int floe_portal_client_send(floe_portal_client_t *self, const floe_signal_msg_t *msg);

/* Pings, dead-portal detection, backoff and redial. Call at or after the
 * deadline; calling early is harmless. 0 or -errno from redialling (the
 * client stays in backoff and retries later). */
FLOE_EXPORT int floe_portal_client_tick(floe_portal_client_t *self, uint64_t now_ms);

/* Closes the link now and dials again at the next tick, without backoff.
 * For an owner whose local address changed: its TCP connection may be
 * bound to an address that is gone, and noticing that by silence takes
 * FLOE_PORTAL_DEAD_AFTER_MS, during which everything sent is lost. A link
 * that was up reports FLOE_PORTAL_EVENT_DISCONNECTED (and CONNECTED once
 * welcomed again). -EINVAL for NULL. */
FLOE_EXPORT int floe_portal_client_redial(floe_portal_client_t *self, uint64_t now_ms);

/* When tick must next run (absolute, same clock as now_ms). */
FLOE_EXPORT uint64_t floe_portal_client_next_deadline_ms(const floe_portal_client_t *self);

FLOE_EXPORT FLOE_MUST_CHECK bool floe_portal_client_connected(const floe_portal_client_t *self);
FLOE_EXPORT floe_portal_link_state_t floe_portal_client_state(const floe_portal_client_t *self);

/* Pops the oldest link event, FLOE_PORTAL_EVENT_NONE when there is none. */
FLOE_EXPORT floe_portal_event_t floe_portal_client_next_event(floe_portal_client_t *self);

FLOE_EXPORT floe_portal_client_stats_t floe_portal_client_stats(const floe_portal_client_t *self);

#endif
