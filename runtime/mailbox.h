/*
 * Mailboxes: an actor's bounded inbox over ZeroMQ inproc.
 *
 * ZeroMQ sockets are not thread-safe, so a mailbox has two halves:
 *  - floe_mailbox_t, the receive side: one PULL socket bound to a unique
 *    inproc:// endpoint, used only by the owning actor's thread;
 *  - floe_mailbox_sender_t, one per producing thread: a PUSH connected to
 *    that endpoint, created by and used only on that thread.
 *
 * Bound. Each sender has its own inproc pipe to the mailbox, and an inproc
 * pipe holds SNDHWM + RCVHWM messages (libzmq adds the sender's send and
 * the receiver's receive high-water marks when it connects inproc peers).
 * So a mailbox holds at most FLOE_MAILBOX_HWM_MSGS messages per sender;
 * with k senders, k * FLOE_MAILBOX_HWM_MSGS in all.
 *
 * Full mailbox. floe_mailbox_send() never blocks: when the pipe is full the
 * message is dropped, its buffer goes back to its pool, and the sender's
 * mailbox_drops counter grows (readable from any thread).
 *
 * Polling. A connection actor polls its mailbox together with other fds:
 * fill a zmq_pollitem_t with floe_mailbox_pollitem(), zmq_poll() with the
 * timeout of its next deadline, then take what is there with
 * floe_mailbox_recv_batch(), which never blocks.
 *
 * File descriptors: each mailbox and each sender is one ZeroMQ socket and
 * costs one fd (its signaler).
 */
#ifndef FLOE_RUNTIME_MAILBOX_H
#define FLOE_RUNTIME_MAILBOX_H

#include <stdint.h>
#include <zmq.h>

#include "runtime/common.h"
#include "runtime/ctx.h"
#include "runtime/msg.h"

typedef struct floe_mailbox floe_mailbox_t;
typedef struct floe_mailbox_sender floe_mailbox_sender_t;

enum floe_mailbox_limits {
	FLOE_MAILBOX_RCVHWM_MSGS = 512, /* the receive side's share of each pipe */
	FLOE_MAILBOX_SNDHWM_MSGS = 512, /* each sender's share of its pipe */
	/* Capacity of one sender's pipe: libzmq sums the two marks for inproc. */
	FLOE_MAILBOX_HWM_MSGS = FLOE_MAILBOX_RCVHWM_MSGS + FLOE_MAILBOX_SNDHWM_MSGS,
	FLOE_MAILBOX_BATCH_MAX_MSGS = 256, /* most messages one recv_batch call takes */
};

/* Binds a fresh endpoint in ctx. NULL on failure (errno set: EMFILE when out of fds). */
FLOE_EXPORT floe_mailbox_t *floe_mailbox_new(floe_ctx_t *ctx);
/*
 * Destroys queued messages (their buffers go back to their pools now),
 * then closes the socket. Call on the thread that uses the mailbox, or
 * after a full memory barrier (e.g. pthread_join of that thread).
 */
FLOE_EXPORT void floe_mailbox_destroy(floe_mailbox_t **self_p);

FLOE_EXPORT const char *floe_mailbox_endpoint(const floe_mailbox_t *self);
/* The PULL socket, for zmq_poll() beside other sockets and fds. */
FLOE_EXPORT void *floe_mailbox_socket(floe_mailbox_t *self);
FLOE_EXPORT void floe_mailbox_pollitem(floe_mailbox_t *self, zmq_pollitem_t *item);

/*
 * Takes up to max (<= FLOE_MAILBOX_BATCH_MAX_MSGS) queued messages
 * without blocking. Returns how many (0 when none), or -errno. Frames that
 * are not floe messages are closed and counted (floe_mailbox_malformed).
 */
FLOE_EXPORT int floe_mailbox_recv_batch(floe_mailbox_t *self, floe_msg_t **out, int max);
/* Waits for a message: 1 when one is there, 0 on timeout (ms; -1 = forever), -errno. */
FLOE_EXPORT int floe_mailbox_wait(floe_mailbox_t *self, int timeout_ms);
/* One message, waiting at most timeout_ms: 0 (*out set), -EAGAIN on timeout, -errno. */
FLOE_EXPORT int floe_mailbox_recv(floe_mailbox_t *self, floe_msg_t **out, int timeout_ms);
FLOE_EXPORT uint64_t floe_mailbox_malformed(floe_mailbox_t *self);

/* Connects to a mailbox endpoint; use only on the calling thread. NULL on failure. */
FLOE_EXPORT floe_mailbox_sender_t *floe_mailbox_sender_new(floe_ctx_t *ctx, const char *endpoint);
FLOE_EXPORT void floe_mailbox_sender_destroy(floe_mailbox_sender_t **self_p);
/*
 * Consumes *msg_p on every path (*msg_p is NULL afterwards). 0: queued.
 * -EAGAIN: the mailbox is full, the message was dropped and counted.
 * Other -errno: dropped (not counted as a mailbox drop).
 */
FLOE_EXPORT int floe_mailbox_send(floe_mailbox_sender_t *self, floe_msg_t **msg_p);
/*
 * For producers that apply back-pressure instead of dropping: 0 queued
 * (*msg_p nulled); on -EAGAIN (full) and other errors the message stays
 * with the caller, nothing is counted.
 */
FLOE_EXPORT int floe_mailbox_try_send(floe_mailbox_sender_t *self, floe_msg_t **msg_p);
/* Waits until a send would not find the pipe full: 1, 0 on timeout, -errno. */
FLOE_EXPORT int floe_mailbox_sender_wait_writable(floe_mailbox_sender_t *self, int timeout_ms);
FLOE_EXPORT void *floe_mailbox_sender_socket(floe_mailbox_sender_t *self);
/* Any thread: messages dropped because the mailbox was full (mailbox_drops). */
FLOE_EXPORT uint64_t floe_mailbox_sender_drops(const floe_mailbox_sender_t *self);
/* Any thread: messages queued. */
FLOE_EXPORT uint64_t floe_mailbox_sender_sent(const floe_mailbox_sender_t *self);

#endif
