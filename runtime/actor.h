/*
 * Actors: one thread with one mailbox, in the style of CZMQ's zactor.
 *
 * The actor function receives its mailbox and runs its own loop, so it can
 * poll the mailbox together with other fds (libnice's GMainContext fds, UDP
 * sockets) with a timeout from its next deadline:
 *
 *   static int s_conn(floe_actor_t *self, floe_mailbox_t *mb, void *args)
 *   {
 *       ... set up; on failure return -errno (floe_actor_new returns NULL)
 *       floe_actor_ready(self);                   floe_actor_new returns now
 *       for (;;) {
 *           zmq_pollitem_t items[1 + N];
 *           floe_mailbox_pollitem(mb, &items[0]); ... other fds
 *           zmq_poll(items, 1 + N, floe_timers_timeout_ms(timers));
 *           n = floe_mailbox_recv_batch(mb, batch, 32);
 *           for each message: if (floe_msg_is_term(m)) { destroy it; return 0; } ...
 *           floe_timers_run(timers);
 *       }
 *   }
 *
 * Lifecycle. floe_actor_new() returns only once the function has called
 * floe_actor_ready(); if the function returns before that, new joins the
 * thread and returns NULL with errno = -return code. Stopping is a message:
 * floe_actor_destroy() sends FLOE_CONTROL_TERM, which the function must
 * answer by returning, then joins the thread and releases the mailbox
 * (queued messages' buffers go back to their pools). The TERM travels in
 * its own pipe and the mailbox fair-queues pipes, so it may overtake
 * messages other threads sent earlier: those are destroyed unread. A
 * producer that needs its messages handled first must wait for the actor
 * to say so before destroying it.
 *
 * Supervision. With opts.parent_endpoint set (the parent's mailbox), an
 * actor whose function returns on its own — it finished (0) or failed
 * (-errno) — sends FLOE_MSG_CONTROL / FLOE_CONTROL_CHILD_EXITED to the
 * parent with arg = floe_actor_id() and status = the return code. The
 * parent then calls floe_actor_destroy(), which returns at once. No
 * notification follows a stop the parent asked for with destroy.
 *
 * Threads: new and destroy run on the owner's thread. id, endpoint, state,
 * status and counters snapshots may be read from any thread.
 *
 * File descriptors: an actor costs exactly one fd (its mailbox's PULL
 * socket) for its whole life. destroy and the exit notification each open
 * a sender for a moment (one more fd, closed before they return). Every
 * thread that sends to the actor holds one sender: one fd per
 * (producer thread, actor) pair — see docs/perf.md.
 */
#ifndef FLOE_RUNTIME_ACTOR_H
#define FLOE_RUNTIME_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/clock.h"
#include "runtime/common.h"
#include "runtime/counters.h"
#include "runtime/ctx.h"
#include "runtime/mailbox.h"
#include "runtime/timers.h"

typedef struct floe_actor floe_actor_t;

typedef enum {
	FLOE_ACTOR_STARTING = 0, /* thread runs, floe_actor_ready() not called yet */
	FLOE_ACTOR_RUNNING = 1,
	FLOE_ACTOR_EXITED = 2,   /* the function returned; floe_actor_status() is valid */
} floe_actor_state_t;

enum floe_actor_limits {
	FLOE_ACTOR_STACK_DEFAULT_BYTES = 256 * 1024,
	FLOE_ACTOR_STACK_CONN_BYTES = 128 * 1024, /* connection actors: 10,000 of them */
	FLOE_ACTOR_STACK_MIN_BYTES = 32 * 1024,
	FLOE_ACTOR_NAME_MAX_BYTES = 16,           /* pthread names: 15 chars + NUL */
	FLOE_ACTOR_NOTIFY_TIMEOUT_MS = 1000,      /* a full parent mailbox loses the notice after this */
	FLOE_ACTOR_RETRY_MS = 1,                  /* wait between sends to a full mailbox */
	FLOE_ACTOR_TIMERS_MAX = 16,               /* timers one actor may have armed */
};

/* Runs on the actor's thread; returns 0 when stopped or done, -errno when it failed. */
typedef int(floe_actor_fn)(floe_actor_t *self, floe_mailbox_t *mailbox, void *args);

/* Plain-data options; zero means the default. */
typedef struct {
	const char *name;            /* thread name, truncated to 15 chars */
	size_t stack_bytes;          /* 0: FLOE_ACTOR_STACK_DEFAULT_BYTES */
	const char *parent_endpoint; /* the supervisor's mailbox, or NULL */
	floe_clock_t *clock;         /* the actor's timers' clock (borrowed); NULL: monotonic */
} floe_actor_opts_t;

/* opts may be NULL. NULL on failure, errno set (the function's -rc if it failed to start). */
FLOE_EXPORT floe_actor_t *floe_actor_new(floe_ctx_t *ctx, floe_actor_fn *fn, void *args,
					 const floe_actor_opts_t *opts);
FLOE_EXPORT void floe_actor_destroy(floe_actor_t **self_p);

/* Called once by the actor function when it is initialised. */
FLOE_EXPORT void floe_actor_ready(floe_actor_t *self);
/* true once destroy has begun: a loop that cannot see its mailbox may check it. */
FLOE_EXPORT FLOE_MUST_CHECK bool floe_actor_stop_requested(floe_actor_t *self);

FLOE_EXPORT uint64_t floe_actor_id(const floe_actor_t *self);
/* The mailbox endpoint, for floe_mailbox_sender_new() on producer threads. */
FLOE_EXPORT const char *floe_actor_endpoint(const floe_actor_t *self);
FLOE_EXPORT floe_ctx_t *floe_actor_ctx(floe_actor_t *self);
FLOE_EXPORT floe_actor_state_t floe_actor_state(floe_actor_t *self);
/* The function's return code once EXITED, 0 before. */
FLOE_EXPORT int floe_actor_status(floe_actor_t *self);
/*
 * The actor's own bounded timer set (FLOE_ACTOR_TIMERS_MAX), on opts.clock:
 * actor thread only. Poll with floe_timers_timeout_ms(), then run them.
 */
FLOE_EXPORT floe_timers_t *floe_actor_timers(floe_actor_t *self);
/* Written only by the actor's thread; any thread may snapshot them. */
FLOE_EXPORT floe_counters_t *floe_actor_counters(floe_actor_t *self);

#endif
