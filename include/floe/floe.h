/*
 * floe: the public header of libfloe, the one an embedding application
 * includes. It needs nothing but libc headers; no libnice, ZeroMQ, GLib or
 * private floe header leaks through it.
 *
 * What an application does with it:
 *
 *   1. make or load a key (floe_key_*), optionally route the JSON-lines log
 *      to its own sink (floe_log_set_sink) and pick a level;
 *   2. create a node (floe_node_new): a client or a gateway, with either a
 *      portal (endpoint + the portal's public key: the portal hands out
 *      flows, preshared keys and relays ICE credentials and candidates) or
 *      no portal, in which case the application drives signalling itself
 *      (floe_node_peer_*) and carries the local credentials and candidates
 *      that the node reports as events to the other side;
 *   3. move packets: a TUN device (root) that the node reads and writes by
 *      itself, or the userspace device (floe_node_device_read/write, with a
 *      pollable fd) through which the application is the network;
 *   4. watch events (floe_node_event_fd + floe_node_event_next) and read
 *      counters (floe_node_counters, floe_node_show);
 *   5. floe_node_destroy.
 *
 * Conventions. Functions returning int return 0 (or a count) on success and
 * a negative errno on failure: -EINVAL for NULL or malformed arguments,
 * -EOPNOTSUPP for a call this node's mode does not serve (peer calls on a
 * node with a portal, device calls on a TUN node), -ENOENT for a connection
 * id that is unknown or already closed. Objects are opaque; _destroy(T **)
 * accepts NULL and a pointer to NULL, and sets the pointer to NULL, so a
 * second destroy is a no-op. Keys are 32 bytes; the caller wipes its own
 * copies (sodium_memzero); no key ever reaches a log line.
 *
 * Threads. The node runs its own threads (one for the node, one per
 * connection). Unless a function says otherwise it may be called from any
 * thread, concurrently with the others, between floe_node_new returning and
 * floe_node_destroy being called; floe_node_destroy must not run
 * concurrently with any other call on the same node.
 *
 * Changes after the first version (keep this list):
 *   - floe_key_generate / floe_key_to_base64 accept NULL (they crashed).
 *   - floe_node_new refuses an all-zero private key (EINVAL, "private key").
 *   - floe_node_new refuses an ice_failure_timeout_ms outside 100..600000
 *     (the agents refused it later, at the first connection); docs only
 *     otherwise (a TUN node needs tun_routes for its peers' allowed IPs).
 */
#ifndef FLOE_FLOE_H
#define FLOE_FLOE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef FLOE_EXPORT
#define FLOE_EXPORT __attribute__((visibility("default")))
#endif
#ifndef FLOE_MUST_CHECK
#define FLOE_MUST_CHECK __attribute__((warn_unused_result))
#endif

/* ------------------------------------------------------------------ */
/* Version                                                            */

#define FLOE_VERSION_MAJOR 0
#define FLOE_VERSION_MINOR 1
#define FLOE_VERSION_PATCH 0
#define FLOE_VERSION_STRING "0.1.0"

/* The library's version ("0.1.0"), which may differ from the header's
 * FLOE_VERSION_STRING when an application runs against a newer libfloe.so.
 * A static string; any thread. */
FLOE_EXPORT const char *floe_version(void);

/* ------------------------------------------------------------------ */
/* Keys (WireGuard-style: 32 bytes, 44 chars of base64)               */

enum floe_key_limits {
	FLOE_KEY_LEN = 32,     /* bytes of a private, public or preshared key */
	FLOE_KEY_B64_LEN = 44, /* base64 chars, without the terminating NUL */
};

/* A new private key from libsodium's randombytes, clamped as wg genkey
 * does; wipe it (sodium_memzero) when done. Any thread. NULL: nothing. */
FLOE_EXPORT void floe_key_generate(uint8_t out[FLOE_KEY_LEN]);
/* X25519 public key of a private key: 0, or -EINVAL for NULL (or a result
 * of all zeros, which no clamped private key gives). */
FLOE_EXPORT FLOE_MUST_CHECK int floe_key_public(uint8_t out[FLOE_KEY_LEN],
						const uint8_t private_key[FLOE_KEY_LEN]);
/* Writes 44 chars of standard base64 + NUL, as wg(8) prints keys; key
 * NULL writes "", out NULL nothing. */
FLOE_EXPORT void floe_key_to_base64(char out[FLOE_KEY_B64_LEN + 1], const uint8_t key[FLOE_KEY_LEN]);
/* 44 chars of base64 (whitespace around allowed) -> 32 bytes: 0, or
 * -EINVAL (out zeroed) for NULL or anything else. */
FLOE_EXPORT FLOE_MUST_CHECK int floe_key_from_base64(uint8_t out[FLOE_KEY_LEN], const char *b64);

/* ------------------------------------------------------------------ */
/* Log                                                                */

/*
 * floe logs one JSON object per line:
 *   {"time":"2026-11-26T15:36:46.474123Z","severity":"INFO",
 *    "target":"floe::node","message":"Connection established","cid":"..."}
 * The level starts from the FLOE_LOG environment variable (debug, info,
 * warning, error, off; default info) unless floe_log_set_level sets it.
 */
typedef enum {
	FLOE_LOG_DEBUG = 0,
	FLOE_LOG_INFO = 1,
	FLOE_LOG_WARNING = 2,
	FLOE_LOG_ERROR = 3,
	FLOE_LOG_OFF = 4,
} floe_log_level_t;

/*
 * A sink receives each complete line: len bytes ending in '\n' (not
 * NUL-terminated), at most 4096. It is called under the logger's lock, on
 * whichever floe thread logs, one line at a time: it must be quick, must
 * not block on the node, and must not call into floe (logging from it
 * would deadlock).
 */
typedef void (floe_log_sink_fn)(void *user, const char *line, size_t len);

/* Process-wide. fn NULL restores the default sink (stderr, one write(2) per
 * line). user is handed to fn untouched. Once this returns the previous
 * sink is never called again (so its user data may be freed). Any thread. */
FLOE_EXPORT void floe_log_set_sink(floe_log_sink_fn *fn, void *user);
/* Process-wide; overrides FLOE_LOG. A level outside the enum is ignored. */
FLOE_EXPORT void floe_log_set_level(floe_log_level_t level);
FLOE_EXPORT floe_log_level_t floe_log_get_level(void);

/* ------------------------------------------------------------------ */
/* Counters                                                           */

/* Per connection and summed per node; names via floe_counter_name(). New
 * counters are appended, so floe_counters_snapshot_t may grow between minor
 * versions (0.x: a minor version bump may change the ABI). */
typedef enum {
	FLOE_COUNTER_TUN_RX_PACKETS = 0,         /* packets from the device, for a connection */
	FLOE_COUNTER_TUN_TX_PACKETS,             /* packets delivered to the device */
	FLOE_COUNTER_ICE_BUFFERED_PACKETS,       /* client: kept while ICE ran */
	FLOE_COUNTER_ICE_BUFFER_OVERFLOW_DROPS,  /* client: oldest dropped from that buffer */
	FLOE_COUNTER_DROPPED_NOT_NOMINATED,      /* gateway: dropped before nomination */
	FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION,/* no connection for the destination */
	FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT,
	FLOE_COUNTER_HANDSHAKE_INITIATIONS_RECEIVED,
	FLOE_COUNTER_HANDSHAKE_RESPONSES_SENT,
	FLOE_COUNTER_HANDSHAKES_COMPLETED,
	FLOE_COUNTER_COOKIE_REPLIES_SENT,
	FLOE_COUNTER_DECRYPT_ERRORS,
	FLOE_COUNTER_REPLAY_DROPS,
	FLOE_COUNTER_MAILBOX_DROPS,              /* a full internal queue dropped a packet */
	FLOE_COUNTER_ACL_DROPS,                  /* refused by access policy / allowed IPs */
	FLOE_COUNTER_TX_BYTES,                   /* WireGuard datagrams sent */
	FLOE_COUNTER_RX_BYTES,
	FLOE_COUNTER_TX_PACKETS,
	FLOE_COUNTER_RX_PACKETS,
	FLOE_COUNTER_COUNT, /* not a counter: the number of them */
} floe_counter_t;

/* A plain copy of every counter, indexed by floe_counter_t. */
typedef struct {
	uint64_t v[FLOE_COUNTER_COUNT];
} floe_counters_snapshot_t;

/* "tun_rx_packets", ...; NULL for an id out of range. Any thread. */
FLOE_EXPORT const char *floe_counter_name(floe_counter_t id);
/* The id of a name, or -ENOENT (NULL included). */
FLOE_EXPORT int floe_counter_from_name(const char *name);

/* ------------------------------------------------------------------ */
/* Roles, states, paths                                               */

typedef enum {
	FLOE_ROLE_CLIENT = 0,  /* initiates: the first handshake of a connection is always its */
	FLOE_ROLE_GATEWAY = 1, /* never initiates; drops device packets until ICE nominates */
} floe_role_t;

/* "client", "gateway", "unknown" otherwise. */
FLOE_EXPORT const char *floe_role_name(floe_role_t role);

/* A connection's life: new -> connecting -> connected <-> idle -> failed / closed. */
typedef enum {
	FLOE_CONN_NEW = 0,
	FLOE_CONN_CONNECTING, /* gathering / checking; nothing nominated yet */
	FLOE_CONN_CONNECTED,  /* nominated, first handshake done, traffic flows */
	FLOE_CONN_IDLE,       /* connected, no data for a while */
	FLOE_CONN_FAILED,
	FLOE_CONN_CLOSED,
} floe_conn_state_t;

/* "new", "connecting", ...; "unknown" for a value out of range. */
FLOE_EXPORT const char *floe_conn_state_name(floe_conn_state_t state);

/* The ICE candidate type of one end of the selected pair. */
typedef enum {
	FLOE_PATH_HOST = 0,
	FLOE_PATH_SRFLX,  /* server-reflexive: the address a NAT shows */
	FLOE_PATH_PRFLX,  /* peer-reflexive: learnt from a connectivity check */
	FLOE_PATH_RELAY,  /* through a TURN relay */
} floe_path_type_t;

enum floe_path_limits {
	FLOE_PATH_ADDR_BYTES = 64, /* "127.0.0.1:40000", "[v6%scope]:65535", NUL included */
};

/* Why a path is relayed (docs/nat.md); FLOE_RELAY_REASON_NONE when it is not. */
typedef enum {
	FLOE_RELAY_REASON_NONE = 0,
	FLOE_RELAY_REASON_NO_DIRECT_PAIR,   /* no host/srflx/prflx pair succeeded */
	FLOE_RELAY_REASON_SYMMETRIC_NAT,    /* an endpoint-dependent NAT mapping was seen */
	FLOE_RELAY_REASON_DIRECT_PATH_LOST, /* replaced a connection whose direct path died */
	FLOE_RELAY_REASON_RELAY_ONLY,       /* configured to use relays only */
} floe_relay_reason_t;

/* The path ICE selected. */
typedef struct {
	floe_path_type_t local_type;
	floe_path_type_t remote_type;
	char local_addr[FLOE_PATH_ADDR_BYTES];
	char remote_addr[FLOE_PATH_ADDR_BYTES];
	floe_relay_reason_t relay_reason;
} floe_path_t;

/* "host", "srflx", "prflx", "relay"; "unknown" otherwise. */
FLOE_EXPORT const char *floe_path_type_name(floe_path_type_t type);
/* "none", "no_direct_pair", "symmetric_nat", "direct_path_lost",
 * "relay_only"; "unknown" otherwise. */
FLOE_EXPORT const char *floe_relay_reason_name(floe_relay_reason_t reason);

/* ------------------------------------------------------------------ */
/* Node configuration                                                 */

typedef struct floe_node floe_node_t;

enum floe_node_limits {
	FLOE_NODE_MAX_CONNS = 16384,         /* connections one node holds */
	FLOE_NODE_MAX_TURN = 4,              /* TURN servers in the config (+ the portal's) */
	FLOE_NODE_DEVICE_QUEUE_PKTS = 1024,  /* userspace device, each direction */
	/* Fits WireGuard (32) + TURN ChannelData (4) + UDP (8) + IPv6 (40) in
	 * a 1500-byte underlay, padded to 16: 1400 + 32 + 4 + 8 + 40 = 1484. */
	FLOE_NODE_DEFAULT_MTU = 1400,
	FLOE_NODE_MAX_PACKET_BYTES = 1500,   /* largest IP packet the userspace device takes */
	FLOE_NODE_EVENT_QUEUE_MAX = 1024,    /* events held for the application */
	FLOE_NODE_ERR_BYTES = 256,           /* enough for any floe_node_new error */
	FLOE_ID_BYTES = 64,                  /* a portal cid / client id, NUL included */
	FLOE_NODE_MAX_WORKERS = 64,          /* processes of one sharded gateway */
};

typedef enum {
	FLOE_NODE_DEVICE_TUN = 0,       /* a Linux TUN device (needs CAP_NET_ADMIN) */
	FLOE_NODE_DEVICE_USERSPACE = 1, /* packets in and out through floe_node_device_* */
} floe_node_device_kind_t;

/* TURN over UDP; host is a numeric IPv4/IPv6 address. */
typedef struct {
	const char *host;
	uint16_t port;
	const char *username;
	const char *password;
} floe_turn_server_t;

/* Plain data; floe_node_new copies all of it (strings and lists too), so it
 * may live on the stack. Zero-initialise it and set what you need. */
typedef struct {
	floe_role_t role;
	uint8_t private_key[FLOE_KEY_LEN];      /* the node wipes its copy; wipe yours */
	/*
	 * Signalling. With a portal: its endpoint ("tcp://203.0.113.1:7400")
	 * and its public key; the portal decides who talks to whom. With
	 * portal_endpoint NULL the application drives signalling with
	 * floe_node_peer_* and carries the LOCAL_* events to the peer.
	 */
	const char *portal_endpoint;
	uint8_t portal_public_key[FLOE_KEY_LEN];
	/* ICE. TURN servers from here and from the portal's welcome are used. */
	const char *stun_host;                  /* numeric address, or NULL */
	uint16_t stun_port;                     /* 0: 3478 */
	floe_turn_server_t turn[FLOE_NODE_MAX_TURN];
	size_t n_turn;
	const char *const *local_addrs;         /* optional: only these numeric addresses (loopback tests) */
	size_t n_local_addrs;
	uint32_t ice_failure_timeout_ms;        /* no path this long -> failed; 0: default; 100..600000 */
	/* Device. */
	floe_node_device_kind_t device;
	const char *tun_name;                   /* TUN: interface name ("floe0") */
	uint32_t mtu;                           /* TUN: 0 = FLOE_NODE_DEFAULT_MTU */
	/* TUN addresses and routes beyond what the portal gives (a client gets
	 * its tunnel IPs and its resources' routes from the welcome). A
	 * gateway names its own tunnel address and the clients' network,
	 * e.g. "100.64.0.1/32" and "100.64.0.0/10". CIDR strings. */
	const char *const *tun_addresses;
	size_t n_tun_addresses;
	const char *const *tun_routes;
	size_t n_tun_routes;
	/*
	 * One process of a sharded gateway (docs/perf.md, "10,000
	 * connections"): worker `worker` of `workers` says so in its portal
	 * hello, and for each client it accepts it routes that client's tunnel
	 * addresses (/32, /128) to its own TUN, so the kernel hands the
	 * client's packets to this process. workers 0 (the default): one
	 * process, no host routes. Gateway with a portal and a TUN only.
	 */
	unsigned worker;
	unsigned workers;
} floe_node_config_t;

/* ------------------------------------------------------------------ */
/* Node lifecycle                                                     */

/*
 * Starts a node: its thread, its device (a TUN device is created, given
 * its addresses and routes and brought up here) and, with a portal, the
 * portal session (which connects in the background: a portal that does not
 * answer yet is not an error). Returns once the node's thread is ready.
 * NULL on failure, with a one-line reason in err (if err_cap > 0; at most
 * FLOE_NODE_ERR_BYTES are needed) and errno set.
 */
FLOE_EXPORT floe_node_t *floe_node_new(const floe_node_config_t *cfg, char *err, size_t err_cap);
/* Stops every connection (each emits nothing more) and the node, removes
 * the TUN device, wipes the keys, frees everything and sets *self_p to
 * NULL. NULL or *self_p NULL: nothing. No other call on this node may run
 * concurrently or follow. */
FLOE_EXPORT void floe_node_destroy(floe_node_t **self_p);

/* ------------------------------------------------------------------ */
/* Devices                                                            */

/*
 * The userspace device (FLOE_NODE_DEVICE_USERSPACE only; -EOPNOTSUPP on a
 * TUN node). Threading rule: ONE writer thread and ONE reader thread for
 * the node's whole life (they may be the same thread).
 * Each direction holds at most FLOE_NODE_DEVICE_QUEUE_PKTS packets; a packet
 * that finds it full is dropped and counted (mailbox_drops).
 *
 * write: one IP packet (IPv4 or IPv6), copied. 0; -EAGAIN when the queue is
 * full (dropped and counted); -EINVAL for NULL or len 0; -EMSGSIZE above
 * FLOE_NODE_MAX_PACKET_BYTES. The node routes it by destination; a packet
 * for no connection is dropped and counted (dropped_unknown_destination).
 *
 * read: the next packet for the application: its length; -EAGAIN when none
 * arrived within timeout_ms (0 = do not wait, -1 = wait); -EMSGSIZE (the
 * packet is dropped) when cap is too small; -EINVAL for NULL.
 *
 * fd: a file descriptor that polls readable (POLLIN) when a packet may be
 * waiting, for the application's own poll loop. It is edge-like: once it is
 * readable, call floe_node_device_read(..., 0) until it returns -EAGAIN
 * before polling again (a spurious wake-up is possible, a lost one is not).
 * Poll it on the reader thread; never read(2) or close it (the node owns it).
 * -EOPNOTSUPP on a TUN node, -EINVAL for NULL.
 */
FLOE_EXPORT int floe_node_device_write(floe_node_t *self, const uint8_t *pkt, size_t len);
FLOE_EXPORT ssize_t floe_node_device_read(floe_node_t *self, uint8_t *buf, size_t cap, int timeout_ms);
FLOE_EXPORT int floe_node_device_fd(floe_node_t *self);

/* TUN nodes: the interface's name (the kernel's when cfg.tun_name was
 * NULL) into buf. 0; -EOPNOTSUPP on a userspace node; -EINVAL for NULL;
 * -ENAMETOOLONG when cap is too small. */
FLOE_EXPORT int floe_node_tun_name(floe_node_t *self, char *buf, size_t cap);

/* ------------------------------------------------------------------ */
/* Application-driven signalling (nodes created without a portal)      */

enum floe_peer_limits {
	FLOE_PEER_MAX_ALLOWED_IPS = 16,
};

/*
 * One peer, WireGuard style. allowed_ips are CIDR strings ("10.0.0.2/32",
 * "fd00::/64") with WireGuard's AllowedIPs meaning: packets from the
 * device whose destination falls in them go to this peer (longest prefix
 * wins across peers; a later peer takes an identical prefix over), and a
 * packet this peer sends is delivered only if its source falls in them
 * (else dropped and counted as acl_drops). On a TUN node the kernel must
 * route them to the interface too: list them in tun_routes (the node adds
 * no route per peer). Plain data, copied by floe_node_peer_add; wipe the
 * preshared key yourself.
 */
typedef struct {
	uint8_t public_key[FLOE_KEY_LEN];
	bool has_preshared_key;
	uint8_t preshared_key[FLOE_KEY_LEN];
	const char *const *allowed_ips;
	size_t n_allowed_ips;               /* at most FLOE_PEER_MAX_ALLOWED_IPS */
	uint16_t persistent_keepalive_s;    /* 0: off */
} floe_peer_config_t;

/*
 * Creates a connection to a peer and starts ICE gathering; its id goes to
 * *id. The connection then emits, through the events below,
 * LOCAL_CREDENTIALS (queued before this returns) and one LOCAL_CANDIDATE per
 * local candidate, then GATHERING_DONE: carry them to the peer, and hand
 * the peer's to floe_node_peer_remote_*. The role policy holds: a client
 * sends the first handshake as soon as ICE nominates a path; a gateway
 * never initiates and drops device packets for the peer until then. So
 * pair a client with a gateway: the ICE roles (controlling / controlled)
 * and the first handshake follow from the node's role.
 * 0; -EOPNOTSUPP (node has a portal); -EINVAL (NULL, a bad CIDR, too many
 * allowed IPs, an all-zero key); -EEXIST (this public key is already a
 * peer); -ENOSPC (FLOE_NODE_MAX_CONNS); -ENOMEM, -EIO.
 */
FLOE_EXPORT int floe_node_peer_add(floe_node_t *self, const floe_peer_config_t *peer, uint64_t *id);
/*
 * The peer's ICE credentials (its LOCAL_CREDENTIALS event), and its
 * candidates one SDP line at a time ("a=candidate:..." or "candidate:...").
 * Candidates may arrive before the credentials; they are held. After a
 * path is nominated further candidates are ignored. gathering_done: the
 * peer has no more candidates. 0; -ENOENT (unknown or removed id);
 * -EINVAL (NULL, empty or oversized text); -EOPNOTSUPP (portal node).
 * A malformed candidate line is counted and dropped by the connection.
 */
FLOE_EXPORT int floe_node_peer_remote_credentials(floe_node_t *self, uint64_t id, const char *ufrag,
						  const char *pwd);
FLOE_EXPORT int floe_node_peer_remote_candidate(floe_node_t *self, uint64_t id, const char *sdp_line);
FLOE_EXPORT int floe_node_peer_remote_gathering_done(floe_node_t *self, uint64_t id);
/* Closes the connection (a CLOSED event follows) and forgets its allowed
 * IPs. 0; -ENOENT (unknown, failed-and-closed or already removed);
 * -EOPNOTSUPP (portal node). */
FLOE_EXPORT int floe_node_peer_remove(floe_node_t *self, uint64_t id);

/* ------------------------------------------------------------------ */
/* Events                                                             */

enum floe_event_limits {
	FLOE_EVENT_TEXT_BYTES = 528, /* an SDP candidate line (<= 512) or a reason, NUL included */
	FLOE_EVENT_CRED_BYTES = 257, /* an ICE ufrag or pwd (<= 256), NUL included */
};

typedef enum {
	FLOE_EVENT_NONE = 0,
	FLOE_EVENT_LOCAL_CREDENTIALS,  /* ufrag, pwd: send to the peer (no portal only) */
	FLOE_EVENT_LOCAL_CANDIDATE,    /* text: an SDP candidate line for the peer (no portal only) */
	FLOE_EVENT_GATHERING_DONE,     /* no more local candidates (no portal only) */
	FLOE_EVENT_PATH,               /* path: ICE selected (or switched to) this path */
	FLOE_EVENT_ESTABLISHED,        /* the first handshake completed: traffic flows */
	FLOE_EVENT_FAILED,             /* text: why (ICE failed, timed out, ...); CLOSED follows */
	FLOE_EVENT_CLOSED,             /* text: why; the last event of this id, which is now gone */
} floe_event_type_t;

/*
 * One event. conn_id is the connection's id (floe_node_peer_add's, or the
 * id in floe_conn_info_t on a portal node); cid is the portal's connection
 * id on a portal node ("" otherwise, and "" on a client until the portal
 * grants the flow). The ICE pwd authenticates connectivity checks: carry it
 * to the peer over a channel you trust, and do not log it.
 */
typedef struct {
	floe_event_type_t type;
	uint64_t conn_id;
	char cid[FLOE_ID_BYTES];
	char text[FLOE_EVENT_TEXT_BYTES];
	char ufrag[FLOE_EVENT_CRED_BYTES];
	char pwd[FLOE_EVENT_CRED_BYTES];
	floe_path_t path;
} floe_event_t;

/* A file descriptor that polls readable while at least one event is
 * queued (level-triggered). The node owns it: never read or close it.
 * -EINVAL for NULL. */
FLOE_EXPORT int floe_node_event_fd(floe_node_t *self);
/*
 * Takes the oldest queued event into *out: 0, or -EAGAIN when none is
 * queued (never waits), -EINVAL for NULL. Events of one connection come in
 * order. At most FLOE_NODE_EVENT_QUEUE_MAX events wait; a newer one that
 * finds the queue full is dropped and counted (floe_node_event_drops), so
 * an application that never reads events loses only events. Any thread.
 */
FLOE_EXPORT int floe_node_event_next(floe_node_t *self, floe_event_t *out);
/* Events dropped on a full queue since floe_node_new; 0 for NULL. */
FLOE_EXPORT uint64_t floe_node_event_drops(floe_node_t *self);

/* ------------------------------------------------------------------ */
/* Counters and show                                                  */

/* One connection as floectl show and the metrics present it. */
typedef struct {
	uint64_t id;                            /* as in events and floe_node_peer_* */
	char cid[FLOE_ID_BYTES];                /* portal cid, or a label ("flow-<resource>", "peer-<id>") */
	char client_id[FLOE_ID_BYTES];          /* gateway with a portal: the client's id */
	char peer_public_key[FLOE_KEY_B64_LEN + 1]; /* base64; "" before a client knows its gateway */
	char tunnel_ipv4[16];                   /* gateway with a portal: the client's tunnel IPs */
	char tunnel_ipv6[46];
	floe_conn_state_t state;
	bool has_path;
	floe_path_t path;
	uint64_t last_handshake_unix_s;         /* 0 = never */
	floe_counters_snapshot_t counters;
} floe_conn_info_t;

/*
 * Node totals into *out: every connection's counters summed, including
 * closed ones (totals never go down), plus the node's own
 * (dropped_unknown_destination, acl_drops, mailbox_drops). 0, -EINVAL for
 * NULL (out is zeroed when it is not NULL).
 */
FLOE_EXPORT int floe_node_counters(floe_node_t *self, floe_counters_snapshot_t *out);
/*
 * Up to cap connections into out, their number in *n (n may be NULL), and
 * the totals as floe_node_counters into *totals (may be NULL). out may be
 * NULL when cap is 0. 0, or -EINVAL. Any thread; a consistent picture of
 * the table at one moment.
 */
FLOE_EXPORT int floe_node_show(floe_node_t *self, floe_conn_info_t *out, size_t cap, size_t *n,
			       floe_counters_snapshot_t *totals);
/* Connections right now (0 for NULL); *connected (may be NULL) gets those
 * connected or idle. */
FLOE_EXPORT size_t floe_node_connections(floe_node_t *self, size_t *connected);
/* A portal node: is the portal session up? false for NULL or no portal. */
FLOE_EXPORT bool floe_node_portal_connected(floe_node_t *self);

#ifdef __cplusplus
}
#endif

#endif
