/*
 * Idle behaviour of a connection (docs/nat.md, "Idle behaviour"): what
 * keeps a quiet connection's NAT bindings, and what tells each side that
 * the other is gone, now that no ICE consent check runs (every node agent
 * is FLOE_ICE_KEEPALIVE_RELAXED: one STUN binding indication per 25 s from
 * each end, libnice's fixed Tr, answered by nobody).
 *
 *   state     when                          datagrams of the connection
 *   ACTIVE    data either way within        data; WireGuard's timers
 *             FLOE_IDLE_AFTER_MS            (passive keepalive 10 s, rekey);
 *                                           the client's liveness probe
 *                                           1 s after unanswered data
 *   IDLE      no data for FLOE_IDLE_AFTER_MS the client's WireGuard keepalive
 *                                           every FLOE_IDLE_KEEPALIVE_S and a
 *                                           handshake every REKEY_AFTER_TIME
 *                                           (120 s); libnice's indications
 *
 * Data in either direction makes the connection ACTIVE again at once. The
 * client's keepalive is WireGuard's persistent keepalive ("nothing sent or
 * received for N s"), so in ACTIVE it never fires while data flows.
 *
 * Pure functions of the role and the times the connection passes in; the
 * connection actor (conn.c) holds the times and carries the decisions out.
 */
#ifndef FLOE_ACTORS_IDLE_H
#define FLOE_ACTORS_IDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/common.h"
/* floe_role_t is public: include/floe/floe.h. */
#include <floe/floe.h>

enum floe_idle_limits {
	/* No data either way this long: IDLE. Three passive keepalives
	 * (10 s) fit in it, so a connection whose data stopped has said
	 * everything it had to say before it is called idle. */
	FLOE_IDLE_AFTER_MS = 30000,
	/*
	 * The client's keepalive when nothing went either way for this long.
	 * UDP NAT bindings commonly time out after 30 s or more (Linux
	 * conntrack: 30 s unreplied, 120 s once replied; RFC 4787 REQ-5 asks
	 * at least 120 s), and libnice's binding indication every 25 s
	 * already covers those; 15 s also keeps a NAT whose timeout is 20 s
	 * (tests/system/nat_idle_test.sh). A smaller configured
	 * PersistentKeepalive is kept.
	 */
	FLOE_IDLE_KEEPALIVE_S = 15,
	/* The gateway's bound: nothing authenticated from an established
	 * client for this long (four of its keepalives) means it is gone.
	 * Replaces what consent freshness did for the gateway (30 s). */
	FLOE_IDLE_PEER_GONE_MS = 4 * FLOE_IDLE_KEEPALIVE_S * 1000,
};

typedef enum {
	FLOE_IDLE_ACTIVE = 0,
	FLOE_IDLE_IDLE,
} floe_idle_state_t;

/* The persistent keepalive a peer of this role runs with: the client's is
 * configured_s (0 = none configured) capped at FLOE_IDLE_KEEPALIVE_S; the
 * gateway keeps configured_s (it never needs to open a NAT binding: its
 * client keeps the path). */
uint16_t floe_idle_keepalive_s(floe_role_t role, uint16_t configured_s);

/* ACTIVE while now_ns - last_data_ns < idle_after_ms, IDLE after. */
floe_idle_state_t floe_idle_state(uint64_t last_data_ns, uint64_t now_ns, uint32_t idle_after_ms);
/* When an ACTIVE connection whose last data was at last_data_ns turns IDLE. */
uint64_t floe_idle_at_ns(uint64_t last_data_ns, uint32_t idle_after_ms);

/* The gateway's end: true when its established peer sent nothing
 * authenticated since last_heard_ns for gone_ms (FLOE_IDLE_PEER_GONE_MS;
 * tests shorten it). Always false for the client (its liveness probe
 * covers it, docs/nat.md). */
FLOE_MUST_CHECK bool floe_idle_peer_gone(floe_role_t role, uint64_t last_heard_ns, uint64_t now_ns,
					 uint32_t gone_ms);
/* When floe_idle_peer_gone turns true; UINT64_MAX for the client. */
uint64_t floe_idle_peer_gone_at_ns(floe_role_t role, uint64_t last_heard_ns, uint32_t gone_ms);

const char *floe_idle_state_name(floe_idle_state_t state);

#endif
