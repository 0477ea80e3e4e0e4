/*
 * The sharded gateway's one view of its workers (docs/perf.md, "10,000
 * connections"): the parent asks each worker's private control socket for
 * "show json" and folds the answers into one floe_control_snapshot_t, so
 * `floectl show` and the metrics present one gateway. Every connection keeps
 * the worker it came from (has_worker); the counters that belong to no
 * connection are summed into snap->node, so the totals are the sum of the
 * workers' totals.
 *
 * A worker that does not answer (restarting, or slower than what is left of
 * FLOE_SHARD_SHOW_BUDGET_MS) is left out of that snapshot: its
 * connections and counters are missing until it answers again, and a
 * restarted worker starts counting from zero (the totals may go down).
 */
#ifndef FLOE_DAEMONS_SHARD_SHOW_H
#define FLOE_DAEMONS_SHARD_SHOW_H

#include <stddef.h>

#include "daemons/common/control.h"

enum floe_shard_show_limits {
	/* A worker's "show json" larger than this is refused (a full worker,
	 * 16,384 connections of ~1.5 KiB of JSON each, needs ~24 MiB). */
	FLOE_SHARD_SHOW_MAX_BYTES = 64 * 1024 * 1024,
	/* All workers' answers together, asked in turn, each given what is
	 * left: a worker with ~3,300 connections on a loaded machine took
	 * over a second to answer (h22's 10,000-connection run). floectl
	 * waits 30 s for the parent. */
	FLOE_SHARD_SHOW_BUDGET_MS = 20000,
};

/*
 * Adds one worker's "show json" body (json, len bytes) to snap: its
 * connections, marked worker, and the part of its totals that no connection
 * holds. 0, -EPROTO for a body that is not a control snapshot (snap keeps
 * the connections added before the fault), -ENOMEM.
 */
int floe_shard_show_merge(floe_control_snapshot_t *snap, const char *json, size_t len, unsigned worker);

/*
 * Queries the n control sockets (paths[k] is worker k's) and merges every
 * answer into snap; sets snap->workers to n and bit k of snap->workers_up
 * for each worker that answered (*answered counts them). 0, or
 * -ENOMEM; a worker that does not answer is skipped (and logged, rate
 * limited), not an error.
 */
int floe_shard_show(floe_control_snapshot_t *snap, const char *const *paths, unsigned n, unsigned *answered);

#endif
