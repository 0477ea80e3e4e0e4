/*
 * Prometheus text metrics over HTTP (docs/observability.md), opt-in on the
 * gateway. GET /metrics answers "text/plain; version=0.0.4" with:
 *
 *   # HELP floe_acl_drops Packets dropped by the gateway's access policy.
 *   # TYPE floe_acl_drops counter
 *   floe_acl_drops{cid="c1",client_id="8b10...",path="host"} 5
 *   ...
 *   # HELP floe_node_acl_drops ... (node totals: node counters + every connection)
 *   # TYPE floe_node_acl_drops counter
 *   floe_node_acl_drops 6
 *
 * Node totals are their own family (floe_node_<counter>) so that sum() over
 * a per-connection family never counts anything twice. Every other path is
 * 404; any method other than GET/HEAD is 405.
 *
 * Threads: libmicrohttpd's internal polling thread (one, started by
 * floe_metrics_new, joined by floe_metrics_destroy) serves every request and
 * calls the snapshot callback on that thread; the callback must therefore
 * read the node's state in a thread-safe way (counters are atomics; the
 * connection table is the node's to lock).
 */
#ifndef FLOE_DAEMONS_METRICS_H
#define FLOE_DAEMONS_METRICS_H

#include <stdint.h>

#include "daemons/common/control.h"

enum floe_metrics_limits {
	FLOE_METRICS_MAX_CLIENTS = 16,          /* concurrent HTTP connections */
	FLOE_METRICS_CONNECTION_TIMEOUT_S = 10, /* idle HTTP connection closed after */
};

#define FLOE_METRICS_DEFAULT_ADDRESS "127.0.0.1"
#define FLOE_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct floe_metrics floe_metrics_t;

/*
 * Listens on address:port (NULL address: loopback; port 0: any free port,
 * see floe_metrics_port). NULL on failure with *err = -errno when err is not
 * NULL (-EINVAL for a bad address).
 */
floe_metrics_t *floe_metrics_new(const char *address, uint16_t port, floe_control_snapshot_fn *fn,
				 void *user, int *err);
/* Stops the HTTP thread (waits for it) and closes the socket. */
void floe_metrics_destroy(floe_metrics_t **self_p);
/* The port actually bound. */
uint16_t floe_metrics_port(const floe_metrics_t *self);

/* The exposition text of a snapshot; malloc'd (the caller frees), NULL on ENOMEM. */
char *floe_metrics_render(const floe_control_snapshot_t *snap);

#endif
