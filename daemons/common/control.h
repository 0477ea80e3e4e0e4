/*
 * The local control socket behind `floectl show` (docs/observability.md),
 * and the status snapshot it and the metrics endpoint render.
 *
 * Server: a Unix stream socket (mode 0600, a stale socket at the path is
 * replaced) whose listening fd is non-blocking and polled by the daemon's
 * own thread. When it is readable, floe_control_handle() accepts the pending
 * clients one at a time; for each it reads one request line ("show\n" or
 * "show json\n", at most FLOE_CONTROL_REQUEST_MAX_BYTES), asks the snapshot
 * callback for the node's state, writes the reply and closes. A client gets
 * FLOE_CONTROL_IO_TIMEOUT_MS in all to send its request and take its reply,
 * so a silent or slow client delays the daemon's thread by at most that.
 *
 * Wire format of a reply: a status line, then the body, then EOF:
 *   "ok\n" <text or JSON>          or        "error <message>\n"
 *
 * Client: floe_control_query() sends the request and copies the body to a
 * file descriptor (floectl's stdout).
 */
#ifndef FLOE_DAEMONS_CONTROL_H
#define FLOE_DAEMONS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "runtime/common.h"
#include "runtime/counters.h"

enum floe_control_limits {
	FLOE_CONTROL_ID_MAX = 64,              /* bytes of a cid / client id, NUL included */
	FLOE_CONTROL_ROLE_MAX = 16,
	FLOE_CONTROL_MAX_CONNS = 100000,       /* connections one snapshot holds */
	FLOE_CONTROL_REQUEST_MAX_BYTES = 64,
	FLOE_CONTROL_IO_TIMEOUT_MS = 1000,     /* per client, request and reply together */
	FLOE_CONTROL_ACCEPT_BATCH = 16,        /* clients served per floe_control_handle() */
	FLOE_CONTROL_KEY_LEN = 32,
	FLOE_CONTROL_ERR_MAX = 256,
	FLOE_CONTROL_PATH_MAX = 108,           /* sun_path, NUL included */
	FLOE_CONTROL_REASON_MAX = 24,          /* a relay reason name, NUL included */
	FLOE_CONTROL_MAX_WORKERS = 64,         /* bits of workers_up (FLOE_NODE_MAX_WORKERS) */
};

#define FLOE_CONTROL_DEFAULT_DIR "/run/floe"

typedef enum {
	FLOE_CONTROL_STATE_NEW = 0,
	FLOE_CONTROL_STATE_CONNECTING,
	FLOE_CONTROL_STATE_CONNECTED,
	FLOE_CONTROL_STATE_IDLE,
	FLOE_CONTROL_STATE_FAILED,
	FLOE_CONTROL_STATE_CLOSED,
} floe_control_state_t;

/* The ICE candidate type of the selected pair's local side. */
typedef enum {
	FLOE_CONTROL_PATH_NONE = 0,
	FLOE_CONTROL_PATH_HOST,
	FLOE_CONTROL_PATH_SRFLX,
	FLOE_CONTROL_PATH_PRFLX,
	FLOE_CONTROL_PATH_RELAY,
} floe_control_path_t;

/* One connection. Addresses with ss_family 0 are "none". */
typedef struct {
	char cid[FLOE_CONTROL_ID_MAX];
	char client_id[FLOE_CONTROL_ID_MAX];
	bool has_peer_key;
	uint8_t peer_public_key[FLOE_CONTROL_KEY_LEN];
	bool has_tunnel_v4, has_tunnel_v6;
	uint8_t tunnel_v4[4];
	uint8_t tunnel_v6[16];
	floe_control_state_t state;
	floe_control_path_t path;
	floe_control_path_t remote_path; /* the selected pair's remote side */
	/* Why the path is relayed ("no_direct_pair", "symmetric_nat",
	 * "direct_path_lost", "relay_only"); "" when it is not (docs/nat.md). */
	char relay_reason[FLOE_CONTROL_REASON_MAX];
	struct sockaddr_storage local, remote;
	int64_t last_handshake_s_ago; /* -1: never */
	floe_counters_snapshot_t counters;
	/* A sharded gateway's process holding it (docs/perf.md); JSON null
	 * and no text line when !has_worker (one process). */
	bool has_worker;
	unsigned worker;
} floe_control_conn_t;

/*
 * What the node reports. `node` holds the counters that belong to no
 * connection (dropped_unknown_destination, mailbox drops at the node, and
 * the final counters of closed connections, so totals never go down); the
 * renderers add every connection's counters to it for the node totals.
 */
typedef struct {
	char role[FLOE_CONTROL_ROLE_MAX]; /* "gateway", "client", "portal", "wg" */
	bool has_public_key;
	uint8_t public_key[FLOE_CONTROL_KEY_LEN];
	struct sockaddr_storage listen; /* ss_family 0: not listening */
	floe_counters_snapshot_t node;
	size_t n_conns, cap_conns;
	floe_control_conn_t *conns;
	/* A sharded gateway's worker processes (docs/perf.md); 0: one process.
	 * workers_up: bit k set when worker k answered for this snapshot (a
	 * worker that did not is missing from conns and the totals). */
	unsigned workers;
	uint64_t workers_up;
} floe_control_snapshot_t;

/*
 * Fills snap (zeroed on entry, conns added with floe_control_snapshot_add).
 * Runs on the thread that serves the request: the control socket's owner,
 * or libmicrohttpd's thread for metrics. 0 or -errno (reported as an error).
 */
typedef int (floe_control_snapshot_fn)(void *user, floe_control_snapshot_t *snap);

/* A zeroed slot at the end of snap->conns; NULL at FLOE_CONTROL_MAX_CONNS or ENOMEM. */
floe_control_conn_t *floe_control_snapshot_add(floe_control_snapshot_t *snap);
/* Frees conns and zeroes the snapshot. */
void floe_control_snapshot_clear(floe_control_snapshot_t *snap);
/* snap->node plus every connection's counters. */
void floe_control_snapshot_totals(const floe_control_snapshot_t *snap, floe_counters_snapshot_t *out);

/* A sharded gateway: did worker k answer; how many connections it holds. */
bool floe_control_worker_up(const floe_control_snapshot_t *snap, unsigned k);
size_t floe_control_worker_conns(const floe_control_snapshot_t *snap, unsigned k);

const char *floe_control_state_name(floe_control_state_t s);
/* "none", "host", "srflx", "prflx", "relay". */
const char *floe_control_path_name(floe_control_path_t p);

/*
 * Renderers. Both return a malloc'd NUL-terminated string (the caller frees)
 * or NULL on ENOMEM. Text reads like `wg show`; JSON is one object:
 *   {"role", "public_key", "listen", "totals": {counter: n},
 *    "workers": [{"worker", "up", "connections"}] or null (one process),
 *    "connections": [{"cid", "client_id", "peer", "tunnel_ipv4", "tunnel_ipv6",
 *      "state", "path": {"type", "remote_type", "local", "remote", "relay_reason"},
 *      "last_handshake_s_ago", "worker",
 *      "rx_bytes", "tx_bytes", "rx_packets", "tx_packets",
 *      "counters": {counter: n}}]}
 * Missing values are JSON null.
 */
char *floe_control_render_text(const floe_control_snapshot_t *snap);
char *floe_control_render_json(const floe_control_snapshot_t *snap);

typedef struct floe_control floe_control_t;

/*
 * Binds and listens on path (NULL: FLOE_CONTROL_DEFAULT_DIR/<daemon>.sock,
 * creating the directory 0700). A socket file already at the path that no
 * one answers on is removed; a live one is -EADDRINUSE; anything that is not
 * a socket is left alone (-EEXIST). NULL on failure with *err set to -errno
 * when err is not NULL.
 */
floe_control_t *floe_control_new(const char *path, const char *daemon, floe_control_snapshot_fn *fn,
				 void *user, int *err);
/* Closes and unlinks the socket. */
void floe_control_destroy(floe_control_t **self_p);
/* The listening fd to poll for POLLIN. */
int floe_control_fd(const floe_control_t *self);
const char *floe_control_path(const floe_control_t *self);
/*
 * Serves the clients waiting now (up to FLOE_CONTROL_ACCEPT_BATCH). Returns
 * how many were answered, or -errno when accept() itself failed. A client
 * that times out, sends garbage or hangs up is counted in errors.
 */
int floe_control_handle(floe_control_t *self);
uint64_t floe_control_errors(const floe_control_t *self);

/*
 * Asks the daemon at path for "show" (or "show json") and writes the body
 * to out_fd. 0, or -errno: -ENOENT / -ECONNREFUSED when no daemon listens,
 * -ETIMEDOUT, -EPROTO when the daemon answered with an error (its message
 * copied to err when err is not NULL).
 */
int floe_control_query(const char *path, bool json, int out_fd, char *err, size_t err_cap);
/* The same, waiting at most timeout_ms in all (floe_control_query: 30 s). */
int floe_control_query_wait(const char *path, bool json, int out_fd, int timeout_ms, char *err, size_t err_cap);

/*
 * The socket floectl talks to when not told: the first of
 * <dir>/{floe-gateway,floe-client,floe-portal,floe-wg}.sock that exists
 * (dir NULL: FLOE_CONTROL_DEFAULT_DIR), written to buf. -ENOENT when none,
 * -ENAMETOOLONG when buf is too small.
 */
int floe_control_find_socket(const char *dir, char *buf, size_t cap);

#endif
