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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "actors/policy.h"
#include "runtime/counters.h"
#include "transport/ice/agent.h"
#include "transport/wg/wg.h"

typedef struct floe_node floe_node_t;

enum floe_node_limits {
	FLOE_NODE_MAX_CONNS = 16384,
	FLOE_NODE_MAX_TURN = FLOE_ICE_MAX_TURN_SERVERS,
	FLOE_NODE_DEVICE_QUEUE_PKTS = 1024, /* userspace device, each direction */
	/* Fits WireGuard (32) + TURN ChannelData (4) + UDP (8) + IPv6 (40) in
	 * a 1500-byte underlay, padded to 16: 1400 + 32 + 4 + 8 + 40 = 1484. */
	FLOE_NODE_DEFAULT_MTU = 1400,
};

typedef enum {
	FLOE_NODE_DEVICE_TUN = 0,       /* a Linux TUN device (root) */
	FLOE_NODE_DEVICE_USERSPACE = 1, /* packets in and out through floe_node_device_* */
} floe_node_device_kind_t;

/* Plain data; copied by floe_node_new (strings too). */
typedef struct {
	floe_role_t role;
	uint8_t private_key[FLOE_WG_KEY_LEN];   /* wiped from the copy on every path */
	/* Portal. */
	const char *portal_endpoint;            /* "tcp://203.0.113.1:7400" */
	uint8_t portal_public_key[FLOE_WG_KEY_LEN];
	/* ICE. TURN servers from here and from the portal's welcome are used. */
	const char *stun_host;
	uint16_t stun_port;
	floe_ice_turn_server_t turn[FLOE_NODE_MAX_TURN];
	size_t n_turn;                          /* the welcome's relays follow (numeric hosts only) */
	const char *const *local_addrs;         /* optional: only these (tests on loopback) */
	size_t n_local_addrs;
	uint32_t ice_failure_timeout_ms;        /* 0: default */
	/* Device. */
	floe_node_device_kind_t device;
	const char *tun_name;                   /* TUN: interface name */
	uint32_t mtu;                           /* TUN: 0 = FLOE_NODE_DEFAULT_MTU */
	/* TUN addresses and routes beyond what the portal gives (a client gets
	 * its tunnel IPs and its resources' routes from the welcome). A
	 * gateway names its own tunnel address and the clients' network,
	 * e.g. "100.64.0.1/32" and "100.64.0.0/10". CIDR strings. */
	const char *const *tun_addresses;
	size_t n_tun_addresses;
	const char *const *tun_routes;
	size_t n_tun_routes;
} floe_node_config_t;

/* One connection as floectl show and the metrics present it. */
typedef struct {
	char cid[64];
	char client_id[64];
	char peer_public_key[45];               /* base64; public, fine to show */
	char tunnel_ipv4[16];
	char tunnel_ipv6[46];
	int state;                              /* floe_conn_state_t */
	bool has_path;
	floe_ice_path_t path;
	uint64_t last_handshake_unix_s;         /* 0 = never */
	floe_counters_snapshot_t counters;
} floe_node_conn_info_t;

/* NULL on failure with *err (if given) a one-line reason. */
floe_node_t *floe_node_new(const floe_node_config_t *cfg, char *err, size_t err_cap);
void floe_node_destroy(floe_node_t **self_p);

/*
 * The userspace device (FLOE_NODE_DEVICE_USERSPACE only). Threading rule:
 * ONE writer thread and ONE reader thread for the node's whole life (they
 * may be the same thread). ZeroMQ sockets belong to one thread: the first
 * write creates the writer's socket on the calling thread, and the reader's
 * socket, created by floe_node_new, is used only by read. Call
 * floe_node_destroy once both have stopped using the device.
 * Each direction holds at most FLOE_NODE_DEVICE_QUEUE_PKTS packets; a
 * packet that finds it full is dropped and counted (mailbox_drops).
 * write: 0, -EAGAIN when the queue is full, -EINVAL (NULL, empty, not a
 * userspace node), -EMSGSIZE. read: the packet's length, -EAGAIN when none
 * arrived within timeout_ms (-1 = wait), -EMSGSIZE (packet dropped) when
 * cap is too small.
 */
int floe_node_device_write(floe_node_t *self, const uint8_t *pkt, size_t len);
ssize_t floe_node_device_read(floe_node_t *self, uint8_t *buf, size_t cap, int timeout_ms);

/* Node totals: every connection's counters summed, including closed ones
 * (a reaped connection's final counters are folded in, so totals never go
 * down), plus the node's own: dropped_unknown_destination, acl_drops and
 * mailbox_drops (device queues, connection mailboxes). tun_rx/tx_packets
 * are counted by the connections, not again by the node. */
void floe_node_counters(floe_node_t *self, floe_counters_snapshot_t *out);
/*
 * Any thread: up to cap connections into out, their number in *n; the
 * totals as floe_node_counters(). 0 or -errno. The daemons feed this to
 * floectl show (daemons/common/control.h) and the metrics (metrics.h).
 */
int floe_node_snapshot(floe_node_t *self, floe_node_conn_info_t *out, size_t cap, size_t *n,
		       floe_counters_snapshot_t *totals);
/* Connections in each state right now. */
size_t floe_node_connections(floe_node_t *self, size_t *connected);
bool floe_node_portal_connected(floe_node_t *self);

#endif
