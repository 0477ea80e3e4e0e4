/*
 * The portal server as a library object, so tests drive it in-process and
 * floe-portal is a thin main around it.
 *
 * It owns its own ZeroMQ context (one I/O thread): the ZAP handler endpoint
 * inproc://zeromq.zap.01 is per context, and a context of its own lets a
 * test run a portal beside nodes, or two portals, in one process. It binds
 * a ROUTER as CURVE server; a ZAP thread accepts only the CURVE keys of the
 * configured gateways and clients and sets each connection's User-Id to the
 * node's base64 public key, which is how every frame is attributed.
 *
 * One thread drives it: poll floe_portal_pollitem(), call
 * floe_portal_handle() when readable and floe_portal_tick() at
 * floe_portal_next_deadline_ms(). Only the ZAP allow-list is shared with
 * the ZAP thread (under a lock, see portal.c).
 *
 * Policy: a client may ask for a resource it holds an unexpired grant for;
 * the portal picks a connected gateway serving it (round-robin), creates a
 * flow with a fresh cid and a fresh random PSK, authorizes it at the
 * gateway and, on flow_accepted, grants it to the client. Candidates are
 * relayed by cid between the flow's two parties only. Reload and expiry
 * push revoke / grant to gateways and resources to clients at once.
 * Expiry is checked every FLOE_PORTAL_TICK_MS against the wall clock.
 */
#ifndef FLOE_DAEMONS_PORTAL_H
#define FLOE_DAEMONS_PORTAL_H

#include <stdint.h>
#include <zmq.h>

#include "daemons/common/portal_config.h"
#include "runtime/common.h"

enum floe_portal_limits {
	FLOE_PORTAL_TICK_MS = 250,                /* expiry and liveness granularity */
	FLOE_PORTAL_NODE_DEAD_AFTER_MS = 6000,    /* no ping for this long: node offline */
	FLOE_PORTAL_AUTHORIZE_TIMEOUT_MS = 10000, /* gateway silent on authorize_flow: deny */
	FLOE_PORTAL_FLOW_IDLE_MS = 120000,        /* no candidate for this long: forget the cid */
	FLOE_PORTAL_MAX_FLOWS = 16384,            /* flow table size; full: deny (10,000 clients: issue #7) */
	FLOE_PORTAL_BATCH = 256,                  /* frames handled per floe_portal_handle */
	FLOE_PORTAL_ROUTER_HWM_MSGS = 10000,
	FLOE_PORTAL_MAX_WORKERS = 64,             /* sessions of one sharded gateway */
};

typedef struct {
	uint64_t rx_msgs;
	uint64_t tx_msgs;
	uint64_t decode_errors;       /* malformed frames, dropped */
	uint64_t unexpected_msgs;     /* well-formed but not for this sender/state */
	uint64_t unknown_sender_drops;/* no configured node behind User-Id (after reload) */
	uint64_t foreign_cid_drops;   /* candidate for a cid the sender is no party to */
	uint64_t send_drops;          /* peer gone or queue full */
	uint64_t flows_authorized;
	uint64_t flows_granted;
	uint64_t flows_denied;
	uint64_t revokes_sent;
	uint64_t grants_sent;
	uint64_t zap_accepted;
	uint64_t zap_refused;
	uint64_t hellos_refused;      /* bad worker index, or a worker count that changed */
	uint64_t credentials_reissued; /* welcomes sent again before minted TURN credentials expire */
} floe_portal_stats_t;

typedef struct floe_portal floe_portal_t;

/* Takes *cfg_p (nulled on success; left with the caller on failure), binds
 * cfg->listen. NULL on failure with errno set. */
FLOE_EXPORT floe_portal_t *floe_portal_new(floe_portal_config_t **cfg_p, uint64_t now_ms);
FLOE_EXPORT void floe_portal_destroy(floe_portal_t **self_p);

/* The bound endpoint ("tcp://127.0.0.1:41234"), useful with port "*". */
FLOE_EXPORT const char *floe_portal_endpoint(const floe_portal_t *self);

FLOE_EXPORT int floe_portal_pollitem(floe_portal_t *self, zmq_pollitem_t *item);
/* Handles the frames waiting (at most FLOE_PORTAL_BATCH). 0 or -errno. */
FLOE_EXPORT int floe_portal_handle(floe_portal_t *self, uint64_t now_ms);
/* Grant expiry, node liveness, flow timeouts. */
FLOE_EXPORT int floe_portal_tick(floe_portal_t *self, uint64_t now_ms);
FLOE_EXPORT uint64_t floe_portal_next_deadline_ms(const floe_portal_t *self);

/* Applies a new configuration (takes *cfg_p, nulled): ZAP allow-list,
 * revokes and grants pushed at once. ListenAddress and the portal's key
 * are kept from the first configuration (they need a restart). */
FLOE_EXPORT int floe_portal_reload(floe_portal_t *self, floe_portal_config_t **cfg_p, uint64_t now_ms);

FLOE_EXPORT floe_portal_stats_t floe_portal_stats(const floe_portal_t *self);

/*
 * A sharded gateway (docs/perf.md): its K processes each say hello under
 * the gateway's one key as worker k of K; the portal keeps one gateway with
 * K links and places every flow of a client on worker
 * floe_portal_place(client key, K), a hash that is the same on every
 * portal. While that worker is offline the client's requests are denied
 * ("gateway worker offline"); the client asks again with its next packet.
 * A worker's new boot id ends that worker's flows only.
 */
FLOE_EXPORT unsigned floe_portal_place(const char *client_key_b64, unsigned workers);

#endif
