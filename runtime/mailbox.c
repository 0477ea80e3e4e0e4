/* Mailboxes over ZeroMQ inproc PUSH/PULL (see mailbox.h). */
#include "runtime/mailbox.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tsan.h"

struct floe_mailbox {
	void *sock; /* PULL; the owning thread only */
	char endpoint[FLOE_CTX_ENDPOINT_MAX_BYTES];
	/* Written by the owning thread only (load + store), read by any. */
	_Atomic uint64_t malformed;
};

struct floe_mailbox_sender {
	void *sock; /* PUSH; the creating thread only */
	/* Written by the sending thread only (load + store), read by any. */
	_Atomic uint64_t drops;
	_Atomic uint64_t sent;
};

/* Single-writer counter: no lock-prefixed RMW is needed (counters.h). */
static inline void s_bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static int s_sockopt_int(void *sock, int opt, int value)
{
	return zmq_setsockopt(sock, opt, &value, sizeof(value)) == 0 ? 0 : -errno;
}

/*
 * A socket of either half: options every floe socket has, then bind (the
 * mailbox) or connect (a sender). NULL with errno set on failure.
 */
static void *s_socket_new(floe_ctx_t *ctx, int type, int hwm_opt, int hwm, const char *endpoint)
{
	void *sock = zmq_socket(floe_ctx_zmq(ctx), type);
	int err;

	if (!sock)
		return NULL;
	/* Closing must never wait for a peer: queued messages are freed instead. */
	err = -s_sockopt_int(sock, ZMQ_LINGER, 0);
	if (!err)
		err = -s_sockopt_int(sock, hwm_opt, hwm);
	if (!err && (type == ZMQ_PULL ? zmq_bind(sock, endpoint) : zmq_connect(sock, endpoint)) != 0)
		err = errno;
	if (err) {
		zmq_close(sock);
		errno = err;
		return NULL;
	}
	return sock;
}

floe_mailbox_t *floe_mailbox_new(floe_ctx_t *ctx)
{
	floe_mailbox_t *self;
	int err;

	if (!ctx) {
		errno = EINVAL;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	err = -floe_ctx_endpoint(ctx, "mb", self->endpoint, sizeof(self->endpoint));
	if (!err) {
		self->sock = s_socket_new(ctx, ZMQ_PULL, ZMQ_RCVHWM, FLOE_MAILBOX_RCVHWM_MSGS,
					  self->endpoint);
		err = self->sock ? 0 : errno;
	}
	if (err) {
		free(self);
		errno = err;
		return NULL;
	}
	atomic_init(&self->malformed, 0);
	return self;
}

void floe_mailbox_destroy(floe_mailbox_t **self_p)
{
	floe_mailbox_t *self;
	floe_msg_t *batch[FLOE_MAILBOX_BATCH_MAX_MSGS];
	int n, i;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	/*
	 * Drain here rather than leave it to zmq_close: libzmq would free
	 * queued messages later on its reaper thread, and the caller expects
	 * the buffers back in their pools when this returns.
	 */
	while ((n = floe_mailbox_recv_batch(self, batch, FLOE_MAILBOX_BATCH_MAX_MSGS)) > 0)
		for (i = 0; i < n; i++)
			floe_msg_destroy(&batch[i]);
	zmq_close(self->sock);
	free(self);
	*self_p = NULL;
}

const char *floe_mailbox_endpoint(const floe_mailbox_t *self)
{
	return self->endpoint;
}

void *floe_mailbox_socket(floe_mailbox_t *self)
{
	return self->sock;
}

void floe_mailbox_pollitem(floe_mailbox_t *self, zmq_pollitem_t *item)
{
	memset(item, 0, sizeof(*item));
	item->socket = self->sock;
	item->events = ZMQ_POLLIN;
}

int floe_mailbox_recv_batch(floe_mailbox_t *self, floe_msg_t **out, int max)
{
	int n = 0;

	if (!self || !out || max < 0 || max > FLOE_MAILBOX_BATCH_MAX_MSGS)
		return -EINVAL;
	while (n < max) {
		zmq_msg_t frame;
		floe_msg_t *msg;

		zmq_msg_init(&frame);
		if (zmq_msg_recv(&frame, self->sock, ZMQ_DONTWAIT) < 0) {
			int err = errno;

			zmq_msg_close(&frame);
			if (err == EAGAIN)
				break;
			if (err == EINTR)
				continue;
			return n > 0 ? n : -err;
		}
		/* Pairs with the sender's release: the header and payload are ours now. */
		FLOE_TSAN_ACQUIRE(zmq_msg_data(&frame));
		msg = floe_msg_zmq_unwrap_(&frame);
		if (!msg) {
			s_bump(&self->malformed);
			continue;
		}
		out[n++] = msg;
	}
	return n;
}

int floe_mailbox_wait(floe_mailbox_t *self, int timeout_ms)
{
	zmq_pollitem_t item;
	int rc;

	if (!self)
		return -EINVAL;
	floe_mailbox_pollitem(self, &item);
	rc = zmq_poll(&item, 1, timeout_ms);
	if (rc < 0)
		return -errno;
	return rc > 0 ? 1 : 0;
}

int floe_mailbox_recv(floe_mailbox_t *self, floe_msg_t **out, int timeout_ms)
{
	int rc;

	if (!self || !out)
		return -EINVAL;
	/* A malformed frame wakes the poll but yields nothing: wait again. */
	for (;;) {
		rc = floe_mailbox_recv_batch(self, out, 1);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		rc = floe_mailbox_wait(self, timeout_ms);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return -EAGAIN;
	}
}

uint64_t floe_mailbox_malformed(floe_mailbox_t *self)
{
	return atomic_load_explicit(&self->malformed, memory_order_relaxed);
}

floe_mailbox_sender_t *floe_mailbox_sender_new(floe_ctx_t *ctx, const char *endpoint)
{
	floe_mailbox_sender_t *self;
	int err;

	if (!ctx || !endpoint) {
		errno = EINVAL;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->sock = s_socket_new(ctx, ZMQ_PUSH, ZMQ_SNDHWM, FLOE_MAILBOX_SNDHWM_MSGS, endpoint);
	if (!self->sock) {
		err = errno;
		free(self);
		errno = err;
		return NULL;
	}
	atomic_init(&self->drops, 0);
	atomic_init(&self->sent, 0);
	return self;
}

void floe_mailbox_sender_destroy(floe_mailbox_sender_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	/* LINGER 0: messages still in the pipe are freed, never waited for. */
	zmq_close((*self_p)->sock);
	free(*self_p);
	*self_p = NULL;
}

/* Sends one message; on failure the frame stays initialised for the caller. */
static int s_send_frame(floe_mailbox_sender_t *self, zmq_msg_t *frame)
{
	/* Publishes the header and payload to the receiver (tsan.h). */
	FLOE_TSAN_RELEASE(zmq_msg_data(frame));
	for (;;) {
		if (zmq_msg_send(frame, self->sock, ZMQ_DONTWAIT) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int floe_mailbox_send(floe_mailbox_sender_t *self, floe_msg_t **msg_p)
{
	zmq_msg_t frame;
	int rc;

	if (!msg_p || !*msg_p)
		return -EINVAL;
	if (!self) {
		floe_msg_destroy(msg_p);
		return -EINVAL;
	}
	rc = floe_msg_zmq_wrap_(msg_p, &frame);
	if (rc)
		return rc;
	rc = s_send_frame(self, &frame);
	if (FLOE_LIKELY(rc == 0)) {
		s_bump(&self->sent);
		return 0;
	}
	/* zmq_msg_send leaves a failed message with us: closing returns the buffer. */
	zmq_msg_close(&frame);
	if (rc == -EAGAIN)
		s_bump(&self->drops);
	return rc;
}

int floe_mailbox_try_send(floe_mailbox_sender_t *self, floe_msg_t **msg_p)
{
	zmq_msg_t frame;
	int rc;

	if (!self || !msg_p || !*msg_p)
		return -EINVAL;
	rc = floe_msg_zmq_wrap_(msg_p, &frame);
	if (rc)
		return rc; /* wrap freed it: only on ENOMEM */
	rc = s_send_frame(self, &frame);
	if (rc == 0) {
		s_bump(&self->sent);
		return 0;
	}
	/* Back into the message, frame and all, so a retry allocates nothing. */
	*msg_p = floe_msg_zmq_unwrap_(&frame);
	return rc;
}

int floe_mailbox_sender_wait_writable(floe_mailbox_sender_t *self, int timeout_ms)
{
	zmq_pollitem_t item = { .socket = self ? self->sock : NULL, .events = ZMQ_POLLOUT };
	int rc;

	if (!self)
		return -EINVAL;
	rc = zmq_poll(&item, 1, timeout_ms);
	if (rc < 0)
		return -errno;
	return rc > 0 ? 1 : 0;
}

void *floe_mailbox_sender_socket(floe_mailbox_sender_t *self)
{
	return self->sock;
}

uint64_t floe_mailbox_sender_drops(const floe_mailbox_sender_t *self)
{
	return atomic_load_explicit(&self->drops, memory_order_relaxed);
}

uint64_t floe_mailbox_sender_sent(const floe_mailbox_sender_t *self)
{
	return atomic_load_explicit(&self->sent, memory_order_relaxed);
}
