/*
 * Inbox: a bounded multi-producer queue of messages for one consumer
 * thread, under a mutex, without a ZeroMQ socket.
 *
 * Why: every ZeroMQ socket costs a file descriptor (its signaler), and a
 * process may hold 20,000 (docs/perf.md "Scale"). Connections reach their
 * node, and the node its connections, through inboxes instead of one
 * sender socket per connection and direction, so a connection's own fds
 * are its mailbox and its ICE agent's.
 *
 * Wake-up: an inbox made with_fd owns one eventfd that polls readable
 * while messages wait (level: take clears it when it empties the queue),
 * for a consumer that polls fds. Otherwise the consumer names a wake
 * function (an ICE agent's GLib wake-up) that the first message into an
 * empty inbox calls, under the lock, so the consumer can stop it safely
 * with floe_inbox_close. Either way a consumer must take until the inbox
 * is empty, or check floe_inbox_pending before it sleeps.
 *
 * Bounds: a post finding cap - reserve messages queued is
 * refused (-EAGAIN, counted); an urgent post (events that must not be
 * lost to a flood of packets) may use the reserve.
 *
 * Threads: post and pending from any thread; take, set_wake and close by
 * the consumer (close also by the owner once the consumer is gone); new
 * and destroy by the owner.
 */
#ifndef FLOE_ACTORS_INBOX_H
#define FLOE_ACTORS_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"
#include "runtime/msg.h"

typedef struct floe_inbox floe_inbox_t;
typedef void (floe_inbox_wake_fn)(void *arg);

/* cap_msgs > reserve_msgs; NULL with errno on failure. */
floe_inbox_t *floe_inbox_new(size_t cap_msgs, size_t reserve_msgs, bool with_fd);
/* Frees what is still queued. NULL or *self_p NULL: nothing. */
void floe_inbox_destroy(floe_inbox_t **self_p);
/* The eventfd (with_fd), else -1. Poll it; never read or close it. */
int floe_inbox_fd(const floe_inbox_t *self);
void floe_inbox_set_wake(floe_inbox_t *self, floe_inbox_wake_fn *fn, void *arg);
/* Takes *msg_p on every path: 0; -EAGAIN full (counted); -EPIPE closed;
 * -EINVAL for NULL. urgent: may use the reserve. */
FLOE_MUST_CHECK int floe_inbox_post(floe_inbox_t *self, floe_msg_t **msg_p, bool urgent);
/* Up to cap messages, oldest first: their number (0 when empty). */
int floe_inbox_take(floe_inbox_t *self, floe_msg_t **out, int cap);
FLOE_MUST_CHECK bool floe_inbox_pending(floe_inbox_t *self);
/* Refuses every later post (-EPIPE), forgets the wake function and frees
 * what is queued. Idempotent. */
void floe_inbox_close(floe_inbox_t *self);
/* Posts refused as full since new. */
uint64_t floe_inbox_drops(floe_inbox_t *self);

#endif
