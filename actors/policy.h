/*
 * The role policy: what a connection does with its inputs before ICE has
 * nominated a path. This is the one place that decides it (DESIGN.md,
 * "Roles"), and the reason floe never has the handshake fight of
 * shared/seed/gateway-handshake-fight.txt:
 *
 *   input before nomination        Client               Gateway
 *   packet from the device         buffer (ring, 128)   DROP, count
 *   WireGuard output (response)    buffer, flush        buffer, flush
 *   nomination                     one initiation       flush; never initiates
 *   remote candidate after it      ignore, debug log    ignore, debug log
 *
 * Only the client ever starts the first handshake, so one set-up costs
 * exactly one initiation and one response. After the first handshake the
 * WireGuard timers apply to both sides.
 */
#ifndef FLOE_ACTORS_POLICY_H
#define FLOE_ACTORS_POLICY_H

#include <stdbool.h>

/* floe_role_t is public: include/floe/floe.h. */
#include <floe/floe.h>

typedef enum {
	FLOE_POLICY_SEND = 0, /* hand to WireGuard / the path now */
	FLOE_POLICY_BUFFER,   /* keep in the connection's bounded ring until nomination */
	FLOE_POLICY_DROP,     /* drop and count (dropped_not_nominated) */
} floe_policy_action_t;

enum floe_policy_limits {
	/* Packets a client keeps while ICE runs; the oldest is dropped and
	 * counted (ice_buffer_overflow_drops) when a new one arrives. */
	FLOE_POLICY_DEVICE_RING_PKTS = 128,
	/* WireGuard datagrams kept until nomination: a handshake response, a
	 * cookie reply, a keepalive. A handful is plenty; more is a flood. */
	FLOE_POLICY_WG_RING_PKTS = 8,
};

/* A packet from the packet device (TUN or userspace) for this connection. */
floe_policy_action_t floe_policy_device_packet(floe_role_t role, bool nominated, bool established);
/* A datagram the WireGuard session wants sent (handshake response, data, keepalive). */
floe_policy_action_t floe_policy_wg_output(floe_role_t role, bool nominated);
/* May this side send the first handshake initiation once the path is nominated? */
bool floe_policy_initiates(floe_role_t role);
/* Does WireGuard run responder-only until its first handshake completes? */
bool floe_policy_responder_only(floe_role_t role);
const char *floe_role_name(floe_role_t role);

#endif
