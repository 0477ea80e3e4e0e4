/*
 * The node: one per process (a client or a gateway). It owns the
 * connection table, the routing table by tunnel IP, the portal session and
 * the packet device, and it supervises the connection actors.
 *
 * Threads. The node runs its own actor thread ("floe-node"): one poll over
 * its mailbox (events and delivered packets from its connections), the
 * portal socket, the packet device (TUN fd) and the control socket, with
 * the timeout of its next deadline. floe_node_new() returns once that
 * thread is ready; floe_node_destroy() stops and joins it and every
 * connection. Everything else here may be called from any one other
 * thread (the daemon's main thread, or the embedding application).
 *
 * Packet path:
 *   device -> node: route by destination (client: the resource's CIDR ->
 *     the connection to its gateway; gateway: the client's tunnel IP ->
 *     its connection) -> the connection's mailbox. No route: dropped and
 *     counted (dropped_unknown_destination) with a rate-limited debug line
 *     "Unknown client, perhaps already disconnected?".
 *   connection -> node (FLOE_CONN_DELIVER) -> on a gateway, the ACL
 *     (actors/acl.h: source must be the client's tunnel IP, destination a
 *     granted resource; else acl_drops) -> device.
 *
 * Without a portal (portal_endpoint NULL) the application drives
 * signalling (node_signal.c): each floe_node_peer_add() is a connection
 * whose allowed IPs route and filter like WireGuard's AllowedIPs, and
 * its local credentials and candidates leave as events (node_events.c).
 *
 * Flows (the portal protocol, docs/signalling.md): a client's first packet
 * to a resource with no connection creates a connection (peer deferred),
 * asks the portal for a flow with its ICE credentials, and is buffered by
 * that connection while ICE runs. A gateway creates a connection when the
 * portal authorizes a flow; a new connection for the same client replaces
 * the old one, and the client's grants (kept per client, not per
 * connection) survive the replacement.
 */
#ifndef FLOE_ACTORS_NODE_H
#define FLOE_ACTORS_NODE_H

/*
 * The node's public API (types, limits, every floe_node_* function) is
 * include/floe/floe.h: the public node IS this node. This header keeps
 * only what floe's own code needs beside it.
 */
#include <floe/floe.h>

#include "actors/policy.h"
#include "runtime/counters.h"
#include "transport/ice/agent.h"
#include "transport/wg/wg.h"

_Static_assert((int)FLOE_NODE_MAX_TURN == (int)FLOE_ICE_MAX_TURN_SERVERS, "public TURN limit is the agent's");
_Static_assert((int)FLOE_KEY_LEN == (int)FLOE_WG_KEY_LEN, "public key length is WireGuard's");
_Static_assert((int)FLOE_PATH_ADDR_BYTES == (int)FLOE_ICE_ADDR_STR_BYTES, "public path addresses are the agent's");

/*
 * Holds the node's WireGuard device under load (every handshake without a
 * valid MAC2 gets a cookie reply, before any DH), as a flood would; false
 * hands it back to its own detection. For tests of the flood path; any
 * thread.
 */
void floe_node_force_under_load(floe_node_t *self, bool on);

#endif
