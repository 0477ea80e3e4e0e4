/*
 * The node's private state, shared by node.c (the actor loop, the table,
 * the packet path, the devices) and node_flow.c (the portal signalling).
 * Everything here belongs to the node's thread unless a comment says
 * otherwise.
 */
#ifndef FLOE_ACTORS_NODE_PRIV_H
#define FLOE_ACTORS_NODE_PRIV_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#include "actors/acl.h"
#include "actors/conn.h"
#include "actors/node.h"
#include "runtime/actor.h"
#include "runtime/mailbox.h"
#include "runtime/pool.h"
#include "transport/net/allowedips.h"
#include "transport/net/addrwatch.h"
#include "transport/net/offload.h"
#include "transport/net/tun.h"
#include "transport/signal/portal_client.h"

#define NODE_LOG "floe::node"

enum node_limits {
	NODE_POOL_BUFS = 4096,              /* packet buffers shared by the node and its connections */
	NODE_RX_BATCH_MSGS = 64,            /* mailbox messages per wake-up */
	/* TUN offloads: a read is a virtio-net header and up to 64 KiB; a
	 * packet split off it is never larger than an IP packet. */
	NODE_TUN_SEG_BYTES = 65535,
	NODE_TUN_FRAME_BYTES = NODE_TUN_SEG_BYTES + FLOE_TUN_VNET_HDR_BYTES,
	/* One allocation: read frame, split-off packet, GRO frame. */
	NODE_TUN_BUF_BYTES = NODE_TUN_FRAME_BYTES + NODE_TUN_SEG_BYTES + FLOE_OFFLOAD_GRO_BUF_BYTES,
	/* The connections' shared inbox (their events and packets): packets
	 * are bounded by the pool long before; the rest is room for every
	 * connection's set-up events at once (10,000 x ~3). */
	NODE_INBOX_MSGS = 65536,
	NODE_INBOX_RESERVE_MSGS = 32768,    /* for events only */
	NODE_ACL_TICK_MS = 250,             /* grant expiry: a grant stops within 1 s */
	NODE_FLOW_RETRY_MS = 1000,          /* one request_flow per resource per second at most */
	/* A new address is added and the old one deleted a moment later (two
	 * notifications): replacing once after both costs this much, twice
	 * would put two flow requests for one resource in flight, and the
	 * portal's grant does not say which request it answers. */
	NODE_ROAM_SETTLE_MS = 100,
	/* libnice retransmits a STUN request (connectivity check, TURN
	 * allocation, permission) 7 times by default; at 20% loss on each
	 * leg a relayed session then often failed ('ice failed' ~8 s in) and
	 * was started again from scratch. 12: in one same-run comparison of
	 * nine relayed pairs under 20% loss, no 'ice failed' (3 before) and
	 * the slowest set-up 21 s (54 s before). A session that cannot
	 * succeed fails later; the pair that can is nominated as soon. */
	NODE_STUN_RETRANSMISSIONS = 12,
	NODE_PENDING_CANDIDATES = 16,       /* local candidates kept until the cid is known */
	NODE_MAX_RESOURCES = FLOE_SIGNAL_MAX_RESOURCES,
	NODE_PORTAL_BATCH = 64,             /* portal messages handled per wake-up */
	NODE_LABEL_BYTES = 72,                /* "flow-" + a resource id */
};

/* One connection of the table. Fields read by floe_node_show() from
 * other threads (cid, client_id, peer key, tunnel IPs, path, conn) are
 * written under floe_node.table_lock. */
typedef struct node_conn {
	uint64_t tag;                       /* arg of its events */
	floe_conn_t *conn;
	char cid[FLOE_SIGNAL_CID_CAP];      /* "" until flow_granted on a client */
	char label[NODE_LABEL_BYTES];       /* cid, or "flow-<resource>" before it */
	char client_id[FLOE_SIGNAL_ID_CAP];
	char resource[FLOE_SIGNAL_ID_CAP];  /* client: the resource that asked for it */
	bool has_peer;
	uint8_t peer_key[FLOE_WG_KEY_LEN];  /* public */
	bool has_v4, has_v6;                /* gateway: the client's tunnel addresses */
	uint8_t tun_v4[FLOE_ADDR_V4_LEN];
	uint8_t tun_v6[FLOE_ADDR_V6_LEN];
	bool has_path;
	floe_ice_path_t path;
	/* Client: local candidates and end-of-gathering held until the cid is known. */
	size_t n_pending;
	char pending[NODE_PENDING_CANDIDATES][FLOE_SIGNAL_CANDIDATE_CAP];
	bool gathering_done;
} node_conn_t;

/* node_events.c: the application's event queue. lock protects ring, head,
 * n and drops; fd is readable exactly while n > 0. */
typedef struct {
	pthread_mutex_t lock;
	floe_event_t *ring;                 /* FLOE_NODE_EVENT_QUEUE_MAX */
	size_t head, n;
	uint64_t drops;
	int fd;                             /* eventfd */
	bool ready;
} node_events_t;

/* node_signal.c: one call of the application, handed to the node thread.
 * The caller waits for done, so the pointers stay valid while the node
 * thread uses them. */
typedef enum {
	NODE_CMD_PEER_ADD = 0,
	NODE_CMD_REMOTE_CREDENTIALS,
	NODE_CMD_REMOTE_CANDIDATE,
	NODE_CMD_REMOTE_GATHERING_DONE,
	NODE_CMD_PEER_REMOVE,
} node_cmd_type_t;

typedef struct node_cmd {
	node_cmd_type_t type;
	uint64_t id;                        /* in: the connection; out (add): the new one */
	const floe_peer_config_t *peer;
	floe_cidr_t allowed[FLOE_PEER_MAX_ALLOWED_IPS];
	size_t n_allowed;
	const char *a, *b;                  /* ufrag and pwd, or a candidate line */
	int result;
	bool done;
	struct node_cmd *next;
} node_cmd_t;

/* Client: one resource from the portal and the connection serving it. */
typedef struct {
	char id[FLOE_SIGNAL_ID_CAP];
	floe_cidr_t cidr;
	node_conn_t *conn;                  /* NULL: the next packet asks for a flow */
	uint64_t last_request_ms;
	bool direct_path_lost;              /* the last connection's direct path went silent */
	bool flow_wanted;                   /* a replacement waits for the portal's welcome */
} node_resource_t;

struct floe_node {
	/* Fixed at new. */
	floe_node_config_t cfg;             /* strings point into the copies below */
	char *portal_endpoint, *stun_host, *tun_name;
	char **local_addrs, **tun_addresses, **tun_routes;
	char *turn_strs[FLOE_NODE_MAX_TURN][3];
	floe_ctx_t *ctx;
	floe_pool_t *pool;
	floe_wg_device_t *wg;
	void *zmq_portal_ctx;               /* TCP needs an I/O thread: not the runtime's */
	floe_actor_t *actor;
	floe_counters_t counters;           /* node-level; written by the node thread only */
	_Atomic bool portal_up;
	/* Userspace device. dev_in: the app's one writer thread's sender to
	 * the node's mailbox, created by its first write. dev_out: read by
	 * the app's one reader thread; the node thread sends to it. */
	floe_mailbox_sender_t *dev_in;
	_Atomic uint64_t dev_in_drops;
	floe_mailbox_t *dev_out;
	/* floe_node_device_fd(): written by the node thread after a packet to
	 * dev_out when dev_armed (the reader set it on its last -EAGAIN). */
	int dev_fd;
	_Atomic bool dev_armed;
	/* Without a portal the application signals (node_signal.c). */
	bool app_signal;
	node_events_t events;
	/* Application calls waiting for the node thread: cmd_lock protects the
	 * list, closed and each command's result/done; cmd_fd wakes the node. */
	pthread_mutex_t cmd_lock;
	pthread_cond_t cmd_cond;
	node_cmd_t *cmd_head, *cmd_tail;
	bool cmd_closed;
	int cmd_fd;

	/* The table: written by the node thread under table_lock, read under
	 * it by floe_node_show() and friends. Nothing calls out while
	 * holding it. closed holds the final counters of reaped connections. */
	pthread_mutex_t table_lock;
	node_conn_t **conns;
	size_t n_conns, cap_conns;
	floe_counters_snapshot_t closed;

	/* Node thread only. */
	floe_mailbox_t *mailbox;
	floe_portal_client_t *portal;
	floe_addrwatch_t *addrwatch;        /* client with a portal: local address changes */
	/* A TUN node without LocalAddress: what its next agent gathers,
	 * read at node_fill_ice (its own TUN's addresses left out). */
	char gather[FLOE_ICE_MAX_LOCAL_ADDRS][INET6_ADDRSTRLEN];
	const char *gather_ptrs[FLOE_ICE_MAX_LOCAL_ADDRS];
	uint64_t roam_at_ms;                /* 0, or when to replace after an address change */
	floe_tun_t *tun;
	uint8_t *tun_frame;                 /* TUN with offloads: one read (up to 64 KiB) */
	uint8_t *tun_seg;                   /* a packet split off it (same allocation) */
	floe_offload_gro_t tun_gro;         /* delivered TCP segments gathered for one write */
	uint64_t tun_offload_drops;         /* frames floe_offload_split refused */
	floe_allowedips_t *routes;          /* gateway: owner node_conn_t; client: node_resource_t */
	floe_acl_t *acl;                    /* gateway */
	floe_mailbox_sender_t *to_dev;      /* to dev_out */
	floe_inbox_t *inbox;                /* from every connection: one fd, not one each */
	uint64_t next_tag;
	uint64_t next_acl_ms;
	node_resource_t resources[NODE_MAX_RESOURCES];
	size_t n_resources;
	char tunnel_v4[FLOE_SIGNAL_IPV4_CAP], tunnel_v6[FLOE_SIGNAL_IPV6_CAP];
	size_t n_relays;
	floe_signal_relay_t relays[FLOE_SIGNAL_MAX_RELAYS];
	uint8_t private_key[FLOE_WG_KEY_LEN];
	char err[256];                      /* why the actor failed to start */
	/* Large signalling messages, kept off the 256 KiB actor stack. */
	floe_signal_msg_t sig_in, sig_out;
	floe_event_t ev_scratch;
};

uint64_t node_now_ms(void);
/* node_api.c: an agent's path as the public struct. */
void node_path_public(const floe_ice_path_t *in, floe_path_t *out);
/* node.c: the actor function (floe_actor_fn). */
int node_run(floe_actor_t *actor, floe_mailbox_t *mailbox, void *args);

/* node.c: the table. */
node_conn_t *node_conn_start(floe_node_t *self, const floe_conn_config_t *base, const node_conn_t *ident);
void node_conn_reap(floe_node_t *self, node_conn_t *c, const char *why);
node_conn_t *node_conn_by_cid(floe_node_t *self, const char *cid);
node_conn_t *node_conn_by_client(floe_node_t *self, const char *client_id);
node_conn_t *node_conn_by_peer(floe_node_t *self, const uint8_t key[FLOE_WG_KEY_LEN]);
/* Sends *m to the connection (consumed on every path). */
void node_conn_send(floe_node_t *self, node_conn_t *c, floe_msg_t *m);
void node_table_lock(floe_node_t *self);
void node_table_unlock(floe_node_t *self);
void node_fill_ice(floe_node_t *self, floe_ice_config_t *ice, floe_ice_turn_server_t *turn);

node_conn_t *node_conn_by_tag(floe_node_t *self, uint64_t tag);

/* node_events.c (node thread, except init/fini on the owner's). */
int node_events_init(node_events_t *ev);
void node_events_fini(node_events_t *ev);
void node_event_emit(floe_node_t *self, floe_event_type_t type, const node_conn_t *c, const char *text);
void node_event_path(floe_node_t *self, const node_conn_t *c);
void node_event_credentials(floe_node_t *self, const node_conn_t *c);

/* node_signal.c. init/fini on the owner's thread; the rest on the node's. */
int node_signal_init(floe_node_t *self);
void node_signal_fini(floe_node_t *self);
/* Runs the waiting application calls (cmd_fd was readable). */
void node_signal_handle(floe_node_t *self);
/* The node thread is stopping: every waiting and later call gets -ESHUTDOWN. */
void node_signal_close(floe_node_t *self);
/* A device packet for the application: wakes floe_node_device_fd(). */
void node_device_signal(floe_node_t *self);

/* node_flow.c: the portal session. */
void node_flow_handle_portal(floe_node_t *self);
void node_flow_tick(floe_node_t *self, uint64_t now_ms);
/* Client: a device packet for a resource with no connection. */
node_conn_t *node_flow_request(floe_node_t *self, node_resource_t *res, uint64_t now_ms);
/* A connection's signalling event (candidate, end of gathering). */
void node_flow_local_candidate(floe_node_t *self, node_conn_t *c, const char *line);
void node_flow_gathering_done(floe_node_t *self, node_conn_t *c);
/* Client: forget a reaped connection in the resource table. */
void node_flow_forget(floe_node_t *self, node_conn_t *c);
/* Sharded gateway: adds (present) or removes c's host routes on the TUN. */
void node_flow_host_routes(floe_node_t *self, const node_conn_t *c, bool present);
/* Client: a connection of this resource failed as silent (conn.h,
 * liveness) and is reaped: ask for its replacement now. */
void node_flow_replace_silent(floe_node_t *self, const char *resource, bool was_direct, uint64_t now_ms);
/* Client: the local addresses changed (roaming): replace every connection now. */
void node_flow_roam(floe_node_t *self, uint64_t now_ms);

#endif
