/*
 * The process's one ZeroMQ context, shared by every actor and mailbox.
 *
 * Why one: every socket costs one file descriptor (its signaler eventfd) and
 * the process may hold at most 20,000, so floe needs sockets to be cheap and
 * counted, never a context (reaper thread + fds) per actor. libzmq's default
 * ZMQ_MAX_SOCKETS (1023) would cap the gateway at ~500 actors: the context
 * raises it to FLOE_CTX_MAX_SOCKETS. floe uses only inproc transports, which
 * need no I/O thread, so ZMQ_IO_THREADS is 0 (libzmq: "0 can be used in case
 * of in-process messaging only").
 *
 * Thread-safety: a context may be used from any thread (libzmq contexts are
 * thread-safe); floe_ctx_destroy() must run after every socket is closed.
 */
#ifndef FLOE_RUNTIME_CTX_H
#define FLOE_RUNTIME_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"

typedef struct floe_ctx floe_ctx_t;

enum floe_ctx_limits {
	FLOE_CTX_MAX_SOCKETS = 65536, /* far above the 20,000-fd hard limit: fds bind first */
	FLOE_CTX_IO_THREADS = 0,      /* inproc only */
	FLOE_CTX_ENDPOINT_MAX_BYTES = 64, /* "inproc://floe-" + short prefix + 20 digits */
	/* A context with few actors (a client node with a portal: a handful
	 * of connections). libzmq touches its slot table whole when the first
	 * socket opens, ~12 bytes per slot: 800 KiB at FLOE_CTX_MAX_SOCKETS,
	 * 40 KiB here, which is what 10,000 client nodes in one load
	 * generator can afford (docs/perf.md "The load generator"). */
	FLOE_CTX_SMALL_MAX_SOCKETS = 1024,
};

/* NULL on failure (errno set). */
FLOE_EXPORT floe_ctx_t *floe_ctx_new(void);
/* The same with room for max_sockets sockets (1..FLOE_CTX_MAX_SOCKETS;
 * else NULL, errno EINVAL); a socket beyond them fails with EMFILE. */
FLOE_EXPORT floe_ctx_t *floe_ctx_new_sized(int max_sockets);
/* Terminates the context: blocks until every socket of it is closed. */
FLOE_EXPORT void floe_ctx_destroy(floe_ctx_t **self_p);
/* The libzmq context, for code that creates its own sockets. */
FLOE_EXPORT void *floe_ctx_zmq(floe_ctx_t *self);
/* A context-unique number (actor ids), never 0; any thread. */
FLOE_EXPORT uint64_t floe_ctx_next_id(floe_ctx_t *self);
/* Writes a process-unique "inproc://floe-<prefix>-<n>" into buf; 0 or -ENOSPC. */
FLOE_EXPORT int floe_ctx_endpoint(floe_ctx_t *self, const char *prefix, char *buf, size_t size);

#endif
