/*
 * floe-gateway with [Gateway] Workers = K > 1 (docs/perf.md, "10,000
 * connections: one process is not enough").
 *
 * The parent runs no node. It binds the control socket, starts K workers
 * (workers.h), then serves `floectl show` and the metrics from the workers'
 * private control sockets (shard_show.h), restarts a worker that dies and,
 * on SIGTERM / SIGINT, stops them all and waits. READY=1 goes to systemd
 * once every worker is ready.
 *
 * Worker k is the same program run with --worker k: a full gateway node
 * with its own TUN, its own control socket and its own portal session
 * ("worker k of K" in its hello), which routes the tunnel addresses of the
 * clients it holds to its TUN. floe_shard_worker_conf() turns the file's
 * configuration into worker k's:
 *   - TUN: the [Interface] Name with its trailing digits replaced by k
 *     ("floe-gw0" -> floe-gw0, floe-gw1, ...; "gw" -> gw0, gw1, ...);
 *   - control socket: the parent's path + ".w<k>";
 *   - no metrics listener (the parent has it);
 *   - [Interface] Route only on worker 0: the broad route catches packets
 *     for clients no worker holds (counted as dropped_unknown_destination
 *     there); the other workers add only their clients' host routes.
 */
#ifndef FLOE_DAEMONS_SHARD_H
#define FLOE_DAEMONS_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "daemons/common/nodeconf.h"

/* The TUN name of worker k for the configured name: -ENAMETOOLONG when it
 * does not fit in FLOE_NODECONF_IFNAME_MAX or cap. */
int floe_shard_tun_name(const char *base, unsigned k, char *out, size_t cap);

/* The parent's control socket path (the configured one, or the default
 * /run/floe/floe-gateway.sock) and worker k's (".w<k>" appended). */
int floe_shard_control_path(const floe_nodeconf_t *conf, int worker, char *out, size_t cap);

/* Makes conf worker k's (see above). 0, -EINVAL for k >= conf->workers or
 * Workers = 1,
 * -ENAMETOOLONG for a TUN name or socket path that does not fit. */
int floe_shard_worker_conf(floe_nodeconf_t *conf, unsigned k);

/* Worker k's log lines carry "worker": k (the workers share the parent's
 * stderr, and so its journal). */
void floe_shard_worker_log(unsigned k);

/*
 * The parent: runs until SIGTERM / SIGINT and returns the process's exit
 * status (0 after a clean stop, 1 when the workers could not be started).
 * config_path is given to the workers; public_key is the gateway's.
 */
int floe_shard_parent_main(const char *prog, const char *config_path, const floe_nodeconf_t *conf,
			   const uint8_t public_key[FLOE_CONTROL_KEY_LEN]);

#endif
