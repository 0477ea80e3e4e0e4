/*
 * The sharded gateway's worker processes (docs/perf.md, "10,000
 * connections"): the parent starts K copies of its own program, each with
 * "--config FILE --worker k", waits until every one says it is ready,
 * restarts a worker that dies (bounded back-off) and stops them all.
 *
 * Each worker is fork + exec of exe (the parent's own program, as
 * /proc/self/exe names it at start, so ps shows the same name): the child
 * runs nothing of
 * the parent's between the two but async-signal-safe calls (so the parent
 * may already have threads when it restarts one), asks the kernel for
 * SIGTERM when the parent dies (PR_SET_PDEATHSIG: a kill -9 of the parent
 * leaves no orphan holding a TUN), and starts with an empty signal mask.
 * Readiness comes over a pipe ("--ready-fd N"): the worker writes one byte
 * once its node, TUN and control socket are up; EOF without it means the
 * worker failed to start.
 *
 * One thread drives it: the owner polls SIGCHLD (signalfd) and calls
 * floe_workers_reap(), and calls floe_workers_tick() at
 * floe_workers_next_deadline_ms().
 */
#ifndef FLOE_DAEMONS_WORKERS_H
#define FLOE_DAEMONS_WORKERS_H

#include <stdint.h>
#include <sys/types.h>

enum floe_workers_limits {
	FLOE_WORKERS_READY_TIMEOUT_MS = 30000, /* all workers up at start, or fail */
	FLOE_WORKERS_STOP_TIMEOUT_MS = 10000,  /* SIGTERM, then SIGKILL */
	FLOE_WORKERS_BACKOFF_MIN_MS = 500,     /* first restart of a dead worker */
	FLOE_WORKERS_BACKOFF_MAX_MS = 30000,   /* doubling up to this */
	FLOE_WORKERS_STABLE_MS = 60000,        /* ran this long: back-off starts over */
	FLOE_WORKERS_STOP_POLL_MS = 20,
};

typedef struct floe_workers floe_workers_t;

/*
 * n workers of the program exe, each run as
 *   exe --config <config> --worker <k> [--ready-fd <fd>]
 * NULL with errno set (EINVAL for n == 0 or NULL strings).
 */
floe_workers_t *floe_workers_new(const char *exe, const char *config, unsigned n);

/* Stops every worker (SIGTERM, up to FLOE_WORKERS_STOP_TIMEOUT_MS, then
 * SIGKILL) and waits for each. Idempotent, accepts NULL. */
void floe_workers_destroy(floe_workers_t **self_p);

/*
 * Starts all workers and waits until each is ready. 0; -ETIMEDOUT; or
 * -ECHILD when a worker exited before it was ready (its own message is on
 * stderr). On failure the workers already started are stopped.
 */
int floe_workers_start(floe_workers_t *self, uint64_t now_ms);

/* Collects the workers that exited (call on SIGCHLD) and schedules their
 * restart. Returns how many exited. */
int floe_workers_reap(floe_workers_t *self, uint64_t now_ms);

/* Restarts the workers whose back-off ran out. 0 or -errno of the last
 * failed fork (that worker is retried later). */
int floe_workers_tick(floe_workers_t *self, uint64_t now_ms);

/* When tick must next run; UINT64_MAX when every worker runs. */
uint64_t floe_workers_next_deadline_ms(const floe_workers_t *self);

unsigned floe_workers_count(const floe_workers_t *self);
/* Worker k's process id, 0 while it is down. */
pid_t floe_workers_pid(const floe_workers_t *self, unsigned k);
/* Restarts so far, all workers together. */
uint64_t floe_workers_restarts(const floe_workers_t *self);

#endif
